//! The installed face of ftpfs, checked with the system's own tools: the man pages through
//! groff and man, the completion scripts loaded by bash, zsh and fish, `scripts/install.sh`
//! into a scratch prefix (`docs`); the fstab line and the systemd units through findmnt,
//! systemd-fstab-generator, systemd-analyze and mount(8) with the real helper (`systemd`).
//! A tool that is missing fails the test (scripts/setup.sh installs them all).

mod docs;
mod systemd;

use std::path::Path;
use std::process::{Command, Output};

/// Runs `cmd`, panicking with a hint when the program is missing.
pub fn run(cmd: &mut Command) -> Output {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {program}: {e} (scripts/setup.sh installs what the tests need)")
    })
}

/// Runs `cmd` and returns its stdout; panics with both outputs when it fails.
pub fn ok(cmd: &mut Command) -> String {
    let what = format!("{cmd:?}");
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The repository's root (where Cargo.toml is).
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}
