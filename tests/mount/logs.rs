//! Where a mount's log goes: a daemon without `-o log_file` sends its warnings and errors to
//! syslog as `ftpfs[PID]` (here a datagram socket the test binds, named by
//! `$FTPFS_SYSLOG_SOCKET`), so a failed upload with nobody watching is on record; `-f` keeps
//! stderr and `-o log_file=PATH` keeps the file, neither sending anything to syslog; a
//! syslog that cannot be reached is reported when mounting, and a log file that cannot be
//! opened fails the mount. The password never reaches any of them.

use std::fs::{self, OpenOptions};
use std::os::fd::IntoRawFd;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::harness::{BIN, Mount, fusermount_u, is_mounted, wait_for};
use crate::common::servers::{FtpServer, ServerKind};
use ftpfs::logging::SYSLOG_SOCKET_ENV;

/// A datagram socket standing in for /dev/log.
pub(super) struct FakeSyslog {
    pub(super) path: PathBuf,
    sock: UnixDatagram,
}

impl FakeSyslog {
    pub(super) fn bind(dir: &Path) -> FakeSyslog {
        let path = dir.join("log.sock");
        let sock = UnixDatagram::bind(&path).expect("bind the fake /dev/log");
        FakeSyslog { path, sock }
    }

    /// Every record that arrives within `wait` (returns early once `until` matches one).
    pub(super) fn records(&self, wait: Duration, until: impl Fn(&str) -> bool) -> Vec<String> {
        let end = Instant::now() + wait;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return out;
            }
            self.sock
                .set_read_timeout(Some(left))
                .expect("read timeout");
            match self.sock.recv(&mut buf) {
                Ok(n) => {
                    let r = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let done = until(&r);
                    out.push(r);
                    if done {
                        return out;
                    }
                }
                Err(_) => return out,
            }
        }
    }
}

/// A pure-ftpd server with `ro/f.txt` that the FTP user may not overwrite (the session runs
/// as the test user, not root).
fn server_refusing_uploads() -> FtpServer {
    let srv = FtpServer::start(ServerKind::PureFtpd);
    srv.write_file("ro/f.txt", "original content");
    let mode = |p: &Path, m: u32| fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
    mode(&srv.root.join("ro/f.txt"), 0o444);
    mode(&srv.root.join("ro"), 0o555);
    srv
}

/// Modifies `ro/f.txt` through the mount; close(2) must fail with EACCES (the upload was
/// refused), which the daemon logs.
fn refused_upload(mnt: &Path) {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(mnt.join("ro/f.txt"))
        .expect("open O_RDWR");
    f.write_all_at(b"NEW", 9).expect("write the staged copy");
    let fd = f.into_raw_fd();
    // SAFETY: `fd` was just taken from an open File and is closed exactly once here.
    let r = unsafe { libc::close(fd) };
    let errno = std::io::Error::last_os_error().raw_os_error();
    assert!(
        r != 0 && errno == Some(libc::EACCES),
        "close: {r} {errno:?}"
    );
}

/// `ftpfs URL MNT -o timeout=5,cache_dir=...` without -f; returns (exit ok, stderr).
pub(super) fn start_daemon(
    srv: &FtpServer,
    mnt: &Path,
    cache: &Path,
    extra: &[&str],
    syslog: &Path,
) -> (bool, String) {
    let out = Command::new(BIN)
        .arg(srv.url())
        .arg(mnt)
        .arg("-o")
        .arg(format!("timeout=5,cache_dir={}", cache.display()))
        .args(extra)
        .env("FTPFS_PASSWORD", &srv.password)
        .env(SYSLOG_SOCKET_ENV, syslog)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run ftpfs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `<PRI>Mmm dd hh:mm:ss ftpfs[PID]: ` at the start of `r`: returns (PRI, PID, message).
pub(super) fn parse_record(r: &str) -> Option<(u8, u32, &str)> {
    let rest = r.strip_prefix('<')?;
    let (pri, rest) = rest.split_once('>')?;
    let pri = pri.parse().ok()?;
    let stamp = rest.get(..15)?;
    let b = stamp.as_bytes();
    let stamp_ok = b[..3].iter().all(u8::is_ascii_alphabetic)
        && b[3] == b' '
        && (b[4] == b' ' || b[4].is_ascii_digit())
        && b[5].is_ascii_digit()
        && b[6] == b' '
        && b[9] == b':'
        && b[12] == b':';
    if !stamp_ok {
        return None;
    }
    let rest = rest[15..].strip_prefix(" ftpfs[")?;
    let (pid, msg) = rest.split_once("]: ")?;
    Some((pri, pid.parse().ok()?, msg))
}

pub(super) fn cmdline(pid: u32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .unwrap_or_default()
}

#[test]
fn daemon_logs_a_failed_upload_to_syslog_as_ftpfs_pid() {
    let srv = server_refusing_uploads();
    let dir = tempfile::tempdir().expect("tmp");
    let syslog = FakeSyslog::bind(dir.path());
    let mnt = dir.path().join("m");
    let cache = dir.path().join("cache");
    fs::create_dir(&mnt).expect("mkdir");
    let (ok, stderr) = start_daemon(&srv, &mnt, &cache, &[], &syslog.path);
    assert!(ok, "daemon start failed: {stderr}");
    assert_eq!(stderr, "", "a daemon that reaches syslog prints nothing");
    assert!(is_mounted(&mnt));

    // The first record says which mount this PID is, at notice level (daemon.notice = 29).
    let first = syslog.records(Duration::from_secs(10), |_| true);
    let (pri, pid, msg) = first
        .first()
        .and_then(|r| parse_record(r))
        .unwrap_or_else(|| panic!("no mount record in syslog: {first:?}"));
    assert_eq!(pri, 29, "{first:?}");
    assert_eq!(
        msg,
        format!(
            "mounted ftpfs#{}@127.0.0.1:{}/ on {}",
            srv.user,
            srv.port,
            mnt.display()
        )
    );
    assert!(
        cmdline(pid).contains(&mnt.display().to_string()),
        "ftpfs[{pid}] is not the daemon of this mount: {}",
        cmdline(pid)
    );
    assert_ne!(pid, std::process::id());

    refused_upload(&mnt);
    let kept = cache.display().to_string();
    let records = syslog.records(Duration::from_secs(10), |r| r.contains(&kept));
    let errors: Vec<(u8, u32, &str)> = records.iter().filter_map(|r| parse_record(r)).collect();
    assert_eq!(
        errors.len(),
        records.len(),
        "records not in the ftpfs[PID] form: {records:?}"
    );
    assert!(
        errors.iter().all(|(_, p, _)| *p == pid),
        "records from another PID: {records:?}"
    );
    // daemon.err (27) naming where the data was kept, and the failed close at daemon.warning
    // (28) or daemon.err.
    assert!(
        errors
            .iter()
            .any(|(pri, _, m)| *pri == 27 && m.contains(&kept)),
        "no error record naming the kept copy: {records:?}"
    );
    assert!(
        errors.iter().all(|(pri, _, _)| matches!(pri, 27 | 28)),
        "only warnings and errors at the default level: {records:?}"
    );
    for r in first.iter().chain(&records) {
        assert!(!r.contains(&srv.password), "password in syslog: {r}");
    }
    assert!(fusermount_u(&mnt), "fusermount3 -u kept failing");
    assert!(
        wait_for(Duration::from_secs(10), || cmdline(pid).is_empty()),
        "daemon still running"
    );
}

#[test]
fn verbose_daemon_sends_debug_records_but_never_the_password() {
    let srv = FtpServer::start(ServerKind::Pyftpdlib);
    srv.write_file("f.txt", "x\n");
    let dir = tempfile::tempdir().expect("tmp");
    let syslog = FakeSyslog::bind(dir.path());
    let mnt = dir.path().join("m");
    fs::create_dir(&mnt).expect("mkdir");
    let cache = dir.path().join("cache");
    // -vvv with RUST_LOG asking for suppaftp's trace (which would echo PASS).
    let out = Command::new(BIN)
        .arg(srv.url())
        .arg(&mnt)
        .args(["-vvv", "-o", "timeout=5,connections=2"])
        .arg("-o")
        .arg(format!("cache_dir={}", cache.display()))
        .env("FTPFS_PASSWORD", &srv.password)
        .env(SYSLOG_SOCKET_ENV, &syslog.path)
        .env("RUST_LOG", "trace,suppaftp::sync_ftp=trace")
        .stdin(Stdio::null())
        .output()
        .expect("run ftpfs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains(&srv.password),
        "password on stderr: {stderr}"
    );
    // Work that needs a second login after the daemon switched to syslog: a download holds
    // one connection while a listing needs another.
    let f = fs::File::open(mnt.join("f.txt")).expect("open");
    let mut buf = [0u8; 1];
    f.read_at(&mut buf, 0).expect("read");
    fs::write(mnt.join("g.txt"), "y").expect("write");
    let _ = fs::read_dir(&mnt).expect("ls").count();
    drop(f);
    let records = syslog.records(Duration::from_secs(3), |_| false);
    assert!(fusermount_u(&mnt), "fusermount3 -u kept failing");
    assert!(
        records
            .iter()
            .any(|r| parse_record(r).is_some_and(|(p, _, _)| p == 31)),
        "no debug records (daemon.debug = 31): {records:?}"
    );
    for r in &records {
        assert!(!r.contains(&srv.password), "password in syslog: {r}");
        assert!(parse_record(r).is_some(), "not an ftpfs[PID] record: {r}");
    }
}

#[test]
fn foreground_and_log_file_keep_their_log_out_of_syslog() {
    let srv = server_refusing_uploads();
    let dir = tempfile::tempdir().expect("tmp");
    let syslog = FakeSyslog::bind(dir.path());
    let cache = dir.path().join("cache");
    let env = format!("{SYSLOG_SOCKET_ENV}={}", syslog.path.display());
    let cache_opt = format!("cache_dir={}", cache.display());

    // -f: stderr (the harness's log file), not syslog.
    let m = Mount::with_prefix(&["env", &env], &srv.url(), &srv.password, &[&cache_opt]);
    refused_upload(&m.path);
    let kept = cache.display().to_string();
    assert!(
        wait_for(Duration::from_secs(10), || m.log().contains(&kept)),
        "-f: stderr lacks the failure:\n{}",
        m.log()
    );
    m.unmount();
    let sent = syslog.records(Duration::from_millis(500), |_| true);
    assert!(sent.is_empty(), "-f sent to syslog: {sent:?}");

    // -o log_file: the file, not syslog.
    let mnt = dir.path().join("m");
    fs::create_dir(&mnt).expect("mkdir");
    let log = dir.path().join("ftpfs.log");
    let log_opt = format!("log_file={}", log.display());
    let (ok, stderr) = start_daemon(&srv, &mnt, &cache, &["-o", &log_opt], &syslog.path);
    assert!(ok, "{stderr}");
    assert_eq!(stderr, "");
    refused_upload(&mnt);
    let read = || fs::read_to_string(&log).unwrap_or_default();
    assert!(
        wait_for(Duration::from_secs(10), || read().contains("upload")),
        "log_file lacks the failure:\n{}",
        read()
    );
    assert!(fusermount_u(&mnt), "fusermount3 -u kept failing");
    let sent = syslog.records(Duration::from_millis(500), |_| true);
    assert!(sent.is_empty(), "log_file mount sent to syslog: {sent:?}");
    assert!(!read().contains(&srv.password));
}

#[test]
fn unreachable_syslog_is_said_at_mount_and_a_bad_log_file_fails_it() {
    let srv = FtpServer::start(ServerKind::Pyftpdlib);
    let dir = tempfile::tempdir().expect("tmp");
    let mnt = dir.path().join("m");
    fs::create_dir(&mnt).expect("mkdir");
    let cache = dir.path().join("cache");
    let nowhere = dir.path().join("no-syslog-here");
    let (ok, stderr) = start_daemon(&srv, &mnt, &cache, &[], &nowhere);
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("ftpfs: warning: cannot log to syslog")
            && lines[0].contains(&nowhere.display().to_string())
            && lines[0].contains("log_file"),
        "{stderr}"
    );
    assert!(is_mounted(&mnt));
    assert!(fusermount_u(&mnt), "fusermount3 -u kept failing");

    let bad = dir.path().join("missing-dir").join("ftpfs.log");
    let bad_opt = format!("log_file={}", bad.display());
    let (ok, stderr) = start_daemon(&srv, &mnt, &cache, &["-o", &bad_opt], &nowhere);
    assert!(!ok, "mounted with a log file that cannot be opened");
    assert_eq!(
        stderr.trim(),
        format!(
            "ftpfs: cannot open log file {}: No such file or directory (os error 2)",
            bad.display()
        )
    );
    assert!(!is_mounted(&mnt), "left a mount behind");
}
