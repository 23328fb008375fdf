//! Dates and times as listings print them, turned into Unix seconds (UTC).
//!
//! Pure functions, no clock: the year of a year-less date is chosen against the `now` the
//! caller passes. Every function returns `None` for anything that is not a valid date, never a
//! guess, and never panics or overflows whatever the input.
//!
//! Rules:
//! * **Time zone**: listings carry none; every time is read as UTC (RFC 3659 mandates it for
//!   MLSD; LIST times are whatever the server prints).
//! * **Year-less dates** (`Nov 20 10:00`): the year is the latest one in which that date
//!   exists and lies no more than [`YEARLESS_FUTURE_SLACK_SECS`] (2 days) after `now`. So a
//!   year-less date is never more than 2 days in the future (the rule of FileZilla and Apache
//!   commons-net; the slack covers servers whose local time runs ahead of UTC and clock skew),
//!   and everything else is within the past year: what `ls` prints (the last six months), what
//!   IIS prints (its whole current year) and a date just after New Year seen from December 31.
//!   `Feb 29` goes to the latest leap year that fits.
//! * **Two-digit years** are POSIX `%y`: 69–99 are 1969–1999, 00–68 are 2000–2068.
//! * **Numeric dates**: a 4-digit first field is `Y-M-D` (ISO, `2024/03/05`, `2004.07.15`).
//!   Otherwise dashes and slashes are read month first (`M-D-Y`, as IIS and US servers print),
//!   dots day first (`D.M.Y`, as European servers print), and when that order gives a month
//!   above 12 the other order is taken (`24-04-2003` is 24 April). `M-D` without a year is
//!   year-less. A month may be a name (`01-jun-99`, `Feb-28-1998`).
//! * **Month names**: English, German, French, Spanish, Italian, Dutch, Swedish, Hungarian,
//!   Portuguese and Russian abbreviations and full names, any case, with or without a trailing
//!   `.` or `,`; CJK `3月` / `3월`.
//! * **Times**: `H:MM`, `HH:MM`, `HH:MM:SS`, also with `.` (`05.49`, Italian and Swedish
//!   `ls`); `24:00` is midnight at the end of the day.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How far after `now` a year-less date may lie before it is taken to be from the year
/// before.
pub(super) const YEARLESS_FUTURE_SLACK_SECS: i64 = 2 * 86_400;

const SECS_PER_DAY: i64 = 86_400;

/// A time of day in seconds, `0..=86_400` (the end is `24:00`).
pub(super) type DaySecs = i64;

pub(super) fn is_leap(year: i64) -> bool {
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

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
/// `month` must be 1..=12.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A valid calendar date (years 1..=9999) at midnight UTC, in Unix seconds.
pub(super) fn date_secs(year: i64, month: u32, day: u32) -> Option<i64> {
    let valid = (1..=9999).contains(&year)
        && (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(year, month);
    valid.then(|| days_from_civil(year, month, day) * SECS_PER_DAY)
}

/// Validated UTC date and time to Unix seconds (`sec` 60 allowed: leap second).
pub(super) fn civil_to_secs(
    year: i64,
    month: u32,
    day: u32,
    hh: u32,
    mm: u32,
    ss: u32,
) -> Option<i64> {
    let valid = hh < 24 && mm < 60 && ss <= 60;
    let day = date_secs(year, month, day)?;
    valid.then(|| day + i64::from(hh * 3600 + mm * 60 + ss))
}

/// Unix seconds to a `SystemTime`; a time the platform cannot hold becomes the epoch.
pub(super) fn secs_to_system_time(secs: i64) -> SystemTime {
    let magnitude = Duration::from_secs(secs.unsigned_abs());
    let t = if secs >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    };
    t.unwrap_or(UNIX_EPOCH)
}

pub(super) fn system_time_to_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// The latest year in which `month/day` exists and `month/day + time` lies no more than
/// [`YEARLESS_FUTURE_SLACK_SECS`] after `now`.
pub(super) fn resolve_yearless(month: u32, day: u32, time: DaySecs, now: i64) -> Option<i64> {
    // Keep the arithmetic far from overflow: years 2..=9998 only.
    let now = now.clamp(-62_000_000_000, 253_000_000_000);
    let approx_year = 1970 + now.div_euclid(31_556_952);
    // Eight years back covers Feb 29 across a skipped leap year (2100).
    (approx_year - 8..=approx_year + 2)
        .rev()
        .filter_map(|year| date_secs(year, month, day).map(|d| d + time))
        .find(|&t| t <= now + YEARLESS_FUTURE_SLACK_SECS)
}

/// A year field: 4 digits, or 2 digits read as POSIX `%y`. A CJK `年`/`년` suffix is allowed.
pub(super) fn parse_year(s: &str) -> Option<i64> {
    let s = s.strip_suffix('年').or(s.strip_suffix('년')).unwrap_or(s);
    let n = i64::from(small_num(s, 4)?);
    match s.len() {
        4 => Some(n),
        2 if n < 69 => Some(2000 + n),
        2 => Some(1900 + n),
        _ => None,
    }
}

/// A 4-digit year field with an optional `年`/`년` suffix.
pub(super) fn parse_long_year(s: &str) -> Option<i64> {
    let digits = s.strip_suffix('年').or(s.strip_suffix('년')).unwrap_or(s);
    (digits.len() == 4).then(|| parse_year(s)).flatten()
}

/// A day of the month, optionally followed by `.` `,` `日` or `일`.
pub(super) fn parse_day(s: &str) -> Option<u32> {
    let s = s.trim_end_matches([',', '.']);
    let s = s.strip_suffix('日').or(s.strip_suffix('일')).unwrap_or(s);
    small_num(s, 2).filter(|d| (1..=31).contains(d))
}

/// An unsigned decimal of 1 to `max_len` ASCII digits.
pub(super) fn small_num(s: &str, max_len: usize) -> Option<u32> {
    if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `H:MM`, `HH:MM`, `HH:MM:SS` (or with `.`), 24-hour; `24:00` is the end of the day.
pub(super) fn parse_time(s: &str) -> Option<DaySecs> {
    let sep = if s.contains(':') { ':' } else { '.' };
    let mut parts = s.split(sep);
    let h = small_num(parts.next()?, 2)?;
    let m = parts
        .next()
        .filter(|m| m.len() == 2)
        .and_then(|m| small_num(m, 2))?;
    let sec = match parts.next() {
        Some(sec) if sec.len() == 2 => small_num(sec, 2)?,
        Some(_) => return None,
        None => 0,
    };
    if parts.next().is_some() || m >= 60 || sec >= 60 {
        return None;
    }
    match h {
        0..=23 => Some(i64::from(h * 3600 + m * 60 + sec)),
        24 if m == 0 && sec == 0 => Some(SECS_PER_DAY),
        _ => None,
    }
}

/// A time with `AM`/`PM` glued on (`10:00AM`, `02:15pm`), as DOS/IIS listings print it.
/// Returns the time and whether a marker was found.
pub(super) fn parse_time_ampm(s: &str, separate: Option<&str>) -> Option<(DaySecs, bool)> {
    let upper = |t: &str| t.to_ascii_uppercase();
    let (digits, marker) = match separate {
        Some(m) => (s, Some(upper(m))),
        None => {
            let u = upper(s);
            if u.ends_with("AM") || u.ends_with("PM") {
                (&s[..s.len() - 2], Some(u[u.len() - 2..].to_string()))
            } else {
                (s, None)
            }
        }
    };
    let t = parse_time(digits)?;
    let Some(marker) = marker else {
        return Some((t, false));
    };
    let (h, rest) = (t / 3600, t % 3600);
    if !(1..=12).contains(&h) {
        return None;
    }
    let h = h % 12 + if marker == "PM" { 12 } else { 0 };
    Some((h * 3600 + rest, true))
}

/// Whether a token is `AM` or `PM`, any case.
pub(super) fn is_ampm(s: &str) -> bool {
    s.eq_ignore_ascii_case("AM") || s.eq_ignore_ascii_case("PM")
}

/// Month names by language, lowercase, without trailing dots. Abbreviations as `ls` prints
/// them in each locale (glibc) and as FTP servers print them, then full names.
#[rustfmt::skip]
const MONTH_NAMES: [&[&str]; 12] = [
    &["jan", "january", "januar", "jän", "janv", "janvier", "ene", "enero", "gen", "gennaio",
      "januari", "január", "янв", "января", "январь"],
    &["feb", "february", "februar", "févr", "fevr", "fév", "fev", "février", "fevrier",
      "febrero", "febbraio", "februari", "febr", "február", "фев", "февр", "февраля", "февраль"],
    &["mar", "march", "mär", "mrz", "märz", "mars", "marzo", "mrt", "maart", "maa", "márc",
      "március", "março", "мар", "марта", "март"],
    &["apr", "april", "avr", "avril", "abr", "abril", "aprile", "ápr", "április", "апр",
      "апреля", "апрель"],
    &["may", "mai", "mayo", "mag", "maggio", "mei", "maj", "máj", "május", "maio", "май", "мая"],
    &["jun", "june", "juni", "juin", "junio", "giu", "giugno", "jún", "június", "junho", "июн",
      "июня", "июнь"],
    &["jul", "july", "juli", "juil", "juillet", "julio", "lug", "luglio", "júl", "július",
      "julho", "июл", "июля", "июль"],
    &["aug", "august", "août", "aout", "ago", "agosto", "augustus", "augusti", "augusztus",
      "авг", "августа", "август"],
    &["sep", "sept", "september", "septembre", "septiembre", "setiembre", "set", "settembre",
      "szept", "szeptember", "setembro", "сен", "сент", "сентября", "сентябрь"],
    &["oct", "october", "okt", "oktober", "octobre", "octubre", "ott", "ottobre", "október",
      "out", "outubro", "окт", "октября", "октябрь"],
    &["nov", "november", "novembre", "noviembre", "novembro", "ноя", "нояб", "ноября", "ноябрь"],
    &["dec", "december", "dez", "dezember", "déc", "décembre", "decembre", "dic", "diciembre",
      "dicembre", "dezembro", "дек", "декабря", "декабрь"],
];

/// A month given by name (any language of [`MONTH_NAMES`], any case, trailing `.`/`,`
/// allowed) or as CJK `3月` / `3월`.
pub(super) fn parse_month_name(s: &str) -> Option<u32> {
    let s = s.trim_end_matches(['.', ',']);
    if s.is_empty() || s.len() > 24 {
        return None;
    }
    if let Some(n) = s.strip_suffix('月').or(s.strip_suffix('월')) {
        return small_num(n, 2).filter(|m| (1..=12).contains(m));
    }
    if !s.chars().all(char::is_alphabetic) {
        return None;
    }
    let lower = s.to_lowercase();
    let index = MONTH_NAMES
        .iter()
        .position(|names| names.contains(&lower.as_str()))?;
    u32::try_from(index + 1).ok()
}

/// A month as a name or a number 1..=12.
fn parse_month_any(s: &str) -> Option<u32> {
    parse_month_name(s).or_else(|| small_num(s, 2).filter(|m| (1..=12).contains(m)))
}

/// A calendar date printed as one token of numbers (and maybe a month name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct NumericDate {
    /// `None` for `M-D` without a year.
    pub year: Option<i64>,
    pub month: u32,
    pub day: u32,
}

/// `Y-M-D`, `M-D-Y`, `D.M.Y`, `M-D` and friends with `-`, `/` or `.` (see the module doc for
/// the order rules). `None` unless the fields make a valid date.
pub(super) fn parse_numeric_date(s: &str) -> Option<NumericDate> {
    let sep = ['-', '/', '.'].into_iter().find(|&c| s.contains(c))?;
    if s.len() > 11 || s.starts_with(sep) || s.ends_with(sep) {
        return None;
    }
    let mut parts = s.split(sep);
    let (a, b) = (parts.next()?, parts.next()?);
    let c = parts.next();
    if parts.next().is_some() {
        return None;
    }
    let day = |d: &str| small_num(d, 2).filter(|d| (1..=31).contains(d));
    let date = match c {
        // Y-M-D
        Some(c) if a.len() == 4 => NumericDate {
            year: Some(parse_year(a)?),
            month: parse_month_any(b)?,
            day: day(c)?,
        },
        Some(c) => {
            let year = Some(parse_year(c)?);
            // A month name fixes the order.
            if let Some(month) = parse_month_name(b) {
                NumericDate {
                    year,
                    month,
                    day: day(a)?,
                }
            } else if let Some(month) = parse_month_name(a) {
                NumericDate {
                    year,
                    month,
                    day: day(b)?,
                }
            } else {
                let (x, y) = (small_num(a, 2)?, small_num(b, 2)?);
                let day_first = if sep == '.' { y <= 12 } else { x > 12 };
                let (month, d) = if day_first { (y, x) } else { (x, y) };
                NumericDate {
                    year,
                    month,
                    day: d,
                }
            }
        }
        None if sep == '.' => return None, // `05.49` is a time
        None => {
            let (x, y) = (small_num(a, 2)?, small_num(b, 2)?);
            let (month, d) = if x > 12 { (y, x) } else { (x, y) };
            NumericDate {
                year: None,
                month,
                day: d,
            }
        }
    };
    // Validity of the whole date (Feb 30) is checked when a year is known; a year-less date
    // must exist in some year.
    let check_year = date.year.unwrap_or(2000);
    date_secs(check_year, date.month, date.day)?;
    Some(date)
}
