//! Files being written ("live"): each has one [`Live`] entry by path, on which its writers
//! register ([`Writer`]) and through which staging finds its streaming handles.
//!
//! Invariants: see `handles.rs` (who streams) and `append.rs` (appenders taking turns); an
//! entry is touched only under the `live` lock, and only by writers whose id matches it.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::handles::{Handle, Writer};
use super::{Fs, lock};

/// A file being written through this mount. A path has at most one; when its file is
/// unlinked (or replaced by a rename) the entry goes, and a new file at the path gets a new
/// entry with a new `id`.
pub(super) struct Live {
    /// Which file this is: writers remember it ([`Writer`]) and touch the entry only
    /// while it matches, so a handle of an unlinked file never changes a new file's entry.
    pub(super) id: u64,
    pub(super) size: u64,
    pub(super) mtime: SystemTime,
    pub(super) mode: u32,
    /// Its writers: open write handles and truncates in progress.
    pub(super) writers: usize,
    /// Its streaming write handles (fh, handle): at most one, and only while it is the only
    /// writer (`handles.rs`), unless every writer is an O_APPEND one (`appending`, see
    /// `append.rs`). Staging finds them here, not among all open handles.
    pub(super) streams: Vec<(u64, Arc<Mutex<Handle>>)>,
    /// Every writer is a streaming O_APPEND handle: more appenders may join `streams`. Cleared
    /// for good by any other writer and by staging.
    pub(super) appending: bool,
    /// The appender whose upload (APPE, or the STOR of a new file) is running: at most one
    /// per file (`append.rs`).
    pub(super) appe: Option<u64>,
    /// An appender's upload failed: how much of it the server kept is unknown until the next
    /// appender lists the directory.
    pub(super) unsure: bool,
    /// An mtime to set once the upload has finished.
    pub(super) pending_mtime: Option<SystemTime>,
    /// The mode a new file was created with, to give it on the server once its upload has
    /// finished (`attrs.rs`).
    pub(super) pending_mode: Option<u32>,
}

/// What [`Fs::claim_stream`] registers.
pub(super) struct Claim<'a> {
    pub(super) path: &'a str,
    pub(super) fh: u64,
    pub(super) size: u64,
    pub(super) mode: u32,
    pub(super) append: bool,
    pub(super) running: bool,
}

impl Fs {
    /// Registers one more writer of `path` (a staged handle, a truncate): a new live file
    /// shows `size` until its writers say otherwise; an existing one keeps its attributes.
    pub(super) fn add_writer(&self, path: &str, size: u64, mode: u32) -> Writer {
        let fh = self.unique();
        let mut live = lock(&self.live);
        let l = live.entry(path.to_string()).or_insert_with(|| Live {
            id: self.unique(),
            size,
            mtime: SystemTime::now(),
            mode,
            writers: 0,
            streams: Vec::new(),
            appending: false,
            unsure: false,
            appe: None,
            pending_mtime: None,
            pending_mode: None,
        });
        l.writers += 1;
        // Not an appender: the file's appenders are staged (by the caller) and none joins.
        l.appending = false;
        Writer { id: l.id, fh }
    }

    /// Registers `h` (handle `fh`, locked by the caller) as the streaming writer of `path`,
    /// which then shows `size`. `None` when the file has a writer or a staged copy already:
    /// the caller opens it staged instead. An `append` handle with nothing running joins a
    /// file whose writers are all such handles; one whose upload runs (`running`: a new
    /// file's STOR) holds the file's turn to upload.
    pub(super) fn claim_stream(&self, h: &Arc<Mutex<Handle>>, claim: Claim<'_>) -> Option<Writer> {
        let Claim {
            path,
            fh,
            size,
            mode,
            append,
            running,
        } = claim;
        let mut live = lock(&self.live);
        if self.is_staged(path) {
            return None;
        }
        if let Some(l) = live.get_mut(path) {
            if !append || running || !l.appending || l.writers != l.streams.len() {
                return None;
            }
            l.writers += 1;
            l.streams.push((fh, Arc::clone(h)));
            return Some(Writer { id: l.id, fh });
        }
        // A writer that sends nothing yet (an existing file: the server holds `[0, size)`)
        // takes the size known now, not the one its open read: another writer may have
        // finished and grown the file in between (appenders taking turns do).
        let size = match (running, super::split(path)) {
            (false, Some((dir, name))) => self
                .cache
                .peek(dir)
                .and_then(|l| l.get(name).map(|e| e.size))
                .unwrap_or(size),
            _ => size,
        };
        let id = self.unique();
        live.insert(
            path.to_string(),
            Live {
                id,
                size,
                mtime: SystemTime::now(),
                mode,
                writers: 1,
                streams: vec![(fh, Arc::clone(h))],
                appending: append,
                unsure: false,
                appe: (append && running).then_some(fh),
                pending_mtime: None,
                pending_mode: None,
            },
        );
        Some(Writer { id, fh })
    }

    /// Whether the file `w` writes has a time to set after its upload.
    pub(super) fn has_pending(&self, path: &str, w: Writer) -> bool {
        lock(&self.live)
            .get(path)
            .is_some_and(|l| l.id == w.id && l.pending_mtime.is_some())
    }

    /// Whether `w` is registered on the file now at `path` (not unlinked or replaced).
    pub(super) fn is_current(&self, path: &str, w: Writer) -> bool {
        lock(&self.live).get(path).is_some_and(|l| l.id == w.id)
    }

    /// Edits the live entry of `path` if `w` is registered on it.
    pub(super) fn update_live(&self, path: &str, w: Writer, edit: impl FnOnce(&mut Live)) {
        if let Some(l) = lock(&self.live).get_mut(path)
            && l.id == w.id
        {
            edit(l);
        }
    }

    /// The writer `w` of `path` is gone (also from the stream slot, if it held it). A writer
    /// of an unlinked file touches nothing.
    pub(super) fn drop_writer(&self, path: &str, w: Writer) {
        let mut live = lock(&self.live);
        let mut last_size = None;
        if let Some(l) = live.get_mut(path)
            && l.id == w.id
        {
            l.streams.retain(|(fh, _)| *fh != w.fh);
            if l.appe == Some(w.fh) {
                l.appe = None;
            }
            l.writers = l.writers.saturating_sub(1);
            if l.writers == 0 {
                last_size = (!l.unsure).then_some(l.size);
                live.remove(path);
            }
        }
        drop(live);
        // The file's size while it was written was the live entry's; each writer recorded
        // its own end in the cached listing as it finished, and appenders taking turns can
        // finish in an order that leaves an earlier (smaller) end last. The last writer
        // leaves the entry at least at the size it showed.
        if let (Some(size), Some((dir, name))) = (last_size, super::split(path)) {
            self.cache.update(dir, |l| {
                if let Some(e) = l.get_mut(name)
                    && e.size < size
                {
                    e.size = size;
                }
            });
        }
    }
}
