//! The roff of `ftpfs.1` and the subcommands' pages, and the small roff helpers the pages
//! share: clap_mangen renders title, name, synopsis, options and subcommands from the clap
//! definition; the sections it cannot know (mount options from the table, logging, exit
//! status, environment, files, examples) are written here.

use std::io::{self, Write};

use clap_mangen::Man;
use clap_mangen::roff::{Inline, Roff, bold, italic, roman};

use super::FSTAB_EXAMPLE;
use crate::option_table::{MOUNT_OPTIONS, OptionDoc};

/// A page assembled from clap_mangen's sections and our own, with roff's preamble once.
pub(super) struct Page(pub(super) Vec<u8>);

impl Page {
    pub(super) fn new() -> Page {
        Page(Vec::new())
    }

    /// Appends a section rendered by clap_mangen (or any roff writer).
    pub(super) fn add(
        &mut self,
        render: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
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

    pub(super) fn roff(&mut self, r: &Roff) -> io::Result<()> {
        self.add(|w| r.to_writer(w))
    }
}

pub(super) fn section(r: &mut Roff, name: &str) {
    r.control("SH", [name]);
}

pub(super) fn para(r: &mut Roff, inlines: impl Into<Vec<Inline>>) {
    r.control("PP", []);
    r.text(inlines);
}

/// A tagged paragraph: `tag` on its line, `body` indented below.
pub(super) fn item(r: &mut Roff, tag: impl Into<Vec<Inline>>, body: impl Into<Vec<Inline>>) {
    r.control("TP", []);
    r.text(tag);
    r.text(body);
}

/// An indented block of lines kept as written (commands, file contents).
pub(super) fn example(r: &mut Roff, intro: &str, lines: &str) {
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
pub(super) fn mount_options(r: &mut Roff) {
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

pub(super) fn ftpfs_page(cmd: &clap::Command) -> io::Result<Vec<u8>> {
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
    signals(&mut r);
    exit_status(&mut r);
    environment(&mut r);
    files(&mut r);
    examples(&mut r);
    see_also(
        &mut r,
        "mount.ftpfs(8), ftpfs-probe(1), ftpfs-stats(1), fusermount3(1), mount(8), fstab(5), \
         systemd.mount(5), systemd.automount(5), journalctl(1)",
    );
    page.roff(&r)?;
    page.add(|w| man.render_version_section(w))?;
    Ok(page.0)
}

fn signals(r: &mut Roff) {
    section(r, "SIGNALS");
    item(
        r,
        [bold("SIGTERM, SIGINT")],
        [roman(
            "Unmount (lazily when busy), finish the uploads in progress, and exit; waits on \
             a server that has gone silent are cut.",
        )],
    );
    item(
        r,
        [bold("SIGUSR1")],
        [roman(
            "Write the mount's statistics (what ftpfs stats prints) to the log as a \
             notice, whatever the log level: syslog for a daemon, else log_file or \
             standard error. The mount goes on.",
        )],
    );
}

fn exit_status(r: &mut Roff) {
    section(r, "EXIT STATUS");
    item(
        r,
        [bold("0")],
        [roman(
            "Mounted: the daemon runs in the background and the mount works. With -f: \
             unmounted cleanly after every upload completed. ftpfs probe: some data \
             connection method works. ftpfs stats: the report was printed.",
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
             ftpfs probe: no method works. ftpfs stats: no report (the path missing, not \
             an ftpfs mount, its daemon gone or silent past --timeout, or the caller not \
             allowed), said in one line.",
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
pub(super) fn fstab_line() -> String {
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
        "What a mount is doing (text, then JSON), and the same into the log:",
        "ftpfs stats /mnt/ftp\n\
         ftpfs stats --json /mnt/ftp\n\
         kill -USR1 $(ftpfs stats --json /mnt/ftp | jq .pid)",
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

pub(super) fn see_also(r: &mut Roff, pages: &str) {
    section(r, "SEE ALSO");
    r.text([roman(pages)]);
}

pub(super) fn subcommand_page(sub: &clap::Command, name: &str) -> io::Result<Vec<u8>> {
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
