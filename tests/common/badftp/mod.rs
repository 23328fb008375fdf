//! A misbehaving, scriptable FTP server for tests ("badftp").
//!
//! [`BadFtp::start`] listens on a free port of 127.0.0.1 and serves each control connection in a
//! thread of its own, from a small in-memory filesystem ([`tree`]) whose names are bytes, so
//! Latin-1 or Shift-JIS names are served and received byte-exact. Login: [`BAD_USER`] /
//! [`BAD_PASSWORD`]. It speaks enough FTP for a real ftpfs mount (USER, PASS, FEAT, OPTS UTF8,
//! SYST, TYPE, PWD, CWD, CDUP, EPSV, PASV, EPRT, PORT, REST, RETR, STOR, APPE, LIST, NLST, MLSD,
//! MLST, SIZE, MDTM (also the two-argument form that sets the time), MFMT, SITE CHMOD, MKD,
//! RMD, DELE, RNFR/RNTO, ABOR, NOOP, QUIT), and replies to pipelined commands in order.
//!
//! What makes it bad, all changeable while a client is connected:
//! - **Faults** ([`Fault`], [`Rule`]): per command verb (`"*"` for any, `"BANNER"` for the
//!   greeting), optionally only for an argument, a resolved path, lines longer than N bytes, or
//!   the nth match: trickle, stall, flood, garbage, short data, reply-then-close, ignore, delay…
//! - **Verbatim listings** ([`BadFtp::set_listing`]): the exact bytes LIST, MLSD or NLST of a
//!   directory return, whatever the tree holds.
//! - **Features** ([`Features`]): what FEAT advertises; a feature switched off also makes its
//!   command unknown (MLSD/MLST, MFMT, SIZE, MDTM, EPSV/EPRT answer 500, REST 502, `OPTS UTF8`
//!   501).
//! - **A connection limit** ([`BadFtp::set_max_connections`]): beyond it a new connection gets
//!   `421 Too many connections` and is closed.
//!
//! Every command line is logged raw ([`LogEntry`]: connection id, time since start, bytes;
//! `PASS ****` for passwords) and connections are counted.
//!
//! ```ignore
//! let srv = BadFtp::start();
//! srv.put_file(b"/pub/caf\xe9.txt", "Latin-1 name");          // names are bytes
//! srv.set_listing(ListKind::List, "/iis", b"01-02-24  03:04PM  <DIR>  sub\r\n");
//! srv.on("LIST", Fault::Trickle { bytes_per_sec: 1 });         // every LIST, from now on
//! srv.add(Rule::on("RETR", Fault::ShortData { fraction: 0.5 }).path("/pub/big").nth(2));
//! srv.close_on_long_lines(4096);                               // vsftpd's 500 + close
//! let m = Mount::of_bad(&srv, &["timeout=5"]);                 // tests/mount/harness.rs
//! // … then: srv.count("LIST"), srv.any_longer_than(4096), srv.open_connections(), srv.log()
//! ```
//!
//! An ABOR that arrives during a transfer is matched against the rules too (`Ignore`, `Stall`,
//! `Delay`, `Close` change what happens; see the `data` module).
//!
//! Invariants:
//! - Only loopback: the server listens on 127.0.0.1, passive ports too, and refuses EPRT/PORT
//!   to any other address.
//! - Every blocking call of a server thread wakes at least every 100 ms to check the shutdown
//!   flag, so [`Drop`] (which also shuts every control socket) ends all threads quickly; threads
//!   still running after 2 s are detached, never waited for. The listening socket is closed
//!   when `drop` returns.
//! - Replies go out in the order of the commands; a stalled command stalls its connection
//!   (later commands are logged, never answered).
#![allow(dead_code)]

mod conn;
mod data;
pub mod tree;

use std::collections::HashMap;
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tree::Tree;

/// The user the server accepts.
pub const BAD_USER: &str = "bad";
/// Its password.
pub const BAD_PASSWORD: &str = "bad-pw";

/// How a command (or the greeting) misbehaves. Unless said otherwise, a fault replaces the
/// command's normal handling; the command then has no effect on the filesystem.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Wait this long, then handle the command normally.
    Delay(Duration),
    /// Answer with this reply (`code text`).
    Reply(u32, String),
    /// Send these bytes as the reply, verbatim (add the CRLF yourself).
    Raw(Vec<u8>),
    /// Answer with a line that is not an FTP reply.
    Garbage,
    /// Never answer, keep the connection open; later commands on it are logged, not answered.
    Stall,
    /// Close the control connection without a word.
    Close,
    /// Reply, then close the control connection (vsftpd's `500 Input line too long.`).
    CloseAfter(u32, String),
    /// No reply at all; the connection goes on with the next command (proftpd's treatment of
    /// over-long lines).
    Ignore,
    /// An endless multi-line reply (`123-…` lines, never the last line) at full speed, until
    /// the client closes the connection.
    FloodReply,
    /// Handle normally, but send the data (transfer commands) or else the reply at this rate.
    Trickle { bytes_per_sec: u64 },
    /// Handle normally, but send every reply of the command at this rate.
    TrickleReply { bytes_per_sec: u64 },
    /// Like `Trickle`, one byte every so often (slower than 1 B/s: a reply dripping one byte
    /// every 2 s).
    Drip(Duration),
    /// Transfer commands: send these bytes as the data instead (RETR's file content, or a
    /// listing), then 226. The tree is not changed.
    Data(Vec<u8>),
    /// Transfer commands: after 150, endless data (listing lines for LIST/MLSD/NLST).
    FloodData,
    /// Transfer commands: after 150, an endless single line with no newline.
    FloodLine,
    /// RETR: send only this fraction of what was asked for, then 226.
    ShortData { fraction: f64 },
    /// Transfer commands: open the data connection, send 150, then nothing at all.
    StallData,
}

impl Fault {
    /// The pace of `Trickle`/`Drip`, in bytes per second.
    fn rate(&self) -> Option<f64> {
        match self {
            Fault::Trickle { bytes_per_sec } => Some(*bytes_per_sec as f64),
            Fault::Drip(every) => Some(1.0 / every.as_secs_f64().max(1e-6)),
            _ => None,
        }
    }
}

/// When a [`Fault`] applies. Every rule counts the commands it matches; the first rule (in the
/// order added) whose window covers the current match applies.
#[derive(Clone, Debug)]
pub struct Rule {
    verb: String,
    arg: Option<(Vec<u8>, bool)>,
    path: Option<Vec<u8>>,
    longer_than: Option<usize>,
    skip: usize,
    times: Option<usize>,
    fault: Fault,
}

impl Rule {
    /// `fault` for every command with this verb (case-insensitive; `"*"`: any command line,
    /// `"BANNER"`: the greeting of a new connection).
    pub fn on(verb: &str, fault: Fault) -> Rule {
        Rule {
            verb: verb.to_ascii_uppercase(),
            arg: None,
            path: None,
            longer_than: None,
            skip: 0,
            times: None,
            fault,
        }
    }

    /// Only when the argument (everything after the verb and one space) is exactly `arg`.
    pub fn arg(mut self, arg: impl AsRef<[u8]>) -> Rule {
        self.arg = Some((arg.as_ref().to_vec(), true));
        self
    }

    /// Only when the argument contains `part`.
    pub fn arg_contains(mut self, part: impl AsRef<[u8]>) -> Rule {
        self.arg = Some((part.as_ref().to_vec(), false));
        self
    }

    /// Only when the command works on this path (normalised, absolute): its argument resolved
    /// against the working directory, or the working directory for LIST/NLST without a path.
    pub fn path(mut self, path: impl AsRef<[u8]>) -> Rule {
        self.path = Some(tree::resolve(b"/", path.as_ref()));
        self
    }

    /// Only for command lines longer than `n` bytes (CRLF not counted).
    pub fn longer_than(mut self, n: usize) -> Rule {
        self.longer_than = Some(n);
        self
    }

    /// Let the first `n` matches through unchanged.
    pub fn after(mut self, n: usize) -> Rule {
        self.skip = n;
        self
    }

    /// Apply at most `n` times.
    pub fn times(mut self, n: usize) -> Rule {
        self.times = Some(n);
        self
    }

    /// Only the `n`th match (1-based).
    pub fn nth(self, n: usize) -> Rule {
        self.after(n.saturating_sub(1)).times(1)
    }

    fn matches(&self, verb: &str, arg: &[u8], path: Option<&[u8]>, len: usize) -> bool {
        (self.verb == "*" && verb != "BANNER" || self.verb == verb)
            && self.arg.as_ref().is_none_or(|(a, exact)| {
                if *exact {
                    a == arg
                } else {
                    a.is_empty() || arg.windows(a.len()).any(|w| w == a.as_slice())
                }
            })
            && self.path.as_deref().is_none_or(|p| path == Some(p))
            && self.longer_than.is_none_or(|n| len > n)
    }
}

/// Identifies an added rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RuleId(u64);

struct RuleState {
    id: RuleId,
    rule: Rule,
    matched: usize,
    applied: usize,
}

/// What FEAT advertises (and which optional commands exist). Default: everything on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    pub mlsd: bool,
    pub utf8: bool,
    pub mfmt: bool,
    pub rest_stream: bool,
    pub size: bool,
    pub mdtm: bool,
    pub epsv: bool,
    pub eprt: bool,
}

impl Default for Features {
    fn default() -> Self {
        Features {
            mlsd: true,
            utf8: true,
            mfmt: true,
            rest_stream: true,
            size: true,
            mdtm: true,
            epsv: true,
            eprt: true,
        }
    }
}

impl Features {
    /// vsftpd's set: no MLSD, no MFMT.
    pub fn vsftpd() -> Features {
        Features {
            mlsd: false,
            mfmt: false,
            ..Features::default()
        }
    }

    /// No FEAT lines at all (an old server): FEAT answers `211 No features`.
    pub fn none() -> Features {
        Features {
            mlsd: false,
            utf8: false,
            mfmt: false,
            rest_stream: false,
            size: false,
            mdtm: false,
            epsv: false,
            eprt: false,
        }
    }
}

/// Which listing command a verbatim listing answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListKind {
    List,
    Mlsd,
    Nlst,
}

/// One command line as received.
#[derive(Clone, Debug)]
pub struct LogEntry {
    /// Connection id (1, 2, … in order of acceptance).
    pub conn: u64,
    /// When it arrived, since the server started.
    pub at: Duration,
    /// The line without CR/LF, byte-exact (`PASS ****` for a password; at most 64 KiB kept).
    pub line: Vec<u8>,
    /// Its full length in bytes (CR/LF not counted), even when `line` was cut.
    pub len: usize,
    /// The fault applied to it, if any (its `Debug` form).
    pub fault: Option<String>,
}

impl LogEntry {
    /// The verb, upper-cased (Telnet IP/Synch bytes before it skipped).
    pub fn verb(&self) -> String {
        conn::split_command(&self.line).0
    }

    /// The line as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.line).into_owned()
    }
}

/// Server-wide settings, changeable at any time.
struct Settings {
    features: Features,
    max_connections: Option<usize>,
    rules: Vec<RuleState>,
    listings: HashMap<(ListKind, Vec<u8>), Vec<u8>>,
}

/// State shared by the acceptor, every connection thread and the [`BadFtp`] handle.
struct Shared {
    user: String,
    password: String,
    started: Instant,
    tree: Mutex<Tree>,
    settings: Mutex<Settings>,
    log: Mutex<Vec<LogEntry>>,
    shutdown: AtomicBool,
    next_conn: AtomicU64,
    next_rule: AtomicU64,
    open: AtomicUsize,
    peak: AtomicUsize,
    refused: AtomicUsize,
    /// A clone of every open control socket, to cut them (`cut`, drop).
    controls: Mutex<HashMap<u64, TcpStream>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    fn down(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// Counts the match in every rule and returns the fault of the first one that applies.
    fn fault_for(&self, verb: &str, arg: &[u8], path: Option<&[u8]>, len: usize) -> Option<Fault> {
        let mut s = lock(&self.settings);
        let mut chosen = None;
        for r in s.rules.iter_mut() {
            if !r.rule.matches(verb, arg, path, len) {
                continue;
            }
            r.matched += 1;
            let live = r.matched > r.rule.skip && r.rule.times.is_none_or(|t| r.applied < t);
            if live && chosen.is_none() {
                r.applied += 1;
                chosen = Some(r.rule.fault.clone());
            }
        }
        chosen
    }

    fn features(&self) -> Features {
        lock(&self.settings).features
    }

    fn listing(&self, kind: ListKind, dir: &[u8]) -> Option<Vec<u8>> {
        lock(&self.settings)
            .listings
            .get(&(kind, dir.to_vec()))
            .cloned()
    }

    /// Logs a line; returns its index in the log (to attach the fault later).
    fn record(&self, conn: u64, raw: &[u8], len: usize) -> usize {
        let (verb, _) = conn::split_command(raw);
        let line = if verb == "PASS" {
            b"PASS ****".to_vec()
        } else {
            raw.to_vec()
        };
        let mut log = lock(&self.log);
        log.push(LogEntry {
            conn,
            at: self.started.elapsed(),
            line,
            len,
            fault: None,
        });
        log.len() - 1
    }

    fn note_fault(&self, index: usize, fault: &Fault) {
        if let Some(e) = lock(&self.log).get_mut(index) {
            e.fault = Some(format!("{fault:?}"));
        }
    }
}

/// A running bad server; see the module docs. Dropping it stops everything.
pub struct BadFtp {
    pub port: u16,
    pub user: String,
    pub password: String,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl BadFtp {
    /// Starts the server on 127.0.0.1:<free port> with an empty root, every feature on, no
    /// faults and no connection limit.
    pub fn start() -> BadFtp {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("badftp: bind");
        listener
            .set_nonblocking(true)
            .expect("badftp: set_nonblocking");
        let port = listener.local_addr().expect("badftp: local_addr").port();
        let shared = Arc::new(Shared {
            user: BAD_USER.into(),
            password: BAD_PASSWORD.into(),
            started: Instant::now(),
            tree: Mutex::new(Tree::default()),
            settings: Mutex::new(Settings {
                features: Features::default(),
                max_connections: None,
                rules: Vec::new(),
                listings: HashMap::new(),
            }),
            log: Mutex::new(Vec::new()),
            shutdown: AtomicBool::new(false),
            next_conn: AtomicU64::new(1),
            next_rule: AtomicU64::new(1),
            open: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            controls: Mutex::new(HashMap::new()),
            threads: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("badftp-accept-{port}"))
                .spawn(move || accept_loop(&listener, &shared))
                .expect("badftp: spawn acceptor")
        };
        BadFtp {
            port,
            user: BAD_USER.into(),
            password: BAD_PASSWORD.into(),
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// `ftp://bad@127.0.0.1:PORT/` (the password goes separately, as with `FtpServer`).
    pub fn url(&self) -> String {
        format!("ftp://{}@127.0.0.1:{}/", self.user, self.port)
    }

    // ---- the filesystem ------------------------------------------------------------------

    /// Creates or replaces a file (parents created). Paths are bytes, relative to `/`.
    pub fn put_file(&self, path: impl AsRef<[u8]>, data: impl AsRef<[u8]>) {
        let p = tree::resolve(b"/", path.as_ref());
        lock(&self.shared.tree).put_file(&p, data.as_ref().to_vec());
    }

    /// `mkdir -p`.
    pub fn mkdir(&self, path: impl AsRef<[u8]>) {
        let p = tree::resolve(b"/", path.as_ref());
        lock(&self.shared.tree).mkdir_p(&p);
    }

    /// A file's contents (`None` for a directory or nothing).
    pub fn file(&self, path: impl AsRef<[u8]>) -> Option<Vec<u8>> {
        let p = tree::resolve(b"/", path.as_ref());
        match &lock(&self.shared.tree).get(&p)?.kind {
            tree::Kind::File(d) => Some(d.clone()),
            tree::Kind::Dir => None,
        }
    }

    pub fn is_dir(&self, path: impl AsRef<[u8]>) -> bool {
        lock(&self.shared.tree).is_dir(&tree::resolve(b"/", path.as_ref()))
    }

    pub fn exists(&self, path: impl AsRef<[u8]>) -> bool {
        let p = tree::resolve(b"/", path.as_ref());
        lock(&self.shared.tree).get(&p).is_some()
    }

    /// The names in a directory, in byte order.
    pub fn names(&self, dir: impl AsRef<[u8]>) -> Vec<Vec<u8>> {
        let p = tree::resolve(b"/", dir.as_ref());
        let t = lock(&self.shared.tree);
        t.children(&p).map(|(n, _)| n.to_vec()).collect()
    }

    /// Modification time (seconds since the epoch).
    pub fn mtime(&self, path: impl AsRef<[u8]>) -> Option<i64> {
        let p = tree::resolve(b"/", path.as_ref());
        lock(&self.shared.tree).get(&p).map(|n| n.mtime)
    }

    pub fn set_mtime(&self, path: impl AsRef<[u8]>, secs: i64) {
        let p = tree::resolve(b"/", path.as_ref());
        if let Some(n) = lock(&self.shared.tree).get_mut(&p) {
            n.mtime = secs;
        }
    }

    /// Permission bits.
    pub fn mode(&self, path: impl AsRef<[u8]>) -> Option<u32> {
        let p = tree::resolve(b"/", path.as_ref());
        lock(&self.shared.tree).get(&p).map(|n| n.mode)
    }

    // ---- settings ------------------------------------------------------------------------

    pub fn set_features(&self, f: Features) {
        lock(&self.shared.settings).features = f;
    }

    pub fn features(&self) -> Features {
        self.shared.features()
    }

    /// Beyond `n` open control connections a new one gets `421 Too many connections` and is
    /// closed (`None`: no limit).
    pub fn set_max_connections(&self, n: Option<usize>) {
        lock(&self.shared.settings).max_connections = n;
    }

    /// The exact bytes that `kind` (LIST, MLSD or NLST) of directory `dir` returns from now on,
    /// whatever the tree holds (the directory is created in the tree so that CWD to it works).
    pub fn set_listing(&self, kind: ListKind, dir: impl AsRef<[u8]>, bytes: impl AsRef<[u8]>) {
        let d = tree::resolve(b"/", dir.as_ref());
        lock(&self.shared.tree).mkdir_p(&d);
        lock(&self.shared.settings)
            .listings
            .insert((kind, d), bytes.as_ref().to_vec());
    }

    /// Back to the listing generated from the tree.
    pub fn clear_listing(&self, kind: ListKind, dir: impl AsRef<[u8]>) {
        let d = tree::resolve(b"/", dir.as_ref());
        lock(&self.shared.settings).listings.remove(&(kind, d));
    }

    // ---- faults --------------------------------------------------------------------------

    /// `fault` for every command with this verb: shorthand for `add(Rule::on(verb, fault))`.
    pub fn on(&self, verb: &str, fault: Fault) -> RuleId {
        self.add(Rule::on(verb, fault))
    }

    /// Adds a rule (after the existing ones).
    pub fn add(&self, rule: Rule) -> RuleId {
        let id = RuleId(self.shared.next_rule.fetch_add(1, Ordering::SeqCst));
        lock(&self.shared.settings).rules.push(RuleState {
            id,
            rule,
            matched: 0,
            applied: 0,
        });
        id
    }

    pub fn remove(&self, id: RuleId) {
        lock(&self.shared.settings).rules.retain(|r| r.id != id);
    }

    pub fn clear_faults(&self) {
        lock(&self.shared.settings).rules.clear();
    }

    /// How many times a rule's fault was applied.
    pub fn hits(&self, id: RuleId) -> usize {
        lock(&self.shared.settings)
            .rules
            .iter()
            .find(|r| r.id == id)
            .map_or(0, |r| r.applied)
    }

    /// vsftpd: a command line longer than `n` bytes gets `500 Input line too long.` and the
    /// connection is closed.
    pub fn close_on_long_lines(&self, n: usize) -> RuleId {
        self.add(
            Rule::on("*", Fault::CloseAfter(500, "Input line too long.".into())).longer_than(n),
        )
    }

    /// proftpd: a command line longer than `n` bytes is dropped without a reply.
    pub fn ignore_long_lines(&self, n: usize) -> RuleId {
        self.add(Rule::on("*", Fault::Ignore).longer_than(n))
    }

    // ---- the log and counters ------------------------------------------------------------

    /// Every command line received so far, in order of arrival.
    pub fn log(&self) -> Vec<LogEntry> {
        lock(&self.shared.log).clone()
    }

    /// The command lines as text (lossy), e.g. `"CWD /a"`, `"PASS ****"`.
    pub fn commands(&self) -> Vec<String> {
        lock(&self.shared.log).iter().map(LogEntry::text).collect()
    }

    /// How many command lines had this verb (case-insensitive).
    pub fn count(&self, verb: &str) -> usize {
        let v = verb.to_ascii_uppercase();
        lock(&self.shared.log)
            .iter()
            .filter(|e| e.verb() == v)
            .count()
    }

    /// The length of the longest command line received (0 before any).
    pub fn longest_line(&self) -> usize {
        lock(&self.shared.log)
            .iter()
            .map(|e| e.len)
            .max()
            .unwrap_or(0)
    }

    /// Whether any command line was longer than `n` bytes.
    pub fn any_longer_than(&self, n: usize) -> bool {
        self.longest_line() > n
    }

    pub fn clear_log(&self) {
        lock(&self.shared.log).clear();
    }

    /// Waits up to `limit` until a command with this verb has arrived.
    pub fn wait_for_command(&self, verb: &str, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        loop {
            if self.count(verb) > 0 {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Control connections open now (refused ones not counted).
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// Control connections served so far (refused ones not counted).
    pub fn connections(&self) -> usize {
        (self.shared.next_conn.load(Ordering::SeqCst) - 1) as usize
    }

    /// The most control connections open at once.
    pub fn peak_connections(&self) -> usize {
        self.shared.peak.load(Ordering::SeqCst)
    }

    /// Connections turned away by the connection limit.
    pub fn refused_connections(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// Cuts every open control connection now (as a server restart would); new connections
    /// are still accepted.
    pub fn cut(&self) {
        for s in lock(&self.shared.controls).values() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for BadFtp {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        self.cut();
        let threads: Vec<_> = lock(&self.shared.threads).drain(..).collect();
        let end = Instant::now() + Duration::from_secs(2);
        for t in threads {
            while !t.is_finished() && Instant::now() < end {
                thread::sleep(Duration::from_millis(5));
            }
            if t.is_finished() {
                let _ = t.join();
            }
            // Else detached: it exits at its next shutdown check.
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    while !shared.down() {
        match listener.accept() {
            Ok((sock, _)) => admit(sock, shared),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("badftp: accept: {e}");
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Refuses a connection beyond the limit, or starts its thread.
fn admit(sock: TcpStream, shared: &Arc<Shared>) {
    let _ = sock.set_nonblocking(false);
    let _ = sock.set_nodelay(true);
    let limit = lock(&shared.settings).max_connections;
    if limit.is_some_and(|n| shared.open.load(Ordering::SeqCst) >= n) {
        shared.refused.fetch_add(1, Ordering::SeqCst);
        let _ = sock.set_write_timeout(Some(Duration::from_millis(100)));
        let _ = std::io::Write::write_all(&mut &sock, b"421 Too many connections.\r\n");
        let _ = sock.shutdown(Shutdown::Both);
        return;
    }
    let id = shared.next_conn.fetch_add(1, Ordering::SeqCst);
    let open = shared.open.fetch_add(1, Ordering::SeqCst) + 1;
    shared.peak.fetch_max(open, Ordering::SeqCst);
    if let Ok(c) = sock.try_clone() {
        lock(&shared.controls).insert(id, c);
    }
    let s = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name(format!("badftp-conn-{id}"))
        .spawn(move || {
            conn::serve(&s, sock, id);
            lock(&s.controls).remove(&id);
            s.open.fetch_sub(1, Ordering::SeqCst);
        });
    match spawned {
        Ok(t) => {
            let mut threads = lock(&shared.threads);
            threads.retain(|t| !t.is_finished());
            threads.push(t);
        }
        Err(e) => {
            eprintln!("badftp: spawn: {e}");
            lock(&shared.controls).remove(&id);
            shared.open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
