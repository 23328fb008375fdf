//! `ftpfs stats MOUNTPOINT` and SIGUSR1: what a running mount is doing, served by its daemon.
//!
//! - **What**: a [`Report`]: bytes read and written through the mount, open files, staged
//!   copies and their disk use, the directory cache (from the core, [`crate::fs::Fs::stats`]),
//!   and the remote's snapshot ([`crate::remote::Remote::stats`]: commands by verb with their
//!   errors, the pool, the data-connection method and why, transfers, retries, FEAT, TLS);
//!   uptime. Nothing secret: no password, no file contents, no file names.
//! - **Transport** (`server.rs`, `client.rs`): a Unix stream socket in the abstract namespace
//!   named after the mount's device number (`ftpfs/stats/MAJOR:MINOR`), which the client
//!   gets from `statx(MOUNTPOINT)` with `AT_STATX_DONT_SYNC` and no fields asked (the kernel
//!   answers from its cache, without a request to the daemon, and even to a user the mount
//!   does not let in). The daemon writes one JSON document and closes; the client prints it
//!   (`--json`) or renders it as text (`text.rs`). Why an abstract socket: it needs no
//!   directory that every user can reach and nobody can squat with a symlink, it disappears
//!   with the daemon (no stale file after a crash), and the device number is known to both
//!   sides without any file.
//! - **Access** (`server.rs`): the daemon checks the caller's uid with `SO_PEERCRED`: the
//!   mounting user and root, and anyone when the mount has `allow_other` (the kernel lets
//!   them into the mount then, so they may see its statistics). The client checks the
//!   daemon the same way: the socket must belong to the mount's owner (`user_id=` in
//!   mountinfo) or root, so another user cannot answer in its place.
//! - **SIGUSR1** (`crate::run`): the same report, as text, goes to the log as a notice
//!   ([`crate::logging::notice`]), which the level filter never drops: it is asked for.
//!
//! Invariants: a report is built by the stats thread (or the signal thread), never by a
//! thread that answers FUSE requests; it takes only short locks, one at a time, and never
//! holds one across socket I/O (it is serialized first, written after).

mod client;
use crate::mountinfo;
mod server;
mod text;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

pub use client::{DEFAULT_TIMEOUT, run_client};
pub use server::{Access, Server, socket_name, start_server};
pub use text::render;

use crate::fs::Fs;
use crate::fs::stats::FsStats;
use crate::remote::stats::RemoteStats;

/// The version of the JSON form; a client refuses other versions.
pub const FORMAT: u32 = 1;

/// Everything `ftpfs stats` shows. Serialized as is for `--json` (serde_json: the de facto
/// standard JSON crate, maintained with serde; deriving both directions keeps the daemon's
/// writer and the client's reader from drifting apart, which a hand-written encoder and
/// parser would not).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`FORMAT`].
    pub format: u32,
    /// The daemon's ftpfs version.
    pub version: String,
    pub pid: u32,
    pub fsname: String,
    pub mountpoint: PathBuf,
    /// Seconds since the mount.
    pub uptime_secs: u64,
    #[serde(flatten)]
    pub fs: FsStats,
    #[serde(flatten)]
    pub remote: RemoteStats,
}

/// What a report is made from: the core (which reaches the remote) and the mount's names.
pub struct Source {
    fs: Arc<Fs>,
    fsname: String,
    mountpoint: PathBuf,
    started: Instant,
}

impl Source {
    pub fn new(fs: Arc<Fs>, fsname: &str, mountpoint: &std::path::Path) -> Source {
        Source {
            fs,
            fsname: fsname.to_string(),
            mountpoint: mountpoint.to_path_buf(),
            started: Instant::now(),
        }
    }

    /// A report as of now.
    pub fn report(&self) -> Report {
        Report {
            format: FORMAT,
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            fsname: self.fsname.clone(),
            mountpoint: self.mountpoint.clone(),
            uptime_secs: self.started.elapsed().as_secs(),
            fs: self.fs.stats(),
            remote: self.fs.remote_stats(),
        }
    }

    /// SIGUSR1: the report, as text, to the log whatever its level.
    pub fn log(&self) {
        crate::logging::notice("ftpfs::stats", &render(&self.report()));
    }
}

/// Starts serving the statistics of the mount just made on `cfg.mountpoint` (a failure is
/// logged, never fatal: the mount works without them) and returns the report's source (for
/// SIGUSR1) and the server, to close when the session ends.
pub fn serve_mount(
    fs: &Arc<Fs>,
    cfg: &crate::config::MountConfig,
) -> (Arc<Source>, Option<Server>) {
    let source = Arc::new(Source::new(Arc::clone(fs), &cfg.fsname, &cfg.mountpoint));
    let dev = mountinfo::read()
        .ok()
        .and_then(|t| mountinfo::fuse_dev_of(&t, &cfg.mountpoint));
    let Some(dev) = dev else {
        log::warn!(
            "ftpfs stats: our mount on {} is not in /proc/self/mountinfo; no statistics",
            cfg.mountpoint.display()
        );
        return (source, None);
    };
    let access = Access {
        // SAFETY: getuid has no preconditions.
        owner: unsafe { libc::getuid() },
        allow_other: cfg.allow_other,
    };
    match start_server(Arc::clone(&source), dev, access) {
        Ok(server) => (source, Some(server)),
        Err(e) => {
            log::warn!(
                "ftpfs stats: cannot serve statistics on @{} ({e}); SIGUSR1 still logs them",
                socket_name(dev)
            );
            (source, None)
        }
    }
}

#[cfg(test)]
mod tests;
