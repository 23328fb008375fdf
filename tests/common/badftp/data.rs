//! Sockets of one bad-server session: the control connection's line reader and (paced)
//! writer, data connections (passive listener or active connect), and the loops that send or
//! receive a transfer's data while watching the control connection for ABOR.
//!
//! Invariants:
//! - Every socket has 100 ms read/write timeouts (`TICK`) and every loop checks the shutdown
//!   flag at least that often, so nothing here blocks a server shutdown.
//! - A rate limit holds on average from the first byte: `n` bytes take about `(n-1)/rate`
//!   seconds, sent in chunks of a tenth of a second's worth (at least one byte).
//! - An ABOR that arrives during a transfer is logged and matched against the rules like any
//!   command: `Ignore` lets the transfer go on, `Stall` stalls the connection, `Delay` waits
//!   before the abort, `Close`/`CloseAfter` close the connection (no reply); any other fault
//!   aborts normally (426 then 226).
//! - The control connection's bytes are consumed one line at a time, in order; a line that
//!   arrives during a transfer stays buffered unless it is the ABOR that ends the transfer.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

use super::{Fault, Shared};

/// How often blocked socket calls wake to check the shutdown flag.
pub(super) const TICK: Duration = Duration::from_millis(100);
/// A command line longer than this closes the connection (a runaway client).
const MAX_LINE: usize = 16 << 20;
/// How much of a line the log keeps.
const LOG_KEEP: usize = 64 << 10;
/// How long a transfer command waits for the client's passive connection.
const ACCEPT_WAIT: Duration = Duration::from_secs(10);
/// How long an active-mode connect may take.
const CONNECT_WAIT: Duration = Duration::from_secs(5);

fn is_tick(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

fn ticking(s: &TcpStream) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(TICK));
    let _ = s.set_write_timeout(Some(TICK));
    let _ = s.set_nodelay(true);
}

/// Sleeps `d` in ticks; false when the server shut down meanwhile.
pub(super) fn sleep_checked(shared: &Shared, d: Duration) -> bool {
    let end = Instant::now() + d;
    loop {
        if shared.down() {
            return false;
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        thread::sleep(left.min(TICK));
    }
}

/// Paces bytes at a rate (or not at all).
struct Pacer {
    start: Instant,
    sent: u64,
    rate: Option<f64>,
}

impl Pacer {
    /// `rate` in bytes per second (fractions allowed: 0.5 is one byte every 2 s).
    fn new(rate: Option<f64>) -> Pacer {
        Pacer {
            start: Instant::now(),
            sent: 0,
            rate: rate.map(|r| r.max(1e-3)),
        }
    }

    /// Largest write allowed at once.
    fn chunk(&self) -> usize {
        self.rate
            .map_or(64 << 10, |r| ((r / 10.0) as usize).clamp(1, 64 << 10))
    }

    /// How long until the next byte may go.
    fn wait(&self) -> Option<Duration> {
        let r = self.rate?;
        let due = self.start + Duration::from_secs_f64(self.sent as f64 / r);
        let now = Instant::now();
        (due > now).then(|| due - now)
    }
}

/// How a transfer (or a paced write) ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Sent {
    Done,
    /// ABOR arrived on the control connection (already logged and consumed).
    Abor,
    /// The data connection failed or was closed by the client.
    Closed,
    /// The control connection is gone (or is to be closed), or the server is shutting down.
    Gone,
    /// A `Stall` fault on the ABOR: the connection answers nothing from now on.
    Stall,
}

/// The control connection of one session.
pub(super) struct Control {
    pub sock: TcpStream,
    buf: Vec<u8>,
    id: u64,
}

impl Control {
    pub fn new(sock: TcpStream, id: u64) -> Control {
        ticking(&sock);
        Control {
            sock,
            buf: Vec::new(),
            id,
        }
    }

    /// Reads what is there; `Ok(false)` at EOF.
    fn fill(&mut self, wait: bool) -> std::io::Result<bool> {
        let mut tmp = [0u8; 16 << 10];
        let n = if wait {
            self.sock.read(&mut tmp)?
        } else {
            // SAFETY: recv into a local buffer of the given length, on our own socket.
            let r = unsafe {
                libc::recv(
                    self.sock.as_raw_fd(),
                    tmp.as_mut_ptr().cast(),
                    tmp.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            r as usize
        };
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n > 0)
    }

    fn take_line(&mut self) -> Option<(Vec<u8>, usize)> {
        let i = self.buf.iter().position(|&b| b == b'\n')?;
        let mut line: Vec<u8> = self.buf.drain(..=i).collect();
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let len = line.len();
        line.truncate(LOG_KEEP);
        Some((line, len))
    }

    /// The next command line without CR/LF (cut to 64 KiB) and its full length; `None` at
    /// EOF, on an error, on shutdown, or for a line over 16 MiB.
    pub fn read_line(&mut self, shared: &Shared) -> Option<(Vec<u8>, usize)> {
        loop {
            if let Some(l) = self.take_line() {
                return Some(l);
            }
            if shared.down() || self.buf.len() > MAX_LINE {
                return None;
            }
            match self.fill(true) {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) if is_tick(&e) => {}
                Err(_) => return None,
            }
        }
    }

    /// During a transfer: whether the client sent ABOR (consumed, logged, and subject to the
    /// rules, see the module docs), closed the control connection, or the server is shutting
    /// down. Other lines stay buffered.
    pub fn interrupted(&mut self, shared: &Shared) -> Option<Sent> {
        if shared.down() {
            return Some(Sent::Gone);
        }
        match self.fill(false) {
            Ok(false) => return Some(Sent::Gone),
            Ok(true) => {}
            Err(e) if is_tick(&e) => {}
            Err(_) => return Some(Sent::Gone),
        }
        let i = self.buf.iter().position(|&b| b == b'\n')?;
        let line = self.buf[..i].strip_suffix(b"\r").unwrap_or(&self.buf[..i]);
        if super::conn::split_command(line).0 != "ABOR" {
            return None;
        }
        let (line, len) = self.take_line()?;
        let idx = shared.record(self.id, &line, len);
        let (verb, arg) = super::conn::split_command(&line);
        let Some(fault) = shared.fault_for(&verb, &arg, None, len) else {
            return Some(Sent::Abor);
        };
        shared.note_fault(idx, &fault);
        match fault {
            Fault::Ignore => None,
            Fault::Stall => Some(Sent::Stall),
            Fault::Close | Fault::CloseAfter(..) => Some(Sent::Gone),
            Fault::Delay(d) => Some(if sleep_checked(shared, d) {
                Sent::Abor
            } else {
                Sent::Gone
            }),
            _ => Some(Sent::Abor),
        }
    }

    /// Writes `bytes` at `rate` (bytes per second, `None`: at once); false when the
    /// connection failed or the server is shutting down.
    pub fn send(&mut self, shared: &Shared, bytes: &[u8], rate: Option<f64>) -> bool {
        let mut pacer = Pacer::new(rate);
        let mut off = 0;
        while off < bytes.len() {
            if shared.down() {
                return false;
            }
            if let Some(w) = pacer.wait() {
                thread::sleep(w.min(TICK));
                continue;
            }
            let end = bytes.len().min(off + pacer.chunk());
            match self.sock.write(&bytes[off..end]) {
                Ok(0) => return false,
                Ok(n) => {
                    off += n;
                    pacer.sent += n as u64;
                }
                Err(e) if is_tick(&e) => {}
                Err(_) => return false,
            }
        }
        true
    }
}

/// How the next data connection is made.
pub(super) enum Plan {
    None,
    /// EPSV/PASV: the client connects here.
    Passive(TcpListener),
    /// EPRT/PORT: the server connects there.
    Active(SocketAddr),
}

impl Plan {
    /// A fresh passive listener on 127.0.0.1 and its port.
    pub fn passive() -> std::io::Result<(Plan, u16)> {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        l.set_nonblocking(true)?;
        let port = l.local_addr()?.port();
        Ok((Plan::Passive(l), port))
    }

    /// Makes the data connection; `None` when it could not be made in time.
    pub fn connect(self, shared: &Shared) -> Option<TcpStream> {
        let s = match self {
            Plan::None => return None,
            Plan::Active(addr) => TcpStream::connect_timeout(&addr, CONNECT_WAIT).ok()?,
            Plan::Passive(l) => {
                let end = Instant::now() + ACCEPT_WAIT;
                loop {
                    match l.accept() {
                        Ok((s, _)) => break s,
                        Err(e) if is_tick(&e) => {
                            if shared.down() || Instant::now() >= end {
                                return None;
                            }
                            thread::sleep(Duration::from_millis(5));
                        }
                        Err(_) => return None,
                    }
                }
            }
        };
        ticking(&s);
        Some(s)
    }
}

/// Whether the peer has closed `s` (EOF waiting to be read).
fn peer_closed(s: &TcpStream) -> bool {
    let mut b = [0u8; 1];
    // SAFETY: peeking one byte into a local buffer, on our own socket.
    let r = unsafe {
        libc::recv(
            s.as_raw_fd(),
            b.as_mut_ptr().cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    r == 0
}

/// Where a transfer's bytes come from: `next(max)` gives the next chunk of at most `max`
/// bytes, an empty chunk for "nothing yet" (the pump waits), `None` at the end.
pub(super) type Source<'a> = dyn FnMut(usize) -> Option<Vec<u8>> + 'a;

/// Sends `src` over `data` at `rate`, watching `ctl` for ABOR.
pub(super) fn pump(
    shared: &Shared,
    ctl: &mut Control,
    data: &mut TcpStream,
    src: &mut Source<'_>,
    rate: Option<f64>,
) -> Sent {
    let mut pacer = Pacer::new(rate);
    let (mut cur, mut off) = (Vec::new(), 0);
    loop {
        if let Some(why) = ctl.interrupted(shared) {
            return why;
        }
        if off == cur.len() {
            match src(pacer.chunk()) {
                None => return Sent::Done,
                Some(c) if c.is_empty() => {
                    if peer_closed(data) {
                        return Sent::Closed;
                    }
                    thread::sleep(Duration::from_millis(20));
                    continue;
                }
                Some(c) => (cur, off) = (c, 0),
            }
        }
        if let Some(w) = pacer.wait() {
            thread::sleep(w.min(Duration::from_millis(20)));
            continue;
        }
        let end = cur.len().min(off + pacer.chunk());
        match data.write(&cur[off..end]) {
            Ok(0) => return Sent::Closed,
            Ok(n) => {
                off += n;
                pacer.sent += n as u64;
            }
            Err(e) if is_tick(&e) => {}
            Err(_) => return Sent::Closed,
        }
    }
}

/// Receives an upload from `data` into `sink` at `rate` (`stall`: read nothing), watching
/// `ctl` for ABOR.
pub(super) fn receive(
    shared: &Shared,
    ctl: &mut Control,
    data: &mut TcpStream,
    sink: &mut dyn FnMut(&[u8]),
    rate: Option<f64>,
    stall: bool,
) -> Sent {
    let mut pacer = Pacer::new(rate);
    let mut buf = vec![0u8; 64 << 10];
    loop {
        if let Some(why) = ctl.interrupted(shared) {
            return why;
        }
        if stall {
            thread::sleep(Duration::from_millis(20));
            continue;
        }
        if let Some(w) = pacer.wait() {
            thread::sleep(w.min(Duration::from_millis(20)));
            continue;
        }
        let max = pacer.chunk().min(buf.len());
        match data.read(&mut buf[..max]) {
            Ok(0) => return Sent::Done,
            Ok(n) => {
                sink(&buf[..n]);
                pacer.sent += n as u64;
            }
            Err(e) if is_tick(&e) => {}
            Err(_) => return Sent::Closed,
        }
    }
}
