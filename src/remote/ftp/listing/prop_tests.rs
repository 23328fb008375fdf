//! Property tests: generated lines round-trip through the parsers, and arbitrary input never
//! makes a parser panic or take more than linear time.

use std::time::{Instant, SystemTime};

use proptest::prelude::*;

use super::date::{civil_to_secs, secs_to_system_time};
use super::*;

fn at(secs: i64) -> SystemTime {
    secs_to_system_time(secs)
}

fn captured_now() -> SystemTime {
    at(civil_to_secs(2026, 11, 22, 23, 40, 0).expect("valid"))
}

fn entry_of(r: LineResult) -> RemoteEntry {
    match r {
        LineResult::Entry(e) => e,
        other => panic!("not an entry: {other:?}"),
    }
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
        (hh, mm, age_secs) in (0u32..24, 0u32..60, -2 * 86_400i64..360 * 86_400),
    ) {
        let mon = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
            "Nov", "Dec"][month as usize - 1];
        let line = format!("-rw-r--r--   1 o  g {size:>12} {mon} {day:2}  {year} {list_name}\r");
        let e = entry_of(parse_list_line(&line, captured_now()));
        let midnight = civil_to_secs(year, month, day, 0, 0, 0).map(at);
        prop_assert_eq!((&e.name, e.size, e.mtime), (&list_name, size, midnight));

        let when = civil_to_secs(year, month, day, hh, mm, 0).expect("valid");
        let line = format!("drwxr-xr-x 2 0 0 {size} {mon} {day:02} {hh:02}:{mm:02} {list_name}");
        let e = entry_of(parse_list_line(&line, at(when + age_secs)));
        prop_assert_eq!((&e.name, e.size, e.kind), (&list_name, size, FileKind::Dir));
        prop_assert_eq!(e.mtime, Some(at(when)));

        let stamp = format!("{year:04}{month:02}{day:02}{hh:02}{mm:02}00");
        let line = format!("type=file;size={size};modify={stamp};perm=r; {mlsd_name}\r\n");
        let e = entry_of(parse_mlsd_line(&line, "/"));
        prop_assert_eq!((&e.name, e.size, e.mtime), (&mlsd_name, size, Some(at(when))));
    }
}

/// Lines made of the pieces listings are made of, to reach deep into the parsers.
fn listing_noise() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        " ",
        "  ",
        "\t",
        "-rw-r--r--",
        "drwxr-xr-x+",
        "lrwxrwxrwx",
        "crw-------",
        "1",
        "0,",
        "12",
        "2024",
        "1999",
        "Jan",
        "mär",
        "5.",
        "3月",
        "15日",
        "2024年",
        "10:00",
        "24:00",
        "12:08PM",
        "AM",
        "<DIR>",
        "9,730",
        "33.5k",
        "05-22-97",
        "2005-06-07",
        "01-jun-99",
        " -> ",
        "/",
        ";",
        "type=file;",
        "type=OS.unix=slink:",
        "modify=20261120100000.5;",
        "size=",
        "UNIX.mode=0o7",
        "; ",
        "+i1,m825718503,/,",
        "x",
        "é",
        "\u{0}",
        "\r",
        "total",
        "+m9223372036854775807,r,\t",
        "+m-9223372036854775808,/,\t",
    ]);
    prop::collection::vec(pieces, 0..24).prop_map(|v| v.concat())
}

/// The invariants every result holds, whatever the input.
fn check_invariants(r: &LineResult) {
    match r {
        LineResult::Entry(e) => {
            assert!(!matches!(e.name.as_str(), "" | "." | ".."), "{e:?}");
            assert_eq!(name_problem(&e.name), None, "{e:?}");
            assert!(
                e.link_target.is_none() || e.kind == FileKind::Symlink,
                "{e:?}"
            );
            assert!(e.mode.is_none_or(|m| m <= 0o7777), "{e:?}");
        }
        LineResult::LeftOut(e, problem) => assert_eq!(name_problem(&e.name), Some(*problem)),
        LineResult::Skipped | LineResult::Unparsed => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_lines_never_panic(line in any::<String>(), noise in listing_noise()) {
        for line in [line.as_str(), noise.as_str()] {
            for now in [i64::MIN, -1, 0, 1_795_168_800, i64::MAX] {
                check_invariants(&parse_list_line(line, at(now.clamp(-1 << 40, 1 << 40))));
            }
            check_invariants(&parse_mlsd_line(line, "/"));
            check_invariants(&parse_mlsd_line(line, ""));
        }
    }
}

#[test]
fn extreme_clocks_do_not_overflow() {
    for secs in [u64::MAX / 2, 1 << 40, 0] {
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        check_invariants(&parse_list_line("-rw-r--r-- 1 u g 1 Feb 29 10:00 f", now));
        check_invariants(&parse_list_line("-rw-r--r-- 1 u g 1 Feb 29  9999 f", now));
    }
}

#[test]
fn over_long_lines_are_unparsed() {
    let name = "n".repeat(MAX_LINE_BYTES);
    let line = format!("-rw-r--r-- 1 u g 1 Nov 20 10:00 {name}");
    assert_eq!(parse_list_line(&line, captured_now()), LineResult::Unparsed);
    let line = format!("type=file; {name}");
    assert_eq!(parse_mlsd_line(&line, "/"), LineResult::Unparsed);
    // Below the cap a long name parses, and is left out for its length.
    let line = format!("type=file; {}", "n".repeat(300));
    assert!(matches!(
        parse_mlsd_line(&line, "/"),
        LineResult::LeftOut(_, NameProblem::TooLong)
    ));
}

/// Adversarial input: lines of fields that each almost start a date, or one long run of
/// fact-like text, at the line cap. Parsing looks at a bounded number of fields per line and
/// scans the line a bounded number of times, so time is linear in the input: 8 MiB of it
/// parse in well under the bound even in a debug build on a loaded machine.
#[test]
fn parsing_time_is_linear_in_the_input() {
    let unix = "-rw-r--r-- ".to_string() + &"1 Jan 1 2-3 1. 3月 ".repeat(2000);
    let facts = "type=file;".repeat(6000) + " x";
    let dos = "05-22-97  12:08AM ".repeat(3000);
    for line in [&unix, &facts, &dos] {
        assert!(line.len() < MAX_LINE_BYTES && line.len() > MAX_LINE_BYTES / 2);
    }
    let lines: Vec<&String> = [&unix, &facts, &dos]
        .into_iter()
        .cycle()
        .take(3 * 64)
        .collect();
    let start = Instant::now();
    let list = parse_list(&lines, captured_now());
    let mlsd = parse_mlsd(&lines, "/");
    let took = start.elapsed();
    assert_eq!(list.report.lines + mlsd.report.lines, 2 * lines.len());
    assert!(took < std::time::Duration::from_secs(20), "took {took:?}");
}

#[test]
fn eplf_times_out_of_range_are_refused() {
    for line in [
        "+m9223372036854775807,r,\tx",
        "+m-9223372036854775808,/,\tx",
    ] {
        assert_eq!(parse_list_line(line, captured_now()), LineResult::Unparsed);
    }
    assert_eq!(secs_to_system_time(i64::MAX), secs_to_system_time(i64::MAX));
}
