//! Unix-style `LIST` lines: `MODE [LINKS] [OWNER [GROUP]] SIZE DATE NAME[ -> TARGET]`, as
//! `ls -l` prints them in any locale and as FTP servers imitate them.
//!
//! The columns between the mode and the date vary (missing owner or group, owner and group
//! names with spaces, numeric ids, link counts glued to the mode), so the date is searched
//! for: the first field, left to right, that starts a date and follows a size. Dates
//! understood (see `date.rs` for months and years): `Mon DD HH:MM|YYYY`, `DD[.] Mon[.,]
//! HH:MM|YYYY`, `YYYY Mon DD` (Hungarian, CJK `2024年 3月 5日`), `Mon DD, YYYY HH:MM`,
//! numeric `YYYY-MM-DD [HH:MM]`, `MM-DD HH:MM|YYYY`, `DD-MM-YYYY HH:MM`, `DD-mon-YY`, and
//! `M D HH:MM`. A line with no date at all is read only in the exact shape `MODE LINKS OWNER
//! GROUP SIZE NAME` (mtime unknown).
//!
//! Rules for the name:
//! * Exactly one space separates the date from the name; further spaces belong to the name
//!   (vsftpd, proftpd, pure-ftpd and pyftpdlib print `Nov 20 10:00  x` for ` x`), except
//!   after a **left-aligned year**: `ls` pads the year to the width of a time, on the left in
//!   the C locale (`Mar  5  2026 x`) but on the right in others (`5. Mär 2026  x`, German);
//!   a year with one space before it and two or more after it is taken as left-aligned and
//!   the padding space is dropped. After a date without a time (`2004.07.15   x`) and in
//!   Netware lines, all spaces before the name are padding.
//! * `name -> target` is split at the first ` -> ` for symlinks only; other kinds keep
//!   ` -> ` in the name.
//!
//! Modes: a type letter (`-dlbcpsDnf`) and nine permission characters, each the expected
//! letter, `-`, a set-id/sticky letter (`sStTlL` in the execute places) or an unknown
//! upper-case attribute (no bit); then optionally an ACL/xattr/SELinux marker (`+`, `@`,
//! `.`, `*`) and a link count glued on (`drwxr-x---+1464`). Nine characters without the type
//! letter are read as a file. Netware's `d [RWCEAFMS]` has no Unix mode (mode unknown).
//! Devices (`major, minor` instead of a size) get size 0; fifos, sockets and devices are
//! files. Sizes may carry a unit (`33.5k`, 1024-based).

use super::date::{self, DaySecs};
use super::{MAX_TOKENS, Raw, Tok, entry, tokens};
use crate::remote::FileKind;

/// What the mode field says.
struct Mode {
    kind: FileKind,
    device: bool,
    /// Permission bits; `None` for Netware lines.
    perms: Option<u32>,
    /// Netware pads before the name.
    netware: bool,
    /// Index of the first field after the mode.
    next: usize,
}

/// How the name starts after the last date field.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NameStart {
    /// Skip exactly one space or tab.
    OneSpace,
    /// The date ended with a year at this field: drop a padding space when left-aligned.
    AfterYear(usize),
    /// Skip all spaces (a date without a time: padding cannot be told apart).
    SkipAll,
}

struct DateMatch {
    secs: i64,
    /// Index of the last field of the date.
    last: usize,
    start: NameStart,
}

pub(super) fn parse_unix_line(line: &str, now: i64) -> Option<Raw> {
    let toks = tokens(line, MAX_TOKENS);
    let mode = parse_mode(line, &toks)?;
    let text = |i: usize| toks.get(i).map(|t| t.text(line));
    for i in mode.next + 1..toks.len() {
        let Some(size) = size_before(line, &toks, i, &mode) else {
            continue;
        };
        let Some(date) = date_at(&text, i, now) else {
            continue;
        };
        let start = if mode.netware {
            NameStart::SkipAll
        } else {
            date.start
        };
        let Some(rest) = name_after(line, &toks, date.last, start) else {
            continue;
        };
        return Some(Raw::Entry(finish(rest, &mode, size, Some(date.secs))));
    }
    dateless(line, &toks, &mode)
}

/// `MODE LINKS OWNER GROUP SIZE NAME`: the one shape read without a date.
fn dateless(line: &str, toks: &[Tok], mode: &Mode) -> Option<Raw> {
    if mode.next != 1 || toks.len() < 6 || mode.netware {
        return None;
    }
    let text = |i: usize| toks[i].text(line);
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !numeric(text(1)) || !numeric(text(4)) {
        return None;
    }
    // A date we could not read must not end up in the name: no month, numeric date, time
    // or year in the fields after the size, and no day right after it.
    let datelike = |s: &str| {
        date::parse_month_name(s).is_some()
            || date::parse_numeric_date(s).is_some()
            || date::parse_time(s).is_some()
            || date::parse_long_year(s).is_some()
    };
    if date::parse_day(text(5)).is_some() || (5..toks.len().min(9)).any(|i| datelike(text(i))) {
        return None;
    }
    let size = text(4).parse().ok()?;
    Some(Raw::Entry(finish(&line[toks[5].start..], mode, size, None)))
}

fn finish(rest: &str, mode: &Mode, size: u64, secs: Option<i64>) -> crate::remote::RemoteEntry {
    let (name, target) = match rest.split_once(" -> ") {
        Some((name, target)) if mode.kind == FileKind::Symlink => (name, Some(target)),
        _ => (rest, None),
    };
    let mut e = entry(name, mode.kind, if mode.device { 0 } else { size });
    e.link_target = target.map(str::to_string);
    e.mtime = secs.map(date::secs_to_system_time);
    e.mode = mode.perms;
    e
}

/// The name after the date's last field, or `None` when there is none.
fn name_after<'a>(line: &'a str, toks: &[Tok], last: usize, start: NameStart) -> Option<&'a str> {
    let end = toks[last].end;
    let rest = &line[end..];
    let one = |s: &'a str| s.strip_prefix([' ', '\t']);
    let name = match start {
        NameStart::OneSpace => one(rest)?,
        NameStart::SkipAll => rest.trim_start_matches([' ', '\t']),
        NameStart::AfterYear(year) => {
            let rest = one(rest)?;
            let one_before = year > 0 && toks[year].start - toks[year - 1].end == 1;
            let bare_year = toks[year].text(line).len() == 4;
            if one_before && bare_year && rest.starts_with(' ') {
                &rest[1..]
            } else {
                rest
            }
        }
    };
    (!name.is_empty()).then_some(name)
}

/// The size in the field before `i`, when that field can be one.
fn size_before(line: &str, toks: &[Tok], i: usize, mode: &Mode) -> Option<u64> {
    let s = toks[i - 1].text(line);
    if mode.device {
        // `major, minor`, `major,minor` or a plain number: no size.
        return s
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b',')
            .then_some(0);
    }
    if let Some(size) = parse_size(s) {
        return Some(size);
    }
    // An owner or group glued to the size (`longgroup123456`).
    let digits = s.len() - s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let glued = digits > 0 && digits < s.len() && i - 1 > mode.next;
    glued.then(|| s[s.len() - digits..].parse().ok()).flatten()
}

/// A size: digits, or a number with a 1024-based unit (`33.5k`, `2M`).
fn parse_size(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 24 {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    let unit = s.chars().last()?;
    let mult: u128 = match unit.to_ascii_lowercase() {
        'k' => 1 << 10,
        'm' => 1 << 20,
        'g' => 1 << 30,
        't' => 1 << 40,
        _ => return None,
    };
    let num = &s[..s.len() - 1];
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || frac.len() > 3 {
        return None;
    }
    let scale = 10u128.pow(frac.len() as u32);
    let value: u128 = format!("{int}{frac}").parse().ok()?;
    u64::try_from(value * mult / scale).ok()
}

/// The first field(s): a Unix mode string, or Netware's `d [RWCEAFMS]`.
fn parse_mode(line: &str, toks: &[Tok]) -> Option<Mode> {
    let first = toks.first()?.text(line);
    if let Some(second) = toks.get(1).map(|t| t.text(line)) {
        let netware = second.len() >= 3
            && second.starts_with('[')
            && second.ends_with(']')
            && second[1..second.len() - 1]
                .bytes()
                .all(|b| b"RWCEAFMS-".contains(&b));
        if netware && (first == "d" || first == "-") {
            let kind = if first == "d" {
                FileKind::Dir
            } else {
                FileKind::File
            };
            return Some(Mode {
                kind,
                device: false,
                perms: None,
                netware: true,
                next: 2,
            });
        }
    }
    let b = first.as_bytes();
    let (type_char, perms) = if b.len() == 9 {
        (b'-', b)
    } else if b.len() >= 10 {
        let tail = &b[10..];
        let tail = tail.strip_prefix(b"+").unwrap_or(tail);
        let tail = match tail.first() {
            Some(b'@' | b'.' | b'*' | b'+') => &tail[1..],
            _ => tail,
        };
        if !tail.iter().all(u8::is_ascii_digit) {
            return None;
        }
        (b[0], &b[1..10])
    } else {
        return None;
    };
    let (kind, device) = match type_char {
        b'-' | b'f' | b'p' | b's' | b'D' | b'n' => (FileKind::File, false),
        b'd' => (FileKind::Dir, false),
        b'l' => (FileKind::Symlink, false),
        b'b' | b'c' => (FileKind::File, true),
        _ => return None,
    };
    Some(Mode {
        kind,
        device,
        perms: Some(parse_perms(perms)?),
        netware: false,
        next: 1,
    })
}

/// Nine permission characters into bits (see the module doc).
fn parse_perms(b: &[u8]) -> Option<u32> {
    let mut mode = 0u32;
    // For each of user, group, other: (shift, special bit, special letter).
    let classes = [(6, 0o4000, b's'), (3, 0o2000, b's'), (0, 0o1000, b't')];
    for (class, (shift, special, letter)) in classes.into_iter().enumerate() {
        let [r, w, x] = [b[class * 3], b[1 + class * 3], b[2 + class * 3]];
        for (c, want, bit) in [(r, b'r', 0o4), (w, b'w', 0o2)] {
            match c {
                _ if c == want => mode |= bit << shift,
                b'-' => {}
                c if c.is_ascii_uppercase() => {} // an unknown attribute
                _ => return None,
            }
        }
        match x {
            b'x' => mode |= 0o1 << shift,
            b'-' => {}
            c if c == letter => mode |= (0o1 << shift) | special,
            c if c == letter.to_ascii_uppercase() => mode |= special,
            // Solaris: mandatory locking shown as `l`/`L` in the group's execute place.
            b'l' | b'L' if class == 1 => mode |= special,
            c if c.is_ascii_uppercase() => {}
            _ => return None,
        }
    }
    Some(mode)
}

/// A date starting at field `i`, in any of the forms of the module doc.
fn date_at<'a>(t: &impl Fn(usize) -> Option<&'a str>, i: usize, now: i64) -> Option<DateMatch> {
    let time = |k: usize| t(k).and_then(date::parse_time);
    let long_year = |k: usize| t(k).and_then(date::parse_long_year);
    // Day and month known: a time (year-less) or a year must follow at `k`.
    let finish = |month: u32, day: u32, k: usize| -> Option<DateMatch> {
        if let Some(tm) = time(k) {
            let secs = date::resolve_yearless(month, day, tm, now)?;
            return Some(DateMatch {
                secs,
                last: k,
                start: NameStart::OneSpace,
            });
        }
        let year = long_year(k)?;
        let secs = date::date_secs(year, month, day)?;
        Some(DateMatch {
            secs,
            last: k,
            start: NameStart::AfterYear(k),
        })
    };
    let first = t(i)?;

    // Numeric: `2005-06-07 [21:22]`, `09-26 13:45`, `09-26 2000`, `01-jun-99`.
    if let Some(d) = date::parse_numeric_date(first) {
        return match d.year {
            Some(year) => {
                let with_time = |tm: DaySecs| date::date_secs(year, d.month, d.day).map(|s| s + tm);
                match time(i + 1) {
                    Some(tm) => Some(DateMatch {
                        secs: with_time(tm)?,
                        last: i + 1,
                        start: NameStart::OneSpace,
                    }),
                    None => Some(DateMatch {
                        secs: with_time(0)?,
                        last: i,
                        start: NameStart::SkipAll,
                    }),
                }
            }
            None => finish(d.month, d.day, i + 1),
        };
    }
    // Month first: `Nov 20 10:00`, `Nov 20  2025`, `3月 2日 2003年`, `Oct 08, 2002 09:47`.
    if let Some(month) = date::parse_month_name(first) {
        let day_text = t(i + 1)?;
        let day = date::parse_day(day_text)?;
        if day_text.ends_with(',')
            && let (Some(year), Some(tm)) = (long_year(i + 2), time(i + 3))
        {
            let secs = date::date_secs(year, month, day)? + tm;
            return Some(DateMatch {
                secs,
                last: i + 3,
                start: NameStart::OneSpace,
            });
        }
        return finish(month, day, i + 2);
    }
    // Day first: `26. Juli, 20:10`, `2. Okt. 2003`, `29 Jul 02:27`, `5 janv. 2024`.
    if let Some(day) = date::parse_day(first)
        && let Some(month) = t(i + 1).and_then(date::parse_month_name)
        && let Some(m) = finish(month, day, i + 2)
    {
        return Some(m);
    }
    // Year first: `2026 márc 5`, `2024年 3月 5日`, `2005년 1월 6일` — unless the year is
    // really a size followed by a month-first date (valid, or with a broken time).
    let time_like = |k: usize| {
        t(k).and_then(|s| s.split_once(':'))
            .is_some_and(|(h, _)| !h.is_empty() && h.bytes().all(|b| b.is_ascii_digit()))
    };
    if let Some(year) = long_year(i).filter(|y| (1900..2200).contains(y))
        && let Some(month) = t(i + 1).and_then(date::parse_month_name)
        && let Some(day) = t(i + 2).and_then(date::parse_day)
        && date_at(t, i + 1, now).is_none()
        && !time_like(i + 3)
    {
        let secs = date::date_secs(year, month, day)?;
        return Some(DateMatch {
            secs,
            last: i + 2,
            start: NameStart::OneSpace,
        });
    }
    // Month and day as numbers: `3 29 03:26`.
    let month = date::small_num(first, 2).filter(|m| (1..=12).contains(m))?;
    let day = t(i + 1)
        .and_then(|d| date::small_num(d, 2))
        .filter(|d| (1..=31).contains(d))?;
    let tm = time(i + 2)?;
    let secs = date::resolve_yearless(month, day, tm, now)?;
    Some(DateMatch {
        secs,
        last: i + 2,
        start: NameStart::OneSpace,
    })
}
