//! An open data connection ([`DataConn`]): reads and writes with the socket's inactivity
//! timeout (or an earlier deadline, for listings), then the end of the transfer over the
//! session's control connection: the server's verdict ([`DataConn::finish`]) or an abort
//! ([`DataConn::abort`]).
//!
//! Invariants:
//! - Bytes of user data moved (RETR, STOR, APPE; not listings) count as the pool's progress
//!   ([`Progress`]): requests waiting for a connection keep waiting while they flow.
//! - An ABOR and all its replies take at most `timeout` together (and never go beyond the
//!   operation's deadline).
//! - A TLS data connection is closed with a close_notify only when the transfer is complete
//!   (an upload's end); a cut transfer's socket is closed without one.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use suppaftp::TlsStream as _;

use std::os::fd::AsRawFd;

use super::control::{Control, Reply, Transport};
use super::pool::Progress;
use super::session::{Shared, classify_reply};
use super::transfer::DataSock;
use super::watch::Watched;
use crate::remote::RemoteError;

/// An open data connection; the session's control connection reports its end
/// ([`DataConn::finish`], [`DataConn::abort`]).
pub struct DataConn {
    /// Where its waits are registered (for unmount); declared before `data` so that it is
    /// unregistered before the socket closes, and dropped by hand before `data` is.
    watched: Option<Watched>,
    data: Option<DataSock>,
    what: String,
    /// STOR/APPE: we write, the server reads.
    upload: bool,
    /// Where moved bytes of user data are counted (none for listings).
    progress: Option<Arc<Progress>>,
}

/// How long an upload's TLS close waits for the server's end of the stream (and the session
/// ticket that comes before it).
const TLS_CLOSE_WAIT: Duration = Duration::from_secs(1);

impl DataConn {
    /// A data connection for the command `what`, registered with the mount's watch; user
    /// data (RETR, STOR, APPE, STOU) counts its bytes as the pool's progress.
    pub fn new(data: DataSock, what: String, shared: Option<&Shared>) -> Self {
        let progress = shared.map(|s| Arc::clone(&s.progress));
        let watched = shared.and_then(|s| {
            let fd = data.0.as_ref()?.get_ref().as_raw_fd();
            Some(s.watch.register(fd, "data connection"))
        });
        let verb = what.split(' ').next().unwrap_or("");
        let upload = ["STOR", "APPE", "STOU"]
            .iter()
            .any(|v| v.eq_ignore_ascii_case(verb));
        let user_data = upload || verb.eq_ignore_ascii_case("RETR");
        DataConn {
            watched,
            data: Some(data),
            what,
            upload,
            progress: progress.filter(|_| user_data),
        }
    }

    /// The command this data connection serves.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Whether the mount is being unmounted (no watch: never).
    pub fn closing(&self) -> bool {
        self.watched.as_ref().is_some_and(Watched::closing)
    }

    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, RemoteError> {
        let Some(d) = self.data.as_mut() else {
            return Ok(0);
        };
        let _waiting = self.watched.as_ref().map(Watched::waiting);
        loop {
            match d.read(buf) {
                Ok(n) => {
                    if n > 0
                        && let Some(p) = &self.progress
                    {
                        p.bump();
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.error(&e)),
            }
        }
    }

    /// Like [`DataConn::read`], waiting no later than `deadline` (`timeout`: the socket's
    /// own inactivity timeout, to put back afterwards).
    pub fn read_until(
        &mut self,
        buf: &mut [u8],
        deadline: Instant,
        timeout: Duration,
    ) -> Result<usize, RemoteError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(RemoteError::Timeout(
                format!("{}: the time for it ran out", self.what).into(),
            ));
        }
        let short = left < timeout;
        if short && let Some(t) = self.data.as_ref().and_then(|d| d.0.as_ref()) {
            t.get_ref()
                .set_read_timeout(Some(left))
                .map_err(|e| data_error(&self.what, &e))?;
        }
        let r = self.read(buf);
        if short
            && let Some(t) = self.data.as_ref().and_then(|d| d.0.as_ref())
            && let Err(e) = t.get_ref().set_read_timeout(Some(timeout))
        {
            log::debug!("{}: restoring the read timeout: {e}", self.what);
        }
        r
    }

    pub fn write_all(&mut self, buf: &[u8]) -> Result<(), RemoteError> {
        let Some(d) = self.data.as_mut() else {
            return Err(RemoteError::Other(
                format!("{}: already finished", self.what).into(),
            ));
        };
        // In pieces, so that a slow but moving upload counts as progress as it goes.
        let waiting = self.watched.as_ref().map(Watched::waiting);
        for piece in buf.chunks(256 << 10) {
            if let Err(e) = d.write_all(piece) {
                drop(waiting);
                return Err(self.error(&e));
            }
            if let Some(p) = &self.progress {
                p.bump();
            }
            if let Some(w) = &self.watched {
                w.touch();
            }
        }
        Ok(())
    }

    /// The error of a failed read or write: cut at unmount, or what the socket said.
    fn error(&self, e: &std::io::Error) -> RemoteError {
        match &self.watched {
            Some(w) if w.was_cut() => RemoteError::Connection(
                format!(
                    "{}: unmounting: gave up waiting for the server, which had been silent",
                    self.what
                )
                .into(),
            ),
            _ => data_error(&self.what, e),
        }
    }

    /// Closes the data connection and reads the server's verdict (226/250) from `ctl`.
    pub fn finish(mut self, ctl: &mut Control) -> Result<(), RemoteError> {
        self.watched = None;
        if let Some(d) = self.data.take() {
            close_data(d, self.upload);
        }
        let r = ctl.reply()?;
        match r.code {
            226 | 250 => Ok(()),
            _ => Err(classify_reply(r.code, r.last_line(), &self.what)),
        }
    }

    /// Ends a transfer early: ABOR, close the data connection (without a TLS close: the
    /// transfer is cut, not complete), read the replies. A transfer the server cancelled
    /// answers 426 (or 451) and then 226. A transfer that had already ended answers 226 (its
    /// end) and then 225/226 (for the ABOR) — or a single 225/226 when the server folds the
    /// two; proftpd over TLS answers 226 (the ABOR) before the 426 (the transfer); 1xx replies
    /// in between are skipped ([`final_reply`]). So after a
    /// first 225/226 a NOOP, sent only now (servers discard what arrives with ABOR), tells
    /// where the replies end. Anything unexpected is an error: the caller drops the session.
    pub fn abort(mut self, ctl: &mut Control) -> Result<(), RemoteError> {
        // The ABOR and all its replies within one timeout (and the operation's deadline).
        let before = ctl.limit();
        let mine = Instant::now() + ctl.timeout();
        ctl.set_limit(Some(before.map_or(mine, |b| b.min(mine))));
        let r = self.abort_inner(ctl);
        ctl.set_limit(before);
        r
    }

    fn abort_inner(&mut self, ctl: &mut Control) -> Result<(), RemoteError> {
        ctl.send("ABOR")?;
        self.watched = None;
        drop(self.data.take());
        let r = final_reply(ctl)?;
        match r.code {
            426 | 450 | 451 | 552 => {
                let r2 = final_reply(ctl)?;
                match r2.code {
                    225 | 226 => Ok(()),
                    _ => Err(RemoteError::Other(
                        format!("ABOR: {}", r2.last_line()).into(),
                    )),
                }
            }
            225 | 226 | 250 => {
                ctl.send("NOOP")?;
                for _ in 0..3 {
                    let r = final_reply(ctl)?;
                    match r.code {
                        200 => return Ok(()),
                        225 | 226 | 250 | 426 | 450 | 451 => {}
                        _ => {
                            return Err(RemoteError::Other(
                                format!("ABOR: {}", r.last_line()).into(),
                            ));
                        }
                    }
                }
                Err(RemoteError::Other("ABOR: no end to the replies".into()))
            }
            _ => Err(RemoteError::Other(
                format!("ABOR: {}", r.last_line()).into(),
            )),
        }
    }
}

/// The next reply that is not preliminary: around an ABOR some servers say more in 1xx
/// replies (pure-ftpd: `150 0.103 seconds (measured here), …` before its 226), which answer
/// nothing.
fn final_reply(ctl: &mut Control) -> Result<Reply, RemoteError> {
    for _ in 0..4 {
        let r = ctl.reply()?;
        if !(100..200).contains(&r.code) {
            return Ok(r);
        }
    }
    Err(RemoteError::Other(
        "ABOR: the server keeps sending preliminary replies".into(),
    ))
}

/// Closes a finished data connection. A TLS upload sends its close_notify, half-closes, and
/// reads through TLS until the server's end: that collects the session ticket a TLS 1.3
/// server sends after a resumed handshake (rustls uses each ticket once; without new ones a
/// run of uploads runs out), and avoids the reset that unread data would cause (some servers
/// then report 426). A download has been read to the server's close_notify already.
fn close_data(mut d: DataSock, upload: bool) {
    match d.tls_mut() {
        None => {
            if let Some(Transport::Tcp(s)) = d.0.as_ref() {
                let _ = s.shutdown(std::net::Shutdown::Write);
            }
        }
        Some(s) if upload => {
            let so = s.mut_ref();
            let _ = so.flush();
            so.conn.send_close_notify();
            while so.conn.wants_write() {
                if so.conn.write_tls(&mut so.sock).is_err() {
                    break;
                }
            }
            let _ = so.sock.shutdown(std::net::Shutdown::Write);
            let _ = so.sock.set_read_timeout(Some(TLS_CLOSE_WAIT));
            let until = Instant::now() + TLS_CLOSE_WAIT;
            let mut buf = [0u8; 4096];
            while Instant::now() < until && matches!(so.read(&mut buf), Ok(n) if n > 0) {}
        }
        Some(_) => {}
    }
}

fn data_error(what: &str, e: &std::io::Error) -> RemoteError {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            RemoteError::Timeout(format!("{what}: no data from the server in time").into())
        }
        _ => RemoteError::DataConnection(format!("{what}: {e}").into()),
    }
}
