//! Raw byte proxies for the FTPS tests: what crosses the wire, byte for byte.
//!
//! * [`RawProxy::recording`] forwards both directions unchanged and records every byte
//!   of every connection, per connection and per direction. Tests assert that a
//!   password never crosses in clear ([`RawProxy::any_contains`]) and that the client
//!   sends its TLS ClientHello right after `AUTH TLS` ([`ConnBytes::after_auth`],
//!   [`is_client_hello`]).
//! * [`RawProxy::stripping`] is a STARTTLS-stripping attacker: it answers the client's
//!   `AUTH TLS`/`AUTH SSL` (any `AUTH`) itself with `500 not understood` and does not
//!   forward it; everything else is forwarded as it comes. It records the same way, so a
//!   test can assert that no `USER`/`PASS` followed the refusal.
//!
//! Like `proxy.rs`, only the control connection goes through the proxy (data connections
//! reach the server on 127.0.0.1 directly). Invariants: bytes are forwarded as soon as
//! they arrive (the stripping proxy holds back only a possible beginning of an `AUTH`
//! line), each connection's records are in arrival order, and what the client received
//! includes the stripping proxy's own replies. Drop stops accepting, shuts every proxied
//! socket down and joins all threads.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// The reply the stripping proxy gives to `AUTH`.
pub const STRIPPED_REPLY: &[u8] = b"500 not understood\r\n";

/// The bytes of one proxied connection.
#[derive(Clone, Debug, Default)]
pub struct ConnBytes {
    /// Everything the client sent (stripped `AUTH` lines included).
    pub client_sent: Vec<u8>,
    /// Everything the client received (the stripping proxy's replies included).
    pub client_received: Vec<u8>,
    /// How many `AUTH` commands the stripping proxy answered itself.
    pub auth_refused: usize,
}

impl ConnBytes {
    /// What the client sent after its first `AUTH …\r\n` line (`None`: no AUTH).
    pub fn after_auth(&self) -> Option<&[u8]> {
        let mut start = 0;
        for line in self.client_sent.split_inclusive(|&b| b == b'\n') {
            start += line.len();
            if line.len() >= 5 && line[..5].eq_ignore_ascii_case(b"AUTH ") {
                return Some(&self.client_sent[start..]);
            }
        }
        None
    }

    /// Whether the client sent a command line with this verb in clear text (a line of
    /// `client_sent` starting with it, case-insensitive).
    pub fn sent_command(&self, verb: &str) -> bool {
        self.client_sent
            .split(|&b| b == b'\n')
            .any(|line| line_has_verb(line, verb))
    }

    /// `client_sent` as text (lossy), for messages.
    pub fn client_text(&self) -> String {
        String::from_utf8_lossy(&self.client_sent).into_owned()
    }
}

/// Whether `bytes` start with a TLS handshake record holding a ClientHello.
pub fn is_client_hello(bytes: &[u8]) -> bool {
    bytes.len() > 5 && bytes[0] == 0x16 && bytes[1] == 0x03 && bytes[5] == 0x01
}

fn line_has_verb(line: &[u8], verb: &str) -> bool {
    let v = verb.as_bytes();
    line.len() >= v.len()
        && line[..v.len()].eq_ignore_ascii_case(v)
        && matches!(line.get(v.len()), None | Some(b' ' | b'\r'))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

#[derive(Default)]
struct Shared {
    strip: bool,
    conns: Mutex<Vec<ConnBytes>>,
    sockets: Mutex<Vec<TcpStream>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    shutdown: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// See the module docs.
pub struct RawProxy {
    port: u16,
    upstream_port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl RawProxy {
    /// Forward to 127.0.0.1:`upstream_port` unchanged, recording every byte.
    pub fn recording(upstream_port: u16) -> RawProxy {
        Self::start(upstream_port, false)
    }

    /// Forward to 127.0.0.1:`upstream_port`, but answer `AUTH` with
    /// [`STRIPPED_REPLY`] instead of forwarding it; records every byte.
    pub fn stripping(upstream_port: u16) -> RawProxy {
        Self::start(upstream_port, true)
    }

    fn start(upstream_port: u16, strip: bool) -> RawProxy {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("rawproxy: bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("rawproxy: nonblocking");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            strip,
            ..Shared::default()
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("rawproxy-accept-{port}"))
                .spawn(move || accept_loop(listener, upstream_port, shared))
                .expect("rawproxy: spawn accept thread")
        };
        RawProxy {
            port,
            upstream_port,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The port clients should connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn upstream_port(&self) -> u16 {
        self.upstream_port
    }

    /// A copy of every connection's bytes so far, in accept order.
    pub fn connections(&self) -> Vec<ConnBytes> {
        lock(&self.shared.conns).clone()
    }

    /// Whether `needle` occurs in any byte recorded so far, in either direction.
    pub fn any_contains(&self, needle: &[u8]) -> bool {
        lock(&self.shared.conns)
            .iter()
            .any(|c| contains(&c.client_sent, needle) || contains(&c.client_received, needle))
    }

    /// Whether any client sent a clear-text command with this verb.
    pub fn any_sent_command(&self, verb: &str) -> bool {
        lock(&self.shared.conns)
            .iter()
            .any(|c| c.sent_command(verb))
    }
}

impl Drop for RawProxy {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for socket in lock(&self.shared.sockets).drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
        let threads: Vec<_> = lock(&self.shared.threads).drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, upstream_port: u16, shared: Arc<Shared>) {
    while !shared.shutdown.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                if let Err(e) = proxy_connection(client, upstream_port, &shared) {
                    eprintln!("RawProxy: connection to upstream port {upstream_port}: {e}");
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => {
                eprintln!("RawProxy: accept: {e}");
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn proxy_connection(
    client: TcpStream,
    upstream_port: u16,
    shared: &Arc<Shared>,
) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    let upstream = match TcpStream::connect((Ipv4Addr::LOCALHOST, upstream_port)) {
        Ok(s) => s,
        Err(e) => {
            let _ = client.shutdown(Shutdown::Both);
            return Err(e);
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let index = {
        let mut conns = lock(&shared.conns);
        conns.push(ConnBytes::default());
        conns.len() - 1
    };
    {
        let mut sockets = lock(&shared.sockets);
        sockets.push(client.try_clone()?);
        sockets.push(upstream.try_clone()?);
    }
    // Both directions write to the client: the stripping proxy's replies must not land
    // in the middle of a server reply.
    let to_client = Arc::new(Mutex::new(client.try_clone()?));
    let down = {
        let shared = Arc::clone(shared);
        let from = upstream.try_clone()?;
        let to = Arc::clone(&to_client);
        thread::Builder::new()
            .name("rawproxy-down".into())
            .spawn(move || copy_down(from, &to, &shared, index))?
    };
    let up = {
        let shared = Arc::clone(shared);
        thread::Builder::new()
            .name("rawproxy-up".into())
            .spawn(move || copy_up(client, upstream, &to_client, &shared, index))?
    };
    let mut threads = lock(&shared.threads);
    threads.retain(|t| !t.is_finished());
    threads.push(down);
    threads.push(up);
    Ok(())
}

/// Server → client, recording.
fn copy_down(mut from: TcpStream, to: &Mutex<TcpStream>, shared: &Shared, index: usize) {
    let mut buf = [0u8; 16384];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut to = lock(to);
        lock(&shared.conns)[index]
            .client_received
            .extend_from_slice(&buf[..n]);
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = lock(to).shutdown(Shutdown::Write);
}

/// Client → server, recording; the stripping proxy answers `AUTH` lines itself.
fn copy_up(
    mut from: TcpStream,
    mut to: TcpStream,
    to_client: &Mutex<TcpStream>,
    shared: &Shared,
    index: usize,
) {
    let mut buf = [0u8; 16384];
    // Stripping proxy: bytes of a line that may still turn out to be an AUTH command.
    let mut held: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        lock(&shared.conns)[index]
            .client_sent
            .extend_from_slice(&buf[..n]);
        if !shared.strip {
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
            continue;
        }
        held.extend_from_slice(&buf[..n]);
        let mut forward = Vec::new();
        loop {
            if let Some(end) = held.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = held.drain(..=end).collect();
                if line_has_verb(&line, "AUTH") {
                    let mut client = lock(to_client);
                    lock(&shared.conns)[index].auth_refused += 1;
                    lock(&shared.conns)[index]
                        .client_received
                        .extend_from_slice(STRIPPED_REPLY);
                    let _ = client.write_all(STRIPPED_REPLY);
                } else {
                    forward.extend_from_slice(&line);
                }
            } else {
                // No complete line: hold it only while it can still become "AUTH ".
                let k = held.len().min(5);
                if !held[..k].eq_ignore_ascii_case(&b"AUTH "[..k]) {
                    forward.append(&mut held);
                }
                break;
            }
        }
        if !forward.is_empty() && to.write_all(&forward).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
