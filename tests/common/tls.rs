//! A throwaway PKI for the FTPS tests, made with the `openssl` command-line tool.
//!
//! [`pki()`] generates, once per test process, a test CA and five server certificates
//! ([`CertKind`]): a good one, one for the wrong host name, one from an unknown CA, an
//! expired one and a self-signed `CA:TRUE` one (what `openssl req -x509` makes and what
//! FTP servers typically present). Tests use the paths and fingerprints it returns; the
//! servers of `servers_tls.rs` present these certificates.
//!
//! Invariants:
//! * Race-free: generation runs inside a `OnceLock`, so parallel test threads wait for
//!   the first one and then share the result. Every process has its own directory
//!   `<repo>/target/test-pki/<pid>-<start time>/`, so parallel test processes never
//!   share files either.
//! * No litter: the directory is removed when the process exits normally (`atexit`),
//!   and each process removes the directories of processes that no longer exist (pid
//!   gone, or reused by a process with another start time) before making its own.
//! * The certificates are made fresh on every run and are never committed.
//! * Every server certificate uses the same RSA key (RSA because vsftpd's Debian
//!   default `ssl_ciphers` is `ECDHE-RSA-AES256-GCM-SHA384` and proftpd loads it with
//!   `TLSRSACertificateFile`); they differ in name, issuer, dates and constraints.
//!   Private keys are mode 0600 (the servers read them as root).
//! * "Good" names are `DNS:localhost` and `IP:127.0.0.1`, so `127.0.0.1` and
//!   `localhost` both verify.
//!
//! Needs `openssl` on PATH (installed by `scripts/setup.sh`); a missing tool or a failed
//! step panics with openssl's output.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The server certificates [`pki()`] makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CertKind {
    /// Signed by the test CA, SAN `DNS:localhost, IP:127.0.0.1`, `CA:FALSE`, valid now.
    Good,
    /// Signed by the test CA, SAN only `DNS:ftp.example.org`.
    WrongName,
    /// The good names, but signed by a second CA that no test trusts by default.
    UnknownCa,
    /// The good names, signed by the test CA, valid only in January 2024.
    Expired,
    /// `openssl req -x509`: self-signed, `CA:TRUE`, SAN `DNS:localhost, IP:127.0.0.1`.
    SelfSigned,
}

impl CertKind {
    pub const ALL: [CertKind; 5] = [
        CertKind::Good,
        CertKind::WrongName,
        CertKind::UnknownCa,
        CertKind::Expired,
        CertKind::SelfSigned,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CertKind::Good => "good",
            CertKind::WrongName => "wrong-name",
            CertKind::UnknownCa => "unknown-ca",
            CertKind::Expired => "expired",
            CertKind::SelfSigned => "self-signed",
        }
    }
}

/// Files and fingerprint of one server certificate.
#[derive(Clone, Debug)]
pub struct CertFiles {
    pub kind: CertKind,
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM, unencrypted, mode 0600).
    pub key: PathBuf,
    /// Certificate followed by the key in one PEM file (pure-ftpd's `-2 FILE`).
    pub combined: PathBuf,
    /// The certificate's DER encoding.
    pub der: PathBuf,
    /// SHA-256 of the DER, lowercase hex without separators (64 characters).
    pub sha256: String,
}

impl CertFiles {
    /// `sha256:<lowercase hex>`, the form of a `tls_fingerprint=` pin.
    pub fn pin(&self) -> String {
        format!("sha256:{}", self.sha256)
    }

    /// The file that makes a client trust exactly this certificate's issuer: the test CA,
    /// the unknown CA, or (self-signed) the certificate itself.
    pub fn issuer_file(&self) -> &Path {
        let pki = pki();
        match self.kind {
            CertKind::UnknownCa => &pki.other_ca,
            CertKind::SelfSigned => &self.cert,
            _ => &pki.ca,
        }
    }
}

/// The generated PKI (see the module docs).
#[derive(Debug)]
pub struct Pki {
    /// Directory holding everything (removed at process exit).
    pub dir: PathBuf,
    /// The test CA's certificate: the trust anchor for Good, WrongName and Expired
    /// (`curl --cacert`, ftpfs `tls_ca=`).
    pub ca: PathBuf,
    /// The CA that signed `UnknownCa` (trusted by no test unless it asks).
    pub other_ca: PathBuf,
    certs: Vec<CertFiles>,
}

impl Pki {
    /// The files of the certificate of `kind`.
    pub fn cert(&self, kind: CertKind) -> &CertFiles {
        self.certs
            .iter()
            .find(|c| c.kind == kind)
            .expect("every CertKind is generated")
    }

    /// The test CA's certificate file.
    pub fn ca_file(&self) -> &Path {
        &self.ca
    }
}

/// The process-wide PKI, generated on first use (≈0.3 s).
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(generate)
}

/// Where the per-process PKI directories live.
fn base_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-pki")
}

/// Start time of process `pid` in clock ticks since boot (field 22 of /proc/PID/stat).
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(19)?.parse().ok()
}

/// Remove the directories of processes that are gone.
fn remove_stale(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((pid, started)) = name.to_str().and_then(|n| n.split_once('-')) else {
            continue;
        };
        let (Ok(pid), Ok(started)) = (pid.parse::<u32>(), started.parse::<u64>()) else {
            continue;
        };
        if start_time(pid) != Some(started) {
            // Another process may be removing it at the same moment: errors are fine.
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

static DIR_FOR_EXIT: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_at_exit() {
    if let Some(dir) = DIR_FOR_EXIT.get() {
        let _ = fs::remove_dir_all(dir);
    }
}

/// `openssl.cnf` for every step: our own sections only, not the system config.
const OPENSSL_CNF: &str = "\
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = placeholder
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ good_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ wrong_name_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:ftp.example.org
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ self_signed_ext ]
basicConstraints = critical, CA:TRUE
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
[ ca ]
default_ca = signer
[ signer ]
database = index.txt
new_certs_dir = issued
serial = serial
default_md = sha256
policy = any_name
unique_subject = no
email_in_dn = no
copy_extensions = none
[ any_name ]
commonName = supplied
";

/// Validity of the CAs and of every certificate that is not expired. The CAs start in
/// 2023 so that the expired certificate's dates (2024) lie inside its issuer's.
const VALID: (&str, &str) = ("20230101000000Z", "20491231000000Z");
const EXPIRED: (&str, &str) = ("20240101000000Z", "20240201000000Z");

fn generate() -> Pki {
    let base = base_dir();
    fs::create_dir_all(&base).unwrap_or_else(|e| panic!("creating {}: {e}", base.display()));
    remove_stale(&base);
    let me = std::process::id();
    let started = start_time(me).expect("reading /proc/self/stat");
    let dir = base.join(format!("{me}-{started}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    if DIR_FOR_EXIT.set(dir.clone()).is_ok() {
        // SAFETY: atexit gets a plain extern "C" fn without captured state; it only
        // reads a OnceLock and removes a directory.
        unsafe { libc::atexit(remove_at_exit) };
    }
    fs::write(dir.join("openssl.cnf"), OPENSSL_CNF).unwrap();

    let ssl = Openssl { dir: &dir };
    ssl.key("ca.key");
    ssl.key("other-ca.key");
    ssl.key("server.key");
    ssl.self_signed_ca("ca", "ftpfs test CA");
    ssl.self_signed_ca("other-ca", "ftpfs unknown test CA");
    ssl.csr("server.key", "localhost", "localhost.csr");
    ssl.csr("server.key", "ftp.example.org", "wrong-name.csr");

    let mut certs = Vec::new();
    for kind in CertKind::ALL {
        let pem = format!("{}.pem", kind.name());
        match kind {
            CertKind::Good => ssl.sign("ca", "localhost.csr", "good_ext", VALID, &pem),
            CertKind::WrongName => ssl.sign("ca", "wrong-name.csr", "wrong_name_ext", VALID, &pem),
            CertKind::UnknownCa => ssl.sign("other-ca", "localhost.csr", "good_ext", VALID, &pem),
            CertKind::Expired => ssl.sign("ca", "localhost.csr", "good_ext", EXPIRED, &pem),
            CertKind::SelfSigned => ssl.self_signed_server(&pem),
        }
        certs.push(ssl.files(kind, &pem));
    }
    ssl.check_expired(&pki_cert(&certs, CertKind::Expired).cert);

    Pki {
        ca: dir.join("ca.pem"),
        other_ca: dir.join("other-ca.pem"),
        dir,
        certs,
    }
}

fn pki_cert(certs: &[CertFiles], kind: CertKind) -> &CertFiles {
    certs.iter().find(|c| c.kind == kind).unwrap()
}

/// Runs `openssl` steps inside the PKI directory.
struct Openssl<'a> {
    dir: &'a Path,
}

impl Openssl<'_> {
    fn run(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir)
            .env_remove("OPENSSL_CONF")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!("running openssl: {e}: install it (scripts/setup.sh, as root)")
            });
        assert!(
            out.status.success(),
            "openssl {} failed ({}):\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn key(&self, name: &str) {
        self.run(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            name,
        ]);
        fs::set_permissions(self.dir.join(name), fs::Permissions::from_mode(0o600)).unwrap();
    }

    fn csr(&self, key: &str, cn: &str, out: &str) {
        let subj = format!("/CN={cn}");
        self.run(&[
            "req",
            "-new",
            "-config",
            "openssl.cnf",
            "-key",
            key,
            "-subj",
            &subj,
            "-out",
            out,
        ]);
    }

    /// `NAME.pem`, a CA certificate self-signed with `NAME.key` through `openssl ca
    /// -selfsign` (which, unlike `req -x509` in OpenSSL 3.0, takes a start date).
    fn self_signed_ca(&self, name: &str, cn: &str) {
        let csr = format!("{name}.csr");
        self.csr(&format!("{name}.key"), cn, &csr);
        let out = format!("{name}.pem");
        self.sign_with(name, &["-selfsign"], &csr, "ca_ext", VALID, &out);
    }

    /// The usual FTP-server certificate: `openssl req -x509` (CA:TRUE, self-signed).
    fn self_signed_server(&self, out: &str) {
        self.run(&[
            "req",
            "-x509",
            "-config",
            "openssl.cnf",
            "-key",
            "server.key",
            "-subj",
            "/CN=localhost",
            "-days",
            "3650",
            "-extensions",
            "self_signed_ext",
            "-out",
            out,
        ]);
    }

    fn sign(&self, ca: &str, csr: &str, ext: &str, validity: (&str, &str), out: &str) {
        let cert = format!("{ca}.pem");
        self.sign_with(ca, &["-cert", &cert], csr, ext, validity, out);
    }

    /// `openssl ca` with a fresh, empty database each time (nothing needs revocation).
    fn sign_with(
        &self,
        ca: &str,
        extra: &[&str],
        csr: &str,
        ext: &str,
        (from, until): (&str, &str),
        out: &str,
    ) {
        let _ = fs::remove_dir_all(self.dir.join("issued"));
        fs::create_dir(self.dir.join("issued")).unwrap();
        fs::write(self.dir.join("index.txt"), "").unwrap();
        let serial = self.run(&["rand", "-hex", "16"]);
        fs::write(self.dir.join("serial"), serial).unwrap();
        let key = format!("{ca}.key");
        let mut args = vec!["ca", "-batch", "-notext", "-config", "openssl.cnf"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[
            "-keyfile",
            &key,
            "-in",
            csr,
            "-out",
            out,
            "-extfile",
            "openssl.cnf",
            "-extensions",
            ext,
            "-startdate",
            from,
            "-enddate",
            until,
        ]);
        self.run(&args);
    }

    /// The files of `pem` for `kind`: DER, key, combined PEM, fingerprint.
    fn files(&self, kind: CertKind, pem: &str) -> CertFiles {
        let der = format!("{}.der", kind.name());
        self.run(&["x509", "-in", pem, "-outform", "DER", "-out", &der]);
        let fp =
            String::from_utf8(self.run(&["x509", "-in", pem, "-noout", "-fingerprint", "-sha256"]))
                .unwrap();
        // "sha256 Fingerprint=AB:CD:…"
        let sha256: String = fp
            .trim()
            .rsplit('=')
            .next()
            .unwrap()
            .chars()
            .filter(|c| *c != ':')
            .collect::<String>()
            .to_ascii_lowercase();
        assert!(
            sha256.len() == 64 && sha256.chars().all(|c| c.is_ascii_hexdigit()),
            "unexpected fingerprint output {fp:?}"
        );
        let combined = self.dir.join(format!("{}.certkey.pem", kind.name()));
        let mut both = fs::read(self.dir.join(pem)).unwrap();
        both.extend(fs::read(self.dir.join("server.key")).unwrap());
        fs::write(&combined, both).unwrap();
        fs::set_permissions(&combined, fs::Permissions::from_mode(0o600)).unwrap();
        CertFiles {
            kind,
            cert: self.dir.join(pem),
            key: self.dir.join("server.key"),
            combined,
            der: self.dir.join(der),
            sha256,
        }
    }

    /// Makes sure the expired certificate really is expired (`-checkend 0` fails) and
    /// verifies otherwise (`openssl verify -attime` inside its validity).
    fn check_expired(&self, cert: &Path) {
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-checkend", "0", "-in"])
            .arg(cert)
            .output()
            .expect("running openssl");
        assert!(
            !out.status.success(),
            "the expired certificate is not expired: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        // 2024-01-15, inside the validity of the certificate and of the CA.
        self.run(&[
            "verify",
            "-attime",
            "1705276800",
            "-CAfile",
            "ca.pem",
            cert.to_str().unwrap(),
        ]);
    }
}
