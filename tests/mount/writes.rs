//! Writing in place through a real mount, on pure-ftpd and vsftpd (vsftpd: no MLSD/MFMT, mtimes
//! via MDTM with a time) and proftpd (refuses APPE: appends take the staged path). Each
//! scenario checks what the server holds by reading the server's own root directory. Files are
//! put on the server directly between steps, so the mounts run with `dir_cache_ttl=0`.
//!
//! Also run on pyftpdlib.
//!
//! - an fsx-like exerciser: a seeded random sequence of pwrite/pread/ftruncate/truncate/fsync
//!   on one file through the mount, mirrored on a local shadow file, reads compared as it
//!   goes, the server's copy compared with the shadow after close;
//! - `vim -es` edit-and-save, `sed -i`, `echo >>` appends (also beside a held O_APPEND fd);
//! - `truncate -s 100M` then a 5-byte write at 50M (sparse; server size and bytes; RSS small);
//! - `rsync -rt` a tree in and back out (bytes and mtimes), `cp -p` keeps mtimes;
//! - `git init && git add && git commit` inside the mount.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::harness::{Mount, pattern, sh_in, sha256};
use crate::common::servers::{FtpServer, ServerKind};

/// xorshift64 for the exerciser.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const FSX_MAX: u64 = 3 << 20;

/// Seeded random pwrite/pread/ftruncate/truncate/fsync on `name` through the mount, mirrored
/// on a shadow file in `shadow_dir`; the server's copy must equal the shadow at the end.
fn fsx(m: &Mount, srv: &FtpServer, name: &str, seed: u64, ops: usize, shadow_dir: &Path) {
    let initial = pattern(700_000, seed);
    srv.write_file(name, &initial);
    let shadow_path = shadow_dir.join(name);
    fs::write(&shadow_path, &initial).expect("shadow");
    let rw = |p: &Path| {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(p)
            .unwrap_or_else(|e| panic!("open {}: {e}", p.display()))
    };
    let f = rw(&m.p(name));
    let shadow = rw(&shadow_path);
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    for i in 0..ops {
        let size = shadow.metadata().expect("shadow size").len();
        let what = rng.below(100);
        let ctx = format!("{} seed {seed} op {i}", srv.kind);
        match what {
            0..=44 => {
                let off = rng.below(FSX_MAX);
                let len = 1 + rng.below(128 << 10) as usize;
                let data = pattern(len, rng.next());
                f.write_all_at(&data, off)
                    .unwrap_or_else(|e| panic!("{ctx}: pwrite {len} at {off}: {e}"));
                shadow.write_all_at(&data, off).expect("shadow pwrite");
            }
            45..=79 => {
                let off = rng.below(size + 1000);
                let len = 1 + rng.below(200 << 10) as usize;
                let (mut a, mut b) = (vec![0; len], vec![0; len]);
                let na = read_at_most(&f, &mut a, off);
                let nb = read_at_most(&shadow, &mut b, off);
                assert_eq!(na, nb, "{ctx}: pread {len} at {off}: lengths");
                assert!(
                    a[..na] == b[..nb],
                    "{ctx}: pread {len} at {off}: bytes differ"
                );
            }
            80..=89 => {
                let len = rng.below(FSX_MAX);
                f.set_len(len)
                    .unwrap_or_else(|e| panic!("{ctx}: ftruncate {len}: {e}"));
                shadow.set_len(len).expect("shadow truncate");
            }
            90..=94 => {
                let len = rng.below(FSX_MAX);
                // truncate(2) by path while the file is open.
                let out = sh_in(&m.path, &format!("truncate -s {len} {name}"));
                assert!(out.status.success(), "{ctx}: truncate -s {len}: {out:?}");
                shadow.set_len(len).expect("shadow truncate");
            }
            _ => f.sync_all().unwrap_or_else(|e| panic!("{ctx}: fsync: {e}")),
        }
    }
    f.sync_all().expect("final fsync");
    drop(f);
    drop(shadow);
    let on_server = srv.root.join(name);
    assert_eq!(
        sha256(&on_server),
        sha256(&shadow_path),
        "{}: server copy differs from the shadow (sizes {} and {})",
        srv.kind,
        fs::metadata(&on_server).map(|m| m.len()).unwrap_or(0),
        fs::metadata(&shadow_path).map(|m| m.len()).unwrap_or(0),
    );
}

fn read_at_most(f: &File, buf: &mut [u8], off: u64) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], off + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => panic!("pread at {off}: {e}"),
        }
    }
    n
}

fn server_text(srv: &FtpServer, rel: &str) -> String {
    fs::read_to_string(srv.root.join(rel)).unwrap_or_else(|e| panic!("{}: {rel}: {e}", srv.kind))
}

fn mtime_secs(p: &Path) -> u64 {
    let t = fs::metadata(p)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("mtime of {}: {e}", p.display()));
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Resident set size high-water mark (VmHWM, KiB) of the ftpfs serving `mountpoint`.
/// The /proc directory of the ftpfs process serving `mountpoint`.
fn daemon_proc(mountpoint: &Path) -> std::path::PathBuf {
    let want = mountpoint.to_string_lossy().into_owned();
    for e in fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(cmd) = fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmd
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.first().is_some_and(|a| a.ends_with("ftpfs")) && args.contains(&want) {
            return e.path();
        }
    }
    panic!("no ftpfs process serving {want}");
}

/// A `Vm*:` value of the daemon, in KiB.
fn daemon_vm_kib(mountpoint: &Path, field: &str) -> u64 {
    super::harness::status_kib(&daemon_proc(mountpoint), field)
}

/// Resets the daemon's peak RSS (VmHWM) to its current RSS (`clear_refs` 5).
fn reset_daemon_hwm(mountpoint: &Path) {
    fs::write(daemon_proc(mountpoint).join("clear_refs"), "5").expect("clear_refs");
}

/// Programs that edit files in place: vim, sed -i, appends.
fn editors(m: &Mount, srv: &FtpServer) {
    srv.write_file("v.txt", "a banana\nanother line\n");
    m.sh("vim -u NONE -i NONE -n -es -c '%s/a/b/g' -c wq v.txt");
    assert_eq!(server_text(srv, "v.txt"), "b bbnbnb\nbnother line\n");
    srv.write_file("s.txt", "foo 1\nfoo 2\n");
    m.sh("sed -i 's/foo/bar/' s.txt");
    assert_eq!(server_text(srv, "s.txt"), "bar 1\nbar 2\n");
    srv.write_file("log.txt", "first\n");
    m.sh("echo second >> log.txt && echo third >> log.txt");
    assert_eq!(server_text(srv, "log.txt"), "first\nsecond\nthird\n");
    assert_eq!(m.sh("cat log.txt"), "first\nsecond\nthird\n");
    // A writer holding the file open with O_APPEND (a daemon's log) and `echo >>` between
    // its writes: they take turns with APPE (staged on servers that refuse it).
    srv.write_file("d.log", "start\n");
    m.sh("exec 3>>d.log; echo a >&3; echo b >> d.log; echo c >&3; echo d >> d.log; exec 3>&-");
    assert_eq!(server_text(srv, "d.log"), "start\na\nb\nc\nd\n");
    assert_eq!(m.sh("cat d.log"), "start\na\nb\nc\nd\n");
}

/// `truncate -s 100M` then 5 bytes at 50M: sparse locally, right bytes on the server.
fn sparse_100m(m: &Mount, srv: &FtpServer) {
    const M: u64 = 1 << 20;
    // Memory must not grow with the file: measure the peak over this operation alone (the
    // earlier steps and other tests running meanwhile do not count).
    reset_daemon_hwm(&m.path);
    let rss_before = daemon_vm_kib(&m.path, "VmRSS:");
    let began = Instant::now();
    m.sh("truncate -s 100M big.img");
    let after_truncate = began.elapsed();
    m.sh("printf HELLO | dd of=big.img bs=1 seek=52428800 conv=notrunc status=none");
    let took = began.elapsed();
    let p = srv.root.join("big.img");
    assert_eq!(fs::metadata(&p).expect("big.img").len(), 100 * M);
    let f = File::open(&p).expect("open");
    let mut buf = [0xffu8; 9];
    f.read_exact_at(&mut buf, 50 * M - 2).expect("read");
    assert_eq!(&buf, b"\0\0HELLO\0\0");
    f.read_exact_at(&mut buf, 99 * M).expect("read");
    assert_eq!(buf, [0; 9]);
    let hwm = daemon_vm_kib(&m.path, "VmHWM:");
    eprintln!(
        "{}: truncate -s 100M {after_truncate:?}, + write at 50M {took:?}, daemon RSS {rss_before} KiB before, peak {hwm} KiB",
        srv.kind
    );
    assert!(
        hwm.saturating_sub(rss_before) < 32 * 1024,
        "{}: a 100 MB staged upload grew the daemon from {rss_before} to {hwm} KiB",
        srv.kind
    );
}

/// A tree with a few sizes and mtimes of the last days (with seconds).
fn make_tree(dir: &Path) {
    for (i, rel) in ["a.txt", "sub/b.bin", "sub/deeper/c.bin", "sub/empty"]
        .iter()
        .enumerate()
    {
        let p = dir.join(rel);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(&p, pattern([10, 300_000, 2_000_000, 0][i], i as u64)).expect("write");
        let t = SystemTime::now() - Duration::from_secs(86_400 * (i as u64 + 1) + 17);
        File::options()
            .write(true)
            .open(&p)
            .and_then(|f| f.set_modified(t))
            .expect("set mtime");
    }
}

/// Same bytes and the same mtimes, to the second (`per` = 1) or to the minute (60).
fn same_files(a: &Path, b: &Path, rels: &[&str], what: &str, per: u64) {
    for rel in rels {
        let (x, y) = (a.join(rel), b.join(rel));
        assert_eq!(sha256(&x), sha256(&y), "{what}: {rel} bytes");
        let (tx, ty) = (mtime_secs(&x), mtime_secs(&y));
        assert_eq!(tx / per, ty / per, "{what}: {rel} mtime");
    }
}

/// rsync -rt in and back out; cp -p.
fn rsync_and_cp(m: &Mount, srv: &FtpServer) {
    let local = tempfile::tempdir().expect("tempdir");
    let (src, back) = (local.path().join("src"), local.path().join("back"));
    make_tree(&src);
    let rels = ["a.txt", "sub/b.bin", "sub/deeper/c.bin", "sub/empty"];
    // vsftpd (MDTM with a time) and pyftpdlib (MFMT: "is not retrievable") set times of files
    // only: directory times are ENOTSUP/EPERM there, so rsync is told to leave them (-O).
    // rsync only tries when the directory's time differs, which made this depend on timing.
    let dirs = if matches!(srv.kind, ServerKind::Vsftpd | ServerKind::Pyftpdlib) {
        "O"
    } else {
        ""
    };
    m.sh(&format!("rsync -rt{dirs} {}/ dst/", src.display()));
    same_files(&src, &srv.root.join("dst"), &rels, "rsync in (server)", 1);
    m.sh(&format!("rsync -rt dst/ {}/", back.display()));
    // vsftpd lists with LIST only, whose times stop at the minute: what ftpfs shows there is
    // exact to the minute (the server itself holds the seconds, checked above).
    let per = if srv.kind == ServerKind::Vsftpd {
        60
    } else {
        1
    };
    same_files(&src, &back, &rels, "rsync out", per);
    m.sh(&format!("cp -p {}/sub/b.bin cp.bin", src.display()));
    assert_eq!(
        mtime_secs(&srv.root.join("cp.bin")),
        mtime_secs(&src.join("sub/b.bin")),
        "cp -p mtime on the server"
    );
    let shown: u64 = m.sh("stat -c %Y cp.bin").trim().parse().expect("stat");
    assert_eq!(shown / per, mtime_secs(&src.join("sub/b.bin")) / per);
}

fn git(m: &Mount) {
    m.sh(
        "git init -q repo && cd repo && git config user.email t@example.com && \
         git config user.name t && echo hello > f.txt && mkdir d && echo x > d/g.txt && \
         git add . && git commit -q -m first && echo more >> f.txt && git commit -q -am second",
    );
    let log = m.sh("cd repo && git log --format=%s");
    assert_eq!(log, "second\nfirst\n");
    assert_eq!(m.sh("cd repo && git status --porcelain"), "");
    m.sh("cd repo && git fsck --no-progress 2>&1");
}

/// Everything above on one server; returns the daemon's log.
fn scenario(kind: ServerKind) -> String {
    let srv = FtpServer::start(kind);
    let cache = tempfile::tempdir().expect("tempdir");
    let opt = format!("cache_dir={}", cache.path().display());
    let m = Mount::of(&srv, &[&opt, "timeout=20", "dir_cache_ttl=0"]);
    let shadow = tempfile::tempdir().expect("tempdir");
    for seed in 1..=3 {
        fsx(
            &m,
            &srv,
            &format!("fsx{seed}.bin"),
            seed,
            150,
            shadow.path(),
        );
    }
    editors(&m, &srv);
    sparse_100m(&m, &srv);
    rsync_and_cp(&m, &srv);
    git(&m);
    let log = m.log();
    assert!(m.unmount().success(), "unmount");
    let left: Vec<_> = fs::read_dir(cache.path()).expect("cache").collect();
    assert!(left.is_empty(), "staged copies left behind: {left:?}");
    log
}

/// pure-ftpd and vsftpd take APPE: `echo >>` streams.
#[test]
fn writes_in_place_on_pure_ftpd() {
    let log = scenario(ServerKind::PureFtpd);
    assert!(!log.contains("append refused"), "APPE should have worked");
}

#[test]
fn writes_in_place_on_vsftpd() {
    let log = scenario(ServerKind::Vsftpd);
    assert!(!log.contains("append refused"), "APPE should have worked");
}

/// proftpd refuses APPE ("451 Append/Restart not permitted"): appends go through the staged
/// path, and every program still works.
#[test]
fn writes_in_place_on_proftpd_appends_fall_back_to_staged() {
    let log = scenario(ServerKind::Proftpd);
    assert!(
        log.contains("append refused"),
        "expected the APPE fallback in the log"
    );
}

#[test]
fn writes_in_place_on_pyftpdlib() {
    scenario(ServerKind::Pyftpdlib);
}
