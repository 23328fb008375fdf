//! Namespace operations: mkdir, symlink, unlink, rmdir, rename — one FTP command each (two
//! for a rename that replaces), the cached listings edited in place afterwards, and the
//! times of the directories changed shown at once (`attrs.rs`).
//!
//! Invariants: a failed command leaves the listings it may have changed invalidated (the
//! errno is chosen from a fresh listing); no lock is held across the command.

use std::time::{Duration, SystemTime};

use super::{Attr, Fs, FsError, FsResult, check_name, lock};
use crate::remote::{FileKind, RemoteEntry, RemoteError, join};

impl Fs {
    /// mkdir(2).
    /// mkdir(2) with `mode` (the caller's umask applied), given on the server when its
    /// default differs (`attrs.rs`).
    pub fn mkdir(&self, parent: u64, name: &str, mode: u32) -> FsResult<Attr> {
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
        let mut entry = RemoteEntry {
            name: name.to_string(),
            kind: FileKind::Dir,
            size: 0,
            mtime: Some(SystemTime::now()),
            mode: None,
            link_target: None,
        };
        self.touch_dir(&dir);
        self.move_touch(&path, None);
        self.cache.update(&dir, |l| {
            l.insert(name.to_string(), entry.clone());
        });
        entry.mode = self.apply_new_mode(&path, FileKind::Dir, mode);
        // A new directory is empty: known without listing it (and its link count is 2).
        self.cache.invalidate(&path);
        let _ = self.cache.get_or_fetch(&path, || Ok(Vec::new()));
        let ino = lock(&self.inodes).get_or_insert(&path, true);
        Ok(self.attr(ino, &path, &entry))
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
        self.touch_dir(&dir);
        self.cache.update(&dir, |l| {
            l.insert(name.to_string(), entry.clone());
        });
        let ino = lock(&self.inodes).get_or_insert(&path, true);
        Ok(self.attr(ino, &path, &entry))
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
        // What fstat on a descriptor still open shows (nlink 0), as of now.
        let ino = lock(&self.inodes).ino_of(&path);
        if let Some(ino) = ino {
            let a = self.attr(ino, &path, &e);
            self.keep_unlinked(ino, a);
        }
        self.touch_dir(&dir);
        self.move_touch(&path, None);
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
        self.touch_dir(&dir);
        self.move_touch(&path, None);
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
            // The directory's own listing moves with it (its link count stays known); the
            // listings below it are dropped.
            let content = self.cache.peek(&from);
            self.cache.invalidate_tree(&from);
            self.cache.invalidate_tree(&to);
            if let Some(content) = content {
                let _ = self
                    .cache
                    .get_or_fetch(&to, || Ok(content.values().cloned().collect()));
            }
        }
        self.touch_dir(&from_dir);
        self.touch_dir(&to_dir);
        self.move_touch(&from, Some(&to));
        self.touch_ctime(&to, false);
        lock(&self.inodes).rename(&from, &to);
        Ok(())
    }
}
