//! The one integration-test binary: real FTP servers started on loopback (`common`), the FTP
//! layer against them, real FUSE mounts (`mount`), and the self-tests of the FTPS fixtures
//! (`tls`, with curl as the client). These tests need root, /dev/fuse and
//! the servers installed by `scripts/setup.sh`; when something is missing they fail loudly.

mod common;
mod mount;
mod netlab;
mod tls;
