//! Connections the server closed never serve another request: vsftpd's `500 Input line too
//! long.` followed by a close, a `421` followed by a close (the request is retried once on a
//! fresh connection), idle connections the server dropped; proftpd's silence for an
//! over-long line costs one timeout, and the next request works.

use std::time::Duration;

use super::{assert_within, deadline, errno, mkdir_at, still_works, timed, timeout_opt, walk};
use crate::common::badftp::{BadFtp, Fault, Rule};
use crate::mount::harness::Mount;

/// Two directories with 250-byte names: a command on a new name inside the second one is
/// about 760 bytes long.
fn deep_tree(srv: &BadFtp) -> Vec<String> {
    let comps: Vec<String> = (0..2).map(|i| format!("{i}").repeat(250)).collect();
    srv.mkdir(format!("/{}", comps.join("/")));
    comps
}

/// The connections (ids) that sent a command line starting with `prefix`.
fn conns_of(srv: &BadFtp, prefix: &str) -> Vec<u64> {
    srv.log()
        .iter()
        .filter(|e| e.line.starts_with(prefix.as_bytes()))
        .map(|e| e.conn)
        .collect()
}

#[test]
fn a_connection_closed_after_500_line_too_long_is_never_reused() {
    let srv = super::server();
    let comps = deep_tree(&srv);
    let m = Mount::of_bad(&srv, &[&timeout_opt(), "connections=2"]);
    srv.close_on_long_lines(700);
    let base = m.path.clone();
    let name = "n".repeat(250);
    let (r, took) = timed("mkdir of a ~760-byte path (vsftpd closes)", move || {
        let dir = walk(&base, &comps)?;
        mkdir_at(&dir, &name)
    });
    assert_eq!(errno("mkdir of an over-long line", r), libc::ENAMETOOLONG);
    assert_within("mkdir of an over-long line", took, deadline(), &m);
    let closed = srv
        .log()
        .iter()
        .find(|e| e.len > 700)
        .map(|e| e.conn)
        .expect("the long line reached the server");
    // The next, unrelated requests work, on other connections.
    for i in 0..3 {
        let p = m.p(&format!("short{i}"));
        let (r, took) = timed("mkdir short", move || std::fs::create_dir(p));
        r.expect("an unrelated mkdir after the server closed a connection");
        assert_within("mkdir short", took, deadline(), &m);
    }
    assert!(
        !conns_of(&srv, "MKD /short").contains(&closed),
        "a closed connection was used again: {:?}",
        srv.commands()
    );
    still_works(&m, &srv);
}

#[test]
fn a_421_reply_is_retried_once_on_a_fresh_connection() {
    let srv = super::server();
    let m = Mount::of_bad(&srv, &[&timeout_opt()]);
    srv.add(
        Rule::on(
            "MKD",
            Fault::CloseAfter(
                421,
                "Service not available, closing control connection.".into(),
            ),
        )
        .nth(1),
    );
    let p = m.p("made");
    let (r, took) = timed("mkdir (first answer 421 + close)", move || {
        std::fs::create_dir(p)
    });
    r.expect("mkdir retried on a fresh connection");
    assert_within("mkdir after 421", took, deadline(), &m);
    assert!(srv.is_dir("/made"));
    let conns = conns_of(&srv, "MKD /made");
    assert_eq!(conns.len(), 2, "{:?}", srv.commands());
    assert_ne!(conns[0], conns[1]);
    still_works(&m, &srv);
}

#[test]
fn idle_connections_the_server_dropped_are_not_used() {
    let srv = super::server();
    srv.put_file("/a/f", "x");
    let m = Mount::of_bad(&srv, &[&timeout_opt(), "dir_cache_ttl=0"]);
    assert_eq!(m.sh("cat a/f"), "x");
    srv.cut();
    for i in 0..4 {
        let p = m.p(&format!("after-cut-{i}"));
        let (r, took) = timed(
            "mkdir after the server dropped every connection",
            move || std::fs::create_dir(p),
        );
        r.expect("mkdir on a fresh connection");
        assert!(took < Duration::from_secs(2), "took {took:?}");
    }
    assert_eq!(m.sh("cat a/f"), "x");
    still_works(&m, &srv);
}

#[test]
fn a_command_line_the_server_ignores_costs_one_timeout_and_the_next_request_works() {
    let srv = super::server();
    let comps = deep_tree(&srv);
    let m = Mount::of_bad(&srv, &[&timeout_opt(), "connections=2"]);
    srv.ignore_long_lines(700);
    let base = m.path.clone();
    let name = "n".repeat(250);
    let (r, took) = timed("mkdir of a ~760-byte path (proftpd ignores)", move || {
        let dir = walk(&base, &comps)?;
        mkdir_at(&dir, &name)
    });
    assert_eq!(errno("mkdir of an ignored line", r), libc::ETIMEDOUT);
    assert_within("mkdir of an ignored line", took, deadline(), &m);
    let p = m.p("short");
    let (r, took) = timed("mkdir short", move || std::fs::create_dir(p));
    r.expect("an unrelated mkdir after an ignored line");
    assert_within("mkdir short", took, Duration::from_secs(2), &m);
    still_works(&m, &srv);
}
