//! Waiting for our own pool is not a network timeout: with a server that takes one
//! connection, eight parallel readers all succeed although most of them wait longer than
//! `timeout` for the connection (the pool makes progress meanwhile); a request waits only as
//! long as something moves.

use std::time::{Duration, Instant};

use super::{assert_within, deadline, errno, still_works, timed, timeout_opt};
use crate::common::badftp::{Fault, Rule};
use crate::mount::harness::{Mount, pattern};

#[test]
fn with_one_connection_eight_parallel_readers_all_succeed() {
    let srv = super::server();
    srv.set_max_connections(Some(1));
    let files: Vec<Vec<u8>> = (0..8).map(|i| pattern(256 << 10, 100 + i)).collect();
    for (i, f) in files.iter().enumerate() {
        srv.put_file(format!("/f{i}.bin"), f);
    }
    let m = Mount::of_bad(&srv, &[&timeout_opt()]);
    // Every transfer takes 1.5 s before its data flows: eight of them, one at a time, take
    // 12 s, far beyond the 5 s timeout for the last ones to get the connection.
    srv.on("RETR", Fault::Delay(Duration::from_millis(1500)));
    let start = Instant::now();
    let readers: Vec<_> = (0..8)
        .map(|i| {
            let p = m.p(&format!("f{i}.bin"));
            std::thread::spawn(move || timed(&format!("cat f{i}.bin"), move || std::fs::read(p)))
        })
        .collect();
    let mut failed = vec![];
    for (i, r) in readers.into_iter().enumerate() {
        let (r, took) = r.join().expect("join");
        match r {
            Ok(data) => assert!(data == files[i], "f{i}.bin differs"),
            Err(e) => failed.push(format!("f{i}.bin after {took:?}: {e}")),
        }
    }
    eprintln!(
        "8 parallel readers over one connection: {:.1} s, peak {} connections",
        start.elapsed().as_secs_f64(),
        srv.peak_connections()
    );
    assert!(failed.is_empty(), "{failed:?}\n{}", m.log());
    assert_eq!(srv.peak_connections(), 1);
    still_works(&m, &srv);
}

/// The one connection is held by a download whose data never comes (nothing moves): a
/// listing waiting for the pool ends within the deadline.
#[test]
fn a_pool_wait_with_nothing_moving_ends_within_the_timeout() {
    let srv = super::server();
    srv.set_max_connections(Some(1));
    srv.put_file("/stuck.bin", vec![1u8; 100_000]);
    srv.put_file("/d/f", "x");
    let m = Mount::of_bad(&srv, &[&timeout_opt()]);
    srv.add(Rule::on("RETR", Fault::StallData));
    let p = m.p("stuck.bin");
    let reader = std::thread::spawn(move || timed("cat stuck.bin", move || std::fs::read(p)));
    super::wait_for_line(&srv, "RETR");
    let d = m.p("d");
    let (r, took) = timed("ls d (waiting for the pool)", move || {
        std::fs::read_dir(d).map(|d| d.count())
    });
    assert_within(
        "ls while the only connection is stuck",
        took,
        deadline(),
        &m,
    );
    // Either the listing got the connection after all, or it timed out; nothing else (an
    // immediate EAGAIN/EIO would mean the wait did not wait).
    if let Err(e) = &r {
        eprintln!("ls d: {e}");
        assert_eq!(e.raw_os_error(), Some(libc::ETIMEDOUT), "ls d: {e}");
        assert!(
            took >= Duration::from_secs(super::TIMEOUT) / 2,
            "ls d failed after only {took:?}: {e}"
        );
    }
    let (r2, took2) = reader.join().expect("join");
    assert_eq!(errno("cat of a stalled download", r2), libc::ETIMEDOUT);
    assert_within("cat of a stalled download", took2, deadline(), &m);
    still_works(&m, &srv);
}
