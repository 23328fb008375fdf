//! The seam between the filesystem core and the server: the [`Remote`] trait, the plain data
//! types it speaks in, and [`RemoteError`], the one error type every remote operation returns.
//!
//! Invariants:
//! - Paths handed to a `Remote` are absolute *mount-relative* paths: `/` is the mount root,
//!   components are separated by single `/`, never `.`/`..`, never a trailing `/` (except `/`).
//!   The implementation maps them onto the server (e.g. prefixing the remote root directory).
//! - A `Remote` is `Send + Sync`; every method may be called from several threads at once and
//!   must not hold a lock of the caller's across network I/O (it cannot: it sees none).
//! - A `RemoteError` says *what happened*; choosing the errno for a given POSIX operation is the
//!   core's job (a 550 is "not found" for a read but may be "permission denied" for a mkdir).

pub mod fake;
pub mod ftp;
pub mod stats;

use std::time::SystemTime;

use crate::memory::Buf;

/// What kind of object a directory entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
}

/// One entry of a remote directory listing, as parsed from MLSD or LIST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteEntry {
    /// File name only (no slashes), exactly as the server sent it.
    pub name: String,
    pub kind: FileKind,
    /// Size in bytes (0 when unknown).
    pub size: u64,
    /// Modification time, when the listing carries one.
    pub mtime: Option<SystemTime>,
    /// Permission bits (`& 0o7777`) when the listing carries them.
    pub mode: Option<u32>,
    /// Target of a symlink, when known.
    pub link_target: Option<String>,
}

/// What the server can do, as far as the core needs to know (decided from FEAT after login).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Modification times can be set (MFMT, or another method the session found).
    pub set_mtime: bool,
    /// Permission bits can be set (`SITE CHMOD`); `None` when not yet known.
    pub chmod: Option<bool>,
}

/// The text of a [`RemoteError`] and, when a server reply caused it, the reply code (so that
/// callers decide by number, never by reading the code back out of the text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail {
    /// Complete message: what failed and, for a reply, its code and last line.
    pub text: String,
    /// The FTP reply code, when the error is a server's reply.
    pub code: Option<u32>,
}

impl Detail {
    /// A message caused by the reply `code`.
    pub fn reply(code: u32, text: String) -> Detail {
        Detail {
            text,
            code: Some(code),
        }
    }
}

impl From<String> for Detail {
    fn from(text: String) -> Detail {
        Detail { text, code: None }
    }
}

impl From<&str> for Detail {
    fn from(text: &str) -> Detail {
        Detail::from(text.to_string())
    }
}

impl std::ops::Deref for Detail {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Display for Detail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Why a remote operation failed; the message is complete (says what failed and the server's
/// reply) so it can be shown as it is, and a reply's code travels with it ([`Detail::code`]).
/// Classified from FTP reply codes and socket errors by the FTP layer; mapped onto errno by
/// the core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// 550 and friends: "file unavailable" (not found, or no access: the server does not say
    /// which). The core decides by context.
    #[error("{0}")]
    Unavailable(Detail),
    /// 530/532/534: not logged in / need account / policy refuses.
    #[error("{0}")]
    PermissionDenied(Detail),
    /// 553: file name not allowed.
    #[error("{0}")]
    BadName(Detail),
    /// A name the server's encoding (`-o encoding`) cannot write exactly: refused before
    /// anything was sent (EINVAL).
    #[error("{0}")]
    Unencodable(Detail),
    /// A name or a command line too long for the server: refused before sending (longer
    /// than `-o max_command_line`), or the server said so ("File name too long", vsftpd's
    /// "500 Input line too long.").
    #[error("{0}")]
    NameTooLong(Detail),
    /// 552: exceeded storage allocation.
    #[error("{0}")]
    NoSpace(Detail),
    /// 500/502/504 for a command, or a feature the server does not advertise.
    #[error("{0}")]
    Unsupported(Detail),
    /// A deadline passed (connect, reply, data).
    #[error("{0}")]
    Timeout(Detail),
    /// The connection failed or was lost, or the server is shutting down (421).
    #[error("{0}")]
    Connection(Detail),
    /// The data connection could not be made or broke (refused, timed out, 425/426).
    #[error("{0}")]
    DataConnection(Detail),
    /// TLS could not be set up or kept (a refused certificate, `AUTH TLS` or `PROT P`
    /// refused, a failed handshake): never retried as a connection error, never a reason to
    /// fall back to plain text.
    #[error("{0}")]
    Tls(Detail),
    /// Any other refusal or malformed reply.
    #[error("{0}")]
    Other(Detail),
}

impl RemoteError {
    /// The errno that best describes this error when the operation gives no better context.
    pub fn errno(&self) -> i32 {
        match self {
            RemoteError::Unavailable(_) => libc::ENOENT,
            RemoteError::PermissionDenied(_) => libc::EACCES,
            RemoteError::BadName(_) | RemoteError::Unencodable(_) => libc::EINVAL,
            RemoteError::NameTooLong(_) => libc::ENAMETOOLONG,
            RemoteError::NoSpace(_) => libc::ENOSPC,
            RemoteError::Unsupported(_) => libc::ENOTSUP,
            RemoteError::Timeout(_) => libc::ETIMEDOUT,
            RemoteError::Connection(_)
            | RemoteError::DataConnection(_)
            | RemoteError::Tls(_)
            | RemoteError::Other(_) => libc::EIO,
        }
    }

    fn detail(&self) -> &Detail {
        match self {
            RemoteError::Unavailable(d)
            | RemoteError::PermissionDenied(d)
            | RemoteError::BadName(d)
            | RemoteError::Unencodable(d)
            | RemoteError::NameTooLong(d)
            | RemoteError::NoSpace(d)
            | RemoteError::Unsupported(d)
            | RemoteError::Timeout(d)
            | RemoteError::Connection(d)
            | RemoteError::DataConnection(d)
            | RemoteError::Tls(d)
            | RemoteError::Other(d) => d,
        }
    }

    /// The server's reply code, when a reply caused this error.
    pub fn code(&self) -> Option<u32> {
        self.detail().code
    }
}

pub type RemoteResult<T> = Result<T, RemoteError>;

/// A download in progress (one RETR). Dropping it without [`ReadStream::close`] also ends the
/// transfer, but `close` reports how.
pub trait ReadStream: Send {
    /// Reads up to `buf.len()` bytes; `Ok(0)` is the end of the file.
    fn read(&mut self, buf: &mut [u8]) -> RemoteResult<usize>;
    /// Ends the transfer (aborting it when not at the end) and gives the connection back.
    fn close(self: Box<Self>);
    /// Whether another request waits for the connection this download holds.
    fn wanted(&self) -> Wanted {
        Wanted::No
    }
}

/// How much another request needs a download's connection ([`ReadStream::wanted`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wanted {
    No,
    /// A request waits and the pool is at its limit: a download whose reader has paused
    /// should give its connection back.
    IfPaused,
    /// A listing or metadata request waits and downloads hold every connection there is
    /// (a pool of one): give it back now and resume later.
    Now,
}

/// An upload in progress (one STOR). The file is complete on the server only once
/// [`WriteStream::finish`] returned `Ok`.
pub trait WriteStream: Send {
    fn write_all(&mut self, data: &[u8]) -> RemoteResult<()>;
    /// Like `write_all`, taking the buffer (an upload queue keeps it instead of a copy).
    fn write_buf(&mut self, data: Buf) -> RemoteResult<()> {
        self.write_all(&data)
    }
    /// Like `write_buf`, but the buffers come back once written, for the caller to fill
    /// again: returns the oldest one once written when `depth` of them are out (else
    /// `None`). A caller cycling through its own few buffers needs no new memory while it
    /// holds the connection (staged-copy uploads).
    fn write_keep(&mut self, data: Buf, _depth: usize) -> RemoteResult<Option<Buf>> {
        self.write_all(&data).map(|()| Some(data))
    }
    /// Closes the data connection and waits for the server's verdict (226).
    fn finish(self: Box<Self>) -> RemoteResult<()>;
}

/// Everything the core needs from a server.
pub trait Remote: Send + Sync + 'static {
    /// Lists a directory (without `.` and `..`).
    fn list(&self, dir: &str) -> RemoteResult<Vec<RemoteEntry>>;
    /// Starts a download at `offset`.
    fn open_read(&self, path: &str, offset: u64) -> RemoteResult<Box<dyn ReadStream>>;
    /// Starts an upload that replaces the file's content (created when missing).
    fn open_write(&self, path: &str) -> RemoteResult<Box<dyn WriteStream>>;
    /// Starts an upload that appends to the file (APPE).
    fn open_append(&self, path: &str) -> RemoteResult<Box<dyn WriteStream>>;
    fn mkdir(&self, path: &str) -> RemoteResult<()>;
    fn rmdir(&self, path: &str) -> RemoteResult<()>;
    fn delete(&self, path: &str) -> RemoteResult<()>;
    /// Renames; whether an existing target is replaced is up to the server.
    fn rename(&self, from: &str, to: &str) -> RemoteResult<()>;
    fn set_mtime(&self, path: &str, mtime: SystemTime) -> RemoteResult<()>;
    /// The file's size as the server says now (`SIZE`, binary mode), asked when a download
    /// ended before the size the listing promised; `Unsupported` where the server has no
    /// SIZE (the core then lists the directory afresh).
    fn size(&self, path: &str) -> RemoteResult<u64>;
    fn chmod(&self, path: &str, mode: u32) -> RemoteResult<()>;
    /// Creates a symlink at `path` pointing to `target` (`SITE SYMLINK`), where the server
    /// has it; `Unsupported` otherwise.
    fn symlink(&self, target: &str, path: &str) -> RemoteResult<()>;
    fn capabilities(&self) -> Capabilities;
    /// A snapshot of counters and state for `ftpfs stats` (nothing secret); cheap: it takes
    /// only short locks, never waits on the network.
    fn stats(&self) -> stats::RemoteStats {
        stats::RemoteStats::default()
    }
}

/// Joins a mount-relative directory path and a name.
pub fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Splits a mount-relative path into (parent, name); `None` for the root.
pub fn split(path: &str) -> Option<(&str, &str)> {
    if path == "/" {
        return None;
    }
    let i = path.rfind('/')?;
    let parent = if i == 0 { "/" } else { &path[..i] };
    Some((parent, &path[i + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_and_split_round_trip() {
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b c"), "/a/b c");
        assert_eq!(split("/a/b c"), Some(("/a", "b c")));
        assert_eq!(split("/a"), Some(("/", "a")));
        assert_eq!(split("/"), None);
    }
}
