//! Modifying files in place: the core's side of staged copies (see `staged.rs` for the copy
//! itself) — opening staged handles, turning streaming handles into staged ones, uploading at
//! flush/fsync/close, truncate to any size, and `atomic_replace` (upload under a temporary
//! name, then rename over the target).
//!
//! Invariants:
//! - One staged copy per file path (`Fs::staged`), shared by every handle on it, so two
//!   handles of one file see each other's writes; it is dropped when its last handle is
//!   released (or the file is unlinked: an unregistered copy is never uploaded again).
//! - Lock order: handle → staged copy → (registry | live | cache), the latter only briefly.
//!   The registry lock is never held while a copy's mutex is taken.
//! - A streaming handle is staged only after its upload finished (226), so the server holds
//!   exactly `[0, pos)`, which becomes the copy's `base`.
//! - An upload failure is sticky on the copy (every later flush/close reports it), and the
//!   local file is kept and its path logged.

use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use super::handles::{Handle, StagedHandle, Writer, upload_errno};
use super::staged::{Staged, UploadError};
use super::{Fs, FsError, FsResult, lock};
use crate::remote::{FileKind, RemoteEntry, RemoteError, split};

/// A staged copy in the registry, with the number of handles using it.
pub(super) struct Registered {
    copy: Arc<Mutex<Staged>>,
    users: usize,
}

impl Fs {
    /// The staged copy of `path` (created with `base` bytes of the server's copy when there is
    /// none), counted as used by one more handle.
    fn stage(&self, path: &str, base: u64) -> FsResult<Arc<Mutex<Staged>>> {
        let mut reg = lock(&self.staged);
        match reg.entry(path.to_string()) {
            Entry::Occupied(mut o) => {
                o.get_mut().users += 1;
                Ok(Arc::clone(&o.get().copy))
            }
            Entry::Vacant(v) => {
                let copy = Arc::new(Mutex::new(Staged::new(&self.store, path, base)?));
                v.insert(Registered {
                    copy: Arc::clone(&copy),
                    users: 1,
                });
                Ok(copy)
            }
        }
    }

    /// Whether `copy` is still the registered copy of `path` (not unlinked or replaced).
    fn registered(&self, path: &str, copy: &Arc<Mutex<Staged>>) -> bool {
        lock(&self.staged)
            .get(path)
            .is_some_and(|r| Arc::ptr_eq(&r.copy, copy))
    }

    /// A handle no longer uses `copy`; the last one drops it.
    pub(super) fn unstage(&self, path: &str, copy: &Arc<Mutex<Staged>>) {
        let mut reg = lock(&self.staged);
        if let Some(r) = reg.get_mut(path)
            && Arc::ptr_eq(&r.copy, copy)
        {
            r.users -= 1;
            if r.users == 0 {
                reg.remove(path);
            }
        }
    }

    /// Forgets the staged copy of `path` (unlinked): open handles keep it, it is never
    /// uploaded again.
    pub(super) fn forget_staged(&self, path: &str) {
        lock(&self.staged).remove(path);
    }

    /// Whether `path` has a staged copy.
    pub(super) fn is_staged(&self, path: &str) -> bool {
        lock(&self.staged).contains_key(path)
    }

    /// Opens a staged handle on `path`, whose server copy holds `size` bytes. Streaming
    /// handles of the same file are staged first (they share the copy).
    pub(super) fn open_staged(
        &self,
        path: &str,
        size: u64,
        writable: bool,
        trunc: bool,
        mode: u32,
    ) -> FsResult<u64> {
        self.stage_streams(path)?;
        let copy = self.stage(path, size)?;
        let staged_size = {
            let mut c = lock(&copy);
            if trunc && let Err(e) = c.set_len(0) {
                drop(c);
                self.unstage(path, &copy);
                return Err(e);
            }
            c.size()
        };
        let writer = writable.then(|| self.add_writer(path, staged_size, mode));
        Ok(self.insert_handle(Handle::Staged(StagedHandle {
            path: path.to_string(),
            copy,
            writer,
        })))
    }

    /// Turns every streaming write handle of the file at `path` into a staged one.
    fn stage_streams(&self, path: &str) -> FsResult<()> {
        if self.is_staged(path) || !lock(&self.live).contains_key(path) {
            return Ok(());
        }
        let all: Vec<_> = lock(&self.handles).values().cloned().collect();
        for h in all {
            let mut g = lock(&h);
            if matches!(&*g, Handle::Write(w) if w.path == path && self.is_current(path, w.writer))
            {
                self.to_staged(&mut g)?;
            }
        }
        Ok(())
    }

    /// Turns a streaming write handle into a staged one: its upload is finished (the server
    /// then holds `[0, pos)`), out-of-order writes still waiting go into the copy. A handle
    /// whose file was unlinked gets a private copy, never uploaded.
    pub(super) fn to_staged(&self, h: &mut MutexGuard<'_, Handle>) -> FsResult<()> {
        let Handle::Write(w) = &mut **h else {
            return Ok(());
        };
        if let Some(e) = w.error() {
            return Err(e.clone());
        }
        let pending = w.take_pending();
        self.end_stream(w)?;
        let (path, writer) = (w.path.clone(), w.writer);
        log::debug!("{path}: staged (the server holds {} bytes)", w.pos);
        let copy = if self.is_current(&path, writer) {
            self.stage(&path, w.pos)?
        } else {
            Arc::new(Mutex::new(Staged::new(&self.store, &path, w.pos)?))
        };
        {
            let mut c = lock(&copy);
            for (off, data) in pending {
                if let Err(e) = c.write(off, &data) {
                    drop(c);
                    self.unstage(&path, &copy);
                    return Err(e);
                }
            }
        }
        **h = Handle::Staged(StagedHandle {
            path,
            copy,
            writer: Some(writer),
        });
        Ok(())
    }

    /// Uploads a staged handle's copy when dirty, then applies a pending mtime.
    pub(super) fn flush_staged(&self, s: &StagedHandle) -> FsResult<()> {
        let mut c = lock(&s.copy);
        if let Some(e) = &c.error {
            return Err(e.clone());
        }
        if !c.dirty || !self.registered(&s.path, &s.copy) {
            drop(c);
            return match s.writer {
                Some(_) => self.after_upload(&s.path, s.writer, None),
                None => Ok(()),
            };
        }
        let size = self.upload_copy(&mut c)?;
        drop(c);
        self.after_upload(&s.path, s.writer, Some(size))
    }

    /// Uploads a copy (to a temporary name first with `atomic_replace`); a failure is recorded
    /// on the copy, which keeps its local file.
    fn upload_copy(&self, c: &mut Staged) -> FsResult<u64> {
        let path = c.path.clone();
        let tmp = self.cfg.atomic_replace.then(|| self.tmp_name(&path));
        let target = tmp.as_deref().unwrap_or(&path);
        let r = match c.upload(&*self.remote, target) {
            Ok(size) => match &tmp {
                Some(tmp) => self.commit_tmp(tmp, &path).map(|()| size),
                None => Ok(size),
            },
            Err(UploadError::Local(e)) => Err(e),
            Err(UploadError::Remote(e)) => {
                if tmp.is_some() {
                    let _ = self.remote.delete(target);
                }
                Err(FsError::remote_as(upload_errno(&e), "upload", &path, &e))
            }
        };
        r.inspect_err(|e| {
            log::error!(
                "{path}: upload failed ({}); the data is kept in {}",
                e.msg,
                c.local().display()
            );
            c.error = Some(e.clone());
        })
    }

    /// After a finished upload (`size` uploaded; `None`: nothing was uploaded now) by
    /// `writer` (`None`: a reader, whose copy is still registered): record size and mtime,
    /// apply a requested mtime. A writer's file that was unlinked (or replaced) meanwhile is
    /// not recorded: the path may name another file.
    pub(super) fn after_upload(
        &self,
        path: &str,
        writer: Option<Writer>,
        size: Option<u64>,
    ) -> FsResult<()> {
        let pending = match (writer, lock(&self.live).get_mut(path)) {
            (Some(w), Some(l)) if l.id == w.id => l.pending_mtime.take(),
            (Some(_), _) => return Ok(()),
            (None, _) => None,
        };
        if size.is_some() {
            self.note_written(path, size, Some(SystemTime::now()));
        }
        if let Some(t) = pending {
            self.remote.set_mtime(path, t).map_err(|e| {
                let errno = match e {
                    RemoteError::Unsupported(_) => libc::ENOTSUP,
                    _ => libc::EPERM,
                };
                FsError::remote_as(errno, "set mtime (after upload) of", path, &e)
            })?;
            self.note_written(path, None, Some(t));
            if let Some(w) = writer {
                self.update_live(path, w, |l| l.mtime = t);
            }
        }
        Ok(())
    }

    /// An empty STOR (creates or empties the file on the server).
    pub(super) fn empty_upload(&self, path: &str) -> FsResult<()> {
        let errno = |e: &RemoteError| match e {
            RemoteError::Unavailable(_) => match split(path) {
                Some((dir, _)) if self.entry(dir).is_err() => libc::ENOENT,
                _ => libc::EACCES,
            },
            other => upload_errno(other),
        };
        let s = self
            .remote
            .open_write(path)
            .map_err(|e| FsError::remote_as(errno(&e), "upload", path, &e))?;
        s.finish()
            .map_err(|e| FsError::remote_as(errno(&e), "upload", path, &e))?;
        self.note_written(path, Some(0), Some(SystemTime::now()));
        Ok(())
    }

    /// A temporary name next to `path`: `.NAME.ftpfs-XXXXXX`.
    pub(super) fn tmp_name(&self, path: &str) -> String {
        let (dir, name) = split(path).unwrap_or(("/", "file"));
        let n = self
            .next_fh
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tag = (u64::from(std::process::id()) << 20 ^ n) % 1_000_000;
        crate::remote::join(dir, &format!(".{name}.ftpfs-{tag:06}"))
    }

    /// Renames an uploaded temporary file over `path` (delete + rename when the server will
    /// not rename over a file); removes the temporary file when that fails.
    pub(super) fn commit_tmp(&self, tmp: &str, path: &str) -> FsResult<()> {
        let mut r = self.remote.rename(tmp, path);
        // A server that refuses to rename onto an existing file: delete the target, then
        // rename — only after such a refusal (never after a lost connection), and only when
        // the new content is still there to take its place.
        let refused = matches!(
            r,
            Err(RemoteError::Unavailable(_)) | Err(RemoteError::PermissionDenied(_))
        );
        if refused && self.remote.delete(path).is_ok() {
            r = self.remote.rename(tmp, path);
        }
        r.map_err(|e| {
            // The new content stays under its temporary name (not deleted): nothing is lost.
            log::error!(
                "{path}: the new content could not be renamed into place ({e}); it is kept on \
                 the server as {tmp}"
            );
            FsError::remote_as(upload_errno(&e), "rename (atomic_replace) onto", path, &e)
        })
    }

    /// Truncate (setattr size) to any size. To 0 without a staged copy: an empty STOR (or
    /// nothing, on a handle whose upload has not sent a byte). Otherwise the file is staged
    /// (ranges beyond the old size are holes, never fetched) and uploaded at the close of its
    /// handles, or at once when none is open.
    pub(super) fn truncate(
        &self,
        path: &str,
        e: &RemoteEntry,
        fh: Option<u64>,
        size: u64,
    ) -> FsResult<()> {
        if e.kind == FileKind::Dir {
            return Err(FsError::new(
                libc::EISDIR,
                format!("{path}: is a directory"),
            ));
        }
        if size == e.size && !self.is_staged(path) {
            return Ok(());
        }
        if let Some(fh) = fh
            && let Ok(h) = self.handle(fh)
        {
            let mut g = lock(&h);
            if let Handle::Write(w) = &*g
                && size == 0
                && w.pos == 0
                && w.error().is_none()
                && w.tmp.is_none()
            {
                return Ok(());
            }
            self.to_staged(&mut g)?;
        }
        let live = lock(&self.live).contains_key(path);
        if size == 0 && !live && !self.is_staged(path) {
            return self.empty_upload(path);
        }
        self.stage_streams(path)?;
        let copy = self.stage(path, e.size)?;
        let r = self.truncate_copy(path, &copy, size, live);
        self.unstage(path, &copy);
        r
    }

    fn truncate_copy(
        &self,
        path: &str,
        copy: &Arc<Mutex<Staged>>,
        size: u64,
        live: bool,
    ) -> FsResult<()> {
        let mut c = lock(copy);
        c.set_len(size)?;
        if live || lock(&self.staged).get(path).is_some_and(|r| r.users > 1) {
            // Open handles upload it at their close.
            drop(c);
            if let Some(l) = lock(&self.live).get_mut(path) {
                l.size = size;
                l.mtime = SystemTime::now();
            }
            return Ok(());
        }
        let uploaded = self.upload_copy(&mut c)?;
        drop(c);
        self.note_written(path, Some(uploaded), Some(SystemTime::now()));
        Ok(())
    }
}
