//! Who the server must be: the certificate verifier of a TLS mount, and the one-line messages
//! that say why a certificate was refused and which option would help.
//!
//! Three ways to trust, chosen by the mount options:
//! - the system's roots (default; `rustls-native-certs` reads the bundle that
//!   `update-ca-certificates` maintains, or `SSL_CERT_FILE`/`SSL_CERT_DIR`), or the roots in
//!   `tls_ca=FILE` instead, with webpki's chain, name and date checks;
//! - `tls_fingerprint=sha256:HEX`: exactly the end-entity certificate with that SHA-256 (the
//!   pin is the trust decision: no chain, name or date check). This is how the usual
//!   self-signed FTP certificate is trusted: it is `CA:TRUE`, which webpki refuses as an end
//!   entity even when it is given as the CA (`CaUsedAsEndEntity`);
//! - `tls_insecure`: any certificate.
//!
//! Invariants:
//! - Handshake signatures are always verified, whatever the trust mode (a pinned or
//!   "insecure" session still proves the server holds the certificate's key).
//! - A refusal carries a complete message ([`Rejected`]) naming the reason (unknown issuer,
//!   self-signed, wrong name with the names the certificate has, expired with the date, pin
//!   mismatch), the certificate's SHA-256 fingerprint ready to paste, and the option to use.

use std::fmt;
use std::sync::Arc;

use suppaftp::rustls;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, OtherError, SignatureScheme};

/// SHA-256 of a certificate's DER.
pub fn sha256(der: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, der);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// `sha256:` and lowercase hex, as `-o tls_fingerprint=` takes it.
pub fn fingerprint(hash: &[u8; 32]) -> String {
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Parses `sha256:HEX` (or bare HEX; `:` between bytes allowed, any case).
pub fn parse_fingerprint(s: &str) -> Result<[u8; 32], String> {
    let hex = s
        .strip_prefix("sha256:")
        .or_else(|| s.strip_prefix("SHA256:"))
        .unwrap_or(s);
    let digits: String = hex.chars().filter(|&c| c != ':').collect();
    if digits.len() != 64 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err("must be sha256: followed by 64 hex digits (the certificate's SHA-256, as ftpfs prints it)".into());
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// What the presented certificate says about itself, for messages and `ftpfs probe`.
#[derive(Clone, Debug, Default)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    /// DNS names and addresses of the subjectAltName extension.
    pub names: Vec<String>,
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
    pub self_signed: bool,
    pub is_ca: bool,
    pub sha256: [u8; 32],
}

impl CertInfo {
    pub fn of(der: &[u8]) -> CertInfo {
        let mut info = CertInfo {
            sha256: sha256(der),
            ..CertInfo::default()
        };
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
            return info;
        };
        info.subject = cert.subject().to_string();
        info.issuer = cert.issuer().to_string();
        info.self_signed = cert.subject().as_raw() == cert.issuer().as_raw();
        info.is_ca = cert.is_ca();
        info.not_before = Some(cert.validity().not_before.timestamp());
        info.not_after = Some(cert.validity().not_after.timestamp());
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            use x509_parser::extensions::GeneralName;
            for n in &san.value.general_names {
                match n {
                    GeneralName::DNSName(d) => info.names.push((*d).to_string()),
                    GeneralName::IPAddress(ip) => match ip.len() {
                        4 => info
                            .names
                            .push(std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string()),
                        16 => {
                            let mut a = [0u8; 16];
                            a.copy_from_slice(ip);
                            info.names.push(std::net::Ipv6Addr::from(a).to_string());
                        }
                        _ => {}
                    },
                    _ => {}
                }
            }
        }
        info
    }

    /// `CN=x (self-signed)` or `CN=x, issued by CN=y`.
    pub fn describe(&self) -> String {
        let who = if self.subject.is_empty() {
            "no subject".to_string()
        } else {
            self.subject.clone()
        };
        if self.self_signed {
            format!("{who}, self-signed")
        } else {
            format!("{who}, issued by {}", self.issuer)
        }
    }
}

/// A certificate refusal with its complete message.
#[derive(Debug)]
pub struct Rejected(pub String);

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Rejected {}

/// Finds the [`Rejected`] message inside an I/O error of a failed handshake.
pub fn rejection(e: &std::io::Error) -> Option<String> {
    let inner = e.get_ref()?;
    let tls = inner.downcast_ref::<Error>()?;
    match tls {
        Error::InvalidCertificate(CertificateError::Other(OtherError(o))) => {
            o.downcast_ref::<Rejected>().map(|r| r.0.clone())
        }
        _ => None,
    }
}

/// How the server's certificate is trusted.
pub enum Trust {
    /// Chains to these roots (the system's, or `tls_ca`'s), named `source` in messages.
    Roots {
        verifier: Arc<WebPkiServerVerifier>,
        source: String,
    },
    /// Exactly this certificate.
    Pin([u8; 32]),
    /// Anything (`tls_insecure`).
    Insecure,
}

/// The mount's certificate verifier (see the module doc).
pub struct Verifier {
    trust: Trust,
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match &self.trust {
            Trust::Roots { source, .. } => source.clone(),
            Trust::Pin(h) => fingerprint(h),
            Trust::Insecure => "insecure".into(),
        };
        write!(f, "Verifier({how})")
    }
}

impl Verifier {
    pub fn new(trust: Trust, provider: Arc<CryptoProvider>) -> Verifier {
        Verifier { trust, provider }
    }
}

fn reject(msg: String) -> Error {
    Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(Rejected(msg)))))
}

/// `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc(secs: i64) -> String {
    let t = std::time::SystemTime::UNIX_EPOCH
        + std::time::Duration::from_secs(u64::try_from(secs).unwrap_or(0));
    let s = super::session::mfmt_stamp(t);
    format!(
        "{}-{}-{} {}:{}:{} UTC",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[8..10],
        &s[10..12],
        &s[12..14]
    )
}

/// The message for a certificate that webpki refused.
fn explain(e: &Error, info: &CertInfo, expected: &ServerName<'_>, source: &str) -> String {
    let pin = format!("-o tls_fingerprint={}", fingerprint(&info.sha256));
    let cert = info.describe();
    match e {
        Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            presented, ..
        }) => {
            // The certificate's own names (rustls' `presented` are debug strings).
            let names = if info.names.is_empty() {
                presented.clone()
            } else {
                info.names.clone()
            };
            let has = if names.is_empty() {
                "it names no host".to_string()
            } else {
                format!("it names {}", names.join(", "))
            };
            let fix = match names.first() {
                Some(n) => format!("-o tls_name={n}"),
                None => pin.clone(),
            };
            format!(
                "the server's certificate is not valid for {} ({has}); if that is the same \
                 server, mount with {fix}",
                expected.to_str()
            )
        }
        Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => {
            let when = info.not_after.map_or_else(|| "?".into(), utc);
            format!(
                "the server's certificate ({cert}) expired on {when}; to accept this very \
                 certificate anyway, mount with {pin}"
            )
        }
        Error::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        ) => {
            let when = info.not_before.map_or_else(|| "?".into(), utc);
            format!(
                "the server's certificate ({cert}) is not valid before {when} (is this \
                 machine's clock right?); to accept it anyway, mount with {pin}"
            )
        }
        Error::InvalidCertificate(CertificateError::UnknownIssuer)
        | Error::InvalidCertificate(CertificateError::Other(_))
            if info.self_signed =>
        {
            format!(
                "the server's certificate ({cert}) is not trusted by {source}; if it is the \
                 server's own certificate, pin it: mount with {pin}"
            )
        }
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "the server's certificate ({cert}) is not issued by an authority trusted by \
             {source}; trust its authority with -o tls_ca=FILE, or pin this certificate with \
             {pin}"
        ),
        other => {
            let why = match other {
                Error::InvalidCertificate(CertificateError::Other(o))
                    if o.to_string().contains("CaUsedAsEndEntity") =>
                {
                    "a CA certificate cannot be the server's own certificate".to_string()
                }
                _ => other.to_string(),
            };
            format!(
                "the server's certificate ({cert}) was refused: {why}; to accept this very \
                 certificate, mount with {pin}"
            )
        }
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        match &self.trust {
            Trust::Insecure => Ok(ServerCertVerified::assertion()),
            Trust::Pin(pin) => {
                let got = sha256(end_entity.as_ref());
                if &got == pin {
                    Ok(ServerCertVerified::assertion())
                } else {
                    let info = CertInfo::of(end_entity.as_ref());
                    Err(reject(format!(
                        "the server's certificate ({}, {}) is not the pinned one ({}); if the \
                         server has a new certificate, pin that one: -o tls_fingerprint={}",
                        info.describe(),
                        fingerprint(&got),
                        fingerprint(pin),
                        fingerprint(&got)
                    )))
                }
            }
            Trust::Roots { verifier, source } => verifier
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .map_err(|e| {
                    let info = CertInfo::of(end_entity.as_ref());
                    reject(explain(&e, &info, server_name, source))
                }),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_in_every_usual_spelling() {
        let h: [u8; 32] = std::array::from_fn(|i| i as u8 * 7);
        let s = fingerprint(&h);
        assert!(s.starts_with("sha256:") && s.len() == 7 + 64);
        assert_eq!(parse_fingerprint(&s), Ok(h));
        assert_eq!(parse_fingerprint(&s[7..]), Ok(h));
        let colons: Vec<String> = h.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(
            parse_fingerprint(&format!("SHA256:{}", colons.join(":"))),
            Ok(h)
        );
        assert!(parse_fingerprint("sha256:abc").is_err());
        assert!(parse_fingerprint(&format!("sha256:{}", "g".repeat(64))).is_err());
        assert!(parse_fingerprint(&format!("md5:{}", "a".repeat(64))).is_err());
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_706_745_600), "2024-02-01 00:00:00 UTC");
    }
}
