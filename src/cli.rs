//! Command-line arguments and turning them into a [`MountConfig`].
//!
//! `ftpfs [OPTIONS] URL MOUNTPOINT`, with `URL` = `ftp://[user@]host[:port][/path]`
//! (`ftps://` implicit TLS, default port 990; `ftpes://` explicit TLS) or the bare
//! `[user@]host[:port][/path]`. [`build_config`] checks, in this
//! order, the `-o` options, the URL, the mountpoint and finally the credentials,
//! so that nobody is asked for a password before a typo is reported.
//!
//! URL rules: the scheme is `ftp`, `ftps` or `ftpes`; a password in
//! the URL is refused (argv is visible in `ps`); user and path are
//! percent-decoded; IPv6 literals go in brackets (`ftp://[::1]:2121/`); the path
//! becomes [`MountConfig::root`], absolute and normalized (`//a/./b/` → `/a/b`,
//! `..` never climbs above `/`); the FTP layer takes it relative to the login
//! directory (as curl and RFC 1738 do). Decoded user and path must not contain CR, LF or NUL.
//! Error messages never repeat the whole URL.
//!
//! Subcommands: `ftpfs probe [-o OPTS] [-v] URL` ([`Command::Probe`]) and `ftpfs stats
//! [--json] MOUNTPOINT` ([`Command::Stats`], `crate::stats`). [`Cli`] is
//! declared with `args_conflicts_with_subcommands` and `subcommand_negates_reqs`,
//! and URL and MOUNTPOINT are `Option`s marked `required`: clap parses
//! `ftpfs probe ...` as the subcommand and everything else as a mount. Because arguments
//! conflict with subcommands, `probe` and `stats` are only subcommands as the first
//! argument (their own flags follow them: `ftpfs probe -v URL`), so a mountpoint
//! directory named `probe` still works; a bare host named `probe` or `stats` must be
//! written `ftp://probe`. This is preferred over checking `argv[1] == "probe"`
//! by hand: clap keeps one definition, one help text and one error style.
//!
//! [`Cli`] is what users see, and what the man pages and completions are generated from
//! (`crate::docs`). The internal `ftpfs generate-docs DIR` is added to it only when parsing
//! (`crate::docs::with_internal_commands`), so no page or completion script offers it. The
//! `-o` list after `--help` comes from `crate::option_table`, as the man pages' does.

use std::path::{Path, PathBuf};

use clap::{ArgAction, Args, Parser, Subcommand, ValueHint};
use log::LevelFilter;

use crate::config::{ConfigError, MountConfig, OptionSettings};
use crate::credentials::{Env, resolve_credentials};
use crate::mount_opts::parse_mount_options;
use crate::remote::ftp::FtpConfig;
use crate::remote::ftp::tls::TlsMode;

/// `ftpfs [OPTIONS] URL MOUNTPOINT`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "ftpfs",
    version,
    about = "Mount a directory of an FTP server as a local filesystem",
    after_help = crate::option_table::help_text(),
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    /// The server and directory to mount (`ftp://[user@]host[:port][/path]`).
    #[arg(
        value_name = "URL",
        required = true,
        value_hint = ValueHint::Url,
        help = "ftp://[user@]host[:port][/path] (or host[:port][/path])"
    )]
    pub url: Option<String>,

    /// Existing directory to mount on
    #[arg(value_name = "MOUNTPOINT", required = true, value_hint = ValueHint::DirPath)]
    pub mountpoint: Option<PathBuf>,

    /// Stay in the foreground
    #[arg(short, long)]
    pub foreground: bool,

    /// Mount options, comma-separated (see below); may be repeated
    #[arg(short = 'o', value_name = "OPTS", action = ArgAction::Append)]
    pub options: Vec<String>,

    /// More log output: -v info, -vv debug, -vvv trace
    #[arg(short, long, action = ArgAction::Count)]
    pub verbose: u8,

    /// Debug output, implies -f (like sshfs -d)
    #[arg(short, long)]
    pub debug: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Diagnose data connections: log in, then try a listing with EPSV, PASV, EPRT and PORT,
    /// and print what works and which -o options to use
    Probe(ProbeArgs),
    /// Show what a mount is doing: bytes read and written, FTP commands and their errors,
    /// the directory cache, the connection pool, data connections, transfers, retries
    #[command(long_about = STATS_ABOUT, after_long_help = STATS_AFTER)]
    Stats(StatsArgs),
}

const STATS_ABOUT: &str = "Show what a mount is doing, as its daemon counts it: bytes read \
and written through the mount; FTP commands by kind, with those answered with an error (a \
reply of 400 or more) and those never answered; the directory cache (hits, misses, \
listings and entries cached); the connection pool (connections busy, idle and logging in, \
its limit, and whether the server lowered it by refusing one more login); the data-\
connection method in use and the fallback that led to it; downloads and uploads running; \
staged copies and the disk they use; retries (on a fresh connection, logins, TLS sessions \
retired, data-connection fallbacks); the server's features (FEAT); the TLS version on \
FTPS; uptime. Nothing secret is shown: no password, no file name, no file contents.\n\n\
The daemon answers on a local socket found from MOUNTPOINT's device number; the command \
sends nothing to the mount itself, so a stuck daemon makes it fail after --timeout instead \
of hanging. The mounting user and root may read a mount's statistics, and everyone when it \
was mounted with allow_other (as for the files in it).\n\n\
SIGUSR1 to the daemon writes the same report to its log (syslog, log_file or standard \
error) as a notice, whatever the log level.";

const STATS_AFTER: &str = "Exit status: 0 when the report was printed; 1 when it could \
not be (MOUNTPOINT missing, not an ftpfs mount, its daemon gone or not answering within \
--timeout, or the caller not allowed): one line on standard error says which.\n\n\
Examples:\n  ftpfs stats /mnt/ftp\n  ftpfs stats --json /mnt/ftp | jq .bytes_read\n  \
kill -USR1 $(ftpfs stats --json /mnt/ftp | jq .pid)";

/// `ftpfs stats` arguments.
#[derive(Debug, Clone, Args)]
pub struct StatsArgs {
    /// The mount point (or any path in the mount)
    #[arg(value_name = "MOUNTPOINT", value_hint = ValueHint::DirPath)]
    pub mountpoint: PathBuf,

    /// Print the report as one line of JSON (for machines) instead of text
    #[arg(long)]
    pub json: bool,

    /// Seconds to wait for the mount's daemon before giving up
    #[arg(long, value_name = "SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
}

/// `ftpfs probe` arguments.
#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    /// ftp://[user@]host[:port][/path]
    #[arg(value_name = "URL", value_hint = ValueHint::Url)]
    pub url: String,

    /// Options as for a mount (timeout, data_connect_timeout, active_port_range,
    /// active_address, pasv_address, password_file)
    #[arg(short = 'o', value_name = "OPTS", action = ArgAction::Append)]
    pub options: Vec<String>,

    /// More log output
    #[arg(short, long, action = ArgAction::Count)]
    pub verbose: u8,
}

/// Validates `ftpfs probe` arguments into the connection settings to probe with.
pub fn build_probe_config(args: &ProbeArgs, env: &dyn Env) -> Result<FtpConfig, ConfigError> {
    let settings = parse_options(&args.options)?;
    let url = parse_url(&args.url)?;
    server_config(&settings, &url, env)
}

/// Every `-o` given, with its meaning. Each -o is split on its own so a trailing backslash
/// cannot escape the separator that joining them would insert.
fn parse_options(options: &[String]) -> Result<OptionSettings, ConfigError> {
    let mut pairs = Vec::new();
    for o in options {
        pairs.extend(parse_mount_options(o)?);
    }
    OptionSettings::from_options(&pairs)
}

/// The connection settings for `url` with these options, credentials resolved (may prompt).
fn server_config(
    settings: &OptionSettings,
    url: &FtpUrl,
    env: &dyn Env,
) -> Result<FtpConfig, ConfigError> {
    let creds = resolve_credentials(
        env,
        &url.host,
        url.user.as_deref(),
        settings.password_file.as_deref(),
    )?;
    settings.ftp_config(
        &url.host,
        url.tls,
        url.port,
        &creds.user,
        creds.password.expose(),
        &url.root,
    )
}

impl Cli {
    /// Log level from `-v`/`-d`: Warn by default, Info for `-v`, Debug for `-vv`
    /// or `-d`, Trace for `-vvv` (or `-d -vvv`). Initialise the logger with this
    /// before calling [`build_config`], whose warnings would otherwise be lost.
    pub fn log_level(&self) -> LevelFilter {
        let v = if self.debug {
            self.verbose.max(2)
        } else {
            self.verbose
        };
        match v {
            0 => LevelFilter::Warn,
            1 => LevelFilter::Info,
            2 => LevelFilter::Debug,
            _ => LevelFilter::Trace,
        }
    }
}

/// Validates the command line and gathers everything into a [`MountConfig`]
/// (see the module doc for the order of checks). May prompt for a password.
pub fn build_config(cli: Cli, env: &dyn Env) -> Result<MountConfig, ConfigError> {
    let log_level = cli.log_level();
    let settings = parse_options(&cli.options)?;
    let url = parse_url(
        cli.url
            .as_deref()
            .ok_or(ConfigError::MissingArgument("URL"))?,
    )?;
    let mountpoint = check_mountpoint(
        cli.mountpoint
            .as_deref()
            .ok_or(ConfigError::MissingArgument("MOUNTPOINT"))?,
    )?;
    let ftp = server_config(&settings, &url, env)?;
    let fsname = settings
        .fsname
        .unwrap_or_else(|| default_fsname(&ftp.user, &url.host, ftp.port, &url.root));
    Ok(MountConfig {
        ftp,
        mountpoint,
        foreground: cli.foreground || cli.debug,
        dir_cache_ttl: settings.dir_cache_ttl,
        dir_cache_size: settings.dir_cache_size,
        uid: settings.uid.unwrap_or_else(|| env.uid()),
        gid: settings.gid.unwrap_or_else(|| env.gid()),
        umask: settings.umask,
        allow_other: settings.allow_other,
        allow_root: settings.allow_root,
        default_permissions: settings.default_permissions,
        read_only: settings.read_only,
        fsname,
        log_level,
        kernel_flags: settings.kernel_flags,
        log_file: settings.log_file,
        cache_dir: settings.cache_dir,
        cache_max_size: settings.cache_max_size,
        atomic_replace: settings.atomic_replace,
        memory_budget: settings.memory_budget,
    })
}

/// `ftpfs#USER@HOST:PORT/ROOT`, with brackets around an IPv6 host.
fn default_fsname(user: &str, host: &str, port: u16, root: &str) -> String {
    if host.contains(':') {
        format!("ftpfs#{user}@[{host}]:{port}{root}")
    } else {
        format!("ftpfs#{user}@{host}:{port}{root}")
    }
}

/// The parts of a parsed URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FtpUrl {
    /// Decoded user, if the URL has one.
    pub user: Option<String>,
    /// Host; IPv6 without brackets.
    pub host: String,
    /// The port, when the URL names one (the default depends on TLS).
    pub port: Option<u16>,
    /// The TLS the scheme asks for: `ftps://` implicit, `ftpes://` explicit.
    pub tls: Option<TlsMode>,
    /// Decoded, normalized absolute path.
    pub root: String,
}

/// Parses `ftp[s|es]://[user@]host[:port][/path]` or `[user@]host[:port][/path]`.
pub fn parse_url(url: &str) -> Result<FtpUrl, ConfigError> {
    let bad = |m: String| Err(ConfigError::BadUrl(m));
    let (tls, rest) = match url.split_once("://") {
        Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
            "ftp" => (None, rest),
            "ftps" => (Some(TlsMode::Implicit), rest),
            "ftpes" => (Some(TlsMode::Explicit), rest),
            _ => {
                return bad(format!(
                    "unsupported scheme '{scheme}://' (expected ftp://, ftps:// or ftpes://)"
                ));
            }
        },
        None => (None, url),
    };
    if rest.contains(['?', '#']) {
        return bad("'?' and '#' are not allowed (write them as %3F and %23)".to_string());
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (user, hostport) = match authority.rsplit_once('@') {
        Some((userinfo, hp)) => {
            if userinfo.contains(':') {
                return Err(ConfigError::PasswordInUrl);
            }
            let user = percent_decode(userinfo, "user name", false)?;
            if user.is_empty() {
                return bad("empty user name before '@'".to_string());
            }
            (Some(user), hp)
        }
        None => (None, authority),
    };
    let (host, port) = split_host_port(hostport)?;
    // The path may name a directory whose name is not UTF-8 (`%E9`): names are bytes
    // (`crate::names`), sent back to the server exactly as decoded here.
    let root = normalize_path(&percent_decode(path, "path", true)?);
    Ok(FtpUrl {
        user,
        host,
        port,
        tls,
        root,
    })
}

fn split_host_port(hp: &str) -> Result<(String, Option<u16>), ConfigError> {
    let bad = |m: String| Err(ConfigError::BadUrl(m));
    let (host, port) = if let Some(inner) = hp.strip_prefix('[') {
        let Some((addr, after)) = inner.split_once(']') else {
            return bad("missing ']' after IPv6 address".to_string());
        };
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return bad(format!("invalid IPv6 address '{addr}'"));
        }
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(p) => Some(p),
                None => return bad(format!("unexpected '{after}' after IPv6 address")),
            },
        };
        (addr, port)
    } else {
        match hp.split_once(':') {
            Some((_, p)) if p.contains(':') => {
                return bad("IPv6 addresses must be in brackets, e.g. ftp://[::1]:21/".to_string());
            }
            Some((h, p)) => (h, Some(p)),
            None => (hp, None),
        }
    };
    if host.is_empty() {
        return bad("missing host name".to_string());
    }
    let host_ok = host.contains(':')
        || host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !host_ok {
        return bad(format!("invalid host name '{host}'"));
    }
    let port = match port {
        None | Some("") => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n != 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return bad(format!("invalid port '{p}' (expected 1-65535)")),
        },
    };
    Ok((host.to_string(), port))
}

/// Decodes `%XX` escapes; the result must be UTF-8 (unless `bytes_ok`: then other bytes are
/// kept as `crate::names` escapes) without CR, LF or NUL.
fn percent_decode(s: &str, what: &str, bytes_ok: bool) -> Result<String, ConfigError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(b) => out.push(b),
                None => {
                    return Err(ConfigError::BadUrl(format!(
                        "bad percent-encoding in {what} (use %XX with two hex digits)"
                    )));
                }
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let decoded = if bytes_ok {
        crate::names::decode(&out).into_owned()
    } else {
        String::from_utf8(out)
            .map_err(|_| ConfigError::BadUrl(format!("{what} is not valid UTF-8 once decoded")))?
    };
    if decoded.contains(['\r', '\n', '\0']) {
        return Err(ConfigError::BadUrl(format!(
            "{what} contains a line break or NUL character"
        )));
    }
    Ok(decoded)
}

/// Makes a decoded path absolute and removes empty, `.` and `..` segments
/// (`..` at the top stays at `/`).
fn normalize_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Checks that `p` is an existing directory and returns its canonical path.
fn check_mountpoint(p: &Path) -> Result<PathBuf, ConfigError> {
    let access = |source: std::io::Error| match source.raw_os_error() {
        Some(libc::ENOTCONN) => ConfigError::MountpointStale(p.to_path_buf()),
        _ if source.kind() == std::io::ErrorKind::NotFound => {
            ConfigError::MountpointMissing(p.to_path_buf())
        }
        _ => ConfigError::MountpointAccess {
            path: p.to_path_buf(),
            source,
        },
    };
    let meta = std::fs::metadata(p).map_err(access)?;
    if !meta.is_dir() {
        return Err(ConfigError::MountpointNotDir(p.to_path_buf()));
    }
    std::fs::canonicalize(p).map_err(access)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::fake::FakeEnv;
    use clap::CommandFactory;
    use std::time::Duration;

    fn url(s: &str) -> FtpUrl {
        parse_url(s).expect("URL should parse")
    }

    fn url_err(s: &str) -> String {
        parse_url(s)
            .expect_err("URL should be rejected")
            .to_string()
    }

    /// A plain `ftp://` URL's parts; port 0: the URL names none.
    fn u(user: Option<&str>, host: &str, port: u16, root: &str) -> FtpUrl {
        FtpUrl {
            user: user.map(str::to_string),
            host: host.to_string(),
            port: (port != 0).then_some(port),
            tls: None,
            root: root.to_string(),
        }
    }

    #[test]
    fn url_plain_host() {
        assert_eq!(url("ftp://example.com"), u(None, "example.com", 0, "/"));
        assert_eq!(url("FTP://example.com/"), u(None, "example.com", 0, "/"));
    }

    #[test]
    fn url_user_port_and_path() {
        assert_eq!(
            url("ftp://bob@example.com:2121/pub/linux/"),
            u(Some("bob"), "example.com", 2121, "/pub/linux")
        );
    }

    #[test]
    fn url_bare_forms() {
        assert_eq!(url("example.com"), u(None, "example.com", 0, "/"));
        assert_eq!(
            url("bob@10.0.0.1:990/x"),
            u(Some("bob"), "10.0.0.1", 990, "/x")
        );
        assert_eq!(url("host:"), u(None, "host", 0, "/"));
    }

    #[test]
    fn url_ipv6() {
        assert_eq!(url("ftp://[::1]:2121/"), u(None, "::1", 2121, "/"));
        assert_eq!(url("[fe80::1]/d"), u(None, "fe80::1", 0, "/d"));
        assert!(url_err("ftp://::1/").contains("brackets"));
        assert!(url_err("ftp://[::1/").contains("']'"));
        assert!(url_err("ftp://[nothex]/").contains("IPv6"));
        assert!(url_err("ftp://[::1]x/").contains("after IPv6"));
    }

    #[test]
    fn url_percent_encoding() {
        assert_eq!(
            url("ftp://bob%40corp@h/my%20dir/%C3%A9t%C3%A9"),
            u(Some("bob@corp"), "h", 0, "/my dir/été")
        );
        // An unencoded '@' in the user also works: the last '@' ends it.
        assert_eq!(url("ftp://bob@corp@h").user.as_deref(), Some("bob@corp"));
        assert!(url_err("ftp://h/a%2").contains("percent-encoding"));
        assert!(url_err("ftp://h/a%zz").contains("percent-encoding"));
        assert!(url_err("ftp://%FF@h/").contains("UTF-8"));
        // A path is bytes: Latin-1 `café` is kept exactly (see crate::names).
        let root = url("ftp://h/caf%E9/").root;
        assert_eq!(crate::names::encode(&root).as_ref(), b"/caf\xe9");
    }

    #[test]
    fn url_path_normalization() {
        assert_eq!(url("ftp://h//a/./b/").root, "/a/b");
        assert_eq!(url("ftp://h/a/../../b/..").root, "/");
        assert_eq!(url("ftp://h/a/%2E%2E/c").root, "/c");
    }

    #[test]
    fn url_password_is_rejected() {
        let e = parse_url("ftp://bob:hunter2@h/").expect_err("password");
        assert!(matches!(e, ConfigError::PasswordInUrl));
        let m = e.to_string();
        assert!(!m.contains("hunter2"));
        for hint in ["FTPFS_PASSWORD", "password_file", "netrc"] {
            assert!(m.contains(hint), "{m}");
        }
        assert!(matches!(
            parse_url("bob:@h"),
            Err(ConfigError::PasswordInUrl)
        ));
    }

    #[test]
    fn url_scheme_errors() {
        assert_eq!(
            url_err("http://h/"),
            "invalid URL: unsupported scheme 'http://' (expected ftp://, ftps:// or ftpes://)"
        );
    }

    #[test]
    fn url_tls_schemes() {
        let s = url("ftps://bob@h/x");
        assert_eq!((s.tls, s.port), (Some(TlsMode::Implicit), None));
        let e = url("FTPES://h:2121");
        assert_eq!((e.tls, e.port), (Some(TlsMode::Explicit), Some(2121)));
        assert_eq!(url("ftp://h").tls, None);
    }

    #[test]
    fn url_other_errors() {
        assert!(url_err("ftp://h:0/").contains("port '0'"));
        assert!(url_err("ftp://h:65536/").contains("port '65536'"));
        assert!(url_err("ftp://h:+21/").contains("port"));
        assert!(url_err("ftp:///x").contains("missing host"));
        assert!(url_err("ftp://@h/").contains("empty user"));
        assert!(url_err("ftp://h/a?b").contains("%3F"));
        assert!(url_err("ftp://h o/").contains("invalid host"));
        assert!(url_err("ftp://h/a%0D%0ADELE%20x").contains("line break"));
        assert!(url_err("ftp://bob%0A@h/").contains("user name"));
    }

    /// A temporary mountpoint plus a Cli aimed at it.
    fn cli(args: &[&str]) -> (tempfile::TempDir, Cli) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mp = dir.path().to_str().expect("utf-8 temp path").to_string();
        let mut argv = vec!["ftpfs"];
        argv.extend_from_slice(args);
        argv.push(&mp);
        let cli = Cli::try_parse_from(argv).expect("arguments should parse");
        (dir, cli)
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn build_defaults() {
        let (dir, cli) = cli(&["ftp://h"]);
        let c = build_config(cli, &FakeEnv::new()).expect("config");
        assert_eq!(
            (c.ftp.host.as_str(), c.ftp.port, c.ftp.root.as_str()),
            ("h", 21, "/")
        );
        assert_eq!(
            (c.ftp.user.as_str(), c.ftp.password.as_str()),
            ("anonymous", "anonymous@")
        );
        assert_eq!(c.mountpoint, dir.path().canonicalize().expect("canonical"));
        assert!(!c.foreground && !c.read_only && !c.allow_other);
        assert_eq!((c.ftp.connections, c.dir_cache_size), (24, 1024));
        assert_eq!(c.ftp.timeout, Duration::from_secs(30));
        assert_eq!(c.dir_cache_ttl, Duration::from_secs(10));
        assert_eq!((c.uid, c.gid), (1000, 100));
        assert_eq!(c.log_level, LevelFilter::Warn);
        assert_eq!(c.fsname, "ftpfs#anonymous@h:21/");
    }

    #[test]
    fn build_with_options() {
        let (_dir, cli) = cli(&[
            "-o",
            "ro,uid=0,umask=027",
            "ftp://bob@[::1]:2121/srv/",
            "-o",
            "connections=2,nodev",
            "-f",
        ]);
        let env = FakeEnv::new().var("FTPFS_PASSWORD", "pw");
        let c = build_config(cli, &env).expect("config");
        assert!(c.read_only && c.foreground);
        assert_eq!((c.uid, c.gid, c.umask), (0, 100, Some(0o027)));
        assert_eq!(c.ftp.connections, 2);
        assert_eq!(c.kernel_flags, vec!["nodev"]);
        assert_eq!(c.fsname, "ftpfs#bob@[::1]:2121/srv");
    }

    #[test]
    fn debug_flag_sets_level_and_foreground() {
        let (_dir, c) = cli(&["-d", "h"]);
        let c = build_config(c, &FakeEnv::new()).expect("config");
        assert!(c.foreground);
        assert_eq!(c.log_level, LevelFilter::Debug);
        let level = |args: &[&str]| cli(args).1.log_level();
        assert_eq!(level(&["-v", "h"]), LevelFilter::Info);
        assert_eq!(level(&["-vv", "h"]), LevelFilter::Debug);
        assert_eq!(level(&["-v", "-v", "-v", "h"]), LevelFilter::Trace);
        assert_eq!(level(&["-d", "-vvv", "h"]), LevelFilter::Trace);
    }

    #[test]
    fn password_never_in_debug_output() {
        let (_dir, cli) = cli(&["ftp://bob@h"]);
        let env = FakeEnv::new().var("FTPFS_PASSWORD", "hunter2-very-secret");
        let c = build_config(cli, &env).expect("config");
        assert_eq!(c.ftp.password, "hunter2-very-secret");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("password: ****"), "{dbg}");
        assert!(!format!("{:#?}", c.clone()).contains("hunter2"));
    }

    #[test]
    fn mountpoint_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("f");
        std::fs::write(&file, "x").expect("write");
        let missing = dir.path().join("nope");
        let run = |mp: &Path| {
            let c = Cli::try_parse_from(["ftpfs".as_ref(), "h".as_ref(), mp.as_os_str()])
                .expect("parse");
            build_config(c, &FakeEnv::new())
                .expect_err("bad mountpoint")
                .to_string()
        };
        assert_eq!(
            run(&missing),
            format!("mountpoint {} does not exist", missing.display())
        );
        assert_eq!(
            run(&file),
            format!("mountpoint {} is not a directory", file.display())
        );
    }

    #[test]
    fn bad_option_reported_before_prompting() {
        let (_dir, cli) = cli(&["-o", "bogus", "ftp://bob@h"]);
        let env = FakeEnv::new().answer("pw");
        let e = build_config(cli, &env).expect_err("unknown option");
        assert_eq!(e.to_string(), "unknown mount option 'bogus'");
        assert!(env.prompts.borrow().is_empty());
    }

    #[test]
    fn backslash_does_not_leak_between_o_flags() {
        let (_dir, cli) = cli(&["-o", r"fsname=a\", "-o", "ro", "h"]);
        let e = build_config(cli, &FakeEnv::new()).expect_err("lone backslash");
        assert!(matches!(e, ConfigError::OptionSyntax(_)));
    }

    #[test]
    fn missing_arguments_are_clap_errors() {
        assert!(Cli::try_parse_from(["ftpfs"]).is_err());
        assert!(Cli::try_parse_from(["ftpfs", "ftp://h"]).is_err());
        assert!(Cli::try_parse_from(["ftpfs", "-V"]).is_err()); // DisplayVersion
    }

    #[test]
    fn stats_takes_a_mountpoint_json_and_a_timeout() {
        let c = Cli::try_parse_from(["ftpfs", "stats", "--json", "/mnt/ftp"]).expect("stats");
        let Some(Command::Stats(args)) = c.command else {
            panic!("not parsed as stats: {c:?}")
        };
        assert!(args.json);
        assert_eq!(
            (args.mountpoint.as_path(), args.timeout),
            (Path::new("/mnt/ftp"), 5)
        );
        let c = Cli::try_parse_from(["ftpfs", "stats", "--timeout", "2", "m"]).expect("stats");
        assert!(matches!(c.command, Some(Command::Stats(a)) if a.timeout == 2 && !a.json));
        assert!(Cli::try_parse_from(["ftpfs", "stats"]).is_err());
        assert!(Cli::try_parse_from(["ftpfs", "stats", "--timeout", "0", "m"]).is_err());
    }

    #[test]
    fn probe_is_a_subcommand_only_in_first_position() {
        let c = Cli::try_parse_from(["ftpfs", "probe", "-o", "timeout=5", "-v", "ftp://bob@h"])
            .expect("probe parses");
        let Some(Command::Probe(args)) = c.command else {
            panic!("not parsed as probe: {c:?}")
        };
        assert_eq!(args.url, "ftp://bob@h");
        let env = FakeEnv::new().var("FTPFS_PASSWORD", "pw");
        let cfg = build_probe_config(&args, &env).expect("probe config");
        assert_eq!(cfg.timeout, std::time::Duration::from_secs(5));
        assert_eq!((cfg.user.as_str(), cfg.host.as_str()), ("bob", "h"));
        // A mountpoint directory called "probe" is still a mountpoint.
        let c = Cli::try_parse_from(["ftpfs", "-f", "ftp://h", "probe"]).expect("mount parses");
        assert!(c.command.is_none());
        assert_eq!(c.mountpoint.as_deref(), Some(Path::new("probe")));
    }
}
