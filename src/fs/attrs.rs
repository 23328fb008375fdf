//! Attributes: what stat shows (from the listing, with this mount's own changes laid over it)
//! and setattr (chmod, chown, truncate, utimensat).
//!
//! Invariants: see `mod.rs`; times this mount changed are shown at once, from the local
//! clock, until a listing shows a later one.

use std::num::NonZeroUsize;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use super::{Attr, Fs, FsError, FsResult, SetAttr, SetTime, lock};
use crate::remote::{FileKind, RemoteEntry, RemoteError, split};

/// Paths whose own changes are remembered (older ones are forgotten: a listing shows them by
/// then, to the second).
pub(super) const TOUCHED: NonZeroUsize = NonZeroUsize::new(4096).unwrap();

/// A change this mount made to a path, with the local clock: listings show times to the
/// second (or minute), and a directory's listed entry is cached apart from its content.
#[derive(Clone, Copy, Debug)]
pub(super) struct Touch {
    /// A directory whose entries we changed: its mtime is at least this.
    mtime: Option<SystemTime>,
    /// Attributes or name changed (chmod, rename, utimensat, entries): ctime is at least this.
    ctime: SystemTime,
}

/// What the server gives new files and directories, learned once per kind from a fresh
/// listing (the outer `None`: not yet asked; the inner: the listing shows no modes), and
/// whether it can change modes at all.
#[derive(Debug, Default)]
pub(super) struct NewModes {
    file: Option<Option<u32>>,
    dir: Option<Option<u32>>,
    /// `SITE CHMOD` was refused as unknown (500/502): never tried again.
    unsupported: bool,
    /// A refusal was logged.
    warned: bool,
}

impl Fs {
    /// The attributes shown for `path` (inode `ino`) listed as `e`, with this mount's own
    /// changes laid over it. A directory's link count is 2 + its subdirectories when its
    /// listing is cached, else 1 ("unknown", as `find` reads it).
    pub(super) fn attr(&self, ino: u64, path: &str, e: &RemoteEntry) -> Attr {
        let default = match e.kind {
            FileKind::Dir => 0o755,
            FileKind::File => 0o644,
            FileKind::Symlink => 0o777,
        };
        let mut perm = e.mode.unwrap_or(default) & 0o7777;
        if let Some(umask) = self.cfg.umask {
            perm &= !umask;
        }
        let listed = e.mtime.unwrap_or(self.mounted_at);
        let touch = lock(&self.touched).peek(path).copied();
        let mtime = match touch.and_then(|t| t.mtime) {
            Some(m) => m.max(listed),
            None => listed,
        };
        let ctime = touch.map_or(mtime, |t| t.ctime.max(mtime));
        let nlink = match e.kind {
            FileKind::Dir => self.cache.subdirs(path).map_or(1, |n| 2 + n as u32),
            _ => 1,
        };
        Attr {
            ino,
            kind: e.kind,
            size: match e.kind {
                FileKind::Symlink => e.link_target.as_ref().map_or(0, |t| t.len() as u64),
                _ => e.size,
            },
            mtime,
            ctime,
            perm: perm as u16,
            nlink,
            uid: self.cfg.uid,
            gid: self.cfg.gid,
        }
    }

    /// We added or removed an entry of `dir`: its mtime and ctime are now.
    pub(super) fn touch_dir(&self, dir: &str) {
        let now = SystemTime::now();
        lock(&self.touched).put(
            dir.to_string(),
            Touch {
                mtime: Some(now),
                ctime: now,
            },
        );
    }

    /// We changed the attributes or the name of `path`: its ctime is now. `mtime_set`: its
    /// mtime was set on the server (a directory's own newer mtime no longer applies).
    pub(super) fn touch_ctime(&self, path: &str, mtime_set: bool) {
        let now = SystemTime::now();
        let mut t = lock(&self.touched);
        let mtime = if mtime_set {
            None
        } else {
            t.peek(path).and_then(|t| t.mtime)
        };
        t.put(path.to_string(), Touch { mtime, ctime: now });
    }

    /// `path` is gone (unlinked, removed, or renamed to `to`, which takes what it had).
    pub(super) fn move_touch(&self, path: &str, to: Option<&str>) {
        let mut t = lock(&self.touched);
        let had = t.pop(path);
        if let (Some(to), Some(had)) = (to, had) {
            t.put(to.to_string(), had);
        }
    }

    /// `path` (inode `ino`, attributes `a`) is unlinked; while the kernel holds the inode (an
    /// open file), fstat answers from this with nlink 0.
    pub(super) fn keep_unlinked(&self, ino: u64, a: Attr) {
        lock(&self.unlinked).insert(ino, Attr { nlink: 0, ..a });
    }

    /// Gives `path`, just created as a `kind` with the mode `want` (already masked by the
    /// caller's umask), that mode on the server when the server's default differs: `SITE
    /// CHMOD` after MKD/STOR. The default is learned once per kind from a fresh listing.
    /// Never fails the creation: a server that cannot change modes is logged once. Returns
    /// the mode the file has now, when known.
    pub(super) fn apply_new_mode(&self, path: &str, kind: FileKind, want: u32) -> Option<u32> {
        let want = want & 0o7777;
        let (dir, name) = split(path)?;
        let known = {
            let m = lock(&self.new_modes);
            if kind == FileKind::Dir { m.dir } else { m.file }
        };
        let default = match known {
            Some(d) => d,
            None => {
                // What this mount showed of it stays (the listing has seconds at best).
                let shown = self
                    .cache
                    .peek(dir)
                    .and_then(|l| l.get(name).and_then(|e| e.mtime));
                self.cache.invalidate(dir);
                let d = self
                    .listing(dir)
                    .ok()
                    .and_then(|l| l.get(name).and_then(|e| e.mode));
                if let Some(t) = shown {
                    self.cache.update(dir, |l| {
                        if let Some(e) = l.get_mut(name) {
                            e.mtime = Some(e.mtime.map_or(t, |m| m.max(t)));
                        }
                    });
                }
                let mut m = lock(&self.new_modes);
                let slot = if kind == FileKind::Dir {
                    &mut m.dir
                } else {
                    &mut m.file
                };
                *slot = Some(d);
                log::debug!(
                    "new {kind:?}s get the mode {d:?} (octal {:o}) from the server",
                    d.unwrap_or(0)
                );
                d
            }
        };
        if default == Some(want) {
            return default;
        }
        if lock(&self.new_modes).unsupported {
            return default;
        }
        match self.remote.chmod(path, want) {
            Ok(()) => {
                self.cache.update(dir, |l| {
                    if let Some(e) = l.get_mut(name) {
                        e.mode = Some(want);
                    }
                });
                Some(want)
            }
            Err(e) => {
                let mut m = lock(&self.new_modes);
                m.unsupported |= matches!(e, RemoteError::Unsupported(_));
                if !std::mem::replace(&mut m.warned, true) {
                    log::warn!(
                        "{path}: cannot give it the mode {want:o} it was created with ({e}); \
                         new files and directories keep the server's default mode"
                    );
                }
                default
            }
        }
    }

    /// utimensat on a directory the server refuses to set times on: its mtime is the server's
    /// to keep (it changes with every entry), so the call succeeds without a change, logged
    /// once per mount. Connection failures and timeouts stay errors.
    fn dir_time_refused(&self, path: &str, e: &FsError, cause: &RemoteError) -> bool {
        if matches!(
            cause,
            RemoteError::Connection(_) | RemoteError::Timeout(_) | RemoteError::DataConnection(_)
        ) {
            return false;
        }
        if !self.dir_times_refused.swap(true, Ordering::Relaxed) {
            log::warn!(
                "{path}: the server cannot set the times of directories ({}); utimensat on \
                 directories succeeds without changing them (logged once)",
                e.msg
            );
        }
        true
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
            self.set_mtime(&path, e.kind, when, matches!(t, SetTime::Now))?;
        }
        self.getattr(ino)
    }

    pub(super) fn chmod(&self, path: &str, mode: u32) -> FsResult<()> {
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
        self.touch_ctime(path, false);
        if let Some(l) = lock(&self.live).get_mut(path) {
            // Set now: the mode the file was created with is no longer wanted after its upload.
            l.pending_mode = None;
            l.mode = mode;
        }
        Ok(())
    }

    /// Sets the mtime of `path` (a `kind`) on the server, or, on a file being uploaded, right
    /// after its upload. A directory whose time the server refuses to set keeps the
    /// server's (see [`Fs::dir_time_refused`]).
    pub(super) fn set_mtime(
        &self,
        path: &str,
        kind: FileKind,
        when: SystemTime,
        now: bool,
    ) -> FsResult<()> {
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
        if let Err(e) = self.remote.set_mtime(path, when) {
            let errno = match e {
                RemoteError::Unsupported(_) => libc::ENOTSUP,
                RemoteError::Unavailable(_) | RemoteError::PermissionDenied(_) => libc::EPERM,
                ref other => other.errno(),
            };
            let err = FsError::remote_as(errno, "set mtime of", path, &e);
            if kind == FileKind::Dir && self.dir_time_refused(path, &err, &e) {
                return Ok(());
            }
            return Err(err);
        }
        self.touch_ctime(path, true);
        self.note_written(path, None, Some(when));
        Ok(())
    }

    /// Records a change we made to a file in its cached listing.
    pub(super) fn note_written(&self, path: &str, size: Option<u64>, mtime: Option<SystemTime>) {
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
}
