//! Upload failures through a real mount: the server refuses the upload (a read-only file in a
//! read-only directory: the FTP session runs as the test user, not root) → close(2) fails with
//! EACCES and the staged data is still in `cache_dir`; the server dies in the middle of an
//! upload (its process group is killed) → the error comes at write/fsync/close within the
//! timeout, nothing hangs, staged data is kept, and the mount still unmounts.

use std::fs::{self, OpenOptions};
use std::os::fd::IntoRawFd;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use super::harness::{Mount, pattern};
use crate::common::servers::{FtpServer, ServerKind};

/// close(2) of a file, returning its errno (0 for success).
fn close_errno(f: fs::File) -> i32 {
    let fd = f.into_raw_fd();
    // SAFETY: `fd` was just taken from an open File and is closed exactly once here.
    let r = unsafe { libc::close(fd) };
    if r == 0 {
        0
    } else {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
    }
}

/// Contents of every file in `dir`.
fn kept(dir: &Path) -> Vec<Vec<u8>> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| fs::read(e.path()).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn refused_upload(kind: ServerKind) {
    let srv = FtpServer::start(kind);
    srv.write_file("ro/f.txt", "original content");
    let mode = |p: &Path, m: u32| fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
    mode(&srv.root.join("ro/f.txt"), 0o444);
    mode(&srv.root.join("ro"), 0o555);
    let cache = tempfile::tempdir().expect("tempdir");
    let opt = format!("cache_dir={}", cache.path().display());
    let m = Mount::of(&srv, &[&opt]);
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(m.p("ro/f.txt"))
        .expect("open O_RDWR (nothing is sent before close)");
    f.write_all_at(b"NEW", 9)
        .expect("write into the staged copy");
    let errno = close_errno(f);
    assert_eq!(errno, libc::EACCES, "{kind}: close; log:\n{}", m.log());
    assert_eq!(
        kept(cache.path()),
        vec![b"original NEWtent".to_vec()],
        "{kind}"
    );
    assert!(
        m.log().contains(&cache.path().display().to_string()),
        "{kind}: the log names the kept file"
    );
    assert_eq!(
        fs::read(srv.root.join("ro/f.txt")).unwrap(),
        b"original content"
    );
    mode(&srv.root.join("ro"), 0o755);
}

#[test]
fn refused_upload_is_eacces_at_close_and_data_is_kept_pure_ftpd() {
    refused_upload(ServerKind::PureFtpd);
}

#[test]
fn refused_upload_is_eacces_at_close_and_data_is_kept_vsftpd() {
    refused_upload(ServerKind::Vsftpd);
}

/// Kills the server's whole process group (pure-ftpd's sessions stay in it) once its copy of
/// `name` has grown past 1 MiB, i.e. in the middle of the upload.
fn kill_when_growing(srv: &FtpServer, name: &str) -> std::thread::JoinHandle<bool> {
    let (pid, path) = (srv.pid() as i32, srv.root.join(name));
    std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end {
            if fs::metadata(&path).is_ok_and(|m| m.len() > 1 << 20) {
                // SAFETY: signalling the process group of a server this test started.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    })
}

#[test]
fn server_killed_during_staged_upload_fails_close_quickly_and_keeps_data() {
    let srv = FtpServer::start(ServerKind::PureFtpd);
    srv.write_file("big.bin", pattern(1000, 1));
    let cache = tempfile::tempdir().expect("tempdir");
    let opt = format!("cache_dir={}", cache.path().display());
    let m = Mount::of(&srv, &[&opt, "timeout=5"]);
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(m.p("big.bin"))
        .expect("open");
    let data = pattern(256 << 20, 2);
    for (i, chunk) in data.chunks(1 << 20).enumerate() {
        f.write_all_at(chunk, (i << 20) as u64)
            .expect("staged write");
    }
    let killer = kill_when_growing(&srv, "big.bin");
    let began = Instant::now();
    let errno = close_errno(f);
    let took = began.elapsed();
    assert!(killer.join().unwrap(), "the upload never started");
    assert_ne!(errno, 0, "close after the server died must fail");
    assert!(took < Duration::from_secs(20), "close took {took:?}");
    eprintln!("staged upload, server killed: close errno {errno} after {took:?}");
    let kept = kept(cache.path());
    assert_eq!(kept.len(), 1, "one staged copy kept");
    assert!(kept[0] == data, "the kept copy holds every byte written");
    drop(m);
}

#[test]
fn server_killed_during_streamed_write_fails_within_timeout() {
    let srv = FtpServer::start(ServerKind::PureFtpd);
    let m = Mount::of(&srv, &["timeout=5"]);
    let killer = kill_when_growing(&srv, "stream.bin");
    let began = Instant::now();
    let f = fs::File::create(m.p("stream.bin")).expect("create");
    let chunk = pattern(1 << 20, 3);
    let mut failed = None;
    for i in 0..512u64 {
        if let Err(e) = f.write_all_at(&chunk, i << 20) {
            failed = Some(e.raw_os_error().unwrap_or(-1));
            break;
        }
    }
    let sync = f.sync_all().err().and_then(|e| e.raw_os_error());
    let errno = close_errno(f);
    let took = began.elapsed();
    assert!(killer.join().unwrap(), "the upload never started");
    assert!(
        failed.is_some() || sync.is_some() || errno != 0,
        "the server died mid-upload but write, fsync and close all succeeded"
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
    eprintln!(
        "streamed write, server killed: write {failed:?}, fsync {sync:?}, close {errno} after {took:?}"
    );
    drop(m);
}
