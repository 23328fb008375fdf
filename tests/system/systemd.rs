//! The documented fstab line (`contrib/systemd/fstab`, also in the man pages and README) and
//! the unit pair (`contrib/systemd/mnt-ftp.{mount,automount}`), checked by the tools that will
//! read them: findmnt's fstab verifier, systemd's own fstab generator (the line must become an
//! automount pulled in by remote-fs.target), `systemd-analyze verify` (which also checks that
//! the units' `Documentation=man:` pages resolve, here to the generated pages), and mount(8)
//! itself running the real helper `mount.ftpfs`, in a mount namespace of its own where a
//! scratch /usr/sbin holds the helper: first `mount -f` (the helper checks everything), then a
//! real mount of a test server through the same line. systemd is not running here (PID 1 is
//! not systemd), so the automount itself cannot be triggered; everything short of that is.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{ok, repo, run};
use crate::common::servers::{FtpServer, ServerKind};
use crate::mount::harness::{BIN, is_mounted, wait_for};

const GENERATOR: &str = "/lib/systemd/system-generators/systemd-fstab-generator";

fn contrib(name: &str) -> PathBuf {
    repo().join("contrib/systemd").join(name)
}

/// The fstab example's one entry line.
fn fstab_entry() -> String {
    let text = std::fs::read_to_string(contrib("fstab")).expect("contrib/systemd/fstab");
    let entries: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect();
    assert_eq!(entries.len(), 1, "{text}");
    entries[0].to_string()
}

/// `Key=value` lines of a unit file's section, in order.
fn unit_settings(text: &str, section: &str) -> Vec<(String, String)> {
    let mut current = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            current = line.to_string();
        } else if current == format!("[{section}]")
            && let Some((k, v)) = line.split_once('=')
        {
            out.push((k.to_string(), v.to_string()));
        }
    }
    out
}

fn setting<'a>(settings: &'a [(String, String)], key: &str) -> Option<&'a str> {
    settings
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[test]
fn fstab_line_passes_findmnt_verify() {
    let out = run(Command::new("findmnt")
        .args(["--verify", "--verbose", "--tab-file"])
        .arg(contrib("fstab")));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("0 parse errors, 0 errors"), "{text}");
    // libmount splits the options as mount(8) will: ours go to the helper, x-systemd.* and
    // _netdev stay with mount(8) and systemd.
    assert!(
        text.contains("FS options: allow_other,password_file=/etc/ftpfs/bob"),
        "{text}"
    );
    assert!(
        text.contains(
            "userspace options: noauto,x-systemd.automount,x-systemd.idle-timeout=10min,_netdev"
        ),
        "{text}"
    );
}

#[test]
fn systemd_turns_the_fstab_line_into_an_automount_for_remote_fs() {
    let dir = tempfile::tempdir().expect("tmp");
    let [normal, early, late] = ["normal", "early", "late"].map(|d| dir.path().join(d));
    for d in [&normal, &early, &late] {
        std::fs::create_dir(d).expect("mkdir");
    }
    ok(Command::new(GENERATOR)
        .args([&normal, &early, &late])
        .env("SYSTEMD_FSTAB", contrib("fstab"))
        .env("SYSTEMD_LOG_LEVEL", "warning"));
    let automount =
        std::fs::read_to_string(normal.join("mnt-ftp.automount")).expect("mnt-ftp.automount");
    let mount = std::fs::read_to_string(normal.join("mnt-ftp.mount")).expect("mnt-ftp.mount");
    let a = unit_settings(&automount, "Automount");
    assert_eq!(setting(&a, "Where"), Some("/mnt/ftp"), "{automount}");
    assert_eq!(setting(&a, "TimeoutIdleSec"), Some("10min"), "{automount}");
    let m = unit_settings(&mount, "Mount");
    assert_eq!(setting(&m, "Type"), Some("ftpfs"), "{mount}");
    assert_eq!(
        setting(&m, "What"),
        Some("ftp://bob@ftp.example.com/pub"),
        "{mount}"
    );
    assert!(
        unit_settings(&mount, "Unit").contains(&("Before".into(), "remote-fs.target".into())),
        "_netdev makes it a remote mount: {mount}"
    );
    assert!(
        normal
            .join("remote-fs.target.requires/mnt-ftp.automount")
            .exists(),
        "the automount is not started at boot"
    );
    let out = run(Command::new("systemd-analyze")
        .arg("verify")
        .arg(normal.join("mnt-ftp.automount"))
        .arg(normal.join("mnt-ftp.mount")));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.is_empty(), "{err}");
}

#[test]
fn unit_pair_passes_systemd_analyze_verify_and_matches_the_fstab_line() {
    // The units' Documentation=man:ftpfs(1) man:mount.ftpfs(8) must resolve: verify runs man
    // for them, here against the generated pages.
    let dir = tempfile::tempdir().expect("tmp");
    let pages = dir.path().join("pages");
    ok(Command::new(BIN).arg("generate-docs").arg(&pages));
    let man = dir.path().join("man");
    for (file, section) in [("ftpfs.1", "man1"), ("mount.ftpfs.8", "man8")] {
        std::fs::create_dir_all(man.join(section)).expect("mkdir");
        std::fs::copy(pages.join(file), man.join(section).join(file)).expect("copy");
    }
    let units = dir.path().join("units");
    std::fs::create_dir(&units).expect("mkdir");
    for name in ["mnt-ftp.mount", "mnt-ftp.automount"] {
        std::fs::copy(contrib(name), units.join(name)).expect("copy unit");
    }
    let out = run(Command::new("systemd-analyze")
        .arg("verify")
        .arg(units.join("mnt-ftp.automount"))
        .arg(units.join("mnt-ftp.mount"))
        .env("MANPATH", &man));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.is_empty(),
        "systemd-analyze verify: {err}"
    );

    // Same mount as the fstab line: source, target, type, and its options for ftpfs.
    let fields: Vec<String> = fstab_entry().split_whitespace().map(String::from).collect();
    let mount = std::fs::read_to_string(contrib("mnt-ftp.mount")).expect("unit");
    let m = unit_settings(&mount, "Mount");
    assert_eq!(setting(&m, "What"), Some(fields[0].as_str()));
    assert_eq!(setting(&m, "Where"), Some(fields[1].as_str()));
    assert_eq!(setting(&m, "Type"), Some(fields[2].as_str()));
    let fstab_opts: Vec<&str> = fields[3].split(',').collect();
    for o in setting(&m, "Options").expect("Options=").split(',') {
        assert!(fstab_opts.contains(&o), "{o} is not in the fstab line");
    }
    let automount = std::fs::read_to_string(contrib("mnt-ftp.automount")).expect("unit");
    let a = unit_settings(&automount, "Automount");
    assert_eq!(setting(&a, "Where"), Some(fields[1].as_str()));
    assert!(
        fstab_opts.contains(
            &format!(
                "x-systemd.idle-timeout={}",
                setting(&a, "TimeoutIdleSec").expect("TimeoutIdleSec")
            )
            .as_str()
        )
    );
}

/// Runs `script` with `sh -e` in a mount namespace of its own whose /usr/sbin (= /sbin) is a
/// scratch directory holding only `mount.ftpfs`, a link to the binary under test: mount(8)
/// finds the helper there as it would /sbin/mount.ftpfs, and nothing on the machine changes.
fn in_namespace_with_helper(script: &str, env: &[(&str, &Path)]) -> std::process::Output {
    let full = format!(
        "set -e\nmount -t tmpfs ftpfs-test-sbin /usr/sbin\nln -s '{BIN}' /usr/sbin/mount.ftpfs\n{script}"
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &full])
        .env_remove("FTPFS_PASSWORD")
        .env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

#[test]
fn the_fstab_line_mounts_through_mount8_and_mount_ftpfs() {
    let srv = FtpServer::start(ServerKind::Pyftpdlib);
    srv.write_file("pub/f.txt", "through fstab\n");
    let dir = tempfile::tempdir().expect("tmp");
    let mnt = dir.path().join("mnt-ftp");
    std::fs::create_dir(&mnt).expect("mkdir");
    let pw = dir.path().join("bob");
    std::fs::write(&pw, format!("{}\n", srv.password)).expect("password file");
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    // The documented line with this test's server, mountpoint and password file.
    let entry = fstab_entry()
        .replace(
            "ftp://bob@ftp.example.com/pub",
            &format!("{}pub", srv.url()),
        )
        .replace("/mnt/ftp", &mnt.display().to_string())
        .replace("/etc/ftpfs/bob", &pw.display().to_string());
    assert_ne!(entry, fstab_entry());
    let fstab = dir.path().join("fstab");
    std::fs::write(&fstab, format!("{entry}\n")).expect("fstab");
    // The same with an option ftpfs does not know: `mount -f` must fail, which shows it ran
    // the helper's checks rather than only parsing the line.
    let bad = dir.path().join("fstab.bad");
    std::fs::write(
        &bad,
        format!("{}\n", entry.replace("allow_other", "allow_other,bogus")),
    )
    .expect("fstab.bad");
    let log = dir.path().join("log.sock");
    let syslog = UnixDatagram::bind(&log).expect("bind fake syslog");
    syslog
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");

    let (f, b, m) = (fstab.display(), bad.display(), mnt.display());
    let out = in_namespace_with_helper(
        &format!(
            "trap 'umount -l \"{m}\" 2>/dev/null || true' EXIT\n\
             mount -f -T '{f}' '{m}'\n\
             if mountpoint -q '{m}'; then echo 'mount -f mounted' >&2; exit 3; fi\n\
             if mount -f -T '{b}' '{m}' 2>'{m}.err'; then echo 'bogus accepted' >&2; exit 4; fi\n\
             grep -q \"unknown mount option 'bogus'\" '{m}.err'\n\
             mount -T '{f}' '{m}'\n\
             findmnt -n -o FSTYPE,SOURCE '{m}'\n\
             cat '{m}/f.txt'\n\
             umount '{m}'\n"
        ),
        &[("FTPFS_SYSLOG_SOCKET", &log)],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "status {}\nstdout: {stdout}\nstderr: {stderr}\nserver log:\n{}",
        out.status,
        srv.log()
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let mounted: Vec<&str> = lines
        .first()
        .map_or(vec![], |l| l.split_whitespace().collect());
    assert!(
        matches!(mounted.first(), Some(&("fuse" | "fuse.ftpfs"))),
        "not a FUSE mount: {stdout}"
    );
    assert_eq!(
        mounted.get(1).copied(),
        Some(format!("ftpfs#{}@127.0.0.1:{}/pub", srv.user, srv.port).as_str()),
        "{stdout}"
    );
    assert_eq!(lines.get(1).copied(), Some("through fstab"), "{stdout}");
    assert_eq!(stderr, "", "mount printed warnings");
    // The daemon it started logged its mount to syslog and is gone after the umount.
    let mut buf = vec![0u8; 4096];
    let n = syslog.recv(&mut buf).expect("the daemon's mount record");
    let record = String::from_utf8_lossy(&buf[..n]).into_owned();
    let pid: u32 = record
        .split_once("ftpfs[")
        .and_then(|(_, r)| r.split_once(']'))
        .and_then(|(p, _)| p.parse().ok())
        .unwrap_or_else(|| panic!("not an ftpfs[PID] record: {record}"));
    assert!(record.ends_with(&format!("on {m}")), "{record}");
    // Gone, or a zombie nobody reaps (the helper that forked it has exited).
    let alive =
        || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "));
    assert!(
        wait_for(Duration::from_secs(10), || !alive()),
        "ftpfs[{pid}] still running after umount"
    );
    assert!(!is_mounted(&mnt));
}
