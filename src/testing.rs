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

/// A TCP connection to a local peer that writes `script` (a pause, then bytes; it stops at
/// the first failed write), then keeps the connection open for `hold` and closes it: a
/// server that answers slowly, in pieces, or not at all.
pub fn scripted_peer(script: Vec<(Duration, Vec<u8>)>, hold: Duration) -> std::net::TcpStream {
    use std::io::Write;
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        for (pause, bytes) in script {
            std::thread::sleep(pause);
            if s.write_all(&bytes).is_err() {
                return;
            }
        }
        std::thread::sleep(hold);
    });
    std::net::TcpStream::connect(addr).expect("connect")
}
