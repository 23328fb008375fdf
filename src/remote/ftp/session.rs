//! One FTP control connection: resolve and connect with a deadline, log in (see
//! [`super::login`]: `TYPE I`, `FEAT` on the first login, `OPTS UTF8 ON` where advertised),
//! `PWD` once per mount to resolve the root, then the commands the remote needs, all over the
//! session's own [`Control`] connection; data commands go through [`super::transfer`]. A
//! session may hold a passive data connection opened ahead of its next transfer.
//!
//! Invariants:
//! - Every socket wait has a deadline: the control socket and every data socket carry read and
//!   write timeouts of `timeout`; connects use `connect_timeout`; name resolution gives up
//!   after `timeout`. A whole login (resolution, connect, TLS, banner, USER … PWD) ends within
//!   `timeout`; the plain login tried after a failed pipelined one gets a `timeout` of its
//!   own (a request waiting for it gives up at its own deadline).
//! - The password is sent once (PASS) and never logged (`Control` shows `PASS ****`).
//! - A `Session` is used by one thread at a time (the pool hands it out); `dead` is set when the
//!   control connection can no longer be trusted, and the pool then drops it.
//! - A reply is outstanding only between `start_preopen` and `settle` (an EPSV/PASV sent
//!   ahead); every way to use the session settles it first.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use suppaftp::Status;

use super::FtpConfig;
pub use super::commands::{MtimeMethod, mfmt_stamp};
use super::control::Control;
use super::counters::Counters;
use super::datamode::{DataModes, Method};
use super::encoding::NameCodec;
pub use super::login::{Feats, parse_feat};
use super::login::{banner, fast_login, login, pipelining_allowed, pwd, resolve, setup};
use super::pool::Progress;
use super::tls::{Before, SessionTls, TlsMode, TlsSetup, handshake};
use super::transfer::{self, Attempt, Ctx, TlsFailure};
use super::watch::Watch;
use crate::remote::{Detail, RemoteError, RemoteResult};

/// Beyond this age a data connection opened ahead no longer counts as ready when the pool
/// picks a connection (servers time out idle data connections; it is still used, see
/// `Session::attempt`, and answers 425/426 if the server let it go).
const READY_MAX_AGE: Duration = Duration::from_secs(10);

/// How long QUIT waits for its answer (at unmount: a dead server must not hold it up).
const QUIT_WAIT: Duration = Duration::from_secs(1);

/// State shared by every session of a mount.
pub struct Shared {
    /// How data connections are made (learned once, used by every connection).
    pub modes: DataModes,
    /// Rotates through `active_port_range`.
    pub active_cursor: AtomicUsize,
    /// `LIST -a` was rejected: send plain `LIST`.
    pub list_a_rejected: AtomicBool,
    /// How this server sets modification times, once found.
    pub mtime_method: Mutex<Option<MtimeMethod>>,
    /// The server directory mounted as `/`: the configured root taken relative to the login
    /// directory (PWD after the first login), as RFC 1738 and curl read `ftp://host/path`.
    pub root: OnceLock<String>,
    /// FEAT of the first login (the same server answers every connection alike: later
    /// logins save its round trip).
    pub feats: OnceLock<Feats>,
    /// The server refused `OPTS UTF8 ON` once: later logins do not ask again.
    pub utf8_refused: AtomicBool,
    /// Whether commands may be pipelined (decided from the first login's banner).
    pub pipelining: OnceLock<bool>,
    /// A pipelined login failed where a plain one worked: no more pipelining.
    pub pipelining_off: AtomicBool,
    /// FTPS: the mount's TLS setup (`None`: plain FTP).
    pub tls: Option<TlsSetup>,
    /// How names on the wire become names in the mount (`-o encoding`).
    pub names: NameCodec,
    /// When the pool last made progress (see [`Progress`]).
    pub progress: Arc<Progress>,
    /// The sockets waiting on the server, cut at unmount when silent (see [`Watch`]).
    pub watch: Arc<Watch>,
    /// Commands, retries, transfers (for `ftpfs stats`, see `counters.rs`).
    pub counters: Arc<Counters>,
}

impl Shared {
    /// Whether commands may be pipelined with this server (known after the first login).
    pub fn may_pipeline(&self) -> bool {
        self.pipelining.get().copied().unwrap_or(false)
            && !self.pipelining_off.load(Ordering::Relaxed)
    }

    /// The state of a new mount (loads the trusted roots of a TLS mount).
    pub fn new(cfg: &FtpConfig) -> RemoteResult<Self> {
        let tls = match &cfg.tls {
            Some(opts) => Some(TlsSetup::new(opts, &cfg.host)?),
            None => None,
        };
        Ok(Shared {
            modes: DataModes::new(cfg.data_mode),
            active_cursor: AtomicUsize::new(0),
            list_a_rejected: AtomicBool::new(false),
            mtime_method: Mutex::new(None),
            root: OnceLock::new(),
            feats: OnceLock::new(),
            utf8_refused: AtomicBool::new(false),
            pipelining: OnceLock::new(),
            pipelining_off: AtomicBool::new(false),
            tls,
            names: cfg.names,
            progress: Arc::new(Progress::default()),
            watch: Arc::default(),
            counters: Arc::default(),
        })
    }
}

/// The server path (a wire string, see `encoding.rs`) of a mount-relative path (under the
/// resolved root); `Unencodable` when `-o encoding` cannot write a component of it exactly.
pub fn abs_path(shared: &Shared, path: &str) -> RemoteResult<String> {
    let path = shared
        .names
        .path_to_wire(path)
        .map_err(|e| RemoteError::Unencodable(e.into()))?;
    let path = path.as_ref();
    let root = shared
        .root
        .get()
        .map_or("/", String::as_str)
        .trim_end_matches('/');
    Ok(if path == "/" {
        if root.is_empty() {
            "/".into()
        } else {
            root.to_string()
        }
    } else {
        format!("{root}{path}")
    })
}

/// Joins the login directory and the configured root (`/` = the login directory itself).
pub fn resolve_root(home: &str, root: &str) -> String {
    let home = home.trim_end_matches('/');
    let root = root.trim_matches('/');
    match (home.is_empty(), root.is_empty()) {
        (true, true) => "/".into(),
        (true, false) => format!("/{root}"),
        (false, true) => home.to_string(),
        (false, false) => format!("{home}/{root}"),
    }
}

/// One logged-in control connection.
pub struct Session {
    /// The control connection: every command and reply of this session.
    pub(super) ctl: Control,
    /// FTPS: this session's TLS state (its own session store).
    pub(super) tls: Option<SessionTls>,
    /// How the last data connection's TLS handshake went (`Some(true)`: resumed).
    pub tls_resumed: Option<bool>,
    pub feats: Feats,
    /// Set when the connection must not be reused.
    pub dead: bool,
    /// Set after an unexpected reply: checked with NOOP before the connection is reused.
    pub suspect: bool,
    /// A passive data connection opened ahead of the next transfer.
    ready: Option<(Method, transfer::Connecting, Instant)>,
    /// An EPSV/PASV sent ahead whose reply is not read yet (see [`Session::start_preopen`]);
    /// read by [`Session::settle`] before anything else is sent.
    pending: Option<(Method, Instant)>,
    pub(super) cfg: Arc<FtpConfig>,
    pub(super) shared: Arc<Shared>,
}

/// Classifies a reply code (with its last line) for the command `what`.
pub fn classify_reply(code: u32, text: &str, what: &str) -> RemoteError {
    let text = if text.starts_with(&code.to_string()) {
        text.to_string()
    } else {
        format!("{code} {text}")
    };
    let msg = Detail::reply(code, format!("{what}: {text}"));
    if (code == 421 || (500..600).contains(&code)) && says_too_long(&text) {
        return RemoteError::NameTooLong(msg);
    }
    match code {
        421 => RemoteError::Connection(msg),
        425 | 426 => RemoteError::DataConnection(msg),
        452 | 552 => RemoteError::NoSpace(msg),
        500 | 502 | 504 => RemoteError::Unsupported(msg),
        530 | 532 | 534 => RemoteError::PermissionDenied(msg),
        550 => RemoteError::Unavailable(msg),
        553 => RemoteError::BadName(msg),
        _ => RemoteError::Other(msg),
    }
}

/// Whether a refusal says that a name, path or command line was too long ("File name too
/// long" is strerror(ENAMETOOLONG), which servers pass on; vsftpd: "500 Input line too
/// long.", pure-ftpd: "421 Line too long", pyftpdlib: "500 Command too long."): there is no
/// reply code for it, so the text is the only way to tell.
fn says_too_long(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("too long")
        && ["name", "line", "path", "command"]
            .iter()
            .any(|w| t.contains(w))
}

/// The server refused a new connection with 421 (too many connections).
pub(super) fn is_421(e: &RemoteError) -> bool {
    e.code() == Some(421)
}

pub(super) fn is_fatal(e: &RemoteError) -> bool {
    matches!(e, RemoteError::Connection(_) | RemoteError::Timeout(_))
}

impl Session {
    /// Connects, logs in and reads the server's features. Logins after the first are
    /// pipelined; when one fails otherwise than with 421, one login command at a time is
    /// tried on a new connection, and if that works pipelining is off for the mount (a server
    /// or a router in between mishandles it; lftp's "sync mode").
    pub fn connect(cfg: Arc<FtpConfig>, shared: Arc<Shared>) -> RemoteResult<Session> {
        let deadline = Instant::now() + shared.watch.timeout(cfg.timeout);
        let fast = shared.feats.get().is_some() && shared.may_pipeline();
        let mut login_failed = false;
        match Self::open(
            Arc::clone(&cfg),
            Arc::clone(&shared),
            fast,
            &mut login_failed,
            deadline,
        ) {
            Err(e) if login_failed && !is_421(&e) => {
                // A login of its own (a request waiting for this one gives up at its own
                // deadline; this connection then joins the idle ones).
                let deadline = Instant::now() + shared.watch.timeout(cfg.timeout);
                let s = Self::open(cfg, Arc::clone(&shared), false, &mut login_failed, deadline)?;
                if !shared.pipelining_off.swap(true, Ordering::Relaxed) {
                    log::info!(
                        "a pipelined login failed ({e}) where one command at a time works: no more pipelining with this server"
                    );
                }
                Ok(s)
            }
            r => r,
        }
    }

    /// One connection and login; `fast`: the pipelined login, and `fast_failed` tells
    /// whether it was that login (not the connection before it) that failed.
    fn open(
        cfg: Arc<FtpConfig>,
        shared: Arc<Shared>,
        fast: bool,
        fast_failed: &mut bool,
        deadline: Instant,
    ) -> RemoteResult<Session> {
        let target = format!("{}:{}", cfg.host, cfg.port);
        let left = || deadline.saturating_duration_since(Instant::now());
        let no_time = || {
            RemoteError::Timeout(
                format!(
                    "cannot connect to {target}: no answer within {}s",
                    cfg.timeout.as_secs_f32()
                )
                .into(),
            )
        };
        let addrs = resolve(&cfg.host, cfg.port, cfg.timeout.min(left()))?;
        let mut last = None;
        let mut stream = None;
        for addr in &addrs {
            if left().is_zero() {
                return Err(no_time());
            }
            match TcpStream::connect_timeout(addr, left()) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let stream = stream.ok_or_else(|| {
            let why = last.map_or_else(|| "no address".to_string(), |e| e.to_string());
            RemoteError::Connection(format!("cannot connect to {target}: {why}").into())
        })?;
        let io = |e: std::io::Error| RemoteError::Connection(format!("{target}: {e}").into());
        let mut ctl = Control::new(stream, cfg.timeout).map_err(io)?;
        ctl.watch(shared.watch.register(ctl.fd(), "control connection"));
        ctl.count_into(Arc::clone(&shared.counters));
        ctl.set_max_line(cfg.max_command_line);
        ctl.set_limit(Some(deadline));
        let mut tls = shared.tls.as_ref().map(TlsSetup::session);
        let mode = shared.tls.as_ref().map(|t| t.mode);
        if let (Some(t), Some(TlsMode::Implicit)) = (tls.as_mut(), mode) {
            ctl = ctl.start_tls(t, &format!("connection to {target}"))?;
        }
        let banner = banner(&mut ctl, &target)?;
        if let (Some(t), Some(TlsMode::Explicit)) = (tls.as_mut(), mode) {
            let r = ctl.command("AUTH TLS")?;
            if r.code != 234 {
                return Err(RemoteError::Tls(
                    format!(
                        "{target} refused AUTH TLS ({}); ftpfs never falls back to plain FTP \
                         (mount ftp://… without -o tls to accept an unencrypted connection)",
                        r.last_line()
                    )
                    .into(),
                ));
            }
            ctl = ctl.start_tls(t, &format!("connection to {target}"))?;
        }
        shared
            .pipelining
            .get_or_init(|| pipelining_allowed(&banner, &target));
        log::debug!("{target}: USER {} / PASS ****", cfg.user);
        let what = format!("login to {target} as {} failed", cfg.user);
        let feats = match shared.feats.get().filter(|_| fast) {
            // The first login showed the server and checked the credentials: later ones send
            // USER, PASS, TYPE I (and OPTS UTF8) in one go, two round trips less each.
            Some(known) => fast_login(&mut ctl, &cfg, &shared, known.clone(), &what)
                .inspect_err(|_| *fast_failed = true)?,
            None => {
                login(&mut ctl, &cfg, &what)?;
                setup(&mut ctl, &shared, &target)?
            }
        };
        if shared.root.get().is_none() {
            let home = match pwd(&mut ctl) {
                Err(e) if ctl.is_broken() => return Err(e),
                Err(e) => {
                    log::debug!("{target}: PWD failed ({e}); taking / as the login directory");
                    "/".into()
                }
                Ok(home) => home,
            };
            let wanted = shared
                .names
                .path_to_wire(&cfg.root)
                .map_err(|e| RemoteError::Unencodable(format!("the mounted path: {e}").into()))?;
            let root = resolve_root(&home, &wanted);
            log::debug!("{target}: login directory {home}; mounting {root}");
            let _ = shared.root.set(root);
        }
        ctl.set_limit(None);
        if let Some(t) = ctl.tls_info() {
            shared.counters.saw_tls(&t.version, &t.cipher);
        }
        Ok(Session {
            ctl,
            tls,
            tls_resumed: None,
            feats,
            dead: false,
            suspect: false,
            ready: None,
            pending: None,
            cfg,
            shared,
        })
    }

    /// The server path of a mount-relative path.
    pub fn abs(&self, path: &str) -> RemoteResult<String> {
        abs_path(&self.shared, path)
    }

    /// Records the effect of an error on the connection and returns it. A connection whose
    /// replies are out of step (a failed read or write), that the server is closing (421),
    /// or whose server said a command line was too long (vsftpd and pure-ftpd close the
    /// connection after it; pyftpdlib answers such a line twice) never carries another
    /// command.
    pub(super) fn note(&mut self, e: RemoteError) -> RemoteError {
        if is_fatal(&e)
            || self.ctl.is_broken()
            || (matches!(e, RemoteError::NameTooLong(_)) && e.code().is_some())
        {
            self.dead = true;
        } else if matches!(e, RemoteError::Other(_)) {
            self.suspect = true;
        }
        e
    }

    /// One attempt to open a data connection for `cmd` with `method`. A timed-out active
    /// attempt leaves a command in flight: the session is then dead.
    pub fn attempt(
        &mut self,
        method: Method,
        cmd: &str,
        rest: u64,
    ) -> Result<transfer::DataConn, Attempt> {
        self.settle();
        if let (Some(t), Some(setup)) = (&self.tls, &self.shared.tls)
            && setup
                .policy
                .before_data(t.tls13(), t.store.tickets(), t.store.received())
                == Before::Retire
        {
            self.dead = true;
            return Err(Attempt::Tls(TlsFailure::Retire(
                "a run of transfers used up the TLS 1.3 session tickets of a connection (the \
                 server sends no new ones after some transfers, and requires data connections \
                 to resume their session)"
                    .into(),
            )));
        }
        let data = self.open_data(method, cmd, rest)?;
        self.protected(data, cmd)
            .map(|d| transfer::DataConn::new(d, cmd.to_string(), Some(&self.shared)))
    }

    /// Finishes the TLS handshake of a data connection whose command was answered 1xx, and
    /// checks that it resumed the session when it offered to (see `tls::TlsPolicy`).
    fn protected(
        &mut self,
        mut data: transfer::DataSock,
        cmd: &str,
    ) -> Result<transfer::DataSock, Attempt> {
        let (Some(s), Some(t)) = (data.tls_mut(), self.tls.as_ref()) else {
            return Ok(data);
        };
        let deadline = Instant::now() + self.ctl.within(self.cfg.timeout);
        let offered = t.store.take_offered();
        let kind = handshake(s, deadline, cmd).map_err(|e| {
            // The server has a command in flight whose data connection failed.
            self.dead = true;
            Attempt::Tls(TlsFailure::Failed(e))
        })?;
        let resumed = kind == suppaftp::rustls::HandshakeKind::Resumed;
        self.tls_resumed = Some(resumed);
        if offered && !resumed {
            self.dead = true;
            return Err(Attempt::Tls(TlsFailure::Retire(format!(
                "the server did not resume the TLS session of a data connection for {}",
                cmd.split(' ').next().unwrap_or(cmd)
            ))));
        }
        Ok(data)
    }

    /// The data connection for `cmd`, answered 1xx (its TLS handshake not yet finished).
    fn open_data(
        &mut self,
        method: Method,
        cmd: &str,
        rest: u64,
    ) -> Result<transfer::DataSock, Attempt> {
        // A data connection opened ahead is used whatever its age or the method that opened
        // it (the mode may have changed since; a connected data connection works either way):
        // closing it unused makes pyftpdlib send an unsolicited 226 on the control
        // connection, which would put the session out of step. A long-idle session passed a
        // NOOP check in the pool first; a stale one answers 425/426 and a new one is made.
        if let Some((m, data, _since)) = self.ready.take() {
            let mut ctx = self.ctx();
            let r = transfer::use_ready(&mut ctx, data, cmd, rest);
            let (dead, suspect) = (ctx.dead, ctx.suspect);
            self.dead |= dead;
            self.suspect |= suspect;
            match r {
                Ok(data) => return Ok(data),
                Err(Attempt::Data(f)) if !dead => {
                    log::debug!(
                        "a data connection opened ahead went stale ({m} {f}); making a new one"
                    );
                }
                Err(Attempt::Command(e)) => return Err(Attempt::Command(self.note(e))),
                Err(other) => return Err(other),
            }
        }
        let mut ctx = self.ctx();
        let result = transfer::open(&mut ctx, method, cmd, rest);
        let (dead, suspect) = (ctx.dead, ctx.suspect);
        self.dead |= dead;
        self.suspect |= suspect;
        match result {
            Ok(data) => Ok(data),
            Err(Attempt::Data(f)) => {
                // An active attempt that did not end with a complete reply (no connection in
                // time, accept failed) leaves the command in flight: the session is done.
                if !method.is_passive()
                    && matches!(
                        f,
                        super::datamode::Failure::TimedOut(_) | super::datamode::Failure::Failed(_)
                    )
                {
                    self.dead = true;
                }
                Err(Attempt::Data(f))
            }
            Err(Attempt::Command(e)) => Err(Attempt::Command(self.note(e))),
            Err(other) => Err(other),
        }
    }

    fn ctx(&mut self) -> Ctx<'_> {
        Ctx {
            peer: self.ctl.peer(),
            local: self.ctl.local(),
            ctl: &mut self.ctl,
            tls: self.tls.as_ref(),
            cfg: &self.cfg,
            shared: &self.shared,
            rest_stream: self.feats.rest_stream,
            dead: false,
            suspect: false,
        }
    }

    /// Sends the EPSV/PASV for the next passive data connection now, when the mount's data
    /// connections are passive, without waiting for the reply: the session can go back to the
    /// pool at once, and the reply is read by [`Session::settle`] when it is next taken.
    pub fn start_preopen(&mut self) {
        if self.dead || self.suspect || self.ready.is_some() || self.pending.is_some() {
            return;
        }
        let Some(method) = self.shared.modes.current().filter(|m| m.is_passive()) else {
            return;
        };
        match self.ctl.send(method.name()) {
            Ok(()) => self.pending = Some((method, Instant::now())),
            Err(e) => {
                log::debug!("sending {method} ahead failed: {e}");
                self.dead = true;
            }
        }
    }

    /// Reads the reply to an EPSV/PASV sent ahead (see [`Session::start_preopen`]) and starts
    /// that data connection; the session is in step again afterwards (or dead).
    pub fn settle(&mut self) {
        let Some((method, since)) = self.pending.take() else {
            return;
        };
        let mut ctx = self.ctx();
        let data = transfer::finish_preopen(&mut ctx, method);
        let dead = ctx.dead;
        self.dead |= dead;
        if let Some(d) = data {
            self.ready = Some((method, d, since));
        }
    }

    /// Whether a data connection is ready (or being connected) for the next transfer.
    pub fn has_ready(&self) -> bool {
        self.readiness() > 0
    }

    /// How soon the next transfer can start: 2 with a connected data connection, 1 while its
    /// handshake runs (a command sent now may wait for it), 0 without one. (A session with
    /// an EPSV sent ahead and not settled never waits in the pool.)
    pub fn readiness(&self) -> u8 {
        match &self.ready {
            Some((_, c, since)) if since.elapsed() < READY_MAX_AGE => {
                if c.is_finished() {
                    2
                } else {
                    1
                }
            }
            _ => 0,
        }
    }

    /// Whether this is a TLS 1.3 session.
    pub fn tls13(&self) -> bool {
        self.tls.as_ref().is_some_and(SessionTls::tls13)
    }

    /// What the control connection's TLS negotiated, on a TLS session.
    pub fn tls_info(&self) -> Option<&super::control::TlsInfo> {
        self.ctl.tls_info()
    }

    /// Ends a data connection with the server's verdict, recording its effect on the session.
    pub fn finish(&mut self, dc: transfer::DataConn) -> RemoteResult<()> {
        dc.finish(&mut self.ctl).map_err(|e| self.note(e))
    }

    /// Aborts a data connection (ABOR); an unexpected answer kills the session.
    pub fn abort(&mut self, dc: transfer::DataConn) -> RemoteResult<()> {
        dc.abort(&mut self.ctl).inspect_err(|_| self.dead = true)
    }

    /// The server's address, for diagnostics.
    pub fn peer(&self) -> SocketAddr {
        self.ctl.peer()
    }

    /// The raw control connection (for the probe's own PASV).
    pub fn raw_ctx(&mut self) -> Ctx<'_> {
        self.ctx()
    }

    /// CWD.
    pub fn cwd(&mut self, path: &str) -> RemoteResult<()> {
        let abs = self.abs(path)?;
        self.command(
            &format!("CWD {abs}"),
            &[Status::RequestedFileActionOk, Status::CommandOk],
        )
    }

    /// Runs a simple command expecting one of `ok`.
    pub fn command(&mut self, cmd: &str, ok: &[Status]) -> RemoteResult<()> {
        let r = self.ctl.command(cmd).map_err(|e| self.note(e))?;
        if ok.iter().any(|s| s.code() == r.code) {
            Ok(())
        } else {
            Err(self.note(classify_reply(r.code, r.last_line(), cmd)))
        }
    }

    /// NOOP: is the connection still good?
    pub fn noop(&mut self) -> bool {
        self.settle();
        !self.dead && matches!(self.ctl.command("NOOP"), Ok(r) if r.code == 200)
    }

    /// Says goodbye (best effort: at most [`QUIT_WAIT`] for the server's answer), then
    /// closes the connection.
    pub fn quit(mut self) {
        self.ctl
            .set_limit(Some(Instant::now() + QUIT_WAIT.min(self.cfg.timeout)));
        self.settle();
        if !self.dead {
            let _ = self.ctl.command("QUIT");
        }
        self.discard();
    }

    /// Closes the connection without a word (a dead or unwanted one).
    pub fn discard(self) {
        let Session { ctl, ready, .. } = self;
        drop(ready);
        ctl.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_taken_relative_to_the_login_directory() {
        assert_eq!(resolve_root("/", "/"), "/");
        assert_eq!(resolve_root("/", "/pub/x"), "/pub/x");
        assert_eq!(resolve_root("/home/bob", "/"), "/home/bob");
        assert_eq!(resolve_root("/home/bob/", "/sub/"), "/home/bob/sub");
    }

    #[test]
    fn replies_are_classified_by_code_and_keep_it() {
        let e = classify_reply(550, "No such file", "RETR /x");
        assert!(matches!(&e, RemoteError::Unavailable(m) if m.text == "RETR /x: 550 No such file"));
        assert_eq!(e.code(), Some(550));
        assert!(matches!(
            classify_reply(552, "Quota", "STOR"),
            RemoteError::NoSpace(_)
        ));
        assert!(matches!(
            classify_reply(502, "no", "EPSV"),
            RemoteError::Unsupported(_)
        ));
        assert!(matches!(
            classify_reply(530, "530 Login incorrect", "login"),
            RemoteError::PermissionDenied(m) if m.text == "login: 530 Login incorrect"
        ));
        assert!(matches!(
            classify_reply(425, "no data", "LIST"),
            RemoteError::DataConnection(_)
        ));
        for (code, text) in [
            (500, "Input line too long."),
            (421, "Line too long"),
            (500, "Command too long."),
            (550, "/a/b: File name too long"),
            (553, "Path too long"),
        ] {
            let e = classify_reply(code, text, "MKD x");
            assert!(matches!(e, RemoteError::NameTooLong(_)), "{code} {text}");
            assert_eq!((e.errno(), e.code()), (libc::ENAMETOOLONG, Some(code)));
        }
        assert!(matches!(
            classify_reply(552, "File too long for the quota", "STOR x"),
            RemoteError::NoSpace(_)
        ));
        let e = classify_reply(421, "Too many", "connection to h:4210");
        assert!(is_421(&e) && is_fatal(&e));
        assert!(!is_421(&RemoteError::Connection(
            "cannot connect to h:421: refused".into()
        )));
    }
}
