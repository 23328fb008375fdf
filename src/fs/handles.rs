//! Open files: the read path (one RETR stream per handle, resumed with REST at other offsets)
//! and the streaming write path (one STOR per handle, finished at flush/close).
//!
//! Invariants:
//! - A handle's mutex is held while its stream moves data; no other lock is held then.
//! - A read stream is opened lazily at the first read and closed at end of file, so an open
//!   but unread (or fully read) file holds no connection.
//! - A write handle reports an upload failure at flush/fsync (so close(2) sees it) and at every
//!   later write; a successful flush means the server answered 226 for all bytes written.
//! - Writes arrive in order for a streaming upload; a write beyond the current end waits in a
//!   bounded reorder buffer (FUSE threads may deliver adjacent writes out of order); a write
//!   before the current end is a random write, which this path refuses with ENOTSUP.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use super::prefetch::Prefetcher;
use super::{Fs, FsError, FsResult, Live, lock};
use crate::remote::{FileKind, RemoteEntry, RemoteError, WriteStream, join, split};

/// Forward gaps up to this size are skipped by reading, not by a new RETR.
const SKIP_LIMIT: u64 = 1 << 20;
/// Bytes of out-of-order writes held while waiting for the gap before them.
const REORDER_LIMIT: usize = 16 << 20;

pub(super) enum Handle {
    Read(ReadState),
    Write(WriteState),
}

pub(super) struct ReadState {
    path: String,
    /// The running download with its read-ahead, if any.
    pf: Option<Prefetcher>,
    /// Where the file ended, once seen.
    eof: Option<u64>,
}

pub(super) struct WriteState {
    path: String,
    stream: Option<Box<dyn WriteStream>>,
    /// Bytes the server has been sent (or holds, after a finished upload).
    pos: u64,
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: usize,
    error: Option<FsError>,
}

fn upload_errno(e: &RemoteError) -> i32 {
    match e {
        RemoteError::NoSpace(_) => libc::ENOSPC,
        RemoteError::Unavailable(_)
        | RemoteError::PermissionDenied(_)
        | RemoteError::BadName(_) => libc::EACCES,
        RemoteError::Timeout(_) => libc::ETIMEDOUT,
        _ => libc::EIO,
    }
}

impl Fs {
    fn insert_handle(&self, h: Handle) -> u64 {
        let fh = self
            .next_fh
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        lock(&self.handles).insert(fh, Arc::new(std::sync::Mutex::new(h)));
        fh
    }

    fn handle(&self, fh: u64) -> FsResult<Arc<std::sync::Mutex<Handle>>> {
        lock(&self.handles)
            .get(&fh)
            .cloned()
            .ok_or_else(|| FsError::new(libc::EBADF, format!("file handle {fh} is not open")))
    }

    /// open(2) of an existing file. `flags` are the open flags.
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
        match flags & libc::O_ACCMODE {
            libc::O_RDONLY => {
                // The kernel may keep its cached pages when the file is unchanged since the
                // last open (size and mtime as listed), so a re-read costs no transfer.
                let seen = (e.size, e.mtime);
                let keep = lock(&self.opened).insert(ino, seen) == Some(seen);
                let fh = self.insert_handle(Handle::Read(ReadState {
                    path,
                    pf: None,
                    eof: None,
                }));
                Ok((fh, keep))
            }
            libc::O_WRONLY if flags & libc::O_APPEND == 0 => {
                if flags & libc::O_TRUNC == 0 && e.size != 0 {
                    return Err(FsError::new(
                        libc::ENOTSUP,
                        format!(
                            "{path}: writing into an existing file without O_TRUNC needs random \
                             writes, which this version does not do"
                        ),
                    ));
                }
                lock(&self.opened).remove(&ino);
                self.start_write(&path, e.mode.unwrap_or(0o644))
                    .map(|fh| (fh, false))
            }
            _ => Err(FsError::new(
                libc::ENOTSUP,
                format!("{path}: read-write and append opens are not supported yet"),
            )),
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
        if let Ok(existing) = self.entry(&path) {
            if flags & libc::O_EXCL != 0 {
                return Err(FsError::new(libc::EEXIST, format!("{path}: exists")));
            }
            if existing.kind == FileKind::Dir {
                return Err(FsError::new(
                    libc::EISDIR,
                    format!("{path}: is a directory"),
                ));
            }
        }
        if flags & libc::O_ACCMODE == libc::O_RDWR || flags & libc::O_APPEND != 0 {
            return Err(FsError::new(
                libc::ENOTSUP,
                format!("{path}: read-write and append opens are not supported yet"),
            ));
        }
        let fh = self.start_write(&path, mode & 0o7777)?;
        let attr = self.attr_of_path(&path, true)?;
        Ok((attr, fh))
    }

    /// Starts the STOR for a write handle (truncating the file on the server at once, as
    /// O_TRUNC/O_CREAT promise) and registers the file as live.
    fn start_write(&self, path: &str, mode: u32) -> FsResult<u64> {
        let stream = self.remote.open_write(path).map_err(|e| {
            let errno = match &e {
                RemoteError::Unavailable(_) => match split(path) {
                    Some((dir, _)) if self.entry(dir).is_err() => libc::ENOENT,
                    _ => libc::EACCES,
                },
                other => upload_errno(other),
            };
            FsError::remote_as(errno, "upload", path, &e)
        })?;
        let now = SystemTime::now();
        {
            let mut live = lock(&self.live);
            let l = live.entry(path.to_string()).or_insert(Live {
                size: 0,
                mtime: now,
                mode,
                writers: 0,
                pending_mtime: None,
            });
            l.writers += 1;
            l.size = 0;
            l.mtime = now;
        }
        self.note_written(path, Some(0), Some(now));
        Ok(self.insert_handle(Handle::Write(WriteState {
            path: path.to_string(),
            stream: Some(stream),
            pos: 0,
            pending: BTreeMap::new(),
            pending_bytes: 0,
            error: None,
        })))
    }

    /// read(2).
    pub fn read(&self, fh: u64, offset: u64, size: u32) -> FsResult<Vec<u8>> {
        let h = self.handle(fh)?;
        let mut h = lock(&h);
        let Handle::Read(r) = &mut *h else {
            return Err(FsError::new(libc::EBADF, "file is not open for reading"));
        };
        r.read(self, offset, size as usize)
    }

    /// write(2); returns the number of bytes taken.
    pub fn write(&self, fh: u64, offset: u64, data: &[u8]) -> FsResult<usize> {
        let h = self.handle(fh)?;
        let mut h = lock(&h);
        let Handle::Write(w) = &mut *h else {
            return Err(FsError::new(libc::EBADF, "file is not open for writing"));
        };
        let n = w.write(self, offset, data)?;
        let (path, end) = (w.path.clone(), w.pos);
        drop(h);
        if let Some(l) = lock(&self.live).get_mut(&path) {
            l.size = l.size.max(end);
            l.mtime = SystemTime::now();
        }
        Ok(n)
    }

    /// flush (every close(2) of a descriptor) and fsync(2): for a write handle, finishes the
    /// upload and returns the server's verdict; later writes continue with APPE.
    pub fn flush(&self, fh: u64) -> FsResult<()> {
        let h = self.handle(fh)?;
        let mut h = lock(&h);
        match &mut *h {
            Handle::Read(_) => Ok(()),
            Handle::Write(w) if w.pos == 0 && w.stream.is_some() && w.error.is_none() => {
                // Nothing written yet: this is the close of a duplicate descriptor (a shell's
                // `> file` opens, dup2()s and closes before writing). Ending the upload now
                // would turn the writes that follow into an APPE; the empty upload is
                // finished at release instead.
                Ok(())
            }
            Handle::Write(w) => {
                let r = w.finish_upload();
                let (path, size) = (w.path.clone(), w.pos);
                drop(h);
                if r? {
                    self.after_upload(&path, size)?;
                }
                Ok(())
            }
        }
    }

    /// After a finished upload: record size and mtime, apply a requested mtime. A file that
    /// was unlinked (or renamed away) meanwhile is no longer live and is not recorded.
    fn after_upload(&self, path: &str, size: u64) -> FsResult<()> {
        let pending = match lock(&self.live).get_mut(path) {
            Some(l) => l.pending_mtime.take(),
            None => return Ok(()),
        };
        let now = SystemTime::now();
        self.note_written(path, Some(size), Some(now));
        if let Some(t) = pending {
            self.remote.set_mtime(path, t).map_err(|e| {
                let errno = match e {
                    RemoteError::Unsupported(_) => libc::ENOTSUP,
                    _ => libc::EPERM,
                };
                FsError::remote_as(errno, "set mtime (after upload) of", path, &e)
            })?;
            self.note_written(path, None, Some(t));
            if let Some(l) = lock(&self.live).get_mut(path) {
                l.mtime = t;
            }
        }
        Ok(())
    }

    /// release: the last descriptor of the handle is closed.
    pub fn release(&self, fh: u64) -> FsResult<()> {
        let Some(h) = lock(&self.handles).remove(&fh) else {
            return Ok(());
        };
        let mut h = lock(&h);
        match &mut *h {
            Handle::Read(r) => {
                r.pf = None;
                Ok(())
            }
            Handle::Write(w) => {
                let r = w.finish_upload();
                let (path, size) = (w.path.clone(), w.pos);
                drop(h);
                let r = r.and_then(|ended| {
                    if ended {
                        self.after_upload(&path, size)
                    } else {
                        Ok(())
                    }
                });
                let mut live = lock(&self.live);
                if let Some(l) = live.get_mut(&path) {
                    l.writers = l.writers.saturating_sub(1);
                    if l.writers == 0 {
                        live.remove(&path);
                    }
                }
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

    /// Truncate (setattr size). Only what the streaming path can do honestly: to 0 (an empty
    /// STOR, or nothing when an upload on this handle has not sent a byte), or to the current
    /// size (nothing to do).
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
        if size == e.size {
            return Ok(());
        }
        if size != 0 {
            return Err(FsError::new(
                libc::ENOTSUP,
                format!("{path}: truncating to a non-zero size is not supported yet"),
            ));
        }
        if let Some(fh) = fh
            && let Ok(h) = self.handle(fh)
            && let Handle::Write(w) = &*lock(&h)
            && w.pos == 0
            && w.stream.is_some()
        {
            return Ok(());
        }
        if lock(&self.live).contains_key(path) {
            return Err(FsError::new(
                libc::EBUSY,
                format!("{path}: is being uploaded; truncate it after close"),
            ));
        }
        let s = self
            .remote
            .open_write(path)
            .map_err(|e| FsError::remote_as(upload_errno(&e), "truncate", path, &e))?;
        s.finish()
            .map_err(|e| FsError::remote_as(upload_errno(&e), "truncate", path, &e))?;
        self.note_written(path, Some(0), Some(SystemTime::now()));
        Ok(())
    }
}

impl ReadState {
    fn read(&mut self, fs: &Fs, offset: u64, size: usize) -> FsResult<Vec<u8>> {
        if self.eof.is_some_and(|eof| offset >= eof) {
            return Ok(Vec::new());
        }
        let reusable = self
            .pf
            .as_ref()
            .is_some_and(|p| p.covers(offset, SKIP_LIMIT));
        if !reusable {
            // Another offset: end this transfer (its thread aborts it) and REST to `offset`.
            self.pf = None;
            let s = fs
                .remote
                .open_read(&self.path, offset)
                .map_err(|e| FsError::remote("download", &self.path, &e))?;
            let p = Prefetcher::start(s, offset)
                .map_err(|e| FsError::new(libc::EIO, format!("{}: {e}", self.path)))?;
            self.pf = Some(p);
        }
        let Some(p) = self.pf.as_mut() else {
            return Ok(Vec::new());
        };
        match p.read(offset, size) {
            Ok(d) => {
                if let Some(eof) = p.eof() {
                    self.eof = Some(eof);
                }
                Ok(d)
            }
            Err(e) => {
                // The next read starts a fresh transfer at its offset.
                self.pf = None;
                Err(FsError::remote("download", &self.path, &e))
            }
        }
    }
}

impl WriteState {
    fn fail(&mut self, err: FsError) -> FsError {
        self.error = Some(err.clone());
        err
    }

    fn write(&mut self, fs: &Fs, offset: u64, data: &[u8]) -> FsResult<usize> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if offset < self.pos {
            return Err(FsError::new(
                libc::ENOTSUP,
                format!(
                    "{}: write at {offset} behind the upload position {} (random writes are not \
                     supported yet)",
                    self.path, self.pos
                ),
            ));
        }
        if offset > self.pos {
            if self.pending_bytes + data.len() > REORDER_LIMIT {
                return Err(FsError::new(
                    libc::ENOTSUP,
                    format!(
                        "{}: write at {offset} leaves a hole after {} (sparse/random writes are \
                         not supported yet)",
                        self.path, self.pos
                    ),
                ));
            }
            self.pending_bytes += data.len();
            self.pending.insert(offset, data.to_vec());
            return Ok(data.len());
        }
        self.send(fs, data)?;
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() != self.pos {
                break;
            }
            let chunk = entry.remove();
            self.pending_bytes -= chunk.len();
            self.send(fs, &chunk)?;
        }
        Ok(data.len())
    }

    fn send(&mut self, fs: &Fs, data: &[u8]) -> FsResult<()> {
        if self.stream.is_none() {
            // The upload was finished by a flush/fsync; continue it with APPE.
            let s = fs.remote.open_append(&self.path).map_err(|e| {
                let errno = match &e {
                    RemoteError::Unsupported(_) => libc::ENOTSUP,
                    other => upload_errno(other),
                };
                FsError::remote_as(errno, "append to", &self.path, &e)
            });
            match s {
                Ok(s) => self.stream = Some(s),
                Err(e) => return Err(self.fail(e)),
            }
        }
        let r = match self.stream.as_mut() {
            Some(s) => s.write_all(data),
            None => Ok(()),
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
        self.pos += data.len() as u64;
        Ok(())
    }

    /// Ends the running upload; returns whether one ended now (false: nothing was running).
    fn finish_upload(&mut self) -> FsResult<bool> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if !self.pending.is_empty() {
            let err = FsError::new(
                libc::EIO,
                format!(
                    "{}: closed with a hole after byte {} (sparse writes are not supported yet)",
                    self.path, self.pos
                ),
            );
            if let Some(s) = self.stream.take() {
                let _ = s.finish();
            }
            return Err(self.fail(err));
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
