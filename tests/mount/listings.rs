//! Listings through a real mount of `badftp` serving chosen lines: IIS/DOS lines, MLSD
//! variants, an MLSD the mount cannot read (it switches to LIST), a LIST format nobody parses
//! (names from NLST, the rest from SIZE/MDTM/CWD), and a directory of 100 000 entries.

use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant, SystemTime};

use super::harness::Mount;
use super::names::names_in;
use crate::common::badftp::{BadFtp, Features, ListKind};

/// Waits until the server has heard nothing for 300 ms (a connection given back to the pool
/// opens its next passive data connection in the background: that EPSV is not the next
/// command's), then clears its log.
fn quiet(srv: &BadFtp) {
    let mut seen = srv.log().len();
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = srv.log().len();
        if now == seen {
            break;
        }
        seen = now;
    }
    srv.clear_log();
}

fn mtime(m: &std::fs::Metadata) -> SystemTime {
    m.modified().expect("mtime")
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> SystemTime {
    let days = {
        // days from civil (Howard Hinnant)
        let y = if mo <= 2 { y - 1 } else { y } as i64;
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (mo as i64 + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d as i64 - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    };
    SystemTime::UNIX_EPOCH
        + Duration::from_secs((days * 86_400 + (h * 3600 + mi * 60) as i64) as u64)
}

#[test]
fn listings_iis_dos_lines() {
    let srv = BadFtp::start();
    srv.set_features(Features::vsftpd());
    srv.put_file("/iis/report 2024.txt", vec![b'r'; 9730]);
    srv.mkdir("/iis/sub dir");
    srv.set_listing(
        ListKind::List,
        "/iis",
        b"01-02-24  03:04PM       <DIR>          sub dir\r\n\
          02-15-2024  11:00          9,730 report 2024.txt\r\n\
          2023-12-31  23:59               0 empty\r\n",
    );
    let m = Mount::of_bad(&srv, &["timeout=5"]);
    let names = names_in(&m.p("iis"));
    assert_eq!(names.len(), 3, "{names:?}");
    let sub = std::fs::metadata(m.p("iis/sub dir")).expect("sub dir");
    assert!(sub.is_dir());
    assert_eq!(mtime(&sub), utc(2024, 1, 2, 15, 4));
    let rep = std::fs::metadata(m.p("iis/report 2024.txt")).expect("report");
    assert_eq!((rep.is_file(), rep.size()), (true, 9730));
    assert_eq!(mtime(&rep), utc(2024, 2, 15, 11, 0));
    assert_eq!(
        std::fs::read(m.p("iis/report 2024.txt")).unwrap().len(),
        9730
    );
    assert_eq!(std::fs::metadata(m.p("iis/empty")).unwrap().size(), 0);
    assert!(m.unmount().success());
}

#[test]
fn listings_mlsd_variants() {
    let srv = BadFtp::start();
    srv.put_file("/m/a b.txt", "hello");
    srv.put_file("/m/semi;colon", "x");
    srv.set_listing(
        ListKind::Mlsd,
        "/m",
        b"Type=cdir;Modify=20240101000000; /m\r\n\
          type=pdir; ..\r\n\
          Size=5;Modify=20240305120000.123;Type=file;UNIX.mode=0640; a b.txt\r\n\
          type=dir;modify=20230101000000;\tsubdir\r\n\
          type=OS.unix=slink:/m/a b.txt;modify=20240305120000; link\r\n\
          type=file;size=1; /m/semi;colon\r\n\
          type=file;size=3 nofacts\r\n",
    );
    let m = Mount::of_bad(&srv, &["timeout=5"]);
    let names = names_in(&m.p("m"));
    let want: Vec<&[u8]> = vec![b"a b.txt", b"link", b"nofacts", b"semi;colon", b"subdir"];
    assert_eq!(
        names,
        want.iter().map(|n| n.to_vec()).collect(),
        "{}",
        m.log()
    );
    let a = std::fs::metadata(m.p("m/a b.txt")).unwrap();
    assert_eq!((a.size(), a.mode() & 0o7777), (5, 0o640));
    assert_eq!(
        mtime(&a),
        utc(2024, 3, 5, 12, 0) + Duration::from_millis(123)
    );
    assert!(std::fs::metadata(m.p("m/subdir")).unwrap().is_dir());
    assert_eq!(
        std::fs::read_link(m.p("m/link")).unwrap().to_str(),
        Some("/m/a b.txt")
    );
    assert_eq!(std::fs::read(m.p("m/semi;colon")).unwrap(), b"x");
    assert!(m.unmount().success());
}

/// MLSD answers with lines ftpfs cannot read: the mount lists with LIST from then on (logged
/// once) and never shows an empty directory.
#[test]
fn listings_unreadable_mlsd_switches_to_list() {
    let srv = BadFtp::start();
    srv.put_file("/w/one", "1");
    srv.put_file("/w/two", "22");
    srv.put_file("/v/three", "333");
    srv.set_listing(ListKind::Mlsd, "/w", b"garbage\r\nmore garbage\r\n");
    let m = Mount::of_bad(&srv, &["timeout=5"]);
    assert_eq!(m.sh("ls w"), "one\ntwo\n");
    srv.clear_log();
    assert_eq!(m.sh("ls v"), "three\n");
    assert_eq!(srv.count("MLSD"), 0, "LIST for the rest of the mount");
    assert_eq!(srv.count("LIST"), 1);
    let log = m.log();
    let notes = log.matches("listing with LIST from now on").count();
    assert_eq!(notes, 1, "{log}");
    assert!(log.contains("\"garbage\""), "{log}");
    assert!(m.unmount().success());
}

/// A LIST format nobody parses: names from NLST, types and sizes from SIZE/CWD, times from
/// MDTM; the first line is logged once; the result is cached like any listing.
#[test]
fn listings_unparseable_list_falls_back_to_nlst() {
    let srv = BadFtp::start();
    srv.set_features(Features::vsftpd());
    srv.put_file("/odd/file1", vec![b'f'; 10]);
    srv.put_file("/odd/sub/inner", "i");
    srv.set_mtime("/odd/file1", 1_709_640_000);
    srv.set_listing(
        ListKind::List,
        "/odd",
        b"@@ file1 :: 10 bytes @@\r\n@@ sub :: a folder @@\r\n",
    );
    let m = Mount::of_bad(&srv, &["timeout=5", "dir_cache_ttl=60"]);
    assert_eq!(m.sh("ls odd"), "file1\nsub\n");
    let f = std::fs::metadata(m.p("odd/file1")).unwrap();
    assert_eq!((f.is_file(), f.size()), (true, 10));
    assert_eq!(
        f.modified().unwrap(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_640_000)
    );
    assert!(std::fs::metadata(m.p("odd/sub")).unwrap().is_dir());
    assert_eq!(std::fs::read(m.p("odd/file1")).unwrap(), vec![b'f'; 10]);
    assert_eq!(srv.count("NLST"), 1);
    assert!(
        srv.count("SIZE") == 2 && srv.count("MDTM") == 2,
        "{:?}",
        srv.commands()
    );
    let log = m.log();
    assert!(log.contains("\"@@ file1 :: 10 bytes @@\""), "{log}");
    assert_eq!(log.matches("names come from NLST").count(), 1, "{log}");
    // Warm: nothing is sent.
    quiet(&srv);
    m.sh("ls -l odd > /dev/null");
    assert!(srv.commands().is_empty(), "{:?}", srv.commands());
    assert!(m.unmount().success());
}

/// 100 000 entries: every one listed, in one MLSD; `ls` of it warm sends nothing.
#[test]
fn listings_a_directory_of_100k_entries() {
    const N: usize = 100_000;
    let srv = BadFtp::start();
    srv.mkdir("/big");
    let mut mlsd = Vec::with_capacity(N * 64);
    for i in 0..N {
        mlsd.extend_from_slice(
            format!("type=file;size={i};modify=20240305120000; file-{i:06}.dat\r\n").as_bytes(),
        );
    }
    srv.set_listing(ListKind::Mlsd, "/big", &mlsd);
    let m = Mount::of_bad(&srv, &["timeout=30", "dir_cache_ttl=120"]);
    let start = Instant::now();
    let cold = m.sh("ls -f big | wc -l");
    let took = start.elapsed();
    assert_eq!(cold.trim(), (N + 2).to_string());
    eprintln!("ls -f of {N} entries, cold: {took:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    let lists: Vec<String> = srv
        .commands()
        .into_iter()
        .filter(|c| c.starts_with("MLSD"))
        .collect();
    assert_eq!(
        lists,
        ["MLSD /", "MLSD /big"],
        "the root at mount, then big once"
    );
    let last = std::fs::metadata(m.p("big/file-099999.dat")).unwrap();
    assert_eq!(last.size(), 99_999);
    quiet(&srv);
    let start = Instant::now();
    let warm = m.sh("ls big | wc -l");
    eprintln!("ls of {N} entries, warm: {:?}", start.elapsed());
    assert_eq!(warm.trim(), N.to_string());
    assert!(srv.commands().is_empty(), "{:?}", srv.commands());
    assert!(m.unmount().success());
}
