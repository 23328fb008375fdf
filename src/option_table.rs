//! The table of `-o` mount options: name, value syntax, default and meaning of each.
//!
//! Job: one place that says what every option is for. `ftpfs --help` ([`help_text`]) and the
//! man pages (`crate::docs`) are rendered from [`MOUNT_OPTIONS`]; README.md's options table is
//! checked against it by a test.
//!
//! Invariants (checked by the tests below):
//! - every option name that [`OptionSettings::from_options`] accepts is in the table, and every
//!   name in the table is accepted. The accepted set is derived from the parser itself: the
//!   string patterns of the `match` in `OptionSettings::apply` (read from `src/config.rs`'s
//!   source), `IGNORED_FLAGS`, `KERNEL_FLAG_PAIRS` and the `x-*`/`user` rule, each then
//!   confirmed by calling the parser. A new option arm without a table entry fails the test;
//! - a default written as [`DefaultValue::Is`] is a value the parser accepts and that gives
//!   exactly `OptionSettings::default()`, so a changed constant cannot leave a stale default
//!   in the man page; a [`DefaultValue::Off`] flag changes the settings when given.

use std::fmt::Write as _;

#[cfg(doc)]
use crate::config::OptionSettings;

/// What an option is when it is not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// A value in the option's own syntax; `NAME=VALUE` gives the built-in settings.
    Is(&'static str),
    /// A default that depends on the machine or the mount, said in words.
    Described(&'static str),
    /// A flag that is off unless given.
    Off,
    /// No default: the option is optional and has no meaning when absent.
    None,
}

/// One row of the table. Several names share a row when they are one setting (`ro`/`rw`)
/// or a family (`uid`/`gid`).
#[derive(Debug, Clone, Copy)]
pub struct OptionDoc {
    /// The option's names as written after `-o`; `x-*` stands for any name starting `x-`.
    pub names: &'static [&'static str],
    /// The value's syntax (`N`, `SECS`, `PATH` …); `None` for a flag.
    pub value: Option<&'static str>,
    pub default: DefaultValue,
    /// One line for `--help`.
    pub summary: &'static str,
    /// More for the man page (empty when the summary says it all).
    pub details: &'static str,
}

impl OptionDoc {
    /// `name=VALUE` for each name, or the bare names of a flag, joined with ", ".
    pub fn synopsis(&self) -> String {
        self.names
            .iter()
            .map(|n| match self.value {
                Some(v) => format!("{n}={v}"),
                None => (*n).to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The default in words, if there is one to say.
    pub fn default_text(&self) -> Option<&'static str> {
        match self.default {
            DefaultValue::Is(v) | DefaultValue::Described(v) => Some(v),
            DefaultValue::Off => Some("off"),
            DefaultValue::None => None,
        }
    }
}

/// Every `-o` option, in the order the documentation shows them.
pub const MOUNT_OPTIONS: &[OptionDoc] = &[
    OptionDoc {
        names: &["connections"],
        value: Some("N"),
        default: DefaultValue::Is("24"),
        summary: "parallel FTP control connections, 1-64",
        details: "Open transfers may use all but one, so listings and metadata always get a \
                  connection. 8 are logged in at mount, more on demand; idle ones beyond 2 are \
                  closed after a minute.",
    },
    OptionDoc {
        names: &["timeout"],
        value: Some("SECS"),
        default: DefaultValue::Is("30"),
        summary: "deadline of every operation (all its waits together) and of data inactivity",
        details: "Fractions are allowed; at most 86400. A listing, a command or the start of a \
                  transfer ends within it (ETIMEDOUT), however the server stalls or drips its \
                  replies; a listing must keep arriving at 8 KiB/s or more once it has passed; \
                  a running transfer may take as long as it moves a byte at least every \
                  timeout. Waiting for a connection the mount itself is busy with goes on while \
                  the other transfers move.",
    },
    OptionDoc {
        names: &["dir_cache_ttl"],
        value: Some("SECS"),
        default: DefaultValue::Is("10"),
        summary: "how long a directory listing is trusted, 0 = list every time",
        details: "Also the kernel's entry and attribute timeout. Changes made through the \
                  mount update the cached listing at once.",
    },
    OptionDoc {
        names: &["dir_cache_size"],
        value: Some("N"),
        default: DefaultValue::Is("1024"),
        summary: "directory listings kept (least recently used go first)",
        details: "1 to 1048576.",
    },
    OptionDoc {
        names: &["dir_max_entries"],
        value: Some("N"),
        default: DefaultValue::Is("1000000"),
        summary: "most entries a directory listing may have; a larger one fails with EIO",
        details: "1 to 100000000. A listing is also cut at 512 bytes per allowed entry. Each \
                  cached entry costs about 130 bytes plus its name.",
    },
    OptionDoc {
        names: &["max_command_line"],
        value: Some("BYTES"),
        default: DefaultValue::Is("4094"),
        summary: "longest FTP command line sent; a longer path fails with ENAMETOOLONG",
        details: "256 to 1048576. Servers close the connection (vsftpd) or ignore the line \
                  (proftpd) when it passes their limit, about 4 KiB.",
    },
    OptionDoc {
        names: &["uid", "gid"],
        value: Some("N"),
        default: DefaultValue::Described("the mounting user's"),
        summary: "numeric owner and group shown for every file",
        details: "",
    },
    OptionDoc {
        names: &["umask"],
        value: Some("OCTAL"),
        default: DefaultValue::Described("none: the modes from the listing"),
        summary: "fixed modes: files 0666 & ~umask, directories 0777 & ~umask (e.g. 022)",
        details: "",
    },
    OptionDoc {
        names: &["password_file"],
        value: Some("PATH"),
        default: DefaultValue::None,
        summary: "read the password from the first line of PATH",
        details: "Used when FTPFS_PASSWORD is not set. Keep the file readable by its owner \
                  only (ftpfs warns otherwise). There is no password= option: command lines \
                  are visible in ps.",
    },
    OptionDoc {
        names: &["log_file"],
        value: Some("PATH"),
        default: DefaultValue::Described("syslog when daemonized, stderr with -f"),
        summary: "append the daemon's log to PATH instead of sending it to syslog",
        details: "The file is opened before mounting: a path that cannot be opened fails the \
                  mount.",
    },
    OptionDoc {
        names: &["data_mode"],
        value: Some("MODE"),
        default: DefaultValue::Is("auto"),
        summary: "auto | passive | epsv | pasv | active | eprt | port",
        details: "auto tries passive (EPSV, then PASV) and falls back to active (EPRT, then \
                  PORT) when the passive data connection is refused or not answered, then \
                  remembers what works for the rest of the mount. passive and active keep to \
                  one family; the others to one command. ftpfs probe recommends one.",
    },
    OptionDoc {
        names: &["data_connect_timeout"],
        value: Some("SECS"),
        default: DefaultValue::Is("3"),
        summary: "the most one data-connection attempt may take",
        details: "A firewall that drops packets costs this once per mount before auto falls \
                  back.",
    },
    OptionDoc {
        names: &["active_port_range"],
        value: Some("LO-HI"),
        default: DefaultValue::Described("any port"),
        summary: "local ports for active-mode data connections",
        details: "The range your firewall opens, e.g. 50000-50100.",
    },
    OptionDoc {
        names: &["active_address"],
        value: Some("IP"),
        default: DefaultValue::Described("the control connection's local address"),
        summary: "address to advertise in EPRT/PORT (behind NAT: the public one)",
        details: "",
    },
    OptionDoc {
        names: &["pasv_address"],
        value: Some("control|reply"),
        default: DefaultValue::Is("control"),
        summary: "connect PASV data connections to the control address or the 227 reply's",
        details: "control ignores the address in the reply (servers behind NAT advertise a \
                  private one; it also stops PASV bounce); reply trusts it.",
    },
    OptionDoc {
        names: &["tls"],
        value: None,
        default: DefaultValue::Described("from the URL: ftps:// implicit, ftpes:// explicit"),
        summary: "FTPS with AUTH TLS (= tls=explicit); tls=implicit: TLS from the start",
        details: "A TLS mount never falls back to plain text: a refused AUTH TLS or PROT P \
                  fails the mount, and no USER/PASS is sent before a verified handshake.",
    },
    OptionDoc {
        names: &["tls_ca"],
        value: Some("FILE"),
        default: DefaultValue::Described("the system's trusted roots"),
        summary: "trust the CA certificates in this PEM file instead of the system's",
        details: "A self-signed server certificate (CA:TRUE) cannot be trusted this way: pin \
                  it with tls_fingerprint.",
    },
    OptionDoc {
        names: &["tls_fingerprint"],
        value: Some("sha256:HEX"),
        default: DefaultValue::None,
        summary: "trust exactly the server certificate with this SHA-256",
        details: "The pin replaces chain, name and date checks (the way to trust a \
                  self-signed certificate); a refused certificate's fingerprint is printed \
                  ready to paste. Colons between bytes are allowed.",
    },
    OptionDoc {
        names: &["tls_name"],
        value: Some("HOST"),
        default: DefaultValue::Described("the URL's host"),
        summary: "the name the server's certificate must carry",
        details: "For servers reached by address or by an alias.",
    },
    OptionDoc {
        names: &["tls_insecure"],
        value: None,
        default: DefaultValue::Off,
        summary: "accept any server certificate (TLS still on; warned at every mount)",
        details: "Anyone between here and the server can then read and change everything, \
                  the password included. Prefer tls_fingerprint.",
    },
    OptionDoc {
        names: &["tls_max"],
        value: Some("1.2|1.3"),
        default: DefaultValue::Described("1.3"),
        summary: "the highest TLS version to offer",
        details: "ftpfs learns on its own to use TLS 1.2 with servers whose TLS 1.3 session \
                  tickets run out (logged once); 1.2 skips that.",
    },
    OptionDoc {
        names: &["cache_dir"],
        value: Some("DIR"),
        default: DefaultValue::Described("$XDG_CACHE_HOME/ftpfs or ~/.cache/ftpfs"),
        summary: "where staged copies of files being modified in place live",
        details: "Random writes, O_RDWR and truncates work on a local copy uploaded at close \
                  or fsync. A copy whose upload failed is kept here and the log names it.",
    },
    OptionDoc {
        names: &["cache_max_size"],
        value: Some("SIZE"),
        default: DefaultValue::Is("10G"),
        summary: "disk space staged copies may use, K/M/G/T suffixes, at least 1M",
        details: "Beyond it writes fail with ENOSPC.",
    },
    OptionDoc {
        names: &["atomic_replace"],
        value: None,
        default: DefaultValue::Off,
        summary: "upload replacements under a temporary name, then rename over the target",
        details: "Readers see the old or the new file, never half of one. Off by default: \
                  the temporary name is visible while the upload runs, the new file does not \
                  keep the original's permissions or owner, and it needs write permission on \
                  the directory (see SEMANTICS.md).",
    },
    OptionDoc {
        names: &["memory_budget"],
        value: Some("SIZE"),
        default: DefaultValue::Is("64M"),
        summary: "memory for file data on its way: read-ahead, upload queues, request buffers",
        details: "K/M/G suffixes, 1M to 64G. When it is full, read-ahead windows shrink and \
                  writes wait until queued data has been sent; nothing fails. A budget below \
                  16M also makes the kernel's read and write requests smaller (down to 128K \
                  at 2M). Directory listings are bounded by dir_max_entries instead.",
    },
    OptionDoc {
        names: &["encoding"],
        value: Some("NAME"),
        default: DefaultValue::Is("utf-8"),
        summary: "the server's file-name encoding (latin1, cp1251, shift_jis, gbk, ...)",
        details: "Without it names are the server's bytes, shown as they are (UTF-8 or not) \
                  and sent back unchanged. With a legacy encoding (any ASCII-compatible one \
                  of the WHATWG list: latin1/windows-1252, cp1251, koi8-r, shift_jis, gbk, \
                  euc-kr, big5, ...) names are shown in UTF-8 and converted back for \
                  commands; a name that would not convert back exactly is refused with \
                  EINVAL, and OPTS UTF8 ON is not sent (see SEMANTICS.md).",
    },
    OptionDoc {
        names: &["fsname"],
        value: Some("NAME"),
        default: DefaultValue::Described("ftpfs#USER@HOST:PORT/PATH"),
        summary: "name shown by mount and df",
        details: "",
    },
    OptionDoc {
        names: &["ro", "rw"],
        value: None,
        default: DefaultValue::Described("rw"),
        summary: "read-only or read-write mount (the last one given wins)",
        details: "",
    },
    OptionDoc {
        names: &["allow_other"],
        value: None,
        default: DefaultValue::Off,
        summary: "let other users use the mount (kernel option)",
        details: "Ordinary users need user_allow_other in /etc/fuse.conf. Excludes \
                  allow_root.",
    },
    OptionDoc {
        names: &["allow_root"],
        value: None,
        default: DefaultValue::Off,
        summary: "let root use the mount too (kernel option)",
        details: "",
    },
    OptionDoc {
        names: &["default_permissions"],
        value: None,
        default: DefaultValue::Off,
        summary: "let the kernel check access against the modes shown",
        details: "",
    },
    OptionDoc {
        names: &[
            "dev", "nodev", "suid", "nosuid", "exec", "noexec", "atime", "noatime",
        ],
        value: None,
        default: DefaultValue::Described("the kernel's (nodev,nosuid for ordinary users)"),
        summary: "generic kernel mount flags, passed on (last of each pair wins)",
        details: "",
    },
    OptionDoc {
        names: &[
            "defaults", "auto", "noauto", "user", "users", "nouser", "_netdev", "nofail", "x-*",
        ],
        value: None,
        default: DefaultValue::None,
        summary: "for fstab and mount(8); accepted and ignored by ftpfs",
        details: "x-* stands for any option starting with x-, such as x-systemd.automount; \
                  user may carry a value (mount(8) writes user=NAME).",
    },
];

/// Wraps `text` to lines of at most `width` characters (words longer than that stay whole).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The text after `ftpfs --help`'s option list: every `-o` option from [`MOUNT_OPTIONS`],
/// then where passwords and logs come from.
pub fn help_text() -> String {
    const LEFT: usize = 22;
    const WIDTH: usize = 80;
    let mut s = String::from(
        "Mount options (-o, comma-separated, repeatable; '\\,' is a literal comma):\n",
    );
    for o in MOUNT_OPTIONS {
        let mut text = o.summary.to_string();
        if let Some(d) = o.default_text() {
            let _ = write!(text, " [{d}]");
        }
        let name = o.synopsis();
        let body = wrap(&text, WIDTH - LEFT - 2);
        let mut body = body.iter();
        if name.len() + 2 < LEFT {
            let first = body.next().map_or("", String::as_str);
            let _ = writeln!(s, "  {name:<w$}{first}", w = LEFT);
        } else {
            for part in wrap(&name, WIDTH - 2) {
                let _ = writeln!(s, "  {part}");
            }
        }
        for line in body {
            let _ = writeln!(s, "  {:<w$}{line}", "", w = LEFT);
        }
    }
    s.push_str(
        "\nPassword: $FTPFS_PASSWORD, then -o password_file, then ~/.netrc ($NETRC),\n\
         then a prompt on a terminal; 'anonymous' logins default to 'anonymous@'.\n\
         Log: stderr with -f; a daemon sends warnings and errors to syslog as\n\
         ftpfs[PID] (journalctl -t ftpfs), or appends to -o log_file=PATH.\n\
         See ftpfs(1) and mount.ftpfs(8).",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigError, IGNORED_FLAGS, KERNEL_FLAG_PAIRS, OptionSettings};
    use std::collections::BTreeSet;

    /// The option names of the `match key { ... }` arms in `OptionSettings::apply` and
    /// `TlsSettings::apply`, read from the parsers' own source.
    fn names_in_apply_source() -> BTreeSet<String> {
        let mut names = arm_names(include_str!("config.rs"), "config.rs");
        names.extend(arm_names(include_str!("config_tls.rs"), "config_tls.rs"));
        assert!(
            names.len() > 20,
            "found only {names:?} in apply: has its match changed shape?"
        );
        names
    }

    /// The names of the arms of the `apply` function in `src`: each arm line starts with one or
    /// more string literals joined by `|` and ends its pattern with `=>`.
    fn arm_names(src: &str, file: &str) -> BTreeSet<String> {
        let start = src
            .find("fn apply(")
            .unwrap_or_else(|| panic!("apply not found in {file}"));
        let body = &src[start..];
        let end = body
            .find("\n    }\n")
            .expect("end of OptionSettings::apply not found");
        let mut names = BTreeSet::new();
        for line in body[..end].lines() {
            let t = line.trim();
            let Some((pattern, _)) = t.split_once("=>") else {
                continue;
            };
            if !t.starts_with('"') {
                continue;
            }
            for alt in pattern.split('|') {
                let lit = alt.trim();
                let name = lit
                    .strip_prefix('"')
                    .and_then(|l| l.strip_suffix('"'))
                    .unwrap_or_else(|| panic!("unexpected pattern {lit:?} in apply: {t}"));
                names.insert(name.to_string());
            }
        }
        names
    }

    /// Every name the parser has a rule for, from its code: the match arms, the ignored
    /// flags, the kernel flag pairs, and the `x-*` / `user` rule of `is_ignored`.
    fn names_in_parser() -> BTreeSet<String> {
        let mut names = names_in_apply_source();
        names.extend(IGNORED_FLAGS.iter().map(|s| s.to_string()));
        for (on, off) in KERNEL_FLAG_PAIRS {
            names.insert(on.to_string());
            names.insert(off.to_string());
        }
        names.insert("user".into());
        names.insert("x-*".into());
        names
    }

    enum Verdict {
        Accepted,
        /// The parser knows the name and always refuses it (`password=`).
        Refused,
        Unknown,
    }

    /// What the parser does with `name`, given bare and with a value: any answer but
    /// "unknown option" means it knows the name.
    fn verdict(name: &str) -> Verdict {
        let name = if name == "x-*" { "x-anything" } else { name };
        let mut unknown = 0;
        for value in [None, Some("1")] {
            match OptionSettings::from_options(&[(name.to_string(), value.map(str::to_string))]) {
                Err(ConfigError::UnknownOption(_)) => unknown += 1,
                Err(ConfigError::PasswordOption) => return Verdict::Refused,
                _ => {}
            }
        }
        if unknown == 2 {
            Verdict::Unknown
        } else {
            Verdict::Accepted
        }
    }

    fn table_names() -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for o in MOUNT_OPTIONS {
            for n in o.names {
                assert!(names.insert(n.to_string()), "{n} is in the table twice");
            }
        }
        names
    }

    #[test]
    fn every_option_the_parser_accepts_is_in_the_table_and_vice_versa() {
        let table = table_names();
        let mut accepted = BTreeSet::new();
        for name in names_in_parser() {
            match verdict(&name) {
                Verdict::Accepted => {
                    accepted.insert(name);
                }
                Verdict::Refused => assert!(
                    !table.contains(&name),
                    "{name} is refused by the parser but documented as an option"
                ),
                Verdict::Unknown => panic!("the parser has a rule for {name} but rejects it"),
            }
        }
        let undocumented: Vec<_> = accepted.difference(&table).collect();
        assert!(
            undocumented.is_empty(),
            "accepted by OptionSettings::from_options but missing from MOUNT_OPTIONS \
             (src/option_table.rs): {undocumented:?}"
        );
        let stale: Vec<_> = table.difference(&accepted).collect();
        assert!(
            stale.is_empty(),
            "in MOUNT_OPTIONS but not accepted by the parser: {stale:?}"
        );
        assert!(matches!(verdict("no_such_option"), Verdict::Unknown));
    }

    #[test]
    fn documented_defaults_are_the_parser_defaults() {
        let built_in = OptionSettings::default();
        for o in MOUNT_OPTIONS {
            for n in o.names {
                let given = |value: Option<&str>| {
                    OptionSettings::from_options(&[(n.to_string(), value.map(str::to_string))])
                        .unwrap_or_else(|e| panic!("{n}: {e}"))
                };
                match o.default {
                    DefaultValue::Is(v) => assert_eq!(
                        given(Some(v)),
                        built_in,
                        "{n}={v} is documented as the default but is not"
                    ),
                    DefaultValue::Off => {
                        assert!(o.value.is_none(), "{n}: Off is for flags");
                        assert_ne!(given(None), built_in, "{n} documented as off by default");
                    }
                    DefaultValue::Described(_) | DefaultValue::None => {}
                }
            }
        }
    }

    #[test]
    fn value_syntax_matches_the_parser() {
        // A flag given a value is refused; an option with a value refuses to go without one.
        for o in MOUNT_OPTIONS {
            for n in o
                .names
                .iter()
                .filter(|n| !n.starts_with("x-") && **n != "user")
            {
                let bare = OptionSettings::from_options(&[(n.to_string(), None)]);
                match o.value {
                    Some(_) => assert!(
                        matches!(bare, Err(ConfigError::MissingValue { .. })),
                        "{n} is documented with a value but parses bare: {bare:?}"
                    ),
                    None => assert!(bare.is_ok(), "{n} is documented as a flag: {bare:?}"),
                }
            }
        }
    }

    #[test]
    fn help_text_lists_every_option_with_its_default() {
        let h = help_text();
        for o in MOUNT_OPTIONS {
            assert!(h.contains(&o.synopsis()), "{} missing:\n{h}", o.synopsis());
            if let DefaultValue::Is(v) = o.default {
                assert!(h.contains(&format!("[{v}]")), "default of {:?}", o.names);
            }
        }
        for line in h.lines() {
            assert!(line.chars().count() <= 80, "line too long: {line:?}");
        }
    }

    #[test]
    fn readme_documents_every_option() {
        let readme = include_str!("../README.md");
        for name in table_names() {
            assert!(
                readme.contains(&format!("`{name}")) || readme.contains(&format!(" `{name}`")),
                "README.md's options table lacks {name}"
            );
        }
    }
}
