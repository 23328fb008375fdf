//! Every request ends within `timeout` plus a margin when the server stops making progress:
//! a listing trickling at 1 B/s, a reply dripping one byte every 2 s, a transfer command the
//! server never answers, a download whose data stops, an upload never answered, and a server
//! that stops answering anything at all (new connections included).

use std::io::{Read, Write};
use std::time::Duration;

use super::{
    TIMEOUT, assert_memory_under, assert_within, deadline, errno, still_works, timed, timeout_opt,
};
use crate::common::badftp::{Fault, Features, Rule};
use crate::mount::harness::Mount;

fn trickling_listing(features: Features, verb: &str) {
    let srv = super::server();
    srv.set_features(features);
    srv.put_file("/slow/f.txt", "x");
    srv.add(Rule::on(verb, Fault::Trickle { bytes_per_sec: 1 }).path("/slow"));
    let m = Mount::of_bad(&srv, &[&timeout_opt()]);
    let dir = m.p("slow");
    let (r, took) = timed(&format!("ls slow ({verb} at 1 B/s)"), move || {
        std::fs::read_dir(dir).map(|d| d.count())
    });
    assert_eq!(errno("ls of a trickling listing", r), libc::ETIMEDOUT);
    assert_within("ls of a trickling listing", took, deadline(), &m);
    assert!(
        took >= Duration::from_secs(TIMEOUT) - Duration::from_millis(500),
        "gave up after {took:?}, before the timeout"
    );
    assert!(m.log().contains("slow"), "the log names the listing");
    assert_memory_under("trickling listing", &m, 64);
    still_works(&m, &srv);
}

#[test]
fn a_listing_trickling_at_1_byte_per_second_ends_within_the_timeout_mlsd() {
    trickling_listing(Features::default(), "MLSD");
}

#[test]
fn a_listing_trickling_at_1_byte_per_second_ends_within_the_timeout_list() {
    trickling_listing(Features::vsftpd(), "LIST");
}

#[test]
fn a_reply_dripping_a_byte_every_2_s_ends_within_the_timeout() {
    let srv = super::server();
    let m = Mount::of_bad(&srv, &[&timeout_opt()]);
    srv.on("MKD", Fault::Drip(Duration::from_secs(2)));
    let p = m.p("dripping");
    let (r, took) = timed("mkdir (reply dripping)", move || std::fs::create_dir(p));
    assert_eq!(errno("mkdir with a dripping reply", r), libc::ETIMEDOUT);
    assert_within("mkdir with a dripping reply", took, deadline(), &m);
    still_works(&m, &srv);
}

#[test]
fn a_download_the_server_never_answers_ends_within_the_timeout() {
    let srv = super::server();
    srv.put_file("/f.bin", vec![7u8; 100_000]);
    let m = Mount::of_bad(&srv, &[&timeout_opt()]);
    srv.on("RETR", Fault::Stall);
    let p = m.p("f.bin");
    let (r, took) = timed("cat (RETR never answered)", move || std::fs::read(p));
    let e = errno("cat of a file whose RETR is never answered", r);
    assert!(e == libc::ETIMEDOUT || e == libc::EIO, "errno {e}");
    assert_within("cat (RETR never answered)", took, deadline(), &m);
    still_works(&m, &srv);
}

#[test]
fn a_download_whose_data_stops_ends_within_the_timeout() {
    let srv = super::server();
    srv.put_file("/f.bin", vec![7u8; 100_000]);
    let m = Mount::of_bad(&srv, &[&timeout_opt()]);
    srv.on("RETR", Fault::StallData);
    let p = m.p("f.bin");
    let (r, took) = timed("cat (data stops after 150)", move || std::fs::read(p));
    assert_eq!(
        errno("cat of a file whose data never comes", r),
        libc::ETIMEDOUT
    );
    assert_within("cat (data stops after 150)", took, deadline(), &m);
    still_works(&m, &srv);
}

#[test]
fn an_upload_the_server_never_answers_ends_within_the_timeout() {
    let srv = super::server();
    let m = Mount::of_bad(&srv, &[&timeout_opt()]);
    srv.on("STOR", Fault::Stall);
    let p = m.p("up.bin");
    let (r, took) = timed("cp into the mount (STOR never answered)", move || {
        let mut f = std::fs::File::create(p)?;
        f.write_all(&[1u8; 200_000])?;
        f.sync_all()
    });
    let e = errno("an upload whose STOR is never answered", r);
    assert!(e == libc::ETIMEDOUT || e == libc::EIO, "errno {e}");
    assert_within("upload (STOR never answered)", took, deadline(), &m);
    still_works(&m, &srv);
}

/// The server stops answering anything, new connections included (no greeting): a burst of
/// parallel requests, which need more connections than the pool holds, all end in time.
#[test]
fn a_server_that_stops_answering_fails_every_request_within_the_timeout() {
    let srv = super::server();
    for i in 0..6 {
        srv.put_file(format!("/d{i}/f"), "x");
    }
    srv.put_file("/f.bin", vec![1u8; 50_000]);
    let m = Mount::of_bad(&srv, &[&timeout_opt(), "connections=4"]);
    srv.on("BANNER", Fault::Stall);
    srv.on("*", Fault::Stall);
    let mut jobs = vec![];
    for i in 0..6 {
        let p = m.p(&format!("d{i}"));
        jobs.push(std::thread::spawn(move || {
            timed(&format!("ls d{i} (dead server)"), move || {
                std::fs::read_dir(p).map(|d| d.count())
            })
        }));
    }
    let p = m.p("f.bin");
    jobs.push(std::thread::spawn(move || {
        timed("cat f.bin (dead server)", move || {
            let mut s = Vec::new();
            std::fs::File::open(p)?.read_to_end(&mut s)
        })
    }));
    for j in jobs {
        let (r, took) = j.join().expect("join");
        let e = errno("a request to a dead server", r);
        assert!(e == libc::ETIMEDOUT || e == libc::EIO, "errno {e}");
        assert_within("a request to a dead server", took, deadline(), &m);
    }
    still_works(&m, &srv);
}
