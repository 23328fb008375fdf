//! DOS/IIS-style `LIST` lines: `DATE  TIME[AM|PM]  (<DIR>|SIZE)  NAME`, as IIS, FileZilla
//! Server's DOS mode, Windows CE and NAS boxes print them.
//!
//! * Date: `MM-DD-YY`, `MM-DD-YYYY`, `YYYY-MM-DD`, `DD.MM.YYYY` and `/` forms, read with the
//!   order rules of `date.rs` (`20-05-97` is 20 May). A year is required.
//! * Time: 24-hour (`17:03`, Windows CE) or 12-hour with `AM`/`PM` glued on or as its own
//!   field (`12:08AM` is 00:08, `12:00PM` noon).
//! * Size: digits, optionally grouped by `,` or `.` in threes (`9,730`); `<DIR>` for
//!   directories (size 0).
//! * Name: everything after the spaces that follow the size column. These listings pad that
//!   column, so a name's leading spaces cannot be told from padding and are lost; trailing and
//!   inner spaces are kept. DOS listings carry no mode.

use super::date;
use super::{Raw, entry, tokens};
use crate::remote::FileKind;

pub(super) fn parse_dos_line(line: &str) -> Option<Raw> {
    let toks = tokens(line, 5);
    let text = |i: usize| toks.get(i).map(|t| t.text(line));
    let d = date::parse_numeric_date(text(0)?)?;
    let year = d.year?;
    let separate = text(2).filter(|t| date::is_ampm(t));
    let (time, _) = date::parse_time_ampm(text(1)?, separate)?;
    let next = if separate.is_some() { 3 } else { 2 };
    let field = text(next)?;
    let (kind, size) = if field.eq_ignore_ascii_case("<DIR>") {
        (FileKind::Dir, 0)
    } else {
        (FileKind::File, parse_grouped(field)?)
    };
    let name = line[toks[next].end..].trim_start_matches([' ', '\t']);
    let mut e = entry(name, kind, size);
    e.mtime = Some(date::secs_to_system_time(
        date::date_secs(year, d.month, d.day)? + time,
    ));
    Some(Raw::Entry(e))
}

/// Digits, optionally grouped in threes by `,` or `.` (one kind of separator).
fn parse_grouped(s: &str) -> Option<u64> {
    let sep = [',', '.'].into_iter().find(|&c| s.contains(c));
    let Some(sep) = sep else {
        let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        return digits.then(|| s.parse().ok()).flatten();
    };
    let mut groups = s.split(sep);
    let head = groups.next()?;
    if head.is_empty() || head.len() > 3 || !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits = head.to_string();
    for g in groups {
        if g.len() != 3 || !g.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.push_str(g);
    }
    digits.parse().ok()
}
