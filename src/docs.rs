//! Man pages and shell completions, generated from the clap definition ([`crate::cli::Cli`])
//! and the `-o` table ([`crate::option_table::MOUNT_OPTIONS`]).
//!
//! Pages: `ftpfs.1` (synopsis, options and subcommands by clap_mangen; mount options, logging,
//! exit status, environment, files and examples added here), `ftpfs-SUBCOMMAND.1` for each
//! visible subcommand (clap_mangen's subcommand list refers to them), and `mount.ftpfs.8`
//! for the mount(8) helper. Completions: bash, zsh and fish by clap_complete.
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
//! (tests below, and `tests/system/docs.rs` with the real shells, man and groff); hidden
//! subcommands appear nowhere. The fstab example is the text of `contrib/systemd/fstab`, the
//! file the systemd tests check.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;
use clap_mangen::roff::{Inline, Roff, bold, italic, roman};

use crate::cli::Cli;
use crate::option_table::{MOUNT_OPTIONS, OptionDoc};

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
pub const FSTAB_EXAMPLE: &str = include_str!("../contrib/systemd/fstab");

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
    let mut pages = vec![("ftpfs.1".to_string(), ftpfs_page(&cmd)?)];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("{}-{}", cmd.get_name(), sub.get_name());
        pages.push((format!("{name}.1"), subcommand_page(sub, &name)?));
    }
    pages.push(("mount.ftpfs.8".to_string(), helper_page()?));
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

/// A page assembled from clap_mangen's sections and our own, with roff's preamble once.
struct Page(Vec<u8>);

impl Page {
    fn new() -> Page {
        Page(Vec::new())
    }

    /// Appends a section rendered by clap_mangen (or any roff writer).
    fn add(&mut self, render: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
        let mut buf = Vec::new();
        render(&mut buf)?;
        let preamble = Roff::new().render();
        let body = if self.0.is_empty() {
            &buf[..]
        } else {
            buf.strip_prefix(preamble.as_bytes()).unwrap_or(&buf[..])
        };
        self.0.extend_from_slice(body);
        Ok(())
    }

    fn roff(&mut self, r: &Roff) -> io::Result<()> {
        self.add(|w| r.to_writer(w))
    }
}

fn section(r: &mut Roff, name: &str) {
    r.control("SH", [name]);
}

fn para(r: &mut Roff, inlines: impl Into<Vec<Inline>>) {
    r.control("PP", []);
    r.text(inlines);
}

/// A tagged paragraph: `tag` on its line, `body` indented below.
fn item(r: &mut Roff, tag: impl Into<Vec<Inline>>, body: impl Into<Vec<Inline>>) {
    r.control("TP", []);
    r.text(tag);
    r.text(body);
}

/// An indented block of lines kept as written (commands, file contents).
fn example(r: &mut Roff, intro: &str, lines: &str) {
    if !intro.is_empty() {
        para(r, [roman(intro)]);
    }
    r.control("RS", ["4"]);
    r.control("nf", []);
    for line in lines.lines() {
        r.text([roman(line)]);
    }
    r.control("fi", []);
    r.control("RE", []);
}

/// `name=VALUE` in man style: the name bold, the value italic.
fn option_tag(o: &OptionDoc) -> Vec<Inline> {
    let mut tag = Vec::new();
    for (i, n) in o.names.iter().enumerate() {
        if i > 0 {
            tag.push(roman(", "));
        }
        tag.push(bold(*n));
        if let Some(v) = o.value {
            tag.push(roman("="));
            tag.push(italic(v));
        }
    }
    tag
}

/// The MOUNT OPTIONS section: every row of the table with its default.
fn mount_options(r: &mut Roff) {
    section(r, "MOUNT OPTIONS");
    para(
        r,
        [roman(
            "Given with -o (ftpfs) or in the fourth field of fstab, comma-separated; -o may be \
             repeated and a later option overrides an earlier one. A literal comma in a value \
             is written \\, (fsname=a\\,b). Any option not listed here is an error.",
        )],
    );
    for o in MOUNT_OPTIONS {
        let mut body = o.summary.to_string();
        body.push('.');
        if !o.details.is_empty() {
            body.push(' ');
            body.push_str(o.details);
        }
        if let Some(d) = o.default_text() {
            body.push_str(&format!(" Default: {d}."));
        }
        item(r, option_tag(o), [roman(body)]);
    }
}

/// clap_mangen's synopsis would put `[subcommands]` after `URL MOUNTPOINT`; clap's own usage
/// shows the two forms, so the page takes that.
fn with_usage_synopsis(cmd: &clap::Command) -> clap::Command {
    let mut c = cmd.clone();
    let usage = c.render_usage().to_string();
    let usage = usage.trim_start_matches("Usage:").replace("\n ", "\n");
    c.override_usage(usage.trim().to_string())
}

fn ftpfs_page(cmd: &clap::Command) -> io::Result<Vec<u8>> {
    let man = Man::new(with_usage_synopsis(cmd)).manual("User Commands");
    let mut page = Page::new();
    page.add(|w| man.render_title(w))?;
    page.add(|w| man.render_name_section(w))?;
    page.add(|w| man.render_synopsis_section(w))?;

    let mut r = Roff::new();
    section(&mut r, "DESCRIPTION");
    para(
        &mut r,
        [
            bold("ftpfs"),
            roman(
                " mounts a directory of an FTP server on a local directory with FUSE, so that \
                 ls, cp, rsync, tar, find and editors work on it. It keeps a bounded pool of \
                 control connections, caches directory listings, streams reads (REST for \
                 seeks) and writes (STOR, APPE), and never reports success for something it \
                 did not do: close(2) and fsync(2) return after the server's 226 and fail when \
                 the upload failed.",
            ),
        ],
    );
    para(
        &mut r,
        [
            italic("URL"),
            roman(
                " is ftp://[user@]host[:port][/path] (or host[:port][/path]); IPv6 addresses \
                 go in brackets. The path is taken relative to the login directory, as curl \
                 does; without a user the login is anonymous. A password in the URL is \
                 refused (command lines are visible in ps).",
            ),
        ],
    );
    para(
        &mut r,
        [roman(
            "The password comes from $FTPFS_PASSWORD, then -o password_file=PATH (its first \
             line), then ~/.netrc (machine HOST login USER password PASS), then a prompt when \
             a terminal is attached.",
        )],
    );
    para(
        &mut r,
        [roman(
            "Without -f, ftpfs forks; the child logs in, lists the root and mounts, and the \
             command returns 0 only once the mount works. Otherwise it prints one line (for \
             example: ftpfs: login to ftp.example.com:21 as bob failed: 530 Login incorrect) \
             and exits 1, leaving no mount. Unmount with fusermount3 -u MOUNTPOINT, umount \
             (as root), or SIGTERM to the daemon; uploads in progress are finished first.",
        )],
    );
    page.roff(&r)?;
    page.add(|w| man.render_options_section(w))?;

    let mut r = Roff::new();
    mount_options(&mut r);
    page.roff(&r)?;
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        page.add(|w| man.render_subcommands_section(w))?;
    }

    let mut r = Roff::new();
    section(&mut r, "LOGGING");
    para(
        &mut r,
        [roman(
            "With -f (or -d) the log goes to standard error. A daemon (without -f) sends its \
             log to syslog with the identity ftpfs[PID], facility daemon: warnings and errors, \
             or more with -v, so that a failed upload is on record even when nobody watches. \
             Under systemd they are in the journal: journalctl -t ftpfs. When it has mounted, \
             the daemon logs one notice, \"mounted FSNAME on MOUNTPOINT\", which tells which \
             mount a PID is. When the syslog socket cannot be reached, ftpfs says so on \
             standard error when it mounts.",
        )],
    );
    para(
        &mut r,
        [roman(
            "With -o log_file=PATH a daemon appends its log to PATH instead. -v gives info, \
             -vv or -d debug, -vvv trace; RUST_LOG refines it (for example \
             RUST_LOG=ftpfs::remote=debug). Passwords never appear in the log: the login \
             is logged as PASS ****.",
        )],
    );
    exit_status(&mut r);
    environment(&mut r);
    files(&mut r);
    examples(&mut r);
    see_also(
        &mut r,
        "mount.ftpfs(8), ftpfs-probe(1), fusermount3(1), mount(8), fstab(5), \
         systemd.mount(5), systemd.automount(5), journalctl(1)",
    );
    page.roff(&r)?;
    page.add(|w| man.render_version_section(w))?;
    Ok(page.0)
}

fn exit_status(r: &mut Roff) {
    section(r, "EXIT STATUS");
    item(
        r,
        [bold("0")],
        [roman(
            "Mounted: the daemon runs in the background and the mount works. With -f: \
             unmounted cleanly after every upload completed. ftpfs probe: some data \
             connection method works.",
        )],
    );
    item(
        r,
        [bold("1")],
        [roman(
            "The mount failed (bad option, URL or mountpoint, no password, the server \
             unreachable, the login or the listing of the root refused): one line on \
             standard error says why and nothing is left mounted. With -f: some uploads did \
             not complete before the end (the log names the copies kept in cache_dir). \
             ftpfs probe: no method works.",
        )],
    );
    item(
        r,
        [bold("2")],
        [roman(
            "Wrong command-line usage (unknown flag, missing argument).",
        )],
    );
}

fn environment(r: &mut Roff) {
    section(r, "ENVIRONMENT");
    for (name, text) in [
        ("FTPFS_PASSWORD", "The password; checked first."),
        ("NETRC", "The netrc file to read instead of ~/.netrc."),
        (
            "XDG_CACHE_HOME, HOME",
            "Where the default cache_dir is ($XDG_CACHE_HOME/ftpfs, else ~/.cache/ftpfs).",
        ),
        (
            "RUST_LOG",
            "Refines the log level per module (env_logger syntax).",
        ),
        (
            crate::logging::SYSLOG_SOCKET_ENV,
            "The syslog socket a daemon writes to instead of /dev/log (used by the tests).",
        ),
    ] {
        item(r, [bold(name)], [roman(text)]);
    }
}

fn files(r: &mut Roff) {
    section(r, "FILES");
    for (name, text) in [
        (
            "~/.netrc",
            "Passwords by host: machine HOST login USER password PASS (or $NETRC).",
        ),
        (
            "password_file",
            "-o password_file=PATH: the password on the first line; keep it mode 0600 \
             (ftpfs warns when others can read it).",
        ),
        (
            "cache_dir",
            "-o cache_dir=DIR, default $XDG_CACHE_HOME/ftpfs or ~/.cache/ftpfs: staged \
             copies of files being modified in place; a copy whose upload failed stays \
             here and the log names it.",
        ),
        (
            "/dev/log",
            "The syslog socket a daemon without log_file writes to.",
        ),
        (
            "/etc/fuse.conf",
            "user_allow_other lets ordinary users mount with allow_other.",
        ),
        (
            "/etc/fstab",
            "Entries of type ftpfs are mounted by mount.ftpfs(8).",
        ),
    ] {
        item(r, [bold(name)], [roman(text)]);
    }
}

/// The fstab example without its comment lines.
fn fstab_line() -> String {
    FSTAB_EXAMPLE
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn examples(r: &mut Roff) {
    section(r, "EXAMPLES");
    example(
        r,
        "Mount, use, unmount:",
        "export FTPFS_PASSWORD=...\n\
         ftpfs ftp://bob@ftp.example.com/pub /mnt/ftp\n\
         ls -l /mnt/ftp\n\
         fusermount3 -u /mnt/ftp",
    );
    example(
        r,
        "In the foreground with a debug log; then which data connections work:",
        "ftpfs -d -o password_file=$HOME/.ftp-pw ftp://bob@ftp.example.com/ /mnt/ftp\n\
         ftpfs probe ftp://bob@ftp.example.com/",
    );
    example(
        r,
        "Through a firewall that opens only port 21 and a range for active mode:",
        "ftpfs -o data_mode=active,active_port_range=50000-50100 \\\n\
         \x20     ftp://bob@ftp.example.com/ /mnt/ftp",
    );
    example(
        r,
        "/etc/fstab, mounted by systemd on first access and unmounted after 10 idle \
         minutes (see mount.ftpfs(8) for the .mount/.automount units):",
        &fstab_line(),
    );
    example(
        r,
        "FTPS: implicit TLS (port 990), explicit TLS (AUTH TLS on port 21, as ftpes:// or \
         -o tls), a private CA and the name on its certificate, a pinned self-signed \
         certificate, a server that needs TLS 1.2, and no verification at all (tests only):",
        "ftpfs ftps://bob@ftp.example.com/pub /mnt/ftp\n\
         ftpfs ftpes://bob@ftp.example.com/pub /mnt/ftp\n\
         ftpfs -o tls ftp://bob@ftp.example.com/pub /mnt/ftp\n\
         ftpfs -o tls,tls_ca=/etc/ftpfs/ca.pem,tls_name=ftp.internal ftp://bob@192.0.2.7/ /mnt/ftp\n\
         ftpfs -o tls,tls_fingerprint=sha256:9F86D081884C7D65...0F00A08 ftp://bob@nas/ /mnt/ftp\n\
         ftpfs -o tls,tls_max=1.2 ftp://bob@old.example.com/ /mnt/ftp\n\
         ftpfs -o tls,tls_insecure ftp://bob@test-server/ /mnt/ftp",
    );
    example(
        r,
        "The same in fstab (explicit TLS with a pinned certificate):",
        "ftpes://bob@nas/  /mnt/nas  ftpfs  noauto,x-systemd.automount,_netdev,\
         tls_fingerprint=sha256:9F86...0A08,password_file=/etc/ftpfs/bob  0 0",
    );
}

fn see_also(r: &mut Roff, pages: &str) {
    section(r, "SEE ALSO");
    r.text([roman(pages)]);
}

fn subcommand_page(sub: &clap::Command, name: &str) -> io::Result<Vec<u8>> {
    let man = Man::new(with_usage_synopsis(sub).display_name(name.to_string()))
        .source(format!("ftpfs {}", env!("CARGO_PKG_VERSION")))
        .manual("User Commands");
    let mut page = Page::new();
    page.add(|w| man.render(w))?;
    let mut r = Roff::new();
    see_also(&mut r, "ftpfs(1)");
    page.roff(&r)?;
    Ok(page.0)
}

/// The mount(8) flags `mount.ftpfs` takes (see `crate::mount_helper::translate`).
pub const HELPER_FLAGS: &[(&str, Option<&str>, &str)] = &[
    (
        "-o",
        Some("OPTIONS"),
        "Mount options, as for ftpfs -o (below); may be repeated.",
    ),
    (
        "-f",
        None,
        "Fake: check the URL, the options, the password source and the mountpoint, and \
         mount nothing (mount -f, findmnt-style checks of an fstab line).",
    ),
    ("-v", None, "Verbose: log at info level."),
    (
        "-s",
        None,
        "Sloppy: accepted; ftpfs rejects unknown options anyway.",
    ),
    (
        "-n",
        None,
        "No mtab: accepted and ignored (there is no mtab to write).",
    ),
    ("-t", Some("TYPE"), "Accepted and ignored (always ftpfs)."),
    ("-N", Some("NS"), "Accepted and ignored."),
];

fn helper_page() -> io::Result<Vec<u8>> {
    let mut r = Roff::new();
    r.control(
        "TH",
        [
            "mount.ftpfs",
            "8",
            "",
            &format!("ftpfs {}", env!("CARGO_PKG_VERSION")),
            "System Administration",
        ],
    );
    section(&mut r, "NAME");
    r.text([roman(
        "mount.ftpfs - mount helper for ftpfs: mount -t ftpfs and fstab entries",
    )]);
    section(&mut r, "SYNOPSIS");
    r.text([
        bold("mount.ftpfs"),
        roman(" "),
        italic("URL"),
        roman(" "),
        italic("MOUNTPOINT"),
        roman(" [-sfnv] [-N NS] [-o "),
        italic("OPTIONS"),
        roman("]"),
    ]);
    r.control("br", []);
    r.text([
        bold("mount -t ftpfs"),
        roman(" "),
        italic("URL"),
        roman(" "),
        italic("MOUNTPOINT"),
        roman(" [-o "),
        italic("OPTIONS"),
        roman("]"),
    ]);
    section(&mut r, "DESCRIPTION");
    para(
        &mut r,
        [
            bold("mount.ftpfs"),
            roman(
                " is the program mount(8) runs for file systems of type ftpfs. It is the \
                 ftpfs binary under another name (scripts/install.sh makes /sbin/mount.ftpfs \
                 a symbolic link to it) and takes mount(8)'s calling convention: URL first, \
                 then the mountpoint, then flags. URL may also be written ftpfs#URL, as older \
                 FUSE fstab lines do. Everything in -o reaches ftpfs's own option parser, \
                 which rejects what it does not know.",
            ),
        ],
    );
    para(
        &mut r,
        [roman(
            "The mount then behaves as ftpfs without -f: the command returns once the mount \
             works (exit 0) or prints one line and exits 1; the daemon logs to syslog as \
             ftpfs[PID] (journalctl -t ftpfs) unless log_file is given. The password comes \
             from password_file, ~/.netrc of the user running mount, or $FTPFS_PASSWORD; \
             there is no terminal to prompt on at boot.",
        )],
    );
    section(&mut r, "OPTIONS");
    for (flag, value, text) in HELPER_FLAGS {
        let mut tag = vec![bold(*flag)];
        if let Some(v) = value {
            tag.push(roman(" "));
            tag.push(italic(*v));
        }
        item(&mut r, tag, [roman(*text)]);
    }
    mount_options(&mut r);
    section(&mut r, "FSTAB AND SYSTEMD");
    example(
        &mut r,
        "An fstab entry that systemd mounts on first access (x-systemd.automount) and \
         unmounts after 10 idle minutes; noauto keeps mount -a from mounting it at boot, \
         _netdev orders it after the network, allow_other lets every user in:",
        FSTAB_EXAMPLE.trim_end(),
    );
    para(
        &mut r,
        [roman(
            "After editing fstab: systemctl daemon-reload && systemctl start \
             mnt-ftp.automount. Without systemd: mount /mnt/ftp.",
        )],
    );
    para(
        &mut r,
        [roman(
            "The same as a unit pair, /etc/systemd/system/mnt-ftp.mount and mnt-ftp.automount \
             (the names must be the escaped mountpoint: systemd-escape -p --suffix=mount \
             /mnt/ftp); enable only the automount: systemctl enable --now mnt-ftp.automount. \
             The repository's contrib/systemd/ has both files.",
        )],
    );
    example(&mut r, "", include_str!("../contrib/systemd/mnt-ftp.mount"));
    example(
        &mut r,
        "",
        include_str!("../contrib/systemd/mnt-ftp.automount"),
    );
    section(&mut r, "EXIT STATUS");
    item(
        &mut r,
        [bold("0")],
        [roman("Mounted (with -f: everything checked).")],
    );
    item(
        &mut r,
        [bold("1")],
        [roman(
            "Not mounted; one line on standard error says why (mount(8) shows it).",
        )],
    );
    section(&mut r, "FILES");
    for (name, text) in [
        ("/etc/fstab", "Entries of type ftpfs."),
        (
            "password_file",
            "The password on the first line of the file that -o password_file names; \
             keep it mode 0600 and owned by root.",
        ),
        (
            "/sbin/mount.ftpfs",
            "This helper: a link to the ftpfs binary.",
        ),
    ] {
        item(&mut r, [bold(name)], [roman(text)]);
    }
    see_also(
        &mut r,
        "ftpfs(1), mount(8), fstab(5), systemd.mount(5), systemd.automount(5), \
         systemd-fstab-generator(8)",
    );
    let mut page = Page::new();
    page.roff(&r)?;
    Ok(page.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mount_helper::translate;
    use clap::FromArgMatches;

    /// The text of a roff page with the escapes this module's output uses undone (enough to
    /// search for words; `tests/system/docs.rs` renders the pages with groff as well).
    fn plain(page: &[u8]) -> String {
        String::from_utf8_lossy(page)
            .replace("\\-", "-")
            .replace("\\*(Aq", "'")
            .replace("\\fB", "")
            .replace("\\fI", "")
            .replace("\\fR", "")
            .replace("\\fP", "")
            .replace("\\&", "")
            .replace("\\\\", "\\")
    }

    fn page(name: &str) -> String {
        let pages = man_pages().expect("render");
        let (_, p) = pages
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no page {name}"));
        plain(p)
    }

    /// Every visible flag of `cmd` as `--long` (or `-s` when it has no long form).
    fn flags(cmd: &clap::Command) -> Vec<String> {
        cmd.get_arguments()
            .filter(|a| !a.is_hide_set() && !a.is_positional())
            .map(|a| match (a.get_long(), a.get_short()) {
                (Some(l), _) => format!("--{l}"),
                (None, Some(s)) => format!("-{s}"),
                (None, None) => panic!("flag without a name: {a:?}"),
            })
            .collect()
    }

    fn visible_subcommands() -> Vec<clap::Command> {
        command()
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .cloned()
            .collect()
    }

    #[test]
    fn ftpfs_page_mentions_every_option_flag_and_subcommand() {
        let p = page("ftpfs.1");
        for o in MOUNT_OPTIONS {
            for n in o.names {
                let shown = match o.value {
                    Some(v) => format!("{n}={v}"),
                    None => n.to_string(),
                };
                assert!(p.contains(&shown), "ftpfs.1 lacks -o {shown}");
            }
            if let Some(d) = o.default_text() {
                assert!(
                    p.contains(&format!("Default: {d}.")),
                    "ftpfs.1 lacks the default of {:?}",
                    o.names
                );
            }
        }
        for f in flags(&command()) {
            assert!(p.contains(&f), "ftpfs.1 lacks {f}");
        }
        let subs = visible_subcommands();
        assert!(!subs.is_empty());
        for s in &subs {
            assert!(
                p.contains(&format!("ftpfs-{}(1)", s.get_name())),
                "ftpfs.1 lacks {}",
                s.get_name()
            );
            let sp = page(&format!("ftpfs-{}.1", s.get_name()));
            for f in flags(s) {
                assert!(sp.contains(&f), "ftpfs-{}.1 lacks {f}", s.get_name());
            }
        }
        for section in [
            "SYNOPSIS",
            "MOUNT OPTIONS",
            "EXIT STATUS",
            "ENVIRONMENT",
            "FILES",
            "EXAMPLES",
            "LOGGING",
        ] {
            assert!(
                p.contains(&format!(".SH \"{section}\"")) || p.contains(&format!(".SH {section}")),
                "{section}"
            );
        }
        for file in ["netrc", "password_file", "cache_dir"] {
            let files = &p[p.find(".SH FILES").expect("FILES")..];
            assert!(files.contains(file), "FILES lacks {file}");
        }
        for word in [
            "ftps://",
            "ftpes://",
            "-o tls ",
            "tls_ca=",
            "tls_fingerprint=sha256:",
            "tls_name=",
            "tls_insecure",
            "tls_max=1.2",
            "x-systemd.automount",
            "ftpfs[PID]",
            "journalctl -t ftpfs",
        ] {
            assert!(p.contains(word), "ftpfs.1 lacks {word}");
        }
        assert!(p.contains(&fstab_line()), "ftpfs.1 lacks the fstab example");
    }

    #[test]
    fn synopsis_shows_the_mount_and_the_subcommand_forms() {
        let p = page("ftpfs.1");
        let syn = &p[p.find(".SH SYNOPSIS").expect("synopsis")..];
        let syn = &syn[..syn[4..].find(".SH").expect("next section") + 4];
        assert!(syn.contains("ftpfs [OPTIONS] <URL> <MOUNTPOINT>"), "{syn}");
        assert!(syn.contains("ftpfs <COMMAND>"), "{syn}");
    }

    #[test]
    fn generate_docs_parses_and_is_documented_nowhere() {
        let m = with_internal_commands(Cli::command())
            .try_get_matches_from(["ftpfs", GENERATE_DOCS, "/tmp/x"])
            .expect("parses");
        assert_eq!(generate_docs_dir(&m), Some(&PathBuf::from("/tmp/x")));
        // A mount is still a mount.
        let m = with_internal_commands(Cli::command())
            .try_get_matches_from(["ftpfs", "ftp://h/", "generate-docs"])
            .expect("parses");
        assert_eq!(generate_docs_dir(&m), None);
        let cli = Cli::from_arg_matches(&m).expect("a mount");
        assert_eq!(cli.mountpoint, Some(PathBuf::from("generate-docs")));
        let mut hidden: Vec<String> = command()
            .get_subcommands()
            .filter(|s| s.is_hide_set())
            .map(|s| s.get_name().to_string())
            .collect();
        hidden.push(GENERATE_DOCS.to_string());
        let names: Vec<String> = man_pages()
            .expect("render")
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        for h in &hidden {
            assert!(!page("ftpfs.1").contains(h.as_str()), "ftpfs.1 shows {h}");
            assert!(!names.iter().any(|n| n.contains(h.as_str())));
            for (name, script) in completions() {
                assert!(
                    !String::from_utf8_lossy(&script).contains(h.as_str()),
                    "{name} offers {h}"
                );
            }
        }
    }

    #[test]
    fn helper_page_documents_its_flags_and_the_options() {
        let p = page("mount.ftpfs.8");
        for (flag, value, _) in HELPER_FLAGS {
            assert!(p.contains(flag), "mount.ftpfs.8 lacks {flag}");
            // Each documented flag is one translate() takes.
            let mut argv = vec!["ftp://h/", "/mnt", flag];
            if value.is_some() {
                argv.push("x");
            }
            let argv: Vec<std::ffi::OsString> = argv.iter().map(Into::into).collect();
            assert!(translate(&argv).is_ok(), "translate refuses {flag}");
        }
        for o in MOUNT_OPTIONS {
            assert!(p.contains(&o.synopsis()) || o.names.iter().all(|n| p.contains(n)));
        }
        for word in [
            "x-systemd.automount",
            "[Automount]",
            "[Mount]",
            "Type=ftpfs",
        ] {
            assert!(p.contains(word), "mount.ftpfs.8 lacks {word}");
        }
    }

    #[test]
    fn completions_offer_every_flag_and_subcommand() {
        let scripts = completions();
        assert_eq!(
            scripts.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            ["ftpfs.bash", "_ftpfs", "ftpfs.fish"]
        );
        let cmd = command();
        for (name, script) in &scripts {
            let s = String::from_utf8_lossy(script);
            // fish writes `-l foreground` rather than `--foreground`.
            let has_flag = |f: &str| {
                s.contains(f)
                    || f.strip_prefix("--")
                        .is_some_and(|l| s.contains(&format!("-l {l}")))
                    || f.strip_prefix('-')
                        .is_some_and(|c| s.contains(&format!("-s {c}")))
            };
            for f in flags(&cmd) {
                assert!(has_flag(&f), "{name} lacks {f}");
            }
            for sub in visible_subcommands() {
                assert!(
                    s.contains(sub.get_name()),
                    "{name} lacks {}",
                    sub.get_name()
                );
                for f in flags(&sub) {
                    assert!(has_flag(&f), "{name} lacks {} {f}", sub.get_name());
                }
            }
        }
    }

    #[test]
    fn generate_writes_every_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("new");
        let written = generate(&out).expect("generate");
        let mut names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut want: Vec<String> = [
            "_ftpfs",
            "ftpfs.1",
            "ftpfs.bash",
            "ftpfs.fish",
            "mount.ftpfs.8",
        ]
        .map(String::from)
        .into();
        want.extend(
            visible_subcommands()
                .iter()
                .map(|s| format!("ftpfs-{}.1", s.get_name())),
        );
        want.sort();
        assert!(want.contains(&"ftpfs-probe.1".to_string()));
        assert_eq!(names, want);
        for p in written {
            assert!(std::fs::metadata(&p).expect("written").len() > 200, "{p:?}");
        }
    }
}
