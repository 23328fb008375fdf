//! Mount tests against a hostile server (our own `common::badftp`): every request ends
//! within `timeout` plus a margin (trickling listings, dripping and endless replies, transfers
//! the server never answers, a dead server, a process killed while it waits, SIGTERM while a
//! request hangs); input is bounded (endless lines, listings and replies fail with EIO and the
//! daemon's memory stays small); waiting for our own busy pool is not a timeout; connections
//! the server closed are never used again; long names and command lines are refused before
//! anything is sent. Each test asserts the time the request took, its errno, the daemon's
//! memory where input could grow it, and that the mount still works afterwards.

mod dead;
mod deadlines;
mod input;
mod names;
mod pool;
mod shutdown;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::harness::Mount;
use crate::common::badftp::BadFtp;

/// `-o timeout=` of these mounts, in seconds.
pub const TIMEOUT: u64 = 5;
/// What a request may take beyond `timeout` (a loaded 2-core machine, and the kernel's own
/// round trips through the daemon).
pub const MARGIN: Duration = Duration::from_secs(3);

/// The longest a request may take: `timeout` plus the margin.
pub fn deadline() -> Duration {
    Duration::from_secs(TIMEOUT) + MARGIN
}

/// `timeout=5` as a mount option.
pub fn timeout_opt() -> String {
    format!("timeout={TIMEOUT}")
}

/// Runs `f` on a thread of its own and returns its result and how long it took. A call
/// still running after 120 s fails the test (it would otherwise hang the suite: the point
/// of these tests is that nothing hangs).
pub fn timed<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> (T, Duration) {
    let (tx, rx) = std::sync::mpsc::channel();
    let start = Instant::now();
    std::thread::spawn(move || {
        let r = f();
        let _ = tx.send((r, start.elapsed()));
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(r) => {
            eprintln!("{what}: took {:.2} s", r.1.as_secs_f64());
            r
        }
        Err(_) => panic!("{what}: still running after 120 s"),
    }
}

/// The errno of a failed call (panics when it succeeded).
pub fn errno<T: std::fmt::Debug>(what: &str, r: std::io::Result<T>) -> i32 {
    match r {
        Ok(v) => panic!("{what}: succeeded ({v:?}), expected an error"),
        Err(e) => {
            eprintln!("{what}: {e}");
            e.raw_os_error().unwrap_or(-1)
        }
    }
}

/// Asserts that a request ended within `limit`.
pub fn assert_within(what: &str, took: Duration, limit: Duration, m: &Mount) {
    assert!(
        took <= limit,
        "{what} took {:.1} s, more than {:.1} s; ftpfs log tail:\n{}",
        took.as_secs_f64(),
        limit.as_secs_f64(),
        super::harness::tail(&m.log(), 60)
    );
}

/// Memory of the daemon, in KiB: (VmRSS, VmHWM).
pub fn memory(m: &Mount) -> (u64, u64) {
    let proc_dir = std::path::PathBuf::from(format!("/proc/{}", m.pid()));
    (
        super::harness::status_kib(&proc_dir, "VmRSS:"),
        super::harness::status_kib(&proc_dir, "VmHWM:"),
    )
}

/// Asserts that the daemon's peak memory stayed under `mib` MiB.
pub fn assert_memory_under(what: &str, m: &Mount, mib: u64) {
    let (rss, hwm) = memory(m);
    eprintln!("{what}: VmRSS {} MiB, VmHWM {} MiB", rss / 1024, hwm / 1024);
    assert!(
        hwm < mib * 1024,
        "{what}: the daemon's peak memory was {} MiB (limit {mib} MiB)",
        hwm / 1024
    );
}

/// A bad server with `/after/f.txt`, for [`still_works`].
pub fn server() -> BadFtp {
    let srv = BadFtp::start();
    srv.put_file("/after/f.txt", "still here\n");
    srv
}

/// The mount still works: with every fault cleared, a directory not listed before lists, a
/// file reads, and a directory can be made (each within the deadline). The server comes
/// from [`server`].
pub fn still_works(m: &Mount, srv: &BadFtp) {
    srv.clear_faults();
    let dir = m.p("after");
    let (r, took) = timed("after the fault: cat after/f.txt", move || {
        std::fs::read_to_string(dir.join("f.txt"))
    });
    assert_eq!(r.expect("read after the fault"), "still here\n");
    assert_within("cat after the fault", took, deadline(), m);
    let names: Vec<String> = std::fs::read_dir(m.p("after"))
        .expect("ls after the fault")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["f.txt"]);
    let (r, took) = timed("after the fault: mkdir after/made", {
        let p = m.p("after/made");
        move || std::fs::create_dir(p)
    });
    r.expect("mkdir after the fault");
    assert_within("mkdir after the fault", took, deadline(), m);
    assert!(srv.is_dir("/after/made"));
}

/// A directory opened with O_PATH (no listing of it is needed to hold it).
pub fn open_path(base: Option<&OwnedFd>, p: &Path) -> std::io::Result<OwnedFd> {
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).expect("no NUL");
    let at = base.map_or(libc::AT_FDCWD, AsRawFd::as_raw_fd);
    // SAFETY: `c` is a valid C string; the fd returned is owned below.
    let fd = unsafe { libc::openat(at, c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh fd from openat.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Walks `components` below `base` one at a time (so that the path given to the kernel stays
/// short however long the whole path is).
pub fn walk(base: &Path, components: &[String]) -> std::io::Result<OwnedFd> {
    let mut fd = open_path(None, base)?;
    for c in components {
        fd = open_path(Some(&fd), Path::new(c))?;
    }
    Ok(fd)
}

/// mkdirat(dir, name).
pub fn mkdir_at(dir: &OwnedFd, name: &str) -> std::io::Result<()> {
    let c = std::ffi::CString::new(name).expect("no NUL");
    // SAFETY: valid fd and C string.
    if unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), 0o755) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Whether the server's log has a command line containing `part`.
pub fn server_saw(srv: &BadFtp, part: &str) -> bool {
    srv.log()
        .iter()
        .any(|e| e.line.windows(part.len()).any(|w| w == part.as_bytes()))
}

/// Waits until the server has received a command line containing `part`.
pub fn wait_for_line(srv: &BadFtp, part: &str) {
    assert!(
        super::harness::wait_for(Duration::from_secs(20), || server_saw(srv, part)),
        "the server never got a command with {part:?}: {:?}",
        srv.commands()
    );
}
