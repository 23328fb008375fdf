//! Man pages and shell completions, generated from the clap definition ([`crate::cli::Cli`])
//! and the `-o` table ([`crate::option_table::MOUNT_OPTIONS`]).
//!
//! Pages: `ftpfs.1` (synopsis, options and subcommands by clap_mangen; mount options,
//! logging, exit status, environment, files and examples added in `pages.rs`),
//! `ftpfs-SUBCOMMAND.1` for each visible subcommand (clap_mangen's subcommand list refers to
//! them), and `mount.ftpfs.8` for the mount(8) helper (`helper_page.rs`). Completions: bash,
//! zsh and fish by clap_complete.
//!
//! Why a hidden subcommand (`ftpfs generate-docs DIR`) rather than build.rs or a second
//! binary: the pages then describe exactly the binary that installs them (install.sh runs
//! the one it just installed), nothing runs at every build, and no extra program is
//! installed or linked; the same functions serve the tests, which need no binary at all.
//! The subcommand is not part of [`Cli`]: [`with_internal_commands`] adds it for parsing
//! only (clap_complete offers even hidden subcommands, and there is no removing one).
//!
//! Invariants: every `-o` option of the table, every visible flag and every visible
//! subcommand appear in `ftpfs.1`, and every flag and subcommand in each completion script
//! (`tests.rs`, and `tests/system/docs.rs` with the real shells, man and groff); hidden
//! subcommands appear nowhere. The fstab example is the text of `contrib/systemd/fstab`, the
//! file the systemd tests check.

use std::io;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

mod helper_page;
mod pages;
#[cfg(test)]
mod tests;

pub use helper_page::HELPER_FLAGS;

/// The internal subcommand that writes the pages and completions.
pub const GENERATE_DOCS: &str = "generate-docs";

/// `cmd` plus the internal `generate-docs DIR` subcommand (hidden), for parsing `ftpfs`'s
/// command line; the documented command ([`command`]) does not have it.
pub fn with_internal_commands(cmd: clap::Command) -> clap::Command {
    cmd.subcommand(
        clap::Command::new(GENERATE_DOCS)
            .hide(true)
            .about(
                "Write the man pages and shell completions into DIR (used by scripts/install.sh)",
            )
            .arg(
                clap::Arg::new("dir")
                    .value_name("DIR")
                    .required(true)
                    .value_parser(clap::value_parser!(PathBuf)),
            ),
    )
}

/// The directory of `ftpfs generate-docs DIR`, when that is what was asked.
pub fn generate_docs_dir(matches: &clap::ArgMatches) -> Option<&PathBuf> {
    match matches.subcommand() {
        Some((GENERATE_DOCS, m)) => m.get_one::<PathBuf>("dir"),
        _ => None,
    }
}

/// `ftpfs generate-docs DIR`: writes everything, prints the paths written.
pub fn run_generate_docs(dir: &Path) -> std::process::ExitCode {
    match generate(dir) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ftpfs: {GENERATE_DOCS} {}: {e}", dir.display());
            std::process::ExitCode::FAILURE
        }
    }
}

/// The documented fstab line (with its comment lines), shared with the systemd tests.
pub const FSTAB_EXAMPLE: &str = include_str!("../../contrib/systemd/fstab");

/// The shells completions are generated for.
pub const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// The command as documented: clap's definition without its `help` subcommand.
pub fn command() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// Every man page: (file name, contents).
pub fn man_pages() -> io::Result<Vec<(String, Vec<u8>)>> {
    let cmd = command();
    let mut pages = vec![("ftpfs.1".to_string(), pages::ftpfs_page(&cmd)?)];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("{}-{}", cmd.get_name(), sub.get_name());
        pages.push((format!("{name}.1"), pages::subcommand_page(sub, &name)?));
    }
    pages.push(("mount.ftpfs.8".to_string(), helper_page::helper_page()?));
    Ok(pages)
}

/// The completion scripts: (file name, contents), named as each shell looks for them
/// (`ftpfs.bash`, `_ftpfs`, `ftpfs.fish`).
pub fn completions() -> Vec<(String, Vec<u8>)> {
    let mut cmd = command();
    SHELLS
        .iter()
        .map(|&shell| {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, "ftpfs", &mut buf);
            (clap_complete::Generator::file_name(&shell, "ftpfs"), buf)
        })
        .collect()
}

/// Writes every page and completion script into `dir` (created if missing); returns the
/// paths written.
pub fn generate(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (name, contents) in man_pages()?.into_iter().chain(completions()) {
        let path = dir.join(name);
        std::fs::write(&path, contents)?;
        written.push(path);
    }
    Ok(written)
}
