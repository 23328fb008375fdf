//! Copying trees into a mount with the tools people use for it: `tar -x`, `cp -a` and
//! `rsync -a` of a tree with nested (and empty) directories exit 0 on pure-ftpd, vsftpd,
//! proftpd and pyftpdlib, and the server then holds the same contents, file modes and file
//! mtimes. vsftpd and pyftpdlib cannot set a directory's time: utimensat on a directory
//! succeeds there without a change (SEMANTICS.md), so the tools no longer fail on it.
//! Also `cp -p`: the time it sets before close() is on the server when close() returns.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use super::harness::{Mount, pattern};
use crate::common::servers::{FtpServer, ServerKind};

/// (relative path, size, mode, mtime in seconds since the epoch)
const FILES: [(&str, usize, u32, i64); 7] = [
    ("top.txt", 10, 0o644, 1_577_934_245),
    ("empty", 0, 0o644, 1_600_000_000),
    ("a/one.bin", 100_000, 0o600, 1_609_459_200),
    ("a/b/two.bin", 1_500_000, 0o644, 1_700_000_001),
    ("a/b/c/run.sh", 33, 0o755, 1_234_567_890),
    ("a/b/c/deep.txt", 4096, 0o640, 1_650_000_000),
    ("d/f", 5, 0o644, 1_500_000_000),
];
const EMPTY_DIRS: [&str; 2] = ["d/e", "a/b/c/empty"];

/// Makes the source tree in `root`.
fn make_tree(root: &Path) {
    for (i, (rel, size, mode, mtime)) in FILES.iter().enumerate() {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, pattern(*size, 40 + i as u64)).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode)).expect("chmod");
        let t = UNIX_EPOCH + Duration::from_secs(*mtime as u64);
        std::fs::File::options()
            .write(true)
            .open(&p)
            .and_then(|f| f.set_modified(t))
            .expect("set mtime");
    }
    for d in EMPTY_DIRS {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
}

/// The server holds the tree under `dir` (relative to its root): contents, modes, mtimes.
fn check_on_server(srv: &FtpServer, dir: &str, tool: &str) {
    for (i, (rel, size, mode, mtime)) in FILES.iter().enumerate() {
        let p = srv.root.join(dir).join(rel);
        let got = std::fs::read(&p).unwrap_or_else(|e| panic!("{tool}: {rel}: {e}"));
        assert!(
            got == pattern(*size, 40 + i as u64),
            "{tool} on {}: {rel}: content differs",
            srv.kind
        );
        let md = std::fs::metadata(&p).expect("metadata");
        assert_eq!(md.mtime(), *mtime, "{tool} on {}: {rel}: mtime", srv.kind);
        assert_eq!(
            md.mode() & 0o777,
            *mode,
            "{tool} on {}: {rel}: mode {:o}",
            srv.kind,
            md.mode() & 0o777
        );
    }
    for d in EMPTY_DIRS {
        assert!(
            srv.root.join(dir).join(d).is_dir(),
            "{tool} on {}: {d} missing",
            srv.kind
        );
    }
}

fn run(cmd: &str) {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
    assert!(
        out.status.success(),
        "`{cmd}` exited {}: {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn trees_on(kind: ServerKind) {
    let srv = FtpServer::start(kind);
    let local = tempfile::tempdir().expect("tmp");
    let src = local.path().join("src");
    make_tree(&src);
    let tarball = local.path().join("t.tar");
    run(&format!(
        "tar -C {} -cf {} .",
        src.display(),
        tarball.display()
    ));
    let m = Mount::of(&srv, &[]);
    let mnt = m.path.display().to_string();
    run(&format!(
        "mkdir {mnt}/tar && tar -C {mnt}/tar -xf {}",
        tarball.display()
    ));
    check_on_server(&srv, "tar", "tar -x");
    run(&format!("cp -a {}/. {mnt}/cpa/", src.display()));
    check_on_server(&srv, "cpa", "cp -a");
    run(&format!("rsync -a {}/ {mnt}/rs/", src.display()));
    check_on_server(&srv, "rs", "rsync -a");
    // The mount shows the same (from its own records, within dir_cache_ttl).
    for (rel, _, mode, mtime) in FILES {
        let md = std::fs::metadata(m.p("rs").join(rel)).expect("stat in mount");
        assert_eq!((md.mtime(), md.mode() & 0o777), (mtime, mode), "{rel}");
    }
    // A second rsync finds nothing to do: times and sizes match.
    let out = Command::new("rsync")
        .args(["-ai", &format!("{}/", src.display()), &format!("{mnt}/rs/")])
        .output()
        .expect("rsync");
    assert!(out.status.success());
    let changes = String::from_utf8_lossy(&out.stdout);
    assert!(
        changes
            .lines()
            .all(|l| !l.starts_with('>') && !l.starts_with('<')),
        "{kind}: rsync copied again:\n{changes}"
    );
    let status = m.unmount();
    assert!(status.success(), "ftpfs exited with {status}");
}

#[test]
fn tar_cp_a_and_rsync_a_reproduce_a_tree_on_pure_ftpd() {
    trees_on(ServerKind::PureFtpd);
}

#[test]
fn tar_cp_a_and_rsync_a_reproduce_a_tree_on_vsftpd() {
    trees_on(ServerKind::Vsftpd);
}

#[test]
fn tar_cp_a_and_rsync_a_reproduce_a_tree_on_proftpd() {
    trees_on(ServerKind::Proftpd);
}

#[test]
fn tar_cp_a_and_rsync_a_reproduce_a_tree_on_pyftpdlib() {
    trees_on(ServerKind::Pyftpdlib);
}

/// `cp -p` sets the time with futimens before close(); when close() has returned, the
/// server has that time (another client reading right away sees it), on every server.
#[test]
fn cp_p_time_is_on_the_server_when_close_returns() {
    for kind in ServerKind::ALL {
        let srv = FtpServer::start(kind);
        let local = tempfile::tempdir().expect("tmp");
        let f = local.path().join("f");
        std::fs::write(&f, pattern(6 << 20, 50)).expect("write");
        let t = UNIX_EPOCH + Duration::from_secs(1_555_555_555);
        std::fs::File::options()
            .write(true)
            .open(&f)
            .and_then(|h| h.set_modified(t))
            .expect("mtime");
        let m = Mount::of(&srv, &[]);
        for i in 0..3 {
            run(&format!("cp -p {} {}/f{i}", f.display(), m.path.display()));
            let md = std::fs::metadata(srv.root.join(format!("f{i}"))).expect("on server");
            assert_eq!(md.mtime(), 1_555_555_555, "{kind}: cp -p #{i}");
        }
    }
}
