//! A bounded pool of logged-in control connections.
//!
//! Invariants:
//! - At most `limit` connections exist at once (idle + lent + being opened; after a 421
//!   lowered it, logins already running may still end above it); `limit` starts at
//!   `-o connections` and shrinks when the server answers 421 (too many connections), or 530
//!   to credentials that work, while we already hold some, like lftp and gvfs do: to the connections logged in at that moment;
//!   logins still running that succeed raise it back (never above `-o connections`), and the
//!   limit learned is logged once, when no login runs.
//! - Streams (open downloads/uploads, which hold a connection for a long time) may take at most
//!   `limit - 1` connections, so listings and metadata never wait behind transfers.
//! - A connection comes back to the pool only when healthy: one whose control connection
//!   failed is dropped; one that got an unexpected reply is checked with NOOP before it goes
//!   back; one idle for longer than [`IDLE_CHECK`] is checked with NOOP before use; one the
//!   server closed, or that has something unasked for to read (a `421` before a close), is
//!   dropped when next taken (a poll, no round trip): it never carries another command.
//! - Waiting for our own busy pool is not a network timeout: a request waits for a
//!   connection as long as the pool makes progress ([`Progress`]: bytes of user data moved
//!   on any connection, or a connection given back healthy after an operation), and fails
//!   only once nothing moved for `timeout` (counted from the request's start or the last
//!   progress, whichever is later). The connection it gets carries the operation's deadline
//!   ([`Conn::deadline`], the same rule at the moment it was taken), which every wait of the
//!   operation respects (`Control::set_limit`, set by [`Conn::begin`]). New connections are
//!   logged in by background threads, counted against the limit while they connect (a
//!   login as a whole takes at most `timeout`). A request that finds no idle connection
//!   starts one such login (a "ticket") and takes whichever comes first: its login's result,
//!   or a connection given back meanwhile (the login then joins the idle ones; so does a
//!   login whose request gave up). A login failure reaches the request that started it,
//!   which retries connection errors with a short back-off.
//! - When a stream takes the last idle connection, one spare is logged in in the background.
//!   Idle connections beyond `KEEP_IDLE` are closed once unused for `IDLE_CLOSE` (checked when
//!   a connection is taken or given back: an untouched mount keeps its connections until the
//!   server closes them). When an idle connection is found dead, the ones idle longer are
//!   dropped with it.
//! - A session in the idle list has no reply outstanding (an EPSV sent ahead is settled
//!   before the session goes back; `Session::settle` runs again on every take, as a guard).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::FtpConfig;
use super::session::{Session, Shared, is_421};
use crate::remote::{RemoteError, RemoteResult, Wanted};

mod stats;

/// Idle connections older than this are checked with NOOP before use (servers drop idle
/// control connections after a while; better to find out before sending a real command).
const IDLE_CHECK: Duration = Duration::from_secs(15);

/// Idle connections beyond [`KEEP_IDLE`] are closed once unused this long (checked whenever
/// a connection is taken or comes back): a burst of parallel work does not hold its
/// connections forever.
const IDLE_CLOSE: Duration = Duration::from_secs(60);
/// Idle connections kept however long they are unused (until the server closes them).
const KEEP_IDLE: usize = 2;

/// How much longer than its deadline a request waits for the login it started itself.
const OWN_LOGIN_GRACE: Duration = Duration::from_millis(500);

/// When the pool last made progress: user data moved on a connection, or a connection
/// given back healthy. Shared by every session of a mount (data connections count bytes).
pub struct Progress {
    base: Instant,
    /// Milliseconds since `base` of the last progress.
    last: AtomicU64,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            base: Instant::now(),
            last: AtomicU64::new(0),
        }
    }
}

impl Progress {
    /// Something moved now.
    pub fn bump(&self) {
        let ms = self.base.elapsed().as_millis() as u64;
        self.last.fetch_max(ms, Ordering::Relaxed);
    }

    /// When something last moved.
    pub fn last(&self) -> Instant {
        self.base + Duration::from_millis(self.last.load(Ordering::Relaxed))
    }
}

/// When the operation a connection is taken for must end.
#[derive(Clone, Copy, Debug)]
pub enum Due {
    /// `timeout` after the operation started (this instant) or after the pool's last
    /// progress, whichever is later: a first connection.
    After(Instant),
    /// By this instant: a connection taken again by an operation that had one (a retry, a
    /// data connection that needs another session); its deadline does not move.
    By(Instant),
}

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
    /// Of those, the ones with no login of their own running (the pool is at its limit).
    starved: usize,
    /// Of those, the listing/metadata requests.
    starved_meta: usize,
    idle: Vec<(Session, Instant)>,
    total: usize,
    streams: usize,
    limit: usize,
    /// Logins started for a request that waits (by ticket): `None` while running, then the
    /// result, which the request takes. A request that got another connection first
    /// removes its ticket, and the login's connection becomes an idle one instead.
    logins: HashMap<u64, Option<RemoteResult<Session>>>,
    next_ticket: u64,
    /// Logins running (counted in `total`).
    connecting: usize,
    /// A 421 lowered the limit; logged once the logins running have ended.
    refused: Option<String>,
    /// The server lowered the limit (refusing one more login): its reply code.
    lowered: Option<Option<u32>>,
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
    /// The slot was handed to a background thread (see [`Conn::recycle`]).
    handed_off: bool,
    /// Whether the session came from the idle list (a failure may be a stale connection).
    pub reused: bool,
    /// The deadline of the operation this connection was taken for.
    pub deadline: Instant,
}

impl Pool {
    pub fn new(cfg: Arc<FtpConfig>, shared: Arc<Shared>) -> Arc<Pool> {
        let limit = cfg.connections.max(1);
        Arc::new(Pool {
            cfg,
            shared,
            state: Mutex::new(State {
                waiting: 0,
                starved: 0,
                starved_meta: 0,
                idle: vec![],
                total: 0,
                streams: 0,
                limit,
                logins: HashMap::new(),
                next_ticket: 0,
                connecting: 0,
                refused: None,
                lowered: None,
            }),
            freed: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Borrows a connection, opening one when none is idle and the limit allows, for an
    /// operation that starts now.
    pub fn get(self: &Arc<Self>, usage: Use) -> RemoteResult<Conn> {
        self.get_inner(usage, false, Due::After(Instant::now()))
    }

    /// Like [`Pool::get`], for an operation whose deadline is `due`.
    pub fn get_for(self: &Arc<Self>, usage: Use, due: Due) -> RemoteResult<Conn> {
        self.get_inner(usage, false, due)
    }

    /// The deadline of an operation: fixed, or `timeout` after the later of its start and
    /// the pool's last progress.
    fn deadline(&self, due: Due) -> Instant {
        match due {
            Due::By(d) => d,
            Due::After(since) => {
                since.max(self.shared.progress.last()) + self.shared.watch.timeout(self.cfg.timeout)
            }
        }
    }

    /// Wakes every request waiting for a connection (to look at its deadline again: at
    /// unmount, deadlines shorten).
    pub fn wake(&self) {
        self.freed.notify_all();
    }

    /// Like [`Pool::get`], but never an idle connection: after a reused connection turned out
    /// dead, the others idle since then are likely dead too (server restart, NAT timeout), so
    /// the retry logs in anew (making room by closing idle connections). The idle ones are
    /// dropped: each would fail the same way.
    pub fn get_fresh(self: &Arc<Self>, usage: Use, due: Due) -> RemoteResult<Conn> {
        let stale: Vec<(Session, Instant)> = {
            let mut st = self.lock();
            let idle: Vec<_> = st.idle.drain(..).collect();
            st.total -= idle.len();
            idle
        };
        stale.into_iter().for_each(|(s, _)| s.discard());
        self.freed.notify_all();
        self.get_inner(usage, true, due)
    }

    fn get_inner(self: &Arc<Self>, usage: Use, fresh: bool, due: Due) -> RemoteResult<Conn> {
        let mut attempts = 0u32;
        // The login started for this request, if any (see `State::logins`).
        let mut ticket: Option<u64> = None;
        // Whether this request counts as a stream already.
        let mut slot = false;
        let mut st = self.lock();
        let old = prune(&mut st);
        if !old.is_empty() {
            drop(st);
            close(old);
            self.freed.notify_all();
            st = self.lock();
        }
        loop {
            let deadline = self.deadline(due);
            if let Some(r) = ticket
                .and_then(|t| st.logins.get_mut(&t))
                .and_then(Option::take)
            {
                if let Some(t) = ticket.take() {
                    st.logins.remove(&t);
                }
                match r {
                    Ok(s) => {
                        drop(st);
                        if usage == Use::Stream {
                            self.warm();
                        }
                        return Ok(self.conn(s, usage, false, self.deadline(due)));
                    }
                    Err(e) => {
                        st.total -= 1;
                        self.freed.notify_all();
                        if is_too_many(&e) && st.total > st.connecting {
                            self.shrink(&mut st, &e);
                            continue;
                        }
                        attempts += 1;
                        let retry = matches!(e, RemoteError::Connection(_))
                            && attempts < 3
                            && Instant::now() + backoff(attempts) < deadline;
                        if !retry {
                            if slot {
                                st.streams -= 1;
                                self.freed.notify_all();
                            }
                            return Err(e);
                        }
                        drop(st);
                        log::info!("connecting failed ({e}); retrying");
                        self.shared
                            .counters
                            .login_retries
                            .fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(backoff(attempts));
                        st = self.lock();
                        continue;
                    }
                }
            }
            let max_streams = if st.limit > 1 { st.limit - 1 } else { 1 };
            let allowed = usage == Use::Meta || slot || st.streams < max_streams;
            if allowed {
                // Prefer a connection whose next data connection is already open; a fresh
                // request takes an idle one only when no new one may be opened (or once its
                // own login runs: the idle list was emptied when it started).
                let pick = if fresh && ticket.is_none() && st.total < st.limit {
                    None
                } else {
                    // The most recently returned among the readiest.
                    st.idle
                        .iter()
                        .enumerate()
                        .max_by_key(|(_, (s, since))| (s.readiness(), *since))
                        .map(|(i, _)| i)
                };
                if let Some((mut s, idle_since)) = pick.map(|i| st.idle.swap_remove(i)) {
                    if usage == Use::Stream && !slot {
                        st.streams += 1;
                        slot = true;
                    }
                    // A connection freed up before this request's own login ended: take
                    // it; the login goes on and its connection joins the idle ones.
                    if let Some(t) = ticket.take() {
                        st.logins.remove(&t);
                    }
                    drop(st);
                    // Checks on the way out count against this request's deadline.
                    s.ctl.set_limit(Some(self.deadline(due)));
                    s.settle();
                    // A NOOP answered here already proves the connection alive (below).
                    let mut checked = false;
                    let closed = !s.dead
                        && match s.ctl.closed_by_server() {
                            Some(closed) => closed,
                            None => {
                                checked = true;
                                !s.noop()
                            }
                        };
                    if closed {
                        // The server closed it (or is closing it): only this one is gone.
                        log::debug!("an idle connection was closed by the server; dropping it");
                        s.discard();
                        st = self.lock();
                        st.total -= 1;
                        self.freed.notify_all();
                        continue;
                    }
                    if s.dead || (!checked && idle_since.elapsed() > IDLE_CHECK && !s.noop()) {
                        // Those idle for longer went through the same (a server restart, a NAT
                        // that forgot us): drop them too rather than try each in turn.
                        log::debug!("an idle connection was dead; replacing it");
                        st = self.lock();
                        let older: Vec<(Session, Instant)> = {
                            let (old, keep) =
                                st.idle.drain(..).partition(|(_, t)| *t <= idle_since);
                            st.idle = keep;
                            old
                        };
                        st.total -= 1 + older.len();
                        self.freed.notify_all();
                        drop(st);
                        s.discard();
                        older.into_iter().for_each(|(s, _)| s.discard());
                        st = self.lock();
                        continue;
                    }
                    if usage == Use::Stream {
                        self.warm();
                    }
                    return Ok(self.conn(s, usage, true, self.deadline(due)));
                }
                if ticket.is_none() && st.total < st.limit {
                    if usage == Use::Stream && !slot {
                        st.streams += 1;
                        slot = true;
                    }
                    let t = st.next_ticket;
                    st.next_ticket += 1;
                    st.logins.insert(t, None);
                    if self.login(&mut st, Some(t)) {
                        ticket = Some(t);
                    } else {
                        st.logins.remove(&t);
                        if slot {
                            st.streams -= 1;
                            self.freed.notify_all();
                        }
                        return Err(RemoteError::Connection(
                            "cannot start a thread to connect".into(),
                        ));
                    }
                    continue;
                }
            }
            let now = Instant::now();
            // A login this request started has the same deadline, counted from a moment
            // later: a little longer for it, so that its error (which says why) comes first.
            let deadline = if ticket.is_some() {
                deadline + OWN_LOGIN_GRACE
            } else {
                deadline
            };
            if now >= deadline {
                if slot {
                    st.streams -= 1;
                    self.freed.notify_all();
                }
                if let Some(t) = ticket.take() {
                    // The login goes on; its connection joins the idle ones.
                    st.logins.remove(&t);
                    return Err(RemoteError::Timeout(
                        format!(
                            "connecting to the server: no login within {}s",
                            self.cfg.timeout.as_secs_f32()
                        )
                        .into(),
                    ));
                }
                return Err(RemoteError::Timeout(
                    format!(
                        "all {} connections stayed busy, with nothing moving for {}s (raise -o \
                         connections)",
                        st.limit,
                        self.cfg.timeout.as_secs_f32()
                    )
                    .into(),
                ));
            }
            // Without a login of its own, only a connection given back can help this request.
            let starved = ticket.is_none();
            let meta = starved && usage == Use::Meta;
            st.waiting += 1;
            st.starved += usize::from(starved);
            st.starved_meta += usize::from(meta);
            // A FUSE worker waiting here lets its pool run the requests queued behind it (the
            // writes of the uploads holding the connections, say: `crate::blocking`).
            let waiting = crate::blocking::enter();
            st = self
                .freed
                .wait_timeout(st, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
            drop(waiting);
            st.waiting -= 1;
            st.starved -= usize::from(starved);
            st.starved_meta -= usize::from(meta);
        }
    }

    /// Whether a request waits that only a connection given back can serve, and how badly.
    pub fn wanted(&self) -> Wanted {
        let st = self.lock();
        if st.starved_meta > 0 && st.streams >= st.limit {
            Wanted::Now
        } else if st.starved > 0 {
            Wanted::IfPaused
        } else {
            Wanted::No
        }
    }

    /// The server refused one more login with 421: the connections logged in now (not those
    /// still logging in) are its limit from now on. Said once the logins running have ended
    /// (some may still succeed and raise the limit again).
    fn shrink(&self, st: &mut State, e: &RemoteError) {
        let established = st.total - st.connecting;
        if established > 0 && established < st.limit {
            st.limit = established;
            st.refused = Some(e.to_string());
            st.lowered = Some(e.code());
            self.tell_limit(st);
        }
    }

    /// Logs the limit learned from a 421 once no login is running.
    fn tell_limit(&self, st: &mut State) {
        if st.connecting == 0
            && let Some(e) = st.refused.take()
        {
            log::warn!(
                "the server refuses more than {} connections; using {} (was: {e})",
                st.limit,
                st.limit
            );
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
        let mut st = self.lock();
        if st.total < st.limit {
            self.login(&mut st, None);
        }
    }

    /// Starts a login in the background, counted against the limit while it runs. With a
    /// ticket, the result goes to the request that holds it (see `State::logins`) unless it
    /// has given the ticket up; otherwise a new connection joins the idle ones (with its next
    /// data connection opened) and a failure is only logged. False if no thread could be
    /// started (nothing is counted then).
    fn login(self: &Arc<Self>, st: &mut State, ticket: Option<u64>) -> bool {
        st.total += 1;
        st.connecting += 1;
        let pool = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("ftpfs-login".into())
            .spawn(move || {
                // A panic must still end the login (its request waits for the result).
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    Session::connect(Arc::clone(&pool.cfg), Arc::clone(&pool.shared))
                }))
                .unwrap_or_else(|_| Err(RemoteError::Other("the login thread panicked".into())));
                let mut st = pool.lock();
                st.connecting -= 1;
                if r.is_ok() {
                    // Logins racing a 421 may have lowered the limit below what the server
                    // just took.
                    let established = st.total - st.connecting;
                    if established > st.limit && established <= pool.cfg.connections {
                        st.limit = established;
                    }
                }
                pool.tell_limit(&mut st);
                let r = match ticket.and_then(|t| st.logins.get_mut(&t)) {
                    Some(slot) => {
                        *slot = Some(r);
                        None
                    }
                    None => Some(r),
                };
                match r {
                    None => {}
                    Some(Ok(mut s)) => {
                        drop(st);
                        s.start_preopen();
                        s.settle();
                        st = pool.lock();
                        st.idle.push((s, Instant::now()));
                    }
                    Some(Err(e)) => {
                        st.total -= 1;
                        if is_too_many(&e) {
                            pool.shrink(&mut st, &e);
                        } else {
                            log::debug!("a spare connection failed: {e}");
                        }
                    }
                }
                drop(st);
                pool.freed.notify_all();
            });
        if spawned.is_err() {
            st.total -= 1;
            st.connecting -= 1;
        }
        spawned.is_ok()
    }

    fn conn(self: &Arc<Self>, s: Session, usage: Use, reused: bool, deadline: Instant) -> Conn {
        Conn {
            pool: Arc::clone(self),
            session: Some(s),
            usage,
            reused,
            handed_off: false,
            deadline,
        }
    }

    fn put_back(&self, mut s: Option<Session>, usage: Use) {
        if let Some(sess) = s.as_mut().filter(|x| x.suspect && !x.dead) {
            // An unexpected reply: make sure the connection is still in step before reuse
            // (within what is left of the operation that got it, when it had a deadline).
            if sess.noop() {
                sess.suspect = false;
            } else {
                log::debug!("a connection failed its NOOP check after an error; replacing it");
                sess.dead = true;
            }
        }
        if let Some(sess) = s.as_mut() {
            sess.ctl.set_limit(None);
            if !sess.dead {
                // A connection given back healthy: an operation ended, the server answers.
                self.shared.progress.bump();
            }
        }
        let mut st = self.lock();
        if usage == Use::Stream {
            st.streams = st.streams.saturating_sub(1);
        }
        let gone = match s {
            Some(s) if !s.dead => {
                st.idle.push((s, Instant::now()));
                None
            }
            s => {
                st.total = st.total.saturating_sub(1);
                s
            }
        };
        let old = prune(&mut st);
        drop(st);
        if let Some(s) = gone {
            s.discard();
        }
        self.freed.notify_all();
        close(old);
    }

    /// Closes every idle connection with QUIT (at unmount), in parallel.
    pub fn shutdown(&self) {
        let idle: Vec<_> = {
            let mut st = self.lock();
            let idle: Vec<_> = st.idle.drain(..).collect();
            st.total -= idle.len();
            idle
        };
        // All at once: one after another, unmounting would take a round trip per connection.
        // A session whose thread cannot start is dropped: closed without QUIT.
        std::thread::scope(|scope| {
            for (s, _) in idle {
                let _ = std::thread::Builder::new().spawn_scoped(scope, move || s.quit());
            }
        });
    }

    /// (connections now, limit) for diagnostics and tests.
    pub fn stats(&self) -> (usize, usize) {
        let st = self.lock();
        (st.total, st.limit)
    }
}

/// Closes connections taken out of the pool (QUIT, in a thread of its own: it waits for its
/// reply, and the caller is a request).
fn close(old: Vec<Session>) {
    if old.is_empty() {
        return;
    }
    log::debug!(
        "closing {} connection(s) idle for {IDLE_CLOSE:?}",
        old.len()
    );
    let _ = std::thread::Builder::new()
        .name("ftpfs-quit".into())
        .spawn(move || old.into_iter().for_each(Session::quit));
}

/// Takes out the idle connections unused for [`IDLE_CLOSE`] beyond the [`KEEP_IDLE`] most
/// recently used ones (they are no longer counted), for the caller to close.
fn prune(st: &mut State) -> Vec<Session> {
    let mut old = vec![];
    while st.idle.len() > KEEP_IDLE {
        let oldest = st
            .idle
            .iter()
            .enumerate()
            .min_by_key(|(_, (_, since))| *since)
            .filter(|(_, (_, since))| since.elapsed() > IDLE_CLOSE)
            .map(|(i, _)| i);
        let Some(i) = oldest else { break };
        old.push(st.idle.swap_remove(i).0);
        st.total -= 1;
    }
    old
}

/// The server refused one more login: 421 (too many connections), or a 530 for credentials
/// that other connections of this pool logged in with (pure-ftpd and proftpd say "too many
/// users/clients" with 530; callers only treat this as a limit while connections exist).
fn is_too_many(e: &RemoteError) -> bool {
    is_421(e) || (matches!(e, RemoteError::PermissionDenied(_)) && e.code() == Some(530))
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 * u64::from(attempt * attempt))
}

impl Conn {
    /// Starts the operation this connection was taken for: every wait on it from now on
    /// ends by [`Conn::deadline`].
    pub fn begin(&mut self) {
        let d = self.deadline;
        self.session().ctl.set_limit(Some(d));
    }

    /// The operation now runs without a deadline of its own (an open stream: its waits are
    /// bounded by inactivity, each reply by `timeout`).
    pub fn unbounded(&mut self) {
        self.session().ctl.set_limit(None);
    }

    /// See [`Pool::wanted`].
    pub fn wanted(&self) -> Wanted {
        self.pool.wanted()
    }

    pub fn session(&mut self) -> &mut Session {
        // Present from creation until drop.
        self.session
            .as_mut()
            .unwrap_or_else(|| unreachable!("session taken before drop"))
    }
}

impl Conn {
    /// Gives the connection back after asking for its next passive data connection in the
    /// background (EPSV/PASV, then the TCP handshake, which goes on in a thread of its own
    /// after the connection is back): off the critical path of the next transfer, which then
    /// costs one round trip.
    pub fn recycle(mut self) {
        let worth = self
            .session
            .as_ref()
            .is_some_and(|s| !s.dead && !s.suspect && !s.has_ready());
        // Under load (someone waits for a connection) the session goes back at once.
        if !worth || self.pool.lock().waiting > 0 {
            return;
        }
        let Some(mut s) = self.session.take() else {
            return;
        };
        s.ctl.set_limit(None);
        let pool = Arc::clone(&self.pool);
        let usage = self.usage;
        // The slot stays accounted while the thread runs: the thread gives it back together
        // with the session; this handle (now without a session) must not do it a second time.
        self.handed_off = true;
        let spawned = std::thread::Builder::new()
            .name("ftpfs-preopen".into())
            .spawn(move || {
                s.start_preopen();
                s.settle();
                pool.put_back(Some(s), usage);
            });
        if spawned.is_err() {
            // The session went with the closure; account the slot as gone.
            self.pool.put_back(None, self.usage);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_only_moves_forward() {
        let p = Progress::default();
        let before = p.last();
        std::thread::sleep(Duration::from_millis(20));
        p.bump();
        let after = p.last();
        assert!(
            after >= before + Duration::from_millis(15),
            "{before:?} {after:?}"
        );
        assert!(after <= Instant::now());
    }

    #[test]
    fn refusals_of_one_more_login() {
        use super::super::login::login_refused;
        use super::super::session::classify_reply;
        let login = |code: u32, text: &str| {
            login_refused(classify_reply(code, text, "login to h:21 as u failed"))
        };
        assert!(is_too_many(&classify_reply(
            421,
            "Too many connections",
            "connection to h:21"
        )));
        assert!(is_too_many(&login(
            530,
            "Sorry, the maximum number of clients is reached"
        )));
        assert!(!is_too_many(&RemoteError::Connection(
            "cannot connect to h:4210: refused".into()
        )));
        assert!(!is_too_many(&login(550, "no")));
        assert!(!is_too_many(&RemoteError::Other(": 421".into())));
    }
}
