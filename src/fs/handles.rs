//! Open files: the read path (one RETR stream per handle, resumed with REST at other offsets),
//! the streaming write path (one STOR, or APPE, per handle, finished at flush/close), and the
//! dispatch of every handle operation to the staged path (`modify.rs`) when a handle is staged.
//!
//! Invariants:
//! - A handle's mutex is held while its stream moves data; no other lock is held then
//!   (a staged handle also takes its copy's mutex, always after the handle's).
//! - A read stream is opened lazily at the first read and closed at end of file, so an open
//!   but unread (or fully read) file holds no connection.
//! - A write handle reports an upload failure at flush/fsync (so close(2) sees it) and at every
//!   later write; a successful flush means the server answered 226 for all bytes written.
//! - Writes arrive in order for a streaming upload; a write beyond the current end waits in a
//!   bounded reorder buffer (FUSE threads may deliver adjacent writes out of order), which
//!   all handles together keep within a quarter of the memory budget (a write the gap waits
//!   for must still find room). A write
//!   before the current end, a hole the buffer cannot hold, or an append the server refuses
//!   turns the handle into a staged one: its upload is finished first, so the server holds
//!   `[0, pos)`, which the staged copy fetches on demand.
//! - A file has at most one streaming write handle, and only while that handle is its only
//!   writer, unless all its writers are O_APPEND ones, which take turns (`append.rs`): the
//!   claim is made under the `live` lock, and any other writer (open, create, truncate) makes
//!   the file staged, staging the streaming handles first (so the server holds what the copy
//!   starts from). They are found through the file's `Live` entry (`live.rs`).
//! - Every writer registers on the file's `Live` entry ([`Writer`]) and touches that entry
//!   only while its id matches. A handle whose file was unlinked (or replaced by a rename)
//!   starts no new transfer on the path, which may name another file by then: a running
//!   upload is finished at close, anything later goes to a private copy that is never
//!   uploaded, and an `atomic_replace` temporary upload is deleted, not renamed into place.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::live::Claim;
use super::reading::ReadState;
use super::staged::Staged;
use super::{Fs, FsError, FsResult, lock};
use crate::memory::Buf;
use crate::remote::{FileKind, RemoteError, WriteStream, join, split};

/// Bytes of out-of-order writes held while waiting for the gap before them.
const REORDER_LIMIT: usize = 16 << 20;
/// A write further than this beyond the position leaves a hole: the file is staged.
const HOLE_LIMIT: u64 = 16 << 20;

pub(super) enum Handle {
    Read(ReadState),
    Write(WriteState),
    Staged(StagedHandle),
}

/// A handle on a staged copy (shared with every other handle of the same file).
pub(super) struct StagedHandle {
    pub path: String,
    pub copy: Arc<Mutex<Staged>>,
    /// The handle's registration as a writer; `None` for a read-only handle.
    pub writer: Option<Writer>,
}

/// A registration as a writer of a live file: the file's `Live::id`, and the handle's fh
/// (a fresh number for a truncate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Writer {
    pub id: u64,
    pub fh: u64,
}

pub(super) struct WriteState {
    pub path: String,
    stream: Option<Box<dyn WriteStream>>,
    /// Bytes the server has been sent (or holds, after a finished upload).
    pub pos: u64,
    pending: BTreeMap<u64, Parked>,
    pending_bytes: usize,
    /// Bytes of out-of-order writes waiting in all the mount's handles, and their limit.
    parked: Arc<AtomicUsize>,
    parked_limit: usize,
    error: Option<FsError>,
    /// With `atomic_replace`: the temporary name the upload goes to, renamed over `path`
    /// once the server confirmed it.
    pub tmp: Option<String>,
    pub writer: Writer,
    /// Opened with O_APPEND (no O_TRUNC): may share the file with other appenders.
    pub append: bool,
}

/// An out-of-order write waiting for the gap before it, counted in the mount's total.
pub(super) struct Parked {
    buf: Buf,
    len: usize,
    meter: Arc<AtomicUsize>,
}

impl Parked {
    fn new(buf: Buf, meter: &Arc<AtomicUsize>) -> Parked {
        let len = buf.len();
        meter.fetch_add(len, Ordering::Relaxed);
        Parked {
            buf,
            len,
            meter: Arc::clone(meter),
        }
    }

    fn into_buf(mut self) -> Buf {
        std::mem::replace(&mut self.buf, Buf::unbudgeted(Vec::new()))
    }
}

impl std::ops::Deref for Parked {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Parked {
    fn drop(&mut self) {
        self.meter.fetch_sub(self.len, Ordering::Relaxed);
    }
}

/// The errno for a failed upload: ENOSPC for 552/452, EDQUOT for a 532 that speaks of a
/// quota, EINVAL for a name the server's encoding cannot write, EACCES for 550/553 and other
/// refusals, ETIMEDOUT, else EIO.
pub(super) fn upload_errno(e: &RemoteError) -> i32 {
    match e {
        RemoteError::NoSpace(_) => libc::ENOSPC,
        RemoteError::PermissionDenied(m) if m.starts_with("532") || m.contains(" 532 ") => {
            libc::EDQUOT
        }
        // A name `-o encoding` cannot write (nothing was sent).
        RemoteError::Unencodable(_) => libc::EINVAL,
        RemoteError::Unavailable(_)
        | RemoteError::PermissionDenied(_)
        | RemoteError::BadName(_) => libc::EACCES,
        RemoteError::Timeout(_) => libc::ETIMEDOUT,
        _ => libc::EIO,
    }
}

impl Fs {
    /// A number never handed out before (file handles, live ids).
    pub(super) fn unique(&self) -> u64 {
        self.next_fh
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    pub(super) fn insert_handle(&self, h: Handle) -> u64 {
        let fh = self.unique();
        if matches!(h, Handle::Read(_)) {
            lock(&self.readers).insert(fh);
        }
        lock(&self.handles).insert(fh, Arc::new(Mutex::new(h)));
        fh
    }

    pub(super) fn handle(&self, fh: u64) -> FsResult<Arc<Mutex<Handle>>> {
        lock(&self.handles)
            .get(&fh)
            .cloned()
            .ok_or_else(|| FsError::new(libc::EBADF, format!("file handle {fh} is not open")))
    }

    /// open(2) of an existing file; returns the handle and whether the kernel may keep the
    /// file's cached pages.
    pub fn open(&self, ino: u64, flags: i32) -> FsResult<(u64, bool)> {
        let path = self.path_of(ino)?;
        let e = self.entry(&path)?;
        if e.kind == FileKind::Dir {
            return Err(FsError::new(
                libc::EISDIR,
                format!("{path}: is a directory"),
            ));
        }
        let staged = lock(&self.staged).contains_key(&path);
        let trunc = flags & libc::O_TRUNC != 0;
        let append = flags & libc::O_APPEND != 0;
        let mode = e.mode.unwrap_or(0o644);
        match flags & libc::O_ACCMODE {
            libc::O_RDONLY if !staged => {
                // The kernel may keep its cached pages when the file is unchanged since the
                // last open (size and mtime as listed), so a re-read costs no transfer.
                let seen = (e.size, e.mtime);
                let keep = lock(&self.opened).insert(ino, seen) == Some(seen);
                let fh = self.insert_handle(Handle::Read(ReadState::new(path, ino, e.size)));
                Ok((fh, keep))
            }
            // A file another handle writes is staged and shared (the claim of the stream
            // fails).
            libc::O_WRONLY if !staged && !append && (trunc || e.size == 0) => {
                lock(&self.opened).remove(&ino);
                let fh = match self.start_write(&path, mode, e.size != 0, false)? {
                    Some(fh) => fh,
                    None => self.open_staged(&path, e.size, true, trunc, mode)?,
                };
                Ok((fh, false))
            }
            libc::O_WRONLY if !staged && !trunc => {
                // Appends (O_APPEND, or writes that start at the end) go out with APPE (an
                // O_APPEND handle taking turns with the file's other ones); any other write
                // turns this handle into a staged one.
                lock(&self.opened).remove(&ino);
                let fh = match self.lazy_write(&path, e.size, mode, append) {
                    Some(fh) => fh,
                    None => self.open_staged(&path, e.size, true, false, mode)?,
                };
                Ok((fh, false))
            }
            acc => {
                lock(&self.opened).remove(&ino);
                let writable = acc != libc::O_RDONLY;
                self.open_staged(&path, e.size, writable, trunc && writable, mode)
                    .map(|fh| (fh, false))
            }
        }
    }

    /// create(2): a new file (or an existing one with O_TRUNC), open for writing.
    pub fn create(
        &self,
        parent: u64,
        name: &str,
        mode: u32,
        flags: i32,
    ) -> FsResult<(super::Attr, u64)> {
        super::check_name(name)?;
        let dir = self.path_of(parent)?;
        let path = join(&dir, name);
        let existing = self.entry(&path).ok();
        if let Some(existing) = &existing {
            if flags & libc::O_EXCL != 0 {
                return Err(FsError::new(libc::EEXIST, format!("{path}: exists")));
            }
            if existing.kind == FileKind::Dir {
                return Err(FsError::new(
                    libc::EISDIR,
                    format!("{path}: is a directory"),
                ));
            }
            if flags & libc::O_TRUNC == 0 {
                // The kernel thought the name was free; it is not: a plain open.
                let attr = self.attr_of_path(&path, true)?;
                let (fh, _) = self.open(attr.ino, flags)?;
                return Ok((attr, fh));
            }
        }
        // Written by another handle already: the name exists, the copy is shared.
        let busy = self.is_staged(&path) || lock(&self.live).contains_key(&path);
        let fh = if flags & libc::O_ACCMODE == libc::O_RDWR || busy {
            let keep_original = existing.is_some() && self.cfg.atomic_replace;
            if !busy && !keep_original {
                // The name exists on the server at once (and a refusal shows now); with
                // atomic_replace an existing file stays as it is until the upload is done.
                self.empty_upload(&path)?;
            }
            // With atomic_replace the server still holds the old file: stage it at its size
            // so that the truncation itself is a change to upload, written or not.
            let server_size = match &existing {
                Some(e) if keep_original => e.size,
                _ => 0,
            };
            self.open_staged(&path, server_size, true, true, mode & 0o7777)?
        } else {
            let append = flags & libc::O_APPEND != 0;
            match self.start_write(&path, mode & 0o7777, existing.is_some(), append)? {
                Some(fh) => fh,
                None => {
                    let size = existing.as_ref().map_or(0, |e| e.size);
                    self.open_staged(&path, size, true, true, mode & 0o7777)?
                }
            }
        };
        if existing.is_none() {
            // A new name in `dir`; the mode it was created with is given on the server once
            // its upload has finished (the server may create it with its own default).
            self.touch_dir(&dir);
            if let Some(l) = lock(&self.live).get_mut(&path) {
                l.pending_mode = Some(mode & 0o7777);
            }
        }
        match self.attr_of_path(&path, true) {
            Ok(attr) => Ok((attr, fh)),
            Err(e) => {
                // Unlinked meanwhile: the caller gets no handle, so none may stay open (nor
                // its upload running).
                let _ = self.release(fh);
                Err(e)
            }
        }
    }

    /// Starts the STOR for a write handle (truncating the file on the server at once, as
    /// O_TRUNC/O_CREAT promise, or, with `atomic_replace` and an existing file, uploading to
    /// a temporary name) and registers it as the file's streaming writer. `Ok(None)`: the
    /// file has another writer (nothing was sent). An `append` handle (a new file created
    /// with O_APPEND) lets other appenders join (`append.rs`).
    fn start_write(
        &self,
        path: &str,
        mode: u32,
        exists: bool,
        append: bool,
    ) -> FsResult<Option<u64>> {
        let fh = self.unique();
        let h = Arc::new(Mutex::new(Handle::Write(self.write_state(path, 0))));
        // Held until the handle is complete: whoever finds it in the stream slot waits.
        let mut g = lock(&h);
        let append = append && !exists;
        let claim = Claim {
            path,
            fh,
            size: 0,
            mode,
            append,
            running: true,
        };
        let Some(writer) = self.claim_stream(&h, claim) else {
            return Ok(None);
        };
        let tmp = (self.cfg.atomic_replace && exists).then(|| self.tmp_name(path));
        let target = tmp.as_deref().unwrap_or(path);
        let stream = match self.remote.open_write(target) {
            Ok(s) => s,
            Err(e) => {
                self.drop_writer(path, writer);
                let errno = match &e {
                    RemoteError::Unavailable(_) => match split(path) {
                        Some((dir, _)) if self.entry(dir).is_err() => libc::ENOENT,
                        _ => libc::EACCES,
                    },
                    other => upload_errno(other),
                };
                return Err(FsError::remote_as(errno, "upload", target, &e));
            }
        };
        if tmp.is_none() {
            self.note_written(path, Some(0), Some(SystemTime::now()));
        }
        if let Handle::Write(w) = &mut *g {
            w.stream = Some(stream);
            w.tmp = tmp;
            w.writer = writer;
            w.append = append;
        }
        drop(g);
        lock(&self.handles).insert(fh, h);
        Ok(Some(fh))
    }

    /// A write handle on an existing file that has sent nothing yet: the server holds
    /// `[0, size)`; a write at `size` starts an APPE, any other write stages the file.
    /// `None`: the file has another writer (other than appenders, for an `append` handle).
    fn lazy_write(&self, path: &str, size: u64, mode: u32, append: bool) -> Option<u64> {
        let fh = self.unique();
        let h = Arc::new(Mutex::new(Handle::Write(self.write_state(path, size))));
        let mut g = lock(&h);
        let claim = Claim {
            path,
            fh,
            size,
            mode,
            append,
            running: false,
        };
        let writer = self.claim_stream(&h, claim)?;
        if let Handle::Write(w) = &mut *g {
            w.writer = writer;
            w.append = append;
        }
        drop(g);
        lock(&self.handles).insert(fh, h);
        Some(fh)
    }

    /// A write handle's state with nothing running, whose server copy holds `[0, pos)`.
    fn write_state(&self, path: &str, pos: u64) -> WriteState {
        WriteState {
            path: path.to_string(),
            stream: None,
            pos,
            pending: BTreeMap::new(),
            pending_bytes: 0,
            parked: Arc::clone(&self.parked),
            parked_limit: self.cfg.budget.limit() / 4,
            error: None,
            tmp: None,
            writer: Writer { id: 0, fh: 0 },
            append: false,
        }
    }

    /// read(2).
    pub fn read(&self, fh: u64, offset: u64, size: u32) -> FsResult<Vec<u8>> {
        self.read_with(fh, offset, size, <[u8]>::to_vec)
    }

    /// read(2), handing the bytes to `reply` (without a copy on the download path: the FUSE
    /// reply is written from the read-ahead buffer while the handle is locked).
    pub fn read_with<R>(
        &self,
        fh: u64,
        offset: u64,
        size: u32,
        reply: impl FnOnce(&[u8]) -> R,
    ) -> FsResult<R> {
        let h = self.handle(fh)?;
        let mut h = lock(&h);
        // Counted as the bytes go to the kernel (`stats.rs`).
        let reply = |d: &[u8]| {
            self.counters.read(d.len());
            reply(d)
        };
        match &mut *h {
            Handle::Read(r) => r.read_with(self, offset, size as usize, reply),
            Handle::Staged(s) => lock(&s.copy)
                .read(&*self.remote, offset, size as usize)
                .map(|d| reply(&d)),
            Handle::Write(_) => Err(FsError::new(libc::EBADF, "file is not open for reading")),
        }
    }

    /// write(2); returns the number of bytes taken.
    pub fn write(&self, fh: u64, offset: u64, data: &[u8]) -> FsResult<usize> {
        self.write_buf(fh, offset, self.cfg.budget.copy_of(data))
    }

    /// write(2) of data already in a buffer of the budget (the FUSE adapter copies each
    /// request's data into one): the buffer itself goes to the upload queue.
    pub fn write_buf(&self, fh: u64, offset: u64, data: Buf) -> FsResult<usize> {
        let len = data.len();
        let h = self.handle(fh)?;
        let mut data = Some(data);
        if let Some(n) = self.append_write(fh, &h, offset, &mut data)? {
            self.counters.written(n);
            return Ok(n);
        }
        let data = data.ok_or_else(|| FsError::new(libc::EIO, "write: data already sent"))?;
        let mut h = lock(&h);
        if let Handle::Write(w) = &mut *h
            && w.error.is_none()
        {
            if w.needs_staging(offset, len) {
                self.to_staged(&mut h)?;
            } else if offset == w.pos && w.stream.is_none() {
                // Nothing running (a lazy handle, or after a flush): continue with APPE, or
                // stage the file when the server refuses appends. A handle whose file was
                // unlinked starts nothing: to_staged gives it a private copy.
                if !self.is_current(&w.path, w.writer) {
                    self.to_staged(&mut h)?;
                } else if let Err(e) = w.start_append(self) {
                    log::info!("{}: append refused ({e}); staging the file", w.path);
                    self.to_staged(&mut h)?;
                }
            }
        }
        match &mut *h {
            Handle::Write(w) => {
                w.write(offset, data)?;
                // Still under the handle's lock: while it streams, it is the file's only
                // writer (staging it takes this lock first). A write waiting for the gap
                // before it counts too: the file is that long already.
                let end = w.pos.max(offset + len as u64);
                self.update_live(&w.path, w.writer, |l| {
                    l.size = l.size.max(end);
                    l.mtime = SystemTime::now();
                });
            }
            Handle::Staged(StagedHandle {
                path,
                copy,
                writer: Some(writer),
            }) => {
                let mut c = lock(copy);
                c.write(offset, &data)?;
                // Under the copy's lock, so that the sizes set by racing writes and
                // truncates land in the order of the changes.
                let size = c.size();
                self.update_live(path, *writer, |l| {
                    l.size = size;
                    l.mtime = SystemTime::now();
                });
            }
            _ => return Err(FsError::new(libc::EBADF, "file is not open for writing")),
        }
        self.counters.written(len);
        Ok(len)
    }

    /// flush (every close(2) of a descriptor) and fsync(2): for a write handle, finishes the
    /// upload and returns the server's verdict; later writes continue with APPE.
    pub fn flush(&self, fh: u64) -> FsResult<()> {
        if lock(&self.readers).contains(&fh) {
            return Ok(());
        }
        let h = self.handle(fh)?;
        let mut h = lock(&h);
        if let Handle::Write(w) = &*h
            && w.error.is_none()
            && !w.pending.is_empty()
        {
            // A hole is still open: only the staged path can upload this.
            self.to_staged(&mut h)?;
        }
        match &mut *h {
            Handle::Read(_) => Ok(()),
            Handle::Staged(s) => self.flush_staged(s),
            Handle::Write(w)
                if w.pos == 0
                    && w.stream.is_some()
                    && w.error.is_none()
                    && !self.has_pending(&w.path, w.writer) =>
            {
                // Nothing written yet: this is the close of a duplicate descriptor (a shell's
                // `> file` opens, dup2()s and closes before writing). Ending the upload now
                // would turn the writes that follow into an APPE; the empty upload is
                // finished at release instead. Unless a time was set (`touch -d` opens an
                // empty file, futimens, closes): it must be on the server when close returns.
                Ok(())
            }
            Handle::Write(w) => self.finish_stream(w),
        }
    }

    /// Ends a streaming upload (renaming a temporary name over the target) and records it.
    fn finish_stream(&self, w: &mut WriteState) -> FsResult<()> {
        if !self.end_stream(w, true)? {
            // Nothing ended now, but a time may have been set since the last upload ended
            // (utimensat by path can arrive between close's FLUSH and RELEASE).
            self.after_upload(&w.path, Some(w.writer), None)?;
        }
        Ok(())
    }

    /// Ends the running upload, if any, and records it: the server then holds `[0, pos)`.
    /// A temporary upload (`atomic_replace`) is renamed into place, or deleted when the file
    /// was unlinked meanwhile. A requested mtime is applied after it when `mtime`, else left
    /// pending (for the upload of the staged copy the handle turns into). Returns whether an
    /// upload ended now. A failure to end the upload is recorded on the handle; a refused
    /// mtime is not (it is returned once).
    pub(super) fn end_stream(&self, w: &mut WriteState, mtime: bool) -> FsResult<bool> {
        let ended = w.finish_upload();
        self.appe_ended(w, ended.is_ok());
        if !ended? {
            return Ok(false);
        }
        if let Some(tmp) = w.tmp.take() {
            if self.is_current(&w.path, w.writer) {
                // A failed commit is sticky on the handle: later writes must not go on as if
                // the file were in place.
                self.commit_tmp(&tmp, &w.path).map_err(|e| w.fail(e))?;
            } else if let Err(e) = self.remote.delete(&tmp) {
                log::warn!("{tmp}: cannot remove the upload of an unlinked file: {e}");
            }
        }
        if mtime {
            self.after_upload(&w.path, Some(w.writer), Some(w.pos))?;
        } else if self.is_current(&w.path, w.writer) {
            self.note_written(&w.path, Some(w.pos), Some(SystemTime::now()));
        }
        Ok(true)
    }

    /// release: the last descriptor of the handle is closed.
    pub fn release(&self, fh: u64) -> FsResult<()> {
        lock(&self.readers).remove(&fh);
        let Some(h) = lock(&self.handles).remove(&fh) else {
            return Ok(());
        };
        let mut h = lock(&h);
        if let Handle::Write(w) = &*h
            && w.error.is_none()
            && !w.pending.is_empty()
            && let Err(e) = self.to_staged(&mut h)
        {
            if let Handle::Write(w) = &*h {
                self.drop_writer(&w.path, w.writer);
            }
            return Err(e);
        }
        // The handle stays locked until it is unregistered: staging that found it in the
        // stream slot waits, then sees it gone.
        match &mut *h {
            Handle::Read(r) => {
                r.close();
                Ok(())
            }
            Handle::Staged(s) => {
                let r = if s.writer.is_some() {
                    self.flush_staged(s)
                } else {
                    Ok(())
                };
                let left = self.leave(&s.path, &s.copy, s.writer);
                r.and(left)
            }
            Handle::Write(w) => {
                let r = self.finish_stream(w);
                self.drop_writer(&w.path, w.writer);
                r
            }
        }
    }

    /// At unmount: finishes every open upload and closes every download. Returns false (and
    /// logs each one) when an upload failed.
    pub fn shutdown(&self) -> bool {
        let fhs: Vec<u64> = lock(&self.handles).keys().copied().collect();
        let mut clean = true;
        for fh in fhs {
            if let Err(e) = self.release(fh) {
                log::error!("at unmount: {}", e.msg);
                clean = false;
            }
        }
        clean
    }
}

impl WriteState {
    pub(super) fn fail(&mut self, err: FsError) -> FsError {
        self.error = Some(err.clone());
        err
    }

    /// Whether a write at `offset` cannot be streamed: it goes back before the position, or
    /// leaves a hole larger than the reorder buffer (or than the mount's room for them).
    fn needs_staging(&self, offset: u64, len: usize) -> bool {
        offset < self.pos
            || (offset > self.pos
                && (offset - self.pos > HOLE_LIMIT
                    || self.pending_bytes + len > REORDER_LIMIT
                    || self.parked.load(Ordering::Relaxed) + len > self.parked_limit
                    || self.pending.contains_key(&offset)))
    }

    /// Takes the out-of-order writes still waiting (to move them into a staged copy).
    pub(super) fn take_pending(&mut self) -> BTreeMap<u64, Parked> {
        self.pending_bytes = 0;
        std::mem::take(&mut self.pending)
    }

    pub(super) fn error(&self) -> Option<&FsError> {
        self.error.as_ref()
    }

    /// Whether an upload is running.
    pub(super) fn running(&self) -> bool {
        self.stream.is_some()
    }

    /// Continues the file with APPE (for an appender whose turn it is).
    pub(super) fn start_append(&mut self, fs: &Fs) -> Result<(), RemoteError> {
        self.stream = Some(fs.remote.open_append(&self.path)?);
        Ok(())
    }

    pub(super) fn write(&mut self, offset: u64, data: Buf) -> FsResult<usize> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let len = data.len();
        if offset > self.pos {
            self.pending_bytes += len;
            self.pending.insert(offset, Parked::new(data, &self.parked));
            return Ok(len);
        }
        self.send(data)?;
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() != self.pos {
                break;
            }
            let chunk = entry.remove();
            self.pending_bytes -= chunk.len();
            self.send(chunk.into_buf())?;
        }
        Ok(len)
    }

    /// Sends in-order data on the running upload (the callers start one, APPE after a flush,
    /// or stage the handle, before any write reaches this).
    fn send(&mut self, data: Buf) -> FsResult<()> {
        let len = data.len() as u64;
        let r = match self.stream.as_mut() {
            Some(s) => s.write_buf(data),
            None => {
                let e = FsError::new(libc::EIO, format!("{}: no upload running", self.path));
                return Err(self.fail(e));
            }
        };
        if let Err(e) = r {
            // The server may have said why (552 quota...): finishing reads its reply.
            let verdict = self.stream.take().map(|s| s.finish());
            let e = match verdict {
                Some(Err(reply)) => reply,
                _ => e,
            };
            let err = FsError::remote_as(upload_errno(&e), "upload", &self.path, &e);
            return Err(self.fail(err));
        }
        self.pos += len;
        Ok(())
    }

    /// Ends the running upload; returns whether one ended now (false: nothing was running).
    /// Out-of-order writes still waiting are left for the caller.
    pub(super) fn finish_upload(&mut self) -> FsResult<bool> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        match self.stream.take() {
            Some(s) => s.finish().map(|()| true).map_err(|e| {
                let err = FsError::remote_as(upload_errno(&e), "upload", &self.path, &e);
                self.fail(err)
            }),
            None => Ok(false),
        }
    }
}
