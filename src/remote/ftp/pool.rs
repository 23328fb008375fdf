//! A bounded pool of logged-in control connections.
//!
//! Invariants:
//! - At most `limit` connections exist at once (idle + lent + being opened); `limit` starts at
//!   `-o connections` and shrinks when the server answers 421 (too many connections) while we
//!   already hold some, like lftp and gvfs do.
//! - Streams (open downloads/uploads, which hold a connection for a long time) may take at most
//!   `limit - 1` connections, so listings and metadata never wait behind transfers.
//! - A connection comes back to the pool only when healthy: one whose control connection
//!   failed is dropped; one that got an unexpected reply is checked with NOOP before it goes
//!   back; one idle for longer than [`IDLE_CHECK`] is checked with NOOP before use.
//! - Waiting for a connection has a deadline (`timeout`); new connections are opened without
//!   holding the pool lock, with a short back-off between failed attempts.
//! - When a stream takes the last idle connection, one spare is logged in in the background
//!   (counted against the limit while it connects).

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::FtpConfig;
use super::session::{Session, Shared};
use crate::remote::{RemoteError, RemoteResult};

/// Idle connections older than this are checked with NOOP before use (servers drop idle
/// control connections after a while; better to find out before sending a real command).
const IDLE_CHECK: Duration = Duration::from_secs(15);

/// What a connection is borrowed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// A listing or a metadata command: returned within one operation.
    Meta,
    /// A download or upload stream: held while the file is open.
    Stream,
}

struct State {
    /// Threads blocked in `get` right now.
    waiting: usize,
    idle: Vec<(Session, Instant)>,
    total: usize,
    streams: usize,
    limit: usize,
}

/// The pool.
pub struct Pool {
    cfg: Arc<FtpConfig>,
    shared: Arc<Shared>,
    state: Mutex<State>,
    freed: Condvar,
}

/// A borrowed connection; goes back to the pool on drop (or is discarded when dead).
pub struct Conn {
    pool: Arc<Pool>,
    session: Option<Session>,
    usage: Use,
    /// Whether the session came from the idle list (a failure may be a stale connection).
    pub reused: bool,
    /// The slot was handed to a background thread (see [`Conn::recycle`]).
    handed_off: bool,
}

impl Pool {
    pub fn new(cfg: Arc<FtpConfig>, shared: Arc<Shared>) -> Arc<Pool> {
        let limit = cfg.connections.max(1);
        Arc::new(Pool {
            cfg,
            shared,
            state: Mutex::new(State {
                waiting: 0,
                idle: vec![],
                total: 0,
                streams: 0,
                limit,
            }),
            freed: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Borrows a connection, opening one when none is idle and the limit allows.
    pub fn get(self: &Arc<Self>, usage: Use) -> RemoteResult<Conn> {
        self.get_inner(usage, false)
    }

    /// Like [`Pool::get`], but never an idle connection: after a reused connection turned out
    /// dead, the others idle since then are likely dead too (server restart, NAT timeout), so
    /// the retry logs in anew (making room by closing idle connections). The idle ones are
    /// dropped: each would fail the same way.
    pub fn get_fresh(self: &Arc<Self>, usage: Use) -> RemoteResult<Conn> {
        let stale: Vec<(Session, Instant)> = {
            let mut st = self.lock();
            let idle: Vec<_> = st.idle.drain(..).collect();
            st.total -= idle.len();
            idle
        };
        drop(stale);
        self.freed.notify_all();
        self.get_inner(usage, true)
    }

    fn get_inner(self: &Arc<Self>, usage: Use, fresh: bool) -> RemoteResult<Conn> {
        let deadline = Instant::now() + self.cfg.timeout;
        let mut attempts = 0u32;
        let mut st = self.lock();
        loop {
            let max_streams = if st.limit > 1 { st.limit - 1 } else { 1 };
            let allowed = usage == Use::Meta || st.streams < max_streams;
            if allowed {
                // Prefer a connection whose next data connection is already open; a fresh
                // request takes an idle one only when no new one may be opened.
                let pick = if fresh && st.total < st.limit {
                    None
                } else {
                    st.idle
                        .iter()
                        .rposition(|(s, _)| s.has_ready())
                        .or_else(|| st.idle.len().checked_sub(1))
                };
                if let Some((mut s, since)) = pick.map(|i| st.idle.swap_remove(i)) {
                    if usage == Use::Stream {
                        st.streams += 1;
                    }
                    drop(st);
                    if since.elapsed() > IDLE_CHECK && !s.noop() {
                        log::debug!("an idle connection was dead; replacing it");
                        st = self.lock();
                        st.total -= 1;
                        if usage == Use::Stream {
                            st.streams -= 1;
                        }
                        continue;
                    }
                    if usage == Use::Stream {
                        self.warm();
                    }
                    return Ok(self.conn(s, usage, true));
                }
                if st.total < st.limit {
                    st.total += 1;
                    if usage == Use::Stream {
                        st.streams += 1;
                    }
                    drop(st);
                    match Session::connect(Arc::clone(&self.cfg), Arc::clone(&self.shared)) {
                        Ok(s) => {
                            if usage == Use::Stream {
                                self.warm();
                            }
                            return Ok(self.conn(s, usage, false));
                        }
                        Err(e) => {
                            st = self.lock();
                            st.total -= 1;
                            if usage == Use::Stream {
                                st.streams -= 1;
                            }
                            self.freed.notify_all();
                            let too_many = is_too_many(&e);
                            if too_many && st.total > 0 {
                                st.limit = st.total;
                                log::warn!(
                                    "the server refuses more than {} connections; using {} (was: {e})",
                                    st.limit,
                                    st.limit
                                );
                                continue;
                            }
                            attempts += 1;
                            let retry = matches!(e, RemoteError::Connection(_))
                                && attempts < 3
                                && Instant::now() + backoff(attempts) < deadline;
                            if !retry {
                                return Err(e);
                            }
                            drop(st);
                            log::info!("connecting failed ({e}); retrying");
                            std::thread::sleep(backoff(attempts));
                            st = self.lock();
                            continue;
                        }
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(RemoteError::Timeout(format!(
                    "all {} connections stayed busy for {}s (raise -o connections)",
                    st.limit,
                    self.cfg.timeout.as_secs()
                )));
            }
            st.waiting += 1;
            st = self
                .freed
                .wait_timeout(st, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
            st.waiting -= 1;
        }
    }

    /// Logs in up to `n` more connections in the background (at mount: the first parallel
    /// readers then find connections ready instead of each paying a login).
    pub fn prewarm(self: &Arc<Self>, n: usize) {
        for _ in 0..n {
            self.spare();
        }
    }

    /// Keeps one spare connection logged in while the limit allows, so the next stream does
    /// not pay the login round trips (connect, banner, USER, PASS, TYPE, FEAT).
    fn warm(self: &Arc<Self>) {
        if !self.lock().idle.is_empty() {
            return;
        }
        self.spare();
    }

    /// Starts logging in one more connection in the background, if the limit allows.
    fn spare(self: &Arc<Self>) {
        {
            let mut st = self.lock();
            if st.total >= st.limit {
                return;
            }
            st.total += 1;
        }
        let pool = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("ftpfs-warm".into())
            .spawn(move || {
                let r = Session::connect(Arc::clone(&pool.cfg), Arc::clone(&pool.shared)).map(
                    |mut s| {
                        s.preopen();
                        s
                    },
                );
                let mut st = pool.lock();
                match r {
                    Ok(s) => st.idle.push((s, Instant::now())),
                    Err(e) => {
                        st.total -= 1;
                        let too_many = is_too_many(&e);
                        if too_many && st.total > 0 && st.total < st.limit {
                            st.limit = st.total;
                            log::warn!(
                                "the server refuses more than {} connections; using {} (was: {e})",
                                st.limit,
                                st.limit
                            );
                        } else {
                            log::debug!("a spare connection failed: {e}");
                        }
                    }
                }
                drop(st);
                pool.freed.notify_all();
            });
        if spawned.is_err() {
            self.lock().total -= 1;
        }
    }

    fn conn(self: &Arc<Self>, s: Session, usage: Use, reused: bool) -> Conn {
        Conn {
            pool: Arc::clone(self),
            session: Some(s),
            usage,
            reused,
            handed_off: false,
        }
    }

    fn put_back(&self, mut s: Option<Session>, usage: Use) {
        if let Some(sess) = s.as_mut().filter(|x| x.suspect && !x.dead) {
            // An unexpected reply: make sure the connection is still in step before reuse.
            if sess.noop() {
                sess.suspect = false;
            } else {
                log::debug!("a connection failed its NOOP check after an error; replacing it");
                sess.dead = true;
            }
        }
        let mut st = self.lock();
        if usage == Use::Stream {
            st.streams = st.streams.saturating_sub(1);
        }
        match s {
            Some(s) if !s.dead => st.idle.push((s, Instant::now())),
            _ => st.total = st.total.saturating_sub(1),
        }
        drop(st);
        self.freed.notify_all();
    }

    /// Closes every idle connection with QUIT (at unmount).
    pub fn shutdown(&self) {
        let idle: Vec<_> = {
            let mut st = self.lock();
            let idle: Vec<_> = st.idle.drain(..).collect();
            st.total -= idle.len();
            idle
        };
        for (s, _) in idle {
            s.quit();
        }
    }

    /// (connections now, limit) for diagnostics and tests.
    pub fn stats(&self) -> (usize, usize) {
        let st = self.lock();
        (st.total, st.limit)
    }
}

/// The server refused the login with 421 (too many connections). The reply code is matched
/// where classify_reply puts it (": 421 "), not anywhere in the message (a port 4210 …).
fn is_too_many(e: &RemoteError) -> bool {
    matches!(e, RemoteError::Connection(m) if m.contains(": 421"))
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 * u64::from(attempt * attempt))
}

impl Conn {
    pub fn session(&mut self) -> &mut Session {
        // Present from creation until drop.
        self.session
            .as_mut()
            .unwrap_or_else(|| unreachable!("session taken before drop"))
    }
}

impl Conn {
    /// Gives the connection back after opening its next passive data connection in the
    /// background (off the critical path of the next transfer).
    pub fn recycle(mut self) {
        let worth = self
            .session
            .as_ref()
            .is_some_and(|s| !s.dead && !s.has_ready());
        // Under load (someone waits for a connection) the session goes back at once.
        if !worth || self.pool.lock().waiting > 0 {
            return;
        }
        let Some(mut s) = self.session.take() else {
            return;
        };
        let pool = Arc::clone(&self.pool);
        let usage = self.usage;
        // Keep the slot accounted while the thread runs: `self` (now without a session) is
        // dropped by the thread together with the session's return.
        let spawned = std::thread::Builder::new()
            .name("ftpfs-preopen".into())
            .spawn(move || {
                s.preopen();
                pool.put_back(Some(s), usage);
            });
        if spawned.is_err() {
            // The session went with the closure; account the slot as gone.
            self.pool.put_back(None, self.usage);
        }
        // The thread gives the slot back; this handle's drop must not do it a second time.
        self.handed_off = true;
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if self.handed_off {
            return;
        }
        let s = self.session.take();
        self.pool.put_back(s, self.usage);
    }
}
