//! FTPS: the TLS side of a mount (explicit `AUTH TLS` or implicit TLS), built on the rustls
//! that suppaftp re-exports and on suppaftp's `RustlsConnector`, which wraps every control and
//! data socket.
//!
//! - [`TlsOptions`]: what the user asked for (`ftps://`, `ftpes://`, `-o tls`, `tls_ca`,
//!   `tls_fingerprint`, `tls_name`, `tls_insecure`, `tls_max`).
//! - [`TlsSetup`]: built once per mount: the verifier (roots loaded once), two client
//!   configurations (up to the allowed maximum, and capped at TLS 1.2), the key-exchange hint
//!   shared by every session, and the [`TlsPolicy`].
//! - [`SessionTls`]: one per control connection. Its own session store, so that its data
//!   connections resume *its* TLS session (proftpd refuses a data connection that resumes
//!   another control connection's session; vsftpd's `require_ssl_reuse` kills the session of
//!   a data connection that does not resume at all).
//!
//! Invariants:
//! - No `USER`/`PASS` before a completed, verified handshake; a refused `AUTH TLS`, `PBSZ` or
//!   `PROT P` fails the login ([`RemoteError::Tls`]), never falls back to plain text. `CCC` is
//!   never sent.
//! - Every data connection of a TLS session is TLS, made from the session's own config.
//! - A session's TLS 1.3 tickets are single-use (rustls): [`SessionStore`] counts them, an
//!   upload's close collects the server's new ticket (see `transfer::close_data`), and the
//!   [`TlsPolicy`] decides when a session has nothing left to resume with.
//! - The store holds secrets: it logs counts only.

use std::collections::VecDeque;
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use suppaftp::rustls;
use suppaftp::{RustlsConnector, TlsConnector, TlsStream as _};

use rustls::client::{
    ClientSessionStore, Resumption, Tls12ClientSessionValue, Tls13ClientSessionValue,
    WebPkiServerVerifier,
};
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, HandshakeKind, NamedGroup, ProtocolVersion, RootCertStore};

use super::control::TlsStream;
use super::tls_verify::{Trust, Verifier, rejection};
use crate::remote::{RemoteError, RemoteResult};

/// When TLS starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// `AUTH TLS` on the plain control connection (`ftpes://`, `-o tls`).
    Explicit,
    /// TLS from the first byte (`ftps://`, port 990).
    Implicit,
}

/// The highest TLS version to offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMax {
    V12,
    V13,
}

/// The TLS settings of a mount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsOptions {
    pub mode: TlsMode,
    /// Trust the roots in this PEM file instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// Trust exactly the certificate with this SHA-256.
    pub fingerprint: Option<[u8; 32]>,
    /// Verify this name instead of the URL's host.
    pub name: Option<String>,
    /// Trust any certificate (loud warning).
    pub insecure: bool,
    pub max: TlsMax,
}

impl TlsOptions {
    pub fn new(mode: TlsMode) -> TlsOptions {
        TlsOptions {
            mode,
            ca_file: None,
            fingerprint: None,
            name: None,
            insecure: false,
            max: TlsMax::V13,
        }
    }
}

fn tls_err(msg: String) -> RemoteError {
    RemoteError::Tls(msg.into())
}

/// The mount-wide TLS state (see the module doc).
pub struct TlsSetup {
    pub mode: TlsMode,
    /// The name the certificate must carry (and the SNI).
    name: String,
    /// Up to `tls_max`.
    full: Arc<ClientConfig>,
    /// TLS 1.2 only (what the policy may fall back to).
    capped: Arc<ClientConfig>,
    kx: Arc<Mutex<Option<NamedGroup>>>,
    pub policy: TlsPolicy,
}

impl TlsSetup {
    /// Loads the roots (once per mount) and builds the configurations.
    pub fn new(opts: &TlsOptions, host: &str) -> RemoteResult<TlsSetup> {
        // ring, through suppaftp's `rustls-ring` feature: it builds with a C compiler alone
        // (aws-lc-rs needs cmake), and the FTP servers we meet (OpenSSL 3.0 and older) offer
        // no post-quantum key exchange, which is what rustls deprecates ring's provider for.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let trust = if opts.insecure {
            Trust::Insecure
        } else if let Some(pin) = opts.fingerprint {
            Trust::Pin(pin)
        } else {
            let (roots, source) = match &opts.ca_file {
                Some(path) => (load_ca_file(path)?, path.display().to_string()),
                None => (
                    system_roots()?,
                    "this system's certificate store".to_string(),
                ),
            };
            let verifier =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                    .build()
                    .map_err(|e| tls_err(format!("TLS: cannot use the trusted roots: {e}")))?;
            Trust::Roots { verifier, source }
        };
        let verifier = Arc::new(Verifier::new(trust, Arc::clone(&provider)));
        let build = |versions: &[&'static rustls::SupportedProtocolVersion]| {
            ClientConfig::builder_with_provider(Arc::clone(&provider))
                .with_protocol_versions(versions)
                .map(|b| {
                    b.dangerous()
                        .with_custom_certificate_verifier(verifier.clone())
                        .with_no_client_auth()
                })
                .map(Arc::new)
                .map_err(|e| tls_err(format!("TLS: {e}")))
        };
        let full = match opts.max {
            TlsMax::V13 => build(&[&rustls::version::TLS13, &rustls::version::TLS12])?,
            TlsMax::V12 => build(&[&rustls::version::TLS12])?,
        };
        let capped = build(&[&rustls::version::TLS12])?;
        let name = opts.name.clone().unwrap_or_else(|| host.to_string());
        ServerName::try_from(name.clone())
            .map_err(|e| tls_err(format!("TLS: {name:?} cannot be a server name: {e}")))?;
        Ok(TlsSetup {
            mode: opts.mode,
            name,
            full,
            capped,
            kx: Arc::new(Mutex::new(None)),
            policy: TlsPolicy::new(opts.max == TlsMax::V12),
        })
    }

    /// The TLS state of a new control connection: an empty session store of its own.
    pub fn session(&self) -> SessionTls {
        let base = if self.policy.capped() {
            &self.capped
        } else {
            &self.full
        };
        let store = Arc::new(SessionStore::new(Arc::clone(&self.kx)));
        let mut config = (**base).clone();
        config.resumption = Resumption::store(store.clone());
        let config = Arc::new(config);
        SessionTls {
            connector: RustlsConnector::from(Arc::clone(&config)),
            store,
            name: self.name.clone(),
            version: None,
        }
    }
}

/// The system's trusted roots, read from its certificate store (not a list compiled in).
fn system_roots() -> RemoteResult<RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map_or_else(|| "none found".to_string(), |e| e.to_string());
        return Err(tls_err(format!(
            "TLS: no trusted certificates in this system's store ({why}): install \
             ca-certificates, or use -o tls_ca=FILE or -o tls_fingerprint=sha256:…"
        )));
    }
    Ok(roots)
}

/// The roots of a `tls_ca` PEM file.
fn load_ca_file(path: &std::path::Path) -> RemoteResult<RootCertStore> {
    let what = |e: String| tls_err(format!("TLS: tls_ca={}: {e}", path.display()));
    let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
        .map_err(|e| what(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| what(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(what("no usable certificate in it".into()));
    }
    Ok(roots)
}

/// The TLS state of one control connection (see the module doc).
pub struct SessionTls {
    connector: RustlsConnector,
    pub store: Arc<SessionStore>,
    name: String,
    /// The control connection's TLS version, once its handshake is done.
    pub version: Option<ProtocolVersion>,
}

impl SessionTls {
    /// Wraps a connected socket (control or data) in TLS and writes the ClientHello at once
    /// (the server answers it when it gets there; the handshake is finished by
    /// [`handshake`]). A ClientHello that cannot be written is not an error yet: on a data
    /// connection the server's reply to the transfer command says what happened (425 for a
    /// data connection it had let go), and otherwise [`handshake`] reports it.
    pub fn start(&self, sock: TcpStream) -> RemoteResult<TlsStream> {
        let mut s = self
            .connector
            .connect(&self.name, sock)
            .map_err(|e| tls_err(format!("TLS: {e}")))?;
        let so = s.mut_ref();
        while so.conn.wants_write() {
            if let Err(e) = so.conn.write_tls(&mut so.sock) {
                log::debug!("TLS: writing the ClientHello: {e}");
                break;
            }
        }
        Ok(s)
    }

    /// Whether the session runs TLS 1.3 (whose tickets are single-use).
    pub fn tls13(&self) -> bool {
        self.version == Some(ProtocolVersion::TLSv1_3)
    }
}

/// Drops a TLS stream without a close_notify (suppaftp's stream writes one on drop without
/// reading anything back).
pub fn disarm(s: TlsStream) {
    let _ = s.tcp_stream();
}

/// Finishes a handshake started by [`SessionTls::start`] within `deadline` (the socket's
/// timeouts bound each wait). A refused certificate is a [`RemoteError::Tls`] with the
/// verifier's message.
pub fn handshake(s: &mut TlsStream, deadline: Instant, what: &str) -> RemoteResult<HandshakeKind> {
    let so = s.mut_ref();
    // Each wait of the handshake ends by the deadline (the socket's own timeout is put back
    // afterwards).
    let socket_timeout = so.sock.read_timeout().ok().flatten();
    let r = handshake_by(so, deadline, what);
    let _ = so.sock.set_read_timeout(socket_timeout);
    r
}

fn handshake_by(
    so: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    deadline: Instant,
    what: &str,
) -> RemoteResult<HandshakeKind> {
    while so.conn.is_handshaking() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(RemoteError::Timeout(
                format!("{what}: the TLS handshake did not finish in time").into(),
            ));
        }
        let _ = so.sock.set_read_timeout(Some(left));
        if let Err(e) = so.conn.complete_io(&mut so.sock) {
            return Err(match rejection(&e) {
                Some(msg) => tls_err(format!("TLS: {msg}")),
                None => match e.kind() {
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                        RemoteError::Timeout(
                            format!("{what}: the TLS handshake did not finish in time").into(),
                        )
                    }
                    std::io::ErrorKind::InvalidData => {
                        tls_err(format!("{what}: TLS handshake failed: {e}"))
                    }
                    _ => {
                        RemoteError::Connection(format!("{what}: TLS handshake failed: {e}").into())
                    }
                },
            });
        }
    }
    Ok(so.conn.handshake_kind().unwrap_or(HandshakeKind::Full))
}

/// A session store of one control connection (rustls' `ClientSessionStore`): TLS 1.2 session
/// and TLS 1.3 tickets of this connection only; the key-exchange group the server chose is
/// shared by the mount (vsftpd only does P-256: one HelloRetryRequest per mount, not per
/// login).
pub struct SessionStore {
    kx: Arc<Mutex<Option<NamedGroup>>>,
    st: Mutex<StoreState>,
}

#[derive(Default)]
struct StoreState {
    tls12: Option<Tls12ClientSessionValue>,
    tls13: VecDeque<Tls13ClientSessionValue>,
    /// TLS 1.3 tickets received in all.
    received: u32,
    /// Whether the last handshake started offered something to resume.
    offered: bool,
}

/// At most this many TLS 1.3 tickets are kept (the newest).
const MAX_TICKETS: usize = 8;

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SessionStore({} tickets, {} received)",
            self.tickets(),
            self.received()
        )
    }
}

impl SessionStore {
    fn new(kx: Arc<Mutex<Option<NamedGroup>>>) -> SessionStore {
        SessionStore {
            kx,
            st: Mutex::new(StoreState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StoreState> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// TLS 1.3 tickets available now.
    pub fn tickets(&self) -> usize {
        self.lock().tls13.len()
    }

    /// TLS 1.3 tickets received since the session began.
    pub fn received(&self) -> u32 {
        self.lock().received
    }

    /// Whether the last handshake started offered a session to resume (and resets it).
    pub fn take_offered(&self) -> bool {
        std::mem::take(&mut self.lock().offered)
    }
}

impl ClientSessionStore for SessionStore {
    fn set_kx_hint(&self, _: ServerName<'static>, group: NamedGroup) {
        *self.kx.lock().unwrap_or_else(|p| p.into_inner()) = Some(group);
    }

    fn kx_hint(&self, _: &ServerName<'_>) -> Option<NamedGroup> {
        *self.kx.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_tls12_session(&self, _: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.lock().tls12 = Some(value);
    }

    fn tls12_session(&self, _: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        let mut st = self.lock();
        let v = st.tls12.clone();
        st.offered |= v.is_some();
        v
    }

    fn remove_tls12_session(&self, _: &ServerName<'static>) {
        self.lock().tls12 = None;
    }

    fn insert_tls13_ticket(&self, _: ServerName<'static>, value: Tls13ClientSessionValue) {
        let mut st = self.lock();
        st.received += 1;
        if st.tls13.len() == MAX_TICKETS {
            st.tls13.pop_front();
        }
        st.tls13.push_back(value);
        log::trace!("TLS: a session ticket arrived ({} kept)", st.tls13.len());
    }

    fn take_tls13_ticket(&self, _: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        let mut st = self.lock();
        let t = st.tls13.pop_back();
        st.offered |= t.is_some();
        t
    }
}

/// What a data connection of a TLS 1.3 session should do before its command is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Before {
    Go,
    /// The session has no ticket left for a server that resumes: a data connection would be
    /// a full handshake, which servers that require reuse refuse (vsftpd then ends the whole
    /// session). Retire the session; a new one has fresh tickets.
    Retire,
}

/// The mount-wide TLS session policy, next to the data-mode one (see `datamode`): outcomes
/// in, decisions out, remembered for the mount.
///
/// Rules: (1) before a TLS 1.3 data command, a session whose server issued tickets but that
/// has none left is retired instead of trying a full handshake; (2) a data handshake that
/// offered a session but was not resumed means the server refuses that session: the session
/// is retired and the transfer retried on another; (3) the first time either happens, new
/// sessions of the mount use TLS 1.2, whose sessions resume any number of times (servers such
/// as proftpd 1.3.8 issue no ticket on upload connections, so a run of uploads exhausts
/// TLS 1.3 tickets). Logged once, like the data-mode fallback.
pub struct TlsPolicy {
    capped: AtomicBool,
    /// The user capped at 1.2 already: nothing to learn.
    user_capped: bool,
}

impl TlsPolicy {
    pub fn new(user_capped: bool) -> TlsPolicy {
        TlsPolicy {
            capped: AtomicBool::new(user_capped),
            user_capped,
        }
    }

    /// Whether new sessions use TLS 1.2 only.
    pub fn capped(&self) -> bool {
        self.capped.load(Ordering::Relaxed)
    }

    /// Rule 1.
    pub fn before_data(&self, tls13: bool, tickets: usize, received: u32) -> Before {
        if tls13 && tickets == 0 && received > 0 {
            Before::Retire
        } else {
            Before::Go
        }
    }

    /// Rule 3: a TLS 1.3 session had to be retired (`why`).
    pub fn retired(&self, tls13: bool, why: &str) {
        if tls13 && !self.user_capped && !self.capped.swap(true, Ordering::Relaxed) {
            log::info!(
                "TLS: {why}; using TLS 1.2 for new connections, whose sessions resume any \
                 number of times (-o tls_max=1.2 skips this)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_retires_only_resuming_tls13_sessions_with_no_ticket_left() {
        let p = TlsPolicy::new(false);
        // pure-ftpd: no tickets ever, full handshakes are its normal case.
        assert_eq!(p.before_data(true, 0, 0), Before::Go);
        // TLS 1.2 resumes without tickets.
        assert_eq!(p.before_data(false, 0, 3), Before::Go);
        assert_eq!(p.before_data(true, 1, 2), Before::Go);
        assert_eq!(p.before_data(true, 0, 2), Before::Retire);
    }

    #[test]
    fn policy_learns_the_tls12_cap_once_and_only_from_tls13() {
        let p = TlsPolicy::new(false);
        p.retired(false, "x");
        assert!(!p.capped());
        p.retired(true, "x");
        assert!(p.capped());
        p.retired(true, "x");
        assert!(p.capped());
        let user = TlsPolicy::new(true);
        assert!(user.capped());
    }
}
