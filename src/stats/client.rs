//! The `ftpfs stats MOUNTPOINT` command: find the mount's daemon by the mount's device number,
//! check that it is ftpfs and that the socket is the mount owner's, read its report, print it.
//!
//! Invariants:
//! - Nothing here sends a request to the mount: the device number comes from `statx` with
//!   `AT_STATX_DONT_SYNC` and an empty mask (the kernel answers from its cache, and for a
//!   mount without `allow_other` gives other users the device number only), so a stuck
//!   daemon cannot hang the command there; a path *inside* the mount may need lookups, so
//!   every step runs in a worker thread and the command gives up after `timeout` as a whole.
//! - Every failure is one line that names the path and says what it is (missing, not a
//!   mount, another filesystem, a gone daemon, no answer in time, refused) and exits 1.
//! - The answer is trusted only from a socket held by the mount's owner or root
//!   (`SO_PEERCRED`), so another user cannot pose as the daemon (abstract socket names are
//!   first come, first served).

use std::io::Read;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::server::{peer_uid, socket_name};
use super::{FORMAT, Report, render};
use crate::mountinfo::{self, MountEntry};

/// How long `ftpfs stats` waits for the daemon by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a mount just made may take to serve its statistics (see [`connect`]).
const STARTUP_GRACE: Duration = Duration::from_secs(1);

/// Largest answer read (a report is a few KiB).
const MAX_ANSWER: u64 = 16 << 20;

/// The device number of the filesystem `path` is on, without a request to a FUSE daemon.
fn device_of(path: &Path) -> Result<(u32, u32), String> {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| "the path contains a NUL byte".to_string())?;
    // SAFETY: statx writes only into `stx`, a zeroed local; `c` is a valid C string.
    let (r, stx) = unsafe {
        let mut stx: libc::statx = std::mem::zeroed();
        let r = libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::AT_STATX_DONT_SYNC | libc::AT_NO_AUTOMOUNT,
            0,
            &mut stx,
        );
        (r, stx)
    };
    if r == 0 {
        return Ok((stx.stx_dev_major, stx.stx_dev_minor));
    }
    let e = std::io::Error::last_os_error();
    Err(match e.raw_os_error() {
        Some(libc::ENOENT) => "no such file or directory".to_string(),
        Some(libc::ENOTCONN) => "the mount's daemon is gone (transport endpoint is not \
                                 connected); unmount it with fusermount3 -u"
            .to_string(),
        Some(libc::EACCES) => "permission denied".to_string(),
        _ => e.to_string(),
    })
}

/// The ftpfs mount `dev` belongs to, or why `path` is not on one.
fn ftpfs_mount(path: &Path, dev: (u32, u32), table: &[MountEntry]) -> Result<MountEntry, String> {
    let same: Vec<&MountEntry> = table.iter().filter(|e| e.dev == dev).collect();
    if let Some(e) = same.iter().rev().find(|e| e.is_ftpfs()) {
        return Ok((*e).clone());
    }
    let Some(other) = same.last() else {
        return Err(format!(
            "its filesystem (device {}:{}) is not in /proc/self/mountinfo",
            dev.0, dev.1
        ));
    };
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| abs.clone());
    let is_mount_point = same
        .iter()
        .any(|e| e.mount_point == abs || e.mount_point == canonical);
    Err(if is_mount_point {
        format!(
            "not an ftpfs mount (the filesystem there is {})",
            other.fstype
        )
    } else {
        format!(
            "not an ftpfs mount point (a directory on the {} filesystem mounted on {})",
            other.fstype,
            other.mount_point.display()
        )
    })
}

/// Connects to the daemon's socket. A mount shows in the mount table a moment before its
/// daemon has bound the socket (it needs the device number the mount got): nobody there is
/// tried again for up to [`STARTUP_GRACE`].
fn connect(addr: &SocketAddr) -> std::io::Result<UnixStream> {
    let start = std::time::Instant::now();
    loop {
        match UnixStream::connect_addr(addr) {
            Err(e)
                if matches!(e.raw_os_error(), Some(libc::ECONNREFUSED | libc::ENOENT))
                    && start.elapsed() < STARTUP_GRACE =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            r => return r,
        }
    }
}

/// Asks the daemon of `path`'s mount; returns its JSON document, as sent and parsed.
fn query(path: &Path) -> Result<(Vec<u8>, serde_json::Value), String> {
    let dev = device_of(path)?;
    let table = mountinfo::read().map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    let mount = ftpfs_mount(path, dev, &table)?;
    let gone = |why: String| {
        format!(
            "the daemon of {} (on {}) {why}",
            mount.source,
            mount.mount_point.display()
        )
    };
    let addr = SocketAddr::from_abstract_name(socket_name(dev).as_bytes())
        .map_err(|e| format!("socket name: {e}"))?;
    let s = connect(&addr).map_err(|e| match e.raw_os_error() {
        Some(libc::ECONNREFUSED | libc::ENOENT) => gone(
            "serves no statistics (an ftpfs without `ftpfs stats`, or one in another \
             network namespace)"
                .to_string(),
        ),
        _ => gone(format!("cannot be reached: {e}")),
    })?;
    let owner = mount.user_id();
    let peer = peer_uid(&s).map_err(|e| gone(format!("cannot be identified: {e}")))?;
    if peer != 0 && Some(peer) != owner {
        return Err(format!(
            "the statistics socket of this mount belongs to uid {peer}, not to the mount's \
             owner ({}): not trusting it",
            owner.map_or_else(|| "unknown".to_string(), |u| format!("uid {u}"))
        ));
    }
    let mut doc = Vec::new();
    s.take(MAX_ANSWER)
        .read_to_end(&mut doc)
        .map_err(|e| gone(format!("did not answer: {e}")))?;
    let v: serde_json::Value = serde_json::from_slice(&doc)
        .map_err(|e| gone(format!("sent something that is not a report ({e})")))?;
    if let Some(msg) = v.get("error").and_then(|m| m.as_str()) {
        return Err(msg.to_string());
    }
    match v.get("format").and_then(serde_json::Value::as_u64) {
        Some(f) if f == u64::from(FORMAT) => Ok((doc, v)),
        other => Err(gone(format!(
            "answered in format {}, which this ftpfs does not read (it reads {FORMAT})",
            other.map_or_else(|| "?".to_string(), |f| f.to_string())
        ))),
    }
}

/// `ftpfs stats [--json] PATH`: the text to print, or the one-line error (without the
/// `ftpfs stats:` prefix). Gives up after `timeout`.
pub fn run_client(path: &Path, json: bool, timeout: Duration) -> Result<String, String> {
    let owned: PathBuf = path.to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("ftpfs-stats-query".into())
        .spawn(move || {
            let _ = tx.send(query(&owned));
        })
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    let shown = path.display();
    let (doc, v) = match rx.recv_timeout(timeout) {
        Ok(r) => r.map_err(|e| format!("{shown}: {e}"))?,
        Err(_) => {
            return Err(format!(
                "{shown}: no answer within {}s (the mount's daemon may be stuck)",
                timeout.as_secs_f32()
            ));
        }
    };
    if json {
        // As the daemon wrote it (its fields in the report's order), on one line.
        return Ok(format!("{}\n", String::from_utf8_lossy(&doc).trim_end()));
    }
    let report: Report = serde_json::from_value(v)
        .map_err(|e| format!("{shown}: the daemon's report does not read as one: {e}"))?;
    Ok(render(&report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_path_and_a_foreign_filesystem_are_said_plainly() {
        let dir = tempfile::tempdir().expect("tmp");
        let missing = dir.path().join("nope");
        let e = run_client(&missing, false, DEFAULT_TIMEOUT).expect_err("missing");
        assert_eq!(
            e,
            format!("{}: no such file or directory", missing.display())
        );
        let e = run_client(Path::new("/proc"), false, DEFAULT_TIMEOUT).expect_err("proc");
        assert_eq!(
            e,
            "/proc: not an ftpfs mount (the filesystem there is proc)"
        );
        let e = run_client(dir.path(), true, DEFAULT_TIMEOUT).expect_err("a plain directory");
        assert!(
            e.starts_with(&format!(
                "{}: not an ftpfs mount point (a directory on the ",
                dir.path().display()
            )),
            "{e}"
        );
    }

    #[test]
    fn the_mount_of_a_device_is_found_by_type() {
        let table = mountinfo::parse(
            "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n\
             101 22 0:50 / /mnt/f rw - fuse.ftpfs ftpfs#u@h:21/ rw,user_id=1000\n",
        );
        let m = ftpfs_mount(Path::new("/mnt/f/sub"), (0, 50), &table).expect("ftpfs");
        assert_eq!(m.user_id(), Some(1000));
        let e = ftpfs_mount(Path::new("/srv"), (8, 1), &table).expect_err("ext4");
        assert_eq!(
            e,
            "not an ftpfs mount point (a directory on the ext4 filesystem mounted on /)"
        );
        let e = ftpfs_mount(Path::new("/"), (8, 1), &table).expect_err("ext4 root");
        assert_eq!(e, "not an ftpfs mount (the filesystem there is ext4)");
        let e = ftpfs_mount(Path::new("/x"), (0, 99), &table).expect_err("unknown");
        assert!(e.contains("0:99"), "{e}");
    }
}
