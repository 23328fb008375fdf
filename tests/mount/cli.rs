//! The mount tool's contract: clear one-line errors and a non-zero exit for bad input (wrong
//! password, unknown host, closed port, missing mountpoint) with nothing left mounted;
//! daemonizing only once the mount works; clean exit on unmount and on SIGTERM; the password
//! never in the log.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::harness::{BIN, Mount, fusermount_u, is_mounted, wait_for};
use crate::common::servers::{FtpServer, ServerKind};

/// Runs ftpfs in the foreground-or-not as given and returns (exit ok, stderr, seconds).
fn run(args: &[&str], password: &str, mountpoint: &std::path::Path) -> (bool, String, f64) {
    let start = Instant::now();
    let out = Command::new(BIN)
        .args(args)
        .arg(mountpoint)
        .args(["-o", "timeout=5"])
        .env("FTPFS_PASSWORD", password)
        .stdin(Stdio::null())
        .output()
        .expect("run ftpfs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        start.elapsed().as_secs_f64(),
    )
}

fn assert_clear_failure(ok: bool, stderr: &str, secs: f64, want: &str, mnt: &std::path::Path) {
    assert!(!ok, "expected failure, stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one clear line expected, got:\n{stderr}");
    assert!(lines[0].starts_with("ftpfs: "), "{stderr}");
    assert!(lines[0].contains(want), "{want:?} not in {stderr:?}");
    assert!(secs < 10.0, "took {secs:.1}s");
    assert!(!is_mounted(mnt), "left a mount behind");
}

#[test]
fn wrong_password_fails_clearly() {
    let srv = FtpServer::start(ServerKind::Pyftpdlib);
    let dir = tempfile::tempdir().expect("tmp");
    let (ok, err, secs) = run(&[&srv.url()], "definitely-wrong", dir.path());
    assert_clear_failure(
        ok,
        &err,
        secs,
        &format!(
            "login to 127.0.0.1:{} as {} failed: 530",
            srv.port, srv.user
        ),
        dir.path(),
    );
}

#[test]
fn closed_port_fails_clearly() {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("ftp://bob@127.0.0.1:{port}/");
    let (ok, err, secs) = run(&[&url], "pw", dir.path());
    assert_clear_failure(
        ok,
        &err,
        secs,
        &format!("cannot connect to 127.0.0.1:{port}"),
        dir.path(),
    );
}

#[test]
fn unknown_host_fails_clearly() {
    // In a network namespace of its own the name lookup fails at once and sends nothing out.
    let dir = tempfile::tempdir().expect("tmp");
    let start = Instant::now();
    let out = Command::new("unshare")
        .args(["-n", BIN, "ftp://bob@no-such-host.invalid/"])
        .arg(dir.path())
        .env("FTPFS_PASSWORD", "pw")
        .stdin(Stdio::null())
        .output()
        .expect("unshare");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_clear_failure(
        out.status.success(),
        &err,
        start.elapsed().as_secs_f64(),
        "cannot resolve no-such-host.invalid",
        dir.path(),
    );
}

#[test]
fn missing_mountpoint_fails_clearly() {
    let dir = tempfile::tempdir().expect("tmp");
    let missing = dir.path().join("nope");
    let (ok, err, secs) = run(&["ftp://bob@127.0.0.1:1/"], "pw", &missing);
    assert_clear_failure(ok, &err, secs, "does not exist", &missing);
}

/// Processes whose command line mentions `needle` (the daemon, found after it detached).
fn pids_with(needle: &str) -> Vec<i32> {
    let mut pids = vec![];
    for e in std::fs::read_dir("/proc").expect("proc").flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(needle) && cmd.contains("ftpfs") {
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            if !stat.contains(") Z ") {
                pids.push(pid);
            }
        }
    }
    pids
}

#[test]
fn daemon_returns_once_mounted_and_exits_on_unmount() {
    let srv = FtpServer::start(ServerKind::Pyftpdlib);
    srv.write_file("f.txt", "daemon\n");
    let dir = tempfile::tempdir().expect("tmp");
    let mnt = dir.path().join("m");
    std::fs::create_dir(&mnt).expect("mkdir");
    let (ok, err, _) = run(&[&srv.url()], &srv.password, &mnt);
    assert!(ok, "daemon start failed: {err}");
    assert!(is_mounted(&mnt), "exit 0 before the mount was there");
    assert_eq!(
        std::fs::read_to_string(mnt.join("f.txt")).expect("read"),
        "daemon\n"
    );
    let needle = mnt.to_string_lossy().into_owned();
    assert!(!pids_with(&needle).is_empty(), "no daemon process");
    assert!(fusermount_u(&mnt), "fusermount3 -u kept failing");
    assert!(
        wait_for(Duration::from_secs(10), || pids_with(&needle).is_empty()),
        "daemon still running"
    );
}

#[test]
fn sigterm_unmounts_cleanly_and_password_is_not_logged() {
    let srv = FtpServer::start(ServerKind::Pyftpdlib);
    let m = Mount::of(&srv, &[]);
    m.sh("echo x > f && cat f >/dev/null && ls -la");
    let log = m.log();
    assert!(
        srv.password.len() >= 6,
        "test password too short to search for"
    );
    assert!(!log.contains(&srv.password), "password in the log:\n{log}");
    assert!(
        log.contains("PASS ****"),
        "log lacks the redacted PASS line:\n{log}"
    );
    let path = m.path.clone();
    let status = m.signal(libc::SIGTERM);
    assert!(status.success(), "exit status {status}");
    assert!(!is_mounted(&path));
}

#[test]
fn mount_helper_takes_mount8_arguments() {
    let srv = FtpServer::start(ServerKind::Pyftpdlib);
    srv.write_file("f.txt", "via mount.ftpfs\n");
    let dir = tempfile::tempdir().expect("tmp");
    let helper = dir.path().join("mount.ftpfs");
    std::os::unix::fs::symlink(BIN, &helper).expect("symlink");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, format!("{}\n", srv.password)).expect("pw");
    let mnt = dir.path().join("m");
    std::fs::create_dir(&mnt).expect("mkdir");
    let opts = format!(
        "rw,noauto,_netdev,nosuid,nodev,password_file={}",
        pw.display()
    );
    // -f (fake): checks everything, mounts nothing.
    let st = Command::new(&helper)
        .arg(srv.url())
        .arg(&mnt)
        .args(["-f", "-o", &opts])
        .env_remove("FTPFS_PASSWORD")
        .stdin(Stdio::null())
        .status()
        .expect("helper");
    assert!(st.success());
    assert!(!is_mounted(&mnt));
    let out = Command::new(&helper)
        .arg(format!("ftpfs#{}", srv.url()))
        .arg(&mnt)
        .args(["-s", "-o", &opts])
        .env_remove("FTPFS_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .expect("helper");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(is_mounted(&mnt));
    assert_eq!(
        std::fs::read_to_string(mnt.join("f.txt")).expect("read"),
        "via mount.ftpfs\n"
    );
    assert!(fusermount_u(&mnt), "fusermount3 -u kept failing");
}
