//! An in-memory [`Remote`] for tests of the core: a tree of files and directories behind one
//! mutex, per-operation counters, and fault injection (fail the next call, or every call, of an
//! operation with a chosen [`RemoteError`]).
//!
//! Invariants: behaves like a well-behaved POSIX-ish FTP server — `rename` replaces an existing
//! file target, `rmdir` refuses a non-empty directory, `open_write` creates the file empty at
//! once and fills it on `finish` (as servers do: the name exists while the upload runs).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use super::{
    Capabilities, FileKind, ReadStream, Remote, RemoteEntry, RemoteError, RemoteResult,
    WriteStream, split,
};

#[derive(Clone, Debug)]
struct Node {
    kind: FileKind,
    data: Vec<u8>,
    mtime: SystemTime,
    mode: u32,
}

#[derive(Default)]
struct State {
    nodes: BTreeMap<String, Node>,
    counts: HashMap<String, usize>,
    /// Calls that failed by an injected fault, per operation (for [`Remote::stats`]).
    faults: HashMap<String, usize>,
    fail_next: HashMap<String, RemoteError>,
    fail_always: HashMap<String, RemoteError>,
    /// Downloads of these files end (cleanly) at this offset: a server that says 226 early.
    cut: HashMap<String, u64>,
}

/// In-memory remote; cheap to clone (shared state).
#[derive(Clone)]
pub struct FakeRemote {
    state: Arc<Mutex<State>>,
    caps: Capabilities,
}

impl Default for FakeRemote {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeRemote {
    pub fn new() -> Self {
        let mut state = State::default();
        state.nodes.insert(
            "/".into(),
            Node {
                kind: FileKind::Dir,
                data: vec![],
                mtime: SystemTime::UNIX_EPOCH,
                mode: 0o755,
            },
        );
        FakeRemote {
            state: Arc::new(Mutex::new(state)),
            caps: Capabilities {
                set_mtime: true,
                chmod: Some(true),
            },
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a file (parents must exist).
    pub fn add_file(&self, path: &str, data: &[u8]) {
        self.lock().nodes.insert(
            path.into(),
            Node {
                kind: FileKind::File,
                data: data.to_vec(),
                mtime: SystemTime::now(),
                mode: 0o644,
            },
        );
    }

    /// Adds a directory.
    pub fn add_dir(&self, path: &str) {
        self.lock().nodes.insert(
            path.into(),
            Node {
                kind: FileKind::Dir,
                data: vec![],
                mtime: SystemTime::now(),
                mode: 0o755,
            },
        );
    }

    /// The content of a file, if it exists.
    pub fn file(&self, path: &str) -> Option<Vec<u8>> {
        let st = self.lock();
        st.nodes
            .get(path)
            .filter(|n| n.kind == FileKind::File)
            .map(|n| n.data.clone())
    }

    /// Whether a path exists (any kind).
    pub fn exists(&self, path: &str) -> bool {
        self.lock().nodes.contains_key(path)
    }

    /// The mtime of a node.
    pub fn mtime(&self, path: &str) -> Option<SystemTime> {
        self.lock().nodes.get(path).map(|n| n.mtime)
    }

    /// The permission bits of a node.
    pub fn mode(&self, path: &str) -> Option<u32> {
        self.lock().nodes.get(path).map(|n| n.mode)
    }

    /// How often an operation was called ("list", "open_read", "open_write", "mkdir", ...).
    pub fn count(&self, op: &str) -> usize {
        self.lock().counts.get(op).copied().unwrap_or(0)
    }

    /// Sum of all operation counts.
    pub fn total_calls(&self) -> usize {
        self.lock().counts.values().sum()
    }

    /// Makes the next call of `op` fail with `err`.
    pub fn fail_next(&self, op: &str, err: RemoteError) {
        self.lock().fail_next.insert(op.into(), err);
    }

    /// Makes every call of `op` fail with `err` (until [`FakeRemote::heal`]).
    pub fn fail_always(&self, op: &str, err: RemoteError) {
        self.lock().fail_always.insert(op.into(), err);
    }

    /// Makes every download of `path` end at offset `at` as if the file ended there (the
    /// listing and SIZE still say the whole size): a transfer cut short with a 226.
    pub fn cut_reads(&self, path: &str, at: u64) {
        self.lock().cut.insert(path.into(), at);
    }

    /// Removes all injected faults.
    pub fn heal(&self) {
        let mut st = self.lock();
        st.fail_next.clear();
        st.fail_always.clear();
        st.cut.clear();
    }

    /// Sets what the fake claims to support.
    pub fn set_capabilities(&mut self, caps: Capabilities) {
        self.caps = caps;
    }

    fn enter(&self, op: &str) -> RemoteResult<MutexGuard<'_, State>> {
        let mut st = self.lock();
        *st.counts.entry(op.into()).or_default() += 1;
        let fault = match st.fail_next.remove(op) {
            Some(e) => Some(e),
            None => st.fail_always.get(op).cloned(),
        };
        match fault {
            Some(e) => {
                *st.faults.entry(op.into()).or_default() += 1;
                Err(e)
            }
            None => Ok(st),
        }
    }
}

fn missing(path: &str) -> RemoteError {
    RemoteError::Unavailable(format!("{path}: No such file or directory").into())
}

fn parent_is_dir(st: &State, path: &str) -> bool {
    split(path)
        .and_then(|(parent, _)| st.nodes.get(parent))
        .is_some_and(|n| n.kind == FileKind::Dir)
}

/// Adds a node at a new name in an existing directory (MKD, SITE SYMLINK).
fn create_node(
    st: &mut State,
    path: &str,
    kind: FileKind,
    data: Vec<u8>,
    mode: u32,
) -> RemoteResult<()> {
    if st.nodes.contains_key(path) {
        return Err(RemoteError::Unavailable(
            format!("{path}: File exists").into(),
        ));
    }
    if !parent_is_dir(st, path) {
        return Err(missing(path));
    }
    st.nodes.insert(
        path.into(),
        Node {
            kind,
            data,
            mtime: SystemTime::now(),
            mode,
        },
    );
    Ok(())
}

fn children<'a>(st: &'a State, dir: &'a str) -> impl Iterator<Item = (&'a String, &'a Node)> {
    st.nodes.iter().filter(move |(p, _)| {
        p.as_str() != "/" && split(p).is_some_and(|(parent, _)| parent == dir)
    })
}

impl Remote for FakeRemote {
    fn list(&self, dir: &str) -> RemoteResult<Vec<RemoteEntry>> {
        let st = self.enter("list")?;
        match st.nodes.get(dir) {
            Some(n) if n.kind == FileKind::Dir => {}
            _ => return Err(missing(dir)),
        }
        Ok(children(&st, dir)
            .map(|(p, n)| RemoteEntry {
                name: split(p)
                    .map(|(_, name)| name.to_string())
                    .unwrap_or_default(),
                kind: n.kind,
                size: n.data.len() as u64,
                mtime: Some(n.mtime),
                mode: Some(n.mode),
                link_target: (n.kind == FileKind::Symlink)
                    .then(|| String::from_utf8_lossy(&n.data).into_owned()),
            })
            .collect())
    }

    fn open_read(&self, path: &str, offset: u64) -> RemoteResult<Box<dyn ReadStream>> {
        let st = self.enter("open_read")?;
        let node = st
            .nodes
            .get(path)
            .filter(|n| n.kind == FileKind::File)
            .ok_or_else(|| missing(path))?;
        let end = st
            .cut
            .get(path)
            .map_or(node.data.len(), |&c| (c as usize).min(node.data.len()));
        let start = (offset as usize).min(end);
        Ok(Box::new(FakeRead {
            data: node.data[start..end].to_vec(),
            pos: 0,
        }))
    }

    fn open_write(&self, path: &str) -> RemoteResult<Box<dyn WriteStream>> {
        let mut st = self.enter("open_write")?;
        if !parent_is_dir(&st, path) {
            return Err(missing(path));
        }
        if st.nodes.get(path).is_some_and(|n| n.kind == FileKind::Dir) {
            return Err(RemoteError::Unavailable(
                format!("{path}: Is a directory").into(),
            ));
        }
        let mode = st.nodes.get(path).map(|n| n.mode).unwrap_or(0o644);
        st.nodes.insert(
            path.into(),
            Node {
                kind: FileKind::File,
                data: vec![],
                mtime: SystemTime::now(),
                mode,
            },
        );
        Ok(Box::new(FakeWrite {
            remote: self.clone(),
            path: path.into(),
            data: vec![],
        }))
    }

    fn open_append(&self, path: &str) -> RemoteResult<Box<dyn WriteStream>> {
        let st = self.enter("open_append")?;
        let data = st
            .nodes
            .get(path)
            .filter(|n| n.kind == FileKind::File)
            .map(|n| n.data.clone())
            .ok_or_else(|| missing(path))?;
        Ok(Box::new(FakeWrite {
            remote: self.clone(),
            path: path.into(),
            data,
        }))
    }

    fn mkdir(&self, path: &str) -> RemoteResult<()> {
        let mut st = self.enter("mkdir")?;
        create_node(&mut st, path, FileKind::Dir, vec![], 0o755)
    }

    fn rmdir(&self, path: &str) -> RemoteResult<()> {
        let mut st = self.enter("rmdir")?;
        match st.nodes.get(path) {
            Some(n) if n.kind == FileKind::Dir => {}
            _ => return Err(missing(path)),
        }
        if children(&st, path).next().is_some() {
            return Err(RemoteError::Unavailable(
                format!("{path}: Directory not empty").into(),
            ));
        }
        st.nodes.remove(path);
        Ok(())
    }

    fn delete(&self, path: &str) -> RemoteResult<()> {
        let mut st = self.enter("delete")?;
        match st.nodes.get(path) {
            Some(n) if n.kind != FileKind::Dir => {}
            _ => return Err(missing(path)),
        }
        st.nodes.remove(path);
        Ok(())
    }

    fn rename(&self, from: &str, to: &str) -> RemoteResult<()> {
        let mut st = self.enter("rename")?;
        let node = st.nodes.get(from).cloned().ok_or_else(|| missing(from))?;
        if !parent_is_dir(&st, to) {
            return Err(missing(to));
        }
        if let Some(target) = st.nodes.get(to)
            && (target.kind == FileKind::Dir || node.kind == FileKind::Dir)
        {
            return Err(RemoteError::Unavailable(
                format!("{to}: File exists").into(),
            ));
        }
        let prefix = format!("{from}/");
        let moved: Vec<(String, Node)> = st
            .nodes
            .iter()
            .filter(|(p, _)| p.as_str() == from || p.starts_with(&prefix))
            .map(|(p, n)| (p.clone(), n.clone()))
            .collect();
        for (p, n) in moved {
            st.nodes.remove(&p);
            let newp = format!("{to}{}", &p[from.len()..]);
            st.nodes.insert(newp, n);
        }
        Ok(())
    }

    fn set_mtime(&self, path: &str, mtime: SystemTime) -> RemoteResult<()> {
        let mut st = self.enter("set_mtime")?;
        let node = st.nodes.get_mut(path).ok_or_else(|| missing(path))?;
        node.mtime = mtime;
        Ok(())
    }

    fn size(&self, path: &str) -> RemoteResult<u64> {
        let st = self.enter("size")?;
        st.nodes
            .get(path)
            .filter(|n| n.kind == FileKind::File)
            .map(|n| n.data.len() as u64)
            .ok_or_else(|| missing(path))
    }

    fn chmod(&self, path: &str, mode: u32) -> RemoteResult<()> {
        let mut st = self.enter("chmod")?;
        let node = st.nodes.get_mut(path).ok_or_else(|| missing(path))?;
        node.mode = mode & 0o7777;
        Ok(())
    }

    fn symlink(&self, target: &str, path: &str) -> RemoteResult<()> {
        let mut st = self.enter("symlink")?;
        create_node(
            &mut st,
            path,
            FileKind::Symlink,
            target.as_bytes().to_vec(),
            0o777,
        )
    }

    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    /// The operations called so far as command kinds (sorted), an injected fault counting
    /// as an error.
    fn stats(&self) -> super::stats::RemoteStats {
        let st = self.lock();
        let mut commands: Vec<super::stats::CommandStat> = st
            .counts
            .iter()
            .map(|(op, &n)| super::stats::CommandStat {
                verb: op.clone(),
                sent: n as u64,
                errors: st.faults.get(op).copied().unwrap_or(0) as u64,
                no_reply: 0,
            })
            .collect();
        commands.sort_by(|a, b| a.verb.cmp(&b.verb));
        super::stats::RemoteStats {
            commands,
            ..Default::default()
        }
    }
}

struct FakeRead {
    data: Vec<u8>,
    pos: usize,
}

impl ReadStream for FakeRead {
    fn read(&mut self, buf: &mut [u8]) -> RemoteResult<usize> {
        let n = buf.len().min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
    fn close(self: Box<Self>) {}
}

struct FakeWrite {
    remote: FakeRemote,
    path: String,
    data: Vec<u8>,
}

impl WriteStream for FakeWrite {
    fn write_all(&mut self, data: &[u8]) -> RemoteResult<()> {
        let mut st = self.remote.lock();
        if let Some(e) = st.fail_next.remove("write") {
            return Err(e);
        }
        self.data.extend_from_slice(data);
        Ok(())
    }

    fn finish(self: Box<Self>) -> RemoteResult<()> {
        let mut st = self.remote.enter("finish")?;
        let node = st
            .nodes
            .get_mut(&self.path)
            .ok_or_else(|| missing(&self.path))?;
        node.data = self.data;
        node.mtime = SystemTime::now();
        Ok(())
    }
}
