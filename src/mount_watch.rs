//! Noticing that our mount went away while we still serve it: a lazy unmount
//! (`fusermount3 -u -z`, `umount -l`) detaches the mount at once, but the kernel keeps the
//! FUSE connection (and sends nothing) until the last request ends; a request stuck on a
//! dead server would keep the daemon alive for its whole timeout. A thread polls
//! `/proc/self/mountinfo` (the kernel flags it on every change of the mount table) and calls
//! back once our mount, known by its mount id, is gone.
//!
//! Invariants: the callback runs at most once; the thread blocks in `poll(2)` only (no
//! busy loop) and never keeps the process alive (it is detached).

use std::io::{Read, Seek};
use std::os::fd::AsRawFd;
use std::path::Path;

/// Calls `gone` (once, from a thread of its own) when our mount on `mountpoint` leaves the
/// mount table. Does nothing when the mount cannot be found or watched (logged).
pub fn on_unmount(mountpoint: &Path, gone: impl FnOnce() + Send + 'static) {
    let mut file = match std::fs::File::open("/proc/self/mountinfo") {
        Ok(f) => f,
        Err(e) => {
            log::debug!("cannot watch /proc/self/mountinfo: {e}");
            return;
        }
    };
    let mut text = String::new();
    if file.read_to_string(&mut text).is_err() {
        return;
    }
    let canonical = mountpoint
        .canonicalize()
        .unwrap_or_else(|_| mountpoint.to_path_buf());
    let table = crate::mountinfo::parse(&text);
    let ours = crate::mountinfo::newest_fuse(&table, &canonical)
        .or_else(|| crate::mountinfo::newest_fuse(&table, mountpoint));
    let Some(id) = ours.map(|e| e.id) else {
        log::debug!("our mount on {} is not in mountinfo", mountpoint.display());
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("ftpfs-mountwatch".into())
        .spawn(move || {
            loop {
                let mut p = libc::pollfd {
                    fd: file.as_raw_fd(),
                    events: libc::POLLPRI | libc::POLLERR,
                    revents: 0,
                };
                // SAFETY: one valid pollfd; blocks until the mount table changes.
                let n = unsafe { libc::poll(&mut p, 1, -1) };
                if n < 0
                    && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
                {
                    return;
                }
                let mut now = String::new();
                if file.rewind().is_err() || file.read_to_string(&mut now).is_err() {
                    return;
                }
                if !crate::mountinfo::parse(&now).iter().any(|e| e.id == id) {
                    log::info!("the mount was detached; ending the requests that still wait");
                    gone();
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        log::debug!("cannot start the mount watcher: {e}");
    }
}
