//! The validated configuration of one mount, and the meaning of every `-o` option.
//!
//! [`MountConfig`] is what the rest of the program consumes. It is only built by
//! [`crate::cli::build_config`], which guarantees these invariants:
//! * `ftp.host` is non-empty (an IPv6 literal is stored without brackets), `ftp.port` != 0;
//! * `ftp.user` is non-empty; user, password and root contain no CR, LF or NUL
//!   (so they can never inject extra FTP commands);
//! * `ftp.root` is absolute and normalized: starts with `/`, no `.`/`..`/empty
//!   segments, no trailing slash except for `/` itself;
//! * `mountpoint` is an absolute, canonical path of an existing directory;
//! * numeric options are inside the ranges documented on each field;
//! * `allow_other` and `allow_root` are never both set;
//! * `kernel_flags` holds at most one word of each pair (`dev`/`nodev`, ...).
//!
//! [`OptionSettings::from_options`] gives every `-o` option its meaning; unknown
//! options and bad values are errors ([`ConfigError`]), never silently ignored.
//! [`Secret`] wraps the password until the credentials are resolved; `FtpConfig`'s `Debug`
//! prints `****` for it (so a log line or `{:?}` of the config never shows it).

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use log::LevelFilter;
use thiserror::Error;

use crate::config_tls::TlsSettings;
use crate::mount_opts::OptError;
use crate::remote::ftp::FtpConfig;
use crate::remote::ftp::datamode::{DataMode, PasvAddress};
use crate::remote::ftp::encoding::NameCodec;
use crate::remote::ftp::tls::TlsMode;

/// Default FTP control port.
pub const DEFAULT_PORT: u16 = 21;
/// Default number of parallel FTP connections (`-o connections=N`).
pub const DEFAULT_CONNECTIONS: usize = 24;
/// Largest accepted `-o connections=N`.
pub const MAX_CONNECTIONS: usize = 64;
/// Default network timeout (`-o timeout=SECS`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `data_connect_timeout`: long enough for a slow link's handshake, short enough that
/// a firewall which drops packets costs little before the fallback.
pub const DEFAULT_DATA_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest accepted `-o timeout=SECS` (one day).
pub const MAX_TIMEOUT_SECS: f64 = 86_400.0;
/// Default directory-listing cache lifetime (`-o dir_cache_ttl=SECS`).
pub const DEFAULT_DIR_CACHE_TTL: Duration = Duration::from_secs(10);
/// Largest accepted `-o dir_cache_ttl=SECS` (one year; keeps `Instant + ttl` far from overflow).
pub const MAX_DIR_CACHE_TTL_SECS: f64 = 365.0 * 86_400.0;
/// Default `-o cache_max_size` (10 GiB).
pub const DEFAULT_CACHE_MAX_SIZE: u64 = 10 << 30;
/// Default number of cached directories (`-o dir_cache_size=N`).
pub const DEFAULT_DIR_CACHE_SIZE: usize = 1024;
/// Largest accepted `-o dir_cache_size=N`.
pub const MAX_DIR_CACHE_SIZE: usize = 1 << 20;
/// Default `-o dir_max_entries=N`: a listing of this many entries costs about 200 MB
/// (SEMANTICS.md gives the bytes per entry).
pub const DEFAULT_DIR_MAX_ENTRIES: usize = 1_000_000;
/// Largest accepted `-o dir_max_entries=N`.
pub const MAX_DIR_MAX_ENTRIES: usize = 100_000_000;
/// Accepted range of `-o max_command_line=BYTES`.
pub const MIN_MAX_COMMAND_LINE: usize = 256;
pub const MAX_MAX_COMMAND_LINE: usize = 1 << 20;

/// A password. `Debug` and `Display` print `****`; use [`Secret::expose`] only at
/// the point where the password is sent to the server.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The password itself. Never log the result.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// Everything needed to mount one FTP server. See the module doc for invariants.
#[derive(Debug, Clone)]
pub struct MountConfig {
    /// Server, login and connection settings (host, port, user, password, root, timeout,
    /// connections, data modes), built by [`OptionSettings::ftp_config`] like `ftpfs probe`'s.
    /// The password prints as `****`.
    pub ftp: FtpConfig,
    /// Absolute, canonical path of an existing directory.
    pub mountpoint: PathBuf,
    /// Stay in the foreground (`-f`, implied by `-d`).
    pub foreground: bool,
    /// How long a directory listing is reused (`-o dir_cache_ttl=SECS`, fractions
    /// allowed, default 10 s).
    ///
    /// Why 10 s: long enough that a tree walk (`find`, `ls -lR`, `tar`, which stat
    /// every entry right after listing its directory) lists each directory only
    /// once, yet short enough that changes made by others on the server show up
    /// within seconds. 0 disables caching beyond a single operation (a listing is
    /// still used for the lookups of the operation that fetched it).
    pub dir_cache_ttl: Duration,
    /// Maximum number of directory listings kept (`-o dir_cache_size=N`, 1..=1048576, default 1024).
    pub dir_cache_size: usize,
    /// Owner reported for every file (`-o uid=N`, default: the uid of the process).
    pub uid: u32,
    /// Group reported for every file (`-o gid=N`, default: the gid of the process).
    pub gid: u32,
    /// `-o umask=022` (octal, at most 0777): permissions are `0777 & !umask` for
    /// directories and `0666 & !umask` for files. `None`: use the modes from the
    /// listing.
    pub umask: Option<u32>,
    /// `-o allow_other`: let other users access the mount (kernel option).
    pub allow_other: bool,
    /// `-o allow_root`: let root access the mount (kernel option; excludes `allow_other`).
    pub allow_root: bool,
    /// `-o default_permissions`: let the kernel check permissions against the reported modes.
    pub default_permissions: bool,
    /// `-o ro` (true) / `-o rw` (false, default).
    pub read_only: bool,
    /// Name shown in `mount`/`df` (`-o fsname=NAME`, default
    /// `ftpfs#USER@HOST:PORT/ROOT`). May contain commas or spaces when set by the
    /// user: escape them when building the kernel option string.
    pub fsname: String,
    /// From `-v` (Info), `-vv`/`-d` (Debug), `-vvv` (Trace); default Warn.
    pub log_level: LevelFilter,
    /// Words among `dev nodev suid nosuid exec noexec atime noatime` to pass to
    /// the kernel unchanged; at most one of each pair (the last one given wins).
    pub kernel_flags: Vec<String>,
    /// `-o log_file=PATH`: where a daemonized mount writes its log (appended). Without it a
    /// daemon logs to syslog (`crate::logging`); `-f` logs to stderr.
    pub log_file: Option<PathBuf>,
    /// `-o cache_dir=DIR`: where staged copies of files being modified live (default
    /// `$XDG_CACHE_HOME/ftpfs` or `~/.cache/ftpfs`, resolved when mounting).
    pub cache_dir: Option<PathBuf>,
    /// `-o cache_max_size=SIZE` (K/M/G suffixes, default 10G): disk space staged copies may use.
    pub cache_max_size: u64,
    /// `-o atomic_replace`: replacements are uploaded under a temporary name and renamed
    /// over the target (default off: see SEMANTICS.md).
    pub atomic_replace: bool,
    /// `-o memory_budget=SIZE` (default 64M): see `crate::memory::sizing`.
    pub memory_budget: usize,
}

/// Everything that can be wrong with the command line, the options, the
/// credentials or the mountpoint. `Display` is one line without an `Error:` prefix.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The option string could not be split.
    #[error(transparent)]
    OptionSyntax(#[from] OptError),
    /// An option that ftpfs does not know.
    #[error("unknown mount option '{0}'")]
    UnknownOption(String),
    /// `-o password=...` was given.
    #[error(
        "there is no 'password' mount option (command lines are visible in ps): set FTPFS_PASSWORD, use -o password_file=PATH or ~/.netrc"
    )]
    PasswordOption,
    /// An option that needs a value was given without one.
    #[error("mount option '{option}' needs a value ({option}={hint})")]
    MissingValue { option: String, hint: &'static str },
    /// A flag option was given a value.
    #[error("mount option '{option}' takes no value (got '{option}={value}')")]
    UnexpectedValue { option: String, value: String },
    /// An option value that does not parse or is out of range.
    #[error("invalid value '{value}' for mount option '{option}': {reason}")]
    BadValue {
        option: String,
        value: String,
        reason: String,
    },
    /// Two options that exclude each other.
    #[error("mount options '{0}' and '{1}' cannot be used together")]
    Conflict(&'static str, &'static str),
    /// The URL argument is malformed (the message never repeats the whole URL).
    #[error("invalid URL: {0}")]
    BadUrl(String),
    /// A TLS option on a plain `ftp://` mount.
    #[error("mount option '{0}' needs a TLS mount (an ftps:// or ftpes:// URL, or -o tls)")]
    TlsOptionWithoutTls(&'static str),
    /// `ftp://user:password@host`.
    #[error(
        "passwords in the URL are not accepted (command lines are visible in ps): set FTPFS_PASSWORD, use -o password_file=PATH or ~/.netrc"
    )]
    PasswordInUrl,
    /// A required positional argument is missing.
    #[error("missing {0} argument")]
    MissingArgument(&'static str),
    /// The mountpoint does not exist.
    #[error("mountpoint {} does not exist", .0.display())]
    MountpointMissing(PathBuf),
    /// The mountpoint is not a directory.
    #[error("mountpoint {} is not a directory", .0.display())]
    MountpointNotDir(PathBuf),
    /// The mountpoint is a FUSE mount whose daemon died.
    #[error(
        "mountpoint {p} is a stale FUSE mount (transport endpoint is not connected): run 'fusermount -u {p}' first", p = .0.display()
    )]
    MountpointStale(PathBuf),
    /// Any other error while examining the mountpoint.
    #[error("cannot access mountpoint {}: {source}", .path.display())]
    MountpointAccess { path: PathBuf, source: io::Error },
    /// `-o password_file=PATH` cannot be read.
    #[error("cannot read password file {}: {source}", .path.display())]
    PasswordFile { path: PathBuf, source: io::Error },
    /// `-o password_file=PATH` has an empty first line.
    #[error("password file {} is empty", .0.display())]
    EmptyPasswordFile(PathBuf),
    /// The netrc file exists but cannot be read.
    #[error("cannot read {}: {source}", .path.display())]
    NetrcRead { path: PathBuf, source: io::Error },
    /// The netrc file is malformed.
    #[error("{}:{line}: {reason}", .path.display())]
    NetrcSyntax {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    /// A password that FTP cannot transmit.
    #[error("the password from {0} contains a line break or NUL character")]
    BadPassword(String),
    /// No password source applies.
    #[error(
        "no password for {user}@{host}: set FTPFS_PASSWORD, use -o password_file=PATH or ~/.netrc"
    )]
    NoPassword { user: String, host: String },
}

/// The `-o` options after validation, before they are combined with the URL,
/// the environment and the credentials. `None` means "not given".
#[derive(Debug, Clone, PartialEq)]
pub struct OptionSettings {
    pub connections: usize,
    pub timeout: Duration,
    pub dir_cache_ttl: Duration,
    pub dir_cache_size: usize,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub umask: Option<u32>,
    pub allow_other: bool,
    pub allow_root: bool,
    pub default_permissions: bool,
    pub read_only: bool,
    pub fsname: Option<String>,
    /// `-o password_file=PATH`, consumed by the credential lookup.
    pub password_file: Option<PathBuf>,
    pub kernel_flags: Vec<String>,
    pub log_file: Option<PathBuf>,
    pub data_mode: DataMode,
    pub data_connect_timeout: Duration,
    pub active_port_range: Option<(u16, u16)>,
    pub active_address: Option<IpAddr>,
    pub pasv_address: PasvAddress,
    pub cache_dir: Option<PathBuf>,
    pub cache_max_size: u64,
    pub atomic_replace: bool,
    /// Most entries a directory listing may have.
    pub dir_max_entries: usize,
    /// Longest command line sent to the server.
    pub max_command_line: usize,
    /// `-o memory_budget=SIZE`: memory for data buffers (`crate::memory`).
    pub memory_budget: usize,
    /// The FTPS options (`tls`, `tls_ca`, …).
    pub tls: TlsSettings,
    /// `-o encoding=NAME`: the server's name encoding (default: names are its bytes).
    pub names: NameCodec,
}

impl Default for OptionSettings {
    fn default() -> Self {
        OptionSettings {
            connections: DEFAULT_CONNECTIONS,
            timeout: DEFAULT_TIMEOUT,
            dir_cache_ttl: DEFAULT_DIR_CACHE_TTL,
            dir_cache_size: DEFAULT_DIR_CACHE_SIZE,
            uid: None,
            gid: None,
            umask: None,
            allow_other: false,
            allow_root: false,
            default_permissions: false,
            read_only: false,
            fsname: None,
            password_file: None,
            kernel_flags: Vec::new(),
            log_file: None,
            data_mode: DataMode::Auto,
            data_connect_timeout: DEFAULT_DATA_CONNECT_TIMEOUT,
            active_port_range: None,
            active_address: None,
            pasv_address: PasvAddress::Control,
            cache_dir: None,
            cache_max_size: DEFAULT_CACHE_MAX_SIZE,
            atomic_replace: false,
            dir_max_entries: DEFAULT_DIR_MAX_ENTRIES,
            max_command_line: crate::remote::ftp::control::DEFAULT_MAX_COMMAND_LINE,
            memory_budget: crate::memory::sizing::DEFAULT_BUDGET,
            tls: TlsSettings::default(),
            names: NameCodec::BYTES,
        }
    }
}

/// Options that mount(8) and fstab handle themselves but still hand to the
/// helper program (`mount.fuse` passes them on to us). They say nothing about
/// the FTP mount, so they are accepted and ignored; rejecting them would make
/// ordinary fstab lines such as `defaults,noauto,_netdev,nofail` fail.
/// `x-*` options (e.g. `x-systemd.automount`) are reserved for such userspace
/// tools and are accepted too (see [`is_ignored`]).
pub(crate) const IGNORED_FLAGS: &[&str] = &[
    "defaults", "auto", "noauto", "users", "nouser", "_netdev", "nofail",
];

/// The kernel's generic mount flags, recorded in `kernel_flags` for the kernel.
pub(crate) const KERNEL_FLAG_PAIRS: &[(&str, &str)] = &[
    ("dev", "nodev"),
    ("suid", "nosuid"),
    ("exec", "noexec"),
    ("atime", "noatime"),
];

/// True for options accepted without effect whatever their value: `x-*`, and
/// `user`, which mount(8) rewrites to `user=NAME` when an ordinary user mounts
/// an fstab entry.
fn is_ignored(key: &str) -> bool {
    key.starts_with("x-") || key == "user"
}

impl OptionSettings {
    /// The connection settings these options give for a server and login (shared by the
    /// mount and `ftpfs probe`): `scheme` is the TLS the URL asked for, `url_port` the port it
    /// named (the default port depends on the TLS mode).
    pub fn ftp_config(
        &self,
        host: &str,
        scheme: Option<TlsMode>,
        url_port: Option<u16>,
        user: &str,
        password: &str,
        root: &str,
    ) -> Result<FtpConfig, ConfigError> {
        let (tls, port) = self.tls.resolve(scheme, url_port)?;
        Ok(FtpConfig {
            host: host.to_string(),
            port,
            user: user.to_string(),
            password: password.to_string(),
            root: root.to_string(),
            timeout: self.timeout,
            connections: self.connections,
            data_mode: self.data_mode,
            data_connect_timeout: self.data_connect_timeout,
            active_port_range: self.active_port_range,
            active_address: self.active_address,
            pasv_address: self.pasv_address,
            tls,
            names: self.names,
            max_command_line: self.max_command_line,
            dir_max_entries: self.dir_max_entries,
        })
    }

    /// Gives every `(key, value)` pair its meaning, in order (a later option
    /// overrides an earlier one), then checks combinations.
    pub fn from_options(opts: &[(String, Option<String>)]) -> Result<Self, ConfigError> {
        let mut s = OptionSettings::default();
        for (key, value) in opts {
            s.apply(key, value.as_deref())?;
        }
        if s.allow_other && s.allow_root {
            return Err(ConfigError::Conflict("allow_other", "allow_root"));
        }
        Ok(s)
    }

    fn apply(&mut self, key: &str, value: Option<&str>) -> Result<(), ConfigError> {
        if is_ignored(key) {
            return Ok(());
        }
        if let Some(r) = self.tls.apply(key, value) {
            return r;
        }
        if IGNORED_FLAGS.contains(&key) {
            flag(key, value)?;
            return Ok(());
        }
        if let Some(pair) = KERNEL_FLAG_PAIRS
            .iter()
            .find(|(on, off)| key == *on || key == *off)
        {
            flag(key, value)?;
            self.kernel_flags.retain(|w| w != pair.0 && w != pair.1);
            self.kernel_flags.push(key.to_string());
            return Ok(());
        }
        match key {
            // `rw` is accepted as well as `ro` because mount(8)/fstab pass it
            // routinely; it also cancels an earlier `ro`.
            "ro" | "rw" => {
                flag(key, value)?;
                self.read_only = key == "ro";
            }
            "allow_other" => self.allow_other = flag(key, value)?,
            "allow_root" => self.allow_root = flag(key, value)?,
            "default_permissions" => self.default_permissions = flag(key, value)?,
            "connections" => {
                let v = need(key, value, "N")?;
                self.connections = parse_int(key, v, 1, MAX_CONNECTIONS)?;
            }
            "timeout" => {
                let v = need(key, value, "SECS")?;
                self.timeout = parse_secs(key, v, false, MAX_TIMEOUT_SECS)?;
            }
            "dir_cache_ttl" => {
                let v = need(key, value, "SECS")?;
                self.dir_cache_ttl = parse_secs(key, v, true, MAX_DIR_CACHE_TTL_SECS)?;
            }
            "dir_cache_size" => {
                let v = need(key, value, "N")?;
                self.dir_cache_size = parse_int(key, v, 1, MAX_DIR_CACHE_SIZE)?;
            }
            "uid" => {
                let v = need(key, value, "N")?;
                self.uid = Some(parse_id(key, v)?);
            }
            "gid" => {
                let v = need(key, value, "N")?;
                self.gid = Some(parse_id(key, v)?);
            }
            "umask" => {
                let v = need(key, value, "022")?;
                self.umask = Some(parse_umask(key, v)?);
            }
            "fsname" => {
                let v = non_empty(key, need(key, value, "NAME")?)?;
                self.fsname = Some(v.to_string());
            }
            "password_file" => {
                let v = non_empty(key, need(key, value, "PATH")?)?;
                self.password_file = Some(PathBuf::from(v));
            }
            "data_mode" => {
                let v = need(key, value, "auto|passive|epsv|pasv|active|eprt|port")?;
                self.data_mode = v.parse().map_err(|r: String| bad(key, v, r))?;
            }
            "data_connect_timeout" => {
                let v = need(key, value, "SECS")?;
                self.data_connect_timeout = parse_secs(key, v, false, MAX_TIMEOUT_SECS)?;
            }
            "active_port_range" => {
                let v = need(key, value, "LO-HI")?;
                self.active_port_range = Some(parse_range(key, v)?);
            }
            "active_address" => {
                let v = need(key, value, "IP")?;
                self.active_address = Some(
                    v.parse()
                        .map_err(|_| bad(key, v, "must be an IP address"))?,
                );
            }
            "pasv_address" => {
                let v = need(key, value, "control|reply")?;
                self.pasv_address = v.parse().map_err(|r: String| bad(key, v, r))?;
            }
            "cache_dir" => {
                let v = non_empty(key, need(key, value, "DIR")?)?;
                self.cache_dir = Some(PathBuf::from(v));
            }
            "cache_max_size" => {
                let v = need(key, value, "SIZE")?;
                self.cache_max_size = parse_size(key, v)?;
            }
            "atomic_replace" => self.atomic_replace = flag(key, value)?,
            "memory_budget" => {
                let v = need(key, value, "SIZE")?;
                let n = parse_size(key, v)?;
                if n > crate::memory::sizing::MAX_BUDGET as u64 {
                    return Err(bad(key, v, "must be at most 64G"));
                }
                self.memory_budget = n as usize;
            }
            "encoding" => {
                let v = need(key, value, "NAME")?;
                self.names = NameCodec::for_label(v).map_err(|r| bad(key, v, r))?;
            }
            "dir_max_entries" => {
                let v = need(key, value, "N")?;
                self.dir_max_entries = parse_int(key, v, 1, MAX_DIR_MAX_ENTRIES)?;
            }
            "max_command_line" => {
                let v = need(key, value, "BYTES")?;
                self.max_command_line =
                    parse_int(key, v, MIN_MAX_COMMAND_LINE, MAX_MAX_COMMAND_LINE)?;
            }
            "log_file" => {
                let v = non_empty(key, need(key, value, "PATH")?)?;
                self.log_file = Some(PathBuf::from(v));
            }
            "password" | "passwd" | "pass" => return Err(ConfigError::PasswordOption),
            _ => return Err(ConfigError::UnknownOption(key.to_string())),
        }
        Ok(())
    }
}

/// Checks that a flag option has no value; returns `true` for convenience.
fn flag(key: &str, value: Option<&str>) -> Result<bool, ConfigError> {
    match value {
        None => Ok(true),
        Some(v) => Err(ConfigError::UnexpectedValue {
            option: key.to_string(),
            value: v.to_string(),
        }),
    }
}

fn need<'a>(key: &str, value: Option<&'a str>, hint: &'static str) -> Result<&'a str, ConfigError> {
    value.ok_or_else(|| ConfigError::MissingValue {
        option: key.to_string(),
        hint,
    })
}

fn bad(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::BadValue {
        option: key.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn non_empty<'a>(key: &str, v: &'a str) -> Result<&'a str, ConfigError> {
    if v.is_empty() {
        Err(bad(key, v, "must not be empty"))
    } else {
        Ok(v)
    }
}

fn parse_range(key: &str, v: &str) -> Result<(u16, u16), ConfigError> {
    let reason = "must be LO-HI with 1 <= LO <= HI <= 65535";
    let (lo, hi) = v.split_once('-').ok_or_else(|| bad(key, v, reason))?;
    let lo: u16 = lo.trim().parse().map_err(|_| bad(key, v, reason))?;
    let hi: u16 = hi.trim().parse().map_err(|_| bad(key, v, reason))?;
    if lo == 0 || lo > hi {
        return Err(bad(key, v, reason));
    }
    Ok((lo, hi))
}

/// A byte count with an optional K/M/G/T suffix (powers of 1024), at least 1 MiB.
fn parse_size(key: &str, v: &str) -> Result<u64, ConfigError> {
    let (num, mult) = match v.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(bad(key, v, "suffix must be K, M, G or T")),
            };
            (&v[..i], m)
        }
        _ => (v, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| bad(key, v, "must be a number of bytes, e.g. 512M or 10G"))?;
    let bytes = n
        .checked_mul(mult)
        .ok_or_else(|| bad(key, v, "too large"))?;
    if bytes < 1 << 20 {
        return Err(bad(key, v, "must be at least 1M"));
    }
    Ok(bytes)
}

fn parse_int(key: &str, v: &str, min: usize, max: usize) -> Result<usize, ConfigError> {
    let reason = || format!("must be an integer from {min} to {max}");
    let n: usize = v.parse().map_err(|_| bad(key, v, reason()))?;
    if (min..=max).contains(&n) {
        Ok(n)
    } else {
        Err(bad(key, v, reason()))
    }
}

fn parse_id(key: &str, v: &str) -> Result<u32, ConfigError> {
    v.parse::<u32>()
        .map_err(|_| bad(key, v, "must be a numeric id from 0 to 4294967295"))
}

fn parse_umask(key: &str, v: &str) -> Result<u32, ConfigError> {
    let reason = "must be an octal number from 000 to 777, e.g. 022";
    let digits = v.strip_prefix("0o").unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(bad(key, v, reason));
    }
    match u32::from_str_radix(digits, 8) {
        Ok(n) if n <= 0o777 => Ok(n),
        _ => Err(bad(key, v, reason)),
    }
}

/// Parses a (possibly fractional) number of seconds within `0 or >0 ..= max`.
fn parse_secs(key: &str, v: &str, allow_zero: bool, max: f64) -> Result<Duration, ConfigError> {
    let lower = if allow_zero {
        "from 0"
    } else {
        "greater than 0 and"
    };
    let reason = || format!("must be a number of seconds {lower} up to {max}");
    // Only plain decimal notation: rejects "inf", "NaN", "1e3", "-1", "+2".
    let plain = !v.is_empty()
        && v.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && v.bytes().filter(|&b| b == b'.').count() <= 1
        && v.bytes().any(|b| b.is_ascii_digit());
    if !plain {
        return Err(bad(key, v, reason()));
    }
    let secs: f64 = v.parse().map_err(|_| bad(key, v, reason()))?;
    if secs > max || (!allow_zero && secs <= 0.0) {
        return Err(bad(key, v, reason()));
    }
    let d = Duration::try_from_secs_f64(secs).map_err(|_| bad(key, v, reason()))?;
    if !allow_zero && d.is_zero() {
        return Err(bad(key, v, reason()));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mount_opts::parse_mount_options;

    fn settings(s: &str) -> Result<OptionSettings, ConfigError> {
        OptionSettings::from_options(&parse_mount_options(s)?)
    }

    fn ok(s: &str) -> OptionSettings {
        settings(s).expect("options should be accepted")
    }

    fn err(s: &str) -> String {
        settings(s)
            .expect_err("options should be rejected")
            .to_string()
    }

    #[test]
    fn defaults() {
        let s = ok("");
        assert_eq!(s, OptionSettings::default());
        assert_eq!(s.connections, DEFAULT_CONNECTIONS);
        assert_eq!(s.timeout, Duration::from_secs(30));
        assert_eq!(s.dir_cache_ttl, Duration::from_secs(10));
        assert_eq!(s.dir_cache_size, 1024);
        assert!(!s.read_only && s.umask.is_none() && s.kernel_flags.is_empty());
    }

    #[test]
    fn cache_options() {
        let s = ok("cache_dir=/tmp/c,cache_max_size=512M,atomic_replace");
        assert_eq!(s.cache_dir, Some(PathBuf::from("/tmp/c")));
        assert_eq!(s.cache_max_size, 512 << 20);
        assert!(s.atomic_replace);
        assert_eq!(ok("cache_max_size=2g").cache_max_size, 2 << 30);
        assert_eq!(ok("").cache_max_size, 10 << 30);
        assert!(err("cache_max_size=10X").contains("cache_max_size"));
        assert!(err("cache_max_size=1K").contains("at least"));
    }

    #[test]
    fn numeric_options() {
        let s = ok("connections=8,timeout=5,dir_cache_ttl=0.5,dir_cache_size=10,uid=1000,gid=100");
        assert_eq!(s.connections, 8);
        assert_eq!(s.timeout, Duration::from_secs(5));
        assert_eq!(s.dir_cache_ttl, Duration::from_millis(500));
        assert_eq!(s.dir_cache_size, 10);
        assert_eq!((s.uid, s.gid), (Some(1000), Some(100)));
        assert_eq!(ok("dir_cache_ttl=0").dir_cache_ttl, Duration::ZERO);
        assert_eq!(ok("connections=1").connections, 1);
        assert_eq!(ok("connections=64").connections, 64);
    }

    #[test]
    fn bad_numbers_name_option_and_value() {
        assert_eq!(
            err("connections=0"),
            "invalid value '0' for mount option 'connections': must be an integer from 1 to 64"
        );
        assert!(err("connections=65").contains("'65'"));
        assert!(err("connections=four").contains("'four'"));
        assert!(err("timeout=0").contains("'timeout'"));
        for v in ["-1", "inf", "NaN", "1e3", "abc", ".", "1.2.3", "86401"] {
            let m = err(&format!("timeout={v}"));
            assert!(m.contains(&format!("'{v}'")), "{m}");
        }
        assert!(err("dir_cache_ttl=-0.5").contains("dir_cache_ttl"));
        assert!(err("dir_cache_size=0").contains("dir_cache_size"));
        assert!(err("uid=-1").contains("'uid'"));
        assert!(err("gid=abc").contains("'gid'"));
    }

    #[test]
    fn umask_is_octal() {
        assert_eq!(ok("umask=022").umask, Some(0o022));
        assert_eq!(ok("umask=0077").umask, Some(0o077));
        assert_eq!(ok("umask=0").umask, Some(0));
        assert!(err("umask=089").contains("octal"));
        assert!(err("umask=1000").contains("'1000'"));
        assert!(err("umask=").contains("umask"));
    }

    #[test]
    fn flags_and_last_one_wins() {
        let s = ok("allow_other,default_permissions,ro");
        assert!(s.allow_other && s.default_permissions && s.read_only);
        assert!(!ok("ro,rw").read_only);
        assert!(ok("rw,ro").read_only);
        assert!(ok("allow_root").allow_root);
        assert_eq!(ok("timeout=5,timeout=7").timeout, Duration::from_secs(7));
    }

    #[test]
    fn kernel_flags_keep_last_of_each_pair() {
        let s = ok("nodev,nosuid,exec,dev,noatime");
        assert_eq!(s.kernel_flags, vec!["nosuid", "exec", "dev", "noatime"]);
    }

    #[test]
    fn mount8_options_are_ignored() {
        let s = ok(
            "defaults,auto,noauto,user,users,nouser,_netdev,nofail,x-systemd.automount,x-systemd.mount-timeout=30,user=bob",
        );
        assert_eq!(s, OptionSettings::default());
    }

    #[test]
    fn unknown_option_is_rejected() {
        assert_eq!(err("foo"), "unknown mount option 'foo'");
        assert_eq!(err("ro,foo=bar"), "unknown mount option 'foo'");
        assert_eq!(err("sync"), "unknown mount option 'sync'");
    }

    #[test]
    fn password_option_is_rejected_without_echoing_it() {
        let m = err("password=hunter2");
        assert!(!m.contains("hunter2"));
        assert!(m.contains("FTPFS_PASSWORD"));
    }

    #[test]
    fn flag_with_value_and_value_without_value() {
        assert_eq!(err("ro=1"), "mount option 'ro' takes no value (got 'ro=1')");
        assert!(err("defaults=1").contains("takes no value"));
        assert!(err("nodev=yes").contains("takes no value"));
        assert_eq!(
            err("connections"),
            "mount option 'connections' needs a value (connections=N)"
        );
        assert!(err("fsname=").contains("must not be empty"));
        assert!(err("password_file").contains("password_file=PATH"));
    }

    #[test]
    fn allow_other_and_allow_root_conflict() {
        assert_eq!(
            err("allow_other,allow_root"),
            "mount options 'allow_other' and 'allow_root' cannot be used together"
        );
    }

    #[test]
    fn fsname_and_password_file() {
        let s = ok(r"fsname=my\,ftp,password_file=/etc/ftp.pw");
        assert_eq!(s.fsname.as_deref(), Some("my,ftp"));
        assert_eq!(s.password_file, Some(PathBuf::from("/etc/ftp.pw")));
    }

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "****");
        assert_eq!(format!("{s}"), "****");
        assert_eq!(s.expose(), "hunter2");
    }
}
