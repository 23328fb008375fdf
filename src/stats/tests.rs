//! The report: built from a core over the fake remote, serialized and read back, and
//! rendered as text.

use std::path::Path;
use std::sync::Arc;

use super::text::{bytes, duration};
use super::*;
use crate::cache::ManualClock;
use crate::fs::{FsConfig, ROOT_INO};
use crate::remote::fake::FakeRemote;
use crate::remote::stats::{
    CommandStat, DataStats, Lowered, PoolStats, RetryStats, StreamStats, TlsStats,
};

fn core() -> (Arc<Fs>, FakeRemote) {
    let dir = tempfile::tempdir().expect("tmp").keep();
    let fake = FakeRemote::new();
    fake.add_file("/f", &[1u8; 3000]);
    let fs = Fs::new(
        Arc::new(fake.clone()),
        FsConfig {
            uid: 1,
            gid: 1,
            umask: None,
            dir_cache_ttl: std::time::Duration::from_secs(10),
            dir_cache_size: 16,
            cache_dir: dir.join("cache"),
            cache_max_size: 1 << 20,
            atomic_replace: false,
            budget: crate::memory::Budget::new(64 << 20),
        },
        Box::new(ManualClock::default()),
    );
    (Arc::new(fs), fake)
}

/// A report of a busy FTPS mount, every section filled.
fn full() -> Report {
    let (fs, _) = core();
    let mut r = Source::new(fs, "ftpfs#bob@h:21/", Path::new("/mnt/ftp")).report();
    r.uptime_secs = 3723;
    r.fs.bytes_read = 3 << 20;
    r.fs.bytes_written = 512;
    r.remote = RemoteStats {
        server: Some("h:21".into()),
        commands: vec![
            CommandStat {
                verb: "RETR".into(),
                sent: 4,
                errors: 1,
                no_reply: 0,
            },
            CommandStat {
                verb: "SITE CHMOD".into(),
                sent: 2,
                errors: 0,
                no_reply: 1,
            },
        ],
        pool: Some(PoolStats {
            connections: 3,
            busy: 1,
            idle: 2,
            logging_in: 0,
            waiting: 0,
            streams: 1,
            limit: 3,
            configured: 24,
            lowered: Some(Lowered {
                to: 3,
                code: Some(421),
            }),
        }),
        data: Some(DataStats {
            configured: "auto".into(),
            current: Some("EPRT".into()),
            rejected: vec!["EPSV".into()],
            failures: 2,
            last_fallback: Some("PASV timeout (no answer within 3s); fell back to EPRT".into()),
        }),
        streams: StreamStats {
            downloads: 1,
            uploads: 0,
            downloads_total: 4,
            uploads_total: 1,
        },
        retries: RetryStats {
            fresh_connection: 1,
            login: 0,
            tls_retired: 2,
            data_fallbacks: 1,
        },
        features: vec!["MLST type*;size*;".into(), "UTF8".into()],
        tls: Some(TlsStats {
            mode: "explicit".into(),
            version: Some("TLSv1_3".into()),
            cipher: Some("TLS13_AES_256_GCM_SHA384".into()),
            capped_to_1_2: true,
        }),
    };
    r
}

#[test]
fn a_report_reads_back_from_its_json_unchanged() {
    let r = full();
    let json = serde_json::to_string(&r).expect("serialize");
    let back: Report = serde_json::from_str(&json).expect("parse");
    assert_eq!(back, r);
    // Flat: the core's and the remote's fields are top-level keys.
    let v: serde_json::Value = serde_json::from_str(&json).expect("value");
    for key in [
        "format",
        "bytes_read",
        "dir_cache",
        "files",
        "pool",
        "commands",
        "tls",
    ] {
        assert!(v.get(key).is_some(), "no {key} in {json}");
    }
    assert_eq!(v["format"], FORMAT);
    assert_eq!(v["pool"]["lowered"]["to"], 3);
}

#[test]
fn the_report_of_a_core_counts_its_work() {
    let (fs, fake) = core();
    let source = Source::new(Arc::clone(&fs), "fake", Path::new("/m"));
    let ino = fs.lookup(ROOT_INO, "f").expect("lookup").ino;
    fs.lookup(ROOT_INO, "f").expect("again");
    let (fh, _) = fs.open(ino, libc::O_RDONLY).expect("open");
    assert_eq!(fs.read(fh, 0, 4096).expect("read").len(), 3000);
    fs.release(fh).expect("release");
    let r = source.report();
    assert_eq!(r.fs.bytes_read, 3000);
    assert_eq!(r.fs.dir_cache.misses, 1);
    assert!(r.fs.dir_cache.hits >= 1, "{:?}", r.fs.dir_cache);
    let list = r.remote.commands.iter().find(|c| c.verb == "list");
    assert_eq!(list.map(|c| c.sent), Some(fake.count("list") as u64));
    assert_eq!((r.pid, r.format), (std::process::id(), FORMAT));
    let text = render(&r);
    assert!(text.contains("2.9 KiB (3000 bytes) read"), "{text}");
    // A remote without a pool, data connections or TLS shows none of them.
    for absent in [
        "connections:",
        "data connections:",
        "TLS:",
        "server features",
    ] {
        assert!(!text.contains(absent), "{absent} in:\n{text}");
    }
}

#[test]
fn the_text_shows_every_section_with_exact_numbers() {
    let text = render(&full());
    for want in [
        "ftpfs ",
        "ftpfs#bob@h:21/ on /mnt/ftp, up 1h 2m 3s",
        "3.0 MiB (3145728 bytes) read, 512 bytes written",
        "files: 0 open (0 read-only); 0 staged copies using 0 bytes on disk (cache_max_size 1.0 MiB)",
        "transfers running: 1 download and 0 uploads; since the mount: 4 downloads and 1 upload",
        "directory cache: 0 hits, 0 misses, 0 waits for a listing already on its way; 0 listings \
         cached (0 fresh, 0 entries), at most 16, ttl 10s",
        "server: h:21",
        "connections: 3 of at most 3 (1 busy, 2 idle, 0 logging in; 1 held by transfers)",
        "the server refused one more login (421): the limit was lowered to 3 (-o connections=24)",
        "data connections: EPRT (data_mode=auto); 2 failed",
        "why: PASV timeout (no answer within 3s); fell back to EPRT",
        "rejected by the server: EPSV",
        "retries: 1 operation on a fresh connection, 0 logins after a connection error, 2 TLS \
         sessions retired, 1 data-connection fallback",
        "TLS: TLSv1_3 (TLS13_AES_256_GCM_SHA384), explicit; new connections use TLS 1.2 at most",
        "server features: MLST type*;size*;, UTF8",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip_while(|l| !l.starts_with("FTP commands"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["FTP", "commands", "sent", "errors", "no", "reply"]
    );
    assert_eq!(rows[1], ["RETR", "4", "1", "0"]);
    assert_eq!(rows[2], ["SITE", "CHMOD", "2", "0", "1"]);
    assert!(text.ends_with('\n'));
}

#[test]
fn plain_ftp_and_an_unused_mount_say_so() {
    let mut r = full();
    r.remote.tls = None;
    r.remote.commands.clear();
    r.remote.features.clear();
    r.remote.data = Some(DataStats {
        configured: "passive".into(),
        ..Default::default()
    });
    let text = render(&r);
    for want in [
        "TLS: none (plain FTP)",
        "FTP commands: none sent",
        "server features: none advertised",
        "data connections: none made yet (data_mode=passive); 0 failed",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

#[test]
fn sizes_and_durations() {
    assert_eq!(bytes(0), "0 bytes");
    assert_eq!(bytes(1), "1 byte");
    assert_eq!(bytes(1023), "1023 bytes");
    assert_eq!(bytes(1024), "1.0 KiB (1024 bytes)");
    assert_eq!(bytes(10 << 30), "10.0 GiB (10737418240 bytes)");
    assert_eq!(bytes(u64::MAX), "16.0 EiB (18446744073709551615 bytes)");
    assert_eq!(duration(0), "0s");
    assert_eq!(duration(59), "59s");
    assert_eq!(duration(3600), "1h 0m 0s");
    assert_eq!(duration(90_061), "1d 1h 1m 1s");
}

/// The report a server at `dev` answers with, if one does.
fn ask(dev: (u32, u32)) -> Option<Report> {
    use std::io::Read;
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(socket_name(dev).as_bytes())
        .expect("name");
    let mut s = std::os::unix::net::UnixStream::connect_addr(&addr).ok()?;
    let mut doc = Vec::new();
    s.read_to_end(&mut doc).expect("read");
    serde_json::from_slice(&doc).ok()
}

#[test]
fn a_closed_server_frees_its_name_for_the_next_mount_with_that_device() {
    // Device numbers are reused: the daemon of the next mount may start while the previous
    // one still finishes. It takes the name over once the previous one closes its server.
    let dev = (0xf7f5, std::process::id());
    let access = Access {
        // SAFETY: getuid has no preconditions.
        owner: unsafe { libc::getuid() },
        allow_other: false,
    };
    let (fs1, _) = core();
    let first = start_server(
        Source::new(fs1, "first", Path::new("/m1")).into(),
        dev,
        access,
    )
    .expect("first");
    let (fs2, _) = core();
    let second = start_server(
        Source::new(fs2, "second", Path::new("/m2")).into(),
        dev,
        access,
    )
    .expect("second waits for the name");
    assert_eq!(ask(dev).expect("first answers").fsname, "first");
    let t = std::time::Instant::now();
    first.close();
    assert!(
        t.elapsed() < std::time::Duration::from_secs(1),
        "{:?}",
        t.elapsed()
    );
    crate::testing::eventually("the second server takes the name", || {
        ask(dev).is_some_and(|r| r.fsname == "second" && r.mountpoint == Path::new("/m2"))
    });
    second.close();
    assert!(ask(dev).is_none(), "a closed server still answers");
}
