//! FTPS variants of the test servers: what [`TlsSetup`] adds to each server's config,
//! the readiness check of implicit-TLS servers, and log helpers for FTPS assertions.
//!
//! Start one with `FtpServer::start_tls(kind, TlsSetup::explicit())` (or
//! `start_with(kind, ServerOptions { tls: Some(..), .. })`). The server presents the
//! certificate `TlsSetup::cert` of the process-wide PKI (`common::tls::pki()`);
//! [`FtpServer::ca_file`] is the test CA, [`FtpServer::cert`] has the presented
//! certificate's fingerprint. Every variant requires TLS for the login and for data
//! connections, so a client that gets in without TLS is a failed test, not a fixture
//! quirk.
//!
//! Settings (Debian 12: vsftpd 3.0.3, pure-ftpd 1.0.50, proftpd 1.3.8 + mod_tls 2.9.2,
//! OpenSSL 3.0):
//! * vsftpd: `ssl_enable`, `require_ssl_reuse`, `force_local_logins_ssl`,
//!   `force_local_data_ssl`, `debug_ssl` (+ `implicit_ssl` for implicit), with the
//!   plain config's `log_ftp_protocol`. Reuse failures log "No SSL session reuse on data
//!   channel" and answer `522 SSL connection failed: session reuse required`, which ends
//!   the whole FTP session.
//! * pure-ftpd: `-Y <pure_level>` (2: TLS required for the login, 3: also for data) and
//!   `-2 <cert+key pem>`. Explicit only (no implicit mode in this build); it never
//!   requires session reuse and logs no commands.
//! * proftpd: `ModulePath <unpacked tree>/usr/lib/proftpd`, `LoadModule mod_tls.c`,
//!   `TLSRequired on`, `TLSProtocol TLSv1.2 TLSv1.3`, `TLSOptions EnableDiags` (+
//!   `UseImplicitSSL`), `TLSLog tls.log` (part of `log()`). Reuse of the control
//!   connection's session is required (mod_tls default); a refused data connection
//!   gets 425 and the TLS log says "client did not reuse TLS session, rejecting data
//!   connection" (no resumption at all) or "Client did not reuse TLS session from
//!   control channel, rejecting data connection" (another session resumed).
//! * `max_version: Some("1.2")`: proftpd through `TLSProtocol TLSv1.2`; vsftpd and
//!   pure-ftpd have no setting for it, so the server gets `OPENSSL_CONF` pointing to a
//!   file with `MaxProtocol = TLSv1.2` in OpenSSL's `system_default` section, which
//!   every `SSL_CTX` of the process picks up.
//!
//! What they negotiate with curl/OpenSSL (seen in the self-tests, `tests/tls`): TLS 1.3
//! `TLS_AES_256_GCM_SHA384` on all three unless capped; TLS 1.2 is
//! `ECDHE-RSA-AES256-GCM-SHA384` (vsftpd, proftpd) or `ECDHE-RSA-CHACHA20-POLY1305`
//! (pure-ftpd). vsftpd and pure-ftpd answer a TLS 1.3 ClientHello whose first key share
//! is X25519 with a HelloRetryRequest; proftpd does not. vsftpd sends a
//! CertificateRequest in every handshake (a client without a certificate answers with
//! an empty one). After a TLS 1.3 login vsftpd and proftpd send 2 session tickets,
//! pure-ftpd none (its data connections are full handshakes, which it accepts).
//!
//! Which servers can tell whether a command arrived ([`FtpServer::saw_command`]):
//! vsftpd (`log_ftp_protocol`: every command, before and after TLS) and proftpd (its
//! `ExtendedLog` of commands); pure-ftpd and pyftpdlib cannot (it panics).
//! pyftpdlib has no FTPS variant.

use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::{FtpServer, START_DEADLINE, ServerKind, StartFailure, servers_dir};
use crate::common::tls::{CertFiles, CertKind, pki};

/// Explicit (`AUTH TLS` on the plain port) or implicit (TLS from the first byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlsMode {
    Explicit,
    Implicit,
}

impl TlsMode {
    /// The URL scheme ftpfs (and FileZilla) use for it: `ftpes` or `ftps`.
    pub fn scheme(self) -> &'static str {
        match self {
            TlsMode::Explicit => "ftpes",
            TlsMode::Implicit => "ftps",
        }
    }
}

/// How an FTPS test server is set up (see the module docs for what each server does).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TlsSetup {
    pub mode: TlsMode,
    /// The certificate the server presents.
    pub cert: CertKind,
    /// pure-ftpd's `-Y` level: 1 allows plain sessions too, 2 requires TLS for the
    /// login, 3 also for data connections. Must stay 2 for the other servers.
    pub pure_level: u8,
    /// `Some("1.2")` caps the server at TLS 1.2; `None` lets it offer TLS 1.2 and 1.3.
    pub max_version: Option<&'static str>,
}

impl TlsSetup {
    /// Explicit TLS, good certificate, pure-ftpd `-Y 2`, TLS 1.2 and 1.3.
    pub const fn explicit() -> TlsSetup {
        TlsSetup {
            mode: TlsMode::Explicit,
            cert: CertKind::Good,
            pure_level: 2,
            max_version: None,
        }
    }

    /// Implicit TLS (vsftpd, proftpd), good certificate, TLS 1.2 and 1.3.
    pub const fn implicit() -> TlsSetup {
        TlsSetup {
            mode: TlsMode::Implicit,
            ..TlsSetup::explicit()
        }
    }

    pub const fn with_cert(self, cert: CertKind) -> TlsSetup {
        TlsSetup { cert, ..self }
    }

    pub const fn with_pure_level(self, pure_level: u8) -> TlsSetup {
        TlsSetup { pure_level, ..self }
    }

    /// Cap the server at TLS 1.2.
    pub const fn with_max_tls12(self) -> TlsSetup {
        TlsSetup {
            max_version: Some("1.2"),
            ..self
        }
    }

    /// Panics when `kind` cannot be set up this way.
    pub(super) fn check(&self, kind: ServerKind) {
        match kind {
            ServerKind::Pyftpdlib => panic!("no FTPS variant of pyftpdlib"),
            ServerKind::PureFtpd => {
                assert!(
                    self.mode == TlsMode::Explicit,
                    "pure-ftpd has no implicit TLS (not built with it)"
                );
                assert!(
                    (1..=3).contains(&self.pure_level),
                    "pure-ftpd -Y takes 1, 2 or 3, not {}",
                    self.pure_level
                );
            }
            ServerKind::Vsftpd | ServerKind::Proftpd => assert_eq!(
                self.pure_level, 2,
                "pure_level is pure-ftpd's -Y; {kind} always requires TLS"
            ),
        }
        assert!(
            matches!(self.max_version, None | Some("1.2") | Some("1.3")),
            "max_version must be \"1.2\" or \"1.3\", not {:?}",
            self.max_version
        );
    }
}

impl fmt::Display for TlsSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            TlsMode::Explicit => "explicit",
            TlsMode::Implicit => "implicit",
        };
        write!(f, "{mode} TLS, {} certificate", self.cert.name())?;
        if let Some(max) = self.max_version {
            write!(f, ", max TLS {max}")?;
        }
        Ok(())
    }
}

/// Lines appended to the plain vsftpd config.
pub(super) fn vsftpd_conf(tls: &TlsSetup) -> String {
    let cert = pki().cert(tls.cert);
    let implicit = if tls.mode == TlsMode::Implicit {
        "YES"
    } else {
        "NO"
    };
    format!(
        "\
ssl_enable=YES
implicit_ssl={implicit}
require_ssl_reuse=YES
force_local_logins_ssl=YES
force_local_data_ssl=YES
allow_anon_ssl=NO
ssl_sslv2=NO
ssl_sslv3=NO
ssl_tlsv1=YES
debug_ssl=YES
rsa_cert_file={}
rsa_private_key_file={}
",
        cert.cert.display(),
        cert.key.display()
    )
}

/// Arguments added to the plain pure-ftpd command line.
pub(super) fn pure_ftpd_args(tls: &TlsSetup) -> Vec<String> {
    let cert = pki().cert(tls.cert);
    vec![
        "-Y".into(),
        tls.pure_level.to_string(),
        "-2".into(),
        cert.combined.display().to_string(),
    ]
}

/// Directives appended to the plain proftpd config.
pub(super) fn proftpd_conf(dir: &Path, tls: &TlsSetup) -> String {
    let cert = pki().cert(tls.cert);
    let modules = servers_dir().join("proftpd/usr/lib/proftpd");
    assert!(
        modules.join("mod_tls.so").is_file(),
        "{} is missing: run scripts/setup.sh (as root); it unpacks proftpd-mod-crypto",
        modules.join("mod_tls.so").display()
    );
    let protocols = match tls.max_version {
        Some("1.2") => "TLSv1.2",
        _ => "TLSv1.2 TLSv1.3",
    };
    let implicit = if tls.mode == TlsMode::Implicit {
        " UseImplicitSSL"
    } else {
        ""
    };
    format!(
        "\
ModulePath {modules}
LoadModule mod_tls.c
TLSEngine on
TLSLog {log}
TLSProtocol {protocols}
TLSRequired on
TLSRSACertificateFile {cert}
TLSRSACertificateKeyFile {key}
TLSVerifyClient off
TLSRenegotiate none
TLSOptions EnableDiags{implicit}
",
        modules = modules.display(),
        log = dir.join("tls.log").display(),
        cert = cert.cert.display(),
        key = cert.key.display(),
    )
}

/// vsftpd and pure-ftpd cannot cap the TLS version themselves: point their OpenSSL at a
/// config whose `system_default` section does (proftpd uses `TLSProtocol`).
pub(super) fn cap_with_openssl_conf(
    cmd: &mut Command,
    kind: ServerKind,
    dir: &Path,
    tls: &TlsSetup,
) {
    let Some(max) = tls.max_version else {
        return;
    };
    if kind == ServerKind::Proftpd {
        return;
    }
    let conf = dir.join("openssl-cap.cnf");
    fs::write(
        &conf,
        format!(
            "\
openssl_conf = ftpfs_test_init
[ ftpfs_test_init ]
ssl_conf = ftpfs_test_ssl
[ ftpfs_test_ssl ]
system_default = ftpfs_test_tls
[ ftpfs_test_tls ]
MinProtocol = TLSv1.2
MaxProtocol = TLSv{max}
"
        ),
    )
    .unwrap();
    cmd.env("OPENSSL_CONF", conf);
}

/// Readiness of an implicit-TLS server: wait until something listens on 127.0.0.1:`port`
/// (read from `/proc/net/tcp`, so no half-open probe connection lands in the server's
/// log as a failed handshake), then run `openssl s_client` (no verification: any test
/// certificate will do) and expect the 220 banner carrying `nonce` inside TLS.
/// Something that does not speak TLS, or greets without our nonce, is another server:
/// `WrongServer`.
pub(crate) fn wait_for_tls_banner(
    child: &mut Child,
    port: u16,
    nonce: &str,
) -> Result<(), StartFailure> {
    let deadline = Instant::now() + START_DEADLINE;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(StartFailure::Exited(status));
        }
        if listening(port) {
            let out = s_client_banner(port);
            if out.contains(nonce) {
                return Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(StartFailure::Exited(status));
            }
            return Err(StartFailure::WrongServer(format!(
                "no TLS greeting with our nonce: {out}"
            )));
        }
        thread::sleep(Duration::from_millis(20));
    }
    Err(StartFailure::Timeout(format!(
        "nothing listens on 127.0.0.1:{port}"
    )))
}

/// Whether a TCP socket listens on 127.0.0.1:`port` (or on 0.0.0.0:`port`).
fn listening(port: u16) -> bool {
    let Ok(table) = fs::read_to_string("/proc/net/tcp") else {
        return false;
    };
    let want = [
        format!("0100007F:{port:04X}"),
        format!("00000000:{port:04X}"),
    ];
    // "  sl  local_address rem_address   st …": st 0A is LISTEN.
    table.lines().skip(1).any(|line| {
        let mut fields = line.split_whitespace().skip(1);
        let local = fields.next().unwrap_or("");
        let state = fields.nth(1).unwrap_or("");
        state == "0A" && want.iter().any(|w| w == local)
    })
}

/// `openssl s_client` to 127.0.0.1:`port`, sending QUIT; its stdout and stderr (≤ 5 s).
fn s_client_banner(port: u16) -> String {
    let mut child = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .env_remove("OPENSSL_CONF")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running openssl s_client: {e}: run scripts/setup.sh"));
    let _ = child.stdin.take().unwrap().write_all(b"QUIT\r\n");
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut text = String::new();
    let _ = child.stdout.take().unwrap().read_to_string(&mut text);
    let _ = child.stderr.take().unwrap().read_to_string(&mut text);
    text
}

impl FtpServer {
    /// The FTPS setup, `None` for a plain server.
    pub fn tls(&self) -> Option<&TlsSetup> {
        self.tls.as_ref()
    }

    /// The certificate this FTPS server presents (path, key, fingerprint). Panics for a
    /// plain server.
    pub fn cert(&self) -> &'static CertFiles {
        let tls = self.tls.unwrap_or_else(|| panic!("{self:?} has no TLS"));
        pki().cert(tls.cert)
    }

    /// The test CA's certificate (`curl --cacert`, ftpfs `tls_ca=`): verifies the Good,
    /// WrongName (except for the name) and Expired (except for the dates) certificates.
    pub fn ca_file(&self) -> &'static Path {
        pki().ca_file()
    }

    /// Whether the server's log shows a command with this verb (case-insensitive), e.g.
    /// `saw_command("USER")` after a login attempt. vsftpd and proftpd only: pure-ftpd
    /// and pyftpdlib log no commands, so this panics for them.
    pub fn saw_command(&self, verb: &str) -> bool {
        !self.command_lines(verb).is_empty()
    }

    /// The log lines of commands with this verb (see [`FtpServer::saw_command`]).
    pub fn command_lines(&self, verb: &str) -> Vec<String> {
        let verb = verb.to_ascii_uppercase();
        match self.kind {
            // FTP command: Client "127.0.0.1", "USER ftpfs-test"
            ServerKind::Vsftpd => self
                .log_file("vsftpd.log")
                .lines()
                .filter(|l| {
                    l.split_once("FTP command: ")
                        .and_then(|(_, rest)| rest.split_once(", \""))
                        .is_some_and(|(_, cmd)| {
                            cmd.to_ascii_uppercase().starts_with(&verb)
                                && matches!(cmd.as_bytes().get(verb.len()), Some(b' ' | b'"'))
                        })
                })
                .map(str::to_string)
                .collect(),
            // [04/Dec/2026:20:16:00 +0000] USER ftpfs-test -> 331
            ServerKind::Proftpd => self
                .log_file("commands.log")
                .lines()
                .filter(|l| {
                    l.split_once("] ")
                        .and_then(|(_, rest)| rest.split(' ').next())
                        .is_some_and(|cmd| cmd.eq_ignore_ascii_case(&verb))
                })
                .map(str::to_string)
                .collect(),
            kind => panic!("{kind} logs no commands: use vsftpd or proftpd to check for {verb}"),
        }
    }

    /// vsftpd: the log lines showing a data connection that did not resume the TLS
    /// session ("No SSL session reuse on data channel" from `debug_ssl`, and the `522`
    /// reply). Empty when every data connection resumed.
    pub fn vsftpd_reuse_failures(&self) -> Vec<String> {
        assert_eq!(self.kind, ServerKind::Vsftpd, "vsftpd only");
        self.log_file("vsftpd.log")
            .lines()
            .filter(|l| l.contains("No SSL session reuse") || l.contains("\"522 "))
            .map(str::to_string)
            .collect()
    }

    /// proftpd: the TLS log lines of refused data connections ("client did not reuse
    /// TLS session, …" and "Client did not reuse TLS session from control channel, …").
    /// Empty when every data connection resumed its control connection's session.
    pub fn proftpd_reuse_failures(&self) -> Vec<String> {
        assert_eq!(self.kind, ServerKind::Proftpd, "proftpd only");
        self.log_file("tls.log")
            .lines()
            .filter(|l| l.contains("did not reuse TLS session"))
            .map(str::to_string)
            .collect()
    }

    /// The reuse failures of a server that requires reuse (vsftpd or proftpd).
    pub fn tls_reuse_failures(&self) -> Vec<String> {
        match self.kind {
            ServerKind::Vsftpd => self.vsftpd_reuse_failures(),
            ServerKind::Proftpd => self.proftpd_reuse_failures(),
            kind => panic!("{kind} does not require TLS session reuse"),
        }
    }

    /// Polls `cond` with the server's log (all files, as [`FtpServer::log`]) every 20 ms
    /// until it holds or `limit` passes; returns whether it held. Servers write some
    /// lines after the client has seen the reply (vsftpd logs a reply after sending it,
    /// its 522 after the client gave up on the data connection), so a test that expects
    /// a line waits for it.
    pub fn wait_for_log(&self, limit: Duration, cond: impl Fn(&str) -> bool) -> bool {
        let end = Instant::now() + limit;
        loop {
            if cond(&self.log()) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// One log file of the server's directory ("" when it does not exist yet).
    pub fn log_file(&self, name: &str) -> String {
        self.dir
            .as_ref()
            .and_then(|d| fs::read(d.path().join(name)).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}
