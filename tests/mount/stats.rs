//! `ftpfs stats MOUNTPOINT` and SIGUSR1 on real mounts: the numbers move as a known workload
//! makes them move, `--json` parses (into the report type and as plain JSON), another user
//! reads the statistics of an `allow_other` mount and is refused those of a default one, a
//! missing path, a plain directory and a foreign filesystem give one-line errors and exit 1,
//! a stopped daemon makes the command give up at its timeout, and SIGUSR1 writes the report
//! to the log: stderr in the foreground, syslog for a daemon at the default level.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::harness::{BIN, Mount, fusermount_u, is_mounted, wait_for};
use super::logs::{FakeSyslog, cmdline, parse_record, start_daemon};
use crate::common::servers::{FtpServer, ServerKind};
use ftpfs::stats::Report;

/// `ftpfs stats ARGS` as the current user.
fn stats_cmd(args: &[&str], path: &Path) -> Output {
    Command::new(BIN)
        .arg("stats")
        .args(args)
        .arg(path)
        .output()
        .expect("run ftpfs stats")
}

/// `ftpfs stats ARGS` as `nobody` (setpriv: no supplementary groups).
fn stats_as_nobody(args: &[&str], path: &Path) -> Output {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            BIN,
            "stats",
        ])
        .args(args)
        .arg(path)
        .output()
        .expect("run setpriv ftpfs stats")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The report of `m`, through `--json`; panics with the command's output on failure.
fn report(m: &Mount) -> Report {
    let out = stats_cmd(&["--json"], &m.path);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ftpfs stats --json failed ({}): {}\nlog:\n{}",
        out.status,
        text(&out.stderr),
        m.log()
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not a report ({e}): {}", text(&out.stdout)))
}

/// (sent, errors, no reply) of a verb in a report.
fn verb(r: &Report, v: &str) -> (u64, u64, u64) {
    r.remote
        .commands
        .iter()
        .find(|c| c.verb == v)
        .map_or((0, 0, 0), |c| (c.sent, c.errors, c.no_reply))
}

/// A failed `ftpfs stats`: exit 1 and exactly one line on stderr, which is returned.
fn one_line_error(out: &Output) -> String {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(out.stdout.is_empty(), "stdout: {}", text(&out.stdout));
    assert_eq!(err.lines().count(), 1, "not one line: {err:?}");
    err.trim_end().to_string()
}

/// Lets every user reach the mount point (the harness's temp directory is 0700).
fn open_parent(m: &Mount) {
    let parent = m.path.parent().expect("parent");
    fs::set_permissions(parent, fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[test]
fn numbers_move_the_right_way_after_a_known_workload() {
    const N: usize = 300_000;
    const M: usize = 123_457;
    let srv = FtpServer::start(ServerKind::PureFtpd);
    srv.write_file("d/a.bin", vec![b'a'; N]);
    srv.write_file("d/b.txt", "b");
    // Listed, but the server refuses to send it: RETR answered 550.
    let secret = srv.write_file("d/secret", "no");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o000)).expect("chmod");
    let m = Mount::of(&srv, &["dir_cache_ttl=60"]);

    let before = report(&m);
    assert_eq!(before.mountpoint, m.path);
    assert_eq!(before.pid, m.pid(), "the report is the daemon's");
    assert!(before.fsname.starts_with("ftpfs#"), "{}", before.fsname);
    assert_eq!(
        before.remote.server,
        Some(format!("127.0.0.1:{}", srv.port))
    );
    assert!(verb(&before, "USER").0 >= 1 && verb(&before, "PASS").0 >= 1);
    assert!(
        verb(&before, "MLSD").0 >= 1,
        "the root was listed: {:?}",
        before.remote.commands
    );

    // The same directory listed twice within the TTL: one MLSD, then the cache.
    let first = m.sh("ls d");
    assert_eq!(m.sh("ls d"), first);
    let listed = report(&m);
    assert_eq!(verb(&listed, "MLSD").0, verb(&before, "MLSD").0 + 1);
    assert_eq!(
        listed.fs.dir_cache.misses,
        before.fs.dir_cache.misses + 1,
        "{:?}",
        listed.fs.dir_cache
    );
    assert!(
        listed.fs.dir_cache.hits > before.fs.dir_cache.hits,
        "{:?}",
        listed.fs.dir_cache
    );
    assert!(listed.fs.dir_cache.dirs >= 2 && listed.fs.dir_cache.entries >= 4);

    // Read N bytes, fail to read one file, write M bytes.
    assert_eq!(fs::read(m.p("d/a.bin")).expect("read").len(), N);
    assert!(fs::read(m.p("d/secret")).is_err(), "the server refuses it");
    fs::write(m.p("d/new.bin"), vec![b'n'; M]).expect("write");
    assert!(
        wait_for(Duration::from_secs(10), || {
            let r = report(&m);
            r.fs.files.open == 0 && r.remote.streams.downloads + r.remote.streams.uploads == 0
        }),
        "files or transfers still open: {:?}",
        report(&m)
    );
    let after = report(&m);
    assert!(after.fs.bytes_read >= before.fs.bytes_read + N as u64);
    assert_eq!(after.fs.bytes_written, before.fs.bytes_written + M as u64);
    let (sent, errors, _) = verb(&after, "RETR");
    let (sent0, errors0, _) = verb(&before, "RETR");
    assert!(
        errors > errors0,
        "the refused RETR: {:?}",
        after.remote.commands
    );
    assert_eq!(
        sent - sent0,
        1 + (errors - errors0),
        "one good RETR plus the refused ones: {:?}",
        after.remote.commands
    );
    // Replies stayed in step with their commands: the only failures are the refused RETR
    // and pure-ftpd's refusal of OPTS UTF8 ON; every command got its reply.
    for c in &after.remote.commands {
        let allowed = matches!(c.verb.as_str(), "RETR" | "OPTS");
        assert!(
            (c.errors == 0 || allowed) && c.no_reply == 0,
            "{c:?} in {:?}",
            after.remote.commands
        );
    }
    assert_eq!(verb(&after, "STOR").0, verb(&before, "STOR").0 + 1);
    assert_eq!(verb(&after, "STOR").1, 0);
    let s = &after.remote.streams;
    assert!(s.downloads_total > before.remote.streams.downloads_total);
    assert_eq!(s.uploads_total, before.remote.streams.uploads_total + 1);
    let pool = after.remote.pool.as_ref().expect("a pool");
    assert_eq!(
        (pool.limit, pool.configured, pool.lowered.as_ref()),
        (24, 24, None)
    );
    assert!(pool.connections >= 1 && pool.connections == pool.busy + pool.idle + pool.logging_in);
    let data = after.remote.data.as_ref().expect("data connections");
    assert_eq!(
        (data.configured.as_str(), data.current.as_deref()),
        ("auto", Some("EPSV"))
    );
    assert!(after.remote.features.iter().any(|f| f.starts_with("MLST")));
    assert!(after.remote.tls.is_none(), "plain FTP");
    assert!(after.uptime_secs >= before.uptime_secs);

    // The text form says the same.
    let out = stats_cmd(&[], &m.path);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    for want in [
        "through the mount: ".to_string(),
        format!("{M} bytes) written"),
        "connections: ".to_string(),
        "data connections: EPSV (data_mode=auto)".to_string(),
        "TLS: none (plain FTP)".to_string(),
    ] {
        assert!(shown.contains(&want), "{want:?} missing from:\n{shown}");
    }
    assert!(
        shown.lines().any(|l| l.trim_start().starts_with("RETR ")),
        "{shown}"
    );
    assert!(
        !shown.contains(&srv.password) && !shown.contains("secret"),
        "{shown}"
    );
    // Any path inside the mount names it too.
    assert_eq!(report_at(&m.p("d")).pid, m.pid());
    m.unmount();
}

/// A download closed early (ABOR): its 426 and the ABOR's replies are no error, and the
/// commands after it on the same connection get their own replies.
fn abort_is_no_error(kind: ServerKind) {
    let srv = FtpServer::start(kind);
    srv.write_file("big.bin", vec![b'z'; 8 << 20]);
    srv.write_file("small.txt", "small");
    // One connection: whatever follows the ABOR runs on the connection that sent it.
    let m = Mount::of(&srv, &["connections=1"]);
    for _ in 0..3 {
        assert_eq!(m.sh("head -c 10 big.bin"), "z".repeat(10));
        assert_eq!(m.sh("cat small.txt"), "small");
    }
    let r = report(&m);
    assert!(verb(&r, "ABOR").0 >= 1, "{kind:?}: {:?}", r.remote.commands);
    for c in &r.remote.commands {
        assert!(
            (c.errors == 0 || c.verb == "OPTS") && c.no_reply == 0,
            "{kind:?}: {c:?} in {:?}\n{}",
            r.remote.commands,
            m.log()
        );
    }
    m.unmount();
}

#[test]
fn an_aborted_download_is_no_error_on_vsftpd() {
    abort_is_no_error(ServerKind::Vsftpd);
}

#[test]
fn an_aborted_download_is_no_error_on_proftpd() {
    abort_is_no_error(ServerKind::Proftpd);
}

#[test]
fn an_aborted_download_is_no_error_on_pyftpdlib() {
    abort_is_no_error(ServerKind::Pyftpdlib);
}

fn report_at(p: &Path) -> Report {
    let out = stats_cmd(&["--json"], p);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("a report")
}

#[test]
fn json_parses_and_another_user_reads_only_an_allow_other_mount() {
    let srv = FtpServer::start(ServerKind::Pyftpdlib);
    srv.write_file("f.txt", "x");
    let open = Mount::of(&srv, &["allow_other"]);
    let closed = Mount::of(&srv, &[]);
    open_parent(&open);
    open_parent(&closed);

    // --json is JSON, with the documented top-level keys.
    let out = stats_as_nobody(&["--json"], &open.path);
    assert!(
        out.status.success(),
        "nobody on allow_other: {}",
        text(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["format"], ftpfs::stats::FORMAT);
    assert_eq!(v["pid"], open.pid());
    for key in [
        "bytes_read",
        "bytes_written",
        "files",
        "dir_cache",
        "commands",
        "pool",
        "data",
        "streams",
        "retries",
        "features",
        "uptime_secs",
    ] {
        assert!(v.get(key).is_some(), "no {key}: {v}");
    }
    let out = stats_as_nobody(&[], &open.path);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("through the mount: "));

    // A default mount: the kernel keeps nobody out of it, and so does its daemon.
    assert!(
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "ls"])
            .arg(&closed.path)
            .output()
            .is_ok_and(|o| !o.status.success()),
        "nobody can list a default mount?"
    );
    let err = one_line_error(&stats_as_nobody(&["--json"], &closed.path));
    assert!(
        err.starts_with(&format!("ftpfs stats: {}: ", closed.path.display()))
            && err.contains("permission denied: uid 65534 may not read this mount's statistics")
            && err.contains("the mount is not allow_other"),
        "the daemon refuses (the kernel gave nobody the device number): {err}"
    );
    // Its owner (root here) still reads it.
    assert_eq!(report(&closed).pid, closed.pid());
    open.unmount();
    closed.unmount();
}

#[test]
fn a_missing_path_a_plain_directory_and_another_filesystem_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let missing = dir.path().join("no-such-dir");
    assert_eq!(
        one_line_error(&stats_cmd(&[], &missing)),
        format!(
            "ftpfs stats: {}: no such file or directory",
            missing.display()
        )
    );
    let err = one_line_error(&stats_cmd(&["--json"], dir.path()));
    assert!(
        err.starts_with(&format!(
            "ftpfs stats: {}: not an ftpfs mount point (a directory on the ",
            dir.path().display()
        )),
        "{err}"
    );
    assert_eq!(
        one_line_error(&stats_cmd(&[], Path::new("/proc"))),
        "ftpfs stats: /proc: not an ftpfs mount (the filesystem there is proc)"
    );
    // Usage errors are clap's (exit 2).
    let out = Command::new(BIN).arg("stats").output().expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn a_stopped_daemon_makes_the_command_give_up_at_its_timeout() {
    let srv = FtpServer::start(ServerKind::Pyftpdlib);
    let m = Mount::of(&srv, &[]);
    let pid = m.pid() as i32;
    // Serving (its socket bound), then stopped.
    assert_eq!(report(&m).pid, m.pid());
    // SAFETY: stopping and continuing our own child by pid.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    // Stopped for sure (every thread) before asking: /proc/PID/stat says T.
    let stopped = || {
        fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(") ").map(|(_, r)| r.starts_with('T')))
            .unwrap_or(false)
    };
    assert!(wait_for(Duration::from_secs(5), stopped), "not stopped");
    let start = Instant::now();
    let out = stats_cmd(&["--timeout", "2"], &m.path);
    let took = start.elapsed();
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let err = one_line_error(&out);
    assert_eq!(
        err,
        format!(
            "ftpfs stats: {}: no answer within 2s (the mount's daemon may be stuck)",
            m.path.display()
        )
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "{took:?}"
    );
    // Running again, it answers.
    assert_eq!(report(&m).pid, m.pid());
    m.unmount();
}

/// The lines of the report in a log, in order (after `[… NOTICE ftpfs::stats] `).
fn report_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| {
            l.split_once("NOTICE ftpfs::stats] ")
                .map(|(_, r)| r.to_string())
        })
        .collect()
}

#[test]
fn sigusr1_writes_the_report_to_stderr_in_the_foreground() {
    let srv = FtpServer::start(ServerKind::PureFtpd);
    srv.write_file("f.txt", vec![b'f'; 5000]);
    let m = Mount::of(&srv, &[]);
    assert_eq!(fs::read(m.p("f.txt")).expect("read").len(), 5000);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(m.pid() as i32, libc::SIGUSR1) };
    assert!(
        wait_for(Duration::from_secs(10), || report_lines(&m.log())
            .iter()
            .any(|l| l.starts_with("FTP commands"))),
        "no report in the log:\n{}",
        m.log()
    );
    let lines = report_lines(&m.log());
    assert!(lines[0].starts_with("ftpfs "), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("through the mount: 4.9 KiB (5000 bytes) read")),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l.trim_start().starts_with("RETR ")));
    // The report is what `ftpfs stats` prints (same lines, up to the numbers that move).
    let out = stats_cmd(&[], &m.path);
    let printed: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    assert_eq!(printed.len(), lines.len(), "{printed:#?}\n{lines:#?}");
    // The mount goes on.
    assert!(is_mounted(&m.path));
    assert_eq!(fs::read(m.p("f.txt")).expect("read again").len(), 5000);
    m.unmount();
}

#[test]
fn sigusr1_reaches_syslog_from_a_daemon_at_the_default_level() {
    let srv = FtpServer::start(ServerKind::Pyftpdlib);
    srv.write_file("f.txt", "hello");
    let dir = tempfile::tempdir().expect("tmp");
    let syslog = FakeSyslog::bind(dir.path());
    let mnt = dir.path().join("m");
    fs::create_dir(&mnt).expect("mkdir");
    let cache = dir.path().join("cache");
    let (ok, stderr) = start_daemon(&srv, &mnt, &cache, &[], &syslog.path);
    assert!(ok, "daemon start failed: {stderr}");
    let first = syslog.records(Duration::from_secs(10), |_| true);
    let (_, pid, _) = first
        .first()
        .and_then(|r| parse_record(r))
        .unwrap_or_else(|| panic!("no mount record: {first:?}"));
    assert!(cmdline(pid).contains(&mnt.display().to_string()));
    assert_eq!(
        fs::read_to_string(mnt.join("f.txt")).expect("read"),
        "hello"
    );

    // SAFETY: signalling the daemon of the mount this test made.
    unsafe { libc::kill(pid as i32, libc::SIGUSR1) };
    let records = syslog.records(Duration::from_secs(10), |r| r.contains("FTP commands"));
    let notices: Vec<&str> = records
        .iter()
        .filter_map(|r| parse_record(r))
        .filter(|(pri, p, _)| *pri == 29 && *p == pid)
        .map(|(_, _, msg)| msg)
        .collect();
    assert!(
        notices
            .iter()
            .any(|m| m.starts_with("[NOTICE ftpfs::stats] through the mount: 5 bytes read")),
        "no report at daemon.notice: {records:?}"
    );
    assert!(
        notices
            .iter()
            .any(|m| m.starts_with("[NOTICE ftpfs::stats] FTP commands")),
        "{records:?}"
    );
    for r in &records {
        assert!(!r.contains(&srv.password), "password in syslog: {r}");
    }
    // `ftpfs stats` on the daemon's mount, and the mount still works.
    let out = stats_cmd(&["--json"], &mnt);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: Report = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(r.pid, pid);
    assert!(is_mounted(&mnt));
    assert!(fusermount_u(&mnt), "fusermount3 -u kept failing");
    assert!(
        wait_for(Duration::from_secs(10), || cmdline(pid).is_empty()),
        "daemon still running"
    );
}

#[test]
fn ftps_shows_what_tls_negotiated_and_counts_its_commands() {
    use crate::common::servers::TlsSetup;
    let srv = FtpServer::start_tls(ServerKind::Vsftpd, TlsSetup::explicit());
    srv.write_file("f.txt", "over tls");
    let ca = format!("tls_ca={}", srv.ca_file().display());
    let m = Mount::of(&srv, &[&ca]);
    assert_eq!(fs::read_to_string(m.p("f.txt")).expect("read"), "over tls");
    let r = report(&m);
    let tls = r.remote.tls.as_ref().expect("a TLS mount reports TLS");
    assert_eq!(tls.mode, "explicit");
    assert_eq!(tls.version.as_deref(), Some("TLSv1_3"), "{tls:?}");
    assert!(
        tls.cipher
            .as_deref()
            .is_some_and(|c| c.starts_with("TLS13_")),
        "{tls:?}"
    );
    assert!(!tls.capped_to_1_2);
    for v in ["AUTH", "PBSZ", "PROT", "USER", "PASS"] {
        assert!(verb(&r, v).0 >= 1, "{v}: {:?}", r.remote.commands);
    }
    let (sent, errors, no_reply) = verb(&r, "RETR");
    assert!(
        sent >= 1 && errors == 0 && no_reply == 0,
        "{:?}",
        r.remote.commands
    );
    let out = stats_cmd(&[], &m.path);
    assert!(
        text(&out.stdout).contains("TLS: TLSv1_3 (TLS13_"),
        "{}",
        text(&out.stdout)
    );
    m.unmount();
}

#[test]
fn a_server_that_refuses_more_connections_shows_the_lowered_limit() {
    let srv = FtpServer::start_limited(ServerKind::Pyftpdlib, Some(3));
    let m = Mount::of(&srv, &[]);
    // The 7 connections logged in ahead at mount run into the server's limit of 3.
    assert!(
        wait_for(Duration::from_secs(10), || report(&m)
            .remote
            .pool
            .is_some_and(|p| p.lowered.is_some() && p.logging_in == 0)),
        "the limit was never lowered: {:?}\n{}",
        report(&m).remote.pool,
        m.log()
    );
    let r = report(&m);
    let pool = r.remote.pool.as_ref().expect("pool");
    let lowered = pool.lowered.as_ref().expect("lowered");
    assert_eq!((lowered.to, lowered.code), (3, Some(421)), "{pool:?}");
    assert_eq!((pool.limit, pool.configured), (3, 24), "{pool:?}");
    assert!(pool.connections <= 3, "{pool:?}");
    // The refusals came as banners, before any command.
    let (_, refused, _) = verb(&r, ftpfs::remote::ftp::counters::UNASKED);
    assert!(refused >= 1, "{:?}", r.remote.commands);
    let out = stats_cmd(&[], &m.path);
    let shown = text(&out.stdout);
    assert!(
        shown.contains(
            "the server refused one more login (421): the limit was lowered to 3 (-o \
             connections=24)"
        ),
        "{shown}"
    );
    m.unmount();
}

#[test]
fn a_data_connection_fallback_is_shown_with_its_reason() {
    use crate::common::badftp::{BadFtp, Fault};
    let srv = BadFtp::start();
    srv.put_file("/f.txt", "active only\n");
    // Passive data connections are refused: `-o data_mode=auto` falls back to EPRT.
    srv.on("EPSV", Fault::Reply(425, "No passive today".into()));
    srv.on("PASV", Fault::Reply(425, "No passive today".into()));
    let m = Mount::of_bad(&srv, &["timeout=5"]);
    assert_eq!(m.sh("cat f.txt"), "active only\n");
    let r = report(&m);
    let data = r.remote.data.as_ref().expect("data connections");
    assert_eq!(data.current.as_deref(), Some("EPRT"), "{data:?}");
    let why = data.last_fallback.as_deref().unwrap_or_default();
    assert!(
        why.contains("EPSV") && why.contains("PASV") && why.ends_with("fell back to EPRT"),
        "{data:?}"
    );
    assert!(data.failures >= 2 && data.rejected.is_empty(), "{data:?}");
    assert_eq!(r.remote.retries.data_fallbacks, 1, "{:?}", r.remote.retries);
    // The refusals are errors of their commands.
    assert!(
        verb(&r, "EPSV").1 >= 1 && verb(&r, "PASV").1 >= 1,
        "{:?}",
        r.remote.commands
    );
    assert_eq!(verb(&r, "EPRT").1, 0, "{:?}", r.remote.commands);
    let shown = text(&stats_cmd(&[], &m.path).stdout);
    assert!(
        shown.contains("data connections: EPRT (data_mode=auto)") && shown.contains("why: EPSV"),
        "{shown}"
    );
    m.unmount();
}
