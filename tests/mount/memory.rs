//! The memory budget through a real mount (`-o memory_budget`): a budget of a few MiB, much
//! less than 16 read-ahead windows and 16 upload queues, still completes 16 parallel reads
//! and 16 parallel writes with the right bytes, and the daemon's memory grows by a fraction
//! of what the default budget lets it use.

use std::sync::mpsc;
use std::time::Duration;

use super::harness::{Mount, pattern};
use crate::common::servers::{FtpServer, ServerKind};

const FILES: u64 = 16;
const SIZE: usize = 6 << 20;

/// A field of /proc/PID/status, in kB.
fn status_kb(pid: u32, field: &str) -> u64 {
    super::harness::status_kib(std::path::Path::new(&format!("/proc/{pid}")), field)
}

/// 16 readers and 16 writers at once on `m`; returns the daemon's peak RSS growth (kB).
fn readers_and_writers(srv: &FtpServer, m: &Mount) -> u64 {
    let idle = status_kb(m.pid(), "VmRSS:");
    let (tx, rx) = mpsc::channel::<Result<u64, String>>();
    for i in 0..FILES {
        let (r, w) = (m.p(&format!("r/f{i}.bin")), m.p(&format!("w/f{i}.bin")));
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            let got = std::fs::read(&r).map_err(|e| format!("read {}: {e}", r.display()));
            let r = got.and_then(|d| {
                (d == pattern(SIZE, i))
                    .then_some(i)
                    .ok_or(format!("f{i}.bin: wrong bytes"))
            });
            let _ = tx2.send(r);
        });
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            let r = std::fs::write(&w, pattern(SIZE, 100 + i))
                .map(|()| i)
                .map_err(|e| format!("write {}: {e}", w.display()));
            let _ = tx2.send(r);
        });
    }
    drop(tx);
    for _ in 0..2 * FILES {
        match rx.recv_timeout(Duration::from_secs(180)) {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("{e}; ftpfs log:\n{}", super::harness::tail(&m.log(), 30)),
            Err(_) => panic!(
                "16 readers and 16 writers not done after 180 s (deadlock?); ftpfs log:\n{}",
                super::harness::tail(&m.log(), 30)
            ),
        }
    }
    for i in 0..FILES {
        let on_server = std::fs::read(srv.root.join(format!("w/f{i}.bin"))).expect("server copy");
        assert!(
            on_server == pattern(SIZE, 100 + i),
            "w/f{i}.bin differs on the server"
        );
    }
    status_kb(m.pid(), "VmHWM:").saturating_sub(idle)
}

fn server() -> FtpServer {
    let srv = FtpServer::start(ServerKind::PureFtpd);
    for i in 0..FILES {
        srv.write_file(format!("r/f{i}.bin"), pattern(SIZE, i));
    }
    srv.write_file("w/.keep", "");
    srv
}

#[test]
fn a_budget_of_a_few_mib_serves_16_readers_and_16_writers_correctly() {
    let srv = server();
    let small = Mount::of(&srv, &["memory_budget=4M"]);
    let grew_small = readers_and_writers(&srv, &small);
    drop(small);
    let big = Mount::of(&srv, &[]);
    let grew_big = readers_and_writers(&srv, &big);
    eprintln!("peak RSS growth: {grew_small} kB with memory_budget=4M, {grew_big} kB with 64M");
    // 4M leaves under 3 MiB for data buffers; the rest of the growth is the ~70 threads of
    // 32 transfers (stacks, per-thread malloc arenas), about the same under both budgets.
    assert!(
        grew_small < (4 + 8) << 10,
        "memory grew by {grew_small} kB with memory_budget=4M"
    );
    assert!(
        grew_small + (16 << 10) < grew_big,
        "memory grew by {grew_small} kB with memory_budget=4M, {grew_big} kB with 64M"
    );
}

/// The smallest budget leaves less than one 1 MiB chunk for all the data on its way: reads
/// and writes go through 64-128 KiB buffers, one request at a time where need be.
#[test]
fn the_smallest_budget_below_one_chunk_still_serves_16_readers_and_16_writers() {
    let srv = server();
    let m = Mount::of(&srv, &["memory_budget=1M"]);
    let grew = readers_and_writers(&srv, &m);
    eprintln!("peak RSS growth: {grew} kB with memory_budget=1M");
    // As with 4M above: the budget plus the threads of 32 transfers.
    assert!(
        grew < (1 + 8) << 10,
        "memory grew by {grew} kB with memory_budget=1M"
    );
}

/// Few worker threads (connections=2: 6) and the smallest budget: reads whose read-ahead
/// is starved wait for memory on worker threads while writes queued behind them hold it;
/// the pool runs the writes anyway (a thread waiting for memory does not count), so nothing
/// hangs.
#[test]
fn few_workers_and_the_smallest_budget_serve_16_readers_and_16_writers() {
    let srv = server();
    let m = Mount::of(&srv, &["memory_budget=1M", "connections=2"]);
    let t = std::time::Instant::now();
    let grew = readers_and_writers(&srv, &m);
    let took = t.elapsed();
    // Before waits let other requests run: ETIMEDOUT after 215 s; now a few seconds.
    assert!(took < Duration::from_secs(60), "took {took:?}");
    assert!(
        grew < (1 + 8) << 10,
        "memory grew by {grew} kB with memory_budget=1M"
    );
    eprintln!(
        "16 readers + 16 writers with connections=2, memory_budget=1M: {:?}",
        t.elapsed()
    );
}
