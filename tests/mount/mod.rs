//! End-to-end tests through a real FUSE mount of the `ftpfs` binary.

mod badftp;
mod cli;
mod commands;
mod coreutils;
mod faults;
pub mod harness;
mod hostile;
mod logs;
mod robust;
mod writes;
