//! The one integration-test binary: real FTP servers started on loopback (`common`), the FTP
//! layer against them, real FUSE mounts (`mount`), the installed face: man pages,
//! completions, fstab and systemd units (`system`), `badftp`, our own misbehaving server,
//! and the self-tests of the FTPS fixtures (`tls`, with curl as the client). These tests
//! need root, /dev/fuse and
//! the servers installed by `scripts/setup.sh`; when something is missing they fail loudly.

mod badftp;
mod common;
mod mount;
mod netlab;
mod system;
mod tls;
