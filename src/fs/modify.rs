//! Modifying files in place: the core's side of staged copies (see `staged.rs` for the copy
//! itself) — opening staged handles, turning streaming handles into staged ones, uploading at
//! flush/fsync/close, truncate to any size, and `atomic_replace` (upload under a temporary
//! name, then rename over the target).
//!
//! Invariants:
//! - One staged copy per file path (`Fs::staged`), shared by every handle on it, so two
//!   handles of one file see each other's writes; it is dropped when its last user (handle
//!   or truncate) leaves (or the file is unlinked: an unregistered copy is never uploaded
//!   again). Only registered writers create copies; a reader joins one or reads the server.
//! - Lock order: handle → staged copy → live → registry → (cache, inodes, handle table), each
//!   after the first only briefly. At most one handle mutex is held at a time: the only code
//!   that locks a handle other than the caller's, `stage_stream` and `append.rs`'s
//!   `finish_appe`, is called holding none and locks just the file's streaming handles, one
//!   at a time, found in its `Live` entry (never by going through the open handles), so it
//!   never waits behind another file's transfer.
//! - A streaming handle is staged only after its upload finished (226), so the server holds
//!   exactly `[0, pos)`, which becomes the copy's `base`. A copy made with no streaming
//!   handle takes as `base` the size listed after the last upload (every upload records its
//!   size before its writer unregisters; a failed one drops the cached listing, so the
//!   directory is listed afresh).
//! - A dirty copy is uploaded at a writer's flush/fsync/close, and whenever a user leaves it
//!   (release, end of a truncate) while no other writer is registered to do so later, or as
//!   its last user. That check, the upload and the leaving happen under the copy's mutex,
//!   which every change takes too: a change is uploaded by its own user or seen by the last
//!   one out.
//! - A streaming handle whose upload failed keeps its error for its own flush/close; staging
//!   it fails, so the next writer takes it out of the stream slot and goes on without it.
//! - An upload failure is sticky on the copy (every later flush/close reports it), and the
//!   local file is kept and its path logged.

use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use super::handles::{Handle, StagedHandle, WriteState, Writer, upload_errno};
use super::reading::ReadState;
use super::staged::{Staged, UploadError};
use super::{Fs, FsError, FsResult, lock};
use crate::remote::{FileKind, RemoteEntry, RemoteError, split};

/// A staged copy in the registry, with the number of handles using it.
pub(super) struct Registered {
    copy: Arc<Mutex<Staged>>,
    users: usize,
}

impl Fs {
    /// The staged copy of `path` for its writer `w` (created with `base` bytes of the server's
    /// copy when there is none), counted as used by one more user. `None` when `w`'s file
    /// is no longer at `path` (checked under the live lock, so an unlink cannot slip
    /// between the check and the registration).
    fn stage(&self, path: &str, base: u64, w: Writer) -> FsResult<Option<Arc<Mutex<Staged>>>> {
        let live = lock(&self.live);
        if live.get(path).is_none_or(|l| l.id != w.id) {
            return Ok(None);
        }
        let mut reg = lock(&self.staged);
        match reg.entry(path.to_string()) {
            Entry::Occupied(mut o) => {
                o.get_mut().users += 1;
                Ok(Some(Arc::clone(&o.get().copy)))
            }
            Entry::Vacant(v) => {
                let copy = Arc::new(Mutex::new(Staged::new(&self.store, path, base)?));
                v.insert(Registered {
                    copy: Arc::clone(&copy),
                    users: 1,
                });
                Ok(Some(copy))
            }
        }
    }

    /// The staged copy of `path`, if it has one, counted as used by one more (reading) user.
    fn join_staged(&self, path: &str) -> Option<Arc<Mutex<Staged>>> {
        lock(&self.staged).get_mut(path).map(|r| {
            r.users += 1;
            Arc::clone(&r.copy)
        })
    }

    /// The copy a registered writer `w` of `path` works on: the file's streaming handle is
    /// staged first (its copy is then the file's), else a copy is made at the size the
    /// listing records (listed when not cached; `size` when it records none). ENOENT when
    /// the file was unlinked.
    fn writer_copy(&self, path: &str, size: u64, w: Writer) -> FsResult<Arc<Mutex<Staged>>> {
        self.stage_stream(path, w)?;
        // Listed afresh when the cached listing was dropped (after a failed upload, whose
        // writer's size the caller may still have seen).
        let listed = match split(path) {
            Some((dir, name)) => self.listing(dir)?.get(name).map(|e| e.size),
            None => None,
        };
        self.stage(path, listed.unwrap_or(size), w)?
            .ok_or_else(|| super::error::enoent(path))
    }

    /// A user (handle or truncate; `writer` when it is one) stops using `copy`. When the copy
    /// is dirty and no other writer is registered to upload it later, or this is its last
    /// user (a writer registered on the file may not be on this copy: one about to stage,
    /// or one whose upload failed), it is uploaded first. All under the copy's mutex (see
    /// the invariants); the upload's verdict is returned.
    pub(super) fn leave(
        &self,
        path: &str,
        copy: &Arc<Mutex<Staged>>,
        writer: Option<Writer>,
    ) -> FsResult<()> {
        let mut c = lock(copy);
        let others_write = lock(&self.live).get(path).is_some_and(|l| {
            let me = writer.is_some_and(|w| w.id == l.id);
            l.writers > usize::from(me)
        });
        let mut r = Ok(());
        let users = self.users(path, copy);
        if c.dirty && c.error.is_none() && users.is_some_and(|n| n == 1 || !others_write) {
            r = self
                .upload_copy(copy, &mut c)
                .and_then(|size| self.after_upload(path, writer, size));
        }
        if let Some(w) = writer {
            self.drop_writer(path, w);
        }
        self.unstage(path, copy);
        drop(c);
        r
    }

    /// Whether `copy` is still the registered copy of `path` (not unlinked or replaced).
    fn registered(&self, path: &str, copy: &Arc<Mutex<Staged>>) -> bool {
        self.users(path, copy).is_some()
    }

    /// How many users `copy` has; `None` when it is no longer the registered copy of `path`.
    fn users(&self, path: &str, copy: &Arc<Mutex<Staged>>) -> Option<usize> {
        lock(&self.staged)
            .get(path)
            .filter(|r| Arc::ptr_eq(&r.copy, copy))
            .map(|r| r.users)
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

    /// The file at `path` was unlinked (or replaced by a rename): its live entry and its
    /// staged copy are forgotten (open handles keep the copy, it is never uploaded again),
    /// under one hold of the live lock, so that a file created at the path meanwhile (which
    /// registers under that lock too) cannot lose its new copy in between.
    pub(super) fn forget_written(&self, path: &str) {
        let mut live = lock(&self.live);
        live.remove(path);
        lock(&self.staged).remove(path);
        drop(live);
    }

    /// Whether `path` has a staged copy.
    pub(super) fn is_staged(&self, path: &str) -> bool {
        lock(&self.staged).contains_key(path)
    }

    /// Opens a staged handle on `path`, whose server copy holds `size` bytes. A writer
    /// registers first, then stages the file's streaming handle (they share the copy). A
    /// reader shares the copy writers made; when there is none it reads the server.
    pub(super) fn open_staged(
        &self,
        path: &str,
        size: u64,
        writable: bool,
        trunc: bool,
        mode: u32,
    ) -> FsResult<u64> {
        if !writable {
            let h = match self.join_staged(path) {
                Some(copy) => Handle::Staged(StagedHandle {
                    path: path.to_string(),
                    copy,
                    writer: None,
                }),
                None => {
                    let ino = lock(&self.inodes).ino_of(path).unwrap_or(0);
                    Handle::Read(ReadState::new(path.to_string(), ino, size))
                }
            };
            return Ok(self.insert_handle(h));
        }
        let writer = self.add_writer(path, size, mode);
        let copy = match self.writer_copy(path, size, writer) {
            Ok(copy) => copy,
            Err(e) => {
                self.drop_writer(path, writer);
                return Err(e);
            }
        };
        let mut c = lock(&copy);
        if trunc && let Err(e) = c.set_len(0) {
            drop(c);
            let _ = self.leave(path, &copy, Some(writer));
            return Err(e);
        }
        // Under the copy's lock (see `Fs::write`).
        let size = c.size();
        self.update_live(path, writer, |l| l.size = size);
        drop(c);
        Ok(self.insert_handle(Handle::Staged(StagedHandle {
            path: path.to_string(),
            copy,
            writer: Some(writer),
        })))
    }

    /// Stages the streaming handles of the file `w` is registered on (its appenders may be
    /// several), the one whose upload runs first (so the server holds the whole file when the
    /// others join the copy). Locks one handle at a time (the caller holds none), waiting for
    /// its transfer to move on. A handle that cannot be staged (its upload failed) keeps its
    /// error for its own close and leaves the stream slot: the file goes on at the size the
    /// listing records (listed afresh after a failed append; when that listing fails, so
    /// does the staging, the rest left to the next stager).
    pub(super) fn stage_stream(&self, path: &str, w: Writer) -> FsResult<()> {
        loop {
            // An upload failed (before, or just now while staging the previous handle): the
            // next one starts from what the server kept, listed afresh.
            let unsure = lock(&self.live)
                .get(path)
                .is_some_and(|l| l.id == w.id && l.unsure && l.appe.is_none());
            // Not known (the listing failed): nothing is staged at a guessed size.
            if unsure {
                self.relist(path, w)?;
            }
            let slot = match lock(&self.live).get_mut(path) {
                Some(l) if l.id == w.id => {
                    l.appending = false;
                    let running = l.appe;
                    let first = l.streams.iter().find(|(fh, _)| Some(*fh) == running);
                    first.or(l.streams.first()).cloned()
                }
                _ => None,
            };
            let Some((fh, h)) = slot else {
                return Ok(());
            };
            let mut g = lock(&h);
            // Released (or staged) while we waited: nothing left to stage.
            let still = lock(&self.live)
                .get(path)
                .is_some_and(|l| l.id == w.id && l.streams.iter().any(|(f, _)| *f == fh));
            if still && let Err(e) = self.to_staged(&mut g) {
                log::info!(
                    "{path}: going on without the failed upload of another handle ({})",
                    e.msg
                );
            }
            // Out of the slots whatever happened, so that the loop ends.
            self.update_live(path, w, |l| {
                l.streams.retain(|(f, _)| *f != fh);
                if l.appe == Some(fh) {
                    l.appe = None;
                }
            });
            drop(g);
        }
    }

    /// Turns a streaming write handle into a staged one: its upload is finished (the server
    /// then holds `[0, pos)`), out-of-order writes still waiting go into the copy. A handle
    /// whose file was unlinked gets a private copy, never uploaded. A requested mtime stays
    /// pending for the copy's upload (which would overwrite a time set now). Any failure is
    /// recorded on the handle, which stays a (failed) write handle: every later
    /// flush/fsync/close reports it, so acknowledged writes are never dropped silently.
    pub(super) fn to_staged(&self, h: &mut MutexGuard<'_, Handle>) -> FsResult<()> {
        let Handle::Write(w) = &mut **h else {
            return Ok(());
        };
        if let Some(e) = w.error() {
            return Err(e.clone());
        }
        if w.append && !w.running() {
            // An appender with nothing running: the file may have grown by other appenders'
            // uploads since it last wrote; with no upload running the server holds the size
            // shown (unless an upload failed and the listing could not tell what it kept).
            let size = match lock(&self.live).get(&w.path) {
                Some(l) if l.id == w.writer.id && l.appe.is_none() && !l.unsure => Some(l.size),
                _ => None,
            };
            if let Some(size) = size {
                w.pos = size;
            }
        }
        self.end_stream(w, false)?;
        let copy = self.stream_copy(w).map_err(|e| w.fail(e))?;
        let (path, writer) = (w.path.clone(), w.writer);
        // The file has no streaming handle any more (the next writer joins the copy).
        self.update_live(&path, writer, |l| {
            l.streams.retain(|(fh, _)| *fh != writer.fh);
        });
        **h = Handle::Staged(StagedHandle {
            path,
            copy,
            writer: Some(writer),
        });
        Ok(())
    }

    /// When `h` is an appender with nothing running while another appender of its file
    /// uploads: the writer to stage them all with ([`Fs::stage_stream`], after unlocking `h`),
    /// as staging `h` alone would start the copy short of that upload. Once staged, no
    /// appender joins the file any more.
    fn other_appe(&self, h: &Handle) -> Option<Writer> {
        let Handle::Write(w) = h else {
            return None;
        };
        if !w.append || w.running() {
            return None;
        }
        let live = lock(&self.live);
        let l = live.get(&w.path).filter(|l| l.id == w.writer.id)?;
        l.appe.is_some_and(|a| a != w.writer.fh).then_some(w.writer)
    }

    /// The copy a streaming handle whose upload has ended turns into, holding its pending
    /// out-of-order writes (taken from the handle only once the copy exists).
    fn stream_copy(&self, w: &mut WriteState) -> FsResult<Arc<Mutex<Staged>>> {
        let (path, writer) = (w.path.clone(), w.writer);
        log::debug!("{path}: staged (the server holds {} bytes)", w.pos);
        let (copy, registered) = match self.stage(&path, w.pos, writer)? {
            Some(copy) => (copy, true),
            None => {
                let copy = Staged::new(&self.store, &path, w.pos)?;
                (Arc::new(Mutex::new(copy)), false)
            }
        };
        let mut c = lock(&copy);
        for (off, data) in w.take_pending() {
            if let Err(e) = c.write(off, &data) {
                drop(c);
                if registered {
                    self.unstage(&path, &copy);
                }
                return Err(e);
            }
        }
        let size = c.size();
        self.update_live(&path, writer, |l| l.size = size);
        drop(c);
        Ok(copy)
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
        let size = self.upload_copy(&s.copy, &mut c)?;
        drop(c);
        self.after_upload(&s.path, s.writer, size)
    }

    /// Uploads `copy` (locked by the caller as `c`; to a temporary name first with
    /// `atomic_replace`); returns the size uploaded, or `None` when the file was unlinked (or
    /// replaced) during an `atomic_replace` upload: the temporary file is then deleted, not
    /// renamed into place. A failure is recorded on the copy, which keeps its local file.
    fn upload_copy(&self, copy: &Arc<Mutex<Staged>>, c: &mut Staged) -> FsResult<Option<u64>> {
        let path = c.path.clone();
        let tmp = self.cfg.atomic_replace.then(|| self.tmp_name(&path));
        let target = tmp.as_deref().unwrap_or(&path);
        let r = match c.upload(&*self.remote, target) {
            Ok(size) => match &tmp {
                // Checked again now: the unlink may have come during the upload.
                Some(tmp) if !self.registered(&path, copy) => {
                    if let Err(e) = self.remote.delete(tmp) {
                        log::warn!("{tmp}: cannot remove the upload of an unlinked file: {e}");
                    }
                    Ok(None)
                }
                Some(tmp) => self.commit_tmp(tmp, &path).map(|()| Some(size)),
                None => Ok(Some(size)),
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
        let (pending, mode, written) = match (writer, lock(&self.live).get_mut(path)) {
            (Some(w), Some(l)) if l.id == w.id => {
                (l.pending_mtime.take(), l.pending_mode.take(), Some(l.mtime))
            }
            (Some(_), _) => return Ok(()),
            (None, _) => (None, None, None),
        };
        if size.is_some() {
            // The time of the last write (or of the creation), as shown while it was open:
            // the server's (the 226) shows at the next listing.
            let when = written.unwrap_or_else(SystemTime::now);
            self.note_written(path, size, Some(when));
        }
        if let Some(m) = mode {
            self.apply_new_mode(path, FileKind::File, m);
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
    /// writers, or at once when no other writer has it open. The truncate counts as a writer
    /// while it runs, so a writer leaving meanwhile leaves the upload to it.
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
        // Several appenders: stage them all (the one uploading first) before any of them,
        // also when `appending` was cleared already by a stager that has not staged them
        // yet (staging one while another's APPE runs would start its copy short of that).
        let appenders = match lock(&self.live).get(path) {
            Some(l) if l.streams.len() > 1 => Some(Writer { id: l.id, fh: 0 }),
            _ => None,
        };
        if let Some(w) = appenders {
            self.stage_stream(path, w)?;
        }
        if let Some(fh) = fh
            && let Ok(h) = self.handle(fh)
        {
            let mut g = lock(&h);
            // An appender that joined meanwhile has its upload running: stage them all.
            if let Some(w) = self.other_appe(&g) {
                drop(g);
                self.stage_stream(path, w)?;
                g = lock(&h);
            }
            if let Handle::Write(w) = &*g
                && size == 0
                && w.pos == 0
                && w.running()
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
        let writer = self.add_writer(path, e.size, e.mode.unwrap_or(0o644));
        let copy = match self.writer_copy(path, e.size, writer) {
            Ok(copy) => copy,
            Err(err) => {
                self.drop_writer(path, writer);
                return Err(err);
            }
        };
        let mut c = lock(&copy);
        let r = c.set_len(size);
        if r.is_ok() {
            // Under the copy's lock (see `Fs::write`).
            let size = c.size();
            self.update_live(path, writer, |l| {
                l.size = size;
                l.mtime = SystemTime::now();
            });
        }
        drop(c);
        let left = self.leave(path, &copy, Some(writer));
        r.and(left)
    }
}
