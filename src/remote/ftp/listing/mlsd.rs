//! Fact lines: RFC 3659 `MLSD` (`fact=value;fact=value; name`) and EPLF
//! (`+fact,fact,\tname`, sent by some embedded servers for `LIST`).
//!
//! MLSD rules:
//! * Facts in any order and case; unknown facts are ignored. The first fact must be
//!   `name=value` (else the line is not a fact line, and is unparsed); a later piece without
//!   `=` is ignored (it can be the rest of an `OS.unix=slink:` target that held `;`). `type` (`file`, `dir`, `cdir`/`pdir` — skipped,
//!   `OS.unix=slink:TARGET`, `OS.unix=symlink`; anything else is a file), `size`, `sizd`,
//!   `modify` (`YYYYMMDDHHMMSS[.fraction]`, UTC), `UNIX.mode` (octal, `0o` allowed).
//! * The name is everything after the first `"; "` or `";\t"` (so it may hold `;` and
//!   spaces); without one (drafts before mlst-07) the facts end at the first space. A line
//!   starting with a space has no facts (RFC 3659), unless facts follow that space (an `MLST`
//!   reply line).
//! * A fact value ends at `;`, so an `OS.unix=slink:` target does too.
//! * Without a `type` fact the entry is a file, or a directory if only `sizd` is given.
//! * A name that is a full path in the listed directory is reduced to its last component
//!   (other names with `/` are left to the caller, which leaves them out).

use super::date;
use super::{Raw, entry};
use crate::remote::FileKind;

pub(super) fn parse_mlsd_line(line: &str, dir: Option<&str>) -> Option<Raw> {
    let (facts, name) = split_facts(line)?;
    let mut kind = None;
    let mut link_target = None;
    let (mut size, mut sizd, mut mtime, mut mode) = (None, None, None, None);
    for fact in facts.split(';') {
        let Some((key, value)) = fact.split_once('=') else {
            continue;
        };
        match key.to_ascii_lowercase().as_str() {
            "type" => {
                let lower = value.to_ascii_lowercase();
                kind = Some(match lower.as_str() {
                    "file" => FileKind::File,
                    "dir" => FileKind::Dir,
                    "cdir" | "pdir" => return Some(Raw::Skip),
                    _ if lower.starts_with("os.unix=slink")
                        || lower.starts_with("os.unix=symlink") =>
                    {
                        let target = value.split_once(':').map_or("", |(_, t)| t);
                        link_target = (!target.is_empty()).then(|| target.to_string());
                        FileKind::Symlink
                    }
                    _ => FileKind::File,
                });
            }
            "size" => size = value.parse::<u64>().ok(),
            "sizd" => sizd = value.parse::<u64>().ok(),
            "modify" => mtime = parse_mlsd_time(value),
            "unix.mode" => {
                let digits = value.strip_prefix("0o").unwrap_or(value);
                mode = u32::from_str_radix(digits, 8).ok().map(|m| m & 0o7777);
            }
            _ => {}
        }
    }
    // RFC 3659 makes `type` optional; `sizd` (directory size) is the only hint.
    let kind = kind.unwrap_or(if sizd.is_some() && size.is_none() {
        FileKind::Dir
    } else {
        FileKind::File
    });
    let name = dir.map_or(name, |d| reduce_path(name, d));
    let mut e = entry(name, kind, size.or(sizd).unwrap_or(0));
    e.mtime = mtime;
    e.mode = mode;
    // A later `type` fact wins; a target belongs to a symlink only.
    e.link_target = link_target.filter(|_| kind == FileKind::Symlink);
    Some(Raw::Entry(e))
}

/// Splits a fact line into its facts and the name.
fn split_facts(line: &str) -> Option<(&str, &str)> {
    if let Some(rest) = line.strip_prefix(' ') {
        // An MLST reply line (facts after one space), else a name without facts.
        let mlst = !rest.starts_with([' ', '\t']) && split_facts(rest).is_some();
        return if mlst {
            split_facts(rest)
        } else {
            Some(("", rest))
        };
    }
    let is_fact = |f: &str| f.split_once('=').is_some_and(|(k, _)| is_fact_name(k));
    let sep = line.find("; ").or_else(|| line.find(";\t"));
    let (facts, name) = match sep {
        Some(i) => (&line[..=i], &line[i + 2..]),
        // No `;` before the name (drafts before mlst-07): the facts end at the first space
        // or tab, and every one of them must be a fact.
        None => {
            let (facts, name) = line.split_once([' ', '\t'])?;
            let all = facts.split(';').filter(|f| !f.is_empty()).all(is_fact);
            (all).then_some((facts, name))?
        }
    };
    // The first fact shows that this is a fact line; a later piece without `=` can be
    // part of a value that held `;` (an `OS.unix=slink:` target), and is ignored.
    facts
        .split(';')
        .next()
        .is_some_and(is_fact)
        .then_some((facts, name))
}

/// A fact name: letters, digits, `.`, `-`, `_` (RFC 3659 `factname`, and what servers send).
fn is_fact_name(k: &str) -> bool {
    !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// `dir/name` → `name`, when `name` is a full path whose parent is `dir`.
fn reduce_path<'a>(name: &'a str, dir: &str) -> &'a str {
    if !name.starts_with('/') {
        return name;
    }
    let dir = dir.trim_end_matches('/');
    match name.strip_prefix(dir).and_then(|r| r.strip_prefix('/')) {
        Some(last) if !last.contains('/') => last,
        _ => name,
    }
}

/// `YYYYMMDDHHMMSS[.sss]`, UTC.
pub(super) fn parse_mlsd_time(value: &str) -> Option<std::time::SystemTime> {
    let (main, frac) = value.split_once('.').unwrap_or((value, ""));
    if main.len() != 14 || !main.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| main[r].parse::<u32>().ok();
    let secs = date::civil_to_secs(
        i64::from(num(0..4)?),
        num(4..6)?,
        num(6..8)?,
        num(8..10)?,
        num(10..12)?,
        num(12..14)?,
    )?;
    let mut nanos = 0u32;
    if !frac.is_empty() {
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits = &frac[..frac.len().min(9)];
        nanos = digits.parse::<u32>().ok()? * 10u32.pow(9 - digits.len() as u32);
    }
    let t = date::secs_to_system_time(secs);
    Some(t + std::time::Duration::from_nanos(u64::from(nanos)))
}

/// EPLF: `+i8388621.48594,m825718503,r,s280,up755\tname` (`/` directory, `r` file, `s`
/// size, `m` mtime in Unix seconds, `up` octal mode; other facts ignored).
pub(super) fn parse_eplf_line(line: &str) -> Option<Raw> {
    let (facts, name) = line.strip_prefix('+')?.split_once('\t')?;
    let (mut kind, mut size, mut mtime, mut mode) = (None, 0, None, None);
    for fact in facts.split(',') {
        match fact.as_bytes().first() {
            Some(b'/') => kind = Some(FileKind::Dir),
            Some(b'r') => kind = kind.or(Some(FileKind::File)),
            Some(b's') => size = fact[1..].parse().ok()?,
            Some(b'm') => {
                // Years 1..=9999 only, like every other date here.
                let secs: i64 = fact[1..].parse().ok()?;
                let valid = (-62_135_596_800..=253_402_300_799).contains(&secs);
                mtime = Some(date::secs_to_system_time(valid.then_some(secs)?));
            }
            Some(b'u') if fact.starts_with("up") => {
                mode = Some(u32::from_str_radix(&fact[2..], 8).ok()? & 0o7777);
            }
            _ => {}
        }
    }
    let mut e = entry(name, kind?, size);
    e.mtime = mtime;
    e.mode = mode;
    Some(Raw::Entry(e))
}
