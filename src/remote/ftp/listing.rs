//! Parsers for FTP directory listings: RFC 3659 `MLSD`/`MLST` fact lines and
//! free-form `LIST` replies (Unix `ls -l` style and DOS/IIS style).
//!
//! Every parser works on one line at a time, is pure (no I/O, no clock: the
//! caller passes `now`) and never panics; a line it cannot understand yields
//! `None` instead of a guess. Invariants of every returned [`RemoteEntry`]:
//!
//! * `name` is the entry's name exactly as the server sent it, minus the line
//!   terminator: inner, leading and trailing spaces and any UTF-8 are kept. It
//!   is never empty, `"."` or `".."`.
//! * `mode`, when present, holds permission bits only (`& 0o7777`).
//! * `link_target` is only set for [`FileKind::Symlink`].
//! * `size` is 0 when the listing does not give it.
//!
//! Rules chosen for ambiguous input:
//!
//! * **Time zone**: listings carry no zone; every time is read as UTC (what
//!   RFC 3659 mandates for MLSD, and what vsftpd sends by default).
//! * **Year-less `LIST` dates** (`Nov 20 10:00`): the year is the latest one
//!   in which that date exists and is at most `YEARLESS_FUTURE_LIMIT_SECS`
//!   (180 days) after `now`. Servers print year-less dates for the last ~6
//!   months (pyftpdlib also for future dates), so this picks the year that puts
//!   the date within about six months of `now`: `Dec 20` read in January is
//!   last December, `Jan 3` read on Dec 20 is next January (clock skew or a
//!   future-dated file), and a day 179 days back stays in the past.
//! * **Spaces before a `LIST` name**: in Unix listings exactly one space
//!   separates the time/year column from the name, and any further spaces
//!   belong to the name (vsftpd, proftpd, pure-ftpd and pyftpdlib all print
//!   `Nov 20 10:00  leading space.txt` for ` leading space.txt`). DOS listings
//!   pad that column, so there leading spaces cannot be told apart and are
//!   dropped.
//! * **Symlinks in `LIST`**: `name -> target` is split at the first ` -> `;
//!   other kinds keep ` -> ` in the name.
//! * **Other file types** (block/char devices, fifos, sockets, MLSD types other
//!   than file/dir/symlink) map to [`FileKind::File`]; devices get size 0.
//! * **MLSD/MLST**: the name is everything after the first `"; "`; an MLST
//!   reply line's one leading space is skipped and its pathname kept verbatim.
//!   A fact value ends at `;` (so does an `OS.unix=slink:` target). Without a
//!   `type` fact the entry is a file, or a directory if only `sizd` is given.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::remote::{FileKind, RemoteEntry};

/// How far after `now` a year-less `LIST` date may lie before it is taken to
/// be from the year before.
const YEARLESS_FUTURE_LIMIT_SECS: i64 = 180 * 86_400;

/// Parses every line of an `MLSD` reply, skipping (and logging at debug) the
/// lines that are not entries: `cdir`/`pdir`, `.`/`..`, garbage.
pub fn parse_mlsd(lines: &[String]) -> Vec<RemoteEntry> {
    lines
        .iter()
        .filter_map(|line| {
            let entry = parse_mlsd_line(line);
            if entry.is_none() {
                log::debug!("skipping MLSD line {line:?}");
            }
            entry
        })
        .collect()
}

/// Parses every line of a `LIST` reply, skipping (and logging at debug) the
/// lines that are not entries: `total N`, blank lines, `.`/`..`, garbage.
pub fn parse_list(lines: &[String], now: SystemTime) -> Vec<RemoteEntry> {
    lines
        .iter()
        .filter_map(|line| {
            let entry = parse_list_line(line, now);
            if entry.is_none() {
                log::debug!("skipping LIST line {line:?}");
            }
            entry
        })
        .collect()
}

/// Parses one RFC 3659 fact line, `fact=value;fact=value; name`, as sent in
/// an `MLSD` listing or (with one leading space) in an `MLST` reply.
pub fn parse_mlsd_line(line: &str) -> Option<RemoteEntry> {
    let line = strip_eol(line);
    let line = line.strip_prefix(' ').unwrap_or(line);
    let split = line.find("; ")?;
    let (facts, name) = (&line[..split], &line[split + 2..]);
    if is_dot_or_empty(name) {
        return None;
    }
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
                    "cdir" | "pdir" => return None,
                    "os.unix=symlink" | "os.unix=slink" => FileKind::Symlink,
                    _ if lower.starts_with("os.unix=slink:") => {
                        let target = &value["os.unix=slink:".len()..];
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
    Some(RemoteEntry {
        name: name.to_string(),
        kind,
        size: size.or(sizd).unwrap_or(0),
        mtime,
        mode,
        link_target,
    })
}

/// Parses one line of a `LIST` reply, detecting Unix `ls -l` or DOS/IIS
/// style. `now` is only used to give year-less dates a year.
pub fn parse_list_line(line: &str, now: SystemTime) -> Option<RemoteEntry> {
    let line = strip_eol(line);
    match line.trim_start().as_bytes().first()? {
        b'0'..=b'9' => parse_dos_line(line),
        _ => parse_unix_line(line, now),
    }
}

fn strip_eol(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

fn is_dot_or_empty(name: &str) -> bool {
    name.is_empty() || name == "." || name == ".."
}

/// `YYYYMMDDHHMMSS[.sss]`, UTC.
fn parse_mlsd_time(value: &str) -> Option<SystemTime> {
    let (main, frac) = value.split_once('.').unwrap_or((value, ""));
    if main.len() != 14 || !main.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| main[r].parse::<u32>().ok();
    let secs = civil_to_secs(
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
    Some(secs_to_system_time(secs) + Duration::from_nanos(u64::from(nanos)))
}

/// Byte range of one whitespace-separated token of a line.
#[derive(Clone, Copy)]
struct Tok {
    start: usize,
    end: usize,
}

/// The first `max` space/tab-separated tokens of `line`, with positions.
fn tokens(line: &str, max: usize) -> Vec<Tok> {
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while out.len() < max {
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t') {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let start = i;
        while i < bytes.len() && !matches!(bytes[i], b' ' | b'\t') {
            i += 1;
        }
        out.push(Tok { start, end: i });
    }
    out
}

/// Unix style: `MODE [LINKS] OWNER [GROUP] SIZE Mon DD HH:MM|YYYY NAME`.
///
/// The date is found as the first `Mon DD time-or-year` triple preceded by a
/// size, so owner/group/link-count columns may be missing.
fn parse_unix_line(line: &str, now: SystemTime) -> Option<RemoteEntry> {
    let toks = tokens(line, 12);
    let text = |t: Tok| &line[t.start..t.end];
    let mode_str = text(*toks.first()?);
    let (type_char, mode) = parse_mode_string(mode_str)?;
    let kind = match type_char {
        b'd' => FileKind::Dir,
        b'l' => FileKind::Symlink,
        _ => FileKind::File,
    };
    let is_device = matches!(type_char, b'b' | b'c');
    for i in 2..toks.len().saturating_sub(2) {
        let Some(month) = parse_month(text(toks[i])) else {
            continue;
        };
        let Some(day) = small_num(text(toks[i + 1]), 2).filter(|d| (1..=31).contains(d)) else {
            continue;
        };
        let size_str = text(toks[i - 1]);
        let size = if is_device && size_str.bytes().all(|b| b.is_ascii_digit() || b == b',') {
            0
        } else if let Ok(size) = size_str.parse::<u64>() {
            size
        } else {
            continue;
        };
        let when = text(toks[i + 2]);
        let secs = if let Some((hh, mm)) = parse_hh_mm(when) {
            resolve_yearless(month, day, hh, mm, system_time_to_secs(now))?
        } else if let Some(year) = small_num(when, 4).filter(|_| when.len() == 4) {
            civil_to_secs(i64::from(year), month, day, 0, 0, 0)?
        } else {
            continue;
        };
        // Exactly one separator character; the rest is the name.
        let rest = line.get(toks[i + 2].end + 1..)?;
        let (name, link_target) = match rest.split_once(" -> ") {
            Some((name, target)) if kind == FileKind::Symlink => (name, Some(target.to_string())),
            _ => (rest, None),
        };
        if is_dot_or_empty(name) {
            return None;
        }
        return Some(RemoteEntry {
            name: name.to_string(),
            kind,
            size,
            mtime: Some(secs_to_system_time(secs)),
            mode: Some(mode),
            link_target,
        });
    }
    None
}

/// `drwxr-sr-t` (plus an optional ACL/SELinux/xattr marker `+`, `.`, `@`)
/// into the type character and the permission bits.
fn parse_mode_string(s: &str) -> Option<(u8, u32)> {
    let b = s.as_bytes();
    match b.len() {
        10 => {}
        11 if matches!(b[10], b'+' | b'.' | b'@') => {}
        _ => return None,
    }
    if !matches!(b[0], b'-' | b'd' | b'l' | b'b' | b'c' | b'p' | b's') {
        return None;
    }
    let mut mode = 0u32;
    // For each of user, group, other: (shift, special bit, special letter).
    for (class, (shift, special, letter)) in
        [(6, 0o4000, b's'), (3, 0o2000, b's'), (0, 0o1000, b't')]
            .into_iter()
            .enumerate()
    {
        let [r, w, x] = [b[1 + class * 3], b[2 + class * 3], b[3 + class * 3]];
        match r {
            b'r' => mode |= 0o4 << shift,
            b'-' => {}
            _ => return None,
        }
        match w {
            b'w' => mode |= 0o2 << shift,
            b'-' => {}
            _ => return None,
        }
        match x {
            b'x' => mode |= 0o1 << shift,
            b'-' => {}
            c if c == letter => mode |= (0o1 << shift) | special,
            c if c == letter.to_ascii_uppercase() => mode |= special,
            // Solaris: mandatory locking shown as `l` in the group x slot.
            b'l' if class == 1 => mode |= special,
            _ => return None,
        }
    }
    Some((b[0], mode))
}

fn parse_month(s: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let pos = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(s))?;
    u32::try_from(pos + 1).ok()
}

/// An unsigned decimal of 1 to `max_len` ASCII digits.
fn small_num(s: &str, max_len: usize) -> Option<u32> {
    if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `H:MM` / `HH:MM`, 24-hour.
fn parse_hh_mm(s: &str) -> Option<(u32, u32)> {
    let (h, m) = s.split_once(':')?;
    let (h, m) = (small_num(h, 2)?, small_num(m, 2)?);
    (h < 24 && m < 60 && s.len() >= 4).then_some((h, m))
}

/// The latest year in which `month/day` exists and lies no more than
/// [`YEARLESS_FUTURE_LIMIT_SECS`] after `now`.
fn resolve_yearless(month: u32, day: u32, hh: u32, mm: u32, now: i64) -> Option<i64> {
    // Keep the arithmetic far from overflow: years 0..=9999 only.
    let now = now.clamp(-62_167_219_200, 253_402_300_799);
    let approx_year = 1970 + now.div_euclid(31_556_952);
    // Eight years back covers Feb 29 across a skipped leap year (2100).
    (approx_year - 8..=approx_year + 2)
        .rev()
        .filter_map(|year| civil_to_secs(year, month, day, hh, mm, 0))
        .find(|&t| t <= now + YEARLESS_FUTURE_LIMIT_SECS)
}

/// DOS/IIS style: `MM-DD-YY[YY]  HH:MM[AM|PM]  (<DIR>|SIZE)  NAME`.
fn parse_dos_line(line: &str) -> Option<RemoteEntry> {
    let toks = tokens(line, 5);
    let text = |i: usize| toks.get(i).map(|t| &line[t.start..t.end]);
    let mut parts = text(0)?.split(['-', '/']);
    let (month, day, year_str) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (month, day) = (small_num(month, 2)?, small_num(day, 2)?);
    let year = i64::from(small_num(year_str, 4)?);
    let year = match year_str.len() {
        2 if year < 69 => 2000 + year,
        2 => 1900 + year,
        4 => year,
        _ => return None,
    };
    // The time, with AM/PM either glued on or as its own token.
    let time = text(1)?;
    let upper = time.to_ascii_uppercase();
    let glued = upper.strip_suffix("AM").or(upper.strip_suffix("PM"));
    let hm = glued.map_or(time, |hm| &time[..hm.len()]);
    let separate = text(2).filter(|t| t.eq_ignore_ascii_case("AM") || t.eq_ignore_ascii_case("PM"));
    let (ampm, next) = match (glued, separate) {
        (Some(_), _) => (Some(upper.ends_with("PM")), 2),
        (None, Some(t)) => (Some(t.eq_ignore_ascii_case("PM")), 3),
        (None, None) => (None, 2),
    };
    let (mut hh, mm) = parse_hh_mm(hm)?;
    if let Some(pm) = ampm {
        if !(1..=12).contains(&hh) {
            return None;
        }
        hh = hh % 12 + if pm { 12 } else { 0 };
    }
    let field = text(next)?;
    let (kind, size) = if field.eq_ignore_ascii_case("<DIR>") {
        (FileKind::Dir, 0)
    } else {
        (FileKind::File, field.parse::<u64>().ok()?)
    };
    let name = line[toks.get(next)?.end..].trim_start_matches([' ', '\t']);
    if is_dot_or_empty(name) {
        return None;
    }
    Some(RemoteEntry {
        name: name.to_string(),
        kind,
        size,
        mtime: Some(secs_to_system_time(civil_to_secs(
            year, month, day, hh, mm, 0,
        )?)),
        mode: None,
        link_target: None,
    })
}

// Date math is hand-written rather than taken from `chrono`/`time`: the whole
// need is "civil UTC date to Unix seconds", about ten lines, and it keeps this
// parser free of a direct dependency.

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`). `month` must be 1..=12.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Validated UTC date and time to Unix seconds (`sec` 60 allowed: leap second).
fn civil_to_secs(year: i64, month: u32, day: u32, hh: u32, mm: u32, ss: u32) -> Option<i64> {
    let valid = (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(year, month)
        && hh < 24
        && mm < 60
        && ss <= 60;
    valid.then(|| days_from_civil(year, month, day) * 86_400 + i64::from(hh * 3600 + mm * 60 + ss))
}

fn secs_to_system_time(secs: i64) -> SystemTime {
    let magnitude = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

fn system_time_to_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

#[cfg(test)]
mod tests {
    //! Fixtures in tests/fixtures/listings: `vsftpd_list` (vsftpd 3.0.3,
    //! `LIST -la`), `proftpd_*` (ProFTPD 1.3.8), `pureftpd_*` (pure-ftpd
    //! 1.0.50, `LIST -la`), `pyftpdlib_*` (pyftpdlib 1.5.7) and
    //! `mlst_replies` (the three servers' MLST replies) were captured byte for
    //! byte (CRLF kept) on 127.0.0.1 at 2026-11-22 23:40 UTC, all serving the
    //! same directory. `iis_dos`, `dos_4digit_24h`, `unix_symlinks_yearless`
    //! (as of 2027-01-10), `numeric_owner_no_group` and `unix_acl_devices`
    //! are written by hand in those servers' formats.
    use super::*;
    use FileKind::{Dir, File, Symlink};
    use proptest::prelude::*;

    /// "No mode" marker in expectation tables.
    const NO: u32 = u32::MAX;

    /// `"YYYY-MM-DD HH:MM[:SS]"` UTC to Unix seconds.
    fn t(s: &str) -> i64 {
        let n: Vec<u32> = s
            .split(['-', ' ', ':'])
            .map(|p| p.parse().expect("number"))
            .collect();
        let sec = n.get(5).copied().unwrap_or(0);
        civil_to_secs(i64::from(n[0]), n[1], n[2], n[3], n[4], sec).expect("valid date")
    }

    fn at(secs: i64) -> SystemTime {
        secs_to_system_time(secs)
    }

    fn captured_now() -> SystemTime {
        at(t("2026-11-22 23:40"))
    }

    /// Splits on LF only, so CRs reach the parser and blank lines stay.
    fn lines(text: &str) -> Vec<String> {
        text.split('\n').map(String::from).collect()
    }

    type Want<'a> = (&'a str, FileKind, u64, u32, &'a str, Option<&'a str>);

    fn check(entries: &[RemoteEntry], count: usize, want: &[Want]) {
        assert_eq!(entries.len(), count, "{entries:#?}");
        assert!(entries.iter().all(|e| !is_dot_or_empty(&e.name)));
        for &(name, kind, size, mode, mtime, target) in want {
            let e = entries.iter().find(|e| e.name == name);
            let e = e.unwrap_or_else(|| panic!("no entry {name:?} in {entries:#?}"));
            assert_eq!(e.kind, kind, "{name}");
            assert_eq!(e.size, size, "{name}");
            assert_eq!(e.mode, (mode != NO).then_some(mode), "{name}");
            assert_eq!(e.mtime, Some(at(t(mtime))), "{name}");
            assert_eq!(e.link_target.as_deref(), target, "{name}");
        }
    }

    #[test]
    fn date_math_matches_known_timestamps() {
        assert_eq!(t("1970-01-01 00:00"), 0);
        assert_eq!(t("2026-11-20 10:00"), 1_795_168_800);
        assert_eq!(t("2000-02-29 00:00:01"), 951_782_401);
        assert_eq!(t("1969-12-31 23:59"), -60);
        assert_eq!(civil_to_secs(2026, 2, 29, 0, 0, 0), None);
        assert_eq!(system_time_to_secs(at(-60)), -60);
    }

    const NOV20: &str = "2026-11-20 10:00";

    #[rustfmt::skip]
    #[test]
    fn captured_unix_lists() {
        let want: &[Want] = &[
            (" leading space.txt", File, 3, 0o644, NOV20, None),
            ("My Documents", Dir, 4096, 0o755, NOV20, None),
            ("a#b%c?.txt", File, 1234, 0o640, NOV20, None),
            ("big.iso", File, 5_000_000_000, 0o644, "2026-01-15 00:00", None),
            ("broken", Symlink, 19, 0o777, "2026-06-01 12:00", Some("/nonexistent/target")),
            ("docs_link", Symlink, 4, 0o777, NOV20, Some("docs")),
            ("héllo wörld.txt", File, 8, 0o644, NOV20, None),
            ("link to héllo", Symlink, 17, 0o777, NOV20, Some("héllo wörld.txt")),
            ("old_2019.tar.gz", File, 3, 0o644, "2019-03-05 00:00", None),
            ("readme.txt", File, 5, 0o600, "2026-11-22 10:00", None),
            ("setgid_dir", Dir, 4096, 0o2775, NOV20, None),
            ("sticky", Dir, 4096, 0o1777, NOV20, None),
            ("suid_prog", File, 35664, 0o4755, NOV20, None),
            ("trailing space.txt ", File, 4, 0o644, NOV20, None),
            ("two  spaces.txt", File, 2, 0o644, "2025-12-31 00:00", None),
            ("weird -> arrow.txt", File, 1, 0o644, NOV20, None),
            ("日本語", Dir, 4096, 0o755, NOV20, None),
        ];
        // Same directory on each server; pure-ftpd hides the fifo.
        for (text, count) in [
            (include_str!("../../../tests/fixtures/listings/vsftpd_list.txt"), 20),
            (include_str!("../../../tests/fixtures/listings/proftpd_list.txt"), 20),
            (include_str!("../../../tests/fixtures/listings/pureftpd_list.txt"), 19),
            (include_str!("../../../tests/fixtures/listings/pyftpdlib_list.txt"), 20),
        ] {
            check(&parse_list(&lines(text), captured_now()), count, want);
        }
    }

    #[rustfmt::skip]
    #[test]
    fn captured_mlsd() {
        let pure = include_str!("../../../tests/fixtures/listings/pureftpd_mlsd.txt");
        check(&parse_mlsd(&lines(pure)), 20, &[
            (" leading space.txt", File, 3, 0o644, NOV20, None),
            ("broken", Symlink, 19, 0o777, "2026-06-01 12:00", Some("/nonexistent/target")),
            ("link to héllo", Symlink, 17, 0o777, NOV20, Some("héllo wörld.txt")),
            ("日本語", Dir, 4096, 0o755, NOV20, None),
            ("sticky", Dir, 4096, 0o1777, NOV20, None),
            ("suid_prog", File, 35664, 0o4755, NOV20, None),
            ("fifo", File, 0, 0o644, NOV20, None), // type=unknown
            ("big.iso", File, 5_000_000_000, 0o644, "2026-01-15 14:07", None),
            ("trailing space.txt ", File, 4, 0o644, NOV20, None),
            ("weird -> arrow.txt", File, 1, 0o644, NOV20, None),
        ]);
        let pro = include_str!("../../../tests/fixtures/listings/proftpd_mlsd.txt");
        check(&parse_mlsd(&lines(pro)), 19, &[
            ("link", Symlink, 10, 0o777, NOV20, None), // OS.unix=symlink: no target
            ("My Documents", Dir, 0, 0o755, NOV20, None), // no size fact
            ("two  spaces.txt", File, 2, 0o644, "2025-12-31 23:59", None),
            ("setgid_dir", Dir, 0, 0o2775, NOV20, None),
            ("a#b%c?.txt", File, 1234, 0o640, NOV20, None),
            ("old_2019.tar.gz", File, 3, 0o644, "2019-03-05 08:30", None),
        ]);
        // pyftpdlib follows symlinks, drops dangling ones, prints `0o644` modes.
        let py = include_str!("../../../tests/fixtures/listings/pyftpdlib_mlsd.txt");
        check(&parse_mlsd(&lines(py)), 19, &[
            ("readme.txt", File, 5, 0o600, "2026-11-22 10:00", None),
            ("docs_link", Dir, 4096, 0o755, NOV20, None),
            ("héllo wörld.txt", File, 8, 0o644, NOV20, None),
            ("日本語", Dir, 4096, 0o755, NOV20, None),
            (" leading space.txt", File, 3, 0o644, NOV20, None),
        ]);
        // MLST: one leading space, full pathname; the 250 lines are skipped.
        let mlst = include_str!("../../../tests/fixtures/listings/mlst_replies.txt");
        let want = ("/pub/readme.txt", File, 5, 0o600, "2026-11-22 10:00", None);
        check(&parse_mlsd(&lines(mlst)), 3, &[want]);
    }

    #[rustfmt::skip]
    #[test]
    fn dos_listings() {
        let iis = include_str!("../../../tests/fixtures/listings/iis_dos.txt");
        check(&parse_list(&lines(iis), captured_now()), 9, &[
            ("docs", Dir, 0, NO, NOV20, None),
            ("My Documents", Dir, 0, NO, NOV20, None),
            ("a#b%c?.txt", File, 1234, NO, "2026-11-20 14:15", None),
            ("big.iso", File, 5_000_000_000, NO, "2026-01-15 00:07", None),
            ("old_2019.tar.gz", File, 3, NO, "2019-03-05 08:30", None),
            ("readme.txt", File, 5, NO, "2026-11-22 12:00", None),
            ("two  spaces.txt", File, 2, NO, "2025-12-31 23:59", None),
            ("日本語", Dir, 0, NO, NOV20, None),
        ]);
        let long = include_str!("../../../tests/fixtures/listings/dos_4digit_24h.txt");
        check(&parse_list(&lines(long), captured_now()), 5, &[
            ("docs", Dir, 0, NO, NOV20, None),
            ("a#b%c?.txt", File, 1234, NO, "2026-11-20 14:15", None),
            ("big.iso", File, 5_000_000_000, NO, "2026-01-15 00:07", None),
            ("y2k.txt", File, 3, NO, "1999-03-05 08:30", None),
            ("late night.txt", File, 5, NO, "2026-11-22 23:59", None),
        ]);
        let lines = ["11-20-26  02:15 PM   <DIR>  x".to_string()];
        check(&parse_list(&lines, captured_now()), 1, &[("x", Dir, 0, NO, "2026-11-20 14:15", None)]);
    }

    #[rustfmt::skip]
    #[test]
    fn yearless_symlink_listing_in_january() {
        let text = include_str!("../../../tests/fixtures/listings/unix_symlinks_yearless.txt");
        check(&parse_list(&lines(text), at(t("2027-01-10 12:00"))), 8, &[
            ("current", Symlink, 11, 0o777, "2027-01-09 18:30", Some("release-2.1")),
            ("release-2.0", Dir, 4096, 0o755, "2026-12-31 23:59", None),
            ("notes for me.txt", Symlink, 26, 0o777, "2026-12-24 07:15",
                Some("../shared/notes for me.txt")),
            ("old", Symlink, 11, 0o777, "2026-08-01 00:00", Some("release-1.9")),
            ("summer.log", File, 123_456, 0o644, "2026-07-15 09:05", None),
            ("from the future.txt", File, 310, 0o644, "2027-01-12 08:00", None),
            ("日本語リンク", Symlink, 9, 0o777, "2027-01-03 02:00", Some("日本語")),
        ]);
    }

    #[rustfmt::skip]
    #[test]
    fn year_inference_edges() {
        let date = |list_date: &str, now: &str| {
            let line = format!("-rw-r--r-- 1 u g 1 {list_date} f");
            let e = parse_list_line(&line, at(t(now))).expect("parses");
            system_time_to_secs(e.mtime.expect("mtime"))
        };
        // January date seen in December: next January (at most 180 days ahead).
        assert_eq!(date("Jan  3 10:00", "2026-12-20 00:00"), t("2027-01-03 10:00"));
        // December date seen in January: last December.
        assert_eq!(date("Dec 20 10:00", "2027-01-10 00:00"), t("2026-12-20 10:00"));
        // 181 days ahead is too far: previous year. 179 days ahead is kept.
        assert_eq!(date("Jul  1 00:00", "2026-01-01 00:00"), t("2025-07-01 00:00"));
        assert_eq!(date("Jun 29 00:00", "2026-01-01 00:00"), t("2026-06-29 00:00"));
        // Feb 29 goes to the latest leap year that fits.
        assert_eq!(date("Feb 29 12:00", "2027-01-10 00:00"), t("2024-02-29 12:00"));
        assert_eq!(date("Feb 29 12:00", "2028-03-01 00:00"), t("2028-02-29 12:00"));
        // Exactly now; explicit years are taken as they are.
        assert_eq!(date("Nov 22 23:40", "2026-11-22 23:40"), t("2026-11-22 23:40"));
        assert_eq!(date("Nov 22  2099", "2026-11-22 00:00"), t("2099-11-22 00:00"));
    }

    #[rustfmt::skip]
    #[test]
    fn numeric_owner_without_group() {
        let text = include_str!("../../../tests/fixtures/listings/numeric_owner_no_group.txt");
        check(&parse_list(&lines(text), captured_now()), 5, &[
            ("readme.txt", File, 5, 0o644, "2026-11-22 10:00", None),
            ("photos 2025", Dir, 4096, 0o755, "2025-10-01 00:00", None),
            ("link", Symlink, 10, 0o777, NOV20, Some("readme.txt")),
            ("run.sh", File, 98765, 0o750, "2026-09-30 23:00", None),
            ("with group.txt", File, 777, 0o664, "2026-11-21 08:00", None),
        ]);
    }

    #[rustfmt::skip]
    #[test]
    fn acl_markers_devices_and_odd_lines() {
        let text = include_str!("../../../tests/fixtures/listings/unix_acl_devices.txt");
        check(&parse_list(&lines(text), captured_now()), 9, &[
            ("acl file.txt", File, 2048, 0o644, "2026-11-21 16:45", None),
            ("macOS bundle.app", Dir, 384, 0o755, "2026-11-19 09:00", None),
            ("selinux.conf", File, 512, 0o644, "2026-11-02 11:11", None),
            ("null", File, 0, 0o666, NOV20, None),
            ("sda", File, 0, 0o660, NOV20, None),
            ("fifo", File, 0, 0o644, NOV20, None),
            ("ctl.sock", File, 0, 0o777, NOV20, None),
            ("odd bits", File, 7, 0o7644, NOV20, None),
            ("!!!-Tipp des Tages", Dir, 0, 0o755, "2026-08-15 05:49", None),
        ]);
    }

    #[test]
    fn rejected_lines() {
        let unix = |rest: &str| format!("-rw-r--r--    1 0        0               3 {rest}");
        let list_lines = [
            "".to_string(),
            "\r\n".to_string(),
            "   ".to_string(),
            "total 96".to_string(),
            "drwxr-xr-x    7 0        0            4096 Nov 20 10:00 .".to_string(),
            "drwxr-xr-x    4 0        0            4096 Nov 22 23:40 ..\r\n".to_string(),
            unix("Nov 20 10:00"),
            unix("Nov 20 10:00 "),
            unix("Foo 20 10:00 x"),
            unix("Nov 32 10:00 x"),
            unix("Nov 20 25:00 x"),
            unix("Feb 30  2024 x"),
            "-rw-r--r--    1 0        0              3k Nov 20 10:00 x".to_string(),
            "-rwxr-xr-q    1 0        0               3 Nov 20 10:00 x".to_string(),
            "?rw-r--r--    1 0        0               3 Nov 20 10:00 x".to_string(),
            "550 No such file or directory".to_string(),
            "d [R----F--] supervisor            512       Jan 16 18:53    login".to_string(),
            "11-20-26  10:00AM       <DIR>          .".to_string(),
            "13-20-26  02:15PM                    1 x".to_string(),
            "11-20-26  13:15PM                    1 x".to_string(),
        ];
        assert_eq!(parse_list(&list_lines, captured_now()), vec![]);
        let mlsd_lines = [
            "type=cdir;sizd=4096;modify=20261120100000;UNIX.mode=0755; .",
            "type=pdir;sizd=4096; ..",
            "type=dir; ..",
            "type=file;size=5;",
            "no facts at all",
            "250 End.",
        ];
        assert_eq!(parse_mlsd(&mlsd_lines.map(String::from)), vec![]);
    }

    #[test]
    fn mlsd_fact_details() {
        let e = parse_mlsd_line("Type=DIR;Modify=20261120100000.123;Perm=el; a; b\r\n");
        let e = e.expect("dir");
        assert_eq!(
            (e.name.as_str(), e.kind, e.size, e.mode),
            ("a; b", Dir, 0, None)
        );
        let millis = Duration::from_millis(123);
        assert_eq!(e.mtime, Some(at(t("2026-11-20 10:00")) + millis));
        let e = parse_mlsd_line("sizd=512;unix.mode=0o104755; d").expect("sizd only");
        assert_eq!((e.kind, e.size, e.mode), (Dir, 512, Some(0o4755)));
        // Fact values cannot hold ';', so a slink target ends at the first one.
        let e = parse_mlsd_line("type=OS.unix=slink:a b;c;size=7; l").expect("slink");
        assert_eq!(
            (e.kind, e.link_target.as_deref(), e.size),
            (Symlink, Some("a b"), 7)
        );
        let e = parse_mlsd_line("type=file;modify=bogus;size=x;unix.mode=9;  two").expect("file");
        assert_eq!(
            (e.name.as_str(), e.size, e.mtime, e.mode),
            (" two", 0, None, None)
        );
    }

    /// Printable names without '/'; for LIST also without edge whitespace.
    fn name_strategy(list: bool) -> impl Strategy<Value = String> {
        let body = "[^/\\r\\n\\p{C}]{1,30}";
        let edge = "[^/\\s\\p{C}]";
        let pattern = if list {
            format!("{edge}({body}{edge})?")
        } else {
            body.to_string()
        };
        let strategy = proptest::string::string_regex(&pattern).expect("valid regex");
        strategy.prop_filter("dot names", |n| n != "." && n != "..")
    }

    proptest! {
        #[test]
        fn list_and_mlsd_round_trip(
            list_name in name_strategy(true),
            mlsd_name in name_strategy(false),
            size in any::<u64>(),
            (year, month, day) in (1971i64..2090, 1u32..=12, 1u32..=28),
            (hh, mm, age_days) in (0u32..24, 0u32..60, -170i64..170),
        ) {
            let mon = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                "Nov", "Dec"][month as usize - 1];
            let line = format!("-rw-r--r--   1 o  g {size:>12} {mon} {day:2}  {year} {list_name}\r");
            let e = parse_list_line(&line, captured_now()).expect("year line");
            let midnight = civil_to_secs(year, month, day, 0, 0, 0).map(at);
            prop_assert_eq!((&e.name, e.size, e.mtime), (&list_name, size, midnight));

            let when = civil_to_secs(year, month, day, hh, mm, 0).expect("valid");
            let line = format!("drwxr-xr-x 2 0 0 {size} {mon} {day:02} {hh:02}:{mm:02} {list_name}");
            let e = parse_list_line(&line, at(when + age_days * 86_400)).expect("yearless line");
            prop_assert_eq!((&e.name, e.size, e.kind), (&list_name, size, Dir));
            prop_assert_eq!(e.mtime, Some(at(when)));

            let stamp = format!("{year:04}{month:02}{day:02}{hh:02}{mm:02}00");
            let line = format!("type=file;size={size};modify={stamp};perm=r; {mlsd_name}\r\n");
            let e = parse_mlsd_line(&line).expect("mlsd line");
            prop_assert_eq!((&e.name, e.size, e.mtime), (&mlsd_name, size, Some(at(when))));
        }
    }
}
