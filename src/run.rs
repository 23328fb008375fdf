//! Wires a validated [`MountConfig`] into a running mount: logging, the FTP remote, the core,
//! the FUSE session, daemonizing and clean shutdown.
//!
//! Invariants:
//! - Daemonizing forks FIRST, before any thread exists (fork copies only the calling thread);
//!   the child connects, logs in, lists the root and mounts, then writes its verdict to a pipe.
//!   The parent waits for that verdict: it exits 0 only once the mount works, else it prints
//!   the child's one-line error and exits 1. Nothing is left mounted after a failure.
//! - A daemon's log: `-o log_file=PATH` is opened before mounting (a bad path fails the mount)
//!   and becomes its stderr; without it, once mounted, the log goes to syslog
//!   (`crate::logging::to_syslog`, identity `ftpfs[PID]`), and when syslog cannot be reached
//!   the parent prints a warning line and still exits 0. `-f` logs to stderr.
//! - SIGTERM and SIGINT are blocked in every thread and taken by one waiter thread, which
//!   unmounts (lazily when busy) and cancels the waits on the server that have gone silent
//!   (`FtpRemote::cancel`), so that requests stuck on a dead server end within seconds and
//!   the processes waiting on them let the mount go; the FUSE loop then ends, open uploads
//!   are finished (or their failure logged), idle connections get QUIT, and the process
//!   exits 0. `fusermount3 -u` ends it the same way; a lazy `fusermount3 -u -z` made
//!   elsewhere is noticed (`crate::mount_watch`) and cancels the silent waits too.
//! - SIGUSR1 is taken by the same waiter thread, which writes the mount's statistics to the
//!   log (`crate::stats`); `ftpfs stats` reads them from the thread `crate::stats` starts
//!   once mounted. Neither runs on a thread that answers FUSE requests.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::ExitCode;
use std::sync::Arc;

use fuser::{Config, MountOption, SessionACL};

use crate::cache::SystemClock;
use crate::config::MountConfig;
use crate::fs::{Fs, FsConfig};
use crate::fuse::FuseAdapter;
use crate::logging;
use crate::memory::Budget;
use crate::memory::sizing::Sizing;
use crate::remote::Remote;
use crate::remote::ftp::FtpRemote;

fn fuse_config(cfg: &MountConfig) -> Config {
    let mut c = Config::default();
    let mut opts = vec![
        MountOption::FSName(cfg.fsname.clone()),
        MountOption::Subtype("ftpfs".into()),
    ];
    if cfg.read_only {
        opts.push(MountOption::RO);
    }
    if cfg.default_permissions {
        opts.push(MountOption::DefaultPermissions);
    }
    for flag in &cfg.kernel_flags {
        opts.push(match flag.as_str() {
            "dev" => MountOption::Dev,
            "nodev" => MountOption::NoDev,
            "suid" => MountOption::Suid,
            "nosuid" => MountOption::NoSuid,
            "exec" => MountOption::Exec,
            "noexec" => MountOption::NoExec,
            "atime" => MountOption::Atime,
            "noatime" => MountOption::NoAtime,
            other => MountOption::CUSTOM(other.to_string()),
        });
    }
    c.mount_options = opts;
    c.acl = if cfg.allow_other {
        SessionACL::All
    } else if cfg.allow_root {
        SessionACL::RootAndOwner
    } else {
        SessionACL::Owner
    };
    // Threads that read requests from the kernel, each with fuser's request buffer; the
    // requests run on the adapter's worker threads (`crate::fuse`).
    c.n_threads = Some(sizing(cfg).receivers);
    c
}

/// How the mount's memory budget is split (`crate::memory::sizing`).
fn sizing(cfg: &MountConfig) -> Sizing {
    Sizing::new(cfg.memory_budget, cfg.ftp.connections)
}

/// A mounted filesystem, ready to serve.
struct Mounted {
    session: fuser::Session<FuseAdapter>,
    fs: Arc<Fs>,
    remote: Arc<FtpRemote>,
    stats: Arc<crate::stats::Source>,
    stats_server: Option<crate::stats::Server>,
}

/// Connects, checks the root, mounts. Returns a one-line error on failure.
fn mount(cfg: &MountConfig) -> Result<Mounted, String> {
    let remote = Arc::new(FtpRemote::connect(cfg.ftp.clone()).map_err(|e| e.to_string())?);
    let sizing = sizing(cfg);
    log::debug!("memory: {sizing:?}");
    let fs = Arc::new(Fs::new(
        Arc::clone(&remote) as Arc<dyn Remote>,
        FsConfig {
            uid: cfg.uid,
            gid: cfg.gid,
            umask: cfg.umask,
            dir_cache_ttl: cfg.dir_cache_ttl,
            dir_cache_size: cfg.dir_cache_size,
            cache_dir: cfg.cache_dir.clone().unwrap_or_else(default_cache_dir),
            cache_max_size: cfg.cache_max_size,
            atomic_replace: cfg.atomic_replace,
            budget: Budget::new(sizing.pool),
        },
        Box::new(SystemClock),
    ));
    let n = fs.list_root().map_err(|e| {
        format!(
            "cannot list {} on {}:{}: {e}",
            cfg.ftp.root, cfg.ftp.host, cfg.ftp.port
        )
    })?;
    log::info!("{n} entries in {}", cfg.ftp.root);
    let session = fuser::Session::new(
        FuseAdapter::new(Arc::clone(&fs), sizing.workers, sizing.max_io as u32),
        &cfg.mountpoint,
        &fuse_config(cfg),
    )
    .map_err(|e| format!("cannot mount on {}: {e}", cfg.mountpoint.display()))?;
    crate::fuse::start_notifier(&fs, session.notifier())
        .map_err(|e| format!("cannot start the kernel notifier: {e}"))?;
    let (stats, stats_server) = crate::stats::serve_mount(&fs, cfg);
    Ok(Mounted {
        session,
        fs,
        remote,
        stats,
        stats_server,
    })
}

/// `$XDG_CACHE_HOME/ftpfs`, else `~/.cache/ftpfs`, else a directory under the temp dir.
fn default_cache_dir() -> std::path::PathBuf {
    let from = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty());
    if let Some(x) = from("XDG_CACHE_HOME") {
        return std::path::PathBuf::from(x).join("ftpfs");
    }
    if let Some(h) = from("HOME") {
        return std::path::PathBuf::from(h).join(".cache").join("ftpfs");
    }
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    std::env::temp_dir().join(format!("ftpfs-{uid}"))
}

/// Large allocations always get pages of their own (mmap), returned to the system when
/// freed. glibc otherwise raises its mmap threshold to the size of the first large block
/// freed — fuser's 16 MiB request buffer of the FUSE handshake — and from then on serves
/// every worker thread's 16 MiB request buffer from a malloc arena, whose `calloc` writes
/// zeros over all of it: ~16 MiB resident per arena before a single request (an idle mount
/// measured 96 MiB instead of 15), and big listings freed but kept resident.
fn fixed_mmap_threshold() {
    // SAFETY: mallopt only changes malloc's tuning; called before any thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

fn block_signals() -> libc::sigset_t {
    // SAFETY: plain libc calls on a local, zero-initialised sigset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Serves until unmounted (by signal or fusermount3 -u), then shuts down cleanly.
fn serve(m: Mounted, set: libc::sigset_t, mountpoint: &std::path::Path) -> ExitCode {
    let Mounted {
        mut session,
        fs,
        remote,
        stats,
        stats_server,
    } = m;
    let mut unmounter = session.unmount_callable();
    let mountpoint = mountpoint.to_path_buf();
    let watched = Arc::clone(&remote);
    crate::mount_watch::on_unmount(&mountpoint, move || watched.cancel());
    let signalled = Arc::clone(&remote);
    std::thread::spawn(move || {
        let mut first = true;
        loop {
            let mut sig: libc::c_int = 0;
            // SAFETY: `set` is a valid sigset; the signals in it are blocked in every thread.
            unsafe { libc::sigwait(&set, &mut sig) };
            if sig == libc::SIGUSR1 {
                // In a thread of its own: a slow syslog must not hold up a SIGTERM.
                let stats = Arc::clone(&stats);
                let _ = std::thread::Builder::new()
                    .name("ftpfs-stats-log".into())
                    .spawn(move || stats.log());
            } else if first {
                log::info!("signal {sig}: unmounting");
                if let Err(e) = unmounter.unmount() {
                    // Busy (a process has its cwd or a file open inside): detach it now; the
                    // session ends when the last user lets go.
                    log::warn!("unmount failed ({e}); detaching the mount (lazy unmount)");
                    lazy_unmount(&mountpoint);
                }
                // Requests still waiting on a silent server end now, not at their timeout.
                signalled.cancel();
                first = false;
            } else {
                log::info!("signal {sig}: detaching again");
                lazy_unmount(&mountpoint);
            }
        }
    });
    let result = session.run();
    // The device number is free for the next mount now; so must be the socket named after it.
    if let Some(s) = stats_server {
        s.close();
    }
    let clean = fs.shutdown();
    remote.shutdown();
    match result {
        Ok(()) if clean => ExitCode::SUCCESS,
        Ok(()) => {
            log::error!("some uploads did not complete (see above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            log::error!("FUSE session ended with an error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Detaches the mount even while it is busy (MNT_DETACH as root, `fusermount3 -u -z`
/// otherwise).
fn lazy_unmount(mountpoint: &std::path::Path) {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let Ok(c) = std::ffi::CString::new(mountpoint.as_os_str().as_bytes()) else {
            return;
        };
        // SAFETY: `c` is a valid NUL-terminated path.
        if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
            log::error!(
                "lazy unmount of {} failed: {}",
                mountpoint.display(),
                std::io::Error::last_os_error()
            );
        }
    } else if let Err(e) = std::process::Command::new("fusermount3")
        .arg("-u")
        .arg("-z")
        .arg(mountpoint)
        .status()
    {
        log::error!("fusermount3 -u -z {}: {e}", mountpoint.display());
    }
}

/// Runs the mount in the foreground.
pub fn run_foreground(cfg: &MountConfig) -> ExitCode {
    fixed_mmap_threshold();
    let set = block_signals();
    match mount(cfg) {
        Ok(m) => {
            log::info!("mounted on {}", cfg.mountpoint.display());
            serve(m, set, &cfg.mountpoint)
        }
        Err(e) => {
            eprintln!("ftpfs: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Forks; the parent returns once the child reports that the mount works (or why not).
pub fn run_daemon(cfg: &MountConfig) -> ExitCode {
    let mut fds = [0; 2];
    // SAFETY: pipe() fills two fds we then own.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        eprintln!("ftpfs: pipe: {}", std::io::Error::last_os_error());
        return ExitCode::FAILURE;
    }
    // SAFETY: the fds come from pipe() and are owned from here on.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: no thread has been started yet (main calls this before anything spawns one).
    match unsafe { libc::fork() } {
        -1 => {
            eprintln!("ftpfs: fork: {}", std::io::Error::last_os_error());
            ExitCode::FAILURE
        }
        0 => {
            drop(rd);
            // SAFETY: detaching from the terminal's session in the child.
            unsafe { libc::setsid() };
            fixed_mmap_threshold();
            let set = block_signals();
            let mut pipe = std::fs::File::from(wr);
            match open_log_file(cfg).and_then(|log| Ok((mount(cfg)?, log))) {
                Ok((m, log)) => {
                    // Without a log file the daemon's log goes to syslog from here on; the
                    // parent prints why not if syslog cannot be reached.
                    let warning = match log {
                        Some(_) => None,
                        None => logging::to_syslog(&format!(
                            "mounted {} on {}",
                            cfg.fsname,
                            cfg.mountpoint.display()
                        ))
                        .err(),
                    };
                    let mut verdict = b"\0".to_vec();
                    if let Some(w) = warning {
                        verdict.extend_from_slice(
                            format!(
                                "cannot log to syslog ({w}): this mount's log is lost; \
                                 use -o log_file=PATH"
                            )
                            .as_bytes(),
                        );
                    }
                    let _ = pipe.write_all(&verdict);
                    drop(pipe);
                    detach_stdio(log.as_ref());
                    serve(m, set, &cfg.mountpoint)
                }
                Err(e) => {
                    let _ = pipe.write_all(e.as_bytes());
                    ExitCode::FAILURE
                }
            }
        }
        _child => {
            drop(wr);
            let mut verdict = Vec::new();
            let _ = std::fs::File::from(rd).read_to_end(&mut verdict);
            match verdict.as_slice() {
                [0] => ExitCode::SUCCESS,
                [0, warning @ ..] => {
                    eprintln!("ftpfs: warning: {}", String::from_utf8_lossy(warning));
                    ExitCode::SUCCESS
                }
                [] => {
                    eprintln!("ftpfs: the mount process died before mounting");
                    ExitCode::FAILURE
                }
                msg => {
                    eprintln!("ftpfs: {}", String::from_utf8_lossy(msg));
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Opens `-o log_file` for appending (before mounting, so that a path that cannot be opened
/// fails the mount instead of losing the log).
fn open_log_file(cfg: &MountConfig) -> Result<Option<std::fs::File>, String> {
    cfg.log_file
        .as_deref()
        .map(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| format!("cannot open log file {}: {e}", p.display()))
        })
        .transpose()
}

/// Points stdin/stdout at /dev/null and stderr at the log file, or /dev/null when the log
/// goes to syslog: a daemon must not hold the terminal or the pipes of whoever started it.
fn detach_stdio(log: Option<&std::fs::File>) {
    use std::os::fd::AsRawFd;
    let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    else {
        return;
    };
    let err_fd = log.map_or(null.as_raw_fd(), |f| f.as_raw_fd());
    // SAFETY: dup2 onto the standard descriptors of this process.
    unsafe {
        libc::dup2(null.as_raw_fd(), 0);
        libc::dup2(null.as_raw_fd(), 1);
        libc::dup2(err_fd, 2);
    }
}
