//! Data connections, made by hand over the session's [`Control`] connection.
//!
//! Why by hand: suppaftp 12 parses only the parenthesised 227/229 forms, has no data-connect
//! deadline of its own, and its active mode binds an arbitrary port and polls `accept` every
//! 100 ms, with no port range and no address to advertise. So for every data command this
//! module sends the method's command (EPSV/PASV/EPRT/PORT), `REST` and the transfer command
//! itself, pipelined where that saves a round trip, and reads their replies.
//!
//! On a TLS session every data connection is TLS too: the ClientHello is written as soon as
//! the socket exists and the transfer command is on its way (servers start their side of the
//! handshake only after their 1xx reply, so nothing is lost by writing it early, and a round
//! trip is saved), and the session finishes the handshake after the 1xx.
//!
//! Invariants:
//! - A data-connection failure (connect refused/timed out, no inbound connection in time,
//!   425/426, the method rejected) is returned as [`Attempt::Data`]; anything else about the
//!   command (550 …) as [`Attempt::Command`]. Only the former teaches [`super::datamode`].
//! - Every wait has a deadline: `data_connect_timeout` for making the data connection, the
//!   control socket's `timeout` for replies, and `timeout` for data inactivity; and none goes
//!   beyond the deadline of the operation (`Control::limit`), so trying several methods, or
//!   a method and its replies, never adds up to more than one operation's time. An ABOR
//!   and its replies take at most `timeout` together.
//! - The open data connection ([`DataConn`], `dataconn.rs`) counts the bytes of user data it
//!   moves as the pool's progress.
//! - An active-mode wait that times out leaves the server with a command in flight, so the
//!   session is marked dead and never reused.
//! - Active mode accepts only a connection from the control connection's peer address.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::FtpConfig;
use super::control::{Control, Reply, TlsStream, Transport};
pub use super::dataconn::DataConn;
use super::datamode::{Failure, Method, PasvAddress, parse_227, parse_229};
use super::session::{Shared, classify_reply};
use super::tls::{SessionTls, disarm};
use crate::remote::{Detail, RemoteError};

/// How an attempt to open a data connection failed.
#[derive(Debug)]
pub enum Attempt {
    /// The data connection could not be made (teaches the data-mode state machine).
    Data(Failure),
    /// The command failed (550 …), or the control connection did.
    Command(RemoteError),
    /// TLS on the data connection failed: never a reason to change the data mode.
    Tls(TlsFailure),
}

/// How TLS on a data connection failed.
#[derive(Debug)]
pub enum TlsFailure {
    /// The session cannot resume its TLS session any more (see `tls::TlsPolicy`): the session
    /// is retired and the transfer may be retried on another one.
    Retire(String),
    /// The handshake failed.
    Failed(RemoteError),
}

/// What an attempt needs to know about its session.
pub struct Ctx<'a> {
    pub ctl: &'a mut Control,
    /// The session's TLS state: data connections are protected with it.
    pub tls: Option<&'a SessionTls>,
    pub cfg: &'a FtpConfig,
    pub shared: &'a Shared,
    /// The control connection's peer (the server) and local address.
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// The server advertised `REST STREAM`: REST may be pipelined with the command.
    pub rest_stream: bool,
    /// Set by an attempt that leaves a command in flight: the session must not be reused.
    pub dead: bool,
    /// Set when the session is in step as far as we know, but the server may have something
    /// to say that was not read (checked with NOOP before the session is reused).
    pub suspect: bool,
}

/// Waits until `fd` is readable or `timeout` passes; returns readiness per fd.
fn poll_read(fds: &[i32], timeout: Duration) -> Vec<bool> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: `p` is a valid array of pollfd for the duration of the call.
    let n = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, ms) };
    if n <= 0 {
        return vec![false; fds.len()];
    }
    p.iter()
        .map(|x| x.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0)
        .collect()
}

/// Waits until the listener has a connection or the control connection a reply (one that
/// was already read into the control connection's buffer counts at once).
fn wait_active(listener: &TcpListener, ctl: &mut Control, timeout: Duration) -> Vec<bool> {
    let timeout = if ctl.has_buffered() {
        Duration::ZERO
    } else {
        timeout
    };
    let mut ready = poll_read(&[listener.as_raw_fd(), ctl.fd()], timeout);
    ready[1] |= ctl.has_buffered();
    ready
}

fn data_socket(s: TcpStream, timeout: Duration) -> Result<TcpStream, Failure> {
    let fail = |e: std::io::Error| Failure::Failed(e.to_string());
    s.set_read_timeout(Some(timeout)).map_err(fail)?;
    s.set_write_timeout(Some(timeout)).map_err(fail)?;
    s.set_nodelay(true).map_err(fail)?;
    Ok(s)
}

/// The data socket as the session needs it: plain, or TLS with its ClientHello written. The
/// transfer command must already be on its way (a server whose 1xx never comes would leave a
/// data connection with a ticket spent).
fn protect(ctx: &Ctx<'_>, sock: TcpStream) -> Result<DataSock, Attempt> {
    match ctx.tls {
        None => Ok(DataSock::plain(sock)),
        Some(t) => t
            .start(sock)
            .map(|s| DataSock(Some(Transport::Ssl(Box::new(s)))))
            .map_err(|e| Attempt::Tls(TlsFailure::Failed(e))),
    }
}

/// A data connection's stream, plain or TLS. Dropped, it closes the socket without a TLS
/// close_notify: suppaftp's TLS stream would write one on drop without reading what comes
/// back (a reset, and an error in the log when the peer is gone); a complete transfer is
/// closed by [`DataConn::finish`] instead.
pub struct DataSock(pub(super) Option<Transport>);

impl DataSock {
    pub fn plain(s: TcpStream) -> DataSock {
        DataSock(Some(Transport::Tcp(s)))
    }

    /// The TLS stream, on a TLS data connection.
    pub fn tls_mut(&mut self) -> Option<&mut TlsStream> {
        match self.0.as_mut() {
            Some(Transport::Ssl(s)) => Some(s),
            _ => None,
        }
    }
}

impl Read for DataSock {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.as_mut() {
            Some(t) => t.read(buf),
            None => Ok(0),
        }
    }
}

impl Write for DataSock {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.as_mut() {
            Some(t) => t.write(buf),
            None => Err(std::io::ErrorKind::NotConnected.into()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.as_mut() {
            Some(t) => t.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for DataSock {
    fn drop(&mut self) {
        if let Some(Transport::Ssl(s)) = self.0.take() {
            disarm(*s);
        }
    }
}

/// The reply to a method's own command (EPSV/PASV/EPRT/PORT) when it is not the good one.
fn method_refused(m: Method, r: &Reply) -> Attempt {
    let msg = format!("{m} answered {}", r.last_line());
    match r.code {
        500 | 502 | 504 => Attempt::Data(Failure::Rejected(msg)),
        421 => Attempt::Command(RemoteError::Connection(Detail::reply(421, msg))),
        _ => Attempt::Data(Failure::Declined(msg)),
    }
}

/// The reply to the transfer command: 1xx opens it, 425/426 are data failures.
fn check_preliminary(cmd: &str, r: &Reply) -> Result<(), Attempt> {
    match r.code {
        100..=199 => Ok(()),
        425 | 426 => Err(Attempt::Data(Failure::Declined(format!(
            "{cmd}: {}",
            r.last_line()
        )))),
        _ => Err(Attempt::Command(classify_reply(r.code, r.last_line(), cmd))),
    }
}

fn send_rest_and_command(ctx: &mut Ctx<'_>, cmd: &str, rest: u64) -> Result<(), Attempt> {
    if rest > 0 {
        let r = ctx.ctl.command(&format!("REST {rest}")).map_err(|e| {
            ctx.dead = true;
            Attempt::Command(e)
        })?;
        if r.code != 350 {
            // Refused: the command was not sent and the session is in step, but a data
            // connection made for it is dropped unused (some servers then say something).
            ctx.suspect = true;
            return Err(Attempt::Command(classify_reply(
                r.code,
                r.last_line(),
                "REST",
            )));
        }
    }
    ctx.ctl.send(cmd).map_err(|e| {
        // The command may be in flight; its reply would put the session out of step.
        ctx.dead = true;
        Attempt::Command(e)
    })
}

/// Opens a data connection with `method` for the transfer command `cmd` (restarting at
/// `rest` when non-zero). On success the server has answered 1xx.
pub fn open(ctx: &mut Ctx<'_>, method: Method, cmd: &str, rest: u64) -> Result<DataSock, Attempt> {
    if method.is_passive() {
        open_passive(ctx, method, cmd, rest)
    } else {
        open_active(ctx, method, cmd, rest)
    }
}

/// The address a passive reply points to, as ftpfs will connect to it.
pub fn passive_target(
    ctx: &mut Ctx<'_>,
    method: Method,
) -> Result<(SocketAddr, Option<IpAddr>), Attempt> {
    let r = ctx.ctl.command(method.name()).map_err(Attempt::Command)?;
    passive_reply(ctx, method, &r)
}

/// The address to connect to, from the reply to EPSV/PASV.
fn passive_reply(
    ctx: &Ctx<'_>,
    method: Method,
    r: &Reply,
) -> Result<(SocketAddr, Option<IpAddr>), Attempt> {
    match (method, r.code) {
        (Method::Epsv, 229) => {
            let port = parse_229(&r.text).ok_or_else(|| {
                Attempt::Data(Failure::Failed(format!(
                    "unreadable reply {:?}",
                    r.last_line()
                )))
            })?;
            Ok((SocketAddr::new(ctx.peer.ip(), port), None))
        }
        (Method::Pasv, 227) => {
            let addr = parse_227(&r.text).ok_or_else(|| {
                Attempt::Data(Failure::Failed(format!(
                    "unreadable reply {:?}",
                    r.last_line()
                )))
            })?;
            let reply_ip = IpAddr::V4(*addr.ip());
            let ip = match ctx.cfg.pasv_address {
                PasvAddress::Control => ctx.peer.ip(),
                PasvAddress::Reply => reply_ip,
            };
            Ok((SocketAddr::new(ip, addr.port()), Some(reply_ip)))
        }
        _ => Err(method_refused(method, r)),
    }
}

/// A passive data connection being connected in a thread of its own (so the transfer
/// command, or the session's return to the pool, need not wait for the TCP handshake).
pub struct Connecting {
    addr: SocketAddr,
    thread: std::thread::JoinHandle<std::io::Result<TcpStream>>,
}

impl Connecting {
    fn start(addr: SocketAddr, timeout: Duration) -> Result<Connecting, Attempt> {
        // A connect that would outlive its operation is not worth starting.
        if timeout.is_zero() {
            return Err(Attempt::Data(Failure::TimedOut(format!(
                "{addr}: no time left to connect"
            ))));
        }
        std::thread::Builder::new()
            .name("ftpfs-connect".into())
            .spawn(move || TcpStream::connect_timeout(&addr, timeout))
            .map(|thread| Connecting { addr, thread })
            .map_err(|e| Attempt::Data(Failure::Failed(format!("cannot start a thread: {e}"))))
    }

    /// Whether the handshake is over (the connection is made, or failed).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits for the handshake; a failure says how it failed.
    fn finish(self, ctx: &Ctx<'_>) -> Result<TcpStream, Failure> {
        let addr = self.addr;
        let dct = ctx.cfg.data_connect_timeout;
        let connected = self
            .thread
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("connect thread panicked")));
        let data = connected.map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                Failure::Refused(format!("{addr}: connection refused"))
            }
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                Failure::TimedOut(format!("{addr}: no answer within {}s", dct.as_secs_f32()))
            }
            _ => Failure::Failed(format!("{addr}: {e}")),
        })?;
        data_socket(data, ctx.cfg.timeout)
    }
}

fn open_passive(
    ctx: &mut Ctx<'_>,
    method: Method,
    cmd: &str,
    rest: u64,
) -> Result<DataSock, Attempt> {
    let (addr, _) = passive_target(ctx, method)?;
    let connecting = Connecting::start(addr, ctx.ctl.within(ctx.cfg.data_connect_timeout))?;
    command_while_connecting(ctx, connecting, cmd, rest)
}

/// Sends `cmd` (with its REST) while the data connection is being made, then waits for both:
/// a round trip less per transfer on a slow link.
fn command_while_connecting(
    ctx: &mut Ctx<'_>,
    connecting: Connecting,
    cmd: &str,
    rest: u64,
) -> Result<DataSock, Attempt> {
    let sent = send_transfer_command(ctx, cmd, rest);
    let connected = connecting.finish(ctx);
    let sent_rest = sent?;
    let data = connected.map_err(|f| {
        // The server has the command and waits for a connection that will not come.
        ctx.dead = true;
        Attempt::Data(f)
    })?;
    let data = protect(ctx, data).inspect_err(|_| ctx.dead = true)?;
    read_opening_replies(ctx, data, cmd, sent_rest)
}

/// Sends `cmd`, after `REST rest` when non-zero: in the same packet when the server promises
/// REST STREAM (and pipelining is on), else waiting for the 350 first (a refused REST would
/// let the command start at offset 0). Returns whether a REST reply is still to be read.
/// Marks the session: dead when the command may be in flight unanswered, suspect after a
/// refused REST.
fn send_transfer_command(ctx: &mut Ctx<'_>, cmd: &str, rest: u64) -> Result<bool, Attempt> {
    if rest == 0 || (ctx.rest_stream && ctx.shared.may_pipeline()) {
        send_pipelined(ctx, cmd, rest).inspect_err(|_| ctx.dead = true)
    } else {
        send_rest_and_command(ctx, cmd, rest).map(|()| false)
    }
}

/// Reads the replies to a (pipelined) `REST` and transfer command: 350, then 1xx.
fn read_opening_replies(
    ctx: &mut Ctx<'_>,
    data: DataSock,
    cmd: &str,
    sent_rest: bool,
) -> Result<DataSock, Attempt> {
    if sent_rest {
        let r = ctx.ctl.reply().map_err(Attempt::Command)?;
        if r.code != 350 {
            // The command went out behind the refused REST and would start at offset 0.
            ctx.dead = true;
            return Err(Attempt::Command(classify_reply(
                r.code,
                r.last_line(),
                "REST",
            )));
        }
    }
    let r = ctx.ctl.reply().map_err(Attempt::Command)?;
    check_preliminary(cmd, &r)?;
    Ok(data)
}

/// Reads the reply to an EPSV/PASV sent ahead of time (by the session when it went back to
/// the pool) and starts the TCP handshake of that data connection in the background (the
/// next transfer then costs one round trip: its command). `None` when that fails; the session
/// stays usable unless the control connection failed.
pub fn finish_preopen(ctx: &mut Ctx<'_>, method: Method) -> Option<Connecting> {
    let r = match ctx.ctl.reply() {
        Ok(r) => r,
        Err(e) => {
            // Not a reply we can trust to be the right one: the session is out of step.
            log::debug!("the reply to {method} sent ahead: {e}");
            ctx.dead = true;
            return None;
        }
    };
    let (addr, _) = match passive_reply(ctx, method, &r) {
        Ok(t) => t,
        // A refusal (4xx/5xx) answers the command: the session is in step.
        Err(Attempt::Data(Failure::Rejected(_) | Failure::Declined(_))) if r.code >= 400 => {
            return None;
        }
        // 421, an unreadable 227/229, or a reply that belongs to something else (a stray
        // 226): the real answer may still come.
        Err(_) => {
            log::debug!("unexpected reply to {method} sent ahead: {}", r.last_line());
            ctx.dead = true;
            return None;
        }
    };
    Connecting::start(addr, ctx.cfg.data_connect_timeout).ok()
}

/// Runs `cmd` over a data connection started by [`finish_preopen`]. A handshake that already failed,
/// or a 425/426 (the server let the connection go stale), is `Attempt::Data` with the session
/// alive: the caller then makes a fresh one. A handshake still running goes on while the
/// command travels; its failure then leaves the command in flight (the session is dead).
pub fn use_ready(
    ctx: &mut Ctx<'_>,
    data: Connecting,
    cmd: &str,
    rest: u64,
) -> Result<DataSock, Attempt> {
    if !data.is_finished() {
        return command_while_connecting(ctx, data, cmd, rest);
    }
    let data = data.finish(ctx).map_err(Attempt::Data)?;
    let sent_rest = send_transfer_command(ctx, cmd, rest)?;
    let data = protect(ctx, data).inspect_err(|_| ctx.dead = true)?;
    read_opening_replies(ctx, data, cmd, sent_rest)
}

/// Sends `REST n` (when `rest > 0`) and the command in one write; returns whether REST was
/// sent (its 350 is to be read before the command's reply).
fn send_pipelined(ctx: &mut Ctx<'_>, cmd: &str, rest: u64) -> Result<bool, Attempt> {
    if rest > 0 {
        ctx.ctl
            .send_many(&[&format!("REST {rest}"), cmd])
            .map_err(Attempt::Command)?;
        Ok(true)
    } else {
        ctx.ctl.send(cmd).map_err(Attempt::Command)?;
        Ok(false)
    }
}

/// Binds the listener for an active data connection: on the control connection's local
/// address, at a port from `active_port_range` when given (rotating through the range).
fn bind_active(ctx: &Ctx<'_>) -> Result<TcpListener, Attempt> {
    let ip = ctx.local.ip();
    let Some((lo, hi)) = ctx.cfg.active_port_range else {
        return TcpListener::bind((ip, 0))
            .map_err(|e| Attempt::Data(Failure::Failed(format!("cannot listen on {ip}: {e}"))));
    };
    let n = usize::from(hi - lo) + 1;
    let start = ctx.shared.active_cursor.fetch_add(1, Ordering::Relaxed);
    for k in 0..n {
        let port = lo + ((start + k) % n) as u16;
        match TcpListener::bind((ip, port)) {
            Ok(l) => return Ok(l),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(e) => {
                return Err(Attempt::Data(Failure::Failed(format!(
                    "cannot listen on {ip}:{port}: {e}"
                ))));
            }
        }
    }
    Err(Attempt::Data(Failure::Failed(format!(
        "no free port in the active port range {lo}-{hi}"
    ))))
}

fn open_active(
    ctx: &mut Ctx<'_>,
    method: Method,
    cmd: &str,
    rest: u64,
) -> Result<DataSock, Attempt> {
    let listener = bind_active(ctx)?;
    let port = listener
        .local_addr()
        .map_err(|e| Attempt::Data(Failure::Failed(e.to_string())))?
        .port();
    let advertise = ctx.cfg.active_address.unwrap_or(ctx.local.ip());
    let line = match (method, advertise) {
        (Method::Port, IpAddr::V4(v4)) => {
            let o = v4.octets();
            format!(
                "PORT {},{},{},{},{},{}",
                o[0],
                o[1],
                o[2],
                o[3],
                port >> 8,
                port & 0xff
            )
        }
        (Method::Port, IpAddr::V6(_)) => {
            return Err(Attempt::Data(Failure::Rejected(
                "PORT cannot carry an IPv6 address".into(),
            )));
        }
        (_, IpAddr::V4(v4)) => format!("EPRT |1|{v4}|{port}|"),
        (_, IpAddr::V6(v6)) => format!("EPRT |2|{v6}|{port}|"),
    };
    ctx.ctl.send(&line).map_err(Attempt::Command)?;
    let dct = ctx.cfg.data_connect_timeout;
    // Accepted before the transfer command went out: plain until then (pyftpdlib drops an
    // active data connection on which bytes arrive before it has a transfer for it).
    let mut early: Option<TcpStream> = None;
    let mut data: Option<DataSock> = None;
    // The reply to EPRT/PORT: some servers (pyftpdlib) connect before they answer, so wait for
    // either, within the data-connect deadline.
    let deadline = Instant::now() + ctx.ctl.within(dct);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Attempt::Data(Failure::TimedOut(format!(
                "{} got no answer within {}s (the server cannot connect to {advertise}:{port}?)",
                method.name(),
                dct.as_secs_f32()
            ))));
        }
        let ready = wait_active(&listener, ctx.ctl, left);
        if ready[0] && early.is_none() {
            early = accept_from(&listener, ctx)?;
        }
        if ready[1] {
            let r = ctx.ctl.reply().map_err(Attempt::Command)?;
            if r.code != 200 {
                return Err(method_refused(method, &r));
            }
            break;
        }
    }
    send_rest_and_command(ctx, cmd, rest)?;
    // The ClientHello goes out as soon as the command is on its way and the server has
    // connected; the server reads it after its 1xx.
    if let Some(s) = early.take() {
        data = Some(protect(ctx, s).inspect_err(|_| ctx.dead = true)?);
    }
    let deadline = Instant::now() + ctx.ctl.within(dct);
    let mut opened = false;
    while data.is_none() || !opened {
        let left = deadline.saturating_duration_since(Instant::now());
        if data.is_some() {
            // Connected; the 1xx reply follows within the usual reply deadline.
            let r = ctx.ctl.reply().map_err(Attempt::Command)?;
            check_preliminary(cmd, &r)?;
            opened = true;
            continue;
        }
        if left.is_zero() {
            return Err(Attempt::Data(Failure::TimedOut(format!(
                "the server did not connect to {advertise}:{port} within {}s",
                dct.as_secs_f32()
            ))));
        }
        let ready = wait_active(&listener, ctx.ctl, left);
        if ready[1] {
            let r = ctx.ctl.reply().map_err(Attempt::Command)?;
            if opened {
                // A second reply before any connection: the server gave up connecting.
                return Err(match r.code {
                    100..=199 | 425 | 426 => {
                        Attempt::Data(Failure::Declined(format!("{cmd}: {}", r.last_line())))
                    }
                    _ => Attempt::Command(classify_reply(r.code, r.last_line(), cmd)),
                });
            }
            check_preliminary(cmd, &r)?;
            opened = true;
        }
        if ready[0] && data.is_none() {
            data = accept_from(&listener, ctx)?
                .map(|s| protect(ctx, s))
                .transpose()
                .inspect_err(|_| ctx.dead = true)?;
        }
    }
    data.ok_or_else(|| Attempt::Data(Failure::Failed("no data connection".into())))
}

/// Accepts a pending connection on `listener` if it comes from the server; others are
/// dropped (anyone may reach the listener first).
fn accept_from(listener: &TcpListener, ctx: &Ctx<'_>) -> Result<Option<TcpStream>, Attempt> {
    match listener.accept() {
        Ok((s, from)) if from.ip() == ctx.peer.ip() => data_socket(s, ctx.cfg.timeout)
            .map(Some)
            .map_err(Attempt::Data),
        Ok((_, from)) => {
            log::warn!("ignoring a data connection from {from} (not the server)");
            Ok(None)
        }
        Err(e) => Err(Attempt::Data(Failure::Failed(format!("accept: {e}")))),
    }
}
