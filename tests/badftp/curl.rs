//! The bad server against a real, independent client: curl (uploads, downloads, listings in
//! every data-connection mode; curl's own verdict on short data, 421 and non-UTF-8 names).

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::badftp::{BadFtp, Fault, ListKind};

/// `curl -sS --max-time 10 ARGS… URL`, where `path` is appended to the server's URL with
/// the login in it.
fn curl(srv: &BadFtp, path: &str, args: &[&str]) -> Output {
    let url = format!(
        "ftp://{}:{}@127.0.0.1:{}/{path}",
        srv.user, srv.password, srv.port
    );
    Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .arg(url)
        .output()
        .expect("curl (installed on the test machine)")
}

fn ok(out: Output) -> Vec<u8> {
    assert!(
        out.status.success(),
        "curl failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn badftp_curl_uploads_downloads_and_lists_in_every_mode() {
    let srv = BadFtp::start();
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("in.bin");
    let body: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&local, &body).unwrap();
    let up = local.to_str().unwrap();
    ok(curl(&srv, "up/in.bin", &["-T", up, "--ftp-create-dirs"]));
    assert_eq!(srv.file("/up/in.bin").unwrap(), body);
    let modes: [&[&str]; 4] = [
        &[],
        &["--disable-epsv"],
        &["-P", "127.0.0.1"],
        &["-P", "127.0.0.1", "--disable-eprt"],
    ];
    for mode in modes {
        assert_eq!(ok(curl(&srv, "up/in.bin", mode)), body, "{mode:?}");
        let list = String::from_utf8(ok(curl(&srv, "up/", mode))).unwrap();
        assert!(list.contains(" 300000 "), "{list:?}");
        assert!(list.trim_end().ends_with("in.bin"), "{list:?}");
    }
    for verb in ["EPSV", "PASV", "EPRT", "PORT", "STOR", "MKD"] {
        assert!(srv.count(verb) >= 1, "{verb}: {:?}", srv.commands());
    }
    // Resume (REST) and a quote command.
    let part = ok(curl(&srv, "up/in.bin", &["-C", "299990"]));
    assert_eq!(part, &body[299_990..]);
    ok(curl(&srv, "", &["-Q", "-DELE up/in.bin", "-l"]));
    assert!(!srv.exists("/up/in.bin"));
}

#[test]
fn badftp_curl_sees_short_data_and_421_as_errors() {
    let srv = BadFtp::start();
    srv.put_file("/f", vec![5u8; 10_000]);
    srv.on("RETR", Fault::ShortData { fraction: 0.5 });
    let out = curl(&srv, "f", &[]);
    assert_eq!(out.status.code(), Some(18), "curl: partial file");
    assert_eq!(out.stdout.len(), 5000);
    srv.clear_faults();
    srv.set_max_connections(Some(0));
    let t0 = Instant::now();
    let out = curl(&srv, "f", &[]);
    // curl 7.88 reports a 421 greeting as exit 28 ("We got a 421 - timeout"), at once.
    assert_eq!(out.status.code(), Some(28), "{out:?}");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(srv.refused_connections(), 1);
    srv.set_max_connections(None);
    assert_eq!(ok(curl(&srv, "f", &[])).len(), 10_000);
}

#[test]
fn badftp_curl_gets_verbatim_listings_and_raw_names_byte_exact() {
    let srv = BadFtp::start();
    // Lines end in a bare LF: curl lists in ASCII mode and would turn CRLF into LF.
    let list = b"-rw-r--r-- 1 u g 3 Mar  5 12:00 caf\xe9.txt\n\
                 -rw-r--r-- 1 u g 3 Mar  5 12:00 \x83\x65\x83\x58\x83\x67\n\
                 06-18-24  10:17AM       <DIR>          iis dir\n";
    srv.set_listing(ListKind::List, "/odd", list);
    srv.set_listing(ListKind::Mlsd, "/odd", b"type=file;size=3; caf\xe9.txt\n");
    srv.put_file(b"/odd/caf\xe9.txt", "abc");
    assert_eq!(ok(curl(&srv, "odd/", &[])), list);
    assert_eq!(
        ok(curl(&srv, "odd/", &["-X", "MLSD"])),
        b"type=file;size=3; caf\xe9.txt\n"
    );
    assert_eq!(
        ok(curl(&srv, "odd/", &["-l"])),
        b"caf\xe9.txt\n",
        "NLST from the tree (CRLF → LF)"
    );
    assert_eq!(ok(curl(&srv, "odd/caf%E9.txt", &[])), b"abc");
    assert!(srv.log().iter().any(|e| e.line == b"RETR caf\xe9.txt"));
}

#[test]
fn badftp_curl_download_is_as_slow_as_the_trickle() {
    let srv = BadFtp::start();
    srv.put_file("/slow", vec![b's'; 150]);
    srv.on("RETR", Fault::Trickle { bytes_per_sec: 100 });
    let t0 = Instant::now();
    assert_eq!(ok(curl(&srv, "slow", &[])).len(), 150);
    let took = t0.elapsed();
    // 150 bytes at 100 B/s: ~1.5 s.
    assert!(
        took > Duration::from_millis(1300) && took < Duration::from_secs(5),
        "{took:?}"
    );
}
