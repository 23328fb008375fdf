//! A thread that is about to wait for memory says so to the thread pool it belongs to, so
//! that the pool can start another thread for the requests queued behind it.
//!
//! Why: the FUSE worker pool has a limit, and a request that waits in [`super::Budget::take`]
//! occupies one of its threads while it waits for memory that only other requests give back
//! (a queued write holds its data in a buffer of the budget until it runs). With every
//! thread waiting for memory and the writes queued behind them, nothing would ever free it.
//!
//! Invariants:
//! - A thread registers its pool once ([`set_pool`]); threads without one (the receiving
//!   thread, read-ahead and upload threads, tests) wait as before.
//! - [`region`] tells the pool when the wait begins and when it ends, also when the wait
//!   panics (a guard). The pool may run one more thread per thread waiting in a region; the
//!   number of such threads is bounded by the requests the kernel has outstanding, as each
//!   holds no memory while it waits (the budget's rule).

use std::cell::RefCell;
use std::sync::Arc;

/// A pool of threads that wants to know when one of them waits for memory.
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

struct Guard(Option<Arc<dyn Pool>>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            p.leave();
        }
    }
}

/// Runs `wait` (a wait for memory), telling the calling thread's pool before and after.
pub fn region<R>(wait: impl FnOnce() -> R) -> R {
    let pool = POOL.with(|p| p.borrow().clone());
    if let Some(p) = &pool {
        p.enter();
    }
    let _guard = Guard(pool);
    wait()
}
