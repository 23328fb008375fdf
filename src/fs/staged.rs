//! Staged copies: a file being modified in place (random writes, O_RDWR, truncate to a
//! non-zero size, appends the server refuses) lives in a local sparse temp file under
//! `cache_dir`, filled from the server only where it is read or must be kept, and uploaded
//! whole (one STOR) when dirty at flush/fsync/close.
//!
//! Invariants:
//! - Bytes `[0, base)` of the server's copy still belong to the file; `have` says which
//!   parts of the local file hold real data (fetched or written). A byte in `[0, base)` not
//!   in `have` is fetched (in [`BLOCK`]-aligned pieces) before it is read or uploaded; a byte
//!   at or beyond `base` not in `have` is a hole and reads as zero (sparse extension).
//! - Memory stays bounded: data moves through buffers of the mount's budget
//!   ([`crate::memory`]), at most [`BLOCK`] bytes each, one at a time (a buffer on its way to
//!   the server is the upload queue's), and never two taken at once by one caller. They are
//!   taken only when free at once, never waited for (the caller holds the copy's lock, and
//!   a write waiting for that lock may hold memory the wait would need); when the budget is
//!   full, a transfer moves through a [`SMALL`] buffer outside it and a read's reply is its
//!   own size outside it: at most one such buffer per request in progress.
//! - Disk use of all staged copies together (`have` totals) stays under the store's limit;
//!   a write or fetch that would pass it fails with ENOSPC before touching the file.
//! - The local file is deleted when the copy is dropped, unless an upload failed: then it
//!   is kept and its path logged, so no data is lost.
//! - The caller holds the copy's own mutex during fetches and uploads; nothing else.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::ranges::Ranges;
use super::{FsError, FsResult};
use crate::memory::{Budget, Buf};
use crate::remote::{Remote, RemoteError};

/// Fetch granularity: missing data is downloaded in aligned pieces of this size.
pub(super) const BLOCK: u64 = 1 << 20;
/// A transfer's buffer outside the budget when the budget is full (see [`Staged::buf`]).
const SMALL: usize = 64 << 10;

/// Where staged copies live and how much disk they may use together.
pub(super) struct Store {
    dir: PathBuf,
    max: u64,
    budget: Budget,
    used: AtomicU64,
    seq: AtomicU64,
}

impl Store {
    pub fn new(dir: PathBuf, max: u64, budget: Budget) -> Self {
        Store {
            dir,
            max,
            budget,
            used: AtomicU64::new(0),
            seq: AtomicU64::new(0),
        }
    }

    /// Creates the directory (0700) when missing and a fresh, empty local file in it.
    fn create(&self, name: &str) -> FsResult<(File, PathBuf)> {
        let io = |what: &str, e: std::io::Error| {
            log::error!(
                "staged copies: cannot {what} in {}: {e}",
                self.dir.display()
            );
            FsError::new(
                libc::EIO,
                format!("cache_dir {}: cannot {what}: {e}", self.dir.display()),
            )
        };
        if !self.dir.is_dir() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)
                .map_err(|e| io("create the directory", e))?;
            std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| io("set permissions", e))?;
        }
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.join(format!("{}-{n}-{safe}", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io("create a file", e))?;
        Ok((file, path))
    }

    /// Reserves `n` more bytes of disk, or fails with ENOSPC.
    fn reserve(&self, n: u64, what: &str) -> FsResult<()> {
        let mut cur = self.used.load(Ordering::Relaxed);
        loop {
            if cur.saturating_add(n) > self.max {
                log::error!(
                    "{what}: staged copies would use more than cache_max_size={} bytes in {}",
                    self.max,
                    self.dir.display()
                );
                return Err(FsError::new(
                    libc::ENOSPC,
                    format!("{what}: cache_max_size ({} bytes) reached", self.max),
                ));
            }
            match self
                .used
                .compare_exchange(cur, cur + n, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(now) => cur = now,
            }
        }
    }

    fn release(&self, n: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |u| {
                Some(u.saturating_sub(n))
            });
    }

    /// Bytes reserved now (the disk the staged copies use).
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// `cache_max_size`.
    pub fn max(&self) -> u64 {
        self.max
    }
}

/// One staged copy (one per file; shared by every handle on it).
pub(super) struct Staged {
    /// The file's path on the server.
    pub path: String,
    store: Arc<Store>,
    file: File,
    local: PathBuf,
    size: u64,
    base: u64,
    have: Ranges,
    /// Changed since the last successful upload.
    pub dirty: bool,
    /// Set once an upload failed: the local file is kept.
    pub error: Option<FsError>,
}

/// A local I/O error of a staged copy: EFBIG, ENOSPC and EDQUOT of the local disk are said
/// as they are (a truncate beyond what the cache directory's filesystem can hold is EFBIG);
/// anything else is EIO.
fn io_err(path: &str, what: &str, e: std::io::Error) -> FsError {
    let errno = match e.raw_os_error() {
        Some(n @ (libc::EFBIG | libc::ENOSPC | libc::EDQUOT)) => n,
        _ => libc::EIO,
    };
    FsError::new(errno, format!("{path}: staged copy: {what}: {e}"))
}

impl Staged {
    /// A copy of `path`, whose server copy holds `base` bytes that still belong to it.
    pub fn new(store: &Arc<Store>, path: &str, base: u64) -> FsResult<Staged> {
        let name = path.rsplit('/').next().unwrap_or("file");
        let (file, local) = store.create(name)?;
        file.set_len(base)
            .map_err(|e| io_err(path, "set length", e))?;
        Ok(Staged {
            path: path.to_string(),
            store: Arc::clone(store),
            file,
            local,
            size: base,
            base,
            have: Ranges::default(),
            dirty: false,
            error: None,
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn local(&self) -> &Path {
        &self.local
    }

    /// Makes `[start, end) ∩ [0, base)` present locally, fetching whole blocks.
    fn fill(&mut self, remote: &dyn Remote, start: u64, end: u64) -> FsResult<()> {
        let end = end.min(self.base);
        if start >= end {
            return Ok(());
        }
        let (a, b) = (start / BLOCK * BLOCK, end.div_ceil(BLOCK) * BLOCK);
        let b = b.min(self.base);
        for (s, e) in self.have.missing(a, b) {
            self.store.reserve(e - s, &self.path)?;
            if let Err(err) = self.fetch(remote, s, e) {
                self.store.release(e - s);
                return Err(err);
            }
            self.have.insert(s, e);
        }
        Ok(())
    }

    /// Downloads `[s, e)` into the local file (`e` ≤ `base`, bytes the server holds). A
    /// transfer that ends early is an error (EIO), never zeros: the copy would upload them.
    fn fetch(&mut self, remote: &dyn Remote, s: u64, e: u64) -> FsResult<()> {
        let fail = |err: &RemoteError| FsError::remote("download (staging)", &self.path, err);
        // The buffer first: no wait for memory while holding a connection.
        let mut buf = self.buf((e - s).min(256 << 10));
        let mut stream = remote.open_read(&self.path, s).map_err(|e| fail(&e))?;
        let mut pos = s;
        while pos < e {
            let want = ((e - pos) as usize).min(buf.len());
            let n = match stream.read(&mut buf[..want]) {
                Ok(n) => n,
                Err(err) => {
                    stream.close();
                    return Err(fail(&err));
                }
            };
            if n == 0 {
                break;
            }
            if let Err(err) = self.file.write_all_at(&buf[..n], pos) {
                stream.close();
                return Err(io_err(&self.path, "write", err));
            }
            pos += n as u64;
        }
        stream.close();
        if pos < e {
            return Err(FsError::new(
                libc::EIO,
                format!(
                    "{}: staged copy: the server sent {} bytes from offset {s} where it listed \
                     {} (the file changed on the server?)",
                    self.path,
                    pos - s,
                    e - s
                ),
            ));
        }
        Ok(())
    }

    /// A buffer of up to `n` bytes: of the mount's budget when it has room now, else a
    /// small one outside it ([`SMALL`]). Never a wait: the caller holds the copy's lock,
    /// which a write holding a buffer of the budget may be waiting for.
    fn buf(&self, n: u64) -> Buf {
        let b = &self.store.budget;
        let n = (n as usize).min(b.max_grant());
        b.try_take(n)
            .unwrap_or_else(|| Buf::unbudgeted(vec![0; n.min(SMALL)]))
    }

    /// Up to `len` bytes at `off` (short at the end of the file).
    pub fn read(&mut self, remote: &dyn Remote, off: u64, len: usize) -> FsResult<Buf> {
        if off >= self.size {
            return Ok(Buf::unbudgeted(Vec::new()));
        }
        let end = (off + len as u64).min(self.size);
        self.fill(remote, off, end)?;
        // Taken after the fetches (their buffer is back): never two at once. No wait (see
        // `buf`): when the budget is full, the request's own size outside it.
        let n = (end - off) as usize;
        let mut buf = self
            .store
            .budget
            .try_take(n)
            .unwrap_or_else(|| Buf::unbudgeted(vec![0; n]));
        self.file
            .read_exact_at(&mut buf, off)
            .map_err(|e| io_err(&self.path, "read", e))?;
        Ok(buf)
    }

    /// Writes `data` at `off`.
    pub fn write(&mut self, off: u64, data: &[u8]) -> FsResult<()> {
        let end = off + data.len() as u64;
        self.store
            .reserve(self.have.missing_len(off, end), &self.path)?;
        if let Err(e) = self.file.write_all_at(data, off) {
            // Nothing recorded: give the reservation back.
            self.store.release(self.have.missing_len(off, end));
            return Err(io_err(&self.path, "write", e));
        }
        self.have.insert(off, end);
        self.size = self.size.max(end);
        self.dirty = true;
        Ok(())
    }

    /// Sets the length; bytes beyond the old end read as zeros and are never fetched.
    pub fn set_len(&mut self, len: u64) -> FsResult<()> {
        if len == self.size {
            return Ok(());
        }
        if i64::try_from(len).is_err() {
            return Err(FsError::new(
                libc::EFBIG,
                format!(
                    "{}: staged copy: {len} bytes is beyond any file size",
                    self.path
                ),
            ));
        }
        self.file
            .set_len(len)
            .map_err(|e| io_err(&self.path, "set length", e))?;
        let before = self.have.total();
        self.have.truncate(len);
        self.store.release(before - self.have.total());
        self.base = self.base.min(len);
        self.size = len;
        self.dirty = true;
        Ok(())
    }

    /// Uploads the whole file to `to` (one STOR): fetches every missing range first.
    /// Returns the size uploaded.
    pub fn upload(&mut self, remote: &dyn Remote, to: &str) -> Result<u64, UploadError> {
        self.fill(remote, 0, self.base)
            .map_err(UploadError::Local)?;
        // Two buffers, taken before the STOR (no wait for memory while holding its
        // connection; the second only if free at once), cycled through the upload: one is
        // filled from the local file while the other is on the wire.
        let piece = self.size.clamp(1, BLOCK);
        let mut free = vec![self.buf(piece)];
        let b = &self.store.budget;
        free.extend(b.try_take((piece as usize).min(b.max_grant())));
        let depth = free.len();
        let mut s = remote.open_write(to).map_err(UploadError::Remote)?;
        let mut pos = 0;
        while pos < self.size {
            let Some(mut buf) = free.pop() else {
                let e = RemoteError::Other("upload: no buffer came back".into());
                return Err(UploadError::Remote(s.finish().err().unwrap_or(e)));
            };
            buf.set_len(((self.size - pos) as usize).min(buf.capacity()));
            let n = buf.len();
            if let Err(e) = self.file.read_exact_at(&mut buf, pos) {
                // End the STOR; the server keeps what it got, the caller reports the error.
                let _ = s.finish();
                return Err(UploadError::Local(io_err(&self.path, "read", e)));
            }
            match s.write_keep(buf, depth) {
                Ok(back) => free.extend(back),
                // The server may have said why (552 quota...): finishing reads its reply.
                Err(e) => return Err(UploadError::Remote(s.finish().err().unwrap_or(e))),
            }
            pos += n as u64;
        }
        s.finish().map_err(UploadError::Remote)?;
        // The server now holds exactly this file; `base` stays: the holes beyond it are
        // zeros on both sides.
        self.dirty = false;
        Ok(self.size)
    }
}

/// Why an upload of a staged copy failed.
pub(super) enum UploadError {
    /// Before anything was sent (a fetch, the local disk).
    Local(FsError),
    /// The server refused or the connection failed.
    Remote(RemoteError),
}

impl Drop for Staged {
    fn drop(&mut self) {
        self.store.release(self.have.total());
        if self.error.is_some() {
            log::error!(
                "{}: the upload failed; the data written is kept in {}",
                self.path,
                self.local.display()
            );
        } else if let Err(e) = std::fs::remove_file(&self.local) {
            log::warn!("cannot remove {}: {e}", self.local.display());
        }
    }
}
