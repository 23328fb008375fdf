//! What a [`super::Remote`] tells about itself for `ftpfs stats` and SIGUSR1: a plain
//! snapshot of counters and state, taken on demand ([`super::Remote::stats`]).
//!
//! Invariants:
//! - Nothing secret: no password, no file contents, no path of a file. Command kinds are
//!   verbs (`RETR`, `SITE CHMOD`), never whole command lines.
//! - Plain data: the core, the fake remote and the FTP remote fill it the same way, and the
//!   report (`crate::stats`) serializes it as it is (serde: the `--json` form is this struct).

use serde::{Deserialize, Serialize};

/// A snapshot of the remote side of a mount.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteStats {
    /// `host:port` of the server (`None` for a remote without one).
    pub server: Option<String>,
    /// Commands sent, by kind, in a stable order (see [`CommandStat`]).
    pub commands: Vec<CommandStat>,
    /// The connection pool, where there is one.
    pub pool: Option<PoolStats>,
    /// How data connections are made, where that applies.
    pub data: Option<DataStats>,
    /// Transfers (downloads and uploads) running now and since the mount.
    pub streams: StreamStats,
    /// Work done again after something failed.
    pub retries: RetryStats,
    /// What the server advertised (FEAT lines, trimmed).
    pub features: Vec<String>,
    /// FTPS only: what TLS negotiated.
    pub tls: Option<TlsStats>,
}

/// One kind of command: how many were sent and how many failed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandStat {
    /// The verb (`RETR`), with the sub-command for `SITE` (`SITE CHMOD`).
    pub verb: String,
    pub sent: u64,
    /// Answered with a reply code of 400 or more.
    pub errors: u64,
    /// Never answered: the connection failed, was cut or timed out first.
    pub no_reply: u64,
}

/// The control-connection pool.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolStats {
    /// Connections that exist now (busy + idle + logging in).
    pub connections: usize,
    /// Lent to an operation or a transfer.
    pub busy: usize,
    pub idle: usize,
    /// Logins running.
    pub logging_in: usize,
    /// Requests waiting for a connection.
    pub waiting: usize,
    /// Of the busy ones, held by transfers.
    pub streams: usize,
    /// The most that may exist now.
    pub limit: usize,
    /// `-o connections`.
    pub configured: usize,
    /// The server refused one more login (421, or 530 to working credentials): the limit
    /// learned from it, and the reply code.
    pub lowered: Option<Lowered>,
}

/// When the server lowered the pool's limit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lowered {
    /// The limit in force (logins that were running when the server refused may have raised
    /// it back, never above `-o connections`).
    pub to: usize,
    pub code: Option<u32>,
}

/// Data connections: the method chosen and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataStats {
    /// `-o data_mode`.
    pub configured: String,
    /// The method that works now (`EPSV`, `PASV`, `EPRT`, `PORT`), once one has.
    pub current: Option<String>,
    /// Methods the server rejected (never tried again).
    pub rejected: Vec<String>,
    /// Data connections that could not be made with a method.
    pub failures: u64,
    /// The last fallback to another method: what failed and what worked instead.
    pub last_fallback: Option<String>,
}

/// Transfers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamStats {
    /// Downloads (RETR) running now.
    pub downloads: u64,
    /// Uploads (STOR, APPE) running now.
    pub uploads: u64,
    pub downloads_total: u64,
    pub uploads_total: u64,
}

/// Retries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryStats {
    /// Operations retried on a fresh connection after the server closed theirs.
    pub fresh_connection: u64,
    /// Logins tried again after a connection error.
    pub login: u64,
    /// TLS sessions retired (tickets used up, or a data connection not resumed) and the
    /// transfer retried on another connection.
    pub tls_retired: u64,
    /// Times the data-connection method changed after another one failed.
    pub data_fallbacks: u64,
}

/// What TLS negotiated on the control connections.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsStats {
    /// `explicit` (AUTH TLS) or `implicit`.
    pub mode: String,
    /// The version of the last control connection set up (`TLSv1_3`).
    pub version: Option<String>,
    pub cipher: Option<String>,
    /// New connections use TLS 1.2 only (`-o tls_max=1.2`, or learned from the server).
    pub capped_to_1_2: bool,
}
