//! The read path of a handle: one RETR stream (with its read-ahead, `prefetch.rs`) resumed
//! with REST at other offsets, and what happens when a transfer ends before the size the
//! kernel was shown.
//!
//! Short and changing files. The kernel reads a file up to the size it was shown; a reply
//! shorter than asked tells it "end of file here" (it zero-fills the rest of the pages it
//! asked for and sets the file's size to where the reply ended, unless another reply or an
//! attribute update came first). So a transfer that ends (226) at `end` below that size is
//! never answered as it is:
//! - the server is asked the size again (SIZE, or a fresh listing where SIZE is missing);
//! - it still says more, and the transfer began at or before the size shown at open: the
//!   transfer was cut short → EIO (as curl's "partial file"), nothing short is answered;
//! - it says more, but the transfer already delivered all the file had at open (the file
//!   grew since, and the kernel was shown the new size): a new transfer at the offset asked
//!   (once per read);
//! - it says exactly `end`: the file shrank. The read that contains `end` (or starts at it)
//!   is answered short: that reply sets the kernel's size. Reads that start beyond `end` are
//!   read-ahead the kernel sent before it knew: they are answered EIO, never empty, because
//!   an empty reply at a higher offset that the kernel handled first would set its size
//!   there, and the pages between `end` and that offset would read as zeros the server never
//!   sent. Once the short reply is out, the cached listing shows `end` and the kernel is told
//!   to drop its pages from `end` on and its attributes ([`super::Notice`]; sent after the
//!   reply, never before: a notice handled first would make the kernel ignore the size the
//!   short reply carries);
//! - it says less than `end` (the file changed while it was read): EIO.
//!
//! A file that grows while it is read is read to the size the kernel was shown: the size at
//! open, or a larger one a later stat showed (then a read past the end of the running
//! transfer starts another at that offset).
//!
//! Invariants: the handle's mutex is held while its stream moves data and while the size is
//! checked (no other lock); no reply ends below the size the kernel was shown unless the
//! server confirmed that end.

use std::sync::Arc;

use super::prefetch::{Prefetcher, Reopen};
use super::{Fs, FsError, FsResult, Notice};

/// Forward gaps up to this size are skipped by reading, not by a new RETR.
const SKIP_LIMIT: u64 = 1 << 20;

/// The kernel's page size at its smallest: notices start at the page holding the end.
const PAGE: u64 = 4096;

pub(super) struct ReadState {
    path: String,
    /// The inode (0: unknown; then no notices are sent).
    ino: u64,
    /// The size shown when the file was opened.
    opened: u64,
    /// The running download with its read-ahead, if any.
    pf: Option<Prefetcher>,
    /// Where the file ends, once a transfer reached its end and that end was checked when it
    /// lay below the size the kernel was shown.
    eof: Option<u64>,
    /// The file shrank to `eof` (confirmed by the server): whether the reply that tells the
    /// kernel so has been sent.
    shrunk: Option<bool>,
}

impl ReadState {
    /// A handle on `path` (inode `ino`) opened while it showed `opened` bytes.
    pub(super) fn new(path: String, ino: u64, opened: u64) -> Self {
        ReadState {
            path,
            ino,
            opened,
            pf: None,
            eof: None,
            shrunk: None,
        }
    }

    /// Ends the download, if one runs.
    pub(super) fn close(&mut self) {
        self.pf = None;
    }

    /// The most the kernel may believe the file holds: the size at open, or what a stat
    /// shows now (without listing).
    fn known(&self, fs: &Fs) -> u64 {
        fs.shown_size(&self.path)
            .map_or(self.opened, |s| s.max(self.opened))
    }

    /// A download at `offset` unless the running one can serve it.
    fn stream_at(&mut self, fs: &Fs, offset: u64) -> FsResult<&mut Prefetcher> {
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
            // An idle download gives its connection back; reading on resumes with REST.
            let (remote, path) = (Arc::clone(&fs.remote), self.path.clone());
            let reopen: Reopen = Arc::new(move |at| remote.open_read(&path, at));
            let p = Prefetcher::start_with(s, offset, reopen, fs.budget())
                .map_err(|e| FsError::new(libc::EIO, format!("{}: {e}", self.path)))?;
            self.pf = Some(p);
        }
        self.pf
            .as_mut()
            .ok_or_else(|| FsError::new(libc::EIO, format!("{}: no download", self.path)))
    }

    pub(super) fn read_with<R>(
        &mut self,
        fs: &Fs,
        offset: u64,
        size: usize,
        reply: impl FnOnce(&[u8]) -> R,
    ) -> FsResult<R> {
        let want_end = offset + size as u64;
        let mut reopened = false;
        loop {
            if let Some(eof) = self.eof
                && offset >= eof
            {
                match self.past_end(fs, offset, eof)? {
                    true => return Ok(self.answered(fs, offset, want_end, reply(&[]))),
                    false => continue,
                }
            }
            let p = self.stream_at(fs, offset)?;
            if let Err(e) = p.pull(offset, size) {
                // The next read starts a fresh transfer at its offset.
                self.pf = None;
                return Err(FsError::remote("download", &self.path, &e));
            }
            let end = match p.eof() {
                Some(end) if end < want_end => end,
                _ => return self.deliver(fs, offset, size, reply),
            };
            // A transfer that delivered nothing (it began at or beyond the end).
            let empty = p.low() == end;
            let known = self.known(fs);
            // Checked already, at/after the size the kernel was shown, or a file this mount
            // is writing (the kernel learns its size from our own writes and truncates, as
            // on a local disk): the end.
            if end >= known
                || (self.eof == Some(end) && self.shrunk.is_some())
                || fs.being_written(&self.path)
            {
                self.eof = Some(end);
                return self.deliver(fs, offset, size, reply);
            }
            match fs.server_size(&self.path) {
                Ok(s) if s == end || (s < end && empty) => {
                    let end = s;
                    log::info!(
                        "{}: the file shrank on the server to {end} bytes (shown: {known}); \
                         reading to its new end",
                        self.path
                    );
                    self.eof = Some(end);
                    self.shrunk = Some(false);
                    fs.note_shrunk(&self.path, end);
                }
                Ok(s) if s > end && end >= self.opened && !reopened => {
                    // Grown since open: what the transfer had is read; another one goes on.
                    reopened = true;
                    self.pf = None;
                    self.eof = None;
                }
                Ok(s) if s < end && fs.shown_size(&self.path) == Some(s) => {
                    // Rewritten through this mount meanwhile (its upload is recorded): as on
                    // a local disk, the reader sees where its data ended.
                    self.eof = Some(end);
                    return self.deliver(fs, offset, size, reply);
                }
                Ok(s) => {
                    self.pf = None;
                    let why = if s > end {
                        format!(
                            "the transfer ended (226) after {end} bytes but the server says the file has {s}"
                        )
                    } else {
                        format!("the file changed while it was read (sent {end} bytes, now {s})")
                    };
                    return Err(FsError::new(libc::EIO, format!("{}: {why}", self.path)));
                }
                Err(e) => {
                    self.pf = None;
                    return Err(FsError::new(
                        libc::EIO,
                        format!(
                            "{}: the transfer ended after {end} bytes of {known}, and the size \
                             could not be checked: {}",
                            self.path, e.msg
                        ),
                    ));
                }
            }
        }
    }

    /// A read at or after the end seen (`eof`): true when it is answered empty, false when the
    /// file may have grown since (the caller reads on), an error for read-ahead beyond a
    /// confirmed new end.
    fn past_end(&mut self, fs: &Fs, offset: u64, eof: u64) -> FsResult<bool> {
        let grown = fs.shown_size(&self.path).is_some_and(|s| s > eof);
        match self.shrunk {
            _ if grown => {
                // A stat shows more now: look again.
                self.eof = None;
                self.shrunk = None;
                Ok(false)
            }
            None => Ok(true),
            Some(_) if offset == eof => Ok(true),
            Some(_) => Err(FsError::new(
                libc::EIO,
                format!(
                    "{}: read-ahead at {offset}, beyond the file's new end ({eof} bytes)",
                    self.path
                ),
            )),
        }
    }

    /// Hands `[offset, offset + size)` (short at the end) to `reply`.
    fn deliver<R>(
        &mut self,
        fs: &Fs,
        offset: u64,
        size: usize,
        reply: impl FnOnce(&[u8]) -> R,
    ) -> FsResult<R> {
        let Some(p) = self.pf.as_mut() else {
            return Ok(self.answered(fs, offset, offset + size as u64, reply(&[])));
        };
        match p.read_with(offset, size, reply) {
            Ok(r) => Ok(self.answered(fs, offset, offset + size as u64, r)),
            Err(e) => {
                self.pf = None;
                Err(FsError::remote("download", &self.path, &e))
            }
        }
    }

    /// After a reply for `[offset, want_end)` was sent: when it told the kernel the new end
    /// of a shrunk file, the kernel is told to drop what it holds beyond.
    fn answered<R>(&mut self, fs: &Fs, offset: u64, want_end: u64, r: R) -> R {
        if let (Some(false), Some(eof)) = (self.shrunk, self.eof)
            && offset <= eof
            && eof < want_end
        {
            self.shrunk = Some(true);
            if self.ino != 0 {
                fs.notice(Notice::Inval {
                    ino: self.ino,
                    from: eof / PAGE * PAGE,
                });
            }
        }
        r
    }
}
