//! Tests of the listing parsers on whole captured listings and on chosen edge cases.
//!
//! Fixtures in tests/fixtures/listings: `vsftpd_list` (vsftpd 3.0.3,
//! `LIST -la`), `proftpd_*` (ProFTPD 1.3.8), `pureftpd_*` (pure-ftpd
//! 1.0.50, `LIST -la`), `pyftpdlib_*` (pyftpdlib 1.5.7) and
//! `mlst_replies` (the three servers' MLST replies) were captured byte for
//! byte (CRLF kept) on 127.0.0.1 at 2026-11-22 23:40 UTC, all serving the
//! same directory. `iis_dos`, `dos_4digit_24h`, `unix_symlinks_yearless`
//! (as of 2027-01-10), `numeric_owner_no_group` and `unix_acl_devices`
//! are written by hand in those servers' formats.
use std::time::{Duration, SystemTime};

use super::date::{civil_to_secs, secs_to_system_time, system_time_to_secs};
use super::*;
use FileKind::{Dir, File, Symlink};

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

/// The entry of one line that must parse.
fn one(line: &str, now: SystemTime) -> RemoteEntry {
    match parse_list_line(line, now) {
        LineResult::Entry(e) => e,
        other => panic!("{line:?}: {other:?}"),
    }
}

fn one_mlsd(line: &str) -> RemoteEntry {
    match parse_mlsd_line(line, "/") {
        LineResult::Entry(e) => e,
        other => panic!("{line:?}: {other:?}"),
    }
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

fn check(listing: &Listing, count: usize, want: &[Want]) {
    let entries = &listing.entries;
    let r = &listing.report;
    assert_eq!(entries.len(), count, "{entries:#?}");
    assert_eq!(r.lines, r.entries + r.skipped + r.unparsed, "{r:?}");
    assert_eq!(r.entries, entries.len() + r.left_out, "{r:?}");
    assert!(entries.iter().all(|e| name_problem(&e.name).is_none()));
    assert!(
        entries
            .iter()
            .all(|e| !matches!(e.name.as_str(), "" | "." | ".."))
    );
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
    assert_eq!(secs_to_system_time(-60), at(-60));
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
        (include_str!("../../../../tests/fixtures/listings/vsftpd_list.txt"), 20),
        (include_str!("../../../../tests/fixtures/listings/proftpd_list.txt"), 20),
        (include_str!("../../../../tests/fixtures/listings/pureftpd_list.txt"), 19),
        (include_str!("../../../../tests/fixtures/listings/pyftpdlib_list.txt"), 20),
    ] {
        check(&parse_list(&lines(text), captured_now()), count, want);
    }
}

#[rustfmt::skip]
#[test]
fn captured_mlsd() {
    let pure = include_str!("../../../../tests/fixtures/listings/pureftpd_mlsd.txt");
    check(&parse_mlsd(&lines(pure), "/"), 20, &[
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
    let pro = include_str!("../../../../tests/fixtures/listings/proftpd_mlsd.txt");
    check(&parse_mlsd(&lines(pro), "/"), 19, &[
        ("link", Symlink, 10, 0o777, NOV20, None), // OS.unix=symlink: no target
        ("My Documents", Dir, 0, 0o755, NOV20, None), // no size fact
        ("two  spaces.txt", File, 2, 0o644, "2025-12-31 23:59", None),
        ("setgid_dir", Dir, 0, 0o2775, NOV20, None),
        ("a#b%c?.txt", File, 1234, 0o640, NOV20, None),
        ("old_2019.tar.gz", File, 3, 0o644, "2019-03-05 08:30", None),
    ]);
    // pyftpdlib follows symlinks, drops dangling ones, prints `0o644` modes.
    let py = include_str!("../../../../tests/fixtures/listings/pyftpdlib_mlsd.txt");
    check(&parse_mlsd(&lines(py), "/"), 19, &[
        ("readme.txt", File, 5, 0o600, "2026-11-22 10:00", None),
        ("docs_link", Dir, 4096, 0o755, NOV20, None),
        ("héllo wörld.txt", File, 8, 0o644, NOV20, None),
        ("日本語", Dir, 4096, 0o755, NOV20, None),
        (" leading space.txt", File, 3, 0o644, NOV20, None),
    ]);
    // MLST: one leading space, full pathname in the listed directory; the 250 lines do
    // not parse.
    let mlst = include_str!("../../../../tests/fixtures/listings/mlst_replies.txt");
    let want = ("readme.txt", File, 5, 0o600, "2026-11-22 10:00", None);
    let listing = parse_mlsd(&lines(mlst), "/pub");
    check(&listing, 3, &[want]);
    assert_eq!(listing.report.unparsed, 6);
    assert_eq!(listing.report.first_unparsed.as_deref(), Some("250-Start of list for /pub/readme.txt"));
}

#[rustfmt::skip]
#[test]
fn dos_listings() {
    let iis = include_str!("../../../../tests/fixtures/listings/iis_dos.txt");
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
    let long = include_str!("../../../../tests/fixtures/listings/dos_4digit_24h.txt");
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
    let text = include_str!("../../../../tests/fixtures/listings/unix_symlinks_yearless.txt");
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
        let e = one(&line, at(t(now)));
        system_time_to_secs(e.mtime.expect("mtime"))
    };
    // A year-less date is never more than 2 days ahead: January seen on Dec 20 is this
    // January, seen on Dec 31 it is next January.
    assert_eq!(date("Jan  3 10:00", "2026-12-20 00:00"), t("2026-01-03 10:00"));
    assert_eq!(date("Jan  1 10:00", "2026-12-31 12:00"), t("2027-01-01 10:00"));
    assert_eq!(date("Jan  2 12:00", "2026-12-31 12:00"), t("2027-01-02 12:00"));
    assert_eq!(date("Jan  2 12:01", "2026-12-31 12:00"), t("2026-01-02 12:01"));
    // December date seen in January: last December.
    assert_eq!(date("Dec 20 10:00", "2027-01-10 00:00"), t("2026-12-20 10:00"));
    // Mid-year: tomorrow stays this year, next week is last year's.
    assert_eq!(date("Jul  2 08:00", "2026-07-01 12:00"), t("2026-07-02 08:00"));
    assert_eq!(date("Jul  8 08:00", "2026-07-01 12:00"), t("2025-07-08 08:00"));
    assert_eq!(date("Jun 29 00:00", "2026-01-01 00:00"), t("2025-06-29 00:00"));
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
    let text = include_str!("../../../../tests/fixtures/listings/numeric_owner_no_group.txt");
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
    let text = include_str!("../../../../tests/fixtures/listings/unix_acl_devices.txt");
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
        unix("Foo 20 10:00 x y"),
        "-rwxr-xr-q    1 0        0               3 Nov 20 10:00 x".to_string(),
        "?rw-r--r--    1 0        0               3 Nov 20 10:00 x".to_string(),
        "550 No such file or directory".to_string(),
        "11-20-26  10:00AM       <DIR>          .".to_string(),
        "13-20-26  02:15PM                    1 x".to_string(),
        "11-20-26  13:15PM                    1 x".to_string(),
    ];
    let listing = parse_list(&list_lines, captured_now());
    assert_eq!(listing.entries, vec![]);
    // Blank lines are not counted; `total`, `.` and `..` are skipped.
    assert_eq!(listing.report.lines, list_lines.len() - 3);
    assert_eq!(listing.report.skipped, 4);
    assert!(listing.report.not_understood());
    let mlsd_lines = [
        "type=cdir;sizd=4096;modify=20261120100000;UNIX.mode=0755; .",
        "type=pdir;sizd=4096; ..",
        "type=dir; ..",
        "type=file;size=5;",
        "no facts at all",
        "250 End.",
    ];
    let listing = parse_mlsd(&mlsd_lines, "/");
    assert_eq!(listing.entries, vec![]);
    assert_eq!((listing.report.skipped, listing.report.unparsed), (3, 3));
}

#[test]
fn mlsd_fact_details() {
    let e = one_mlsd("Type=DIR;Modify=20261120100000.123;Perm=el; a; b\r\n");
    assert_eq!(
        (e.name.as_str(), e.kind, e.size, e.mode),
        ("a; b", Dir, 0, None)
    );
    let millis = Duration::from_millis(123);
    assert_eq!(e.mtime, Some(at(t("2026-11-20 10:00")) + millis));
    let e = one_mlsd("sizd=512;unix.mode=0o104755; d");
    assert_eq!((e.kind, e.size, e.mode), (Dir, 512, Some(0o4755)));
    // Fact values cannot hold ';', so a slink target ends at the first one.
    let e = one_mlsd("type=OS.unix=slink:a b;c;size=7; l");
    assert_eq!(
        (e.kind, e.link_target.as_deref(), e.size),
        (Symlink, Some("a b"), 7)
    );
    let e = one_mlsd("type=file;modify=bogus;size=x;unix.mode=9;  two");
    assert_eq!(
        (e.name.as_str(), e.size, e.mtime, e.mode),
        (" two", 0, None, None)
    );
}

#[rustfmt::skip]
#[test]
fn year_rule_at_four_times_of_the_year() {
    let date = |list_date: &str, now: &str| {
        let e = one(&format!("-rw-r--r-- 1 u g 1 {list_date} f"), at(t(now)));
        system_time_to_secs(e.mtime.expect("mtime"))
    };
    // New Year's night: last December, and New Year's Day up to 2 days ahead.
    let jan1 = "2027-01-01 00:30";
    assert_eq!(date("Dec 31 23:50", jan1), t("2026-12-31 23:50"));
    assert_eq!(date("Jan  1 10:00", jan1), t("2027-01-01 10:00"));
    assert_eq!(date("Jan  3 00:30", jan1), t("2027-01-03 00:30"));
    assert_eq!(date("Jan  3 00:31", jan1), t("2026-01-03 00:31"));
    // End of December: the whole year behind, and next January's first days ahead.
    let dec31 = "2026-12-31 23:00";
    assert_eq!(date("Jan  1 00:00", dec31), t("2027-01-01 00:00"));
    assert_eq!(date("Jan  2 23:00", dec31), t("2027-01-02 23:00"));
    assert_eq!(date("Jan  3 00:00", dec31), t("2026-01-03 00:00"));
    assert_eq!(date("Dec 31 22:59", dec31), t("2026-12-31 22:59"));
    // Leap day: Feb 29 is today, Mar 1 tomorrow, Mar 3 too far (last year).
    let leap = "2028-02-29 12:00";
    assert_eq!(date("Feb 29 11:00", leap), t("2028-02-29 11:00"));
    assert_eq!(date("Mar  1 10:00", leap), t("2028-03-01 10:00"));
    assert_eq!(date("Mar  3 10:00", leap), t("2027-03-03 10:00"));
    assert_eq!(date("Feb 28 10:00", leap), t("2028-02-28 10:00"));
    // A year later Feb 29 goes back to the last leap year.
    assert_eq!(date("Feb 29 11:00", "2029-02-28 12:00"), t("2028-02-29 11:00"));
    // Mid-year: everything up to 2 days ahead is this year, the rest last year.
    let mid = "2026-07-01 12:00";
    assert_eq!(date("Jun 30 23:59", mid), t("2026-06-30 23:59"));
    assert_eq!(date("Jul  3 12:00", mid), t("2026-07-03 12:00"));
    assert_eq!(date("Jul  3 12:01", mid), t("2025-07-03 12:01"));
    assert_eq!(date("Dec 25 08:00", mid), t("2025-12-25 08:00"));
    // Other year-less forms follow the same rule.
    assert_eq!(date("12-25 08:00", mid), t("2025-12-25 08:00"));
    assert_eq!(date("25. Dez 08:00", mid), t("2025-12-25 08:00"));
    assert_eq!(date("12月 25日 08:00", mid), t("2025-12-25 08:00"));
}

#[rustfmt::skip]
#[test]
fn numeric_date_order() {
    let now = captured_now();
    let date = |line: &str| system_time_to_secs(one(line, now).mtime.expect("mtime"));
    // IIS/US order by default, day first when the month would be over 12.
    assert_eq!(date("04-06-03  10:00AM  1 f"), t("2003-04-06 10:00"));
    assert_eq!(date("24-04-03  10:00AM  1 f"), t("2003-04-24 10:00"));
    // Dots are European: day first, unless the second field cannot be a month.
    assert_eq!(date("05.12.2020  10:00  <DIR>  d"), t("2020-12-05 10:00"));
    assert_eq!(date("12.25.2020  10:00  <DIR>  d"), t("2020-12-25 10:00"));
    // ISO and slashes in Unix lines.
    assert_eq!(date("-rw-r--r-- 1 u g 1 2024-03-05 07:08 f"), t("2024-03-05 07:08"));
    assert_eq!(date("-rw-r--r-- 1 u g 1 03/05/2024 07:08 f"), t("2024-03-05 07:08"));
    // Sizes with '.' groups, a separate PM, 2-digit years across the pivot.
    let e = one("05-22-69  12:08 PM   1.234.567 g", now);
    assert_eq!((e.size, system_time_to_secs(e.mtime.expect("mtime"))), (1_234_567, t("1969-05-22 12:08")));
    assert_eq!(date("05-22-68  12:08AM  1 f"), t("2068-05-22 00:08"));
}

#[test]
fn left_aligned_years_and_padding() {
    let now = captured_now();
    let name = |line: &str| one(line, now).name;
    // Right-aligned year (C locale): one separator, the rest is the name.
    assert_eq!(name("-rw-r--r-- 1 u g 1 Mar  5  2026  x"), " x");
    // Left-aligned year (German `ls`): the padding space goes.
    assert_eq!(name("-rw-r--r-- 1 u g 1  5. Mär 2026  x"), "x");
    assert_eq!(name("-rw-r--r-- 1 u g 1  5. Mär 2026   x"), " x");
    // Single spaces everywhere.
    assert_eq!(name("-rw-r--r-- 1 u g 1 Mar 5 2026 x"), "x");
    // A date without a time: all padding.
    assert_eq!(name("-rw-r--r-- 1 u g 1 2026-03-05   x"), "x");
}

#[test]
fn unsafe_names_are_left_out_and_reported() {
    let lines = [
        "type=file;size=1; good",
        "type=file;size=1; a/b",
        "type=file;size=1; /srv/pub/sub/deeper",
        "type=file;size=1; /srv/pub/inside",
        "type=file;size=1; nul\0byte",
        "type=file;size=1; carriage\rreturn",
    ];
    let long = format!("type=file;size=1; {}", "é".repeat(128));
    let mut all: Vec<&str> = lines.to_vec();
    all.push(&long);
    let listing = parse_mlsd(&all, "/srv/pub/");
    let names: Vec<&str> = listing.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["good", "inside"]);
    let r = &listing.report;
    assert_eq!((r.lines, r.entries, r.left_out), (7, 7, 5));
    let first = r.first_left_out.as_ref().expect("left out");
    assert_eq!(
        (first.name.as_str(), first.problem),
        ("a/b", NameProblem::Slash)
    );
    let problem = |line: &str| match parse_mlsd_line(line, "/") {
        LineResult::LeftOut(_, p) => Some(p),
        _ => None,
    };
    assert_eq!(problem(lines[4]), Some(NameProblem::Nul));
    assert_eq!(problem(lines[5]), Some(NameProblem::LineBreak));
    assert_eq!(problem(&long), Some(NameProblem::TooLong));
    // 255 bytes is fine.
    let max = format!("type=file; {}", "n".repeat(255));
    assert!(matches!(parse_mlsd_line(&max, "/"), LineResult::Entry(_)));
    // In LIST too (a name cannot hold '/' there, but NUL and CR can arrive).
    let now = captured_now();
    let r = parse_list_line("-rw-r--r-- 1 u g 1 Nov 20 10:00 a\rb", now);
    assert!(matches!(r, LineResult::LeftOut(_, NameProblem::LineBreak)));
}

#[test]
fn report_tells_an_empty_directory_from_a_listing_not_understood() {
    let now = captured_now();
    // Empty directories: only lines that are not entries.
    let empty_mlsd = parse_mlsd(
        &["type=cdir;modify=20261120100000; /x", "type=pdir; /"],
        "/x",
    );
    assert!(empty_mlsd.entries.is_empty() && !empty_mlsd.report.not_understood());
    let empty_list = parse_list(&["total 0", "", "   "], now);
    assert!(empty_list.entries.is_empty() && !empty_list.report.not_understood());
    assert_eq!(empty_list.report.lines, 1);
    assert!(!parse_list::<&str>(&[], now).report.not_understood());
    // Lines, but none read as an entry: fall back (MLSD -> LIST, LIST -> NLST).
    let garbage = [
        "+ what is this",
        "VMS;1 2/8 7-JAN-2000 [IV2_XXX] (RWED,RWED,RE,)",
    ];
    assert!(parse_mlsd(&garbage, "/").report.not_understood());
    let list = parse_list(&garbage, now);
    assert!(list.report.not_understood());
    assert_eq!(list.report.first_unparsed.as_deref(), Some(garbage[0]));
    // Some entries and some garbage: the entries count, the first bad line is kept.
    let mixed = [
        "garbage line",
        "-rw-r--r-- 1 u g 1 Nov 20 10:00 f",
        "more garbage",
    ];
    let list = parse_list(&mixed, now);
    let r = &list.report;
    assert_eq!(
        (list.entries.len(), r.unparsed, r.not_understood()),
        (1, 2, false)
    );
    assert_eq!(r.first_unparsed.as_deref(), Some("garbage line"));
    // An MLSD whose lines all name other directories has entries (left out): it is
    // understood, and the caller warns about the names instead.
    let elsewhere = parse_mlsd(&["type=file; /other/f"], "/x");
    assert!(!elsewhere.report.not_understood() && elsewhere.report.left_out == 1);
}

#[test]
fn mlsd_separators_and_odd_facts() {
    // Tab before the name, facts in any case and order, no ';' before the name.
    let e = one_mlsd("size=3;TYPE=File;Modify=20261120100000;\tname with\ttab");
    assert_eq!((e.name.as_str(), e.size), ("name with\ttab", 3));
    let e = one_mlsd("type=dir x y");
    assert_eq!((e.name.as_str(), e.kind), ("x y", Dir));
    // A name that holds "; " and '='.
    let e = one_mlsd("type=file;size=1; a=b; c");
    assert_eq!(e.name, "a=b; c");
    // UNIX.mode with set-id bits and an 0o prefix; OS.unix=slink with a target.
    let e = one_mlsd("type=OS.unix=slink:../t;UNIX.mode=0o4777; l");
    assert_eq!(
        (e.kind, e.link_target.as_deref(), e.mode),
        (Symlink, Some("../t"), Some(0o4777))
    );
    // Not fact lines.
    for line in ["a b c", "=x; y", "type file; x"] {
        assert_eq!(parse_mlsd_line(line, "/"), LineResult::Unparsed, "{line:?}");
    }
}

/// Found by `prop_tests::arbitrary_lines_never_panic`: an `OS.unix=slink:` type followed by
/// a `type=file` fact gave a file with a link target.
#[test]
fn regression_a_later_type_fact_drops_the_slink_target() {
    let r = parse_mlsd_line("type=OS.unix=slink:type=file;type=file;; x", "/");
    match r {
        LineResult::Entry(e) => {
            assert_eq!((e.kind, e.link_target), (FileKind::File, None));
        }
        other => panic!("{other:?}"),
    }
}
