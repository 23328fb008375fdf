//! The bad server's in-memory filesystem: a map from normalised absolute path (bytes) to node.
//!
//! Invariants:
//! - Every key is a normalised absolute path: `/` for the root, otherwise `/a/b` with no
//!   empty, `.` or `..` component and no trailing `/`. Names are bytes and never interpreted
//!   (Latin-1, Shift-JIS, anything but `/` and NUL is kept byte for byte).
//! - Every node's parent exists and is a directory; the root always exists.
//! - Times are whole seconds since the Unix epoch, UTC.
//!
//! Also here: the listing formats the server generates for the tree (`ls -l`-style LIST lines,
//! MLSD fact lines, NLST names) and the calendar arithmetic they need.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// What a node holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    File(Vec<u8>),
    Dir,
}

/// One file or directory.
#[derive(Clone, Debug)]
pub struct Node {
    pub kind: Kind,
    /// Seconds since the epoch.
    pub mtime: i64,
    /// Permission bits (`0o644` for new files, `0o755` for new directories).
    pub mode: u32,
}

impl Node {
    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }

    pub fn size(&self) -> u64 {
        match &self.kind {
            Kind::File(d) => d.len() as u64,
            Kind::Dir => 4096,
        }
    }
}

/// Why an operation on the tree failed (the text goes into a 550 reply).
pub type TreeResult<T> = Result<T, &'static str>;

/// Seconds since the epoch, now.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Resolves `arg` (absolute, or relative to `cwd`) into a normalised absolute path; `..` at the
/// root stays at the root.
pub fn resolve(cwd: &[u8], arg: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    let start: &[u8] = if arg.first() == Some(&b'/') { b"" } else { cwd };
    for part in start.split(|&b| b == b'/').chain(arg.split(|&b| b == b'/')) {
        match part {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return b"/".to_vec();
    }
    let mut out = Vec::new();
    for p in parts {
        out.push(b'/');
        out.extend_from_slice(p);
    }
    out
}

/// The parent of a normalised path (`/` for the root itself).
pub fn parent(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(0) | None => b"/",
        Some(i) => &path[..i],
    }
}

/// The last component of a normalised path (empty for the root).
pub fn base(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// The in-memory tree.
#[derive(Debug)]
pub struct Tree {
    nodes: BTreeMap<Vec<u8>, Node>,
}

impl Default for Tree {
    fn default() -> Self {
        let mut nodes = BTreeMap::new();
        nodes.insert(
            b"/".to_vec(),
            Node {
                kind: Kind::Dir,
                mtime: now_secs(),
                mode: 0o755,
            },
        );
        Tree { nodes }
    }
}

impl Tree {
    pub fn get(&self, path: &[u8]) -> Option<&Node> {
        self.nodes.get(path)
    }

    pub fn get_mut(&mut self, path: &[u8]) -> Option<&mut Node> {
        self.nodes.get_mut(path)
    }

    pub fn is_dir(&self, path: &[u8]) -> bool {
        self.get(path).is_some_and(Node::is_dir)
    }

    /// Direct children of `dir` (name, node), in byte order of their names.
    pub fn children(&self, dir: &[u8]) -> impl Iterator<Item = (&[u8], &Node)> {
        let prefix = child_prefix(dir);
        let skip = prefix.len();
        self.nodes
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .filter(move |(k, _)| k.len() > skip && !k[skip..].contains(&b'/'))
            .map(move |(k, n)| (&k[skip..], n))
    }

    fn touch(&mut self, dir: &[u8]) {
        if let Some(n) = self.nodes.get_mut(dir) {
            n.mtime = now_secs();
        }
    }

    fn check_parent(&self, path: &[u8]) -> TreeResult<()> {
        if path == b"/" {
            return Err("Cannot create the root.");
        }
        if !self.is_dir(parent(path)) {
            return Err("No such directory.");
        }
        Ok(())
    }

    /// MKD: the parent must exist, the name must be free.
    pub fn mkdir(&mut self, path: &[u8]) -> TreeResult<()> {
        self.check_parent(path)?;
        if self.nodes.contains_key(path) {
            return Err("File exists.");
        }
        self.nodes.insert(
            path.to_vec(),
            Node {
                kind: Kind::Dir,
                mtime: now_secs(),
                mode: 0o755,
            },
        );
        self.touch(parent(path));
        Ok(())
    }

    /// `mkdir -p` (for tests setting up the tree); a file in the way is replaced.
    pub fn mkdir_p(&mut self, path: &[u8]) {
        if path == b"/" {
            return;
        }
        self.mkdir_p(parent(path));
        if !self.is_dir(path) {
            self.nodes.remove(path);
            let _ = self.mkdir(path);
        }
    }

    /// Puts a whole file (for tests): parents are created, an existing file is replaced.
    pub fn put_file(&mut self, path: &[u8], data: Vec<u8>) {
        self.mkdir_p(parent(path));
        self.nodes.insert(
            path.to_vec(),
            Node {
                kind: Kind::File(data),
                mtime: now_secs(),
                mode: 0o644,
            },
        );
    }

    /// STOR (truncate to `keep` bytes, 0 for a new file) / APPE (`keep: None`): the file
    /// exists afterwards; the parent must exist and the path must not be a directory.
    pub fn open_write(&mut self, path: &[u8], keep: Option<u64>) -> TreeResult<()> {
        self.check_parent(path)?;
        match self.nodes.get_mut(path) {
            Some(n) => match &mut n.kind {
                Kind::Dir => return Err("Is a directory."),
                Kind::File(d) => {
                    if let Some(k) = keep {
                        d.resize(k.min(d.len() as u64) as usize, 0);
                    }
                    n.mtime = now_secs();
                }
            },
            None => {
                self.nodes.insert(
                    path.to_vec(),
                    Node {
                        kind: Kind::File(Vec::new()),
                        mtime: now_secs(),
                        mode: 0o644,
                    },
                );
                self.touch(parent(path));
            }
        }
        Ok(())
    }

    /// Appends received bytes to a file opened with [`Tree::open_write`] (ignored when the
    /// file has gone meanwhile).
    pub fn append(&mut self, path: &[u8], bytes: &[u8]) {
        if let Some(Node {
            kind: Kind::File(d),
            mtime,
            ..
        }) = self.nodes.get_mut(path)
        {
            d.extend_from_slice(bytes);
            *mtime = now_secs();
        }
    }

    /// DELE.
    pub fn delete(&mut self, path: &[u8]) -> TreeResult<()> {
        match self.nodes.get(path) {
            None => Err("No such file."),
            Some(n) if n.is_dir() => Err("Is a directory."),
            Some(_) => {
                self.nodes.remove(path);
                self.touch(parent(path));
                Ok(())
            }
        }
    }

    /// RMD: only an empty directory, never the root.
    pub fn rmdir(&mut self, path: &[u8]) -> TreeResult<()> {
        match self.nodes.get(path) {
            None => Err("No such directory."),
            Some(n) if !n.is_dir() => Err("Not a directory."),
            Some(_) if path == b"/" => Err("Cannot remove the root."),
            Some(_) if self.children(path).next().is_some() => Err("Directory not empty."),
            Some(_) => {
                self.nodes.remove(path);
                self.touch(parent(path));
                Ok(())
            }
        }
    }

    /// RNFR+RNTO: a directory moves with everything below it; a file replaces a file.
    pub fn rename(&mut self, from: &[u8], to: &[u8]) -> TreeResult<()> {
        let node = self.nodes.get(from).ok_or("No such file or directory.")?;
        let is_dir = node.is_dir();
        self.check_parent(to)?;
        if from == b"/" {
            return Err("Cannot rename the root.");
        }
        if to.starts_with(&child_prefix(from)) {
            return Err("Cannot move a directory into itself.");
        }
        if from == to {
            return Ok(());
        }
        match self.nodes.get(to) {
            Some(t) if t.is_dir() => return Err("Target is a directory."),
            Some(_) if is_dir => return Err("Target is a file."),
            _ => {}
        }
        let prefix = child_prefix(from);
        let moved: Vec<Vec<u8>> = self
            .nodes
            .range(from.to_vec()..)
            .take_while(|(k, _)| k.starts_with(from))
            .filter(|(k, _)| k.as_slice() == from || k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in moved {
            let n = self.nodes.remove(&k).expect("listed");
            let mut nk = to.to_vec();
            nk.extend_from_slice(&k[from.len()..]);
            self.nodes.insert(nk, n);
        }
        self.touch(parent(from));
        self.touch(parent(to));
        Ok(())
    }

    /// Number of nodes (the root included).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }
}

/// `dir` + `/` (just `/` for the root): the prefix of every path below `dir`.
fn child_prefix(dir: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    if p.last() != Some(&b'/') {
        p.push(b'/');
    }
    p
}

/// (year, month 1-12, day, hour, minute, second) of a Unix time, UTC.
pub fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

/// Unix time of a UTC civil date (inverse of [`civil`]).
pub fn from_civil(y: i64, m: u32, d: u32, hh: u32, mm: u32, ss: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + i64::from(hh) * 3600 + i64::from(mm) * 60 + i64::from(ss)
}

/// `YYYYMMDDhhmmss` (MDTM, MFMT, MLSD `modify`).
pub fn stamp(secs: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}")
}

/// Parses `YYYYMMDDhhmmss` (fractional seconds after a `.` ignored).
pub fn parse_stamp(s: &[u8]) -> Option<i64> {
    let s = s.split(|&b| b == b'.').next()?;
    if s.len() != 14 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = |a: usize, b: usize| -> u32 {
        s[a..b]
            .iter()
            .fold(0, |acc, &c| acc * 10 + u32::from(c - b'0'))
    };
    let (mo, d, h, mi, sec) = (n(4, 6), n(6, 8), n(8, 10), n(10, 12), n(12, 14));
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    Some(from_civil(i64::from(n(0, 4)), mo, d, h, mi, sec))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// One `ls -l`-style LIST line (with CRLF), as vsftpd prints it: the time for dates in the
/// last six months, the year otherwise.
pub fn list_line(name: &[u8], n: &Node, now: i64) -> Vec<u8> {
    let ty = if n.is_dir() { 'd' } else { '-' };
    let mut perms = String::new();
    for shift in [6, 3, 0] {
        let bits = (n.mode >> shift) & 7;
        perms.push(if bits & 4 != 0 { 'r' } else { '-' });
        perms.push(if bits & 2 != 0 { 'w' } else { '-' });
        perms.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    let (y, mo, d, h, mi, _) = civil(n.mtime);
    let recent = n.mtime <= now + 86_400 && now - n.mtime < 180 * 86_400;
    let when = if recent {
        format!("{h:02}:{mi:02}")
    } else {
        format!(" {y}")
    };
    let month = MONTHS[(mo - 1) as usize];
    let mut line = format!(
        "{ty}{perms} {:>4} ftp      ftp      {:>12} {month} {d:>2} {when:>5} ",
        if n.is_dir() { 2 } else { 1 },
        n.size()
    )
    .into_bytes();
    line.extend_from_slice(name);
    line.extend_from_slice(b"\r\n");
    line
}

/// One MLSD fact line (with CRLF): `type=…;size=…;modify=…;UNIX.mode=…; name`.
pub fn mlsd_line(name: &[u8], n: &Node) -> Vec<u8> {
    let facts = if n.is_dir() {
        format!(
            "type=dir;modify={};UNIX.mode={:04o}; ",
            stamp(n.mtime),
            n.mode
        )
    } else {
        format!(
            "type=file;size={};modify={};UNIX.mode={:04o}; ",
            n.size(),
            stamp(n.mtime),
            n.mode
        )
    };
    let mut line = facts.into_bytes();
    line.extend_from_slice(name);
    line.extend_from_slice(b"\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badftp_tree_paths_and_dates() {
        assert_eq!(resolve(b"/a/b", b"../c/./d/"), b"/a/c/d");
        assert_eq!(resolve(b"/a", b"/../x"), b"/x");
        assert_eq!(resolve(b"/", b""), b"/");
        assert_eq!(parent(b"/a/b"), b"/a");
        assert_eq!(parent(b"/a"), b"/");
        assert_eq!(base(b"/a/caf\xe9"), b"caf\xe9");
        for t in [0, 951_782_400, 1_709_640_000, 4_102_444_800 - 1] {
            let (y, mo, d, h, mi, s) = civil(t);
            assert_eq!(from_civil(y, mo, d, h, mi, s), t);
        }
        assert_eq!(stamp(1_709_640_000), "20240305120000");
        assert_eq!(parse_stamp(b"20240305120000.123"), Some(1_709_640_000));
        assert_eq!(parse_stamp(b"2024030512000"), None);
    }

    #[test]
    fn badftp_tree_rename_moves_subtrees_but_not_siblings() {
        let mut t = Tree::default();
        t.put_file(b"/d/x", b"1".to_vec());
        t.put_file(b"/d2/y", b"2".to_vec());
        t.rename(b"/d", b"/e").expect("rename");
        assert!(t.get(b"/e/x").is_some() && t.get(b"/d").is_none());
        assert!(t.get(b"/d2/y").is_some());
        assert_eq!(
            t.rename(b"/e", b"/e/sub"),
            Err("Cannot move a directory into itself.")
        );
        assert_eq!(t.rmdir(b"/e"), Err("Directory not empty."));
        let names: Vec<_> = t.children(b"/").map(|(n, _)| n.to_vec()).collect();
        assert_eq!(names, vec![b"d2".to_vec(), b"e".to_vec()]);
    }
}
