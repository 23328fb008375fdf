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

/// Escapes a path the way mountinfo writes it (space, tab, newline and backslash as octal).
fn escaped(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            ' ' => out.push_str("\\040"),
            '\t' => out.push_str("\\011"),
            '\n' => out.push_str("\\012"),
            '\\' => out.push_str("\\134"),
            c => out.push(c),
        }
    }
    out
}

/// The id of the newest FUSE mount on `mountpoint` in mountinfo `text`.
fn mount_id(text: &str, mountpoint: &Path) -> Option<u64> {
    let want = escaped(mountpoint);
    text.lines()
        .filter(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let fstype = l.split(" - ").nth(1).and_then(|r| r.split(' ').next());
            f.len() > 4 && f[4] == want && fstype.is_some_and(|t| t.starts_with("fuse"))
        })
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .next_back()
}

/// Whether mount `id` is in mountinfo `text`.
fn has_mount(text: &str, id: u64) -> bool {
    let id = id.to_string();
    text.lines()
        .any(|l| l.split(' ').next() == Some(id.as_str()))
}

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
    let Some(id) = mount_id(&text, &canonical).or_else(|| mount_id(&text, mountpoint)) else {
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
                if !has_mount(&now, id) {
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

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
101 22 0:50 / /tmp/a\\040b rw,nosuid,nodev,relatime shared:60 - fuse.ftpfs ftpfs#u@h/ rw,user_id=0
102 22 0:51 / /tmp/a\\040b rw,nosuid,nodev,relatime shared:61 - fuse.ftpfs ftpfs#u@h/ rw,user_id=0
103 22 0:52 / /tmp/c rw shared:62 - tmpfs tmpfs rw
";

    #[test]
    fn the_newest_fuse_mount_on_the_path_is_ours() {
        assert_eq!(mount_id(INFO, Path::new("/tmp/a b")), Some(102));
        assert_eq!(mount_id(INFO, Path::new("/tmp/c")), None, "not FUSE");
        assert_eq!(mount_id(INFO, Path::new("/tmp/x")), None);
        assert!(has_mount(INFO, 101) && !has_mount(INFO, 10));
        assert_eq!(escaped(Path::new("/a\\b\tc")), "/a\\134b\\011c");
    }
}
