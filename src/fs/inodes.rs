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

use std::collections::{HashMap, VecDeque};

pub const ROOT_INO: u64 = 1;

/// Inodes numbered for listings but never taken by the kernel that are kept (older ones are
/// dropped; a lookup then numbers the file anew).
const MAX_UNHELD: usize = 1 << 16;

#[derive(Debug)]
struct Node {
    path: Option<String>,
    lookups: u64,
}

/// The table; callers wrap it in a mutex and never hold that across network I/O.
#[derive(Debug)]
pub struct Inodes {
    by_ino: HashMap<u64, Node>,
    by_path: HashMap<String, u64>,
    next: u64,
    /// Inodes created without a kernel reference, oldest first (some may have one by now).
    unheld: VecDeque<u64>,
    max_unheld: usize,
}

impl Default for Inodes {
    fn default() -> Self {
        let mut by_ino = HashMap::new();
        by_ino.insert(
            ROOT_INO,
            Node {
                path: Some("/".into()),
                lookups: 1,
            },
        );
        let mut by_path = HashMap::new();
        by_path.insert("/".to_string(), ROOT_INO);
        Inodes {
            by_ino,
            by_path,
            next: ROOT_INO + 1,
            unheld: VecDeque::new(),
            max_unheld: MAX_UNHELD,
        }
    }
}

impl Inodes {
    /// The path of an inode, if it still has one.
    pub fn path(&self, ino: u64) -> Option<&str> {
        self.by_ino.get(&ino).and_then(|n| n.path.as_deref())
    }

    /// The inode of a path, if it has one.
    pub fn ino_of(&self, path: &str) -> Option<u64> {
        self.by_path.get(path).copied()
    }

    /// The inode of a path, allocating one when new; `lookup` adds a kernel reference.
    pub fn get_or_insert(&mut self, path: &str, lookup: bool) -> u64 {
        let ino = match self.by_path.get(path) {
            Some(&ino) => ino,
            None => {
                let ino = self.next;
                self.next += 1;
                self.by_path.insert(path.to_string(), ino);
                self.by_ino.insert(
                    ino,
                    Node {
                        path: Some(path.to_string()),
                        lookups: 0,
                    },
                );
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
        if remove
            && let Some(Node {
                path: Some(path), ..
            }) = self.by_ino.remove(&ino)
            && self.by_path.get(&path) == Some(&ino)
        {
            self.by_path.remove(&path);
        }
        remove
    }

    /// The path was deleted: detach it from its inode.
    pub fn remove_path(&mut self, path: &str) {
        if let Some(ino) = self.by_path.remove(path)
            && let Some(n) = self.by_ino.get_mut(&ino)
        {
            n.path = None;
        }
    }

    /// `from` (and everything below it) now lives at `to`; whatever was at `to` is detached.
    pub fn rename(&mut self, from: &str, to: &str) {
        self.remove_path(to);
        let prefix = format!("{from}/");
        let moved: Vec<(String, u64)> = self
            .by_path
            .iter()
            .filter(|(p, _)| p.as_str() == from || p.starts_with(&prefix))
            .map(|(p, &i)| (p.clone(), i))
            .collect();
        for (old, ino) in moved {
            self.by_path.remove(&old);
            let new = format!("{to}{}", &old[from.len()..]);
            self.by_path.insert(new.clone(), ino);
            if let Some(n) = self.by_ino.get_mut(&ino) {
                n.path = Some(new);
            }
        }
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
