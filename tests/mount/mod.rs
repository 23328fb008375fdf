//! End-to-end tests through a real FUSE mount of the `ftpfs` binary.

mod cli;
mod commands;
mod coreutils;
pub mod harness;
mod robust;
