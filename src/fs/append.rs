//! Several O_APPEND writers of one file, streaming in turns ("ping-pong"): a daemon holding
//! `log` open with O_APPEND while `echo x >> log` runs costs an APPE per turn, not a staged
//! copy downloaded and uploaded whole at every close.
//!
//! Invariants:
//! - The file's `Live::appending` holds while every registered writer is a streaming
//!   O_APPEND handle (`Live::streams`); any other writer (open for writing without O_APPEND,
//!   O_RDWR, create, truncate) clears it for good and stages them all (`modify.rs`).
//! - At most one appender's upload runs per file (`Live::appe`). An appender that wants to write while another one's upload runs
//!   first finishes that upload (226: the server then holds those bytes), then starts its
//!   own APPE. With no upload running, the server holds exactly the size shown (`Live::size`),
//!   which is where an appender's next write lands.
//! - A write at or beyond the end lands at the end, as O_APPEND promises (the kernel's offset
//!   is the size it knew, which is larger than the file after a failed append: no zeros are
//!   written for it). A write before the end, or an APPE the server refuses, stages every
//!   appender (the one uploading first), then goes to the copy.
//! - A failed upload is the failing handle's (reported by its flush/close), and holds up no
//!   other appender: the next one (or the staging of them all) lists the directory first, as
//!   the server may have kept part of the failed upload.
//! - O_APPEND writes of a file arrive one at a time, in order: the kernel holds the inode
//!   lock across an O_APPEND write (with FOPEN_DIRECT_IO it does not go through the page
//!   cache), taking the offset from the size it knows. So an appender's write always lands
//!   at the end and the reorder buffer (`handles.rs`) is never used for appenders.
//! - Locks: a handle's mutex, then `live` briefly. The only handle locked other than the
//!   caller's is the one whose upload runs, in [`Fs::finish_appe`], with no other handle
//!   locked (the caller lets its own go first).

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::handles::{Handle, WriteState, Writer};
use super::{Fs, FsError, FsResult, lock};
use crate::memory::Buf;
use crate::remote::split;

/// What an appender's write does next.
enum Step {
    /// Another appender's upload runs (fh): finish it first.
    Finish(u64),
    /// Not streamable: stage every appender, then write to the copy.
    Stage,
    /// Its turn: write (starting an APPE when nothing runs).
    Go,
    /// An upload failed: list the directory to learn how much of it the server kept.
    Relist,
}

impl Fs {
    /// write(2) on a streaming O_APPEND handle while the file's writers all append. `None`:
    /// not such a write (anymore), the caller writes as usual (the handle may have been
    /// staged meanwhile).
    pub(super) fn append_write(
        &self,
        fh: u64,
        h: &Arc<Mutex<Handle>>,
        offset: u64,
        data: &mut Option<Buf>,
    ) -> FsResult<Option<usize>> {
        loop {
            let mut g = lock(h);
            let Handle::Write(w) = &mut *g else {
                return Ok(None);
            };
            if !w.append || w.error().is_some() {
                return Ok(None);
            }
            let (path, writer) = (w.path.clone(), w.writer);
            let step = match lock(&self.live).get_mut(&path) {
                // Unlinked (or replaced): the caller gives the handle a private copy.
                None => return Ok(None),
                Some(l) if l.id != writer.id => return Ok(None),
                Some(l) if !l.appending => Step::Stage,
                Some(l) => match l.appe {
                    Some(other) if other != fh => Step::Finish(other),
                    None if l.unsure => Step::Relist,
                    _ => {
                        let end = if w.running() { w.pos } else { l.size };
                        if offset >= end {
                            if l.appe.is_none() {
                                l.appe = Some(fh);
                            }
                            w.pos = end;
                            Step::Go
                        } else {
                            l.appending = false;
                            Step::Stage
                        }
                    }
                },
            };
            match step {
                Step::Finish(other) => {
                    drop(g);
                    self.finish_appe(&path, writer, other);
                }
                Step::Relist => self.relist(&path, writer)?,
                Step::Stage => {
                    drop(g);
                    self.stage_stream(&path, writer)?;
                    return Ok(None);
                }
                Step::Go => {
                    if let Some(n) = self.append_turn(fh, w, data)? {
                        return Ok(Some(n));
                    }
                    // The APPE was refused: the handle must be unlocked to be staged.
                    drop(g);
                    self.stage_stream(&path, writer)?;
                    return Ok(None);
                }
            }
        }
    }

    /// Writes `data` at the end of the file on appender `w`, whose turn it is (it holds
    /// `Live::appe`), starting its APPE when nothing runs. `None`: the server refused the
    /// APPE, the file is no longer streamed (the caller stages it; `data` is left to it).
    fn append_turn(
        &self,
        fh: u64,
        w: &mut WriteState,
        data: &mut Option<Buf>,
    ) -> FsResult<Option<usize>> {
        let (path, writer) = (w.path.clone(), w.writer);
        if !w.running()
            && let Err(e) = w.start_append(self)
        {
            log::info!("{path}: append refused ({e}); staging the file");
            self.update_live(&path, writer, |l| {
                l.appending = false;
                if l.appe == Some(fh) {
                    l.appe = None;
                }
            });
            return Ok(None);
        }
        let data = data
            .take()
            .ok_or_else(|| FsError::new(libc::EIO, "append: data already sent"))?;
        match w.write(w.pos, data) {
            Ok(n) => {
                let end = w.pos;
                self.update_live(&path, writer, |l| {
                    l.size = l.size.max(end);
                    l.mtime = SystemTime::now();
                });
                Ok(Some(n))
            }
            Err(e) => {
                // The upload failed (recorded on the handle): the turn passes on.
                self.appe_ended(w, false);
                Err(e)
            }
        }
    }

    /// After a failed upload: the size the server lists becomes the file's (unless another
    /// appender learned it first, or took its turn meanwhile). A file missing from the
    /// listing (removed on the server, or a new file whose STOR failed) holds nothing: its
    /// size becomes 0 (keeping it unsure would only list again at every write), and the
    /// cached listing is not told of a file it does not have.
    pub(super) fn relist(&self, path: &str, w: Writer) -> FsResult<()> {
        let Some((dir, name)) = split(path) else {
            return Ok(());
        };
        let listed = self
            .remote
            .list(dir)
            .map_err(|e| FsError::remote("list", dir, &e))?;
        let size = listed.iter().find(|e| e.name == name).map(|e| e.size);
        let mut applied = false;
        self.update_live(path, w, |l| {
            if l.unsure && l.appe.is_none() {
                l.unsure = false;
                l.size = size.unwrap_or(0);
                applied = size.is_some();
            }
        });
        if applied {
            self.note_written(path, size, None);
        }
        Ok(())
    }

    /// Finishes the upload of appender `other` of the file `w` is registered on, if it still
    /// runs (its handle locked, the caller holding none). A failure stays with that handle.
    fn finish_appe(&self, path: &str, w: Writer, other: u64) {
        let h = match lock(&self.live).get_mut(path) {
            Some(l) if l.id == w.id => {
                let h = l.streams.iter().find(|(f, _)| *f == other);
                let h = h.map(|(_, h)| Arc::clone(h));
                if h.is_none() && l.appe == Some(other) {
                    l.appe = None;
                }
                h
            }
            _ => None,
        };
        let Some(h) = h else {
            return;
        };
        let mut g = lock(&h);
        let still = lock(&self.live)
            .get(path)
            .is_some_and(|l| l.id == w.id && l.appe == Some(other));
        if !still {
            return;
        }
        match &mut *g {
            Handle::Write(o) => {
                if let Err(e) = self.end_stream(o, false) {
                    log::info!(
                        "{path}: going on without the failed append of another handle ({})",
                        e.msg
                    );
                }
            }
            _ => self.update_live(path, w, |l| l.appe = None),
        }
    }

    /// The upload of `w` ended (`ok`: with 226): if it held the file's turn, the turn is
    /// free; after a failure the next appender lists the file first, and the cached listing
    /// of its directory is dropped (the server may have kept part of the upload: whoever
    /// comes once the last writer has gone lists the directory afresh).
    pub(super) fn appe_ended(&self, w: &WriteState, ok: bool) {
        self.update_live(&w.path, w.writer, |l| {
            if l.appe == Some(w.writer.fh) {
                l.appe = None;
                l.unsure |= !ok;
            }
        });
        if !ok && let Some((dir, _)) = split(&w.path) {
            self.cache.invalidate(dir);
        }
    }
}
