//! Listing a directory: `MLSD`, or `CWD` + `LIST -a`, read as bytes, parsed by `listing/`,
//! names turned into the mount's by `encoding.rs`; and what is done when a listing cannot be
//! read.
//!
//! Invariants:
//! - A listing with lines is never shown as an empty directory because its lines could not be
//!   read: an MLSD whose lines give no entry makes the mount list with LIST from then on
//!   (logged once); a LIST whose lines give no entry is replaced by `NLST` for the names, with
//!   `SIZE`, `MDTM` and (when SIZE fails) `CWD` per name for type, size and time, pipelined
//!   in batches where the server takes pipelining (logged once per mount, with the first line
//!   not understood). The result is cached by the core like any listing.
//! - Entries left out (names the kernel cannot take, lines not understood) are warned about
//!   once per directory (the first of them and how many), never one line per entry.
//! - Every name handed to the core is a core string (`encoding.rs`): with `-o encoding`, a
//!   line that does not decode whole is parsed as bytes and its name converted on its own.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Instant, SystemTime};

use super::listing::{self, Listing, NameProblem, ParseReport};
use super::listread::Seen;
use super::pool::Conn;
use super::pool::Use;
use super::session::Session;
use super::transfer::DataConn;
use super::{FtpRemote, refuses_option};
use crate::names;
use crate::remote::{FileKind, RemoteEntry, RemoteResult};

/// Directories warned about are remembered up to this many (then forgotten all at once).
const MAX_WARNED_DIRS: usize = 4096;

/// Listings of at least this many entries are logged (at info level) with the time they took.
const BIG_DIR: usize = 10_000;

/// Names whose SIZE and MDTM go out in one write (with a pipelining server).
const STAT_BATCH: usize = 32;

/// What the mount learned about listing on this server.
pub(super) struct ListState {
    /// MLSD is used (FEAT lists MLST, and no MLSD has failed to give entries yet).
    mlsd: AtomicBool,
    /// The NLST fallback was logged.
    nlst_noted: AtomicBool,
    /// Directories whose left-out entries were warned about.
    warned: Mutex<HashSet<String>>,
}

impl ListState {
    pub(super) fn new(mlsd: bool) -> ListState {
        ListState {
            mlsd: AtomicBool::new(mlsd),
            nlst_noted: AtomicBool::new(false),
            warned: Mutex::new(HashSet::new()),
        }
    }
}

/// `dir/name` for server paths (wire strings).
fn join_wire(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// What SIZE, MDTM and CWD said about one name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Stat {
    pub size: Option<u64>,
    pub mtime: Option<SystemTime>,
    pub dir: bool,
}

impl FtpRemote {
    /// [`crate::remote::Remote::list`].
    pub(super) fn list_dir(&self, dir: &str) -> RemoteResult<Vec<RemoteEntry>> {
        let start = Instant::now();
        let r = self.list_dir_timed(dir);
        if let Ok(entries) = &r
            && entries.len() >= BIG_DIR
        {
            log::info!(
                "listed {}: {} entries in {} ms",
                names::shown(dir),
                entries.len(),
                start.elapsed().as_millis()
            );
        }
        r
    }

    fn list_dir_timed(&self, dir: &str) -> RemoteResult<Vec<RemoteEntry>> {
        let abs = self.abs(dir)?;
        if self.lists.mlsd.load(Relaxed) {
            let (conn, dc) = self.open_transfer(Use::Meta, None, &format!("MLSD {abs}"), 0)?;
            let listed = self.read_parsed(conn, dc, Some(&abs))?;
            if !listed.report.not_understood() {
                self.warn_left_out(dir, "MLSD", &listed.report);
                return Ok(listed.entries);
            }
            if self.lists.mlsd.swap(false, Relaxed) {
                log::warn!(
                    "MLSD of {} gave {} lines and no entry ftpfs can read (first: {:?}): \
                     listing with LIST from now on",
                    names::shown(dir),
                    listed.report.lines,
                    listed.report.first_unparsed.as_deref().unwrap_or("")
                );
            }
        }
        let listed = self.list_listing(dir)?;
        if !listed.report.not_understood() {
            self.warn_left_out(dir, "LIST", &listed.report);
            return Ok(listed.entries);
        }
        let first = listed.report.first_unparsed.as_deref().unwrap_or("");
        if !self.lists.nlst_noted.swap(true, Relaxed) {
            log::warn!(
                "LIST of {}: not one of its {} lines could be read (first: {first:?}): names \
                 come from NLST, types, sizes and times from SIZE, MDTM and CWD (please report \
                 the line)",
                names::shown(dir),
                listed.report.lines
            );
        } else {
            log::debug!("LIST of {dir} not understood (first: {first:?}): using NLST");
        }
        self.list_nlst(dir, &abs)
    }

    /// `CWD dir` + `LIST -a` (plain `LIST` once the server refused `-a`), parsed.
    fn list_listing(&self, dir: &str) -> RemoteResult<Listing> {
        // CWD + bare LIST: a path argument to LIST is globbed by many servers (`*`, `?`, `[`
        // in names would break), and some would take a leading `-` as options.
        if self.shared.list_a_rejected.load(Relaxed) {
            let (conn, dc) = self.open_transfer(Use::Meta, Some(dir), "LIST", 0)?;
            return self.read_parsed(conn, dc, None);
        }
        match self.open_transfer(Use::Meta, Some(dir), "LIST -a", 0) {
            Ok((conn, dc)) => self.read_parsed(conn, dc, None),
            // A permanent refusal of the option (500/501/502/504, or a 550 from a server
            // that took `-a` for a path): plain LIST, and if that works, for good. A
            // transient error (4xx) is the listing's error and changes nothing.
            Err(e) if refuses_option(&e) => {
                let (conn, dc) = self.open_transfer(Use::Meta, Some(dir), "LIST", 0)?;
                let l = self.read_parsed(conn, dc, None)?;
                log::info!("the server rejects `LIST -a` ({e}); using LIST (dot files may hide)");
                self.shared.list_a_rejected.store(true, Relaxed);
                Ok(l)
            }
            Err(e) => Err(e),
        }
    }

    /// Reads and parses an MLSD (`mlsd_dir`: the listed directory on the server) or LIST
    /// listing line by line as it arrives (only the entries are kept).
    fn read_parsed(
        &self,
        conn: Conn,
        dc: DataConn,
        mlsd_dir: Option<&str>,
    ) -> RemoteResult<Listing> {
        let codec = self.shared.names;
        let now = SystemTime::now();
        // A full-path name is reduced against the directory as the lines read it.
        let dir = mlsd_dir.map(|d| codec.path_to_core(d).into_owned());
        self.read_listing(conn, dc, Listing::default(), |out, raw| {
            // A line read as bytes under -o encoding: its name still goes through `to_core`.
            let (view, core) = codec.line(raw);
            let fix = |mut e: RemoteEntry| {
                if core {
                    return Ok(e);
                }
                match codec.to_core(&e.name) {
                    Some(n) => {
                        e.name = n.into_owned();
                        e.link_target = e.link_target.map(|t| codec.path_to_core(&t).into_owned());
                        Ok(e)
                    }
                    None => Err(e),
                }
            };
            out.push(&view, |l| match &dir {
                Some(d) => listing::parse_mlsd_line_with(l, d, &fix),
                None => listing::parse_list_line_with(l, now, &fix),
            });
            Seen {
                entries: out.entries.len(),
            }
        })
    }

    /// Warns once per directory about entries left out of its listing.
    fn warn_left_out(&self, dir: &str, how: &str, r: &ParseReport) {
        if r.left_out == 0 && r.unparsed == 0 {
            return;
        }
        {
            let mut warned = self.lists.warned.lock().unwrap_or_else(|p| p.into_inner());
            if warned.len() >= MAX_WARNED_DIRS {
                warned.clear();
            }
            if !warned.insert(dir.to_string()) {
                return;
            }
        }
        let dir = names::shown(dir);
        if let Some(first) = &r.first_left_out {
            log::warn!(
                "{how} of {dir}: {} entr{} left out because the name cannot be a file name \
                 here (first: {:?}: {})",
                r.left_out,
                if r.left_out == 1 { "y" } else { "ies" },
                names::shown(&first.name),
                first.problem
            );
        }
        if r.unparsed > 0 {
            log::warn!(
                "{how} of {dir}: {} line{} not understood, left out (first: {:?}; please \
                 report it)",
                r.unparsed,
                if r.unparsed == 1 { "" } else { "s" },
                r.first_unparsed
                    .as_deref()
                    .map(names::shown)
                    .unwrap_or_default()
            );
        }
    }

    /// The NLST fallback: names from `NLST`, the rest from SIZE/MDTM/CWD per name.
    fn list_nlst(&self, dir: &str, abs: &str) -> RemoteResult<Vec<RemoteEntry>> {
        let (conn, dc) = self.open_transfer(Use::Meta, Some(dir), "NLST", 0)?;
        let codec = self.shared.names;
        // (name on the wire, name in the mount), what was seen, the report
        type Nlst = (Vec<(String, String)>, HashSet<String>, ParseReport);
        let start: Nlst = (Vec::new(), HashSet::new(), ParseReport::default());
        let (found, _, report) = self.read_listing(conn, dc, start, |st: &mut Nlst, line| {
            let (found, seen, report) = st;
            let wire = names::decode(line);
            // Some servers print `dir/name` or `./name`: the name is the last component.
            let wire = wire.rsplit('/').next().unwrap_or("");
            if line.is_empty() {
                return Seen {
                    entries: found.len(),
                };
            }
            report.lines += 1;
            if matches!(wire, "" | "." | "..") {
                report.skipped += 1;
                return Seen {
                    entries: found.len(),
                };
            }
            report.entries += 1;
            let problem = match codec.to_core(wire) {
                None => Err(NameProblem::NoName),
                Some(core) => match listing::name_problem(&core) {
                    Some(p) => Err(p),
                    None => Ok(core.into_owned()),
                },
            };
            match problem {
                Ok(core) if seen.insert(core.clone()) => found.push((wire.to_string(), core)),
                Ok(_) => {}
                Err(problem) => {
                    report.left_out += 1;
                    report.first_left_out.get_or_insert(listing::LeftOut {
                        name: wire.to_string(),
                        problem,
                    });
                }
            }
            Seen {
                entries: found.len(),
            }
        })?;
        self.warn_left_out(dir, "NLST", &report);
        let wires: Vec<String> = found.iter().map(|(w, _)| join_wire(abs, w)).collect();
        let stats = self.run(|s| stat_paths(s, &wires))?;
        Ok(found
            .into_iter()
            .zip(stats)
            .map(|((_, name), st)| RemoteEntry {
                name,
                kind: if st.dir {
                    FileKind::Dir
                } else {
                    FileKind::File
                },
                size: st.size.unwrap_or(0),
                mtime: st.mtime,
                mode: None,
                link_target: None,
            })
            .collect())
    }
}

/// The value of a `213` reply (SIZE, MDTM), `None` for any other reply.
fn reply_213(s: &mut Session) -> RemoteResult<Option<String>> {
    let r = s.ctl.reply().map_err(|e| s.note(e))?;
    Ok((r.code == 213).then(|| {
        let line = r.last_line();
        line.get(4..).unwrap_or("").trim().to_string()
    }))
}

/// SIZE and MDTM of each path (wire strings), then CWD of those SIZE did not answer: a
/// directory is what CWD enters. Pipelined in batches when the server takes it.
pub(super) fn stat_paths(s: &mut Session, paths: &[String]) -> RemoteResult<Vec<Stat>> {
    let batch = if s.shared.may_pipeline() {
        STAT_BATCH
    } else {
        1
    };
    let mut out = Vec::with_capacity(paths.len());
    for chunk in paths.chunks(batch) {
        let cmds: Vec<String> = chunk
            .iter()
            .flat_map(|p| [format!("SIZE {p}"), format!("MDTM {p}")])
            .collect();
        let lines: Vec<&str> = cmds.iter().map(String::as_str).collect();
        s.ctl.send_many(&lines).map_err(|e| s.note(e))?;
        for _ in chunk {
            let size = reply_213(s)?.and_then(|v| v.parse::<u64>().ok());
            let mtime = reply_213(s)?.and_then(|v| listing::parse_timestamp(&v));
            out.push(Stat {
                size,
                mtime,
                dir: false,
            });
        }
    }
    let no_size: Vec<usize> = (0..paths.len())
        .filter(|&i| out[i].size.is_none())
        .collect();
    for chunk in no_size.chunks(batch) {
        let cmds: Vec<String> = chunk.iter().map(|&i| format!("CWD {}", paths[i])).collect();
        let lines: Vec<&str> = cmds.iter().map(String::as_str).collect();
        s.ctl.send_many(&lines).map_err(|e| s.note(e))?;
        for &i in chunk {
            let r = s.ctl.reply().map_err(|e| s.note(e))?;
            out[i].dir = r.code == 250;
        }
    }
    Ok(out)
}
