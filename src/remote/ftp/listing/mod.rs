//! Parsers for FTP directory listings: RFC 3659 `MLSD` fact lines ([`parse_mlsd`]) and the
//! free-form `LIST` replies servers print ([`parse_list`]: Unix `ls -l` style with its many
//! variants, DOS/IIS style, EPLF, and MLSD-style lines sent for LIST).
//!
//! A listing is parsed into a [`Listing`]: the entries, and a [`ParseReport`] that tells the
//! caller what it needs to decide fallbacks and warnings (how many lines there were, how many
//! gave an entry, the first line that did not parse, the entries left out for their name).
//!
//! Every parser works on one line at a time, is pure (no I/O, no clock: the caller passes
//! `now`), never panics, and takes time linear in the line (a line is cut into at most
//! [`MAX_TOKENS`] fields; a line longer than [`MAX_LINE_BYTES`] is not parsed at all). A line
//! it cannot understand is reported as unparsed, never turned into a guess. Invariants of
//! every returned [`RemoteEntry`]:
//!
//! * `name` is the entry's name as the server sent it, minus the line terminator: inner,
//!   trailing and (except in DOS listings and after a left-aligned year, see `unix.rs`)
//!   leading spaces are kept. It is never empty, `.` or `..` (those lines are skipped
//!   silently), and it never holds `/`, NUL, CR or LF and is at most 255 bytes long: an entry
//!   whose name breaks that is left out and reported ([`ParseReport::left_out`]), because one
//!   such name in a readdir reply makes the kernel fail the whole `ls`. An MLSD name that is a
//!   full path in the listed directory is reduced to its last component first.
//! * `mode`, when present, holds permission bits only (`& 0o7777`).
//! * `link_target` is only set for [`FileKind::Symlink`].
//! * `size` is 0 when the listing does not give it (and for devices).
//! * `mtime` follows the date rules of `date.rs` (UTC; year-less dates never more than two
//!   days in the future).

mod date;
mod dos;
mod mlsd;
mod unix;

#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod sample_tests;
#[cfg(test)]
mod samples;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::SystemTime;

use crate::remote::{FileKind, RemoteEntry};

/// A listing line longer than this is not parsed (reported as unparsed): no real entry
/// needs it, and it bounds the work per line. The caller caps the whole listing.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Fields of a line looked at; the name is taken from the line itself, so this only bounds
/// how far right the date may start (owner and group names with spaces push it).
pub const MAX_TOKENS: usize = 32;

/// The longest name the kernel takes (`NAME_MAX`).
pub const MAX_NAME_BYTES: usize = 255;

/// How much of an unparsed line or left-out name the report keeps for the log.
const REPORT_TEXT_BYTES: usize = 256;

/// The entries of one listing and what happened to its lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    pub entries: Vec<RemoteEntry>,
    pub report: ParseReport,
}

/// What a listing's lines turned into. `lines == entries + skipped + unparsed`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParseReport {
    /// Lines that are not blank (a line of spaces is blank).
    pub lines: usize,
    /// Lines that gave an entry, including entries left out for their name.
    pub entries: usize,
    /// Lines understood as not being entries: `total N`, `.`/`..`, an empty name, MLSD
    /// `cdir`/`pdir`.
    pub skipped: usize,
    /// Lines that could not be parsed.
    pub unparsed: usize,
    /// The first line that could not be parsed (cut to 256 bytes), to log once.
    pub first_unparsed: Option<String>,
    /// Entries left out because their name cannot be carried (see [`NameProblem`]).
    pub left_out: usize,
    /// The first of them, to warn once per directory.
    pub first_left_out: Option<LeftOut>,
}

impl ParseReport {
    /// The listing had lines but not one of them could be read as an entry, and some could
    /// not be parsed: its format is not understood, and showing it as an empty directory
    /// would be wrong. The caller falls back (MLSD → LIST, LIST → NLST). A listing with only
    /// `total 0`, `.`/`..` or `cdir`/`pdir` lines is an empty directory, not this.
    pub fn not_understood(&self) -> bool {
        self.entries == 0 && self.unparsed > 0
    }
}

/// An entry left out of a listing for its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftOut {
    /// The name (cut to 256 bytes), for the log; it may hold any character.
    pub name: String,
    pub problem: NameProblem,
}

/// Why a name cannot be carried to the kernel (or back to the server).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameProblem {
    /// A `/` (for MLSD, after reducing a full path in the listed directory).
    Slash,
    /// A NUL byte.
    Nul,
    /// A CR or LF (it could not be sent back in a command either).
    LineBreak,
    /// More than 255 bytes.
    TooLong,
    /// Its bytes read as the name of other bytes in the chosen encoding (see
    /// `encoding.rs`): it could not be told from that name.
    NoName,
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameProblem::Slash => "it contains '/'",
            NameProblem::Nul => "it contains a NUL byte",
            NameProblem::LineBreak => "it contains a line break",
            NameProblem::TooLong => "it is longer than 255 bytes",
            NameProblem::NoName => {
                "its bytes are not in the -o encoding and read as another name's"
            }
        })
    }
}

/// What one listing line is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineResult {
    Entry(RemoteEntry),
    /// An entry whose name cannot be carried.
    LeftOut(RemoteEntry, NameProblem),
    /// Understood, not an entry (`total N`, `.`, `..`, `cdir`, `pdir`, empty name).
    Skipped,
    Unparsed,
}

/// What a format parser makes of a line; `None` from a parser means unparsed.
pub(super) enum Raw {
    Entry(RemoteEntry),
    Skip,
    /// An entry the caller's [`NameFix`] gave no name.
    NoName(RemoteEntry),
}

/// Parses a `LIST` reply, one line per element (line terminators may be left on). `now` is
/// only used to give year-less dates a year.
pub fn parse_list<S: AsRef<str>>(lines: &[S], now: SystemTime) -> Listing {
    let mut out = Listing::default();
    for line in lines {
        out.push(line.as_ref(), |l| parse_list_line(l, now));
    }
    out
}

/// Parses an `MLSD` reply. `dir` is the listed directory's path on the server: a name that
/// is a full path in it is reduced to its last component.
pub fn parse_mlsd<S: AsRef<str>>(lines: &[S], dir: &str) -> Listing {
    let mut out = Listing::default();
    for line in lines {
        out.push(line.as_ref(), |l| parse_mlsd_line(l, dir));
    }
    out
}

/// How the caller turns the name (and link target) cut from a line into the entry's name in
/// the mount, before the name is checked; `Err` gives the entry no name (it is left out,
/// reported as [`NameProblem::NoName`]). The FTP layer converts names of lines read as bytes
/// under `-o encoding` this way (`encoding.rs`).
pub type NameFix<'a> = &'a dyn Fn(RemoteEntry) -> Result<RemoteEntry, RemoteEntry>;

/// An MDTM reply's or MLSD `modify` fact's time (`YYYYMMDDHHMMSS[.fraction]`, UTC).
pub fn parse_timestamp(s: &str) -> Option<SystemTime> {
    mlsd::parse_mlsd_time(s.trim())
}

/// One line of a `LIST` reply (see [`parse_list`]).
pub fn parse_list_line(line: &str, now: SystemTime) -> LineResult {
    parse_list_line_with(line, now, &Ok)
}

/// One line of an `MLSD` reply (see [`parse_mlsd`]).
pub fn parse_mlsd_line(line: &str, dir: &str) -> LineResult {
    parse_mlsd_line_with(line, dir, &Ok)
}

/// [`parse_list_line`] with a [`NameFix`].
pub fn parse_list_line_with(line: &str, now: SystemTime, fix: NameFix<'_>) -> LineResult {
    let now = date::system_time_to_secs(now);
    classify(line, |l| fixed(list_line(l, now)?, fix))
}

/// [`parse_mlsd_line`] with a [`NameFix`].
pub fn parse_mlsd_line_with(line: &str, dir: &str, fix: NameFix<'_>) -> LineResult {
    classify(line, |l| fixed(mlsd::parse_mlsd_line(l, Some(dir))?, fix))
}

/// A parsed line with the caller's [`NameFix`] applied to its entry.
fn fixed(raw: Raw, fix: NameFix<'_>) -> Option<Raw> {
    Some(match raw {
        Raw::Entry(e) => match fix(e) {
            Ok(e) => Raw::Entry(e),
            Err(e) => Raw::NoName(e),
        },
        other => other,
    })
}

impl Listing {
    /// Adds one line of a listing that arrives line by line: `parse` is [`parse_list_line`]
    /// or [`parse_mlsd_line`] (or their `_with` forms) with their extra arguments; a blank
    /// line counts for nothing.
    pub fn push(&mut self, line: &str, parse: impl FnOnce(&str) -> LineResult) {
        if is_blank(line) {
            return;
        }
        let report = &mut self.report;
        report.lines += 1;
        match parse(line) {
            LineResult::Entry(e) => {
                report.entries += 1;
                self.entries.push(e);
            }
            LineResult::LeftOut(e, problem) => {
                report.entries += 1;
                report.left_out += 1;
                if report.first_left_out.is_none() {
                    let name = cut(&e.name).to_string();
                    report.first_left_out = Some(LeftOut { name, problem });
                }
            }
            LineResult::Skipped => report.skipped += 1,
            LineResult::Unparsed => {
                report.unparsed += 1;
                if report.first_unparsed.is_none() {
                    report.first_unparsed = Some(cut(strip_eol(line)).to_string());
                }
            }
        }
    }
}

fn classify(line: &str, parse: impl Fn(&str) -> Option<Raw>) -> LineResult {
    let line = strip_eol(line);
    if is_blank(line) {
        return LineResult::Skipped;
    }
    if line.len() > MAX_LINE_BYTES {
        return LineResult::Unparsed;
    }
    match parse(line) {
        None => LineResult::Unparsed,
        Some(Raw::Skip) => LineResult::Skipped,
        Some(Raw::NoName(e)) => LineResult::LeftOut(e, NameProblem::NoName),
        Some(Raw::Entry(e)) if matches!(e.name.as_str(), "" | "." | "..") => LineResult::Skipped,
        Some(Raw::Entry(e)) => match name_problem(&e.name) {
            Some(problem) => LineResult::LeftOut(e, problem),
            None => LineResult::Entry(e),
        },
    }
}

/// Why `name` cannot be carried, if it cannot (its length is counted in the bytes the kernel
/// gets: an escaped byte of `crate::names` is one).
pub fn name_problem(name: &str) -> Option<NameProblem> {
    if name.contains('/') {
        Some(NameProblem::Slash)
    } else if name.contains('\0') {
        Some(NameProblem::Nul)
    } else if name.contains(['\r', '\n']) {
        Some(NameProblem::LineBreak)
    } else if crate::names::byte_len(name) > MAX_NAME_BYTES {
        Some(NameProblem::TooLong)
    } else {
        None
    }
}

/// One `LIST` line of any format we know; `now` in Unix seconds.
fn list_line(line: &str, now: i64) -> Option<Raw> {
    let first = line.trim_start_matches([' ', '\t']).chars().next()?;
    let parsed = match first {
        '0'..='9' => dos::parse_dos_line(line),
        '+' => mlsd::parse_eplf_line(line),
        _ if is_total_line(line) => return Some(Raw::Skip),
        _ => unix::parse_unix_line(line, now),
    };
    // Some servers answer LIST with MLSD-style fact lines.
    parsed.or_else(|| {
        let facts = line.contains('=') && line.contains(';');
        facts.then(|| mlsd::parse_mlsd_line(line, None)).flatten()
    })
}

/// `total 96` (and its translations in `ls` of other locales).
fn is_total_line(line: &str) -> bool {
    const WORDS: [&str; 12] = [
        "total",
        "totalt",
        "totaal",
        "totale",
        "insgesamt",
        "összesen",
        "итого",
        "合計",
        "总计",
        "總計",
        "합계",
        "razem",
    ];
    let toks = tokens(line, 3);
    let [word, n] = toks.as_slice() else {
        return false;
    };
    let n = n.text(line).trim_end_matches(['k', 'K', 'M', 'G']);
    WORDS
        .iter()
        .any(|w| word.text(line).eq_ignore_ascii_case(w))
        && !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b',')
}

pub(super) fn strip_eol(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

fn is_blank(line: &str) -> bool {
    line.bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// At most [`REPORT_TEXT_BYTES`] of `s`, cut at a character boundary.
fn cut(s: &str) -> &str {
    let mut end = s.len().min(REPORT_TEXT_BYTES);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

pub(super) fn entry(name: &str, kind: FileKind, size: u64) -> RemoteEntry {
    RemoteEntry {
        name: name.to_string(),
        kind,
        size,
        mtime: None,
        mode: None,
        link_target: None,
    }
}

/// Byte range of one whitespace-separated field of a line.
#[derive(Clone, Copy, Debug)]
pub(super) struct Tok {
    pub start: usize,
    pub end: usize,
}

impl Tok {
    pub fn text(self, line: &str) -> &str {
        &line[self.start..self.end]
    }
}

/// A CJK date unit after which a field ends even without a space (`2024年10月`, `8月15日`).
fn is_cjk_unit(c: char) -> bool {
    matches!(c, '年' | '月' | '日' | '년' | '월' | '일')
}

/// The first `max` space/tab-separated fields of `line`, with positions. A field also ends
/// after a CJK date unit followed by a digit.
pub(super) fn tokens(line: &str, max: usize) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut start = None;
    let mut prev_unit = false;
    for (i, c) in line.char_indices() {
        let space = c == ' ' || c == '\t';
        if let Some(s) = start
            && (space || (prev_unit && c.is_ascii_digit()))
        {
            out.push(Tok { start: s, end: i });
            start = None;
            if out.len() == max {
                return out;
            }
        }
        if start.is_none() && !space {
            start = Some(i);
        }
        prev_unit = is_cjk_unit(c);
    }
    if let Some(s) = start {
        out.push(Tok {
            start: s,
            end: line.len(),
        });
    }
    out
}
