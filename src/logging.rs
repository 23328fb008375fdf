//! The process's one logger: env_logger's filtering and stderr format, a redaction rule, and
//! a syslog sink that a daemonized mount switches to.
//!
//! Where records go:
//! - until [`to_syslog`] is called (always with `-f`, and in a daemon until it has mounted):
//!   stderr, in env_logger's format. A daemon with `-o log_file=PATH` has its stderr pointed at
//!   that file, so it stays here too.
//! - after [`to_syslog`] (a daemon without `log_file`): one datagram per record to the local
//!   syslog socket (`/dev/log`, where journald or rsyslog listen; `$FTPFS_SYSLOG_SOCKET`
//!   overrides the path, which is how the tests catch the records), as
//!   `<PRI>Mmm dd hh:mm:ss ftpfs[PID]: [LEVEL target] message` — the RFC 3164 form that
//!   glibc's syslog(3) sends on the local socket (no host name), facility `daemon`.
//!
//! Why a few lines over a Unix datagram socket rather than libc's `openlog`/`syslog` or a
//! crate: syslog(3) is variadic and always writes to the hard-wired `/dev/log` (a test could
//! only intercept it by bind-mounting over `/dev/log`), and it keeps a process-wide
//! connection of its own; the `syslog` crate brings a second logger with its own formatter,
//! hostname lookup and error types for what is one `sendto` per record here, and would still
//! need this module's filter and redaction in front of it. The format is fixed and tiny, and
//! both journald and rsyslog parse it.
//!
//! Invariants:
//! - every sink gets only records that pass the same filter: the level from `-v`/`-d`
//!   refined by `RUST_LOG`, and suppaftp's trace records dropped whatever `RUST_LOG` says
//!   (they echo every command, `PASS` included). No other code path writes to syslog, so
//!   a password cannot reach it any more than stderr (the rest of the code logs `PASS ****`
//!   and prints configurations with the password as `****`);
//! - a log call never blocks for long: a syslog send waits at most [`SEND_TIMEOUT`], and a
//!   record that cannot be sent is dropped (the socket path is looked up at every send, so
//!   a restarted journald is found again);
//! - the identity is `ftpfs` and the PID is the daemon's own (taken after the fork).

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Environment variable that replaces `/dev/log` as the syslog socket (tests bind their own).
pub const SYSLOG_SOCKET_ENV: &str = "FTPFS_SYSLOG_SOCKET";
/// The local syslog socket of glibc, journald and rsyslog.
pub const DEFAULT_SYSLOG_SOCKET: &str = "/dev/log";
/// Longest a syslog send may block (a full receive queue), after which the record is dropped.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest message sent in one record (rsyslog's default maximum is 8 KiB).
const MAX_MESSAGE: usize = 8000;
/// syslog facility `daemon` (RFC 5424 table 1: 3), shifted as PRI wants it.
const FACILITY_DAEMON: u8 = 3 << 3;
/// Severity of the one record [`to_syslog`] sends itself (RFC 5424 `notice`).
const SEVERITY_NOTICE: u8 = 5;

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// The installed logger: the filter of env_logger, and where to write.
struct Logger {
    inner: env_logger::Logger,
    syslog: OnceLock<Syslog>,
}

impl Logger {
    fn new(level: LevelFilter) -> Logger {
        let mut b = env_logger::Builder::new();
        b.filter_level(level);
        b.parse_env(env_logger::Env::default());
        // Capped at debug: its trace output would contain the PASS command.
        b.filter_module("suppaftp", level.min(LevelFilter::Debug));
        // suppaftp's TLS stream writes a close_notify when it is dropped and logs an error
        // when that fails. ftpfs closes data connections itself (`transfer::close_data`) and
        // drops control connections on purpose, dead ones included, for which the
        // close_notify is best effort: those errors say nothing.
        b.filter_module("suppaftp::sync_ftp::tls", LevelFilter::Off);
        if level < LevelFilter::Debug {
            // fuser warns "Failed to umount filesystem: Invalid argument" at every unmount done
            // by fusermount3 -u (the kernel has already unmounted when its guard tries again).
            b.filter_module("fuser::session", LevelFilter::Error);
        }
        b.format_timestamp_millis();
        Logger {
            inner: b.build(),
            syslog: OnceLock::new(),
        }
    }
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        // suppaftp's trace records are dropped whatever RUST_LOG says (a directive such as
        // `suppaftp::sync_ftp=trace` is more specific than the cap above): they echo every
        // command, PASS included.
        !(m.level() == Level::Trace && m.target().starts_with("suppaftp")) && self.inner.enabled(m)
    }

    fn log(&self, r: &Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        match self.syslog.get() {
            Some(s) => {
                let text = format!("[{} {}] {}", r.level(), r.target(), r.args());
                // Nowhere to report a failure to log: the record is dropped.
                let _ = s.send(severity(r.level()), &text);
            }
            None => self.inner.log(r),
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// Sets up logging to stderr at `level` (`RUST_LOG` refines it). Call once, before any thread
/// starts; later calls change nothing.
pub fn init(level: LevelFilter) {
    let logger = LOGGER.get_or_init(|| Logger::new(level));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(logger.inner.filter());
    }
}

/// From now on, sends every record to syslog instead of stderr (a daemon without
/// `-o log_file`). `first` is sent at once as a `notice` whatever the level, so that the
/// log says which mount `ftpfs[PID]` is; an error means that send failed (no syslog
/// listening?). Records are sent there even then, in case it appears later.
pub fn to_syslog(first: &str) -> Result<(), String> {
    let path = syslog_socket_path();
    let syslog = Syslog::open(&path).map_err(|e| format!("cannot create a socket: {e}"))?;
    let sent = syslog
        .send(SEVERITY_NOTICE, first)
        .map_err(|e| format!("{}: {e}", path.display()));
    if let Some(logger) = LOGGER.get() {
        let _ = logger.syslog.set(syslog);
    }
    sent
}

/// Writes `text` (one or more lines) to the log as a notice, whatever the level: a report the
/// user asked for (SIGUSR1) must reach the log of a daemon at the default `warn` level, and it
/// is no warning (`journalctl -p warning` and monitors that alert on warnings must not fire
/// for it). syslog has the severity for it, `notice` ("normal but significant"), which the
/// "mounted" record uses too. Each line is one record (`[NOTICE target] line`): rsyslog
/// writes line breaks inside a record as `#012`. On stderr (`-f`, `log_file`) the lines are
/// written in one piece, in env_logger's shape.
pub fn notice(target: &str, text: &str) {
    let sink = LOGGER.get().and_then(|l| l.syslog.get());
    write_notice(sink, &mut io::stderr().lock(), target, text);
}

/// [`notice`] to syslog when `sink` is set, else to `stderr`.
fn write_notice(sink: Option<&Syslog>, stderr: &mut dyn io::Write, target: &str, text: &str) {
    match sink {
        Some(s) => {
            for line in text.lines() {
                // Nowhere to report a failure to log: the record is dropped.
                let _ = s.send(SEVERITY_NOTICE, &format!("[NOTICE {target}] {line}"));
            }
        }
        None => {
            let stamp = timestamp();
            let block: String = text
                .lines()
                .map(|line| format!("[{stamp} NOTICE {target}] {line}\n"))
                .collect();
            let _ = stderr.write_all(block.as_bytes());
        }
    }
}

/// `$FTPFS_SYSLOG_SOCKET`, else `/dev/log`.
pub fn syslog_socket_path() -> PathBuf {
    std::env::var_os(SYSLOG_SOCKET_ENV)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_SYSLOG_SOCKET), PathBuf::from)
}

/// RFC 5424 severity of a log level (err, warning, info, debug).
fn severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// A way to the local syslog socket.
struct Syslog {
    sock: UnixDatagram,
    path: PathBuf,
    /// Taken when the sink is made: after the daemon's fork.
    pid: u32,
}

impl Syslog {
    fn open(path: &Path) -> io::Result<Syslog> {
        let sock = UnixDatagram::unbound()?;
        sock.set_write_timeout(Some(SEND_TIMEOUT))?;
        Ok(Syslog {
            sock,
            path: path.to_path_buf(),
            pid: std::process::id(),
        })
    }

    fn send(&self, severity: u8, message: &str) -> io::Result<()> {
        let record = format_record(FACILITY_DAEMON | severity, &timestamp(), self.pid, message);
        self.sock.send_to(record.as_bytes(), &self.path).map(|_| ())
    }
}

/// `<PRI>STAMP ftpfs[PID]: MESSAGE`, the message cut to [`MAX_MESSAGE`] bytes (at a character
/// boundary) and without trailing line breaks.
fn format_record(pri: u8, stamp: &str, pid: u32, message: &str) -> String {
    let mut msg = message.trim_end_matches(['\n', '\r']);
    if msg.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !msg.is_char_boundary(end) {
            end -= 1;
        }
        msg = &msg[..end];
    }
    format!("<{pri}>{stamp} ftpfs[{pid}]: {msg}")
}

/// The local time as RFC 3164 writes it: `Mmm dd hh:mm:ss`, the day padded with a space.
fn timestamp() -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // SAFETY: time(NULL) has no preconditions; localtime_r writes only into `tm`, a local
    // zeroed struct, and is thread-safe.
    let tm = unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return "Jan  1 00:00:00".to_string();
        }
        tm
    };
    let month = usize::try_from(tm.tm_mon)
        .ok()
        .and_then(|m| MONTHS.get(m))
        .unwrap_or(&"Jan");
    format!(
        "{month} {:>2} {:02}:{:02}:{:02}",
        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket standing in for /dev/log, and a logger whose records go to it.
    fn logger_to_socket(level: LevelFilter) -> (tempfile::TempDir, UnixDatagram, Logger) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        let rx = UnixDatagram::bind(&path).expect("bind");
        rx.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let logger = Logger::new(level);
        assert!(
            logger
                .syslog
                .set(Syslog::open(&path).expect("open"))
                .is_ok()
        );
        (dir, rx, logger)
    }

    fn recv(rx: &UnixDatagram) -> Option<String> {
        rx.set_nonblocking(true).expect("nonblocking");
        let mut buf = vec![0; 65536];
        let r = rx
            .recv(&mut buf)
            .ok()
            .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned());
        rx.set_nonblocking(false).expect("blocking");
        r
    }

    fn emit(logger: &Logger, level: Level, target: &str, msg: &str) {
        logger.log(
            &Record::builder()
                .level(level)
                .target(target)
                .args(format_args!("{msg}"))
                .build(),
        );
    }

    /// True when `s` is `<PRI>Mmm dd hh:mm:ss ftpfs[PID]: ` followed by `rest`.
    fn is_record(s: &str, pri: u8, rest: &str) -> bool {
        let Some(after) = s.strip_prefix(&format!("<{pri}>")) else {
            return false;
        };
        let (stamp, tail) = after.split_at(15.min(after.len()));
        let b = stamp.as_bytes();
        let stamp_ok = b.len() == 15
            && b[..3].iter().all(u8::is_ascii_alphabetic)
            && b[3] == b' '
            && (b[4] == b' ' || b[4].is_ascii_digit())
            && b[5].is_ascii_digit()
            && &stamp[6..7] == " "
            && stamp[7..].split(':').all(|p| p.len() == 2)
            && stamp[7..].split(':').count() == 3;
        stamp_ok && tail == format!(" ftpfs[{}]: {rest}", std::process::id())
    }

    #[test]
    fn warnings_and_errors_reach_syslog_in_rfc3164_form() {
        let (_dir, rx, logger) = logger_to_socket(LevelFilter::Warn);
        emit(&logger, Level::Error, "ftpfs::fs", "upload of /a failed");
        let got = recv(&rx).expect("error record");
        assert!(
            is_record(&got, 27, "[ERROR ftpfs::fs] upload of /a failed"),
            "{got:?}"
        );
        emit(&logger, Level::Warn, "ftpfs::fuse", "write: EIO");
        let got = recv(&rx).expect("warning record");
        assert!(
            is_record(&got, 28, "[WARN ftpfs::fuse] write: EIO"),
            "{got:?}"
        );
        // Below the level: nothing.
        emit(&logger, Level::Info, "ftpfs::run", "mounted");
        assert_eq!(recv(&rx), None);
    }

    #[test]
    fn notices_bypass_the_level_one_record_per_line() {
        let (_dir, rx, logger) = logger_to_socket(LevelFilter::Warn);
        let mut stderr = Vec::new();
        write_notice(
            logger.syslog.get(),
            &mut stderr,
            "ftpfs::stats",
            "a: 1\nb: 2\n",
        );
        assert!(stderr.is_empty(), "a daemon on syslog wrote to stderr");
        let got = recv(&rx).expect("first line");
        assert!(is_record(&got, 29, "[NOTICE ftpfs::stats] a: 1"), "{got:?}");
        let got = recv(&rx).expect("second line");
        assert!(is_record(&got, 29, "[NOTICE ftpfs::stats] b: 2"), "{got:?}");
        assert_eq!(recv(&rx), None);
        // Without syslog: stderr, the whole block at once, every line marked.
        write_notice(None, &mut stderr, "ftpfs::stats", "a: 1\nb: 2");
        let text = String::from_utf8(stderr).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].ends_with(" NOTICE ftpfs::stats] a: 1"), "{text}");
        assert!(lines[1].ends_with(" NOTICE ftpfs::stats] b: 2"), "{text}");
    }

    #[test]
    fn suppaftp_trace_never_reaches_syslog() {
        let (_dir, rx, logger) = logger_to_socket(LevelFilter::Trace);
        emit(
            &logger,
            Level::Trace,
            "suppaftp::sync_ftp",
            "CMD PASS hunter2",
        );
        emit(&logger, Level::Debug, "ftpfs::remote::ftp", "PASS ****");
        let got = recv(&rx).expect("debug record");
        assert!(
            is_record(&got, 31, "[DEBUG ftpfs::remote::ftp] PASS ****"),
            "{got:?}"
        );
        assert_eq!(recv(&rx), None, "the suppaftp trace record was sent");
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_MESSAGE);
        let r = format_record(27, "Jan  1 00:00:00", 7, &format!("{long}\n"));
        let msg = r
            .strip_prefix("<27>Jan  1 00:00:00 ftpfs[7]: ")
            .expect("prefix");
        assert!(msg.len() <= MAX_MESSAGE && msg.len() >= MAX_MESSAGE - 1);
        assert!(msg.chars().all(|c| c == 'é'));
        assert_eq!(
            format_record(28, "Feb 29 23:59:59", 1, "a\n"),
            "<28>Feb 29 23:59:59 ftpfs[1]: a"
        );
    }

    #[test]
    fn records_are_what_util_linux_logger_sends_to_a_local_socket() {
        // logger(1) (util-linux, Essential on Debian) writes the local form glibc's syslog(3)
        // uses; ours must be the same bytes once the clock is the same.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        let rx = UnixDatagram::bind(&path).expect("bind");
        rx.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let st = std::process::Command::new("logger")
            .arg("-u")
            .arg(&path)
            .args(["-t", "ftpfs", "--id=4242", "-p", "daemon.err"])
            .arg("[ERROR ftpfs::fs] /a: upload failed")
            .status()
            .expect("run logger (bsdutils)");
        assert!(st.success());
        let mut buf = vec![0; 4096];
        let n = rx.recv(&mut buf).expect("logger's record");
        let theirs = String::from_utf8_lossy(&buf[..n]).into_owned();
        let stamp = theirs.get(4..19).expect("timestamp");
        assert_eq!(
            format_record(27, stamp, 4242, "[ERROR ftpfs::fs] /a: upload failed"),
            theirs
        );
    }

    #[test]
    fn timestamp_has_the_rfc3164_shape() {
        let t = timestamp();
        assert_eq!(t.len(), 15, "{t:?}");
        assert!(is_record(
            &format_record(29, &t, std::process::id(), "x"),
            29,
            "x"
        ));
    }

    #[test]
    fn a_missing_socket_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Syslog::open(&dir.path().join("none")).expect("open");
        let start = std::time::Instant::now();
        let e = s.send(3, "x").expect_err("nobody listens");
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
        assert!(start.elapsed() < SEND_TIMEOUT);
    }
}
