//! Mounting the real binary for tests: [`Mount`] starts `ftpfs -f` against a server, waits
//! until the kernel shows the mount, and unmounts and reaps the process on drop (also when the
//! test panics). Helpers run shell commands inside the mount and compare trees.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::badftp::BadFtp;
use crate::common::servers::FtpServer;

pub const BIN: &str = env!("CARGO_BIN_EXE_ftpfs");

/// Whether `path` is a FUSE mount of ftpfs right now (from /proc/self/mountinfo).
pub fn is_mounted(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy().replace(' ', "\\040");
    info.lines().any(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        let fstype = l.split(" - ").nth(1).and_then(|r| r.split(' ').next());
        f.len() > 4 && f[4] == want && matches!(fstype, Some("fuse" | "fuse.ftpfs"))
    })
}

/// `fusermount3 -u`, retried for a few seconds while the mount is busy: the kernel sends
/// RELEASE of the last closed file asynchronously, and until the daemon has answered it the
/// mount counts as in use. Returns whether it unmounted.
pub fn fusermount_u(path: &Path) -> bool {
    wait_for(Duration::from_secs(5), || {
        Command::new("fusermount3")
            .arg("-u")
            .arg(path)
            .status()
            .is_ok_and(|st| st.success())
    })
}

/// Waits until `cond` holds or `limit` passes.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// A running `ftpfs -f` mount.
pub struct Mount {
    pub path: PathBuf,
    _dir: tempfile::TempDir,
    child: Option<Child>,
    log: PathBuf,
}

impl Mount {
    /// Mounts `url` with `password` (via FTPFS_PASSWORD) and extra `-o` options.
    pub fn new(url: &str, password: &str, opts: &[&str]) -> Mount {
        Mount::with_prefix(&[], url, password, opts)
    }

    /// Like [`Mount::new`], but runs `ftpfs` behind the command `prefix` (e.g.
    /// `["nsenter", "--net=/run/netns/NS", "--"]`, which must exec it in place so the child
    /// is ftpfs itself). An empty prefix is the same as [`Mount::new`].
    pub fn with_prefix(prefix: &[&str], url: &str, password: &str, opts: &[&str]) -> Mount {
        Mount::try_with_prefix(prefix, url, password, opts).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Mount::with_prefix`], but a mount that does not appear within 15 s (ftpfs
    /// exited or is still busy) is an `Err` with ftpfs's log instead of a panic.
    pub fn try_with_prefix(
        prefix: &[&str],
        url: &str,
        password: &str,
        opts: &[&str],
    ) -> Result<Mount, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).expect("mkdir mountpoint");
        let log = dir.path().join("ftpfs.log");
        let mut cmd = match prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        cmd.arg("-f").arg("-vv").arg(url).arg(&path);
        for o in opts {
            cmd.arg("-o").arg(o);
        }
        let child = cmd
            .env("FTPFS_PASSWORD", password)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn ftpfs");
        let mut m = Mount {
            path,
            _dir: dir,
            child: Some(child),
            log,
        };
        let ok = wait_for(Duration::from_secs(15), || {
            is_mounted(&m.path)
                || m.child
                    .as_mut()
                    .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))))
        });
        if ok && is_mounted(&m.path) {
            Ok(m)
        } else {
            Err(format!("ftpfs did not mount {url}; its log:\n{}", m.log()))
        }
    }

    /// Mounts a test server as its user.
    pub fn of(server: &FtpServer, opts: &[&str]) -> Mount {
        Mount::new(&server.url(), &server.password, opts)
    }

    /// Mounts our misbehaving test server ([`BadFtp`]) as its user.
    pub fn of_bad(server: &BadFtp, opts: &[&str]) -> Mount {
        Mount::new(&server.url(), &server.password, opts)
    }

    /// The process id of the daemon (`ftpfs -f` runs the mount in this process).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A path inside the mount.
    pub fn p(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }

    /// Runs `sh -c script` with the mount as working directory; panics with its output on
    /// failure.
    pub fn sh(&self, script: &str) -> String {
        let out = sh_in(&self.path, script);
        assert!(
            out.status.success(),
            "`{script}` failed ({}):\nstdout: {}\nstderr: {}\nftpfs log tail:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            tail(&self.log(), 40)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Unmounts with fusermount3 and waits for the process; returns its exit status.
    pub fn unmount(mut self) -> std::process::ExitStatus {
        assert!(fusermount_u(&self.path), "fusermount3 -u kept failing");
        let mut child = self.child.take().expect("child");
        let status = wait_child(&mut child, Duration::from_secs(20));
        status.unwrap_or_else(|| {
            let _ = child.kill();
            panic!("ftpfs did not exit after unmount; log:\n{}", self.log())
        })
    }

    /// Waits up to `limit` for the daemon to exit by itself (after an unmount made
    /// elsewhere); `None` if it is still running (it is then killed when dropped).
    pub fn wait_exit(mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let st = wait_child(&mut child, limit);
        if st.is_none() {
            self.child = Some(child);
        }
        st
    }

    /// Sends a signal to the daemon and waits for it; returns its exit status.
    pub fn signal(mut self, sig: i32) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("child");
        // SAFETY: signalling our own child by pid.
        unsafe { libc::kill(child.id() as i32, sig) };
        let status = wait_child(&mut child, Duration::from_secs(20));
        status.unwrap_or_else(|| {
            let _ = child.kill();
            panic!(
                "ftpfs did not exit after signal {sig}; log:\n{}",
                self.log()
            )
        })
    }
}

/// Whether anything at all is mounted on `path`.
fn anything_mounted(path: &Path) -> bool {
    let want = path.to_string_lossy().replace(' ', "\\040");
    std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|info| {
        info.lines()
            .any(|l| l.split(' ').nth(4) == Some(want.as_str()))
    })
}

impl Drop for Mount {
    fn drop(&mut self) {
        if anything_mounted(&self.path) {
            let _ = Command::new("fusermount3")
                .arg("-u")
                .arg("-z")
                .arg(&self.path)
                .status();
        }
        if let Some(mut c) = self.child.take()
            && wait_child(&mut c, Duration::from_secs(10)).is_none()
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn wait_child(c: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + limit;
    loop {
        if let Ok(Some(st)) = c.try_wait() {
            return Some(st);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `sh -c script` in `dir`.
pub fn sh_in(dir: &Path, script: &str) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("sh")
}

pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// sha256 of a file, via sha256sum (what a user would compare).
pub fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Deterministic pseudo-random bytes.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A `kB` field of a process's status (`VmRSS:`, `VmHWM:`); `proc_dir` is `/proc/PID`.
/// Panics when the field is missing: a memory check must never pass on a 0 it did not read.
pub fn status_kib(proc_dir: &Path, field: &str) -> u64 {
    let path = proc_dir.join("status");
    let status =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {}", path.display()))
}
