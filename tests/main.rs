//! The one integration-test binary: real FTP servers started on loopback (`common`), the FTP
//! layer against them, and real FUSE mounts (`mount`). These tests need root, /dev/fuse and
//! the servers installed by `scripts/setup.sh`; when something is missing they fail loudly.

mod common;
mod mount;
mod netlab;
