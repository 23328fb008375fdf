//! Finding the login name and password, and the process environment behind it.
//!
//! [`Env`] is the only way this module (and [`crate::cli::build_config`]) looks at
//! the outside world, so tests substitute a fake; [`RealEnv`] is the real process.
//!
//! Resolution ([`resolve_credentials`]):
//! * user: the URL's user, else the `login` of the `~/.netrc` entry for the host,
//!   else `anonymous`;
//! * password, first source that applies wins: `FTPFS_PASSWORD` (if non-empty)
//!   → `-o password_file=PATH` (first line) → `~/.netrc` → an interactive prompt
//!   (only on a terminal, and never for `anonymous`: the anonymous login is public
//!   and must not block on a prompt) → `anonymous@` for `anonymous` → error.
//!
//! Invariants: the returned password contains no CR, LF or NUL (it would let a
//! password inject FTP commands); passwords never appear in errors or logs; a
//! password file or netrc readable by group/others only causes a warning.
//! `$NETRC` overrides the netrc location, as in curl and GNU ftp; the netrc
//! format is handled by [`crate::netrc`].

use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use crate::config::{ConfigError, Secret};
use crate::netrc::{NetrcEntry, netrc_lookup, parse_netrc};

/// Environment variable holding the password.
pub const PASSWORD_VAR: &str = "FTPFS_PASSWORD";
/// Password sent for anonymous logins when no other source gives one.
pub const ANONYMOUS_PASSWORD: &str = "anonymous@";

/// The parts of the process environment that configuration depends on.
pub trait Env {
    /// An environment variable, `None` when unset or not UTF-8.
    fn var(&self, k: &str) -> Option<String>;
    /// The user's home directory.
    fn home(&self) -> Option<PathBuf>;
    /// Reads a whole file.
    fn read_file(&self, p: &Path) -> io::Result<String>;
    /// Asks for a password without echo; `None` when there is no terminal or input ended.
    fn prompt_password(&self, prompt: &str) -> Option<String>;
    /// Real uid of the process.
    fn uid(&self) -> u32;
    /// Real gid of the process.
    fn gid(&self) -> u32;
    /// Permission bits of a file, if known; only used to warn about files
    /// holding passwords that others can read. The default knows nothing.
    fn file_mode(&self, _p: &Path) -> Option<u32> {
        None
    }
}

/// [`Env`] of the running process.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealEnv;

impl Env for RealEnv {
    fn var(&self, k: &str) -> Option<String> {
        std::env::var(k).ok()
    }

    fn home(&self) -> Option<PathBuf> {
        std::env::home_dir()
    }

    fn read_file(&self, p: &Path) -> io::Result<String> {
        std::fs::read_to_string(p)
    }

    fn prompt_password(&self, prompt: &str) -> Option<String> {
        // SAFETY: isatty only inspects the descriptor number.
        if unsafe { libc::isatty(libc::STDIN_FILENO) } != 1 {
            return None;
        }
        // Refuse to read a password that would be echoed.
        let guard = EchoOff::new(libc::STDIN_FILENO)?;
        let mut stderr = io::stderr();
        // A failed prompt write only loses cosmetics; reading still works.
        let _ = write!(stderr, "{prompt}");
        let _ = stderr.flush();
        let mut line = String::new();
        let read = io::stdin().lock().read_line(&mut line);
        drop(guard);
        match read {
            Ok(0) | Err(_) => {
                let _ = writeln!(stderr);
                None
            }
            Ok(_) => Some(strip_line_end(&line).to_string()),
        }
    }

    fn uid(&self) -> u32 {
        // SAFETY: getuid has no preconditions and cannot fail.
        unsafe { libc::getuid() }
    }

    fn gid(&self) -> u32 {
        // SAFETY: getgid has no preconditions and cannot fail.
        unsafe { libc::getgid() }
    }

    fn file_mode(&self, p: &Path) -> Option<u32> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).ok().map(|m| m.permissions().mode())
    }
}

/// Turns terminal echo off (keeping the echo of the final newline) and restores
/// the previous settings when dropped. If the process is killed while the
/// prompt waits (Ctrl-C), the shell is left to restore the terminal.
struct EchoOff {
    fd: libc::c_int,
    saved: libc::termios,
}

impl EchoOff {
    fn new(fd: libc::c_int) -> Option<Self> {
        // SAFETY: termios is plain old data, all-zero is a valid value, and
        // tcgetattr fully initialises it on success.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: `saved` is a valid, writable termios.
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return None;
        }
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        quiet.c_lflag |= libc::ECHONL;
        // SAFETY: `quiet` is a valid termios obtained from tcgetattr.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) } != 0 {
            return None;
        }
        Some(EchoOff { fd, saved })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: restores the settings read by tcgetattr in `new`.
        unsafe {
            libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved);
        }
    }
}

/// Login name and password for the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: Secret,
}

/// Finds user and password for `host` as described in the module doc.
/// `url_user` is the (decoded) user from the URL; `password_file` the
/// `-o password_file` path, where a leading `~/` means the home directory.
pub fn resolve_credentials(
    env: &dyn Env,
    host: &str,
    url_user: Option<&str>,
    password_file: Option<&Path>,
) -> Result<Credentials, ConfigError> {
    let mut netrc = NetrcCache::default();
    let user = match url_user {
        Some(u) => u.to_string(),
        None => netrc
            .lookup(env, host, None)?
            .and_then(|e| e.login.clone())
            .unwrap_or_else(|| "anonymous".to_string()),
    };
    let done = |password: String, origin: &str| -> Result<Credentials, ConfigError> {
        if password.contains(['\r', '\n', '\0']) {
            return Err(ConfigError::BadPassword(origin.to_string()));
        }
        Ok(Credentials {
            user: user.clone(),
            password: Secret::new(password),
        })
    };

    if let Some(p) = env.var(PASSWORD_VAR).filter(|p| !p.is_empty()) {
        return done(p, PASSWORD_VAR);
    }
    if let Some(file) = password_file {
        let path = expand_tilde(env, file);
        let text = env
            .read_file(&path)
            .map_err(|source| ConfigError::PasswordFile {
                path: path.clone(),
                source,
            })?;
        let first = strip_line_end(text.split('\n').next().unwrap_or(""));
        if first.is_empty() {
            return Err(ConfigError::EmptyPasswordFile(path));
        }
        warn_if_readable(env, &path, "password file");
        return done(
            first.to_string(),
            &format!("password file {}", path.display()),
        );
    }
    let from_netrc = netrc
        .lookup(env, host, Some(&user))?
        .and_then(|e| e.password.clone());
    if let Some(p) = from_netrc {
        let origin = netrc.path.as_deref().unwrap_or(Path::new("netrc"));
        warn_if_readable(env, origin, "netrc file");
        return done(p.expose().to_string(), &origin.display().to_string());
    }
    let anonymous = user.eq_ignore_ascii_case("anonymous");
    if !anonymous {
        if let Some(p) = env.prompt_password(&format!("Password for {user}@{host}: ")) {
            return done(p, "the password prompt");
        }
        return Err(ConfigError::NoPassword {
            user,
            host: host.to_string(),
        });
    }
    done(ANONYMOUS_PASSWORD.to_string(), "default")
}

/// Strips one trailing `\n`, `\r\n` or `\r`.
fn strip_line_end(s: &str) -> &str {
    let s = s.strip_suffix('\n').unwrap_or(s);
    s.strip_suffix('\r').unwrap_or(s)
}

fn expand_tilde(env: &dyn Env, p: &Path) -> PathBuf {
    match (p.strip_prefix("~"), env.home()) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => p.to_path_buf(),
    }
}

/// True when group or others may read a file with these permission bits.
fn readable_by_others(mode: u32) -> bool {
    mode & 0o044 != 0
}

fn warn_if_readable(env: &dyn Env, path: &Path, what: &str) {
    if env.file_mode(path).is_some_and(readable_by_others) {
        log::warn!(
            "{what} {} is readable by other users; run 'chmod 600 {}'",
            path.display(),
            path.display()
        );
    }
}

/// The netrc file, read at most once and only if needed.
#[derive(Default)]
struct NetrcCache {
    path: Option<PathBuf>,
    entries: Option<Vec<NetrcEntry>>,
}

impl NetrcCache {
    fn lookup(
        &mut self,
        env: &dyn Env,
        host: &str,
        user: Option<&str>,
    ) -> Result<Option<&NetrcEntry>, ConfigError> {
        if self.entries.is_none() {
            self.path = env
                .var("NETRC")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .or_else(|| env.home().map(|h| h.join(".netrc")));
            self.entries = Some(match &self.path {
                None => Vec::new(),
                Some(path) => load_netrc(env, path)?,
            });
        }
        Ok(self
            .entries
            .as_deref()
            .and_then(|e| netrc_lookup(e, host, user)))
    }
}

fn load_netrc(env: &dyn Env, path: &Path) -> Result<Vec<NetrcEntry>, ConfigError> {
    match env.read_file(path) {
        Ok(text) => parse_netrc(&text).map_err(|e| ConfigError::NetrcSyntax {
            path: path.to_path_buf(),
            line: e.line,
            reason: e.reason,
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(ConfigError::NetrcRead {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// A scripted [`Env`] for tests.
#[cfg(test)]
pub(crate) mod fake {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    pub(crate) struct FakeEnv {
        pub vars: HashMap<String, String>,
        pub home: Option<PathBuf>,
        pub files: HashMap<PathBuf, String>,
        pub modes: HashMap<PathBuf, u32>,
        pub prompt_answer: Option<String>,
        pub prompts: RefCell<Vec<String>>,
    }

    impl FakeEnv {
        pub(crate) fn new() -> Self {
            FakeEnv {
                vars: HashMap::new(),
                home: Some(PathBuf::from("/home/u")),
                files: HashMap::new(),
                modes: HashMap::new(),
                prompt_answer: None,
                prompts: RefCell::new(Vec::new()),
            }
        }

        pub(crate) fn var(mut self, k: &str, v: &str) -> Self {
            self.vars.insert(k.to_string(), v.to_string());
            self
        }

        pub(crate) fn file(mut self, p: &str, text: &str) -> Self {
            self.files.insert(PathBuf::from(p), text.to_string());
            self
        }

        pub(crate) fn netrc(self, text: &str) -> Self {
            self.file("/home/u/.netrc", text)
        }

        pub(crate) fn answer(mut self, pw: &str) -> Self {
            self.prompt_answer = Some(pw.to_string());
            self
        }
    }

    impl Env for FakeEnv {
        fn var(&self, k: &str) -> Option<String> {
            self.vars.get(k).cloned()
        }
        fn home(&self) -> Option<PathBuf> {
            self.home.clone()
        }
        fn read_file(&self, p: &Path) -> io::Result<String> {
            self.files
                .get(p)
                .cloned()
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        }
        fn prompt_password(&self, prompt: &str) -> Option<String> {
            self.prompts.borrow_mut().push(prompt.to_string());
            self.prompt_answer.clone()
        }
        fn uid(&self) -> u32 {
            1000
        }
        fn gid(&self) -> u32 {
            100
        }
        fn file_mode(&self, p: &Path) -> Option<u32> {
            self.modes.get(p).copied()
        }
    }
}
#[cfg(test)]
mod tests {
    use super::fake::FakeEnv;
    use super::*;

    fn resolve(
        env: &FakeEnv,
        user: Option<&str>,
        file: Option<&str>,
    ) -> Result<Credentials, ConfigError> {
        resolve_credentials(env, "ftp.example.com", user, file.map(Path::new))
    }

    fn pw(env: &FakeEnv, user: Option<&str>, file: Option<&str>) -> (String, String) {
        let c = resolve(env, user, file).expect("credentials");
        (c.user, c.password.expose().to_string())
    }

    const NETRC: &str = "machine ftp.example.com login bob password fromnetrc\n";

    fn all_sources() -> FakeEnv {
        FakeEnv::new()
            .var(PASSWORD_VAR, "fromenv")
            .file("/pw", "fromfile\n")
            .netrc(NETRC)
            .answer("fromprompt")
    }

    #[test]
    fn env_beats_file_netrc_and_prompt() {
        let env = all_sources();
        assert_eq!(pw(&env, Some("bob"), Some("/pw")).1, "fromenv");
        assert!(env.prompts.borrow().is_empty());
    }

    #[test]
    fn file_beats_netrc_and_prompt() {
        let mut env = all_sources();
        env.vars.clear();
        assert_eq!(pw(&env, Some("bob"), Some("/pw")).1, "fromfile");
    }

    #[test]
    fn netrc_beats_prompt() {
        let mut env = all_sources();
        env.vars.clear();
        assert_eq!(pw(&env, Some("bob"), None).1, "fromnetrc");
        assert!(env.prompts.borrow().is_empty());
    }

    #[test]
    fn prompt_is_last_resort() {
        let env = FakeEnv::new().answer("fromprompt");
        assert_eq!(pw(&env, Some("bob"), None).1, "fromprompt");
        assert_eq!(
            *env.prompts.borrow(),
            vec!["Password for bob@ftp.example.com: ".to_string()]
        );
    }

    #[test]
    fn empty_env_var_counts_as_unset() {
        let env = FakeEnv::new().var(PASSWORD_VAR, "").netrc(NETRC);
        assert_eq!(pw(&env, Some("bob"), None).1, "fromnetrc");
    }

    #[test]
    fn no_password_error() {
        let env = FakeEnv::new();
        let e = resolve(&env, Some("bob"), None).expect_err("no source");
        assert_eq!(
            e.to_string(),
            "no password for bob@ftp.example.com: set FTPFS_PASSWORD, use -o password_file=PATH or ~/.netrc"
        );
    }

    #[test]
    fn anonymous_defaults_without_prompt() {
        let env = FakeEnv::new().answer("never");
        assert_eq!(
            pw(&env, None, None),
            ("anonymous".into(), "anonymous@".into())
        );
        assert!(env.prompts.borrow().is_empty());
        let env = FakeEnv::new().var(PASSWORD_VAR, "me@example.org");
        assert_eq!(pw(&env, Some("anonymous"), None).1, "me@example.org");
    }

    #[test]
    fn netrc_supplies_login_when_url_has_none() {
        let env = FakeEnv::new().netrc(NETRC);
        assert_eq!(pw(&env, None, None), ("bob".into(), "fromnetrc".into()));
        // Host names compare case-insensitively.
        let c = resolve_credentials(&env, "FTP.Example.COM", None, None).expect("creds");
        assert_eq!(c.user, "bob");
    }

    #[test]
    fn netrc_entry_must_match_url_user() {
        let env = FakeEnv::new().netrc(NETRC);
        let e = resolve(&env, Some("alice"), None).expect_err("bob's password is not alice's");
        assert!(matches!(e, ConfigError::NoPassword { .. }));
        let env = FakeEnv::new().netrc(
            "machine ftp.example.com login bob password b\nmachine ftp.example.com login alice password a\n",
        );
        assert_eq!(pw(&env, Some("alice"), None).1, "a");
    }

    #[test]
    fn password_file_first_line_and_tilde() {
        let env = FakeEnv::new().file("/home/u/pw", "s3cret pass\r\nsecond line\n");
        assert_eq!(pw(&env, Some("bob"), Some("~/pw")).1, "s3cret pass");
    }

    #[test]
    fn password_file_errors() {
        let env = FakeEnv::new().file("/empty", "\n");
        let e = resolve(&env, Some("bob"), Some("/empty")).expect_err("empty");
        assert_eq!(e.to_string(), "password file /empty is empty");
        let e = resolve(&env, Some("bob"), Some("/missing")).expect_err("missing");
        assert!(
            e.to_string()
                .starts_with("cannot read password file /missing: ")
        );
    }

    #[test]
    fn password_with_line_break_is_rejected() {
        let env = FakeEnv::new().var(PASSWORD_VAR, "a\r\nDELE x");
        let e = resolve(&env, Some("bob"), None).expect_err("injection");
        assert!(e.to_string().contains("FTPFS_PASSWORD"));
        assert!(!e.to_string().contains("DELE"));
    }

    #[test]
    fn netrc_location_from_env_and_syntax_error() {
        let env = FakeEnv::new().var("NETRC", "/etc/my.netrc").file(
            "/etc/my.netrc",
            "machine ftp.example.com\n  login bob\n  password \"oops\n",
        );
        let e = resolve(&env, None, None).expect_err("syntax");
        assert_eq!(e.to_string(), "/etc/my.netrc:3: unterminated quoted string");
    }

    #[test]
    fn readable_mode_detection() {
        assert!(readable_by_others(0o100644));
        assert!(readable_by_others(0o100640));
        assert!(!readable_by_others(0o100600));
        assert!(!readable_by_others(0o100400));
    }

    #[test]
    fn netrc_missing_file_is_not_an_error() {
        let env = FakeEnv::new();
        assert_eq!(pw(&env, None, None).0, "anonymous");
    }
}
