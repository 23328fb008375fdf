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
//! - readdirplus gives each entry's attributes from the directory's current listing, taken
//!   once per call (live uploads first); [`Fs::readdirplus_cached`] never waits on the server
//!   (it declines when that listing is not fresh), so the FUSE adapter may run it anywhere.

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

/// Whether entries come with attributes, from the directory's current listing.
#[derive(Clone, Copy)]
enum Attrs {
    /// Names only (readdir).
    No,
    /// Fetched when the listing is not fresh.
    Fetch,
    /// Only from a fresh cached listing; nothing at all otherwise.
    IfCached,
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
        self.walk(fh, offset, Attrs::No, sink).map(|_| ())
    }

    /// readdirplus: as [`Fs::readdir`], each entry with its attributes as of this call (not
    /// as of opendir: a setattr since then, e.g. rsync -t, must not be undone) and a kernel
    /// reference taken for it (but `.` and `..`); the sink gives that reference back
    /// ([`Fs::forget`]) for an entry that did not fit. An entry gone since opendir is
    /// skipped. The directory's current listing is fetched when it is not fresh.
    pub fn readdirplus(
        &self,
        fh: u64,
        offset: u64,
        sink: impl FnMut(&DirItem) -> bool,
    ) -> FsResult<()> {
        self.walk(fh, offset, Attrs::Fetch, sink).map(|_| ())
    }

    /// [`Fs::readdirplus`] when it can answer without the server (the directory's listing
    /// is fresh in the cache): `None` otherwise, having done nothing. The FUSE adapter
    /// answers these on its receiving thread (a cold `ls` of a big directory is thousands of
    /// readdirplus requests; a hand-over to a worker thread for each cost ~20 % of its time).
    pub fn readdirplus_cached(
        &self,
        fh: u64,
        offset: u64,
        sink: impl FnMut(&DirItem) -> bool,
    ) -> Option<FsResult<()>> {
        match self.walk(fh, offset, Attrs::IfCached, sink) {
            Ok(true) => Some(Ok(())),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// Hands entries to `sink`, with attributes as `plus` says; `Ok(true)` once done,
    /// `Ok(false)` (nothing handed) for `Attrs::IfCached` without a fresh listing.
    fn walk(
        &self,
        fh: u64,
        offset: u64,
        plus: Attrs,
        mut sink: impl FnMut(&DirItem) -> bool,
    ) -> FsResult<bool> {
        let snap = lock(&self.dirs)
            .get(&fh)
            .cloned()
            .ok_or_else(|| FsError::new(libc::EBADF, "directory handle is not open"))?;
        // The listing the attributes come from, taken once per call (not per entry).
        let current = match plus {
            Attrs::No => None,
            Attrs::Fetch => Some(self.listing(&snap.path)?),
            Attrs::IfCached => match self.cache.peek(&snap.path) {
                Some(l) => Some(l),
                None => return Ok(false),
            },
        };
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
                        attr: current.is_some().then_some(a),
                    }
                }
                _ => {
                    let Some(e) = snap.entry(k - 2) else {
                        return Ok(true);
                    };
                    let path = join(&snap.path, &e.name);
                    if let Some(current) = &current {
                        // The entry as it is now (borrowed, not copied: this runs once per
                        // entry of a cold `ls -l`); gone since opendir: skipped.
                        let live = self.live_entry(&path, &e.name);
                        let Some(now) = live.as_ref().or_else(|| current.get(&e.name)) else {
                            k += 1;
                            continue;
                        };
                        let ino = lock(&self.inodes).get_or_insert(&path, true);
                        let a = self.attr(ino, &path, now);
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
                return Ok(true);
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
    use super::super::tests::{R, TTL, setup};
    use super::*;
    use crate::remote::Remote;

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

    /// Names (but the dots) and sizes of one readdirplus batch from offset 0.
    fn plus_batch(fs: &Fs, fh: u64, cached: bool) -> Option<Vec<(String, u64)>> {
        let mut out = vec![];
        let mut sink = |i: &DirItem| {
            let a = i.attr.expect("attributes");
            if i.name != "." && i.name != ".." {
                out.push((i.name.clone(), a.size));
            }
            false
        };
        let r = if cached {
            fs.readdirplus_cached(fh, 0, &mut sink)?
        } else {
            fs.readdirplus(fh, 0, &mut sink)
        };
        r.expect("readdirplus");
        Some(out)
    }

    #[test]
    fn readdirplus_without_the_server_only_while_the_listing_is_fresh() {
        let (fs, fake, clock) = setup();
        fake.add_file("/a", b"xy");
        fake.add_file("/b", b"xyz");
        let fh = fs.opendir(R).expect("opendir");
        let lists = fake.count("list");
        // Fresh: answered from the cache, attributes as listed now.
        let got = plus_batch(&fs, fh, true).expect("answered from the cache");
        assert_eq!(got, [("a".to_string(), 2), ("b".to_string(), 3)]);
        // Stale: nothing handed out, nothing asked of the server.
        fake.add_file("/a", b"longer");
        fake.delete("/b").expect("delete");
        clock.advance(TTL * 2);
        assert!(plus_batch(&fs, fh, true).is_none());
        assert_eq!(fake.count("list"), lists);
        // The waiting variant lists again: sizes as of now, the deleted entry skipped.
        let got = plus_batch(&fs, fh, false).expect("answered");
        assert_eq!(got, [("a".to_string(), 6)]);
        assert_eq!(fake.count("list"), lists + 1);
        // Fresh again: cached answers agree.
        assert_eq!(plus_batch(&fs, fh, true).expect("cached"), got);
    }
}
