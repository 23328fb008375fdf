//! What the core tells about a mount for `ftpfs stats` and SIGUSR1: bytes read and written
//! through the mount, open files, staged copies and their disk use, the directory cache, and
//! the remote's own snapshot ([`crate::remote::Remote::stats`]).
//!
//! Invariants:
//! - Counting costs one relaxed atomic add per FUSE read or write ([`Counters`]); nothing on
//!   a request path takes a lock for it.
//! - A snapshot ([`Fs::stats`]) takes only the short map locks (handles, readers, staged,
//!   the cache's), one at a time, never a handle's or a staged copy's own lock (those are
//!   held while data moves), so it never waits on the network and never holds up a request
//!   for longer than a map lookup would.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::{Fs, lock};
use crate::cache::CacheStats;

/// The core's counters, bumped on the request paths.
#[derive(Debug, Default)]
pub(super) struct Counters {
    /// Bytes handed to the kernel by read requests.
    read: AtomicU64,
    /// Bytes taken from the kernel by write requests.
    written: AtomicU64,
}

impl Counters {
    pub(super) fn read(&self, n: usize) {
        self.read.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(super) fn written(&self, n: usize) {
        self.written.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// A snapshot of the core.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FsStats {
    /// Bytes read through the mount (answered to the kernel's read requests; reads the
    /// kernel serves from its page cache never reach ftpfs).
    pub bytes_read: u64,
    /// Bytes written through the mount (taken from the kernel's write requests).
    pub bytes_written: u64,
    pub files: FileStats,
    pub dir_cache: CacheStats,
}

/// Open files and staged copies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStats {
    /// File handles open now.
    pub open: usize,
    /// Of those, the read-only ones.
    pub open_read_only: usize,
    /// Files with a staged copy (random writes, O_RDWR, truncate) in `cache_dir`.
    pub staged: usize,
    /// Disk the staged copies use.
    pub staged_bytes: u64,
    /// `cache_max_size`.
    pub staged_limit: u64,
}

impl Fs {
    /// The core's snapshot (see the module doc for what it locks).
    pub fn stats(&self) -> FsStats {
        let open = lock(&self.handles).len();
        let open_read_only = lock(&self.readers).len();
        let staged = lock(&self.staged).len();
        FsStats {
            bytes_read: self.counters.read.load(Ordering::Relaxed),
            bytes_written: self.counters.written.load(Ordering::Relaxed),
            files: FileStats {
                open,
                open_read_only,
                staged,
                staged_bytes: self.store.used(),
                staged_limit: self.store.max(),
            },
            dir_cache: self.cache.stats(),
        }
    }

    /// The remote's snapshot.
    pub fn remote_stats(&self) -> crate::remote::stats::RemoteStats {
        self.remote.stats()
    }
}

#[cfg(test)]
mod tests {
    use crate::fs::FsError;
    use crate::fs::tests::{R, WRONLY_CREAT, setup, with_file};
    use crate::remote::RemoteError;

    #[test]
    fn bytes_and_handles_move_with_reads_and_writes() {
        let (fs, _fake, ino) = with_file(&[7u8; 1000]);
        let (fh, _) = fs.open(ino, libc::O_RDONLY).expect("open");
        assert_eq!(fs.read(fh, 0, 600).expect("read").len(), 600);
        assert_eq!(fs.read(fh, 600, 600).expect("read").len(), 400);
        let s = fs.stats();
        assert_eq!((s.bytes_read, s.bytes_written), (1000, 0));
        assert_eq!((s.files.open, s.files.open_read_only), (1, 1));
        fs.release(fh).expect("release");

        let (attr, wfh) = fs.create(R, "new", 0o644, WRONLY_CREAT).expect("create");
        assert_eq!(fs.write(wfh, 0, b"hello").expect("write"), 5);
        let s = fs.stats();
        assert_eq!((s.bytes_read, s.bytes_written), (1000, 5));
        assert_eq!((s.files.open, s.files.open_read_only), (1, 0));
        fs.flush(wfh).expect("flush");
        fs.release(wfh).expect("release");
        assert_eq!(fs.stats().files.open, 0, "{attr:?}");
    }

    #[test]
    fn a_failed_read_counts_no_bytes() {
        let (fs, fake, ino) = with_file(b"abc");
        fake.fail_always("open_read", RemoteError::Timeout("x".into()));
        let (fh, _) = fs.open(ino, libc::O_RDONLY).expect("open");
        let e: FsError = fs.read(fh, 0, 10).expect_err("fails");
        assert_eq!(e.errno, libc::ETIMEDOUT);
        assert_eq!(fs.stats().bytes_read, 0);
        let r = fs.remote_stats();
        let c = r
            .commands
            .iter()
            .find(|c| c.verb == "open_read")
            .expect("open_read counted");
        assert!(c.sent >= 1 && c.errors == c.sent, "{c:?}");
    }

    #[test]
    fn directory_cache_hits_misses_and_entries() {
        let (fs, fake, clock) = setup();
        fake.add_dir("/d");
        fake.add_file("/d/a", b"1");
        fake.add_file("/d/b", b"2");
        let d = fs.lookup(R, "d").expect("lookup").ino;
        let before = fs.stats().dir_cache;
        fs.lookup(d, "a").expect("a");
        fs.lookup(d, "b").expect("b");
        let after = fs.stats().dir_cache;
        // One listing of /d, then one hit for the second lookup.
        assert_eq!(after.misses, before.misses + 1, "{after:?}");
        assert_eq!(after.hits, before.hits + 1, "{after:?}");
        assert_eq!((after.dirs, after.fresh), (2, 2), "{after:?}");
        assert_eq!(
            after.entries,
            1 + 2,
            "/ holds d, /d holds a and b: {after:?}"
        );
        clock.advance(crate::fs::tests::TTL * 2);
        let stale = fs.stats().dir_cache;
        assert_eq!((stale.dirs, stale.fresh), (2, 0), "{stale:?}");
        assert_eq!(fake.count("list"), 2);
    }

    #[test]
    fn staged_copies_and_their_disk_use() {
        let (fs, _fake, ino) = with_file(b"0123456789");
        let (fh, _) = fs.open(ino, libc::O_RDWR).expect("open rw");
        fs.write(fh, 2, b"xx").expect("write");
        let s = fs.stats().files;
        assert_eq!(s.staged, 1, "{s:?}");
        assert!(s.staged_bytes >= 2 && s.staged_limit == 1 << 30, "{s:?}");
        fs.flush(fh).expect("flush");
        fs.release(fh).expect("release");
        let s = fs.stats().files;
        assert_eq!((s.staged, s.staged_bytes, s.open), (0, 0, 0), "{s:?}");
    }
}
