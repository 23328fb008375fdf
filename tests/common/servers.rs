//! Real FTP servers for integration tests: vsftpd, pure-ftpd, proftpd and pyftpdlib.
//!
//! `FtpServer::start(kind)` starts a private instance on a free port of 127.0.0.1 with
//! its own temporary directory (config, logs, and `root/`, the FTP root = the user's
//! home, owned by the test user), waits for its 220 banner and returns. `Drop` kills
//! the server's whole process group (sessions included) and removes the directory, also
//! when the test panics. Every instance is independent, so tests may run in parallel.
//! `FtpServer::start_with(kind, ServerOptions { tls: Some(TlsSetup::explicit()), .. })`
//! starts an FTPS variant instead (vsftpd, pure-ftpd and proftpd; see the `ftps`
//! submodule for the settings, the TLS quirks and the log helpers).
//!
//! Requirements (installed by `scripts/setup.sh`, run as root): vsftpd (Debian package),
//! pure-ftpd and proftpd unpacked into `$FTPFS_SERVERS_DIR` (default
//! `<repo>/target/ftp-servers`; the three packages conflict with each other, so only
//! vsftpd is installed), `/usr/bin/python3` with pyftpdlib (the pyenv `python3` on PATH
//! has no pyftpdlib), the system user `ftpfs-test` (password `ftpfs-test-pw`) and the
//! PAM service `/etc/pam.d/ftpfs-test-vsftpd`. vsftpd, pure-ftpd and proftpd need root
//! (setuid/chroot); every session runs as `ftpfs-test` (pyftpdlib too when started by
//! root). A missing piece makes `start` panic with a hint; it never skips silently.
//!
//! Every server: login `ftpfs-test`/`ftpfs-test-pw`, chrooted to `root/`, PASV replies
//! with 127.0.0.1 (ephemeral data ports), active mode (PORT/EPRT) allowed, write access
//! (STOR/APPE/MKD/RMD/DELE/RNFR+RNTO and SITE CHMOD), umask 022, UTF-8 names passed
//! through, idle timeouts 15 min, ≥ 64 clients and ≥ 64 per IP, dot files listed, times
//! in UTC. Files a test creates directly under `root` belong to root (the test runs as
//! root): use `write_file`/`create_dir` to create them owned by the test user.
//!
//! Per-server quirks (Debian 12 versions; all four: SIZE, MDTM, EPSV, EPRT, PASV, PORT,
//! REST STREAM, SITE CHMOD, UTF-8 names):
//! * vsftpd 3.0.3 — FEAT: UTF8 EPRT EPSV MDTM PASV REST STREAM SIZE TVFS.
//!   No MLSD/MLST (500), no MFMT: it sets mtimes with `MDTM YYYYMMDDhhmmss path`
//!   (`mdtm_write`). `OPTS UTF8 ON` → 200 "Always in UTF8 mode". LIST/NLST show dot
//!   files (`force_dot_files`) but not `.`/`..`; LIST shows numeric uid/gid. Sessions
//!   leave the process group (setsid); `Drop` finds them by their chroot. Logins take
//!   ~15 ms (PAM, fork); the user's home must exist (setup.sh creates it).
//! * pure-ftpd 1.0.50 — FEAT: UTF8 EPRT IDLE MDTM SIZE MFMT REST STREAM MLST MLSD PRET
//!   AUTH TLS PBSZ PROT TVFS ESTA PASV EPSV. Sets mtimes with MFMT or SITE UTIME; the
//!   two-argument MDTM is refused (550). `OPTS UTF8 ON` → 504 although FEAT lists UTF8
//!   (built without RFC 2640); names are bytes, so UTF-8 names work anyway. LIST (with
//!   `-D`), NLST and MLSD all include `.` and `..` (MLSD as cdir/pdir). LIST shows the
//!   owner as a number. Logs only to syslog (disabled), so `log()` has just its transfer
//!   log. SIZE works in ASCII mode.
//! * proftpd 1.3.8 — FEAT: CLNT CSID EPRT EPSV HOST LANG MDTM MFF MFMT MLST RANG STREAM
//!   REST STREAM SIZE TVFS UTF8 (MLSD too, not listed). MFMT and MFF set mtimes/modes;
//!   no SITE UTIME, no two-argument MDTM. SIZE is refused in ASCII mode ("550 SIZE not
//!   allowed in ASCII mode"): send `TYPE I` first. LIST/NLST show dot files but not
//!   `.`/`..` (`ListOptions -A`); MLSD includes `.` (cdir) and `..` (pdir). MLSD's
//!   UNIX.ownername/groupname are unreliable (private user file: every id maps to
//!   `ftpfs-test`). Users come from a private AuthUserFile (no PAM); `log()` includes
//!   a per-command log.
//! * pyftpdlib 1.5.7 (/usr/bin/python3, runs as `ftpfs-test`) — FEAT: EPRT EPSV MDTM
//!   MFMT MLST SIZE TVFS UTF8 REST STREAM (MLSD too, not listed). MFMT sets mtimes.
//!   SIZE is refused in ASCII mode, like proftpd. NLST/LIST/MLSD: no `.`/`..`. LIST
//!   shows user names. Single-threaded (asyncore) server. `log()` has every command
//!   and reply (DEBUG log).
#![allow(dead_code)]

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

mod ftps;
mod spawn;
pub(crate) use ftps::wait_for_tls_banner;
pub use ftps::{TlsMode, TlsSetup};

/// The login every server accepts (a system user created by `scripts/setup.sh`).
pub const TEST_USER: &str = "ftpfs-test";
/// Its password (also set by `scripts/setup.sh`).
pub const TEST_PASSWORD: &str = "ftpfs-test-pw";
/// SHA-512 crypt(3) hash of `TEST_PASSWORD` (`openssl passwd -6 -salt ftpfstestsalt`),
/// for pure-ftpd's and proftpd's private user files.
const TEST_PASSWORD_HASH: &str = "$6$ftpfstestsalt$/NeqKxnPkr/OeKGicCfmLkU0/zuaWXj7qEu90BxfhuQwDf/vTKc0uEXypWgLtePUkOyETNBsVkQ7n461E9501.";
/// PAM service file written by `scripts/setup.sh` (pam_unix only).
const VSFTPD_PAM_SERVICE: &str = "ftpfs-test-vsftpd";
const VSFTPD_BIN: &str = "/usr/sbin/vsftpd";
const PYTHON_BIN: &str = "/usr/bin/python3";
/// How long `start` waits for the 220 banner.
const START_DEADLINE: Duration = Duration::from_secs(10);
/// Attempts with a fresh port when the chosen one turned out to be taken.
const START_ATTEMPTS: usize = 4;
const SETUP_HINT: &str = "run scripts/setup.sh (as root) first";

/// Which FTP server implementation to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerKind {
    PureFtpd,
    Vsftpd,
    Proftpd,
    Pyftpdlib,
}

impl ServerKind {
    /// Every kind, for tests that run against all servers.
    pub const ALL: [ServerKind; 4] = [
        ServerKind::PureFtpd,
        ServerKind::Vsftpd,
        ServerKind::Proftpd,
        ServerKind::Pyftpdlib,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ServerKind::PureFtpd => "pure-ftpd",
            ServerKind::Vsftpd => "vsftpd",
            ServerKind::Proftpd => "proftpd",
            ServerKind::Pyftpdlib => "pyftpdlib",
        }
    }

    /// Whether the server lists directories with MLSD (vsftpd has LIST only).
    pub fn has_mlsd(self) -> bool {
        !matches!(self, ServerKind::Vsftpd)
    }

    /// Whether the server sets modification times with MFMT (vsftpd uses 2-arg MDTM).
    pub fn has_mfmt(self) -> bool {
        !matches!(self, ServerKind::Vsftpd)
    }
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How to start a server: [`FtpServer::start_with`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ServerOptions {
    /// FTPS instead of plain FTP (vsftpd, pure-ftpd, proftpd).
    pub tls: Option<TlsSetup>,
    /// pyftpdlib only: refuse (421) more than this many connections from one address.
    pub per_ip: Option<u32>,
}

/// A running FTP server; killed (with its sessions) and cleaned up on drop.
pub struct FtpServer {
    pub kind: ServerKind,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// Local directory served as the FTP root (the user's home), owned by the test user.
    pub root: PathBuf,
    /// The FTPS setup, `None` for plain FTP.
    tls: Option<TlsSetup>,
    child: Child,
    /// Config, logs, and `root/`; removed on drop.
    dir: Option<tempfile::TempDir>,
    started_in: Duration,
}

impl FtpServer {
    /// Start a server of `kind` on a free port of 127.0.0.1 and wait (≤ 10 s) for its
    /// 220 banner. Panics with the server's output when it cannot be started.
    pub fn start(kind: ServerKind) -> FtpServer {
        Self::start_limited(kind, None)
    }

    /// Like [`FtpServer::start`], with pyftpdlib refusing (421) more than `per_ip`
    /// connections from one address (pyftpdlib only: the others' limits are not set here).
    pub fn start_limited(kind: ServerKind, per_ip: Option<u32>) -> FtpServer {
        Self::start_with(
            kind,
            ServerOptions {
                per_ip,
                ..ServerOptions::default()
            },
        )
    }

    /// An FTPS server of `kind` set up as `tls` says (see [`TlsSetup`]).
    pub fn start_tls(kind: ServerKind, tls: TlsSetup) -> FtpServer {
        Self::start_with(
            kind,
            ServerOptions {
                tls: Some(tls),
                ..ServerOptions::default()
            },
        )
    }

    /// Start a server of `kind` with `opts` on a free port of 127.0.0.1 and wait (≤ 10 s)
    /// until it greets (for implicit TLS: through a TLS handshake). Panics with the
    /// server's output when it cannot be started.
    pub fn start_with(kind: ServerKind, opts: ServerOptions) -> FtpServer {
        let ServerOptions { tls, per_ip } = opts;
        assert!(
            per_ip.is_none() || matches!(kind, ServerKind::Pyftpdlib),
            "a connection limit is only set up for pyftpdlib"
        );
        if let Some(tls) = &tls {
            tls.check(kind);
        }
        let began = Instant::now();
        let (uid, gid) = test_user_ids();
        let needs_root = !matches!(kind, ServerKind::Pyftpdlib);
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        if needs_root && euid != 0 {
            panic!(
                "{kind} test server needs root (it chroots and switches to {TEST_USER}); run the tests as root"
            );
        }
        check_binaries(kind);

        let dir = tempfile::Builder::new()
            .prefix(&format!("ftpfs-{}-", kind.name()))
            .tempdir()
            .unwrap_or_else(|e| panic!("creating temp dir for {kind}: {e}"));
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let root = dir.path().join("root");
        fs::create_dir(&root).unwrap();
        if euid == 0 {
            std::os::unix::fs::chown(&root, Some(uid), Some(gid))
                .unwrap_or_else(|e| panic!("chown {} to {TEST_USER}: {e}", root.display()));
        }

        let mut last_failure = String::new();
        for attempt in 1..=START_ATTEMPTS {
            let port = free_port();
            let nonce = format!(
                "ftpfs-test-{}-{}-{}",
                std::process::id(),
                NONCE.fetch_add(1, Ordering::Relaxed),
                port
            );
            let mut child = spawn::spawn(
                kind,
                dir.path(),
                &root,
                port,
                &nonce,
                uid,
                gid,
                euid == 0,
                opts,
            );
            let ready = if tls.is_some_and(|t| t.mode == TlsMode::Implicit) {
                ftps::wait_for_tls_banner(&mut child, port, &nonce)
            } else {
                wait_for_banner(&mut child, port, &nonce)
            };
            match ready {
                Ok(()) => {
                    return FtpServer {
                        kind,
                        port,
                        user: TEST_USER.to_string(),
                        password: TEST_PASSWORD.to_string(),
                        root,
                        tls,
                        child,
                        dir: Some(dir),
                        started_in: began.elapsed(),
                    };
                }
                Err(failure) => {
                    kill_group(&mut child);
                    let log = read_logs(kind, dir.path());
                    last_failure = format!("attempt {attempt} on port {port}: {failure}\n{log}");
                    // A server that never listened on its port (refused to the end, nothing
                    // in its log: pure-ftpd tells only syslog, which the tests do not run)
                    // most likely lost the port to a connection of another test between
                    // free_port and its bind: another port is worth a try.
                    let never_listened = matches!(&failure,
                        StartFailure::Timeout(last) if last.contains("refused"));
                    let port_clash = matches!(failure, StartFailure::WrongServer(_))
                        || never_listened
                        || log.contains("in use")
                        || log.contains("bind");
                    if !port_clash {
                        break;
                    }
                }
            }
        }
        panic!(
            "could not start {kind} test server ({SETUP_HINT} if something is missing)\n{last_failure}"
        );
    }

    /// `ftp://USER@127.0.0.1:PORT/`; FTPS servers: `ftpes://…` (explicit TLS) or
    /// `ftps://…` (implicit TLS).
    pub fn url(&self) -> String {
        let scheme = self.tls.map_or("ftp", |t| t.mode.scheme());
        format!("{scheme}://{}@127.0.0.1:{}/", self.user, self.port)
    }

    /// The server's own log text (and its stdout/stderr), for debugging failures.
    pub fn log(&self) -> String {
        match &self.dir {
            Some(dir) => read_logs(self.kind, dir.path()),
            None => String::new(),
        }
    }

    /// Wall time `start` took (spawn to banner).
    pub fn startup_time(&self) -> Duration {
        self.started_in
    }

    /// Create (or overwrite) `root/rel` with `contents`, owned by the test user like a
    /// file uploaded through FTP; missing parent directories are created the same way.
    pub fn write_file(&self, rel: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.root.join(relative(rel.as_ref()));
        if let Some(parent) = path.parent() {
            self.create_dir_path(parent);
        }
        fs::write(&path, contents).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        chown_to_test_user(&path);
        path
    }

    /// Create the directory `root/rel` (and missing parents), owned by the test user.
    pub fn create_dir(&self, rel: impl AsRef<Path>) -> PathBuf {
        let path = self.root.join(relative(rel.as_ref()));
        self.create_dir_path(&path);
        path
    }

    fn create_dir_path(&self, path: &Path) {
        if path.is_dir() {
            return;
        }
        if let Some(parent) = path.parent() {
            self.create_dir_path(parent);
        }
        fs::create_dir(path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        chown_to_test_user(path);
    }

    /// Process id of the server's main process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for FtpServer {
    fn drop(&mut self) {
        kill_group(&mut self.child);
        if let Some(dir) = self.dir.take() {
            // Sessions that escaped the process group would keep files open; they are
            // chrooted into our root, so find them by their root directory.
            kill_strays(dir.path(), &server_binary(self.kind));
            let path = dir.path().to_path_buf();
            if dir.close().is_err() {
                let _ = fs::remove_dir_all(&path);
            }
        }
    }
}

impl fmt::Debug for FtpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FtpServer")
            .field("kind", &self.kind)
            .field("port", &self.port)
            .field("root", &self.root)
            .field("pid", &self.child.id())
            .finish()
    }
}

static NONCE: AtomicU32 = AtomicU32::new(0);
static PORTS_HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A port that was free a moment ago (and not handed out before by this process).
pub fn free_port() -> u16 {
    let mut handed_out = PORTS_HANDED_OUT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let set = handed_out.get_or_insert_with(HashSet::new);
    loop {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        if set.insert(port) {
            return port;
        }
    }
}

/// Directory holding the privately unpacked pure-ftpd and proftpd packages.
pub fn servers_dir() -> PathBuf {
    match std::env::var_os("FTPFS_SERVERS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ftp-servers"),
    }
}

fn pure_ftpd_bin() -> PathBuf {
    servers_dir().join("pure-ftpd/usr/sbin/pure-ftpd")
}

fn pure_pw_bin() -> PathBuf {
    servers_dir().join("pure-ftpd/usr/bin/pure-pw")
}

fn proftpd_bin() -> PathBuf {
    servers_dir().join("proftpd/usr/sbin/proftpd")
}

/// The executable of the server's processes.
fn server_binary(kind: ServerKind) -> PathBuf {
    match kind {
        ServerKind::Vsftpd => VSFTPD_BIN.into(),
        ServerKind::PureFtpd => pure_ftpd_bin(),
        ServerKind::Proftpd => proftpd_bin(),
        ServerKind::Pyftpdlib => PYTHON_BIN.into(),
    }
}

fn check_binaries(kind: ServerKind) {
    let needed: Vec<PathBuf> = match kind {
        ServerKind::Vsftpd => vec![
            VSFTPD_BIN.into(),
            Path::new("/etc/pam.d").join(VSFTPD_PAM_SERVICE),
        ],
        ServerKind::PureFtpd => vec![pure_ftpd_bin(), pure_pw_bin()],
        ServerKind::Proftpd => vec![proftpd_bin()],
        ServerKind::Pyftpdlib => vec![PYTHON_BIN.into()],
    };
    for path in needed {
        if !path.exists() {
            panic!(
                "{kind} test server: {} is missing: {SETUP_HINT}",
                path.display()
            );
        }
    }
}

/// Give `path` to the test user (when running as root, as the servers do).
fn chown_to_test_user(path: &Path) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let (uid, gid) = test_user_ids();
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .unwrap_or_else(|e| panic!("chown {} to {TEST_USER}: {e}", path.display()));
    }
}

/// `rel` without a leading `/`, so that `root.join` stays inside the root.
fn relative(rel: &Path) -> &Path {
    rel.strip_prefix("/").unwrap_or(rel)
}

/// uid and gid of `TEST_USER`; panics when the user does not exist.
fn test_user_ids() -> (u32, u32) {
    static IDS: OnceLock<Option<(u32, u32)>> = OnceLock::new();
    let ids = IDS.get_or_init(|| {
        let name = std::ffi::CString::new(TEST_USER).unwrap();
        // SAFETY: getpwnam gets a valid C string; the record it returns is copied out at
        // once, and OnceLock makes this the only call in the process.
        let pw = unsafe { libc::getpwnam(name.as_ptr()) };
        if pw.is_null() {
            None
        } else {
            // SAFETY: pw is non-null and points to glibc's passwd record.
            Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
        }
    });
    ids.unwrap_or_else(|| panic!("system user {TEST_USER} does not exist: {SETUP_HINT}"))
}

/// Why a server did not come up (`wait_for_banner`, `ftps::wait_for_tls_banner`).
#[derive(Debug)]
pub(crate) enum StartFailure {
    Exited(ExitStatus),
    Timeout(String),
    /// Something else answered on the port (the port was taken after we probed it).
    WrongServer(String),
}

impl fmt::Display for StartFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartFailure::Exited(status) => write!(f, "server exited early ({status})"),
            StartFailure::Timeout(last) => {
                write!(f, "no 220 banner within {START_DEADLINE:?} (last: {last})")
            }
            StartFailure::WrongServer(banner) => {
                write!(f, "another server answered on the port: {banner:?}")
            }
        }
    }
}

/// Connect until the server greets with a 220 banner that carries `nonce`.
fn wait_for_banner(child: &mut Child, port: u16, nonce: &str) -> Result<(), StartFailure> {
    let deadline = Instant::now() + START_DEADLINE;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut last = String::from("nothing yet");
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(StartFailure::Exited(status));
        }
        match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
            Ok(stream) => match read_banner(&stream) {
                Ok(banner) if banner.contains(nonce) => {
                    let _ = (&stream).write_all(b"QUIT\r\n");
                    return Ok(());
                }
                Ok(banner) => return Err(StartFailure::WrongServer(banner)),
                Err(e) => last = format!("reading banner: {e}"),
            },
            Err(e) => last = format!("connect: {e}"),
        }
        thread::sleep(Duration::from_millis(20));
    }
    Err(StartFailure::Timeout(last))
}

/// Read a (possibly multi-line) 220 greeting; returns all of its text.
fn read_banner(stream: &TcpStream) -> std::io::Result<String> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut reader = BufReader::new(stream);
    let mut text = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other(format!(
                "connection closed after {text:?}"
            )));
        }
        text.push_str(&line);
        let bytes = line.as_bytes();
        if bytes.len() >= 4 && bytes[..3].iter().all(u8::is_ascii_digit) && bytes[3] == b' ' {
            if !line.starts_with("220") {
                return Err(std::io::Error::other(format!("not a 220 banner: {text:?}")));
            }
            return Ok(text);
        }
    }
}

/// Log files of `kind` in `dir`, concatenated with headers; stdout/stderr last.
fn read_logs(kind: ServerKind, dir: &Path) -> String {
    let names: &[&str] = match kind {
        ServerKind::Vsftpd => &["vsftpd.log"],
        ServerKind::PureFtpd => &["transfer.log"],
        ServerKind::Proftpd => &["proftpd.log", "commands.log", "transfer.log", "tls.log"],
        ServerKind::Pyftpdlib => &[],
    };
    let mut text = String::new();
    for name in names.iter().chain(&["server.out"]) {
        if let Ok(bytes) = fs::read(dir.join(name)) {
            text.push_str(&format!("==> {kind} {name} <==\n"));
            text.push_str(&String::from_utf8_lossy(&bytes));
            if !text.ends_with('\n') {
                text.push('\n');
            }
        }
    }
    text
}

/// SIGKILL the server's process group (the master and the sessions that stayed in it).
fn kill_group(child: &mut Child) {
    let pgid = child.id() as libc::pid_t;
    // SAFETY: kill has no memory-safety preconditions; pgid is our child's own group
    // (spawned with process_group(0)), which only holds our server's processes.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let _ = child.kill();
    let _ = child.wait();
}

/// Kill the sessions of our server that left its process group (vsftpd's sessions call
/// setsid): processes chrooted into `dir`, or running `binary` with their working
/// directory in `dir` (servers are started there). Nothing else can match: the temp dir
/// is unique to this server.
fn kill_strays(dir: &Path, binary: &Path) {
    let Ok(entries) = fs::read_dir("/proc") else {
        return;
    };
    let binary = fs::canonicalize(binary).unwrap_or_else(|_| binary.to_path_buf());
    let me = std::process::id();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let link_inside = |link: &str| {
            fs::read_link(entry.path().join(link)).is_ok_and(|target| target.starts_with(dir))
        };
        let runs_binary = || fs::read_link(entry.path().join("exe")).is_ok_and(|exe| exe == binary);
        if link_inside("root") || (link_inside("cwd") && runs_binary()) {
            // SAFETY: plain kill(2) of a process of our own server (see above).
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    }
}
