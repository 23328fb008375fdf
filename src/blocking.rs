//! A thread that is about to wait for something only other requests can give back (memory
//! of the budget, a connection of the pool) says so to the thread pool it belongs to, so
//! that the pool can start another thread for the requests queued behind it.
//!
//! Why: the FUSE worker pool has a limit, and a request that waits occupies one of its
//! threads. A request waiting in [`crate::memory::Budget::take`] may wait for memory that
//! only queued writes give back (they hold their data in buffers of the budget until they
//! run); a request waiting for a connection may wait for an upload to finish, which needs
//! its next write request to run. With every thread waiting and those requests queued behind
//! them, nothing would move until the waits time out.
//!
//! Invariants:
//! - A thread registers its pool once ([`set_pool`]); threads without one (the receiving
//!   thread, read-ahead and upload threads, tests) wait as before.
//! - [`region`] / [`enter`] tell the pool when the wait begins and when it ends, also when
//!   the wait panics (a guard). The pool may run one more thread per thread waiting; the
//!   number of threads is then bounded by the requests the kernel has outstanding (each
//!   waiting thread serves one).

use std::cell::RefCell;
use std::sync::Arc;

/// A pool of threads that wants to know when one of them waits.
pub trait Pool: Send + Sync {
    /// The calling thread begins to wait.
    fn enter(&self);
    /// The calling thread stopped waiting.
    fn leave(&self);
}

thread_local! {
    static POOL: RefCell<Option<Arc<dyn Pool>>> = const { RefCell::new(None) };
}

/// The calling thread belongs to `pool` from now on.
pub fn set_pool(pool: Arc<dyn Pool>) {
    POOL.with(|p| *p.borrow_mut() = Some(pool));
}

/// A wait in progress (see [`enter`]).
pub struct Guard(Option<Arc<dyn Pool>>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            p.leave();
        }
    }
}

/// The calling thread begins to wait; its pool is told when the returned guard is dropped.
#[must_use = "the wait ends when the guard is dropped"]
pub fn enter() -> Guard {
    let pool = POOL.with(|p| p.borrow().clone());
    if let Some(p) = &pool {
        p.enter();
    }
    Guard(pool)
}

/// Runs `wait`, telling the calling thread's pool before and after.
pub fn region<R>(wait: impl FnOnce() -> R) -> R {
    let _guard = enter();
    wait()
}
