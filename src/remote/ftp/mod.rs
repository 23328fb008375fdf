//! The FTP implementation of [`Remote`]: the only code that speaks FTP. [`FtpRemote`] borrows a
//! connection from the [`pool::Pool`] per operation (or per open stream) and runs the
//! commands of [`session::Session`] on it.
//!
//! Invariants:
//! - Every operation ends by its deadline: `timeout` after it started, or after the pool's
//!   last progress while it waited for a connection (see [`pool`]); every wait of the
//!   operation (replies, data connections, the retry below, a listing's data) is cut to fit
//!   in it, so waits never add up. Open transfers then wait by inactivity only (`timeout`
//!   without a byte), listings by a minimum rate ([`listread`]).
//! - An operation whose connection turned out closed by the server (end of file or a reset
//!   where a reply was due, a failed write, a `421`) is retried once on a fresh connection:
//!   the command was not carried out. A timeout is never retried (it would double the wait).
//! - Every data command asks the shared [`datamode::DataModes`] for the methods to try and
//!   reports what failed; an operation fails only after every planned method failed, with a
//!   message that says what to open. A method that ran out of the operation's time is not
//!   counted as failed.
//! - A listing is read line by line into entries, never held whole, and bounded
//!   ([`listread`]: line length, entries `-o dir_max_entries`, bytes, minimum rate).
//! - A connection whose transfer ended is recycled: while idle it opens its next passive data
//!   connection (not when other threads are waiting for connections).

pub mod commands;
pub mod control;
pub mod counters;
mod dataconn;
pub mod datamode;
pub mod encoding;
mod list;
pub mod listing;
pub mod listread;
pub mod login;
pub mod pool;
pub mod probe;
pub mod session;
mod stats;
mod streams;
pub mod tls;
pub mod tls_verify;
pub mod transfer;
mod upload;
pub mod watch;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use self::counters::{CountedRead, CountedWrite};
use self::datamode::{Change, DataMode, Failure, Method, PasvAddress};
use self::encoding::NameCodec;
use self::listread::{Limits, Seen};
use self::pool::{Conn, Due, Pool, Use};
use self::session::{Session, Shared};
use self::streams::{FtpRead, FtpWrite, RecentTimeout};
use self::tls::TlsOptions;
use self::transfer::{Attempt, DataConn, TlsFailure};
use super::{
    Capabilities, ReadStream, Remote, RemoteEntry, RemoteError, RemoteResult, WriteStream,
};

/// Connection settings of a mount.
#[derive(Clone)]
pub struct FtpConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// The server directory mounted as `/` (relative to the login directory).
    pub root: String,
    /// Deadline for every network wait.
    pub timeout: Duration,
    /// Size of the connection pool.
    pub connections: usize,
    /// Which data-connection methods may be used.
    pub data_mode: DataMode,
    /// Deadline for making one data connection (short: a firewall that drops packets must
    /// not cost more than this).
    pub data_connect_timeout: Duration,
    /// Local ports for active-mode listeners.
    pub active_port_range: Option<(u16, u16)>,
    /// Address advertised in EPRT/PORT (default: the control connection's local address).
    pub active_address: Option<IpAddr>,
    /// Where PASV data connections go.
    pub pasv_address: PasvAddress,
    /// FTPS (`None`: plain FTP).
    pub tls: Option<TlsOptions>,
    /// How names on the wire become names in the mount (`-o encoding`).
    pub names: NameCodec,
    /// Longest command line sent (`-o max_command_line`); longer ones fail with
    /// ENAMETOOLONG before anything is sent.
    pub max_command_line: usize,
    /// Most entries a directory listing may have (`-o dir_max_entries`); a longer listing
    /// fails with EIO.
    pub dir_max_entries: usize,
}

impl std::fmt::Debug for FtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &format_args!("****"))
            .field("root", &self.root)
            .field("timeout", &self.timeout)
            .field("connections", &self.connections)
            .field("data_mode", &self.data_mode)
            .field("data_connect_timeout", &self.data_connect_timeout)
            .field("active_port_range", &self.active_port_range)
            .field("active_address", &self.active_address)
            .field("pasv_address", &self.pasv_address)
            .field("tls", &self.tls)
            .field("names", &self.names)
            .field("max_command_line", &self.max_command_line)
            .field("dir_max_entries", &self.dir_max_entries)
            .finish()
    }
}

/// Connections logged in right after the mount, beyond the first (in the background: the
/// mount does not wait). Parallel work (`xargs -P8`, a file manager's thumbnails, `make -j`)
/// then starts on connections ready for a transfer instead of waiting ~5 round trips for
/// logins; the pool closes idle ones beyond two after a minute (pool.rs `IDLE_CLOSE`).
const PREWARM: usize = 7;

/// The FTP remote of one mount.
pub struct FtpRemote {
    pool: Arc<Pool>,
    shared: Arc<Shared>,
    caps: Capabilities,
    /// MLSD or LIST, and what was warned about (`list.rs`).
    lists: list::ListState,
    timeout: Duration,
    dir_max_entries: usize,
    /// The last download that ran out of time (the kernel's retry of it fails at once).
    recent: Arc<RecentTimeout>,
    /// `host:port`, for `ftpfs stats`.
    server: String,
}

/// What to say when no data connection could be made.
fn advice(mode: DataMode, failures: &[(Method, Failure)]) -> String {
    let tried: Vec<String> = failures.iter().map(|(m, f)| format!("{m}: {f}")).collect();
    let passive_failed = failures.iter().any(|(m, _)| m.is_passive());
    let active_failed = failures.iter().any(|(m, _)| !m.is_passive());
    let what = match (passive_failed, active_failed) {
        (true, true) => {
            "open the server's passive port range in its firewall, or let the server connect \
             back to this machine (allow the ports of -o active_port_range=LO-HI; behind NAT \
             also set -o active_address=PUBLIC_IP)"
        }
        (true, false) if mode == DataMode::Auto => "open the server's passive port range",
        (true, false) => {
            "open the server's passive port range, or try -o data_mode=active (or auto)"
        }
        (false, true) if mode == DataMode::Auto => {
            "let the server connect back to this machine (active mode)"
        }
        (false, true) => {
            "let the server connect back to this machine, or try -o data_mode=passive (or auto)"
        }
        (false, false) => "check the server",
    };
    format!(
        "no data connection could be made ({}): {what}",
        tried.join("; ")
    )
}

impl FtpRemote {
    /// Connects and logs in once (so that bad credentials fail here), keeping that connection.
    pub fn connect(cfg: FtpConfig) -> RemoteResult<FtpRemote> {
        if cfg.tls.as_ref().is_some_and(|t| t.insecure) {
            log::warn!(
                "TLS: -o tls_insecure: the server's certificate is NOT checked; anyone between \
                 here and {} can read and change everything, the password included",
                cfg.host
            );
        }
        let shared = Arc::new(Shared::new(&cfg)?);
        let (timeout, dir_max_entries) = (cfg.timeout, cfg.dir_max_entries);
        let server = if cfg.host.contains(':') {
            format!("[{}]:{}", cfg.host, cfg.port)
        } else {
            format!("{}:{}", cfg.host, cfg.port)
        };
        let pool = Pool::new(Arc::new(cfg), Arc::clone(&shared));
        let mut conn = pool.get(Use::Meta)?;
        let feats = conn.session().feats.clone();
        log::info!(
            "connected; server features: {}",
            if feats.raw.is_empty() {
                "none advertised".to_string()
            } else {
                feats.raw.join(", ")
            }
        );
        drop(conn);
        // A few connections ready for the first parallel transfers (the pool grows further on
        // demand, up to `connections`).
        pool.prewarm(PREWARM.min(pool.stats().1.saturating_sub(1)));
        Ok(FtpRemote {
            pool,
            shared,
            lists: list::ListState::new(feats.mlsd),
            timeout,
            dir_max_entries,
            recent: Arc::default(),
            server,
            caps: Capabilities {
                set_mtime: feats.mfmt,
                chmod: None,
            },
        })
    }

    /// Sends QUIT on idle connections.
    pub fn shutdown(&self) {
        self.pool.shutdown();
    }

    /// The mount is being unmounted: waits on the server silent for a while are cut and new
    /// ones shortened (see [`watch`]), so that requests stuck on a dead server end within
    /// seconds and the unmount can finish.
    pub fn cancel(&self) {
        self.shared.watch.cancel();
        self.pool.wake();
    }

    /// Runs `f` on a pooled connection, within the operation's deadline; retries once on a
    /// fresh connection when the one it had was closed by the server (see [`lost`]).
    fn run<T>(&self, mut f: impl FnMut(&mut Session) -> RemoteResult<T>) -> RemoteResult<T> {
        let mut conn = self.pool.get_for(Use::Meta, Due::After(Instant::now()))?;
        conn.begin();
        match f(conn.session()) {
            Err(e) if lost(&e) && !self.shared.watch.closing() => {
                log::info!("{e}; retrying once on a fresh connection");
                bump(&self.shared.counters.fresh_retries);
                let due = Due::By(conn.deadline);
                drop(conn);
                let mut conn = self.pool.get_fresh(Use::Meta, due)?;
                conn.begin();
                f(conn.session())
            }
            r => r,
        }
    }

    /// Opens a data connection for `cmd` (after `CWD cwd` when given), trying the methods the
    /// shared state plans until one works, all within one operation's deadline; a connection
    /// the server closed is replaced once. The connection comes back with that deadline set.
    fn open_transfer(
        &self,
        usage: Use,
        cwd: Option<&str>,
        cmd: &str,
        rest: u64,
    ) -> RemoteResult<(Conn, DataConn)> {
        let modes = &self.shared.modes;
        let mut plan = modes.plan();
        let mut failures: Vec<(Method, Failure)> = vec![];
        let mut conn = self.pool.get_for(usage, Due::After(Instant::now()))?;
        conn.begin();
        // Connections taken again by this operation keep its deadline.
        let due = Due::By(conn.deadline);
        let mut prepared = false;
        let mut retried = false;
        let mut tls_retries = 0;
        while let Some(&method) = plan.first() {
            let ready = match cwd.filter(|_| !prepared) {
                Some(dir) => conn.session().cwd(dir),
                None => Ok(()),
            };
            prepared = ready.is_ok();
            let attempt = match ready {
                Ok(()) => conn.session().attempt(method, cmd, rest),
                Err(e) => Err(Attempt::Command(e)),
            };
            match attempt {
                Ok(dc) => {
                    if modes.succeeded(method) == Change::SwitchedTo(method) && !failures.is_empty()
                    {
                        let tried: Vec<String> =
                            failures.iter().map(|(m, f)| format!("{m} {f}")).collect();
                        let why = format!("{}; fell back to {method}", tried.join(", "));
                        log::info!(
                            "data connections: {}; falling back to {method}, which works \
                             (-o data_mode={} skips this probe next time)",
                            tried.join(", "),
                            method.family_option()
                        );
                        bump(&self.shared.counters.data_fallbacks);
                        modes.note_fallback(why);
                    }
                    return Ok((conn, dc));
                }
                Err(Attempt::Command(e)) => {
                    if lost(&e) && !retried && !self.shared.watch.closing() {
                        log::info!("{e}; retrying once on a fresh connection");
                        bump(&self.shared.counters.fresh_retries);
                        retried = true;
                        drop(conn);
                        conn = self.pool.get_fresh(usage, due)?;
                        conn.begin();
                        prepared = false;
                        continue;
                    }
                    return Err(e);
                }
                Err(Attempt::Tls(TlsFailure::Retire(why))) if tls_retries < 3 => {
                    // Not a data-mode failure: the session cannot resume its TLS session.
                    // Another (or a new) connection has tickets; new logins may use TLS 1.2.
                    log::debug!("{cmd}: {why}; retrying on another connection");
                    tls_retries += 1;
                    bump(&self.shared.counters.tls_retired);
                    if let Some(t) = &self.shared.tls {
                        t.policy.retired(conn.session().tls13(), &why);
                    }
                    drop(conn);
                    // Another idle connection first; when that one cannot resume either (the
                    // idle ones outlived their TLS sessions), a new login.
                    conn = if tls_retries == 1 {
                        self.pool.get_for(usage, due)?
                    } else {
                        self.pool.get_fresh(usage, due)?
                    };
                    conn.begin();
                    prepared = false;
                }
                Err(Attempt::Tls(TlsFailure::Retire(why))) => {
                    bump(&self.shared.counters.tls_retired);
                    return Err(RemoteError::Tls(format!("{cmd}: {why}").into()));
                }
                Err(Attempt::Tls(TlsFailure::Failed(e))) => return Err(e),
                Err(Attempt::Data(f)) if Instant::now() >= conn.deadline => {
                    // Cut short by the operation's deadline: says nothing about the method.
                    conn.session().dead = true;
                    return Err(RemoteError::Timeout(
                        format!(
                            "{cmd}: no data connection within {}s ({method}: {f})",
                            self.timeout.as_secs_f32()
                        )
                        .into(),
                    ));
                }
                Err(Attempt::Data(f)) => {
                    log::debug!("{method} for {cmd}: {f}");
                    plan.remove(0);
                    modes.failed(method, &f, &mut plan);
                    failures.push((method, f));
                    if conn.session().dead {
                        // Give the dead one's slot back first: with a pool of one, waiting for
                        // a slot while holding it would wait for ourselves.
                        drop(conn);
                        conn = self.pool.get_for(usage, due)?;
                        conn.begin();
                        prepared = false;
                    }
                }
            }
        }
        let msg = advice(modes.mode(), &failures);
        log::error!("{cmd}: {msg}");
        Err(RemoteError::DataConnection(msg.into()))
    }

    /// Reads a listing from its data connection line by line, each line (its bytes, without
    /// the line end) handed at once to `line` ([`listread`] bounds it), then the server's
    /// verdict; recycles the connection. A listing cut short drops the connection (its data
    /// may still be coming).
    fn read_listing<T>(
        &self,
        mut conn: Conn,
        mut dc: DataConn,
        mut out: T,
        mut line: impl FnMut(&mut T, &[u8]) -> Seen,
    ) -> RemoteResult<T> {
        let limits = Limits {
            deadline: conn.deadline,
            timeout: self.timeout,
            max_entries: self.dir_max_entries,
        };
        let read = listread::read_lines(&mut dc, &limits, |raw| line(&mut out, raw));
        match read {
            Ok(verdict_by) => {
                conn.session().ctl.set_limit(Some(verdict_by));
                conn.session().finish(dc)?;
                conn.recycle();
                Ok(out)
            }
            Err(e) => {
                drop(dc);
                conn.session().dead = true;
                Err(e)
            }
        }
    }

    fn abs(&self, path: &str) -> RemoteResult<String> {
        session::abs_path(&self.shared, path)
    }
}

fn bump(c: &std::sync::atomic::AtomicU64) {
    c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// The connection was closed by the server, or it said it is closing it (421), or a write
/// to it failed: the command was not carried out, and one retry on a fresh connection is
/// safe. (An end of file where a reply was due could in theory follow a command the server
/// did carry out; servers close without a reply only for idle connections.)
fn lost(e: &RemoteError) -> bool {
    matches!(e, RemoteError::Connection(_))
}

impl Remote for FtpRemote {
    fn list(&self, dir: &str) -> RemoteResult<Vec<RemoteEntry>> {
        self.list_dir(dir)
    }

    fn open_read(&self, path: &str, offset: u64) -> RemoteResult<Box<dyn ReadStream>> {
        let abs = self.abs(path)?;
        if let Some(e) = self.recent.again(&abs) {
            return Err(e);
        }
        let cmd = format!("RETR {abs}");
        let (conn, dc) = self
            .open_transfer(Use::Stream, None, &cmd, offset)
            .inspect_err(|e| self.recent.note(&abs, e))?;
        let read = FtpRead::new(conn, dc, &abs, Arc::clone(&self.recent));
        Ok(Box::new(CountedRead::new(
            Box::new(read),
            &self.shared.counters,
        )))
    }

    fn open_write(&self, path: &str) -> RemoteResult<Box<dyn WriteStream>> {
        let cmd = format!("STOR {}", self.abs(path)?);
        let (conn, dc) = self.open_transfer(Use::Stream, None, &cmd, 0)?;
        let write = Box::new(FtpWrite::new(conn, dc));
        Ok(Box::new(CountedWrite::new(write, &self.shared.counters)))
    }

    fn open_append(&self, path: &str) -> RemoteResult<Box<dyn WriteStream>> {
        let cmd = format!("APPE {}", self.abs(path)?);
        let (conn, dc) = self.open_transfer(Use::Stream, None, &cmd, 0)?;
        let write = Box::new(FtpWrite::new(conn, dc));
        Ok(Box::new(CountedWrite::new(write, &self.shared.counters)))
    }

    fn mkdir(&self, path: &str) -> RemoteResult<()> {
        self.run(|s| s.mkdir(path))
    }

    fn rmdir(&self, path: &str) -> RemoteResult<()> {
        self.run(|s| s.rmdir(path))
    }

    fn delete(&self, path: &str) -> RemoteResult<()> {
        self.run(|s| s.delete(path))
    }

    fn rename(&self, from: &str, to: &str) -> RemoteResult<()> {
        self.run(|s| s.rename(from, to))
    }

    fn set_mtime(&self, path: &str, mtime: SystemTime) -> RemoteResult<()> {
        self.run(|s| s.set_mtime(path, mtime))
    }

    fn size(&self, path: &str) -> RemoteResult<u64> {
        self.run(|s| s.size(path))
    }

    fn chmod(&self, path: &str, mode: u32) -> RemoteResult<()> {
        self.run(|s| s.chmod(path, mode))
    }

    fn symlink(&self, target: &str, path: &str) -> RemoteResult<()> {
        self.run(|s| s.symlink(target, path))
    }

    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    fn stats(&self) -> super::stats::RemoteStats {
        self.snapshot()
    }
}

/// Whether `LIST -a` failed because of its option, as far as the reply can tell: 500/502/504
/// (unknown), 501 (bad argument) or 550 (`-a` taken for a file name). Not 4xx (transient).
fn refuses_option(e: &RemoteError) -> bool {
    matches!(e.code(), Some(500 | 501 | 502 | 504 | 550))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_a_is_given_up_only_for_permanent_refusals() {
        use super::session::classify_reply;
        let reply = |code: u32| classify_reply(code, "x", "LIST -a");
        for code in [500, 501, 502, 504, 550] {
            assert!(refuses_option(&reply(code)), "{code}");
        }
        for code in [450, 425, 421, 530] {
            assert!(!refuses_option(&reply(code)), "{code}");
        }
        assert!(!refuses_option(&RemoteError::Other(
            "LIST -a: 501 said in a message, not a reply".into()
        )));
        assert!(!refuses_option(&RemoteError::Timeout("LIST -a".into())));
    }
}
