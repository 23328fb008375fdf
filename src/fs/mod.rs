//! The filesystem core: POSIX operations in terms of a [`Remote`], with the directory cache,
//! the inode table and open handles. It never touches fuser; the FUSE adapter calls one method
//! per kernel request and replies with what it returns.
//!
//! Invariants:
//! - Attributes come from the parent directory's listing (cached, see [`crate::cache`]); no
//!   per-file SIZE/MDTM is ever sent. A name missing from a fresh listing is ENOENT at once.
//! - Files open for writing are "live": their size and mtime come from the writer, and lookups
//!   see them even when a listing fetched meanwhile does not (the upload may not have started).
//!   Each live file has an id; a handle whose file was unlinked (or replaced by a rename)
//!   no longer matches it and never changes the entry of a new file at the same path.
//! - Our own changes update the cached listing in place (or invalidate it), so they are seen at
//!   once; see `cache::DirCache` for how a racing fetch is kept from hiding them.
//! - No inode, handle or cache lock is held across network I/O: each open file has its own
//!   mutex, held while its stream moves data, and nothing else waits on it but the staging
//!   of that same file (`modify.rs`); a staged copy (`staged.rs`, `modify.rs`) has its own
//!   mutex too, held during its fetches and upload.
//! - Writes stream (STOR/APPE) while they are sequential and the handle is the file's only
//!   writer, or while every writer of the file is an O_APPEND one (they take turns, one APPE
//!   at a time: `append.rs`); anything else (O_RDWR, a second writer, writes behind the position, truncate to
//!   a non-zero size, refused APPE) goes to the file's one staged copy, uploaded whole when
//!   dirty at flush/fsync/close.

mod append;
mod attrs;
mod dirs;
pub mod error;
mod handles;
pub mod inodes;
mod live;
mod modify;
mod namespace;
mod prefetch;
mod ranges;
mod reading;
mod staged;
pub mod stats;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

pub use error::{FsError, FsResult};
use handles::Handle;
pub use inodes::ROOT_INO;

use crate::cache::{Clock, DirCache, Entries};
use crate::memory::Budget;
use crate::remote::{FileKind, Remote, RemoteEntry, RemoteError, join, split};
use error::enoent;
use inodes::Inodes;
use live::Live;

/// Settings of the core (from the mount configuration).
#[derive(Clone, Debug)]
pub struct FsConfig {
    pub uid: u32,
    pub gid: u32,
    /// Applied to every mode shown; `None` shows the server's modes.
    pub umask: Option<u32>,
    pub dir_cache_ttl: Duration,
    pub dir_cache_size: usize,
    /// Where staged copies live (created 0700 when first needed).
    pub cache_dir: std::path::PathBuf,
    /// Disk space all staged copies together may use.
    pub cache_max_size: u64,
    /// Upload replacements under a temporary name, then rename over the target.
    pub atomic_replace: bool,
    /// The mount's memory for file data (`crate::memory`): read-ahead, writes on their
    /// way, staged-copy transfers.
    pub budget: Budget,
}

/// Attributes of one file, as the core reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr {
    pub ino: u64,
    pub kind: FileKind,
    pub size: u64,
    pub mtime: SystemTime,
    /// FTP has no ctime: the mtime, or the time of a later change this mount made to the
    /// file's attributes or name (chmod, rename, utimensat).
    pub ctime: SystemTime,
    pub perm: u16,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
}

/// One directory entry for readdir.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirItem {
    pub ino: u64,
    pub kind: FileKind,
    pub name: String,
    /// The offset of the entry after this one (what the kernel asks for next).
    pub next: u64,
    /// Attributes (readdirplus only: as of now, with the kernel's reference taken for every
    /// entry but `.` and `..`).
    pub attr: Option<Attr>,
}

/// A time to set (from utimensat).
#[derive(Clone, Copy, Debug)]
pub enum SetTime {
    Now,
    At(SystemTime),
}

/// What setattr asks for.
#[derive(Clone, Copy, Debug, Default)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<SetTime>,
    pub mtime: Option<SetTime>,
}

/// What the kernel must be told about its caches; sent by the FUSE adapter
/// (`fuse::start_notifier`) once the core has answered the requests concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Drop the cached pages of `ino` from byte `from` on, and its cached attributes.
    Inval { ino: u64, from: u64 },
}

/// Filesystem statistics (FTP has none: see SEMANTICS.md).
#[derive(Clone, Copy, Debug)]
pub struct StatFs {
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub bsize: u32,
    pub namelen: u32,
}

/// The core.
pub struct Fs {
    remote: Arc<dyn Remote>,
    cache: DirCache,
    inodes: Mutex<Inodes>,
    handles: Mutex<HashMap<u64, Arc<Mutex<Handle>>>>,
    /// The handles that only read (they stay readers for life): flush has nothing to do for
    /// them and must not wait for their lock, which a read holds while data is on its way
    /// (every exec of a process that inherited the descriptor sends a FLUSH).
    readers: Mutex<std::collections::HashSet<u64>>,
    dirs: Mutex<HashMap<u64, Arc<dirs::Snapshot>>>,
    live: Mutex<HashMap<String, Live>>,
    /// (size, mtime) of each file when it was last opened for reading (for KEEP_CACHE).
    opened: Mutex<HashMap<u64, (u64, Option<SystemTime>)>>,
    /// Staged copies by path (see `modify.rs`).
    staged: Mutex<HashMap<String, modify::Registered>>,
    store: Arc<staged::Store>,
    /// This mount's changes that listings may not show yet (`attrs.rs`).
    touched: Mutex<lru::LruCache<String, attrs::Touch>>,
    /// What the server gives new files and directories (`attrs.rs`).
    new_modes: Mutex<attrs::NewModes>,
    /// Files unlinked while open: their attributes for fstat, by inode (`attrs.rs`).
    unlinked: Mutex<HashMap<u64, Attr>>,
    /// Directory times the server refused to set (logged once per mount).
    dir_times_refused: std::sync::atomic::AtomicBool,
    /// Where notices for the kernel go (none in tests without FUSE).
    notices: Mutex<Option<std::sync::mpsc::Sender<Notice>>>,
    next_fh: AtomicU64,
    /// Bytes through the mount (`stats.rs`).
    counters: stats::Counters,
    /// Bytes of out-of-order writes waiting in all handles (`handles.rs`).
    parked: Arc<std::sync::atomic::AtomicUsize>,
    cfg: FsConfig,
    mounted_at: SystemTime,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Names the kernel or the FTP command line cannot carry: EINVAL (empty, `.`, `..`, `/`,
/// NUL, CR, LF), ENAMETOOLONG (more than 255 bytes); checked before anything is sent.
fn check_name(name: &str) -> FsResult<()> {
    match crate::names::name_errno(name) {
        None => Ok(()),
        Some(errno) => Err(FsError::new(
            errno,
            format!(
                "{:?}: {}",
                crate::names::shown(name),
                if errno == libc::ENAMETOOLONG {
                    "name longer than 255 bytes"
                } else {
                    "name cannot be sent over FTP"
                }
            ),
        )),
    }
}

impl Fs {
    pub fn new(remote: Arc<dyn Remote>, cfg: FsConfig, clock: Box<dyn Clock>) -> Self {
        Fs {
            remote,
            cache: DirCache::new(cfg.dir_cache_ttl, cfg.dir_cache_size, clock),
            inodes: Mutex::new(Inodes::default()),
            handles: Mutex::new(HashMap::new()),
            readers: Mutex::new(std::collections::HashSet::new()),
            dirs: Mutex::new(HashMap::new()),
            live: Mutex::new(HashMap::new()),
            opened: Mutex::new(HashMap::new()),
            staged: Mutex::new(HashMap::new()),
            store: Arc::new(staged::Store::new(
                cfg.cache_dir.clone(),
                cfg.cache_max_size,
                cfg.budget.clone(),
            )),
            touched: Mutex::new(lru::LruCache::new(attrs::TOUCHED)),
            new_modes: Mutex::new(attrs::NewModes::default()),
            unlinked: Mutex::new(HashMap::new()),
            dir_times_refused: std::sync::atomic::AtomicBool::new(false),
            notices: Mutex::new(None),
            next_fh: AtomicU64::new(1),
            counters: stats::Counters::default(),
            parked: Arc::default(),
            cfg,
            mounted_at: SystemTime::now(),
        }
    }

    /// Sends the core's notices for the kernel to `tx` (see [`Notice`]).
    pub fn set_notices(&self, tx: std::sync::mpsc::Sender<Notice>) {
        *lock(&self.notices) = Some(tx);
    }

    fn notice(&self, n: Notice) {
        if let Some(tx) = lock(&self.notices).as_ref() {
            let _ = tx.send(n);
        }
    }

    /// The size a stat of `path` would show now, without listing anything (`None` when its
    /// directory's listing is not cached).
    fn shown_size(&self, path: &str) -> Option<u64> {
        if let Some(l) = lock(&self.live).get(path) {
            return Some(l.size);
        }
        let (dir, name) = split(path)?;
        self.cache.peek(dir)?.get(name).map(|e| e.size)
    }

    /// Whether this mount is writing `path` (an open writer or a staged copy).
    fn being_written(&self, path: &str) -> bool {
        lock(&self.live).contains_key(path) || self.is_staged(path)
    }

    /// The size of a file as the server says now: SIZE, else a fresh listing.
    fn server_size(&self, path: &str) -> FsResult<u64> {
        match self.remote.size(path) {
            Ok(s) => Ok(s),
            Err(RemoteError::Unsupported(_)) => {
                let (dir, name) = split(path).ok_or_else(|| enoent(path))?;
                self.cache.invalidate(dir);
                let list = self.listing(dir)?;
                list.get(name).map(|e| e.size).ok_or_else(|| enoent(path))
            }
            Err(e) => Err(FsError::remote("size", path, &e)),
        }
    }

    /// The server confirmed that `path` now holds `size` bytes (less than the listing said).
    fn note_shrunk(&self, path: &str, size: u64) {
        if let Some((dir, name)) = split(path) {
            self.cache.update(dir, |l| {
                if let Some(e) = l.get_mut(name) {
                    e.size = size;
                }
            });
        }
    }

    /// How long the kernel may keep entries and attributes (tied to the listing TTL).
    pub fn kernel_ttl(&self) -> Duration {
        self.cache.ttl()
    }

    /// The mount's memory budget for file data.
    pub fn budget(&self) -> &Budget {
        &self.cfg.budget
    }

    /// The mount has gone idle (no request for a while): listings that are no longer fresh
    /// are dropped (any use would fetch them again) and the heap's free memory goes back to
    /// the system ([`crate::memory::trim`]).
    pub fn idle(&self) {
        self.cache.drop_expired();
        crate::memory::trim();
    }

    fn path_of(&self, ino: u64) -> FsResult<String> {
        lock(&self.inodes)
            .path(ino)
            .map(str::to_string)
            .ok_or_else(|| FsError::new(libc::ENOENT, format!("inode {ino} is gone")))
    }

    /// Lists the mount's root (at mount time, to check that the mount works); the listing
    /// stays in the cache for the first lookups. Returns the number of entries.
    pub fn list_root(&self) -> Result<usize, RemoteError> {
        let remote = &self.remote;
        self.cache
            .get_or_fetch("/", || remote.list("/"))
            .map(|l| l.len())
    }

    /// The listing of a directory (cached when fresh).
    fn listing(&self, dir: &str) -> FsResult<Arc<Entries>> {
        let remote = &self.remote;
        self.cache
            .get_or_fetch(dir, || remote.list(dir))
            .map_err(|e| match e {
                // 550: gone, or there but not readable — the parent's listing tells which.
                RemoteError::Unavailable(_) => {
                    let listed = split(dir).is_some_and(|(parent, name)| {
                        self.cache
                            .get_or_fetch(parent, || remote.list(parent))
                            .is_ok_and(|l| l.contains_key(name))
                    });
                    let errno = if listed { libc::EACCES } else { libc::ENOENT };
                    FsError::remote_as(errno, "list", dir, &e)
                }
                _ => FsError::remote("list", dir, &e),
            })
    }

    /// The entry for a path: from the live set, else from the parent's listing.
    fn entry(&self, path: &str) -> FsResult<RemoteEntry> {
        let Some((parent, name)) = split(path) else {
            return Ok(RemoteEntry {
                name: String::new(),
                kind: FileKind::Dir,
                size: 0,
                mtime: Some(self.mounted_at),
                mode: Some(0o755),
                link_target: None,
            });
        };
        if let Some(e) = self.live_entry(path, name) {
            return Ok(e);
        }
        let list = self.listing(parent)?;
        list.get(name).cloned().ok_or_else(|| enoent(path))
    }

    /// The entry of a file being written (`live`), if `path` is one.
    fn live_entry(&self, path: &str, name: &str) -> Option<RemoteEntry> {
        lock(&self.live).get(path).map(|l| RemoteEntry {
            name: name.to_string(),
            kind: FileKind::File,
            size: l.size,
            mtime: Some(l.mtime),
            mode: Some(l.mode),
            link_target: None,
        })
    }

    fn attr_of_path(&self, path: &str, lookup: bool) -> FsResult<Attr> {
        let e = self.entry(path)?;
        let ino = lock(&self.inodes).get_or_insert(path, lookup);
        Ok(self.attr(ino, path, &e))
    }

    /// lookup(2): the attributes of `name` in `parent`, taking a kernel reference.
    pub fn lookup(&self, parent: u64, name: &str) -> FsResult<Attr> {
        check_name(name)?;
        let path = join(&self.path_of(parent)?, name);
        self.attr_of_path(&path, true)
    }

    /// The kernel dropped `n` references to `ino`.
    pub fn forget(&self, ino: u64, n: u64) {
        let gone = lock(&self.inodes).forget(ino, n);
        if gone {
            lock(&self.opened).remove(&ino);
            lock(&self.unlinked).remove(&ino);
        }
    }

    /// getattr(2).
    /// getattr(2). A file unlinked while open answers from what it was (nlink 0).
    pub fn getattr(&self, ino: u64) -> FsResult<Attr> {
        let path = match self.path_of(ino) {
            Ok(p) => p,
            Err(e) => return lock(&self.unlinked).get(&ino).copied().ok_or(e),
        };
        let e = self.entry(&path)?;
        Ok(self.attr(ino, &path, &e))
    }

    /// readlink(2).
    pub fn readlink(&self, ino: u64) -> FsResult<String> {
        let path = self.path_of(ino)?;
        let e = self.entry(&path)?;
        match (e.kind, e.link_target) {
            (FileKind::Symlink, Some(t)) => Ok(t),
            (FileKind::Symlink, None) => Err(FsError::new(
                libc::EIO,
                format!("{path}: the server did not say where this link points"),
            )),
            _ => Err(FsError::new(libc::EINVAL, format!("{path}: not a symlink"))),
        }
    }

    /// statfs(2): FTP has no way to ask; see SEMANTICS.md.
    pub fn statfs(&self) -> StatFs {
        const BIG: u64 = 1 << 40;
        StatFs {
            blocks: BIG,
            bfree: BIG,
            bavail: BIG,
            files: BIG,
            ffree: BIG,
            bsize: 4096,
            namelen: 255,
        }
    }
}

#[cfg(test)]
mod append_tests;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod posix_tests;
#[cfg(test)]
mod review_tests;
#[cfg(test)]
mod shared_tests;
#[cfg(test)]
mod short_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod write_tests;
