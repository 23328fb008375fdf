//! A set of byte ranges `[start, end)`: which parts of a staged copy hold real data locally.
//!
//! Invariants: ranges are non-empty, sorted, disjoint and never adjacent (touching ranges are
//! merged), so `total()` is the exact number of bytes covered.

use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Ranges {
    /// start → end.
    map: BTreeMap<u64, u64>,
}

impl Ranges {
    /// Adds `[start, end)`.
    pub fn insert(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let (mut s, mut e) = (start, end);
        // Merge with every range that overlaps or touches [s, e].
        let touching: Vec<(u64, u64)> = self
            .map
            .range(..=e)
            .rev()
            .take_while(|&(_, &re)| re >= s)
            .map(|(&rs, &re)| (rs, re))
            .collect();
        for (rs, re) in touching {
            self.map.remove(&rs);
            s = s.min(rs);
            e = e.max(re);
        }
        self.map.insert(s, e);
    }

    /// The parts of `[start, end)` not covered, in order.
    pub fn missing(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut out = vec![];
        let mut cur = start;
        // A range starting before `start` may cover its beginning.
        if let Some((_, &re)) = self.map.range(..=start).next_back() {
            cur = cur.max(re);
        }
        for (&rs, &re) in self.map.range(start..end) {
            if rs > cur {
                out.push((cur, rs));
            }
            cur = cur.max(re);
        }
        if cur < end {
            out.push((cur, end));
        }
        out
    }

    /// Bytes of `[start, end)` not covered.
    pub fn missing_len(&self, start: u64, end: u64) -> u64 {
        self.missing(start, end).iter().map(|(s, e)| e - s).sum()
    }

    /// Forgets everything at or beyond `len`.
    pub fn truncate(&mut self, len: u64) {
        let beyond: Vec<u64> = self.map.range(len..).map(|(&s, _)| s).collect();
        for s in beyond {
            self.map.remove(&s);
        }
        if let Some((_, e)) = self.map.range_mut(..len).next_back()
            && *e > len
        {
            *e = len;
        }
    }

    /// Bytes covered.
    pub fn total(&self) -> u64 {
        self.map.iter().map(|(s, e)| e - s).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::Ranges;

    #[test]
    fn insert_merges_and_missing_finds_gaps() {
        let mut r = Ranges::default();
        r.insert(10, 20);
        r.insert(30, 40);
        assert_eq!(r.missing(0, 50), vec![(0, 10), (20, 30), (40, 50)]);
        assert_eq!(r.missing(15, 35), vec![(20, 30)]);
        r.insert(20, 30);
        assert_eq!(r.missing(0, 50), vec![(0, 10), (40, 50)]);
        assert_eq!(r.total(), 30);
        r.insert(5, 45);
        assert_eq!(r.missing(0, 50), vec![(0, 5), (45, 50)]);
        assert_eq!(r.missing_len(0, 50), 10);
    }

    #[test]
    fn truncate_cuts_ranges() {
        let mut r = Ranges::default();
        r.insert(0, 10);
        r.insert(20, 30);
        r.truncate(25);
        assert_eq!(r.total(), 15);
        r.truncate(5);
        assert_eq!(r.missing(0, 30), vec![(5, 30)]);
        r.truncate(0);
        assert_eq!(r.total(), 0);
    }
}
