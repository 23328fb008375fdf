//! One directory's cached entries, compact: the entries in a vector (each one
//! [`RemoteEntry`], its name stored once, in the entry) and a hash index of their positions
//! (4 bytes a slot). A `HashMap<String, RemoteEntry>` kept every name twice and, at a power
//! of two just past the entry count, half its slots of 112 bytes empty.
//!
//! Cost of a cached entry: `size_of::<RemoteEntry>()` (88 bytes on 64-bit Linux) plus its
//! name's allocation, plus 4–10 bytes of index (5 bytes a slot, 1–2 slots an entry). See
//! SEMANTICS.md and `scripts/bench/listing_memory.sh`.
//!
//! Invariants:
//! - `index` holds exactly the positions `0..list.len()`, each found by its entry's name;
//!   names are unique (inserting a name that exists replaces that entry).
//! - An entry's name never changes in place ([`Entries::get_mut`] is for size, times and
//!   mode): a renamed entry is removed and inserted anew.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::remote::RemoteEntry;

/// A directory's entries by name.
#[derive(Clone, Default)]
pub struct Entries {
    list: Vec<RemoteEntry>,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl std::fmt::Debug for Entries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.list.iter()).finish()
    }
}

impl From<Vec<RemoteEntry>> for Entries {
    /// The entries of a listing, kept in the listing's own vector (no second copy while the
    /// index is built); of two entries with one name, the later one stays (as a map built
    /// from the listing would keep it).
    fn from(mut list: Vec<RemoteEntry>) -> Entries {
        list.shrink_to_fit();
        let mut e = Entries {
            index: HashTable::with_capacity(list.len()),
            list,
            hasher: DefaultHashBuilder::default(),
        };
        for pos in 0..e.list.len() {
            let name = e.list[pos].name.as_str();
            if e.find(name).is_some() {
                // A name listed twice (rare): build the slow way, later entries replacing.
                let list = std::mem::take(&mut e.list);
                let mut slow = Entries::new();
                slow.list.reserve_exact(list.len());
                for entry in list {
                    slow.put(entry);
                }
                slow.list.shrink_to_fit();
                return slow;
            }
            let hash = e.hasher.hash_one(name);
            let (h, list) = (&e.hasher, &e.list);
            e.index
                .insert_unique(hash, pos as u32, |&i| hash_of(h, list, i));
        }
        e
    }
}

fn hash_of(h: &DefaultHashBuilder, list: &[RemoteEntry], i: u32) -> u64 {
    h.hash_one(list[i as usize].name.as_str())
}

impl Entries {
    pub fn new() -> Entries {
        Entries::default()
    }

    fn find(&self, name: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(name);
        self.index
            .find(hash, |&i| self.list[i as usize].name == name)
            .map(|&i| i as usize)
    }

    pub fn get(&self, name: &str) -> Option<&RemoteEntry> {
        self.find(name).map(|i| &self.list[i])
    }

    /// The entry, to change its size, times or mode (never its name).
    pub fn get_mut(&mut self, name: &str) -> Option<&mut RemoteEntry> {
        self.find(name).map(|i| &mut self.list[i])
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    /// Adds `entry` under `name` (its own name), replacing an entry of that name.
    pub fn insert(&mut self, name: String, entry: RemoteEntry) -> Option<RemoteEntry> {
        debug_assert_eq!(name, entry.name, "an entry is kept under its own name");
        if self.list.len() == self.list.capacity() {
            // A cached listing was fitted to its size: grow it by an eighth, not by half
            // again (a file created in a directory of a million must not double it).
            self.list.reserve_exact(self.list.len() / 8 + 16);
        }
        self.put(entry)
    }

    fn put(&mut self, entry: RemoteEntry) -> Option<RemoteEntry> {
        if let Some(i) = self.find(&entry.name) {
            return Some(std::mem::replace(&mut self.list[i], entry));
        }
        let hash = self.hasher.hash_one(entry.name.as_str());
        let pos = u32::try_from(self.list.len()).unwrap_or(u32::MAX);
        self.list.push(entry);
        let (h, list) = (&self.hasher, &self.list);
        self.index
            .insert_unique(hash, pos, |&i| hash_of(h, list, i));
        None
    }

    pub fn remove(&mut self, name: &str) -> Option<RemoteEntry> {
        let hash = self.hasher.hash_one(name);
        let list = &self.list;
        let slot = self
            .index
            .find_entry(hash, |&i| list[i as usize].name == name)
            .ok()?;
        let (pos, _) = slot.remove();
        let pos = pos as usize;
        let last = self.list.len() - 1;
        if pos != last {
            // The last entry moves into the hole: point its index slot there.
            let moved = self.hasher.hash_one(self.list[last].name.as_str());
            if let Some(p) = self.index.find_mut(moved, |&i| i as usize == last) {
                *p = pos as u32;
            }
        }
        Some(self.list.swap_remove(pos))
    }

    /// The entries, in no particular order.
    pub fn values(&self) -> std::slice::Iter<'_, RemoteEntry> {
        self.list.iter()
    }

    /// The entries, in no particular order (positions stay as long as nothing is inserted
    /// or removed).
    pub fn as_slice(&self) -> &[RemoteEntry] {
        &self.list
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Bytes held for the entries themselves and the index, names not counted (for tests
    /// and the documented cost per entry).
    pub fn overhead_bytes(&self) -> usize {
        self.list.capacity() * std::mem::size_of::<RemoteEntry>()
            + self.index.capacity() * (std::mem::size_of::<u32>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::FileKind;

    fn entry(name: &str, size: u64) -> RemoteEntry {
        RemoteEntry {
            name: name.into(),
            kind: FileKind::File,
            size,
            mtime: None,
            mode: None,
            link_target: None,
        }
    }

    #[test]
    fn lookups_inserts_and_removes_keep_every_name_findable() {
        let mut e = Entries::from(
            (0..1000)
                .map(|i| entry(&format!("f{i}"), i))
                .collect::<Vec<_>>(),
        );
        assert_eq!(e.len(), 1000);
        for i in (0..1000).step_by(3) {
            assert_eq!(e.remove(&format!("f{i}")).map(|x| x.size), Some(i));
        }
        assert!(e.remove("f0").is_none());
        for i in 0..1000u64 {
            let got = e.get(&format!("f{i}")).map(|x| x.size);
            assert_eq!(got, (i % 3 != 0).then_some(i), "f{i}");
        }
        assert!(e.insert("new".into(), entry("new", 7)).is_none());
        assert_eq!(
            e.insert("f1".into(), entry("f1", 99)).map(|x| x.size),
            Some(1)
        );
        if let Some(x) = e.get_mut("f2") {
            x.size = 22;
        }
        assert_eq!(e.get("f2").map(|x| x.size), Some(22));
        assert_eq!(e.get("f1").map(|x| x.size), Some(99));
        assert!(e.contains_key("new") && !e.contains_key("f3"));
        assert_eq!(e.len(), e.values().count());
    }

    #[test]
    fn a_name_listed_twice_keeps_the_later_entry() {
        let e = Entries::from(vec![entry("a", 1), entry("b", 2), entry("a", 3)]);
        assert_eq!(e.len(), 2);
        assert_eq!(e.get("a").map(|x| x.size), Some(3));
    }

    #[test]
    fn a_listing_costs_its_entries_and_a_small_index() {
        assert_eq!(std::mem::size_of::<RemoteEntry>(), 88);
        let n = 100_000;
        let mut e = Entries::from(
            (0..n)
                .map(|i| entry(&format!("f{i}"), 0))
                .collect::<Vec<_>>(),
        );
        let per = e.overhead_bytes() as f64 / n as f64;
        assert!(per <= 88.0 + 11.0, "{per} bytes per entry");
        // One more entry grows the list by an eighth, not by half.
        e.insert("one more".into(), entry("one more", 0));
        assert!(e.overhead_bytes() as f64 / (n as f64) < 88.0 * 1.2 + 11.0);
    }
}
