//! The mount's memory budget: one limit for every buffer that carries file data through the
//! daemon (read-ahead chunks, upload queues, write requests on their way to an upload, the
//! buffers of staged-copy transfers), so that memory stays bounded whatever the load.
//! [`sizing`] splits `-o memory_budget` between this and the FUSE request buffers.
//!
//! Invariants:
//! - The bytes granted (live [`Buf`]s, counted by capacity) plus the spares kept for reuse
//!   never exceed the limit. The one exception is a request larger than the whole limit,
//!   granted only while nothing else is (callers size requests to [`Budget::max_grant`]).
//! - Waits are first come, first served: [`Budget::take`] is granted in ticket order, and
//!   [`Budget::try_take`] (for what can be done without, like read-ahead) fails while anyone
//!   waits, so it never jumps the queue.
//! - A waiter at the head of the queue asks the holders of memory that can be dropped
//!   ([`Reclaim`]: read-ahead) to give it back: first what is cheap to lose, then, after
//!   [`HARD_AFTER`], more. Nothing is called while the budget's lock is held, and a holder
//!   never waits on the budget while it holds its own lock, so reclaiming cannot deadlock.
//! - Progress: no caller waits in [`Budget::take`] while it holds a grant (it may hold what
//!   it got from [`Budget::try_take`] only if that is reclaimable), and every holder of
//!   memory that is not reclaimable frees it without new grants (an upload queue drains to
//!   the network, a request ends); hence the head waiter is served once enough has been
//!   given back. A request can only end on a thread: a waiter tells its thread pool
//!   ([`crate::blocking`]), which then may start another thread for the requests queued behind it
//!   (queued writes hold their data in buffers of the budget), and no caller waits in
//!   [`Budget::take`] while it holds a lock that a holder of memory may wait for (staged
//!   copies take their buffers with [`Budget::try_take`], see `fs/staged.rs`).
//! - Buffers given back are kept as spares for reuse (allocating and touching a fresh 1 MiB
//!   buffer per chunk costs page faults on every request) and freed after [`SPARE_TTL`]
//!   unused, by a thread that exists only while spares do: an idle mount holds no buffers.

mod block;
pub mod sizing;
#[cfg(test)]
mod tests;

use block::Mem;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// A waiter that has waited this long asks holders to give back more (see [`Reclaim`]).
pub const HARD_AFTER: Duration = Duration::from_millis(20);
/// Spares unused this long are freed.
#[cfg(not(test))]
pub const SPARE_TTL: Duration = Duration::from_secs(2);
#[cfg(test)]
pub const SPARE_TTL: Duration = Duration::from_millis(200);
/// Requests of at least this size are rounded to a multiple of it and their buffers kept
/// for reuse; smaller ones come and go with malloc.
const POOLED: usize = 64 << 10;
/// How often a waiter looks again (reclaim, or a holder that freed without a wake-up).
const RECHECK: Duration = Duration::from_millis(10);

/// Gives the heap's free memory back to the system. glibc keeps freed blocks below its mmap
/// threshold in its arenas (listings, names, small requests), resident, until the top of an
/// arena is free; `malloc_trim` returns every free page. Called when the mount has gone idle
/// (no request for a while), not on the request path.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only gives free pages back; it is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A holder of memory it can do without (read-ahead), asked by waiters to give it back.
pub trait Reclaim: Send + Sync {
    /// Drop what can be dropped: with `hard` false only what is cheap to lose (data already
    /// delivered), with `hard` true also data not yet asked for (a download then resumes
    /// later where its reader is). Must not wait: use `try_lock`, skip when busy.
    fn reclaim(&self, hard: bool);
}

/// The budget (cheap to clone: every clone is the same budget).
#[derive(Clone)]
pub struct Budget {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Budget({} of {} bytes)", self.used(), self.limit())
    }
}

struct Inner {
    limit: usize,
    st: Mutex<State>,
    cv: Condvar,
    holders: Mutex<Vec<Weak<dyn Reclaim>>>,
    /// Registrations alive ([`Registration`]): read on every read of every stream
    /// ([`Budget::share`]), so a counter rather than the list under its lock.
    registered: AtomicUsize,
}

#[derive(Default)]
struct State {
    /// Capacity of the live buffers.
    granted: usize,
    /// Buffers given back, newest last, with the time they were given back.
    spares: Vec<(Mem, Instant)>,
    spare_bytes: usize,
    /// The ticket the next waiter takes.
    next_ticket: u64,
    /// The ticket served next (waiters: `next_ticket - serving`, [`State::waiting`]).
    serving: u64,
    /// Highest `granted + spare_bytes` seen.
    high: usize,
    /// A thread frees old spares.
    reaper: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The capacity a request of `n` bytes gets.
fn class(n: usize) -> usize {
    let n = n.max(1);
    if n >= POOLED {
        n.div_ceil(POOLED) * POOLED
    } else {
        n.div_ceil(4096) * 4096
    }
}

impl State {
    /// Callers waiting their turn in [`Budget::take`].
    fn waiting(&self) -> u64 {
        self.next_ticket - self.serving
    }

    fn fits(&self, limit: usize, cap: usize) -> bool {
        self.granted + cap <= limit || self.granted == 0
    }

    /// Grants `cap` bytes: takes a spare of that size or makes room among the spares for a
    /// new buffer. Returns the buffer to reuse (if any) and the spares to free.
    fn grant(&mut self, limit: usize, cap: usize) -> (Option<Mem>, Vec<Mem>) {
        // (The capacity granted may be a reused spare's, up to twice what was asked.)
        // The smallest spare that fits, if not twice too large.
        let reuse = self
            .spares
            .iter()
            .enumerate()
            .filter(|(_, (v, _))| {
                (cap..2 * cap).contains(&v.len()) && self.granted + v.len() <= limit
            })
            .min_by_key(|(_, (v, _))| v.len())
            .map(|(i, _)| i)
            .map(|i| self.spares.remove(i).0);
        let cap = reuse.as_ref().map_or(cap, Mem::len);
        self.granted += cap;
        let mut freed = Vec::new();
        match &reuse {
            Some(v) => self.spare_bytes -= v.len(),
            None => {
                // Oldest first.
                while self.granted + self.spare_bytes > limit && !self.spares.is_empty() {
                    let (v, _) = self.spares.remove(0);
                    self.spare_bytes -= v.len();
                    freed.push(v);
                }
            }
        }
        self.high = self.high.max(self.granted + self.spare_bytes);
        (reuse, freed)
    }
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Budget {
        Budget {
            inner: Arc::new(Inner {
                limit: limit.max(1),
                st: Mutex::new(State::default()),
                cv: Condvar::new(),
                holders: Mutex::new(Vec::new()),
                registered: AtomicUsize::new(0),
            }),
        }
    }

    /// A budget that never waits (tests of other modules, tools).
    pub fn unlimited() -> Budget {
        Budget::new(usize::MAX / 4)
    }

    /// The limit, in bytes.
    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// The largest request a caller should make: half the limit (so that two holders can
    /// always make progress side by side).
    pub fn max_grant(&self) -> usize {
        (self.inner.limit / 2).max(4096)
    }

    /// Bytes granted and kept as spares now.
    pub fn used(&self) -> usize {
        let st = lock(&self.inner.st);
        st.granted + st.spare_bytes
    }

    /// Bytes granted now (live buffers, without spares).
    pub fn granted(&self) -> usize {
        lock(&self.inner.st).granted
    }

    /// The most `used` has been.
    pub fn high(&self) -> usize {
        lock(&self.inner.st).high
    }

    /// Whether someone waits for memory (holders of memory they can do without should not
    /// take more, and give back what they can).
    pub fn pressed(&self) -> bool {
        lock(&self.inner.st).waiting() > 0
    }

    /// Holders whose [`Registration`] is alive.
    pub fn holders(&self) -> usize {
        self.inner.registered.load(Ordering::Relaxed)
    }

    /// A fair share of the limit for one of the registered holders (no lock: asked at every
    /// read).
    pub fn share(&self) -> usize {
        self.inner.limit / self.holders().max(1)
    }

    /// Registers a holder of memory it can give back when someone waits; it counts for
    /// [`Budget::share`] until the returned registration is dropped.
    #[must_use = "the holder counts only while the registration lives"]
    pub fn register(&self, holder: Weak<dyn Reclaim>) -> Registration {
        let mut h = lock(&self.inner.holders);
        h.retain(|w| w.strong_count() > 0);
        h.push(holder);
        self.inner.registered.fetch_add(1, Ordering::Relaxed);
        Registration(Arc::clone(&self.inner))
    }

    /// A buffer of `n` bytes (zeros, or old contents of a reused buffer), when it can be had
    /// now and nobody waits.
    pub fn try_take(&self, n: usize) -> Option<Buf> {
        let cap = class(n);
        let mut st = lock(&self.inner.st);
        if st.waiting() > 0 || !st.fits(self.inner.limit, cap) {
            return None;
        }
        let (reuse, freed) = st.grant(self.inner.limit, cap);
        drop(st);
        drop(freed);
        Some(self.buf(reuse, cap, n))
    }

    /// A buffer of `n` bytes; waits (first come, first served) until the budget has room.
    pub fn take(&self, n: usize) -> Buf {
        let cap = class(n);
        let inner = &self.inner;
        let st = lock(&inner.st);
        if st.waiting() == 0 && st.fits(inner.limit, cap) {
            let mut st = st;
            let (reuse, freed) = st.grant(inner.limit, cap);
            drop(st);
            drop(freed);
            return self.buf(reuse, cap, n);
        }
        drop(st);
        // The thread's pool may start another thread meanwhile (`blocking`).
        crate::blocking::region(|| self.take_in_turn(cap, n))
    }

    /// [`Budget::take`] when the buffer cannot be had at once: waits its turn.
    fn take_in_turn(&self, cap: usize, n: usize) -> Buf {
        let inner = &self.inner;
        let mut st = lock(&inner.st);
        let ticket = st.next_ticket;
        st.next_ticket += 1;
        let since = Instant::now();
        let mut reclaimed: Option<Instant> = None;
        loop {
            if st.serving == ticket && st.fits(inner.limit, cap) {
                st.serving += 1;
                let (reuse, freed) = st.grant(inner.limit, cap);
                inner.cv.notify_all();
                drop(st);
                drop(freed);
                return self.buf(reuse, cap, n);
            }
            if st.serving == ticket && reclaimed.is_none_or(|t| t.elapsed() >= RECHECK) {
                // The head of the queue asks holders to give back (outside the lock: their
                // buffers come back through `give_back`).
                drop(st);
                self.reclaim_all(since.elapsed() >= HARD_AFTER);
                reclaimed = Some(Instant::now());
                st = lock(&inner.st);
                continue;
            }
            st = inner
                .cv
                .wait_timeout(st, RECHECK)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// A copy of `data` in a buffer of the budget (waits like [`Budget::take`]).
    pub fn copy_of(&self, data: &[u8]) -> Buf {
        let mut b = self.take(data.len());
        b.copy_from_slice(data);
        b
    }

    fn buf(&self, reuse: Option<Mem>, cap: usize, n: usize) -> Buf {
        Buf {
            mem: reuse.unwrap_or_else(|| Mem::new(cap, cap >= POOLED)),
            len: n,
            budget: Some(Arc::clone(&self.inner)),
        }
    }

    fn reclaim_all(&self, hard: bool) {
        let holders: Vec<Arc<dyn Reclaim>> = lock(&self.inner.holders)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for h in holders {
            h.reclaim(hard);
        }
    }
}

impl Inner {
    /// A buffer comes back: kept as a spare when it is of a pooled size, else freed.
    fn give_back(self: &Arc<Inner>, mem: Mem) {
        let cap = mem.len();
        let mut st = lock(&self.st);
        st.granted -= cap;
        let keep = cap >= POOLED
            && st.granted + st.spare_bytes + cap <= self.limit
            && st.spare_bytes + cap <= self.limit / 8;
        let start_reaper = keep && !st.reaper;
        let freed = if keep {
            st.spare_bytes += cap;
            st.spares.push((mem, Instant::now()));
            None
        } else {
            Some(mem)
        };
        if start_reaper {
            st.reaper = true;
        }
        if st.waiting() > 0 {
            self.cv.notify_all();
        }
        drop(st);
        drop(freed);
        if start_reaper {
            let weak = Arc::downgrade(self);
            let spawned = std::thread::Builder::new()
                .name("ftpfs-spares".into())
                .stack_size(64 << 10)
                .spawn(move || reap(weak));
            if spawned.is_err() {
                // No thread: the spares are freed by the next grants that need their room.
                lock(&self.st).reaper = false;
            }
        }
    }
}

/// Frees spares unused for [`SPARE_TTL`]; ends when none are left (or the budget is gone).
fn reap(weak: Weak<Inner>) {
    loop {
        std::thread::sleep(SPARE_TTL / 2);
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let mut st = lock(&inner.st);
        let (old, young): (Vec<_>, Vec<_>) = std::mem::take(&mut st.spares)
            .into_iter()
            .partition(|(_, t)| t.elapsed() >= SPARE_TTL);
        st.spares = young;
        st.spare_bytes -= old.iter().map(|(v, _)| v.len()).sum::<usize>();
        let done = st.spares.is_empty();
        if done {
            st.reaper = false;
        }
        drop(st);
        drop(old);
        if done {
            return;
        }
    }
}

/// A buffer granted by a [`Budget`]; its memory goes back to the budget when dropped.
/// Dereferences to its first `len` bytes.
pub struct Buf {
    /// All of it initialised, so that reuse needs no zeroing.
    mem: Mem,
    len: usize,
    budget: Option<Arc<Inner>>,
}

impl Buf {
    /// A buffer outside any budget (for callers that have none: tests, tools).
    pub fn unbudgeted(vec: Vec<u8>) -> Buf {
        Buf {
            len: vec.len(),
            mem: Mem::Heap(vec),
            budget: None,
        }
    }

    /// The bytes it can hold.
    pub fn capacity(&self) -> usize {
        self.mem.len()
    }

    /// Shortens it (the memory stays granted until the buffer is dropped).
    pub fn truncate(&mut self, n: usize) {
        self.len = self.len.min(n);
    }

    /// Sets the length anywhere up to the capacity (bytes beyond the old length hold
    /// whatever they held).
    pub fn set_len(&mut self, n: usize) {
        self.len = n.min(self.mem.len());
    }
}

impl std::ops::Deref for Buf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.mem.as_slice()[..self.len]
    }
}

impl std::ops::DerefMut for Buf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.mem.as_mut_slice()[..self.len]
    }
}

impl std::fmt::Debug for Buf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Buf({} of {} bytes)", self.len, self.mem.len())
    }
}

/// A holder's place in [`Budget::share`] (see [`Budget::register`]).
pub struct Registration(Arc<Inner>);

impl Drop for Registration {
    fn drop(&mut self) {
        self.0.registered.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        if let Some(inner) = self.budget.take() {
            inner.give_back(std::mem::take(&mut self.mem));
        }
    }
}
