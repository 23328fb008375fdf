//! End-to-end tests through a real FUSE mount of the `ftpfs` binary.

mod badftp;
mod changing;
mod cli;
mod commands;
mod coreutils;
mod faults;
pub mod harness;
mod hostile;
mod listings;
mod logs;
mod memory;
pub mod names;
mod pjdfstest;
mod posix;
mod robust;
mod stats;
mod trees;
mod writes;
