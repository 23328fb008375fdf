//! Every fault of the bad server, seen from the raw client: timings measured, floods read far
//! enough to be sure they go on, connections checked open or closed as promised.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use super::Client;
use crate::common::badftp::{BadFtp, Fault, ListKind, Rule};

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[test]
fn badftp_trickle_sends_data_and_replies_at_the_rate() {
    let srv = BadFtp::start();
    srv.set_listing(ListKind::Nlst, "/", [b'n'; 30]);
    srv.on("NLST", Fault::Trickle { bytes_per_sec: 20 });
    srv.on("NOOP", Fault::Trickle { bytes_per_sec: 40 });
    let mut c = Client::login(&srv);
    let mut d = c.passive(false);
    assert_eq!(c.cmd("NLST").code, 150, "the 150 is not trickled");
    let t0 = Instant::now();
    let mut buf = [0u8; 64];
    let mut got = 0;
    let mut at_half_second = None;
    while got < 30 {
        let n = d.read(&mut buf).unwrap();
        assert!(n > 0, "EOF after {got} bytes");
        got += n;
        if at_half_second.is_none() && t0.elapsed() >= Duration::from_millis(500) {
            at_half_second = Some(got);
        }
    }
    let took = t0.elapsed();
    assert_eq!(c.reply().code, 226);
    // 30 bytes at 20 B/s: 1.45 s from the first byte.
    assert!(
        (1.2..3.0).contains(&secs(took)),
        "30 bytes took {took:?} at 20 B/s"
    );
    assert!(
        at_half_second.is_some_and(|n| n <= 20),
        "{at_half_second:?} bytes after 0.5 s"
    );
    // "200 NOOP ok.\r\n" is 14 bytes: 0.33 s at 40 B/s.
    let t0 = Instant::now();
    assert_eq!(c.cmd("NOOP").code, 200);
    let took = t0.elapsed();
    assert!((0.25..2.0).contains(&secs(took)), "NOOP took {took:?}");
    let t0 = Instant::now();
    assert_eq!(c.cmd("SYST").code, 215);
    // (At 40 B/s its 19-byte reply would take 0.45 s.)
    assert!(
        t0.elapsed() < Duration::from_millis(400),
        "other commands are quick"
    );
}

#[test]
fn badftp_stall_never_answers_and_keeps_the_connection() {
    let srv = BadFtp::start();
    srv.on("MKD", Fault::Stall);
    let mut c = Client::login(&srv);
    c.send("MKD /x");
    assert!(c.silent_for(Duration::from_millis(600)), "MKD was answered");
    c.send("NOOP");
    assert!(
        c.silent_for(Duration::from_millis(300)),
        "NOOP after a stall was answered"
    );
    assert!(
        srv.wait_for_command("NOOP", Duration::from_secs(2)),
        "later lines are logged"
    );
    assert!(!srv.exists("/x"), "a stalled MKD does nothing");
    assert_eq!(srv.open_connections(), 1);
    // Other connections are not stalled.
    let mut c2 = Client::login(&srv);
    assert_eq!(c2.cmd("NOOP").code, 200);
    let e = srv.log().into_iter().find(|e| e.verb() == "MKD").unwrap();
    assert_eq!(e.fault.as_deref(), Some("Stall"));
}

#[test]
fn badftp_floods_go_on_until_the_client_gives_up() {
    let srv = BadFtp::start();
    srv.on("PWD", Fault::FloodReply);
    srv.on("LIST", Fault::FloodData);
    srv.on("NLST", Fault::FloodLine);
    let mut c = Client::login(&srv);
    // An endless multi-line reply: 4 MB of "123-" lines, never the last line.
    c.send("PWD");
    let mut total = 0;
    while total < 4 << 20 {
        let l = c.line().expect("flood line");
        assert!(l.starts_with(b"123-"), "{:?}", String::from_utf8_lossy(&l));
        total += l.len() + 2;
    }
    drop(c);
    // Endless listing data, line after line.
    let mut c = Client::login(&srv);
    let mut d = c.passive(false);
    assert_eq!(c.cmd("LIST").code, 150);
    let mut buf = vec![0u8; 8 << 20];
    d.read_exact(&mut buf).expect("8 MiB of listing");
    let text = String::from_utf8(buf).unwrap();
    assert!(text.starts_with("-rw-r--r--    1 ftp      ftp             0 Jan 01  2020 flood"));
    assert!(text.matches("\r\n").count() > 100_000);
    drop(d);
    assert_eq!(c.reply().code, 426, "the client closed the data connection");
    // An endless line without a newline.
    let mut d = c.passive(false);
    assert_eq!(c.cmd("NLST").code, 150);
    let mut buf = vec![0u8; 4 << 20];
    d.read_exact(&mut buf).expect("4 MiB of one line");
    assert!(!buf.contains(&b'\n'));
    // ABOR ends it the normal way: 426 then 226.
    c.send("ABOR");
    assert_eq!(c.reply().code, 426);
    assert_eq!(c.reply().code, 226);
    assert_eq!(c.cmd("NOOP").code, 200);
}

#[test]
fn badftp_garbage_raw_reply_close_and_delay() {
    let srv = BadFtp::start();
    srv.on("SYST", Fault::Garbage);
    srv.on("SIZE", Fault::Reply(550, "nope".into()));
    srv.on(
        "NOOP",
        Fault::Raw(b"200-one\r\n200-two\r\n200 three\r\n".to_vec()),
    );
    srv.on("PWD", Fault::Delay(Duration::from_millis(300)));
    srv.on("HELP", Fault::Ignore);
    srv.on("MKD", Fault::CloseAfter(421, "Going away".into()));
    srv.on("RMD", Fault::Close);
    let mut c = Client::login(&srv);
    c.send("SYST");
    let l = c.line().unwrap();
    assert!(!l.first().is_some_and(u8::is_ascii_digit), "{l:?}");
    assert_eq!(c.cmd("SIZE /any").last(), "550 nope");
    assert_eq!(c.cmd("NOOP").lines.len(), 3);
    let t0 = Instant::now();
    assert_eq!(c.cmd("PWD").code, 257, "a delayed reply is the normal one");
    assert!(t0.elapsed() >= Duration::from_millis(300));
    c.send("HELP");
    assert_eq!(c.cmd("NOOP").lines.len(), 3, "HELP was ignored");
    assert_eq!(c.cmd("MKD /d").last(), "421 Going away");
    assert!(c.closed());
    assert!(!srv.exists("/d"));
    let mut c = Client::login(&srv);
    c.send("RMD /");
    assert!(c.closed());
}

#[test]
fn badftp_short_data_sends_part_of_the_file_then_226() {
    let srv = BadFtp::start();
    let body: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    srv.put_file("/f.bin", &body);
    srv.add(Rule::on("RETR", Fault::ShortData { fraction: 0.5 }).path("/f.bin"));
    let mut c = Client::login(&srv);
    assert_eq!(c.fetch("RETR /f.bin"), &body[..500]);
    assert_eq!(c.cmd("REST 100").code, 350);
    assert_eq!(
        c.fetch("RETR f.bin"),
        &body[100..550],
        "half of what was asked for"
    );
    assert_eq!(c.cmd("SIZE /f.bin").last(), "213 1000");
}

#[test]
fn badftp_long_lines_close_like_vsftpd_or_vanish_like_proftpd() {
    let srv = BadFtp::start();
    let id = srv.close_on_long_lines(4096);
    let long = format!("CWD /{}", "a".repeat(5000));
    let mut c = Client::login(&srv);
    assert_eq!(
        c.cmd(format!("CWD /{}", "a".repeat(4000))).code,
        550,
        "short enough"
    );
    assert_eq!(c.cmd(&long).last(), "500 Input line too long.");
    assert!(c.closed());
    assert!(srv.any_longer_than(4096) && !srv.any_longer_than(5005));
    assert_eq!(srv.longest_line(), 5005);
    assert_eq!(srv.hits(id), 1);
    srv.remove(id);
    srv.ignore_long_lines(4096);
    let mut c = Client::login(&srv);
    c.send(&long);
    assert!(
        c.silent_for(Duration::from_millis(500)),
        "the long line was answered"
    );
    assert_eq!(c.cmd("NOOP").code, 200, "the connection goes on");
}

#[test]
fn badftp_connection_limit_and_banner_faults() {
    let srv = BadFtp::start();
    srv.set_max_connections(Some(2));
    let c1 = Client::login(&srv);
    let _c2 = Client::login(&srv);
    let mut c3 = Client::connect(srv.port);
    assert_eq!(c3.reply().last(), "421 Too many connections.");
    assert!(c3.closed());
    assert_eq!(srv.refused_connections(), 1);
    assert_eq!(srv.open_connections(), 2);
    drop(c1);
    let end = Instant::now() + Duration::from_secs(2);
    while srv.open_connections() > 1 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _c4 = Client::login(&srv);
    assert_eq!(srv.peak_connections(), 2);
    srv.set_max_connections(None);
    // The greeting: 421 for the next connection only, then a slow one.
    srv.add(
        Rule::on(
            "BANNER",
            Fault::CloseAfter(421, "Service not available".into()),
        )
        .nth(1),
    );
    let mut c = Client::connect(srv.port);
    assert_eq!(c.reply().code, 421);
    assert!(c.closed());
    srv.clear_faults();
    srv.on("BANNER", Fault::Stall);
    let mut c = Client::connect(srv.port);
    assert!(c.silent_for(Duration::from_millis(300)));
    srv.clear_faults();
    let mut c = Client::connect(srv.port);
    assert_eq!(c.reply().code, 220);
}

#[test]
fn badftp_rules_match_by_argument_path_and_occurrence() {
    let srv = BadFtp::start();
    srv.put_file("/a/f", "1");
    srv.mkdir("/slow");
    let nth = srv.add(Rule::on("SIZE", Fault::Reply(550, "second".into())).nth(2));
    srv.add(Rule::on("size", Fault::Reply(550, "containing g".into())).arg_contains("g"));
    srv.add(Rule::on("LIST", Fault::Reply(450, "slow dir".into())).path("/slow"));
    srv.add(Rule::on("LIST", Fault::Reply(501, "no -a".into())).arg("-a"));
    srv.add(
        Rule::on("NOOP", Fault::Reply(421, "late".into()))
            .after(2)
            .times(1),
    );
    let mut c = Client::login(&srv);
    assert_eq!(c.cmd("SIZE /a/f").code, 213);
    assert_eq!(c.cmd("SIZE /a/f").last(), "550 second");
    assert_eq!(c.cmd("SIZE /a/f").code, 213);
    assert_eq!(c.cmd("SIZE /a/g").last(), "550 containing g");
    assert_eq!(srv.hits(nth), 1);
    assert_eq!(c.cmd("CWD /slow").code, 250);
    assert_eq!(
        c.cmd("LIST").last(),
        "450 slow dir",
        "LIST without a path: the cwd"
    );
    assert_eq!(
        c.cmd("LIST -a").last(),
        "450 slow dir",
        "the first matching rule wins"
    );
    assert_eq!(c.cmd("CWD /a").code, 250);
    assert_eq!(c.cmd("LIST -a").last(), "501 no -a");
    assert_eq!(c.fetch("LIST"), c.fetch("LIST /a"));
    let codes: Vec<u32> = (0..4).map(|_| c.cmd("NOOP").code).collect();
    assert_eq!(codes, [200, 200, 421, 200]);
    let faulted: Vec<_> = srv
        .log()
        .into_iter()
        .filter(|e| e.fault.is_some())
        .collect();
    assert_eq!(faulted.len(), 6, "{faulted:?}");
}

#[test]
fn badftp_abor_during_a_slow_download_and_a_stalled_upload() {
    let srv = BadFtp::start();
    srv.put_file("/big", vec![7u8; 100_000]);
    srv.on(
        "RETR",
        Fault::Trickle {
            bytes_per_sec: 2000,
        },
    );
    srv.on("STOR", Fault::StallData);
    let mut c = Client::login(&srv);
    let mut d = c.passive(false);
    assert_eq!(c.cmd("RETR /big").code, 150);
    let mut buf = [0u8; 100];
    d.read_exact(&mut buf).unwrap();
    c.send("ABOR");
    assert_eq!(c.reply().code, 426);
    assert_eq!(c.reply().code, 226);
    drop(d);
    let mut d = c.passive(false);
    assert_eq!(c.cmd("STOR /up").code, 150);
    d.write_all(b"some bytes").unwrap();
    assert!(
        c.silent_for(Duration::from_millis(300)),
        "a stalled upload never ends"
    );
    c.send("ABOR");
    assert_eq!(c.reply().code, 426);
    assert_eq!(c.reply().code, 226);
    assert_eq!(c.cmd("NOOP").code, 200);
    assert_eq!(srv.file("/up").unwrap(), b"", "nothing was read");
}

#[test]
fn badftp_drop_is_quick_while_clients_are_stuck() {
    let srv = BadFtp::start();
    srv.put_file("/f", vec![1u8; 10_000]);
    srv.on("MKD", Fault::Stall);
    srv.on("PWD", Fault::FloodReply);
    srv.on("RETR", Fault::Trickle { bytes_per_sec: 1 });
    srv.on("NOOP", Fault::Delay(Duration::from_secs(60)));
    let mut stalled = Client::login(&srv);
    stalled.send("MKD /x");
    let mut flooded = Client::login(&srv);
    flooded.send("PWD");
    let mut slow = Client::login(&srv);
    let _d = slow.passive(false);
    slow.send("RETR /f");
    let mut delayed = Client::login(&srv);
    delayed.send("NOOP");
    assert!(srv.wait_for_command("NOOP", Duration::from_secs(2)));
    std::thread::sleep(Duration::from_millis(200));
    let port = srv.port;
    let t0 = Instant::now();
    drop(srv);
    let took = t0.elapsed();
    assert!(took < Duration::from_millis(1500), "drop took {took:?}");
    assert!(
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(),
        "the listening socket is closed"
    );
    assert!(stalled.closed(), "a stalled connection is closed at drop");
    assert!(delayed.closed());
}

#[test]
fn badftp_drip_and_substitute_data() {
    let srv = BadFtp::start();
    srv.put_file("/f", "real content");
    srv.on("NOOP", Fault::Drip(Duration::from_millis(50)));
    srv.add(Rule::on("RETR", Fault::Data(b"other bytes".to_vec())).nth(1));
    srv.add(Rule::on("NLST", Fault::Data(b"ghost\r\n".to_vec())));
    let mut c = Client::login(&srv);
    // "200 NOOP ok.\r\n": 14 bytes, one every 50 ms: 0.65 s.
    let t0 = Instant::now();
    assert_eq!(c.cmd("NOOP").code, 200);
    let took = t0.elapsed();
    assert!((0.55..2.0).contains(&secs(took)), "NOOP took {took:?}");
    assert_eq!(c.fetch("RETR /f"), b"other bytes");
    assert_eq!(c.fetch("RETR /f"), b"real content", "only the first RETR");
    assert_eq!(c.fetch("NLST"), b"ghost\r\n");
    assert_eq!(srv.names("/"), vec![b"f".to_vec()]);
}

#[test]
fn badftp_abor_during_a_transfer_obeys_its_rules() {
    let srv = BadFtp::start();
    let body = vec![3u8; 10_000];
    srv.put_file("/f", &body);
    srv.on(
        "RETR",
        Fault::Trickle {
            bytes_per_sec: 20_000,
        },
    );
    let ignore = srv.add(Rule::on("ABOR", Fault::Ignore).nth(1));
    srv.add(Rule::on("ABOR", Fault::Stall).nth(2));
    let mut c = Client::login(&srv);
    // Ignored: the whole file comes, then 226, and the ABOR is never answered.
    let mut d = c.passive(false);
    assert_eq!(c.cmd("RETR /f").code, 150);
    let mut got = vec![0u8; 100];
    d.read_exact(&mut got).unwrap();
    c.send("ABOR");
    d.read_to_end(&mut got).unwrap();
    assert_eq!(got, body, "the transfer went on");
    assert_eq!(c.reply().code, 226);
    assert_eq!(c.cmd("NOOP").code, 200);
    assert_eq!(srv.hits(ignore), 1);
    // Stalled: no 426, no 226, nothing any more.
    let mut d = c.passive(false);
    assert_eq!(c.cmd("RETR /f").code, 150);
    d.read_exact(&mut [0u8; 100]).unwrap();
    c.send("ABOR");
    assert!(c.silent_for(Duration::from_millis(400)));
    let aborts: Vec<_> = srv
        .log()
        .into_iter()
        .filter(|e| e.verb() == "ABOR")
        .collect();
    assert_eq!(aborts.len(), 2);
    assert_eq!(aborts[0].fault.as_deref(), Some("Ignore"));
    assert_eq!(aborts[1].fault.as_deref(), Some("Stall"));
}
