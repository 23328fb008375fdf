//! What an FTPS mount refuses, and that it sends nothing secret while doing so: bad
//! certificates (unknown issuer, wrong name, expired, self-signed) fail the mount within the
//! timeout with one line that names the reason and the option that would help, before any
//! `USER`; each of `tls_ca`, `tls_fingerprint`, `tls_name`, `tls_insecure` then mounts its
//! case; the password never crosses the wire in clear; a server (or an attacker) that
//! refuses `AUTH TLS` fails the mount without `USER`/`PASS`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use super::mount::mount_tls;
use crate::common::rawproxy::{RawProxy, is_client_hello};
use crate::common::servers::{FtpServer, ServerKind, TlsSetup};
use crate::common::tls::CertKind;
use crate::mount::harness::{BIN, Mount, is_mounted};

/// Runs `ftpfs URL MNT -o timeout=5,OPTS` as a user would (it daemonizes only once the
/// mount works); returns (exit status, stderr, seconds taken). Unmounts on success.
fn try_mount(url: &str, password: &str, opts: &[&str]) -> (Option<i32>, String, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).expect("mkdir");
    let mut cmd = Command::new(BIN);
    cmd.arg(url).arg(&mnt).arg("-o").arg("timeout=5");
    for o in opts {
        cmd.arg("-o").arg(o);
    }
    let start = Instant::now();
    let out = cmd
        .env("FTPFS_PASSWORD", password)
        .env("FTPFS_SYSLOG_SOCKET", dir.path().join("no-syslog"))
        .stdin(Stdio::null())
        .output()
        .expect("run ftpfs");
    let took = start.elapsed().as_secs_f64();
    if is_mounted(&mnt) {
        let _ = Command::new("fusermount3").arg("-u").arg(&mnt).status();
    }
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        took,
    )
}

/// The one line of a refused mount (other lines, such as a syslog warning, aside).
fn refusal(stderr: &str) -> &str {
    stderr
        .lines()
        .find(|l| l.starts_with("ftpfs: ") && !l.contains("syslog"))
        .unwrap_or("")
}

fn refused(kind: CertKind, ca: &Path, expect: &[&str]) {
    let srv = FtpServer::start_tls(ServerKind::Vsftpd, TlsSetup::explicit().with_cert(kind));
    let ca = format!("tls_ca={}", ca.display());
    let (code, err, took) = try_mount(&srv.url(), &srv.password, &[&ca]);
    assert_eq!(code, Some(1), "{kind:?}: exit status; stderr:\n{err}");
    assert!(took < 6.0, "{kind:?}: took {took:.1}s");
    let line = refusal(&err);
    for e in expect {
        assert!(line.contains(e), "{kind:?}: {e:?} not in {line:?}");
    }
    assert!(
        !srv.saw_command("USER"),
        "{kind:?}: USER was sent:\n{}",
        srv.log()
    );
}

#[test]
fn an_unknown_issuer_is_refused_before_login_with_the_fingerprint_to_pin() {
    let srv_cert = crate::common::tls::pki().cert(CertKind::UnknownCa);
    refused(
        CertKind::UnknownCa,
        crate::common::tls::pki().ca_file(),
        &[
            "not issued by an authority trusted by",
            "tls_ca=",
            &srv_cert.pin(),
        ],
    );
}

#[test]
fn a_wrong_name_is_refused_with_the_names_the_certificate_has() {
    refused(
        CertKind::WrongName,
        crate::common::tls::pki().ca_file(),
        &[
            "not valid for 127.0.0.1",
            "ftp.example.org",
            "tls_name=ftp.example.org",
        ],
    );
}

#[test]
fn an_expired_certificate_is_refused_with_its_date() {
    refused(
        CertKind::Expired,
        crate::common::tls::pki().ca_file(),
        &["expired on 20", "tls_fingerprint=sha256:"],
    );
}

#[test]
fn a_self_signed_certificate_is_refused_even_as_its_own_ca_and_pinning_is_offered() {
    let pki = crate::common::tls::pki();
    let c = pki.cert(CertKind::SelfSigned);
    // the certificate given as the CA: webpki refuses a CA certificate as the server's own
    refused(CertKind::SelfSigned, &c.cert, &["self-signed", &c.pin()]);
    // and with the system's roots
    let srv = FtpServer::start_tls(
        ServerKind::Vsftpd,
        TlsSetup::explicit().with_cert(CertKind::SelfSigned),
    );
    let (code, err, _) = try_mount(&srv.url(), &srv.password, &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        refusal(&err).contains("this system's certificate store"),
        "{err}"
    );
    assert!(refusal(&err).contains(&c.pin()), "{err}");
}

#[test]
fn each_trust_option_mounts_its_case() {
    let pki = crate::common::tls::pki();
    // tls_fingerprint: the self-signed server
    let srv = FtpServer::start_tls(
        ServerKind::Vsftpd,
        TlsSetup::explicit().with_cert(CertKind::SelfSigned),
    );
    srv.write_file("f.txt", "pinned\n");
    let pin = format!("tls_fingerprint={}", pki.cert(CertKind::SelfSigned).pin());
    let m = Mount::of(&srv, &[&pin]);
    assert_eq!(m.sh("cat f.txt"), "pinned\n");
    drop(m);
    // a wrong pin is refused
    let wrong = format!("tls_fingerprint={}", pki.cert(CertKind::Good).pin());
    let users = srv.command_lines("USER").len();
    let (code, err, _) = try_mount(&srv.url(), &srv.password, &[&wrong]);
    assert_eq!(code, Some(1), "{err}");
    assert!(refusal(&err).contains("is not the pinned one"), "{err}");
    assert_eq!(
        srv.command_lines("USER").len(),
        users,
        "USER after a wrong pin"
    );

    // tls_name: the wrong-name server, verified against the name it has
    let srv = FtpServer::start_tls(
        ServerKind::Vsftpd,
        TlsSetup::explicit().with_cert(CertKind::WrongName),
    );
    srv.write_file("f.txt", "named\n");
    let m = mount_tls(&srv, &["tls_name=ftp.example.org"]);
    assert_eq!(m.sh("cat f.txt"), "named\n");
    drop(m);

    // tls_insecure: the unknown-CA server, with a warning
    let srv = FtpServer::start_tls(
        ServerKind::Vsftpd,
        TlsSetup::explicit().with_cert(CertKind::UnknownCa),
    );
    srv.write_file("f.txt", "insecure\n");
    let m = Mount::of(&srv, &["tls_insecure"]);
    assert_eq!(m.sh("cat f.txt"), "insecure\n");
    assert!(m.log().contains("NOT checked"), "{}", m.log());
}

#[test]
fn the_password_never_crosses_in_clear_and_the_client_hello_follows_auth_at_once() {
    let srv = FtpServer::start_tls(ServerKind::Vsftpd, TlsSetup::explicit());
    srv.write_file("f.txt", "secret stuff\n");
    let proxy = RawProxy::recording(srv.port);
    let url = format!("ftpes://{}@127.0.0.1:{}/", srv.user, proxy.port());
    let ca = format!("tls_ca={}", srv.ca_file().display());
    let m = Mount::new(&url, &srv.password, &[&ca]);
    assert_eq!(m.sh("cat f.txt"), "secret stuff\n");
    m.sh("echo more > g.txt && ls");
    drop(m);
    let conns = proxy.connections();
    assert!(conns.len() >= 2, "{} connections", conns.len());
    assert!(!proxy.any_contains(srv.password.as_bytes()));
    assert!(!proxy.any_contains(b"secret stuff"));
    // (a login still connecting when the mount ended may have sent nothing)
    for c in conns.iter().filter(|c| !c.client_sent.is_empty()) {
        assert!(
            c.client_sent.starts_with(b"AUTH TLS\r\n"),
            "{}",
            c.client_text()
        );
        let after = c.after_auth().expect("AUTH TLS");
        assert!(
            is_client_hello(after),
            "{:?}",
            &after[..after.len().min(16)]
        );
        assert!(!c.sent_command("USER"), "{}", c.client_text());
    }
}

#[test]
fn a_refused_auth_tls_fails_the_mount_without_user_or_pass() {
    // an attacker that strips STARTTLS: answers AUTH TLS with 500
    let srv = FtpServer::start_tls(ServerKind::Vsftpd, TlsSetup::explicit());
    let proxy = RawProxy::stripping(srv.port);
    let url = format!("ftpes://{}@127.0.0.1:{}/", srv.user, proxy.port());
    let (code, err, took) = try_mount(&url, &srv.password, &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(took < 6.0, "took {took:.1}s");
    assert!(refusal(&err).contains("refused AUTH TLS"), "{err}");
    assert!(refusal(&err).contains("never falls back"), "{err}");
    assert!(!proxy.any_sent_command("USER") && !proxy.any_sent_command("PASS"));
    assert!(!proxy.any_contains(srv.password.as_bytes()));

    // a server without TLS, asked for it with -o tls
    let plain = FtpServer::start(ServerKind::PureFtpd);
    let proxy = RawProxy::recording(plain.port);
    let url = format!("ftp://{}@127.0.0.1:{}/", plain.user, proxy.port());
    let (code, err, _) = try_mount(&url, &plain.password, &["tls"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(refusal(&err).contains("refused AUTH TLS"), "{err}");
    assert!(!proxy.any_sent_command("USER") && !proxy.any_sent_command("PASS"));
}
