//! The core's error type: an errno plus a human-readable reason. Every core operation returns
//! [`FsResult`]; the FUSE adapter logs the reason once and replies with the errno.
//!
//! Invariant: the errno chosen here is the one the POSIX caller sees; nothing below the core
//! picks errnos for operations (see [`crate::remote::RemoteError::errno`] for the defaults the
//! core falls back to when context adds nothing).

use crate::remote::RemoteError;

/// An errno with its reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg} (errno {errno})")]
pub struct FsError {
    pub errno: i32,
    pub msg: String,
}

impl FsError {
    pub fn new(errno: i32, msg: impl Into<String>) -> Self {
        FsError {
            errno,
            msg: msg.into(),
        }
    }

    /// From a remote failure, with the operation and path for the log.
    pub fn remote(op: &str, path: &str, err: &RemoteError) -> Self {
        FsError::new(err.errno(), format!("{op} {path}: {err}"))
    }

    /// From a remote failure with a chosen errno.
    pub fn remote_as(errno: i32, op: &str, path: &str, err: &RemoteError) -> Self {
        FsError::new(errno, format!("{op} {path}: {err}"))
    }
}

pub type FsResult<T> = Result<T, FsError>;

pub fn enoent(path: &str) -> FsError {
    FsError::new(libc::ENOENT, format!("{path}: no such file or directory"))
}
