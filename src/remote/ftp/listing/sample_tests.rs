//! Runs the collected samples of `samples.rs` through the parsers and reports the fraction
//! parsed correctly (`cargo test --lib listing::sample_tests -- --nocapture` prints it per
//! source). All 278 are right. The parser before this module (commit 529d2be) got 154 right
//! (55 %): 29 of its misses were only the year of a year-less date (its rule allowed up to 180
//! days in the future; 183 right, 66 %, counting those), the rest lines it could not read at
//! all (localised and numeric dates, glued or missing columns, Netware, EPLF, MLSD variants) or
//! full-path MLSD names it passed on with their `/`. Caveat: the expectations were written
//! while the new parsers were built, so 100 % measures coverage of these samples, not of
//! servers never seen.

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::date::{civil_to_secs, secs_to_system_time, system_time_to_secs};
use super::samples::{LIST, MLSD, MLSD_DIR, NOW, Sample};
use super::*;

/// `"YYYY-MM-DD HH:MM[:SS]"` UTC to Unix seconds.
fn t(s: &str) -> i64 {
    let n: Vec<i64> = s
        .split(['-', ' ', ':'])
        .map(|p| p.parse().expect("number"))
        .collect();
    let u = |i: usize| u32::try_from(n[i]).expect("small");
    let sec = if n.len() > 5 { u(5) } else { 0 };
    civil_to_secs(n[0], u(1), u(2), u(3), u(4), sec).expect("valid date")
}

fn now() -> SystemTime {
    secs_to_system_time(t(NOW))
}

/// Why a sample's result is wrong, or `None` when it is right.
pub(super) fn mismatch(s: &Sample, got: Option<RemoteEntry>) -> Option<String> {
    let (_, _, name, kind, size, mtime, target) = *s;
    let Some(e) = got else {
        return (kind != '-').then(|| "no entry".to_string());
    };
    if kind == '-' {
        return Some(format!("an entry: {e:?}"));
    }
    let kind = match kind {
        'd' => FileKind::Dir,
        'l' => FileKind::Symlink,
        _ => FileKind::File,
    };
    let want_mtime = (!mtime.is_empty()).then(|| t(mtime));
    let got_mtime = e.mtime.map(system_time_to_secs);
    let want_target = (!target.is_empty()).then_some(target);
    let ok = e.name == name
        && e.kind == kind
        && e.size == size
        && got_mtime == want_mtime
        && e.link_target.as_deref() == want_target;
    (!ok).then(|| format!("got {e:?}"))
}

/// A line parser as the scorer sees it.
type Parser<'a> = dyn Fn(&str) -> Option<RemoteEntry> + 'a;

/// Runs `list` over the LIST samples and `mlsd` over the MLSD ones; returns the number
/// right, per source, and the failures.
pub(super) fn score(
    list: impl Fn(&str) -> Option<RemoteEntry>,
    mlsd: impl Fn(&str) -> Option<RemoteEntry>,
) -> (usize, BTreeMap<&'static str, (usize, usize)>, Vec<String>) {
    let mut per_source = BTreeMap::new();
    let mut failures = Vec::new();
    let mut right = 0;
    let runs: [(&[Sample], &Parser); 2] = [(LIST, &list), (MLSD, &mlsd)];
    for (samples, parse) in runs {
        for s in samples {
            let slot = per_source.entry(s.0).or_insert((0, 0));
            slot.1 += 1;
            match mismatch(s, parse(s.1)) {
                None => {
                    right += 1;
                    slot.0 += 1;
                }
                Some(why) => failures.push(format!("[{}] {:?}: {why}", s.0, s.1)),
            }
        }
    }
    (right, per_source, failures)
}

fn entry_only(r: LineResult) -> Option<RemoteEntry> {
    match r {
        LineResult::Entry(e) => Some(e),
        _ => None,
    }
}

#[test]
fn every_collected_sample_parses_as_expected() {
    let (right, per_source, failures) = score(
        |l| entry_only(parse_list_line(l, now())),
        |l| entry_only(parse_mlsd_line(l, MLSD_DIR)),
    );
    let total = LIST.len() + MLSD.len();
    eprintln!("samples right: {right}/{total}");
    for (src, (ok, n)) in &per_source {
        eprintln!("  {src:8} {ok:3}/{n}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_whole_listing_of_samples_reports_what_it_skipped() {
    // As one listing: every LIST sample meant to be an entry is one, `total` lines are
    // skipped, and the first line that did not parse is kept.
    let lines: Vec<&str> = LIST.iter().map(|s| s.1).collect();
    let listing = parse_list(&lines, now());
    let r = &listing.report;
    let want_entries = LIST.iter().filter(|s| s.3 != '-').count();
    assert_eq!(listing.entries.len(), want_entries);
    assert_eq!(r.lines, r.entries + r.skipped + r.unparsed);
    assert_eq!(r.skipped, 3, "{r:?}"); // total 1, insgesamt 0, total 871
    let first_bad = LIST.iter().find(|s| s.3 == '-').map(|s| s.1);
    assert_eq!(r.first_unparsed.as_deref(), first_bad);
    assert!(!r.not_understood());

    let lines: Vec<&str> = MLSD.iter().map(|s| s.1).collect();
    let listing = parse_mlsd(&lines, MLSD_DIR);
    let r = &listing.report;
    assert_eq!(
        listing.entries.len(),
        MLSD.iter().filter(|s| s.3 != '-').count()
    );
    // `/empty/fact`, `/empty/size` (not in /no) and `www.cromite.org/fdroid`.
    assert_eq!(r.left_out, 3, "{r:?}");
    let first = r.first_left_out.as_ref().expect("left out");
    assert_eq!(
        (first.name.as_str(), first.problem),
        ("/empty/fact", NameProblem::Slash)
    );
}
