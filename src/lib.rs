//! ftpfs: mount an FTP server as a local directory.
//!
//! Layers, dependencies pointing down only: `run` (wiring, daemon) → `fuse` (thin adapter) →
//! `fs` (the core) → `cache` + `remote` (the `Remote` trait; `remote::ftp` is the only code
//! that speaks FTP). `stats` (the `ftpfs stats` command and the daemon's socket) sits beside
//! `run`. See ARCHITECTURE.md.

pub mod blocking;
pub mod cache;
pub mod cli;
pub mod config;
pub mod config_tls;
pub mod credentials;
pub mod docs;
pub mod fs;
pub mod fuse;
pub mod logging;
pub mod memory;
pub mod mount_helper;
pub mod mount_opts;
pub mod mount_watch;
pub mod mountinfo;
pub mod names;
pub mod netrc;
pub mod option_table;
pub mod remote;
pub mod run;
pub mod stats;
#[cfg(test)]
mod testing;
