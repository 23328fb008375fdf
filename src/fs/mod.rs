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
mod dirs;
pub mod error;
mod handles;
pub mod inodes;
mod live;
mod modify;
mod prefetch;
mod ranges;
mod staged;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

pub use error::{FsError, FsResult};
use handles::Handle;
pub use inodes::ROOT_INO;

use crate::cache::{Clock, DirCache, Entries};
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
}

/// Attributes of one file, as the core reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr {
    pub ino: u64,
    pub kind: FileKind,
    pub size: u64,
    pub mtime: SystemTime,
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
    /// The entry's mount-relative path.
    pub path: String,
    /// Attributes as of the listing (for readdirplus).
    pub attr: Attr,
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
    dirs: Mutex<HashMap<u64, Arc<dirs::Snapshot>>>,
    live: Mutex<HashMap<String, Live>>,
    /// (size, mtime) of each file when it was last opened for reading (for KEEP_CACHE).
    opened: Mutex<HashMap<u64, (u64, Option<SystemTime>)>>,
    /// Staged copies by path (see `modify.rs`).
    staged: Mutex<HashMap<String, modify::Registered>>,
    store: Arc<staged::Store>,
    next_fh: AtomicU64,
    cfg: FsConfig,
    mounted_at: SystemTime,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The longest name a directory entry may have (`NAME_MAX`); listings leave longer ones out.
const NAME_MAX: usize = 255;

/// Names the FTP protocol cannot carry, or longer than [`NAME_MAX`] (ENAMETOOLONG): the one
/// check of every name that comes from the kernel, before anything is sent.
fn check_name(name: &str) -> FsResult<()> {
    if name.len() > NAME_MAX {
        return Err(FsError::new(
            libc::ENAMETOOLONG,
            format!(
                "{}…: a name of {} bytes (at most {NAME_MAX})",
                &name[..name.floor_char_boundary(40)],
                name.len()
            ),
        ));
    }
    if name.is_empty() || name.contains(['/', '\r', '\n', '\0']) {
        return Err(FsError::new(
            libc::EINVAL,
            format!("{name:?}: name cannot be sent over FTP"),
        ));
    }
    Ok(())
}

impl Fs {
    pub fn new(remote: Arc<dyn Remote>, cfg: FsConfig, clock: Box<dyn Clock>) -> Self {
        Fs {
            remote,
            cache: DirCache::new(cfg.dir_cache_ttl, cfg.dir_cache_size, clock),
            inodes: Mutex::new(Inodes::default()),
            handles: Mutex::new(HashMap::new()),
            dirs: Mutex::new(HashMap::new()),
            live: Mutex::new(HashMap::new()),
            opened: Mutex::new(HashMap::new()),
            staged: Mutex::new(HashMap::new()),
            store: Arc::new(staged::Store::new(
                cfg.cache_dir.clone(),
                cfg.cache_max_size,
            )),
            next_fh: AtomicU64::new(1),
            cfg,
            mounted_at: SystemTime::now(),
        }
    }

    /// How long the kernel may keep entries and attributes (tied to the listing TTL).
    pub fn kernel_ttl(&self) -> Duration {
        self.cache.ttl()
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
        if let Some(l) = lock(&self.live).get(path) {
            return Ok(RemoteEntry {
                name: name.to_string(),
                kind: FileKind::File,
                size: l.size,
                mtime: Some(l.mtime),
                mode: Some(l.mode),
                link_target: None,
            });
        }
        let list = self.listing(parent)?;
        list.get(name).cloned().ok_or_else(|| enoent(path))
    }

    fn attr(&self, ino: u64, e: &RemoteEntry) -> Attr {
        let default = match e.kind {
            FileKind::Dir => 0o755,
            FileKind::File => 0o644,
            FileKind::Symlink => 0o777,
        };
        let mut perm = e.mode.unwrap_or(default) & 0o7777;
        if let Some(umask) = self.cfg.umask {
            perm &= !umask;
        }
        Attr {
            ino,
            kind: e.kind,
            size: match e.kind {
                FileKind::Symlink => e.link_target.as_ref().map_or(0, |t| t.len() as u64),
                _ => e.size,
            },
            mtime: e.mtime.unwrap_or(self.mounted_at),
            perm: perm as u16,
            nlink: if e.kind == FileKind::Dir { 2 } else { 1 },
            uid: self.cfg.uid,
            gid: self.cfg.gid,
        }
    }

    fn attr_of_path(&self, path: &str, lookup: bool) -> FsResult<Attr> {
        let e = self.entry(path)?;
        let ino = lock(&self.inodes).get_or_insert(path, lookup);
        Ok(self.attr(ino, &e))
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
        }
    }

    /// getattr(2).
    pub fn getattr(&self, ino: u64) -> FsResult<Attr> {
        let path = self.path_of(ino)?;
        let e = self.entry(&path)?;
        Ok(self.attr(ino, &e))
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

    /// mkdir(2).
    pub fn mkdir(&self, parent: u64, name: &str) -> FsResult<Attr> {
        check_name(name)?;
        let dir = self.path_of(parent)?;
        let path = join(&dir, name);
        if self.entry(&path).is_ok() {
            return Err(FsError::new(libc::EEXIST, format!("{path}: exists")));
        }
        if let Err(e) = self.remote.mkdir(&path) {
            self.cache.invalidate(&dir);
            let errno = match &e {
                RemoteError::Unavailable(_) if self.entry(&path).is_ok() => libc::EEXIST,
                RemoteError::Unavailable(_) if self.entry(&dir).is_err() => libc::ENOENT,
                RemoteError::Unavailable(_) => libc::EACCES,
                other => other.errno(),
            };
            return Err(FsError::remote_as(errno, "mkdir", &path, &e));
        }
        let entry = RemoteEntry {
            name: name.to_string(),
            kind: FileKind::Dir,
            size: 0,
            mtime: Some(SystemTime::now()),
            mode: None,
            link_target: None,
        };
        self.cache.update(&dir, |l| {
            l.insert(name.to_string(), entry.clone());
        });
        self.cache.invalidate(&path);
        let ino = lock(&self.inodes).get_or_insert(&path, true);
        Ok(self.attr(ino, &entry))
    }

    /// symlink(2): `SITE SYMLINK` where the server has it; EPERM where it does not (FTP
    /// itself has no symlinks).
    pub fn symlink(&self, parent: u64, name: &str, target: &str) -> FsResult<Attr> {
        check_name(name)?;
        let dir = self.path_of(parent)?;
        let path = join(&dir, name);
        if self.entry(&path).is_ok() {
            return Err(FsError::new(libc::EEXIST, format!("{path}: exists")));
        }
        if let Err(e) = self.remote.symlink(target, &path) {
            self.cache.invalidate(&dir);
            let errno = match &e {
                RemoteError::Unsupported(_) => libc::EPERM,
                RemoteError::Unavailable(_) if self.entry(&path).is_ok() => libc::EEXIST,
                RemoteError::Unavailable(_) => libc::EACCES,
                other => other.errno(),
            };
            return Err(FsError::remote_as(errno, "symlink", &path, &e));
        }
        let entry = RemoteEntry {
            name: name.to_string(),
            kind: FileKind::Symlink,
            size: target.len() as u64,
            mtime: Some(SystemTime::now()),
            mode: Some(0o777),
            link_target: Some(target.to_string()),
        };
        self.cache.update(&dir, |l| {
            l.insert(name.to_string(), entry.clone());
        });
        let ino = lock(&self.inodes).get_or_insert(&path, true);
        Ok(self.attr(ino, &entry))
    }

    /// unlink(2).
    pub fn unlink(&self, parent: u64, name: &str) -> FsResult<()> {
        check_name(name)?;
        let dir = self.path_of(parent)?;
        let path = join(&dir, name);
        let e = self.entry(&path)?;
        if e.kind == FileKind::Dir {
            return Err(FsError::new(
                libc::EISDIR,
                format!("{path}: is a directory"),
            ));
        }
        if let Err(err) = self.remote.delete(&path) {
            self.cache.invalidate(&dir);
            let errno = match &err {
                RemoteError::Unavailable(_) if self.entry(&path).is_err() => libc::ENOENT,
                RemoteError::Unavailable(_) => libc::EACCES,
                other => other.errno(),
            };
            return Err(FsError::remote_as(errno, "delete", &path, &err));
        }
        self.cache.update(&dir, |l| {
            l.remove(name);
        });
        // An upload still running into it no longer names a file (POSIX: the open file lives
        // on without a name; on FTP the server decides what the late STOR leaves behind).
        self.forget_written(&path);
        lock(&self.inodes).remove_path(&path);
        Ok(())
    }

    /// rmdir(2).
    pub fn rmdir(&self, parent: u64, name: &str) -> FsResult<()> {
        check_name(name)?;
        let dir = self.path_of(parent)?;
        let path = join(&dir, name);
        let e = self.entry(&path)?;
        if e.kind != FileKind::Dir {
            return Err(FsError::new(
                libc::ENOTDIR,
                format!("{path}: not a directory"),
            ));
        }
        if self.cache.peek(&path).is_some_and(|l| !l.is_empty()) {
            return Err(FsError::new(libc::ENOTEMPTY, format!("{path}: not empty")));
        }
        if let Err(err) = self.remote.rmdir(&path) {
            self.cache.invalidate(&dir);
            self.cache.invalidate(&path);
            let errno = match &err {
                RemoteError::Unavailable(_) if self.entry(&path).is_err() => libc::ENOENT,
                RemoteError::Unavailable(_) if self.listing(&path).is_ok_and(|l| !l.is_empty()) => {
                    libc::ENOTEMPTY
                }
                RemoteError::Unavailable(_) => libc::EACCES,
                other => other.errno(),
            };
            return Err(FsError::remote_as(errno, "rmdir", &path, &err));
        }
        self.cache.update(&dir, |l| {
            l.remove(name);
        });
        self.cache.invalidate_tree(&path);
        lock(&self.inodes).remove_path(&path);
        Ok(())
    }

    /// rename(2). `noreplace` is RENAME_NOREPLACE.
    pub fn rename(
        &self,
        parent: u64,
        name: &str,
        newparent: u64,
        newname: &str,
        noreplace: bool,
    ) -> FsResult<()> {
        check_name(name)?;
        check_name(newname)?;
        let from_dir = self.path_of(parent)?;
        let to_dir = self.path_of(newparent)?;
        let from = join(&from_dir, name);
        let to = join(&to_dir, newname);
        let src = self.entry(&from)?;
        if from == to {
            return Ok(());
        }
        if src.kind == FileKind::Dir && to.starts_with(&format!("{from}/")) {
            return Err(FsError::new(
                libc::EINVAL,
                format!("{from}: cannot move a directory into itself"),
            ));
        }
        // close(2) returns after FLUSH (the upload is done); the kernel sends RELEASE on its
        // own, so a rename right after a close may arrive first: give it a moment.
        // A directory is busy while any file below it is being written (its handles still name
        // the old paths).
        let below = format!("{from}/");
        let busy_below = || {
            src.kind == FileKind::Dir
                && (lock(&self.live).keys().any(|p| p.starts_with(&below))
                    || lock(&self.staged).keys().any(|p| p.starts_with(&below)))
        };
        let settled =
            || !lock(&self.live).contains_key(&from) && !self.is_staged(&from) && !busy_below();
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while !settled() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if !settled() {
            return Err(FsError::new(
                libc::EBUSY,
                format!("{from}: is being uploaded; rename it after close"),
            ));
        }
        let target = self.entry(&to).ok();
        if let Some(t) = &target {
            if noreplace {
                return Err(FsError::new(libc::EEXIST, format!("{to}: exists")));
            }
            match (src.kind == FileKind::Dir, t.kind == FileKind::Dir) {
                (true, false) => {
                    return Err(FsError::new(
                        libc::ENOTDIR,
                        format!("{to}: not a directory"),
                    ));
                }
                (false, true) => {
                    return Err(FsError::new(libc::EISDIR, format!("{to}: is a directory")));
                }
                (true, true) => {
                    if !self.listing(&to)?.is_empty() {
                        return Err(FsError::new(libc::ENOTEMPTY, format!("{to}: not empty")));
                    }
                    self.remote
                        .rmdir(&to)
                        .map_err(|e| FsError::remote("rmdir", &to, &e))?;
                }
                (false, false) => {}
            }
        }
        let mut result = self.remote.rename(&from, &to);
        let refused = matches!(
            result,
            Err(RemoteError::Unavailable(_)) | Err(RemoteError::PermissionDenied(_))
        );
        if refused && target.as_ref().is_some_and(|t| t.kind != FileKind::Dir) {
            // Some servers refuse to rename onto an existing file; POSIX replaces it. The
            // replacement is then delete + rename (not atomic: SEMANTICS.md says so) — only
            // after a refusal, and only while the source is still there: a lost connection or
            // a missing source must never cost the target.
            self.cache.invalidate(&from_dir);
            if self.entry(&from).is_ok() && self.remote.delete(&to).is_ok() {
                result = self.remote.rename(&from, &to);
            }
        }
        if let Err(err) = result {
            self.cache.invalidate(&from_dir);
            self.cache.invalidate(&to_dir);
            let errno = match &err {
                RemoteError::Unavailable(_) if self.entry(&from).is_err() => libc::ENOENT,
                RemoteError::Unavailable(_) if self.entry(&to_dir).is_err() => libc::ENOENT,
                RemoteError::Unavailable(_) => libc::EACCES,
                other => other.errno(),
            };
            return Err(FsError::remote_as(errno, "rename", &from, &err));
        }
        if src.kind != FileKind::Dir {
            // A file being written at `to` was replaced: its handles no longer name it.
            self.forget_written(&to);
        }
        let mut moved = src.clone();
        moved.name = newname.to_string();
        self.cache.update(&from_dir, |l| {
            l.remove(name);
        });
        self.cache.update(&to_dir, |l| {
            l.insert(newname.to_string(), moved);
        });
        if src.kind == FileKind::Dir {
            self.cache.invalidate_tree(&from);
            self.cache.invalidate_tree(&to);
        }
        lock(&self.inodes).rename(&from, &to);
        Ok(())
    }

    /// setattr(2) family: chmod, chown, truncate, utimensat.
    pub fn setattr(&self, ino: u64, fh: Option<u64>, set: SetAttr) -> FsResult<Attr> {
        let path = self.path_of(ino)?;
        let e = self.entry(&path)?;
        if set.uid.is_some_and(|u| u != self.cfg.uid) || set.gid.is_some_and(|g| g != self.cfg.gid)
        {
            return Err(FsError::new(
                libc::EPERM,
                format!("{path}: FTP cannot change file ownership"),
            ));
        }
        if let Some(size) = set.size {
            self.truncate(&path, &e, fh, size)?;
        }
        if let Some(mode) = set.mode {
            self.chmod(&path, mode)?;
        }
        // atime is not stored by FTP (SEMANTICS.md: it always equals mtime), so an atime-only
        // request has nothing to persist; mtime is set on the server or refused.
        if let Some(t) = set.mtime {
            let when = match t {
                SetTime::Now => SystemTime::now(),
                SetTime::At(t) => t,
            };
            self.set_mtime(&path, when, matches!(t, SetTime::Now))?;
        }
        self.getattr(ino)
    }

    fn chmod(&self, path: &str, mode: u32) -> FsResult<()> {
        let mode = mode & 0o7777;
        self.remote.chmod(path, mode).map_err(|e| {
            let errno = match e {
                RemoteError::Unsupported(_) => libc::ENOTSUP,
                RemoteError::Unavailable(_) | RemoteError::PermissionDenied(_) => libc::EPERM,
                ref other => other.errno(),
            };
            FsError::remote_as(errno, "chmod", path, &e)
        })?;
        if let Some((dir, name)) = split(path) {
            self.cache.update(dir, |l| {
                if let Some(e) = l.get_mut(name) {
                    e.mode = Some(mode);
                }
            });
        }
        if let Some(l) = lock(&self.live).get_mut(path) {
            l.mode = mode;
        }
        Ok(())
    }

    fn set_mtime(&self, path: &str, when: SystemTime, now: bool) -> FsResult<()> {
        {
            let mut live = lock(&self.live);
            if let Some(l) = live.get_mut(path) {
                // The upload is still running: the server sets the mtime when it ends, so the
                // requested time is applied right after the upload (at close).
                l.mtime = when;
                if !now {
                    l.pending_mtime = Some(when);
                }
                return Ok(());
            }
        }
        self.remote.set_mtime(path, when).map_err(|e| {
            let errno = match e {
                RemoteError::Unsupported(_) => libc::ENOTSUP,
                RemoteError::Unavailable(_) | RemoteError::PermissionDenied(_) => libc::EPERM,
                ref other => other.errno(),
            };
            FsError::remote_as(errno, "set mtime of", path, &e)
        })?;
        self.note_written(path, None, Some(when));
        Ok(())
    }

    /// Records a change we made to a file in its cached listing.
    fn note_written(&self, path: &str, size: Option<u64>, mtime: Option<SystemTime>) {
        if let Some((dir, name)) = split(path) {
            let cached = self.cache.update(dir, |l| match l.get_mut(name) {
                Some(e) => {
                    if let Some(s) = size {
                        e.size = s;
                    }
                    if let Some(m) = mtime {
                        e.mtime = Some(m);
                    }
                }
                None => {
                    l.insert(
                        name.to_string(),
                        RemoteEntry {
                            name: name.to_string(),
                            kind: FileKind::File,
                            size: size.unwrap_or(0),
                            mtime: Some(mtime.unwrap_or_else(SystemTime::now)),
                            mode: None,
                            link_target: None,
                        },
                    );
                }
            });
            if !cached {
                self.cache.invalidate(dir);
            }
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
mod review_tests;
#[cfg(test)]
mod shared_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod write_tests;
