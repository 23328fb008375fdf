//! The FTP implementation of [`Remote`]: the only code that speaks FTP. [`FtpRemote`] borrows a
//! connection from the [`pool::Pool`] per operation (or per open stream) and runs the
//! commands of [`session::Session`] on it.
//!
//! Invariants:
//! - A metadata operation that fails because a *reused* idle connection turned out dead is
//!   retried once on a fresh connection when it is safe to repeat (listings, RETR/STOR starts,
//!   MFMT, SITE CHMOD); the user never sees a stale connection.
//! - Every data command asks the shared [`datamode::DataModes`] for the methods to try and
//!   reports what failed; an operation fails only after every planned method failed, with a
//!   message that says what to open.
//! - A download stream that is closed before the end is aborted (ABOR + NOOP); if the server's
//!   answers are not the expected ones, the connection is dropped rather than reused.
//! - A connection whose transfer ended is recycled: while idle it opens its next passive data
//!   connection (not when other threads are waiting for connections).

pub mod control;
pub mod datamode;
pub mod encoding;
mod list;
pub mod listing;
pub mod login;
pub mod pool;
pub mod probe;
pub mod session;
pub mod tls;
pub mod tls_verify;
pub mod transfer;
mod upload;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use self::datamode::{Change, DataMode, Failure, Method, PasvAddress};
use self::encoding::NameCodec;
use self::pool::{Conn, Pool, Use};
use self::session::{Session, Shared};
use self::tls::TlsOptions;
use self::transfer::{Attempt, DataConn, TlsFailure};
use self::upload::Uploader;
use super::{
    Capabilities, ReadStream, Remote, RemoteEntry, RemoteError, RemoteResult, Wanted, WriteStream,
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

    /// Runs `f` on a pooled connection; retries once on a fresh one when a reused connection
    /// failed at the control level and `retry_safe`.
    fn run<T>(
        &self,
        retry_safe: bool,
        mut f: impl FnMut(&mut Session) -> RemoteResult<T>,
    ) -> RemoteResult<T> {
        let mut conn = self.pool.get(Use::Meta)?;
        match f(conn.session()) {
            Err(e) if retry_safe && conn.reused && conn.session().dead => {
                log::debug!("retrying on a fresh connection after: {e}");
                drop(conn);
                let mut conn = self.pool.get_fresh(Use::Meta)?;
                f(conn.session())
            }
            r => r,
        }
    }

    /// Opens a data connection for `cmd` (after `CWD cwd` when given), trying the methods the
    /// shared state plans until one works; a stale reused connection is replaced once.
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
        let mut conn = self.pool.get(usage)?;
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
                        log::info!(
                            "data connections: {}; falling back to {method}, which works \
                             (-o data_mode={} skips this probe next time)",
                            tried.join(", "),
                            method.family_option()
                        );
                    }
                    return Ok((conn, dc));
                }
                Err(Attempt::Command(e)) => {
                    if conn.reused && conn.session().dead && !retried {
                        log::debug!("retrying on a fresh connection after: {e}");
                        retried = true;
                        drop(conn);
                        conn = self.pool.get_fresh(usage)?;
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
                    if let Some(t) = &self.shared.tls {
                        t.policy.retired(conn.session().tls13(), &why);
                    }
                    drop(conn);
                    // Another idle connection first; when that one cannot resume either (the
                    // idle ones outlived their TLS sessions), a new login.
                    conn = if tls_retries == 1 {
                        self.pool.get(usage)?
                    } else {
                        self.pool.get_fresh(usage)?
                    };
                    prepared = false;
                }
                Err(Attempt::Tls(TlsFailure::Retire(why))) => {
                    return Err(RemoteError::Tls(format!("{cmd}: {why}").into()));
                }
                Err(Attempt::Tls(TlsFailure::Failed(e))) => return Err(e),
                Err(Attempt::Data(f)) => {
                    log::debug!("{method} for {cmd}: {f}");
                    plan.remove(0);
                    modes.failed(method, &f, &mut plan);
                    failures.push((method, f));
                    if conn.session().dead {
                        // Give the dead one's slot back first: with a pool of one, waiting for
                        // a slot while holding it would wait for ourselves.
                        drop(conn);
                        conn = self.pool.get(usage)?;
                        prepared = false;
                    }
                }
            }
        }
        let msg = advice(modes.mode(), &failures);
        log::error!("{cmd}: {msg}");
        Err(RemoteError::DataConnection(msg.into()))
    }

    fn abs(&self, path: &str) -> RemoteResult<String> {
        session::abs_path(&self.shared, path)
    }

    /// Reads a whole listing from a data connection, then recycles the connection.
    fn read_listing(mut conn: Conn, dc: DataConn) -> RemoteResult<Vec<u8>> {
        let r = Self::read_all(&mut conn, dc);
        conn.recycle();
        r
    }

    /// The bytes of a listing, as they came (names are bytes: `list.rs` reads them).
    fn read_all(conn: &mut Conn, mut dc: DataConn) -> RemoteResult<Vec<u8>> {
        let mut bytes = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match dc.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
                Err(e) => {
                    let _ = conn.session().abort(dc);
                    return Err(e);
                }
            }
        }
        conn.session().finish(dc)?;
        Ok(bytes)
    }
}

impl Remote for FtpRemote {
    fn list(&self, dir: &str) -> RemoteResult<Vec<RemoteEntry>> {
        self.list_dir(dir)
    }

    fn open_read(&self, path: &str, offset: u64) -> RemoteResult<Box<dyn ReadStream>> {
        let cmd = format!("RETR {}", self.abs(path)?);
        let (conn, dc) = self.open_transfer(Use::Stream, None, &cmd, offset)?;
        Ok(Box::new(FtpRead {
            conn: Some(conn),
            dc: Some(dc),
        }))
    }

    fn open_write(&self, path: &str) -> RemoteResult<Box<dyn WriteStream>> {
        let cmd = format!("STOR {}", self.abs(path)?);
        let (conn, dc) = self.open_transfer(Use::Stream, None, &cmd, 0)?;
        Ok(Box::new(FtpWrite::new(conn, dc)))
    }

    fn open_append(&self, path: &str) -> RemoteResult<Box<dyn WriteStream>> {
        let cmd = format!("APPE {}", self.abs(path)?);
        let (conn, dc) = self.open_transfer(Use::Stream, None, &cmd, 0)?;
        Ok(Box::new(FtpWrite::new(conn, dc)))
    }

    fn mkdir(&self, path: &str) -> RemoteResult<()> {
        self.run(false, |s| s.mkdir(path))
    }

    fn rmdir(&self, path: &str) -> RemoteResult<()> {
        self.run(false, |s| s.rmdir(path))
    }

    fn delete(&self, path: &str) -> RemoteResult<()> {
        self.run(false, |s| s.delete(path))
    }

    fn rename(&self, from: &str, to: &str) -> RemoteResult<()> {
        self.run(false, |s| s.rename(from, to))
    }

    fn set_mtime(&self, path: &str, mtime: SystemTime) -> RemoteResult<()> {
        self.run(true, |s| s.set_mtime(path, mtime))
    }

    fn size(&self, path: &str) -> RemoteResult<u64> {
        self.run(true, |s| s.size(path))
    }

    fn chmod(&self, path: &str, mode: u32) -> RemoteResult<()> {
        self.run(true, |s| s.chmod(path, mode))
    }

    fn symlink(&self, target: &str, path: &str) -> RemoteResult<()> {
        self.run(false, |s| s.symlink(target, path))
    }

    fn capabilities(&self) -> Capabilities {
        self.caps
    }
}

/// Ends a data connection of `conn`'s session with the server's verdict (see
/// [`DataConn::finish`]); the error is recorded on the session.
fn finish(conn: &mut Option<Conn>, dc: DataConn) -> RemoteResult<()> {
    match conn.as_mut() {
        Some(c) => c.session().finish(dc),
        None => Err(RemoteError::Connection(
            "the transfer lost its control connection".into(),
        )),
    }
}

/// Marks the session of `conn` dead (when there is one).
fn kill(conn: &mut Option<Conn>) {
    if let Some(c) = conn.as_mut() {
        c.session().dead = true;
    }
}

/// Whether `LIST -a` failed because of its option, as far as the reply can tell: 500/502/504
/// (unknown), 501 (bad argument) or 550 (`-a` taken for a file name). Not 4xx (transient).
fn refuses_option(e: &RemoteError) -> bool {
    matches!(e.code(), Some(500 | 501 | 502 | 504 | 550))
}

/// A running RETR.
struct FtpRead {
    conn: Option<Conn>,
    dc: Option<DataConn>,
}

impl ReadStream for FtpRead {
    fn read(&mut self, buf: &mut [u8]) -> RemoteResult<usize> {
        let Some(dc) = self.dc.as_mut() else {
            return Ok(0);
        };
        match dc.read(buf) {
            Ok(0) => {
                let Some(dc) = self.dc.take() else {
                    return Ok(0);
                };
                // End of data: the transfer is good only if the server says 226.
                finish(&mut self.conn, dc)?;
                Ok(0)
            }
            Ok(n) => Ok(n),
            Err(e) => {
                self.abort();
                Err(e)
            }
        }
    }

    fn close(mut self: Box<Self>) {
        self.abort();
    }

    fn wanted(&self) -> Wanted {
        self.conn.as_ref().map_or(Wanted::No, Conn::wanted)
    }
}

impl FtpRead {
    fn abort(&mut self) {
        let Some(dc) = self.dc.take() else {
            return;
        };
        if let Some(c) = self.conn.as_mut()
            && let Err(e) = c.session().abort(dc)
        {
            log::debug!("ABOR answered unexpectedly ({e}); dropping the connection");
        }
    }
}

impl Drop for FtpRead {
    fn drop(&mut self) {
        self.abort();
        if let Some(c) = self.conn.take() {
            c.recycle();
        }
    }
}

/// A running STOR/APPE: written through an [`Uploader`] thread (directly to the data
/// connection if no thread could be started).
struct FtpWrite {
    conn: Option<Conn>,
    up: Option<Uploader>,
    dc: Option<DataConn>,
    /// The first write error (sticky).
    failed: Option<RemoteError>,
}

impl FtpWrite {
    fn new(conn: Conn, dc: DataConn) -> Self {
        let mut conn = Some(conn);
        let (up, dc) = match Uploader::start(dc) {
            Ok(up) => (Some(up), None),
            Err(dc) => {
                if dc.is_none() {
                    kill(&mut conn);
                }
                (None, dc)
            }
        };
        FtpWrite {
            conn,
            up,
            dc,
            failed: None,
        }
    }

    /// Ends the uploader thread (after every queued chunk was written), keeping its data
    /// connection; returns the first write error.
    fn stop_uploader(&mut self) -> RemoteResult<()> {
        let Some(mut up) = self.up.take() else {
            return Ok(());
        };
        match up.stop() {
            Some((dc, r)) => {
                self.dc = Some(dc);
                r
            }
            None => {
                kill(&mut self.conn);
                Err(RemoteError::Connection("the upload thread failed".into()))
            }
        }
    }
}

impl FtpWrite {
    fn write_inner(&mut self, data: &[u8]) -> RemoteResult<()> {
        if let Some(up) = self.up.as_mut() {
            return match up.write_all(data) {
                Ok(()) => Ok(()),
                // The thread stopped at an earlier chunk's error: that error is the one.
                Err(e) => self.stop_uploader().and(Err(e)),
            };
        }
        match self.dc.as_mut() {
            Some(dc) => dc.write_all(data),
            None => Err(RemoteError::Other("upload already finished".into())),
        }
    }
}

impl WriteStream for FtpWrite {
    /// After a failed write nothing more is written (queued chunks were dropped): every
    /// later write and the finish report the first error.
    fn write_all(&mut self, data: &[u8]) -> RemoteResult<()> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.write_inner(data)
            .inspect_err(|e| self.failed = Some(e.clone()))
    }

    fn finish(mut self: Box<Self>) -> RemoteResult<()> {
        let written = self
            .stop_uploader()
            .and(self.failed.take().map_or(Ok(()), Err));
        let verdict = match self.dc.take() {
            Some(dc) => finish(&mut self.conn, dc),
            None => Ok(()),
        };
        // The server's verdict says more (552 quota) than the failed write (broken pipe).
        verdict.and(written)
    }
}

impl Drop for FtpWrite {
    fn drop(&mut self) {
        let _ = self.stop_uploader();
        // Dropped without finish (an error path): close the data connection and read the
        // verdict so the control connection stays in step; drop it if that fails.
        if let Some(dc) = self.dc.take()
            && finish(&mut self.conn, dc).is_err()
        {
            kill(&mut self.conn);
        }
        if let Some(c) = self.conn.take() {
            c.recycle();
        }
    }
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
