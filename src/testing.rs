//! Helpers shared by the unit tests: waiting for a condition or a result with a deadline
//! (never a fixed sleep), failing with what was awaited.

use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Waits until `cond` holds (polling every 2 ms); fails after 5 s.
pub fn eventually(what: &str, cond: impl Fn() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{what}: never happened"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Runs `f` on a thread of its own and returns its result; fails when it takes more than
/// `secs` (a deadlock would otherwise hang the test run).
pub fn within<T: Send + 'static>(
    secs: u64,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("{what}: not done after {secs} s (deadlock?)"))
}
