//! Bounded input: a listing of one endless line, an endless listing, an endless multi-line
//! reply and a garbage reply each fail the request with EIO, quickly, with what the server
//! sent in the log, while the daemon's memory stays small; the mount works afterwards.

use std::time::Duration;

use super::{assert_memory_under, assert_within, deadline, errno, still_works, timed, timeout_opt};
use crate::common::badftp::{Fault, Features, Rule};
use crate::mount::harness::Mount;

fn flooded_listing(features: Features, verb: &str, fault: Fault, opts: &[&str], expect: &str) {
    let srv = super::server();
    srv.set_features(features);
    srv.mkdir("/flood");
    srv.add(Rule::on(verb, fault.clone()).path("/flood"));
    let mut o = vec![timeout_opt()];
    o.extend(opts.iter().map(|s| s.to_string()));
    let o: Vec<&str> = o.iter().map(String::as_str).collect();
    let m = Mount::of_bad(&srv, &o);
    let dir = m.p("flood");
    let (r, took) = timed(&format!("ls flood ({verb} {fault:?})"), move || {
        std::fs::read_dir(dir).map(|d| d.count())
    });
    assert_eq!(errno("ls of a flooded listing", r), libc::EIO);
    assert_within("ls of a flooded listing", took, deadline(), &m);
    let log = m.log();
    assert!(
        log.contains(expect),
        "the log does not say {expect:?}:\n{log}"
    );
    assert_memory_under("flooded listing", &m, 96);
    still_works(&m, &srv);
}

#[test]
fn a_listing_of_one_endless_line_fails_with_eio_in_bounded_memory_mlsd() {
    flooded_listing(
        Features::default(),
        "MLSD",
        Fault::FloodLine,
        &[],
        "xxxxxxxx",
    );
}

#[test]
fn a_listing_of_one_endless_line_fails_with_eio_in_bounded_memory_list() {
    flooded_listing(
        Features::vsftpd(),
        "LIST",
        Fault::FloodLine,
        &[],
        "xxxxxxxx",
    );
}

#[test]
fn an_endless_listing_fails_at_dir_max_entries_in_bounded_memory() {
    flooded_listing(
        Features::default(),
        "MLSD",
        Fault::FloodData,
        &["dir_max_entries=100000"],
        "dir_max_entries",
    );
}

#[test]
fn an_endless_reply_fails_with_eio_in_bounded_memory() {
    let srv = super::server();
    let m = Mount::of_bad(&srv, &[&timeout_opt()]);
    srv.add(Rule::on("MKD", Fault::FloodReply).nth(1));
    let p = m.p("flooded");
    let (r, took) = timed("mkdir (endless reply)", move || std::fs::create_dir(p));
    assert_eq!(errno("mkdir answered by an endless reply", r), libc::EIO);
    assert_within("mkdir (endless reply)", took, deadline(), &m);
    assert!(m.log().contains("flood line"), "{}", m.log());
    assert_memory_under("endless reply", &m, 64);
    still_works(&m, &srv);
}

#[test]
fn a_garbage_reply_fails_with_eio_and_the_connection_is_not_reused() {
    let srv = super::server();
    let m = Mount::of_bad(&srv, &[&timeout_opt(), "connections=1"]);
    srv.add(Rule::on("MKD", Fault::Garbage).nth(1));
    let p = m.p("garbled");
    let (r, took) = timed("mkdir (garbage reply)", move || std::fs::create_dir(p));
    assert_eq!(errno("mkdir answered with garbage", r), libc::EIO);
    assert_within("mkdir (garbage reply)", took, deadline(), &m);
    still_works(&m, &srv);
}

/// With the defaults (dir_max_entries=1000000): the listing fails at the millionth entry,
/// the daemon's peak stays near the documented cost of a million cached entries, and the
/// memory goes back once the listing is dropped.
#[test]
fn an_endless_listing_fails_at_the_default_cap_in_bounded_memory() {
    let srv = super::server();
    srv.mkdir("/flood");
    srv.add(Rule::on("MLSD", Fault::FloodData).path("/flood"));
    let m = Mount::of_bad(&srv, &[&timeout_opt()]);
    let dir = m.p("flood");
    let (r, took) = timed("ls of an endless listing (default cap)", move || {
        std::fs::read_dir(dir).map(|d| d.count())
    });
    assert_eq!(errno("ls of an endless listing", r), libc::EIO);
    assert_within(
        "ls of an endless listing",
        took,
        Duration::from_secs(30),
        &m,
    );
    assert!(
        m.log()
            .contains("more than 1000000 entries (-o dir_max_entries)")
    );
    assert_memory_under("endless listing, default cap", &m, 192);
    let (rss, _) = super::memory(&m);
    assert!(
        rss < 96 * 1024,
        "{} MiB kept after the failed listing",
        rss / 1024
    );
    still_works(&m, &srv);
}
