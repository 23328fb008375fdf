//! The running transfers of [`super::FtpRemote`]: a download ([`FtpRead`], one RETR) and an
//! upload ([`FtpWrite`], one STOR or APPE fed through an [`Uploader`] thread), each holding
//! its pooled connection for its whole life.
//!
//! Invariants:
//! - A transfer ends with the server's verdict (226) or is aborted (ABOR, within one
//!   `timeout` for the command and all its replies); if the answers are not the expected
//!   ones, the connection is dropped rather than reused.
//! - A transfer whose data connection failed or stalled (no byte for `timeout`) is not
//!   aborted: the connection is dropped at once, so no further wait (ABOR, NOOP, a verdict
//!   that will not come) adds to the one that already ran out.
//! - A finished transfer's connection is recycled (its next passive data connection is
//!   opened while it is idle).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::pool::Conn;
use super::transfer::DataConn;
use super::upload::Uploader;
use crate::memory::Buf;
use crate::remote::{ReadStream, RemoteError, RemoteResult, Wanted, WriteStream};

/// How long a download that ran out of time fails again at once (see [`RecentTimeout`]).
const AGAIN_WITHIN: Duration = Duration::from_secs(1);

/// The last download that ran out of time (its RETR unanswered, or its data stopped): the
/// kernel retries a failed read once at once (a failed read-ahead is read again page by
/// page), and that retry must not cost another full timeout on the same server.
#[derive(Default)]
pub struct RecentTimeout {
    last: Mutex<Option<(String, Instant, RemoteError)>>,
}

impl RecentTimeout {
    /// Records that a download of `path` ran out of time (other errors are not recorded).
    pub fn note(&self, path: &str, e: &RemoteError) {
        if matches!(e, RemoteError::Timeout(_)) {
            let mut l = self.last.lock().unwrap_or_else(|p| p.into_inner());
            *l = Some((path.to_string(), Instant::now(), e.clone()));
        }
    }

    /// The error of a download of `path` that ran out of time a moment ago.
    pub fn again(&self, path: &str) -> Option<RemoteError> {
        let l = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match l.as_ref() {
            Some((p, at, e)) if p == path && at.elapsed() < AGAIN_WITHIN => Some(e.clone()),
            _ => None,
        }
    }
}

/// Ends a data connection of `conn`'s session with the server's verdict (see
/// [`DataConn::finish`]); the error is recorded on the session.
fn finish(conn: &mut Option<Conn>, dc: DataConn) -> RemoteResult<()> {
    match conn.as_mut() {
        Some(c) => c.session().finish(dc),
        None => Err(RemoteError::Connection(
            "the transfer lost its control connection".into(),
        )),
    }
}

/// Marks the session of `conn` dead (when there is one).
fn kill(conn: &mut Option<Conn>) {
    if let Some(c) = conn.as_mut() {
        c.session().dead = true;
    }
}

/// A running RETR.
pub struct FtpRead {
    conn: Option<Conn>,
    dc: Option<DataConn>,
    /// The file (its server path), and where a timeout is recorded.
    path: String,
    recent: Arc<RecentTimeout>,
}

impl FtpRead {
    /// A download whose data connection is open (its 1xx came): from here on its waits are
    /// bounded by inactivity, not by the deadline of the request that opened it.
    pub fn new(mut conn: Conn, dc: DataConn, path: &str, recent: Arc<RecentTimeout>) -> FtpRead {
        conn.unbounded();
        FtpRead {
            conn: Some(conn),
            dc: Some(dc),
            path: path.to_string(),
            recent,
        }
    }
}

impl ReadStream for FtpRead {
    fn read(&mut self, buf: &mut [u8]) -> RemoteResult<usize> {
        let Some(dc) = self.dc.as_mut() else {
            return Ok(0);
        };
        match dc.read(buf) {
            Ok(0) => {
                let Some(dc) = self.dc.take() else {
                    return Ok(0);
                };
                // End of data: the transfer is good only if the server says 226.
                finish(&mut self.conn, dc)?;
                Ok(0)
            }
            Ok(n) => Ok(n),
            Err(e) => {
                // No ABOR: its replies would wait again on a server that already let a
                // timeout pass; the connection is dropped instead.
                self.dc = None;
                kill(&mut self.conn);
                self.recent.note(&self.path, &e);
                Err(e)
            }
        }
    }

    fn close(mut self: Box<Self>) {
        self.abort();
    }

    fn wanted(&self) -> Wanted {
        self.conn.as_ref().map_or(Wanted::No, Conn::wanted)
    }
}

impl FtpRead {
    fn abort(&mut self) {
        let Some(dc) = self.dc.take() else {
            return;
        };
        if let Some(c) = self.conn.as_mut()
            && let Err(e) = c.session().abort(dc)
        {
            log::debug!("ABOR answered unexpectedly ({e}); dropping the connection");
        }
    }
}

impl Drop for FtpRead {
    fn drop(&mut self) {
        self.abort();
        if let Some(c) = self.conn.take() {
            c.recycle();
        }
    }
}

/// A running STOR/APPE: written through an [`Uploader`] thread (directly to the data
/// connection if no thread could be started).
pub struct FtpWrite {
    conn: Option<Conn>,
    up: Option<Uploader>,
    dc: Option<DataConn>,
    /// The first write error (sticky).
    failed: Option<RemoteError>,
}

impl FtpWrite {
    /// An upload whose data connection is open (see [`FtpRead::new`] for its waits).
    pub fn new(mut conn: Conn, dc: DataConn) -> Self {
        conn.unbounded();
        let mut conn = Some(conn);
        let (up, dc) = match Uploader::start(dc) {
            Ok(up) => (Some(up), None),
            Err(dc) => {
                if dc.is_none() {
                    kill(&mut conn);
                }
                (None, dc)
            }
        };
        FtpWrite {
            conn,
            up,
            dc,
            failed: None,
        }
    }

    /// Ends the uploader thread (after every queued chunk was written), keeping its data
    /// connection; returns the first write error.
    fn stop_uploader(&mut self) -> RemoteResult<()> {
        let Some(mut up) = self.up.take() else {
            return Ok(());
        };
        match up.stop() {
            Some((dc, r)) => {
                self.dc = Some(dc);
                r
            }
            None => {
                kill(&mut self.conn);
                Err(RemoteError::Connection("the upload thread failed".into()))
            }
        }
    }
}

impl FtpWrite {
    fn write_inner(&mut self, data: Buf) -> RemoteResult<()> {
        if let Some(up) = self.up.as_mut() {
            return match up.write_buf(data) {
                Ok(()) => Ok(()),
                // The thread stopped at an earlier chunk's error: that error is the one.
                Err(e) => self.stop_uploader().and(Err(e)),
            };
        }
        match self.dc.as_mut() {
            Some(dc) => dc.write_all(&data),
            None => Err(RemoteError::Other("upload already finished".into())),
        }
    }
}

impl WriteStream for FtpWrite {
    /// After a failed write nothing more is written (queued chunks were dropped): every
    /// later write and the finish report the first error.
    fn write_all(&mut self, data: &[u8]) -> RemoteResult<()> {
        // Callers with a budget hand over buffers (`write_buf`); this copy is outside it.
        self.write_buf(Buf::unbudgeted(data.to_vec()))
    }

    fn write_keep(&mut self, data: Buf, depth: usize) -> RemoteResult<Option<Buf>> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = match self.up.as_mut() {
            Some(up) => match up.write_keep(data, depth) {
                Ok(b) => Ok(b),
                // The thread stopped at an earlier chunk's error: that error is the one.
                Err(e) => self.stop_uploader().and(Err(e)),
            },
            None => match self.dc.as_mut() {
                Some(dc) => dc.write_all(&data).map(|()| Some(data)),
                None => Err(RemoteError::Other("upload already finished".into())),
            },
        };
        r.inspect_err(|e| self.failed = Some(e.clone()))
    }

    /// The buffer goes to the upload thread's queue as it is (no copy).
    fn write_buf(&mut self, data: Buf) -> RemoteResult<()> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.write_inner(data)
            .inspect_err(|e| self.failed = Some(e.clone()))
    }

    fn finish(mut self: Box<Self>) -> RemoteResult<()> {
        let written = self
            .stop_uploader()
            .and(self.failed.take().map_or(Ok(()), Err));
        if let Err(e @ RemoteError::Timeout(_)) = &written {
            // The server stopped reading: its verdict would cost another timeout.
            self.dc = None;
            kill(&mut self.conn);
            return Err(e.clone());
        }
        let verdict = match self.dc.take() {
            Some(dc) => finish(&mut self.conn, dc),
            None => Ok(()),
        };
        // The server's verdict says more (552 quota) than the failed write (broken pipe).
        verdict.and(written)
    }
}

impl Drop for FtpWrite {
    fn drop(&mut self) {
        let _ = self.stop_uploader();
        // Dropped without finish (an error path): close the data connection and read the
        // verdict so the control connection stays in step; drop it if that fails.
        if let Some(dc) = self.dc.take()
            && finish(&mut self.conn, dc).is_err()
        {
            kill(&mut self.conn);
        }
        if let Some(c) = self.conn.take() {
            c.recycle();
        }
    }
}
