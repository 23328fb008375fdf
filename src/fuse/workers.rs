//! The threads that run the kernel's requests. fuser reads requests on a fixed number of
//! threads, each with a request buffer of 16 MiB of which a write request touches up to
//! `max_write` bytes that then stay resident for the thread's life; so the adapter reads
//! requests on one thread ([`crate::memory::sizing::RECEIVERS`]) and runs every request that
//! may wait (on the network, on a handle's lock, on the memory budget) here.
//!
//! Invariants:
//! - As many threads as the work needs, up to `max`: a thread is started only when a job is
//!   queued and fewer threads are idle than jobs wait; a thread idle for [`IDLE`] ends, so
//!   an idle mount has none. Their stacks are [`STACK`] bytes (not the 2 MiB default).
//! - A thread waiting for memory or a connection does not count against `max`
//!   (`crate::blocking`): what it waits for may be held by queued jobs (writes carry their
//!   data; an upload holding a connection needs its next write to run), which need a thread
//!   to run. Once the wait ends, a thread beyond the limit ends after its job.
//! - The last thread to end calls the pool's `on_idle` (the core drops stale listings and
//!   gives the heap's free memory back): after a burst, an idle mount returns to about its
//!   memory before it.
//! - Jobs start in the order they were queued. Queuing never waits: the receiving thread
//!   goes back to the kernel at once (the data of a queued write is in a buffer of the
//!   budget, taken by the receiving thread, so the budget bounds what the queue holds).
//! - A job that panics is logged; its reply, dropped unanswered, tells the kernel EIO
//!   (fuser's reply types answer on drop), and its thread goes on.
//! - When no thread can be started and none exists, the job runs on the caller's thread.
//! - [`Workers::wait_idle`] returns once every queued job has run (the session's end waits
//!   for the requests still running, as it did for fuser's own threads).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// A worker idle this long ends.
#[cfg(not(test))]
pub const IDLE: Duration = Duration::from_secs(10);
#[cfg(test)]
pub const IDLE: Duration = Duration::from_millis(200);

/// Stack of a worker thread: requests go through the core, the FTP layer and TLS (rustls),
/// none of which recurses; a few hundred KiB is ample.
pub const STACK: usize = 512 << 10;

type Job = Box<dyn FnOnce() + Send>;
type OnIdle = Box<dyn Fn() + Send + Sync>;

/// A pool of worker threads that grows with the work and shrinks when idle.
pub struct Workers {
    inner: Arc<Inner>,
}

struct Inner {
    max: usize,
    on_idle: OnIdle,
    st: Mutex<State>,
    cv: Condvar,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
    /// Jobs running now.
    running: usize,
    /// Highest number of threads at once.
    high: usize,
    /// Threads waiting for memory or a connection (`crate::blocking`): as many more may run.
    blocked: usize,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Workers {
    /// A pool of at most `max` threads (none started yet); `on_idle` runs when the last
    /// thread ends, idle.
    pub fn new(max: usize, on_idle: impl Fn() + Send + Sync + 'static) -> Workers {
        Workers {
            inner: Arc::new(Inner {
                max: max.max(1),
                on_idle: Box::new(on_idle),
                st: Mutex::new(State::default()),
                cv: Condvar::new(),
            }),
        }
    }

    /// Runs `job` on a worker thread.
    pub fn run(&self, job: impl FnOnce() + Send + 'static) {
        let mut st = lock(&self.inner.st);
        st.queue.push_back(Box::new(job));
        if st.idle > 0 {
            self.inner.cv.notify_one();
        }
        grow(&self.inner, st, true);
    }

    /// Waits until no job is queued or running, at most `limit`; false when some still are.
    pub fn wait_idle(&self, limit: Duration) -> bool {
        let end = std::time::Instant::now() + limit;
        let mut st = lock(&self.inner.st);
        while !st.queue.is_empty() || st.running > 0 {
            let left = end.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            st = self
                .inner
                .cv
                .wait_timeout(st, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        true
    }

    /// Threads now, and the most there have been.
    #[cfg(test)]
    pub fn threads(&self) -> (usize, usize) {
        let st = lock(&self.inner.st);
        (st.threads, st.high)
    }
}

/// Starts a thread when jobs wait that no idle thread will take and the limit allows one
/// more (the limit grows by the threads waiting for memory). `last_resort`: when no thread
/// can be started and none exists, the queued jobs run here (not from a waiting worker:
/// its pool has threads).
fn grow(inner: &Arc<Inner>, mut st: MutexGuard<'_, State>, last_resort: bool) {
    if st.queue.len() <= st.idle || st.threads >= inner.max + st.blocked {
        return;
    }
    st.threads += 1;
    st.high = st.high.max(st.threads);
    drop(st);
    let mine = Arc::clone(inner);
    let spawned = std::thread::Builder::new()
        .name("ftpfs-worker".into())
        .stack_size(STACK)
        .spawn(move || work(&mine));
    if let Err(e) = spawned {
        let mut st = lock(&inner.st);
        st.threads -= 1;
        log::warn!("cannot start a worker thread: {e}");
        if st.threads == 0 && last_resort {
            // Nobody would run it: run what waits here.
            let jobs: Vec<Job> = st.queue.drain(..).collect();
            drop(st);
            for j in jobs {
                j();
            }
        }
    }
}

/// What a worker thread tells the pool about its waits (memory, connections).
struct Waits(std::sync::Weak<Inner>);

impl crate::blocking::Pool for Waits {
    fn enter(&self) {
        if let Some(inner) = self.0.upgrade() {
            let mut st = lock(&inner.st);
            st.blocked += 1;
            grow(&inner, st, false);
        }
    }

    fn leave(&self) {
        if let Some(inner) = self.0.upgrade() {
            lock(&inner.st).blocked -= 1;
        }
    }
}

fn work(inner: &Arc<Inner>) {
    crate::blocking::set_pool(Arc::new(Waits(Arc::downgrade(inner))));
    let mut st = lock(&inner.st);
    loop {
        if let Some(job) = st.queue.pop_front() {
            st.running += 1;
            drop(st);
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                log::error!("a request panicked (answered EIO)");
            }
            st = lock(&inner.st);
            st.running -= 1;
            if st.running == 0 && st.queue.is_empty() {
                // Someone may wait in `wait_idle`.
                inner.cv.notify_all();
            }
            if st.threads > inner.max + st.blocked {
                // Started while others waited for memory; they are back: one too many.
                st.threads -= 1;
                return;
            }
            continue;
        }
        st.idle += 1;
        let (g, t) = inner
            .cv
            .wait_timeout(st, IDLE)
            .unwrap_or_else(|p| p.into_inner());
        st = g;
        st.idle -= 1;
        if t.timed_out() && st.queue.is_empty() {
            st.threads -= 1;
            let last = st.threads == 0;
            drop(st);
            if last {
                (inner.on_idle)();
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::eventually;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Instant;

    #[test]
    fn threads_grow_with_waiting_jobs_up_to_the_limit_and_end_when_idle() {
        let idled = Arc::new(AtomicUsize::new(0));
        let w = Workers::new(4, {
            let idled = Arc::clone(&idled);
            move || {
                idled.fetch_add(1, Ordering::SeqCst);
            }
        });
        let (release, gate) = mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let started = Arc::new(AtomicUsize::new(0));
        for _ in 0..6 {
            let (gate, started) = (Arc::clone(&gate), Arc::clone(&started));
            w.run(move || {
                started.fetch_add(1, Ordering::SeqCst);
                let _ = gate.lock().expect("gate").recv();
            });
        }
        // Four run (the limit), two wait in the queue.
        eventually("four running", || started.load(Ordering::SeqCst) == 4);
        assert_eq!(lock(&w.inner.st).queue.len(), 2, "two queued");
        assert_eq!(started.load(Ordering::SeqCst), 4);
        assert_eq!(w.threads(), (4, 4));
        assert!(
            !w.wait_idle(Duration::from_millis(30)),
            "idle while jobs run"
        );
        for _ in 0..6 {
            release.send(()).expect("release");
        }
        assert!(w.wait_idle(Duration::from_secs(5)), "jobs still running");
        assert_eq!(started.load(Ordering::SeqCst), 6);
        // Idle threads end; the last one says the pool is idle.
        eventually("threads ended", || w.threads().0 == 0);
        eventually("idle called", || idled.load(Ordering::SeqCst) == 1);
    }

    #[test]
    fn a_quick_job_after_another_reuses_the_idle_thread() {
        let w = Workers::new(8, || ());
        for _ in 0..20 {
            let (tx, rx) = mpsc::channel();
            w.run(move || tx.send(()).expect("send"));
            rx.recv_timeout(Duration::from_secs(5)).expect("ran");
            // Let the thread go idle before the next job.
            eventually("idle", || lock(&w.inner.st).idle == 1);
        }
        assert_eq!(w.threads().1, 1, "one job at a time needs one thread");
    }

    #[test]
    fn a_panicking_job_does_not_take_its_thread_or_the_pool_down() {
        let w = Workers::new(1, || ());
        w.run(|| panic!("boom (expected by this test)"));
        let (tx, rx) = mpsc::channel();
        w.run(move || tx.send(7).expect("send"));
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).expect("ran"), 7);
        assert_eq!(w.threads().0, 1);
    }

    #[test]
    fn jobs_waiting_for_memory_let_the_queued_jobs_that_hold_it_run() {
        // Two threads at most; both take jobs that wait for memory, which the queued
        // "writes" hold until they run. The waits let the pool start threads for them.
        let budget = crate::memory::Budget::new(4 << 16);
        let w = Workers::new(2, || ());
        let (done_tx, done) = mpsc::channel::<&'static str>();
        let held = Arc::new(AtomicUsize::new(0));
        for _ in 0..2 {
            let (budget, done_tx, held) = (budget.clone(), done_tx.clone(), Arc::clone(&held));
            w.run(move || {
                // Wait until the writes hold the whole budget, then ask for some.
                eventually("writes queued", || held.load(Ordering::SeqCst) == 4);
                let b = budget.take(1 << 16);
                drop(b);
                done_tx.send("read").expect("send");
            });
        }
        for _ in 0..4 {
            let buf = budget.take(1 << 16);
            held.fetch_add(1, Ordering::SeqCst);
            let done_tx = done_tx.clone();
            w.run(move || {
                drop(buf);
                done_tx.send("write").expect("send");
            });
        }
        let t = Instant::now();
        let mut got = vec![];
        for _ in 0..6 {
            got.push(
                done.recv_timeout(Duration::from_secs(5))
                    .expect("a job never ran"),
            );
        }
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        assert_eq!(got.iter().filter(|j| **j == "write").count(), 4);
        assert!(w.wait_idle(Duration::from_secs(5)));
        // Back within the limit once nobody waits.
        eventually("extra threads ended", || w.threads().0 <= 2);
    }
}
