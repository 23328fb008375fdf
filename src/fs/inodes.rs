//! The inode table: inode number ↔ mount-relative path, with the kernel's lookup counts.
//!
//! Invariants:
//! - Inode 1 is the root `/` and is never removed.
//! - Inode numbers are never reused within a mount (a counter), so a stale kernel inode can
//!   never alias a new file.
//! - `by_path` and `by_ino` agree for every live path; an inode whose path was removed or
//!   replaced keeps its number (the kernel may still hold it) but maps to no path.
//! - An inode is removed when the kernel's last reference goes (FORGET). Inodes numbered only
//!   for a directory listing (the kernel never took them) stay, so that a later lookup gets
//!   the number readdir showed, but only the newest [`MAX_UNHELD`] of them: the table does not
//!   grow with the number of files ever listed.

use std::collections::VecDeque;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashMap, HashTable};

pub const ROOT_INO: u64 = 1;

/// Inodes numbered for listings but never taken by the kernel that are kept (older ones are
/// dropped; a lookup then numbers the file anew).
const MAX_UNHELD: usize = 1 << 16;

#[derive(Debug)]
struct Node {
    path: Option<Box<str>>,
    lookups: u64,
}

/// The table; callers wrap it in a mutex and never hold that across network I/O.
///
/// Each path is stored once, in its node: the path index holds inode numbers only (8 bytes
/// a slot), found by the path's hash and checked against the node. An inode costs its
/// node's slot (32 bytes), one or two index slots, and its path's allocation (about 100
/// bytes plus the path at a million inodes; SEMANTICS.md).
#[derive(Debug)]
pub struct Inodes {
    by_ino: HashMap<u64, Node>,
    by_path: HashTable<u64>,
    hasher: DefaultHashBuilder,
    next: u64,
    /// Inodes created without a kernel reference, oldest first (some may have one by now).
    unheld: VecDeque<u64>,
    max_unheld: usize,
}

impl Default for Inodes {
    fn default() -> Self {
        let mut t = Inodes {
            by_ino: HashMap::new(),
            by_path: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            next: ROOT_INO + 1,
            unheld: VecDeque::new(),
            max_unheld: MAX_UNHELD,
        };
        t.by_ino.insert(
            ROOT_INO,
            Node {
                path: Some("/".into()),
                lookups: 1,
            },
        );
        t.index(ROOT_INO);
        t
    }
}

impl Inodes {
    /// The inode of a live path.
    fn find(&self, path: &str) -> Option<u64> {
        let hash = self.hasher.hash_one(path);
        let by_ino = &self.by_ino;
        self.by_path
            .find(hash, |i| {
                by_ino.get(i).and_then(|n| n.path.as_deref()) == Some(path)
            })
            .copied()
    }

    /// Puts `ino` (whose node has a path) into the path index.
    fn index(&mut self, ino: u64) {
        let Some(path) = self.by_ino.get(&ino).and_then(|n| n.path.as_deref()) else {
            return;
        };
        let hash = self.hasher.hash_one(path);
        let (h, by_ino) = (&self.hasher, &self.by_ino);
        self.by_path.insert_unique(hash, ino, |i| {
            h.hash_one(by_ino.get(i).and_then(|n| n.path.as_deref()).unwrap_or(""))
        });
    }

    /// Takes `path` out of the path index; returns its inode.
    fn unindex(&mut self, path: &str) -> Option<u64> {
        let hash = self.hasher.hash_one(path);
        let by_ino = &self.by_ino;
        let slot = self
            .by_path
            .find_entry(hash, |i| {
                by_ino.get(i).and_then(|n| n.path.as_deref()) == Some(path)
            })
            .ok()?;
        Some(slot.remove().0)
    }

    /// The path of an inode, if it still has one.
    pub fn path(&self, ino: u64) -> Option<&str> {
        self.by_ino.get(&ino).and_then(|n| n.path.as_deref())
    }

    /// The inode of a path, if it has one.
    pub fn ino_of(&self, path: &str) -> Option<u64> {
        self.find(path)
    }

    /// The inode of a path, allocating one when new; `lookup` adds a kernel reference.
    pub fn get_or_insert(&mut self, path: &str, lookup: bool) -> u64 {
        let ino = match self.find(path) {
            Some(ino) => ino,
            None => {
                let ino = self.next;
                self.next += 1;
                self.by_ino.insert(
                    ino,
                    Node {
                        path: Some(path.into()),
                        lookups: 0,
                    },
                );
                self.index(ino);
                if !lookup {
                    self.unheld.push_back(ino);
                    while self.unheld.len() > self.max_unheld {
                        if let Some(old) = self.unheld.pop_front() {
                            self.forget(old, 0);
                        }
                    }
                }
                ino
            }
        };
        if lookup && let Some(n) = self.by_ino.get_mut(&ino) {
            n.lookups += 1;
        }
        ino
    }

    /// The kernel dropped `n` references (0: none; an inode it never took is then removed).
    /// Returns whether the inode is gone.
    pub fn forget(&mut self, ino: u64, n: u64) -> bool {
        if ino == ROOT_INO {
            return false;
        }
        let remove = match self.by_ino.get_mut(&ino) {
            Some(node) => {
                node.lookups = node.lookups.saturating_sub(n);
                node.lookups == 0
            }
            None => false,
        };
        if remove {
            if let Some(path) = self.path(ino).map(str::to_owned)
                && self.find(&path) == Some(ino)
            {
                self.unindex(&path);
            }
            self.by_ino.remove(&ino);
        }
        remove
    }

    /// The path was deleted: detach it from its inode.
    pub fn remove_path(&mut self, path: &str) {
        if let Some(ino) = self.unindex(path)
            && let Some(n) = self.by_ino.get_mut(&ino)
        {
            n.path = None;
        }
    }

    /// `from` (and everything below it) now lives at `to`; whatever was at `to` is detached.
    pub fn rename(&mut self, from: &str, to: &str) {
        self.remove_path(to);
        let prefix = format!("{from}/");
        let moved: Vec<(u64, String)> = self
            .by_ino
            .iter()
            .filter_map(|(&i, n)| Some((i, n.path.as_deref()?)))
            .filter(|(_, p)| *p == from || p.starts_with(&prefix))
            .map(|(i, p)| (i, p.to_string()))
            .collect();
        for (ino, old) in moved {
            if self.find(&old) != Some(ino) {
                continue;
            }
            self.unindex(&old);
            let new = format!("{to}{}", &old[from.len()..]);
            // Whatever was at the new path (below a replaced directory) is detached.
            self.remove_path(&new);
            if let Some(n) = self.by_ino.get_mut(&ino) {
                n.path = Some(new.into());
            }
            self.index(ino);
        }
    }

    /// Bytes held by the two tables for their slots (paths not counted), for tests.
    #[cfg(test)]
    fn overhead_bytes(&self) -> usize {
        self.by_ino.capacity() * (std::mem::size_of::<(u64, Node)>() + 1)
            + self.by_path.capacity() * (std::mem::size_of::<u64>() + 1)
    }

    /// Number of inodes known (for tests and statfs).
    pub fn len(&self) -> usize {
        self.by_ino.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_ino.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_moves_descendants_and_detaches_target() {
        let mut t = Inodes::default();
        let d = t.get_or_insert("/d", true);
        let f = t.get_or_insert("/d/f", true);
        let victim = t.get_or_insert("/e", true);
        t.rename("/d", "/e");
        assert_eq!(t.path(d), Some("/e"));
        assert_eq!(t.path(f), Some("/e/f"));
        assert_eq!(t.path(victim), None);
        assert_eq!(t.get_or_insert("/e/f", false), f);
    }

    #[test]
    fn forget_frees_and_numbers_are_not_reused() {
        let mut t = Inodes::default();
        let a = t.get_or_insert("/a", true);
        t.forget(a, 1);
        assert_eq!(t.path(a), None);
        let b = t.get_or_insert("/a", true);
        assert_ne!(a, b);
        t.forget(ROOT_INO, 10);
        assert_eq!(t.path(ROOT_INO), Some("/"));
    }

    #[test]
    fn an_inode_costs_two_small_slots_and_its_path_once() {
        assert_eq!(std::mem::size_of::<(u64, Node)>(), 32);
        let mut t = Inodes::default();
        let n = 100_000;
        for i in 0..n {
            t.get_or_insert(&format!("/big/file-{i:010}.dat"), true);
        }
        let per = t.overhead_bytes() as f64 / n as f64;
        // 41 bytes a slot pair, at a load between 7/16 and 7/8.
        assert!(per <= 41.0 * 16.0 / 7.0 + 1.0, "{per} bytes per inode");
        let ino = t.get_or_insert("/big/file-0000000007.dat", false);
        t.rename("/big", "/moved");
        assert_eq!(t.path(ino), Some("/moved/file-0000000007.dat"));
        assert_eq!(t.get_or_insert("/moved/file-0000000007.dat", false), ino);
    }

    #[test]
    fn only_the_newest_inodes_numbered_for_listings_are_kept() {
        let mut t = Inodes {
            max_unheld: 3,
            ..Inodes::default()
        };
        let held = t.get_or_insert("/h", false);
        t.get_or_insert("/h", true);
        let first = t.get_or_insert("/a", false);
        for name in ["/b", "/c", "/d", "/e"] {
            t.get_or_insert(name, false);
        }
        // "/h" has a kernel reference, "/a" was the oldest without one.
        assert_eq!((t.path(held), t.path(first)), (Some("/h"), None));
        assert_eq!(t.len(), 1 + 1 + 3);
        assert_ne!(t.get_or_insert("/a", false), first);
    }
}
