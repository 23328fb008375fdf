//! Directory handles: `opendir` takes a snapshot of the directory's listing, `readdir` hands
//! its entries to a sink one at a time from an offset, until the sink is full (the FUSE
//! reply buffer; tests collect them).
//!
//! Invariants:
//! - A snapshot shares the cached listing (an `Arc` of its entries, never copied) and adds
//!   4 bytes per entry for the order, plus the files being written that the listing lacks:
//!   opening a directory of a million entries allocates nothing per entry.
//! - Entries come as `.`, `..`, then sorted by name; an offset is the index of the next
//!   entry (`.` is 0).
//! - An entry's inode number is given when readdir first hands it out (as a lookup would
//!   give it, without a kernel reference), not at opendir; no lock is held while the sink
//!   runs (a readdirplus sink looks entries up).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Attr, DirItem, Fs, FsError, FsResult, ROOT_INO, lock};
use crate::cache::Entries;
use crate::remote::{FileKind, RemoteEntry, join, split};

/// What opendir saw.
pub(super) struct Snapshot {
    path: String,
    dot: Attr,
    dotdot: Attr,
    /// The cached listing as it was at opendir.
    listing: Arc<Entries>,
    /// Files being written that the listing lacks.
    extra: Vec<RemoteEntry>,
    /// Entries by name: an index into `listing`, or `listing.len() + i` for `extra[i]`.
    order: Vec<u32>,
}

impl Snapshot {
    fn entry(&self, k: usize) -> Option<&RemoteEntry> {
        let i = *self.order.get(k)? as usize;
        let n = self.listing.len();
        if i < n {
            self.listing.as_slice().get(i)
        } else {
            self.extra.get(i - n)
        }
    }
}

impl Fs {
    /// opendir: takes a snapshot of the listing (served by [`Fs::readdir`]).
    pub fn opendir(&self, ino: u64) -> FsResult<u64> {
        let path = self.path_of(ino)?;
        let e = self.entry(&path)?;
        if e.kind != FileKind::Dir {
            return Err(FsError::new(
                libc::ENOTDIR,
                format!("{path}: not a directory"),
            ));
        }
        let listing = self.listing(&path)?;
        let live: Vec<String> = lock(&self.live)
            .keys()
            .filter(|p| split(p).is_some_and(|(parent, _)| parent == path))
            .cloned()
            .collect();
        let mut extra = vec![];
        for p in &live {
            if let Some((_, name)) = split(p)
                && !listing.contains_key(name)
                && let Ok(e) = self.entry(p)
            {
                extra.push(e);
            }
        }
        let n = listing.len();
        let all = listing.as_slice();
        let name = |i: u32| {
            let i = i as usize;
            if i < n {
                &all[i].name
            } else {
                &extra[i - n].name
            }
        };
        let mut order: Vec<u32> = (0..(n + extra.len()) as u32).collect();
        order.sort_unstable_by(|&a, &b| name(a).cmp(name(b)));
        let parent_ino = split(&path).map_or(ROOT_INO, |(pp, _)| {
            lock(&self.inodes).get_or_insert(pp, false)
        });
        let dot = self.attr(ino, &path, &e);
        let snap = Snapshot {
            dotdot: Attr {
                ino: parent_ino,
                ..dot
            },
            dot,
            path,
            listing,
            extra,
            order,
        };
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        lock(&self.dirs).insert(fh, Arc::new(snap));
        Ok(fh)
    }

    /// readdir: hands the snapshot's entries from `offset` on (`.` is 0) to `sink`, one at
    /// a time, until the sink says it is full (returns true) or the entries run out.
    pub fn readdir(
        &self,
        fh: u64,
        offset: u64,
        sink: impl FnMut(&DirItem) -> bool,
    ) -> FsResult<()> {
        self.walk(fh, offset, false, sink)
    }

    /// readdirplus: as [`Fs::readdir`], each entry with its attributes as of now (not as of
    /// opendir: a setattr since then, e.g. rsync -t, must not be undone) and a kernel
    /// reference taken for it (but `.` and `..`); the sink gives that reference back
    /// ([`Fs::forget`]) for an entry that did not fit. An entry gone since opendir is
    /// skipped.
    pub fn readdirplus(
        &self,
        fh: u64,
        offset: u64,
        sink: impl FnMut(&DirItem) -> bool,
    ) -> FsResult<()> {
        self.walk(fh, offset, true, sink)
    }

    fn walk(
        &self,
        fh: u64,
        offset: u64,
        plus: bool,
        mut sink: impl FnMut(&DirItem) -> bool,
    ) -> FsResult<()> {
        let snap = lock(&self.dirs)
            .get(&fh)
            .cloned()
            .ok_or_else(|| FsError::new(libc::EBADF, "directory handle is not open"))?;
        let mut k = usize::try_from(offset).unwrap_or(usize::MAX);
        loop {
            let next = k as u64 + 1;
            let item = match k {
                0 | 1 => {
                    let a = if k == 0 { snap.dot } else { snap.dotdot };
                    DirItem {
                        ino: a.ino,
                        kind: FileKind::Dir,
                        name: if k == 0 { "." } else { ".." }.into(),
                        next,
                        attr: plus.then_some(a),
                    }
                }
                _ => {
                    let Some(e) = snap.entry(k - 2) else {
                        return Ok(());
                    };
                    let path = join(&snap.path, &e.name);
                    if plus {
                        // One lookup by path gives the inode (with its reference) and the
                        // attributes; gone since opendir: skipped.
                        let Ok(a) = self.attr_of_path(&path, true) else {
                            k += 1;
                            continue;
                        };
                        DirItem {
                            ino: a.ino,
                            kind: e.kind,
                            name: e.name.clone(),
                            next,
                            attr: Some(a),
                        }
                    } else {
                        DirItem {
                            ino: lock(&self.inodes).get_or_insert(&path, false),
                            kind: e.kind,
                            name: e.name.clone(),
                            next,
                            attr: None,
                        }
                    }
                }
            };
            if sink(&item) {
                return Ok(());
            }
            k += 1;
        }
    }

    pub fn releasedir(&self, fh: u64) {
        lock(&self.dirs).remove(&fh);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{R, setup};
    use super::*;

    /// Reads a directory the way the kernel does: batches that fill after `room` entries,
    /// each starting at the offset after the last entry taken.
    fn read_in_batches(fs: &Fs, fh: u64, room: usize) -> Vec<(u64, String)> {
        let mut out = vec![];
        let mut offset = 0;
        loop {
            let mut taken = 0;
            let before = out.len();
            fs.readdir(fh, offset, |i| {
                if taken == room {
                    return true;
                }
                taken += 1;
                out.push((i.ino, i.name.clone()));
                false
            })
            .expect("readdir");
            if out.len() == before {
                return out;
            }
            offset = out.len() as u64;
        }
    }

    #[test]
    fn entries_come_sorted_after_the_dots_in_batches_from_any_offset() {
        let (fs, fake, _) = setup();
        for name in ["b", "a", "d", "c", "e"] {
            fake.add_file(&format!("/{name}"), b"x");
        }
        let fh = fs.opendir(R).expect("opendir");
        let got = read_in_batches(&fs, fh, 2);
        let names: Vec<&str> = got.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, [".", "..", "a", "b", "c", "d", "e"]);
        // The numbers handed out are the ones lookups give.
        for (ino, name) in &got[2..] {
            assert_eq!(fs.lookup(R, name).expect("lookup").ino, *ino, "{name}");
        }
        // A file created after opendir is not in this handle's snapshot.
        fake.add_file("/f", b"x");
        assert_eq!(read_in_batches(&fs, fh, 100).len(), 7);
        fs.releasedir(fh);
        assert!(fs.readdir(fh, 0, |_| false).is_err());
    }
}
