//! Network-lab harness: runs `ftpfs` against pyftpdlib across two network namespaces built by
//! `tests/lab/netlab.sh` (a copy of the lab that ships with the project), with the firewall,
//! NAT and WAN scenarios described in `tests/lab/README.md`.
//!
//! [`Lab::up`] builds lab number `id` (netns `ftplabN-srv` / `ftplabN-cli`, subnet
//! 198.18.N.0/24) and [`Drop`] tears it down again. Every test uses its own id, so the tests
//! run side by side; ids are allocated statically in `scenarios.rs` (60 and up, leaving the low
//! ids to people running the lab by hand). FUSE mounts are made with
//! `nsenter --net=/run/netns/ftplabN-cli` (not `ip netns exec`, which would hide the mount
//! from this process), so the test reads and writes the mount from the root namespace while
//! all of ftpfs's traffic goes through the lab.
//!
//! Requirements: root, and the packages listed in `tests/lab/README.md` (installed by
//! `scripts/setup.sh`). When they are missing the tests fail with netlab's own message; they
//! never skip.
//!
//! Evidence about data connections, for tests that check which ports were used:
//! [`Lab::server_conns`] is `ss -Htan` in the server namespace (TIME-WAIT entries stay there
//! for a minute after a transfer, and the server is the side that closes after RETR and LIST,
//! so every download leaves one), and [`Lab::server_log`] is pyftpdlib's DEBUG log, which
//! records every command (`<- PORT h1,h2,h3,h4,p1,p2`, `<- EPRT |1|addr|port|`, `<- PASV`).

mod scenarios;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use crate::mount::harness::{BIN, Mount};

/// The lab's run directory root (netlab.sh's `$NETLAB_RUN`), `/tmp/netlab` unless set.
fn run_root() -> PathBuf {
    std::env::var_os("NETLAB_RUN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/netlab"))
}

/// `tests/lab/netlab.sh` of this checkout.
pub fn netlab_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/netlab.sh")
}

/// Runs `netlab.sh --id ID ARGS...` and returns its output (never panics by itself).
fn netlab(id: u8, args: &[&str]) -> Output {
    Command::new("bash")
        .arg(netlab_sh())
        .arg("--id")
        .arg(id.to_string())
        .args(args)
        .env("NETLAB_RUN", run_root())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", netlab_sh().display()))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Serializes the first `up` of this process: the first `ip netns add` on a fresh machine
/// also sets up `/run/netns`, which is racy when several happen at once.
static FIRST_UP: Mutex<bool> = Mutex::new(false);

/// One running lab; torn down on drop. Its run directory is removed when the test passed;
/// when it panicked, the logs in it (pyftpdlib.log, nft rules) are kept for inspection and
/// only the sample FTP root is removed.
pub struct Lab {
    pub id: u8,
    env: HashMap<String, String>,
}

impl Lab {
    /// `netlab.sh --id ID up ARGS -q`; panics with netlab's output when it fails.
    pub fn up(id: u8, args: &[&str]) -> Lab {
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        assert_eq!(
            euid, 0,
            "the network lab needs root (namespaces, nftables); run the tests as root"
        );
        let mut all = vec!["up"];
        all.extend_from_slice(args);
        all.push("-q");
        let out = {
            let mut first = FIRST_UP.lock().unwrap_or_else(|e| e.into_inner());
            if *first {
                drop(first);
                netlab(id, &all)
            } else {
                let out = netlab(id, &all);
                *first = true;
                out
            }
        };
        // From here on `Drop` cleans up, also after a partial `up`.
        let mut lab = Lab {
            id,
            env: HashMap::new(),
        };
        assert!(
            out.status.success(),
            "netlab.sh --id {id} {} failed ({}):\n{}",
            all.join(" "),
            out.status,
            text(&out)
        );
        lab.env = lab.env();
        lab
    }

    /// The variables of `netlab.sh env` (`FTPLAB_HOST`, `FTPLAB_PORT`, `FTPLAB_USER`, ...).
    pub fn env(&self) -> HashMap<String, String> {
        let out = netlab(self.id, &["env"]);
        assert!(
            out.status.success(),
            "netlab.sh --id {} env failed:\n{}",
            self.id,
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
            .map(|(k, v)| {
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v);
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    /// One variable of `netlab.sh env`, e.g. `var("HOST")` for `FTPLAB_HOST`.
    pub fn var(&self, name: &str) -> String {
        let key = format!("FTPLAB_{name}");
        self.env
            .get(&key)
            .unwrap_or_else(|| panic!("netlab.sh env has no {key}: {:?}", self.env))
            .clone()
    }

    /// `ftp://USER@HOST:PORT/` (the password goes through `FTPFS_PASSWORD`).
    pub fn url(&self) -> String {
        format!(
            "ftp://{}@{}:{}/",
            self.var("USER"),
            self.var("HOST"),
            self.var("PORT")
        )
    }

    pub fn password(&self) -> String {
        self.var("PASS")
    }

    /// The FTP root on this machine's filesystem (what the server serves).
    pub fn root(&self) -> PathBuf {
        PathBuf::from(self.var("ROOT"))
    }

    /// The lab's run directory (logs, state, default FTP root).
    pub fn run_dir(&self) -> PathBuf {
        run_root().join(format!("lab{}", self.id))
    }

    /// `nsenter --net=/run/netns/ftplabN-cli --`: runs a command in the client netns only
    /// (mounts made behind it are visible everywhere).
    pub fn client_prefix(&self) -> Vec<String> {
        ns_prefix(&self.var("CLIENT_NS"))
    }

    /// The same for the server netns.
    pub fn server_prefix(&self) -> Vec<String> {
        ns_prefix(&self.var("SERVER_NS"))
    }

    /// Mounts the lab's server with `ftpfs -f -vv URL MNT -o OPT...` in the client netns.
    pub fn mount(&self, opts: &[&str]) -> Mount {
        let prefix = self.client_prefix();
        let prefix: Vec<&str> = prefix.iter().map(String::as_str).collect();
        Mount::with_prefix(&prefix, &self.url(), &self.password(), opts)
    }

    /// Like [`Lab::mount`], but a mount that fails is an `Err` with ftpfs's log.
    pub fn try_mount(&self, opts: &[&str]) -> Result<Mount, String> {
        let prefix = self.client_prefix();
        let prefix: Vec<&str> = prefix.iter().map(String::as_str).collect();
        Mount::try_with_prefix(&prefix, &self.url(), &self.password(), opts)
    }

    /// `ftpfs probe -o OPT... URL` in the client netns (hard limit 120 s); returns the exit
    /// code (-1 when killed by a signal) and stdout. Its stderr is printed, so a failing test
    /// shows it.
    pub fn probe(&self, opts: &[&str]) -> (i32, String) {
        let mut cmd = Command::new("timeout");
        cmd.arg("120")
            .args(self.client_prefix())
            .arg(BIN)
            .arg("probe");
        for o in opts {
            cmd.arg("-o").arg(o);
        }
        let out = cmd
            .arg(self.url())
            .env("FTPFS_PASSWORD", self.password())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .expect("run ftpfs probe");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        eprintln!(
            "ftpfs probe {opts:?} exited {}\n--- stdout\n{stdout}--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), stdout)
    }

    /// Runs `CMD ARGS...` in the server netns; panics when it fails.
    pub fn srv_exec(&self, args: &[&str]) -> String {
        let prefix = self.server_prefix();
        let out = Command::new(&prefix[0])
            .args(&prefix[1..])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("nsenter");
        assert!(
            out.status.success(),
            "{args:?} in the server netns failed:\n{}",
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The server's view of its TCP sockets: `ss -Htan` in the server netns (all states,
    /// including LISTEN and TIME-WAIT; columns: state, recv-q, send-q, local, peer). See
    /// [`conns`] to parse it.
    pub fn server_conns(&self) -> String {
        self.srv_exec(&["ss", "-Htan"])
    }

    /// pyftpdlib's protocol log so far (commands as `<- CMD`, replies as `-> NNN ...`).
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.run_dir().join("pyftpdlib.log")).unwrap_or_default()
    }

    /// `netlab.sh status` (config, listeners, nft counters), for failure messages.
    pub fn status(&self) -> String {
        text(&netlab(self.id, &["status"]))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        if panicking {
            eprintln!("netlab.sh --id {} status:\n{}", self.id, self.status());
        }
        let args: &[&str] = if panicking {
            &["down"]
        } else {
            &["down", "--purge"]
        };
        let out = netlab(self.id, args);
        if panicking {
            // Keep the logs, not the 36 MiB sample root (the next `up` recreates it).
            let _ = std::fs::remove_dir_all(self.run_dir().join("ftproot"));
            eprintln!(
                "lab {} torn down; logs kept in {}",
                self.id,
                self.run_dir().display()
            );
        }
        if !out.status.success() {
            eprintln!("netlab.sh --id {} down failed:\n{}", self.id, text(&out));
        }
    }
}

fn ns_prefix(ns: &str) -> Vec<String> {
    vec![
        "nsenter".to_string(),
        format!("--net=/run/netns/{ns}"),
        "--".to_string(),
    ]
}

/// One line of `ss -Htan`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conn {
    pub state: String,
    pub local_port: u16,
    pub peer_port: u16,
    pub line: String,
}

/// Parses `ss -Htan` output (`[::ffff:1.2.3.4]:21`, `1.2.3.4:21`, `*:21` addresses).
pub fn conns(ss: &str) -> Vec<Conn> {
    let port = |a: &str| -> u16 {
        a.rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(0)
    };
    ss.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 5).then(|| Conn {
                state: f[0].to_string(),
                local_port: port(f[3]),
                peer_port: port(f[4]),
                line: l.trim().to_string(),
            })
        })
        .collect()
}

/// The data ports a client asked for with `PORT`/`EPRT`, in the order of pyftpdlib's log.
pub fn active_ports(server_log: &str) -> Vec<u16> {
    server_log
        .lines()
        .filter_map(|l| l.split_once("<- ").map(|(_, c)| c.trim()))
        .filter_map(|c| {
            if let Some(arg) = c.strip_prefix("PORT ") {
                let n: Vec<u16> = arg
                    .split(',')
                    .filter_map(|x| x.trim().parse().ok())
                    .collect();
                (n.len() == 6).then(|| n[4] * 256 + n[5])
            } else if let Some(arg) = c.strip_prefix("EPRT ") {
                // |proto|addr|port|, any delimiter
                let d = arg.chars().next()?;
                arg.split(d).nth(3)?.parse().ok()
            } else {
                None
            }
        })
        .collect()
}

/// Lab id of [`lab_works_with_curl`]; `scenarios.rs` allocates the others.
pub const HARNESS_TEST_ID: u8 = 59;

/// The harness itself, with curl instead of ftpfs: the lab comes up, curl in the client netns
/// reads through passive and active (port range) data connections, and both ways of seeing
/// the data ports agree with what curl did.
#[test]
fn lab_works_with_curl() {
    let lab = Lab::up(HARNESS_TEST_ID, &["--scenario", "open"]);
    assert_eq!(
        lab.url(),
        format!("ftp://lab@198.18.{HARNESS_TEST_ID}.2:21/")
    );
    assert_eq!(lab.password(), "lab");
    assert!(lab.root().join("hello.txt").is_file());
    let curl = |extra: &[&str]| -> String {
        let prefix = lab.client_prefix();
        let out = Command::new(&prefix[0])
            .args(&prefix[1..])
            .args(["curl", "-sS", "--max-time", "20", "-u", "lab:lab"])
            .args(extra)
            .arg(format!("ftp://{}/hello.txt", lab.var("HOST")))
            .output()
            .expect("curl");
        assert!(out.status.success(), "curl {extra:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(curl(&[]), "hello from ftplab\n");
    assert!(active_ports(&lab.server_log()).is_empty());
    let range = format!("{}:50010-50020", lab.var("CLIENT_IP"));
    for _ in 0..3 {
        assert_eq!(curl(&["--ftp-port", &range]), "hello from ftplab\n");
    }
    assert_eq!(
        curl(&["--ftp-port", &range, "--disable-eprt"]),
        "hello from ftplab\n"
    );
    let ports = active_ports(&lab.server_log());
    assert_eq!(ports.len(), 4, "{}", lab.server_log());
    assert!(
        ports.iter().all(|p| (50010..=50020).contains(p)),
        "{ports:?}"
    );
    let ss = lab.server_conns();
    let active: Vec<Conn> = conns(&ss)
        .into_iter()
        .filter(|c| c.state != "LISTEN" && c.local_port != 21)
        .filter(|c| (50010..=50020).contains(&c.peer_port))
        .collect();
    assert_eq!(
        active.len(),
        4,
        "4 active data connections in TIME-WAIT:\n{ss}"
    );
}

#[test]
fn parses_ss_and_pyftpdlib_log() {
    let ss = "TIME-WAIT 0 0 198.18.60.2:37341 198.18.60.1:50010\n\
              LISTEN 0 100 *:21 *:*\n\
              ESTAB 0 0 [::ffff:198.18.60.2]:21 [::ffff:198.18.60.1]:53360\n";
    let c = conns(ss);
    assert_eq!(c.len(), 3);
    assert_eq!((c[0].local_port, c[0].peer_port), (37341, 50010));
    assert_eq!((c[1].state.as_str(), c[1].local_port), ("LISTEN", 21));
    assert_eq!((c[2].local_port, c[2].peer_port), (21, 53360));
    let log = "[x] ::ffff:198.18.60.1:50984-[lab] <- EPRT |1|198.18.60.1|58203|\n\
               [x] ::ffff:198.18.60.1:50984-[lab] -> 200 Active data connection established.\n\
               [x] ::ffff:198.18.60.1:50990-[lab] <- PORT 198,18,60,1,195,90\n\
               [x] ::ffff:198.18.60.1:50990-[lab] <- PASV\n";
    assert_eq!(active_ports(log), vec![58203, 195 * 256 + 90]);
}
