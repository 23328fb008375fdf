//! The throwaway PKI: each certificate is what its `CertKind` says (checked with
//! `openssl`), and curl rejects each bad one for the right reason before logging in.

use std::path::Path;
use std::process::Command;

use super::{curl_at, ok, stderr};
use crate::common::servers::{FtpServer, ServerKind, TlsSetup};
use crate::common::tls::{CertKind, pki};

fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl").args(args).output().unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// `openssl verify -CAfile ca OPTS cert-of-kind`: whether it verifies, and its output.
fn verify(ca: &Path, opts: &[&str], kind: CertKind) -> (bool, String) {
    let cert = pki().cert(kind).cert.to_str().unwrap();
    let mut args = vec!["verify", "-CAfile", ca.to_str().unwrap()];
    args.extend_from_slice(opts);
    args.push(cert);
    openssl(&args)
}

/// `openssl x509 -noout ARGS -in cert-of-kind`.
fn x509(args: &[&str], kind: CertKind) -> String {
    let cert = pki().cert(kind).cert.to_str().unwrap();
    let mut all = vec!["x509", "-noout"];
    all.extend_from_slice(args);
    all.extend(["-in", cert]);
    openssl(&all).1
}

#[test]
fn pki_certificates_are_what_they_claim() {
    let pki = pki();
    let ip = ["-verify_ip", "127.0.0.1"];
    let (ok, text) = verify(&pki.ca, &ip, CertKind::Good);
    assert!(ok, "{text}");
    let (ok, text) = verify(&pki.ca, &["-verify_hostname", "localhost"], CertKind::Good);
    assert!(ok, "{text}");
    assert!(x509(&["-ext", "basicConstraints"], CertKind::Good).contains("CA:FALSE"));

    let (ok, text) = verify(&pki.ca, &ip, CertKind::WrongName);
    assert!(!ok && text.contains("IP address mismatch"), "{text}");
    let (ok, text) = verify(&pki.ca, &[], CertKind::WrongName);
    assert!(ok, "wrong-name is signed by the CA: {text}");

    let (ok, text) = verify(&pki.ca, &[], CertKind::UnknownCa);
    assert!(
        !ok && text.contains("unable to get local issuer certificate"),
        "{text}"
    );
    let (ok, text) = verify(&pki.other_ca, &ip, CertKind::UnknownCa);
    assert!(ok, "{text}");

    let (ok, text) = verify(&pki.ca, &ip, CertKind::Expired);
    assert!(!ok && text.contains("certificate has expired"), "{text}");
    let text = x509(&["-enddate"], CertKind::Expired);
    assert!(text.contains("Feb  1 00:00:00 2024 GMT"), "{text}");

    let text = x509(
        &["-ext", "basicConstraints,subjectAltName"],
        CertKind::SelfSigned,
    );
    assert!(
        text.contains("CA:TRUE") && text.contains("IP Address:127.0.0.1"),
        "{text}"
    );
    let self_signed = &pki.cert(CertKind::SelfSigned).cert;
    let (ok, text) = verify(self_signed, &ip, CertKind::SelfSigned);
    assert!(
        ok,
        "a CA:TRUE self-signed certificate is its own anchor for OpenSSL: {text}"
    );

    // Fingerprints: SHA-256 of the DER, lowercase hex, all different.
    let mut seen = std::collections::HashSet::new();
    for kind in CertKind::ALL {
        let files = pki.cert(kind);
        let out = Command::new("sha256sum").arg(&files.der).output().unwrap();
        let sum = String::from_utf8(out.stdout).unwrap();
        assert_eq!(sum.split(' ').next().unwrap(), files.sha256, "{kind:?}");
        assert_eq!(files.pin(), format!("sha256:{}", files.sha256));
        assert!(
            seen.insert(files.sha256.clone()),
            "{kind:?} shares a fingerprint"
        );
        let combined = std::fs::read_to_string(&files.combined).unwrap();
        assert!(combined.contains("BEGIN CERTIFICATE") && combined.contains("PRIVATE KEY"));
    }
    assert!(pki.dir.starts_with(env!("CARGO_MANIFEST_DIR")));
}

/// A vsftpd presenting `kind`: curl with the test CA fails with `reason` (exit 60,
/// certificate verification) and never sends USER; `--insecure` gets in, and so does
/// the right trust anchor for the unknown CA and the self-signed certificate (curl,
/// unlike webpki, accepts a `CA:TRUE` certificate as its own anchor).
fn rejected_for(kind: CertKind, reasons: &[&str]) {
    let server = FtpServer::start_tls(ServerKind::Vsftpd, TlsSetup::explicit().with_cert(kind));
    assert_eq!(server.cert().kind, kind);
    let out = curl_at(&server, "", &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(60), "{kind:?}: {err}");
    assert!(
        reasons.iter().any(|r| err.contains(r)),
        "{kind:?}: curl failed for another reason than {reasons:?}:\n{err}"
    );
    assert!(
        !server.saw_command("USER") && !server.saw_command("PASS"),
        "{kind:?}: the login went on after a failed verification:\n{}",
        server.log()
    );
    ok(
        &server,
        "--insecure",
        &curl_at(&server, "", &["--insecure"]),
    );
    assert!(server.saw_command("USER"), "saw_command misses a real USER");
    if matches!(kind, CertKind::UnknownCa | CertKind::SelfSigned) {
        let anchor = server.cert().issuer_file().to_str().unwrap().to_string();
        let out = curl_at(&server, "", &["--cacert", &anchor]);
        ok(&server, "its own trust anchor", &out);
    }
}

#[test]
fn unknown_ca_is_rejected_as_unknown_issuer() {
    rejected_for(
        CertKind::UnknownCa,
        &["unable to get local issuer certificate"],
    );
}

#[test]
fn wrong_name_is_rejected_as_name_mismatch() {
    rejected_for(
        CertKind::WrongName,
        &["no alternative certificate subject name matches target host name '127.0.0.1'"],
    );
}

#[test]
fn expired_is_rejected_as_expired() {
    rejected_for(CertKind::Expired, &["certificate has expired"]);
}

#[test]
fn self_signed_is_rejected_as_self_signed() {
    rejected_for(
        CertKind::SelfSigned,
        &["self-signed certificate", "self signed certificate"],
    );
}
