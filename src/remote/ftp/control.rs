//! The control connection: one owned transport (plain TCP, or TLS once negotiated) behind one
//! buffered reply reader. Every command and every reply of a session goes through a
//! [`Control`]: the banner, the login, FEAT, PWD, CWD, the data commands and their replies,
//! ABOR, NOOP, QUIT.
//!
//! Why our own and not suppaftp's `FtpStream`: ftpfs must send commands without reading their
//! replies yet (pipelined logins, an EPSV sent ahead of the next transfer, REST with RETR) and
//! read replies without sending anything (an active-mode 1xx that races the server's connect,
//! the 226 after a data connection closes, the 226/426 pair after ABOR); suppaftp 12 offers
//! neither. Under TLS there can be only one owner of the stream, so the control connection is
//! ours, and suppaftp supplies the transport type ([`suppaftp::DataStream`], plain or rustls)
//! and reply codes ([`suppaftp::Status`]).
//!
//! Invariants:
//! - One reader: replies are read through the `BufReader` only, so bytes past a reply stay
//!   buffered for the next one; nothing else reads the socket. Before `poll()`ing the socket
//!   to see whether a reply has come, ask [`Control::has_buffered`] first.
//! - Bounded input: a reply line is at most [`MAX_LINE`] bytes and a whole reply at most
//!   [`MAX_REPLY`] bytes, or the read fails (and the session must be dropped).
//! - Every wait has a deadline: the socket's read and write timeouts are `timeout`, and a
//!   whole reply must arrive within `timeout` of the moment we started waiting for it (a
//!   server that drips one byte at a time does not restart the clock). While an operation
//!   runs on the connection, its deadline ([`Control::set_limit`]) caps every wait too, so
//!   the waits of one operation (command, data connection, replies) never add up beyond it.
//! - A command line never contains CR or LF (it could smuggle a second command), is never
//!   longer than `max_line` bytes as sent (servers close the connection or ignore such lines;
//!   it is refused here with [`RemoteError::NameTooLong`] and nothing is sent), and the
//!   password is never logged: a line starting with `PASS ` is shown as `PASS ****`.
//! - Debug log lines of commands and replies carry the connection's local port (`[port]`), so
//!   that the log of a pool of connections can be read per connection.
//! - Every command sent and every reply read is counted by the connection's [`Tally`]
//!   (`counters.rs`: by verb, with errors and replies that never came).
//! - Bytes are bytes: reply text is [`names::decode`]d (a path in a 257 reply that is not
//!   UTF-8 survives intact) and command lines are [`names::encode`]d, so a name goes out as
//!   the exact bytes it came in as (see `encoding.rs`).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use suppaftp::TlsStream as _;

use super::counters::{Counters, Tally};
use super::tls::{SessionTls, disarm, handshake};
use super::watch::Watched;
use crate::names;
use crate::remote::{RemoteError, RemoteResult};

/// The TLS stream type suppaftp builds with rustls (its `RustlsStream` is not exported by
/// name; the trait projection is the way to name it).
pub type TlsStream = <suppaftp::RustlsConnector as suppaftp::TlsConnector>::Stream;

/// A plain or TLS stream (control or data connection).
pub type Transport = suppaftp::DataStream<TlsStream>;

/// Longest reply line accepted (a 257 reply carries a path; FEAT lines are short).
pub const MAX_LINE: usize = 16 * 1024;
/// Longest whole reply accepted (a multi-line banner or FEAT is a few KiB).
pub const MAX_REPLY: usize = 64 * 1024;
/// Longest command line sent by default (without CR LF): vsftpd answers a line that does
/// not fit its 4096-byte buffer, CR LF included, with `500 Input line too long.` and closes
/// the connection; proftpd ignores lines of about that length (`-o max_command_line`).
pub const DEFAULT_MAX_COMMAND_LINE: usize = 4094;

/// One reply from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub code: u32,
    /// All lines, joined with `\n`.
    pub text: String,
}

impl Reply {
    /// The last line, for messages.
    pub fn last_line(&self) -> &str {
        self.text.lines().last().unwrap_or("").trim()
    }
}

/// The control connection of one session.
pub struct Control {
    /// Where waits on the server are registered (for unmount); declared before `io` so it
    /// is unregistered before the socket closes.
    watched: Option<Watched>,
    io: BufReader<Transport>,
    peer: SocketAddr,
    local: SocketAddr,
    timeout: Duration,
    /// The socket's read timeout is shorter than `timeout` (a reply's deadline was near).
    shortened: bool,
    /// The deadline of the operation running on this connection, if any.
    limit: Option<Instant>,
    /// Longest command line that may be sent.
    max_line: usize,
    /// A read or write failed part-way (or a reply made no sense): the connection is out
    /// of step and must not carry another command.
    broken: bool,
    /// What the TLS handshake gave, on a TLS connection.
    tls: Option<TlsInfo>,
    /// Commands awaiting their replies, and where they are counted.
    tally: Tally,
}

/// What a control connection's TLS handshake negotiated (for logs and `ftpfs probe`).
#[derive(Clone, Debug)]
pub struct TlsInfo {
    pub version: String,
    pub cipher: String,
    /// The server's certificate (DER).
    pub cert: Option<Vec<u8>>,
}

/// The size of the reply reader's buffer.
const BUFFER: usize = 8 * 1024;

impl Control {
    /// Takes over a connected socket, setting its timeouts.
    pub fn new(sock: TcpStream, timeout: Duration) -> std::io::Result<Control> {
        sock.set_read_timeout(Some(timeout))?;
        sock.set_write_timeout(Some(timeout))?;
        sock.set_nodelay(true)?;
        let peer = sock.peer_addr()?;
        let local = sock.local_addr()?;
        Ok(Control {
            watched: None,
            io: BufReader::with_capacity(BUFFER, Transport::Tcp(sock)),
            peer,
            local,
            timeout,
            shortened: false,
            limit: None,
            max_line: DEFAULT_MAX_COMMAND_LINE,
            broken: false,
            tls: None,
            tally: Tally::default(),
        })
    }

    /// Counts this connection's commands into the mount's `counters`.
    pub fn count_into(&mut self, counters: std::sync::Arc<Counters>) {
        self.tally.count_into(counters);
    }

    /// Registers the connection's waits on the server (see [`super::watch`]).
    pub fn watch(&mut self, w: Watched) {
        self.watched = Some(w);
    }

    /// Sets the longest command line that may be sent (`-o max_command_line`).
    pub fn set_max_line(&mut self, max: usize) {
        self.max_line = max;
    }

    /// Sets (or clears) the deadline of the operation that runs on this connection now:
    /// no wait of that operation (a reply, a write) goes beyond it.
    pub fn set_limit(&mut self, limit: Option<Instant>) {
        self.limit = limit;
    }

    /// The deadline of the operation running now, if any.
    pub fn limit(&self) -> Option<Instant> {
        self.limit
    }

    /// `d`, or less when the operation's deadline comes sooner.
    pub fn within(&self, d: Duration) -> Duration {
        self.limit
            .map_or(d, |l| d.min(l.saturating_duration_since(Instant::now())))
    }

    /// Closes the connection without a TLS close_notify (suppaftp's TLS stream writes one
    /// when dropped and logs an error when the server has already closed its end, as after
    /// QUIT or when the connection was lost).
    pub fn close(self) {
        let Control { watched, io, .. } = self;
        drop(watched);
        if let Transport::Ssl(s) = io.into_inner() {
            disarm(*s);
        }
    }

    /// Whether a failed read or write left the connection out of step (it must be dropped).
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Marks the connection out of step (a caller gave up on a reply it expected).
    pub fn break_off(&mut self) {
        self.broken = true;
    }

    /// The connection's timeout (every wait's longest).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether the server has closed this idle connection, or said something nobody asked
    /// for (a `421 Timeout` before closing it, a stray reply): either way it must not carry
    /// another command. Costs no round trip: the socket is polled, not waited on. A TLS
    /// connection with unread records (a session ticket may come at any time) is "maybe":
    /// `None`; the caller checks it with NOOP.
    pub fn closed_by_server(&mut self) -> Option<bool> {
        // Already read (by us or by TLS): poll() would not see it.
        if self.has_buffered() {
            return Some(true);
        }
        let mut p = libc::pollfd {
            fd: self.fd(),
            events: libc::POLLIN | libc::POLLRDHUP,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no wait.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        if n <= 0 {
            return Some(false);
        }
        if p.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0 {
            return Some(true);
        }
        let mut b = [0u8; 1];
        // SAFETY: a one-byte peek into a local buffer on our own socket.
        let r = unsafe {
            libc::recv(
                self.fd(),
                b.as_mut_ptr().cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        match (r, self.io.get_ref()) {
            (r, _) if r <= 0 => Some(true),
            (_, Transport::Tcp(_)) => Some(true),
            (_, Transport::Ssl(_)) => None,
        }
    }

    /// Turns this plain connection into a TLS one (after `AUTH TLS` was answered 234, or at
    /// once for implicit TLS): the handshake is complete and the certificate verified when
    /// this returns. `what` names the connection in errors.
    pub fn start_tls(mut self, tls: &mut SessionTls, what: &str) -> RemoteResult<Control> {
        if self.has_buffered() {
            // The server must wait for our ClientHello; bytes it sent before would be
            // plain text taken for part of the protected session.
            return Err(RemoteError::Tls(
                format!("{what}: the server sent more after accepting AUTH TLS").into(),
            ));
        }
        let Control {
            watched,
            io,
            peer,
            local,
            timeout,
            limit,
            max_line,
            tally,
            ..
        } = self;
        let sock = match io.into_inner() {
            Transport::Tcp(s) => s,
            Transport::Ssl(_) => {
                return Err(RemoteError::Tls(
                    format!("{what}: TLS is already on").into(),
                ));
            }
        };
        let mut s = tls.start(sock)?;
        let deadline = limit.map_or(Instant::now() + timeout, |l| {
            l.min(Instant::now() + timeout)
        });
        if let Err(e) = handshake(&mut s, deadline, what) {
            disarm(s);
            return Err(e);
        }
        let conn = &s.mut_ref().conn;
        let info = TlsInfo {
            version: conn
                .protocol_version()
                .map_or_else(|| "?".into(), |v| format!("{v:?}")),
            cipher: conn
                .negotiated_cipher_suite()
                .map_or_else(|| "?".into(), |c| format!("{:?}", c.suite())),
            cert: conn
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.as_ref().to_vec()),
        };
        tls.version = conn.protocol_version();
        log::debug!("{what}: {} {}", info.version, info.cipher);
        Ok(Control {
            watched,
            io: BufReader::with_capacity(BUFFER, Transport::Ssl(Box::new(s))),
            peer,
            local,
            timeout,
            shortened: false,
            limit,
            max_line,
            broken: false,
            tls: Some(info),
            tally,
        })
    }

    /// What TLS negotiated, on a TLS connection.
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.tls.as_ref()
    }

    /// The server's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Our address on this connection.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// The socket, for `poll()` (see [`Control::has_buffered`]).
    pub fn fd(&self) -> RawFd {
        self.io.get_ref().get_ref().as_raw_fd()
    }

    /// Whether a reply (or part of one) has already been read from the socket, into our
    /// buffer or into TLS's: `poll()` on the socket cannot see it, so check this first.
    pub fn has_buffered(&mut self) -> bool {
        if !self.io.buffer().is_empty() {
            return true;
        }
        match self.io.get_mut() {
            Transport::Tcp(_) => false,
            // Records already read from the socket but not yet decrypted count too; an error
            // counts as something to read (the read then reports it).
            Transport::Ssl(s) => s
                .mut_ref()
                .conn
                .process_new_packets()
                .map_or(true, |st| st.plaintext_bytes_to_read() > 0),
        }
    }

    /// Sends one command line.
    pub fn send(&mut self, line: &str) -> RemoteResult<()> {
        self.send_many(&[line])
    }

    /// Sends several command lines in one write (pipelining). Every command goes through
    /// here: a line too long for servers is refused before anything is sent.
    pub fn send_many(&mut self, lines: &[&str]) -> RemoteResult<()> {
        let mut buf = Vec::new();
        for line in lines {
            let shown = shown(line);
            if line.contains(['\r', '\n']) {
                return Err(RemoteError::BadName(
                    format!("{shown:?}: line breaks cannot be sent").into(),
                ));
            }
            // The line as the server gets it (names in its encoding): its length is the
            // length on the wire.
            let start = buf.len();
            names::encode_into(line, &mut buf);
            let len = buf.len() - start;
            if len > self.max_line {
                return Err(RemoteError::NameTooLong(
                    format!(
                        "{}…: a command line of {len} bytes is longer than servers take (at \
                         most {}: -o max_command_line)",
                        clip(shown),
                        self.max_line
                    )
                    .into(),
                ));
            }
            buf.extend_from_slice(b"\r\n");
        }
        for line in lines {
            log::debug!("[{}] -> {}", self.local.port(), shown(line));
        }
        let left = match self.limit {
            Some(l) => l.saturating_duration_since(Instant::now()),
            None => self.timeout,
        };
        if left.is_zero() {
            // Nothing was sent: the connection is still in step.
            return Err(RemoteError::Timeout(
                "sending a command: the operation's time ran out".into(),
            ));
        }
        let short = left + Duration::from_millis(50) < self.timeout;
        let sock = self.io.get_ref().get_ref();
        if short && let Err(e) = sock.set_write_timeout(Some(left)) {
            return Err(io_error("sending a command", &e));
        }
        let waiting = self.watched.as_ref().map(Watched::waiting);
        let out = self.io.get_mut();
        let r = out
            .write_all(&buf)
            .and_then(|()| out.flush())
            .map_err(|e| self.cut_or(io_error("sending a command", &e)));
        drop(waiting);
        self.tally.wrote(lines, r.is_ok());
        if short
            && let Err(e) = self
                .io
                .get_ref()
                .get_ref()
                .set_write_timeout(Some(self.timeout))
        {
            log::debug!("restoring the control connection's write timeout: {e}");
        }
        self.broken |= r.is_err();
        r
    }

    /// Sends a command and reads its reply.
    pub fn command(&mut self, line: &str) -> RemoteResult<Reply> {
        self.send(line)?;
        self.reply()
    }

    /// Reads one complete reply (multi-line replies end with `NNN `), within `timeout` (and
    /// before the operation's deadline, when one is set).
    pub fn reply(&mut self) -> RemoteResult<Reply> {
        let deadline = Instant::now() + self.timeout;
        let deadline = self.limit.map_or(deadline, |l| l.min(deadline));
        let waiting = self.watched.as_ref().map(Watched::waiting);
        let r = self.read_reply(deadline).map_err(|e| self.cut_or(e));
        drop(waiting);
        self.tally.read(r.as_ref().ok().map(|reply| reply.code));
        self.broken |= r.is_err();
        if self.shortened {
            self.shortened = false;
            if let Err(e) = self
                .io
                .get_ref()
                .get_ref()
                .set_read_timeout(Some(self.timeout))
            {
                log::debug!("restoring the control connection's read timeout: {e}");
            }
        }
        let r = r?;
        log::debug!("[{}] <- {}", self.local.port(), r.text.replace('\n', " | "));
        Ok(r)
    }

    fn read_reply(&mut self, deadline: Instant) -> RemoteResult<Reply> {
        let mut line = Vec::new();
        self.line(&mut line, deadline)?;
        let first = names::decode(&line).into_owned();
        let code = reply_code(&first).ok_or_else(|| {
            RemoteError::Other(format!("malformed reply {:?}", clip(&first)).into())
        })?;
        let mut text = first;
        if text.as_bytes().get(3) == Some(&b'-') {
            loop {
                line.clear();
                self.line(&mut line, deadline)?;
                let l = names::decode(&line);
                if text.len() + l.len() > MAX_REPLY {
                    return Err(RemoteError::Other(
                        format!(
                            "reply {code} longer than {} KiB (the server keeps sending lines; \
                             the last: {:?})",
                            MAX_REPLY / 1024,
                            clip(&l)
                        )
                        .into(),
                    ));
                }
                text.push('\n');
                text.push_str(&l);
                if reply_code(&l) == Some(code) && l.as_bytes().get(3) == Some(&b' ') {
                    break;
                }
            }
        }
        Ok(Reply { code, text })
    }

    /// Reads one line (without its CR LF) into `out`.
    fn line(&mut self, out: &mut Vec<u8>, deadline: Instant) -> RemoteResult<()> {
        loop {
            if self.io.buffer().is_empty() {
                self.shorten_wait(deadline)?;
            }
            let buf = match self.io.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error("waiting for a reply", &e)),
            };
            if let Some(w) = &self.watched {
                w.touch();
            }
            if buf.is_empty() {
                return Err(RemoteError::Connection(
                    "the server closed the control connection".into(),
                ));
            }
            let (take, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            if out.len() + take > MAX_LINE + 2 {
                return Err(RemoteError::Other(
                    format!(
                        "reply line longer than {} KiB: {:?}…",
                        MAX_LINE / 1024,
                        clip(&String::from_utf8_lossy(out))
                    )
                    .into(),
                ));
            }
            out.extend_from_slice(&buf[..take]);
            self.io.consume(take);
            if done {
                out.pop();
                if out.last() == Some(&b'\r') {
                    out.pop();
                }
                return Ok(());
            }
        }
    }

    /// `e`, or, when the wait was cut because the mount is being unmounted, an error that
    /// says so.
    fn cut_or(&self, e: RemoteError) -> RemoteError {
        match &self.watched {
            Some(w) if w.was_cut() => RemoteError::Connection(
                "unmounting: gave up waiting for the server, which had been silent".into(),
            ),
            _ => e,
        }
    }

    /// Before waiting on the socket: fails when the reply's deadline has passed, and makes
    /// the socket wait no longer than what is left of it (a server that drips bytes must not
    /// restart the clock with every byte).
    fn shorten_wait(&mut self, deadline: Instant) -> RemoteResult<()> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(RemoteError::Timeout(
                format!(
                    "waiting for a reply: no answer from the server in time (a whole reply \
                     within {}s)",
                    self.timeout.as_secs_f32()
                )
                .into(),
            ));
        }
        // Below the socket's own timeout: a read that ends early re-checks the deadline.
        if left + Duration::from_millis(50) < self.timeout {
            self.shortened = true;
            self.io
                .get_ref()
                .get_ref()
                .set_read_timeout(Some(left))
                .map_err(|e| io_error("waiting for a reply", &e))?;
        }
        Ok(())
    }
}

/// How a command line appears in logs and messages (never the password).
fn shown(line: &str) -> &str {
    if line
        .get(..5)
        .is_some_and(|v| v.eq_ignore_ascii_case("PASS "))
    {
        "PASS ****"
    } else {
        line
    }
}

/// The first 200 characters of a server's text, for messages.
fn clip(s: &str) -> String {
    s.chars().take(200).collect()
}

/// The code of a reply line: three digits, then a space, a dash or the end.
pub fn reply_code(line: &str) -> Option<u32> {
    let b = line.as_bytes();
    if b.len() >= 3
        && b[..3].iter().all(u8::is_ascii_digit)
        && (b.len() == 3 || b[3] == b' ' || b[3] == b'-')
    {
        line[..3].parse().ok()
    } else {
        None
    }
}

/// An I/O error on the control connection: a timeout, or a lost connection.
pub fn io_error(what: &str, e: &std::io::Error) -> RemoteError {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            RemoteError::Timeout(format!("{what}: no answer from the server in time").into())
        }
        _ => RemoteError::Connection(format!("{what}: {e}").into()),
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    /// A control connection to a local peer that writes `script` (with pauses) and then holds
    /// the connection open for `hold`.
    fn peer(script: Vec<(Duration, Vec<u8>)>, hold: Duration) -> Control {
        let sock = crate::testing::scripted_peer(script, hold);
        Control::new(sock, Duration::from_secs(1)).expect("control")
    }

    /// A control connection to a local peer that keeps what it receives.
    fn recording_peer() -> (Control, std::sync::Arc<std::sync::Mutex<Vec<u8>>>) {
        use std::io::Read;
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mine = std::sync::Arc::clone(&got);
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().expect("accept");
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    return;
                }
                mine.lock().expect("lock").extend_from_slice(&buf[..n]);
            }
        });
        let sock = TcpStream::connect(addr).expect("connect");
        (
            Control::new(sock, Duration::from_secs(1)).expect("control"),
            got,
        )
    }

    #[test]
    fn a_command_line_longer_than_the_limit_is_refused_before_anything_is_sent() {
        let (mut c, got) = recording_peer();
        c.set_max_line(600);
        let long = format!("MKD /{}", "x".repeat(700));
        let e = c.send_many(&["CWD /", &long]).expect_err("too long");
        assert!(matches!(e, RemoteError::NameTooLong(_)), "{e}");
        assert_eq!(e.errno(), libc::ENAMETOOLONG);
        assert!(
            e.to_string().contains("705 bytes") && e.to_string().contains("600"),
            "{e}"
        );
        assert!(!c.is_broken());
        c.send("NOOP").expect("a short line still goes");
        crate::testing::eventually("NOOP arrives", || !got.lock().expect("lock").is_empty());
        std::thread::sleep(Duration::from_millis(50));
        // Only the NOOP: nothing of the refused batch went out.
        assert_eq!(&*got.lock().expect("lock"), b"NOOP\r\n");
    }

    #[test]
    fn an_operation_deadline_cuts_a_reply_wait_short_and_breaks_the_connection() {
        let mut c = peer(
            vec![(Duration::from_millis(900), b"200 late\r\n".to_vec())],
            Duration::from_millis(500),
        );
        c.set_limit(Some(Instant::now() + Duration::from_millis(300)));
        let start = Instant::now();
        let e = c.reply().expect_err("past the operation's deadline");
        assert!(matches!(e, RemoteError::Timeout(_)), "{e}");
        assert!(
            start.elapsed() < Duration::from_millis(700),
            "{:?}",
            start.elapsed()
        );
        // The reply may still come: the connection is out of step.
        assert!(c.is_broken());
        assert!(c.within(Duration::from_secs(5)).is_zero());
    }

    #[test]
    fn a_connection_the_server_closed_or_spoke_on_is_seen_without_a_round_trip() {
        let mut quiet = peer(vec![], Duration::from_millis(500));
        assert_eq!(quiet.closed_by_server(), Some(false));
        // Said something and closed.
        let closed = std::sync::Mutex::new(peer(
            vec![(Duration::ZERO, b"421 Timeout.\r\n".to_vec())],
            Duration::ZERO,
        ));
        crate::testing::eventually("a closed connection is seen", || {
            closed.lock().expect("lock").closed_by_server() == Some(true)
        });
        // Said something and kept the connection open.
        let spoke = std::sync::Mutex::new(peer(
            vec![(Duration::ZERO, b"421 Timeout.\r\n".to_vec())],
            Duration::from_secs(3),
        ));
        crate::testing::eventually("a stray reply is seen", || {
            spoke.lock().expect("lock").closed_by_server() == Some(true)
        });
        // Once read into our buffer, poll() no longer sees it; the buffer still counts.
        let mut spoke = spoke.into_inner().expect("lock");
        let mut b = [0u8; 1];
        std::io::Read::read(&mut spoke.io, &mut b).expect("read one byte");
        assert_eq!(spoke.closed_by_server(), Some(true));
    }

    #[test]
    fn a_password_with_a_line_break_is_refused_without_showing_it() {
        let mut c = peer(vec![], Duration::from_millis(100));
        let err = c
            .send_many(&["USER u", "PASS sec\r\nret", "TYPE I"])
            .expect_err("refused");
        let msg = err.to_string();
        assert!(msg.contains("PASS ****") && !msg.contains("sec"), "{msg}");
    }

    #[test]
    fn reply_codes() {
        assert_eq!(reply_code("226 ok"), Some(226));
        assert_eq!(reply_code("211-Features"), Some(211));
        assert_eq!(reply_code("226"), Some(226));
        assert_eq!(reply_code(" 226 x"), None);
        assert_eq!(reply_code("2x6 x"), None);
    }

    #[test]
    fn two_replies_in_one_read_are_read_one_at_a_time() {
        let bytes = b"150-one\r\n 150 not the end\r\n226-x\r\n150 done\r\n226 next\r\n".to_vec();
        let mut c = peer(vec![(Duration::ZERO, bytes)], Duration::from_millis(200));
        let r = c.reply().expect("reply");
        assert_eq!(r.code, 150);
        assert_eq!(r.text.lines().count(), 4);
        // The second reply arrived with the first: poll() would not see it, the buffer does.
        std::thread::sleep(Duration::from_millis(50));
        assert!(c.has_buffered());
        assert_eq!(c.reply().expect("second").code, 226);
        assert!(!c.has_buffered());
    }

    #[test]
    fn a_reply_split_across_reads_is_joined() {
        let script = vec![
            (Duration::ZERO, b"22".to_vec()),
            (Duration::from_millis(30), b"6 Transfer co".to_vec()),
            (Duration::from_millis(30), b"mplete\r\n".to_vec()),
        ];
        let mut c = peer(script, Duration::from_millis(200));
        let r = c.reply().expect("reply");
        assert_eq!((r.code, r.last_line()), (226, "226 Transfer complete"));
    }

    #[test]
    fn a_dripping_reply_fails_at_its_deadline_not_per_byte() {
        // One byte every 300 ms: each read succeeds well within the 1 s socket timeout, but
        // the reply as a whole must be abandoned after about 1 s.
        let script: Vec<_> = b"220 welcome to a very slow server\r\n"
            .iter()
            .map(|&b| (Duration::from_millis(300), vec![b]))
            .collect();
        let mut c = peer(script, Duration::from_secs(1));
        let start = Instant::now();
        let e = c.reply().expect_err("too slow");
        let took = start.elapsed();
        assert!(matches!(e, RemoteError::Timeout(_)), "{e}");
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_millis(1600),
            "took {took:?}"
        );
    }

    #[test]
    fn an_endless_reply_is_cut_off() {
        let mut endless = b"220-hello\r\n".to_vec();
        for i in 0..20_000 {
            endless.extend_from_slice(format!("220-line {i}\r\n").as_bytes());
        }
        let mut c = peer(vec![(Duration::ZERO, endless)], Duration::from_millis(500));
        let e = c.reply().expect_err("too long");
        assert!(e.to_string().contains("longer than 64 KiB"), "{e}");
    }

    #[test]
    fn an_endless_line_is_cut_off() {
        let mut c = peer(
            vec![(Duration::ZERO, vec![b'x'; 100_000])],
            Duration::from_millis(500),
        );
        let e = c.reply().expect_err("too long");
        assert!(e.to_string().contains("reply line longer than"), "{e}");
    }

    #[test]
    fn a_closed_connection_is_a_connection_error() {
        let mut c = peer(
            vec![(Duration::ZERO, b"220 hi\r\n".to_vec())],
            Duration::ZERO,
        );
        assert_eq!(c.reply().expect("banner").code, 220);
        assert!(matches!(c.reply(), Err(RemoteError::Connection(_))));
    }
}
