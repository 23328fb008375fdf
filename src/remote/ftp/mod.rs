//! The FTP implementation of [`Remote`]: the only code that speaks FTP. [`FtpRemote`] borrows a
//! connection from the [`pool::Pool`] per operation (or per open stream) and runs the
//! commands of [`session::Session`] on it.
//!
//! Invariants:
//! - A metadata operation that fails because a *reused* idle connection turned out dead is
//!   retried once on a fresh connection when it is safe to repeat (listings, RETR/STOR starts,
//!   MFMT, SITE CHMOD); the user never sees a stale connection.
//! - A download stream that is closed before the end is aborted (ABOR); if the server's answer
//!   to that is not the expected one, the connection is dropped rather than reused.

pub mod listing;
pub mod pool;
pub mod session;

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use suppaftp::{FtpStream, ImplFtpStream, TlsStream, TransferStream};

use self::pool::{Conn, Pool, Use};
use self::session::{Session, Shared, classify};
use super::{
    Capabilities, ReadStream, Remote, RemoteEntry, RemoteError, RemoteResult, WriteStream,
};

/// Names the TLS parameter of [`FtpStream`]: suppaftp 12 does not export `NoTlsStream`, which
/// a [`TransferStream`] of a plain connection is generic over.
pub trait StreamKind {
    type Tls: TlsStream;
}

impl<T: TlsStream> StreamKind for ImplFtpStream<T> {
    type Tls = T;
}

/// A data transfer on a plain FTP connection.
pub type Transfer = TransferStream<<FtpStream as StreamKind>::Tls>;

/// Connection settings of a mount.
#[derive(Clone)]
pub struct FtpConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// The server directory mounted as `/`.
    pub root: String,
    /// Deadline for every network wait.
    pub timeout: Duration,
    /// Size of the connection pool.
    pub connections: usize,
}

impl std::fmt::Debug for FtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"****")
            .field("root", &self.root)
            .field("timeout", &self.timeout)
            .field("connections", &self.connections)
            .finish()
    }
}

/// The FTP remote of one mount.
pub struct FtpRemote {
    pool: Arc<Pool>,
    caps: Capabilities,
}

impl FtpRemote {
    /// Connects and logs in once (so that bad credentials fail here), keeping that connection.
    pub fn connect(cfg: FtpConfig) -> RemoteResult<FtpRemote> {
        let pool = Pool::new(Arc::new(cfg), Arc::new(Shared::default()));
        let mut conn = pool.get(Use::Meta)?;
        let feats = conn.session().feats.clone();
        log::info!(
            "connected; server features: {}",
            if feats.raw.is_empty() {
                "none advertised".to_string()
            } else {
                feats.raw.join(", ")
            }
        );
        drop(conn);
        Ok(FtpRemote {
            pool,
            caps: Capabilities {
                set_mtime: feats.mfmt,
                chmod: None,
            },
        })
    }

    /// Sends QUIT on idle connections.
    pub fn shutdown(&self) {
        self.pool.shutdown();
    }

    /// Runs `f` on a pooled connection; retries once on a fresh one when a reused connection
    /// failed at the control level and `retry_safe`.
    fn run<T>(
        &self,
        retry_safe: bool,
        mut f: impl FnMut(&mut Session) -> RemoteResult<T>,
    ) -> RemoteResult<T> {
        let mut conn = self.pool.get(Use::Meta)?;
        match f(conn.session()) {
            Err(e) if retry_safe && conn.reused && conn.session().dead => {
                log::debug!("retrying on a fresh connection after: {e}");
                drop(conn);
                let mut conn = self.pool.get(Use::Meta)?;
                f(conn.session())
            }
            r => r,
        }
    }

    /// Borrows a stream connection and starts a transfer on it (retrying once like `run`).
    fn stream(
        &self,
        mut start: impl FnMut(&mut Session) -> RemoteResult<Transfer>,
    ) -> RemoteResult<(Conn, Transfer)> {
        let mut conn = self.pool.get(Use::Stream)?;
        match start(conn.session()) {
            Ok(t) => Ok((conn, t)),
            Err(e) if conn.reused && conn.session().dead => {
                log::debug!("retrying on a fresh connection after: {e}");
                drop(conn);
                let mut conn = self.pool.get(Use::Stream)?;
                let t = start(conn.session())?;
                Ok((conn, t))
            }
            Err(e) => Err(e),
        }
    }
}

impl Remote for FtpRemote {
    fn list(&self, dir: &str) -> RemoteResult<Vec<RemoteEntry>> {
        self.run(true, |s| s.list(dir))
    }

    fn open_read(&self, path: &str, offset: u64) -> RemoteResult<Box<dyn ReadStream>> {
        let (conn, transfer) = self.stream(|s| {
            let abs = s.abs(path);
            let what = format!("RETR {abs}");
            s.with_data(&what, |ftp| {
                ftp.resume_transfer(offset as usize)?;
                ftp.retr_as_stream(&abs)
            })
        })?;
        Ok(Box::new(FtpRead {
            conn,
            transfer: Some(transfer),
            what: format!("download of {path}"),
        }))
    }

    fn open_write(&self, path: &str) -> RemoteResult<Box<dyn WriteStream>> {
        let (conn, transfer) = self.stream(|s| {
            let abs = s.abs(path);
            s.with_data(&format!("STOR {abs}"), |ftp| ftp.put_with_stream(&abs))
        })?;
        Ok(Box::new(FtpWrite {
            conn,
            transfer: Some(transfer),
            what: format!("upload of {path}"),
        }))
    }

    fn open_append(&self, path: &str) -> RemoteResult<Box<dyn WriteStream>> {
        let mut conn = self.pool.get(Use::Stream)?;
        let s = conn.session();
        let abs = s.abs(path);
        let transfer = s.with_data(&format!("APPE {abs}"), |ftp| ftp.append_with_stream(&abs))?;
        Ok(Box::new(FtpWrite {
            conn,
            transfer: Some(transfer),
            what: format!("append to {path}"),
        }))
    }

    fn mkdir(&self, path: &str) -> RemoteResult<()> {
        self.run(false, |s| s.mkdir(path))
    }

    fn rmdir(&self, path: &str) -> RemoteResult<()> {
        self.run(false, |s| s.rmdir(path))
    }

    fn delete(&self, path: &str) -> RemoteResult<()> {
        self.run(false, |s| s.delete(path))
    }

    fn rename(&self, from: &str, to: &str) -> RemoteResult<()> {
        self.run(false, |s| s.rename(from, to))
    }

    fn set_mtime(&self, path: &str, mtime: SystemTime) -> RemoteResult<()> {
        self.run(true, |s| s.set_mtime(path, mtime))
    }

    fn chmod(&self, path: &str, mode: u32) -> RemoteResult<()> {
        self.run(true, |s| s.chmod(path, mode))
    }

    fn capabilities(&self) -> Capabilities {
        self.caps
    }
}

fn data_error(what: &str, e: &std::io::Error) -> RemoteError {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            RemoteError::Timeout(format!("{what}: no data from the server in time"))
        }
        _ => RemoteError::DataConnection(format!("{what}: {e}")),
    }
}

/// A running RETR.
struct FtpRead {
    conn: Conn,
    transfer: Option<Transfer>,
    what: String,
}

impl ReadStream for FtpRead {
    fn read(&mut self, buf: &mut [u8]) -> RemoteResult<usize> {
        let Some(t) = self.transfer.as_mut() else {
            return Ok(0);
        };
        match t.read(buf) {
            Ok(0) => {
                let Some(t) = self.transfer.take() else {
                    return Ok(0);
                };
                // End of data: the transfer is good only if the server says 226.
                t.finish().map_err(|e| {
                    let e = classify(e, &self.what);
                    if matches!(e, RemoteError::Connection(_) | RemoteError::Timeout(_)) {
                        self.conn.session().dead = true;
                    }
                    e
                })?;
                Ok(0)
            }
            Ok(n) => Ok(n),
            Err(e) => {
                let err = data_error(&self.what, &e);
                self.abort();
                Err(err)
            }
        }
    }

    fn close(mut self: Box<Self>) {
        self.abort();
    }
}

impl FtpRead {
    fn abort(&mut self) {
        if let Some(t) = self.transfer.take() {
            let session = self.conn.session();
            if let Err(e) = session.ftp.abort(t) {
                log::debug!(
                    "{}: ABOR answered unexpectedly ({e}); dropping the connection",
                    self.what
                );
                session.dead = true;
            }
        }
    }
}

impl Drop for FtpRead {
    fn drop(&mut self) {
        self.abort();
    }
}

/// A running STOR/APPE.
struct FtpWrite {
    conn: Conn,
    transfer: Option<Transfer>,
    what: String,
}

impl WriteStream for FtpWrite {
    fn write_all(&mut self, data: &[u8]) -> RemoteResult<()> {
        let Some(t) = self.transfer.as_mut() else {
            return Err(RemoteError::Other(format!(
                "{}: already finished",
                self.what
            )));
        };
        t.write_all(data).map_err(|e| data_error(&self.what, &e))
    }

    fn finish(mut self: Box<Self>) -> RemoteResult<()> {
        let Some(t) = self.transfer.take() else {
            return Ok(());
        };
        t.finish().map_err(|e| {
            let e = classify(e, &self.what);
            if matches!(e, RemoteError::Connection(_) | RemoteError::Timeout(_)) {
                self.conn.session().dead = true;
            }
            e
        })
    }
}

impl Drop for FtpWrite {
    fn drop(&mut self) {
        // Dropped without finish (an error path): close the data connection and read the
        // verdict so the control connection stays in step; drop it if that fails.
        if let Some(t) = self.transfer.take()
            && t.finish().is_err()
        {
            self.conn.session().dead = true;
        }
    }
}
