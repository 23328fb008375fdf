//! A counting FTP control-connection proxy for tests.
//!
//! `CountingProxy::start(upstream_port)` listens on a free port of 127.0.0.1; every
//! client connection gets its own connection to `127.0.0.1:upstream_port`, and two
//! threads copy the bytes both ways unchanged. Every command line the client sends is
//! recorded (CR/LF stripped, `PASS <secret>` recorded as `PASS ****`), in order across
//! all connections, so tests can count round trips: `proxy.count("LIST")`.
//!
//! Only the control connection is proxied. Data connections still work because the
//! proxy and the server are both on 127.0.0.1: an EPSV reply carries only a port, which
//! the client connects to on the control connection's host (127.0.0.1), and the test
//! servers answer PASV with 127,0,0,1; for PORT/EPRT the server connects to 127.0.0.1,
//! which is also the address it sees the control connection coming from.
//!
//! Drop stops accepting, shuts down every proxied socket and joins all threads.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

#[derive(Default)]
struct Shared {
    commands: Mutex<Vec<String>>,
    /// Both ends of every proxied connection, to shut them down on drop.
    sockets: Mutex<Vec<TcpStream>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    shutdown: AtomicBool,
    connections: AtomicUsize,
    /// Forward only the first command of what arrives at once (see `mangle_pipelining`).
    mangle: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// See the module docs.
pub struct CountingProxy {
    port: u16,
    upstream_port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl CountingProxy {
    /// Listen on 127.0.0.1:<free port> and forward to 127.0.0.1:`upstream_port`.
    pub fn start(upstream_port: u16) -> CountingProxy {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("proxy: bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("proxy: set_nonblocking");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("proxy-accept-{port}"))
                .spawn(move || accept_loop(listener, upstream_port, shared))
                .expect("proxy: spawn accept thread")
        };
        CountingProxy {
            port,
            upstream_port,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// From now on, commands that arrive together with an earlier one (pipelined, in one
    /// segment) are dropped, as some routers and servers do.
    pub fn mangle_pipelining(&self) {
        self.shared.mangle.store(true, Ordering::SeqCst);
    }

    /// The port clients should connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The upstream server's port.
    pub fn upstream_port(&self) -> u16 {
        self.upstream_port
    }

    /// Every command line clients sent so far, in order, e.g. `"USER ftpfs-test"`,
    /// `"PASS ****"`, `"CWD /a b"` (verb as sent, argument unchanged).
    pub fn commands(&self) -> Vec<String> {
        lock(&self.shared.commands).clone()
    }

    /// How many recorded commands have this verb (case-insensitive).
    pub fn count(&self, verb: &str) -> usize {
        lock(&self.shared.commands)
            .iter()
            .filter(|line| verb_of(line).eq_ignore_ascii_case(verb))
            .count()
    }

    /// Number of client connections accepted so far (not reset by `reset`).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Cuts every proxied connection now (both directions), as a server restart or a NAT box
    /// that forgot the connection would; new connections are still accepted.
    pub fn cut(&self) {
        for socket in lock(&self.shared.sockets).drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    /// Waits until no command has arrived for `quiet` (background work of the client, such
    /// as opening the next data connection ahead, has settled). Panics when commands keep
    /// coming for 10 s: counts taken then would include a burst still running.
    pub fn settle(&self, quiet: Duration) {
        let end = std::time::Instant::now() + Duration::from_secs(10);
        let mut last = lock(&self.shared.commands).len();
        let mut since = std::time::Instant::now();
        while std::time::Instant::now() < end {
            thread::sleep(Duration::from_millis(20));
            let n = lock(&self.shared.commands).len();
            if n != last {
                last = n;
                since = std::time::Instant::now();
            } else if since.elapsed() >= quiet {
                return;
            }
        }
        panic!(
            "the client kept sending commands for 10 s; last ones: {:?}",
            lock(&self.shared.commands)
                .iter()
                .rev()
                .take(10)
                .collect::<Vec<_>>()
        );
    }

    /// Forget the recorded commands.
    pub fn reset(&self) {
        lock(&self.shared.commands).clear();
    }
}

impl Drop for CountingProxy {
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

fn verb_of(line: &str) -> &str {
    line.split(' ').next().unwrap_or("")
}

fn accept_loop(listener: TcpListener, upstream_port: u16, shared: Arc<Shared>) {
    while !shared.shutdown.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                shared.connections.fetch_add(1, Ordering::SeqCst);
                if let Err(e) = proxy_connection(client, upstream_port, &shared) {
                    eprintln!("CountingProxy: connection to upstream port {upstream_port}: {e}");
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => {
                eprintln!("CountingProxy: accept: {e}");
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Connect upstream and start the two copy threads for one client.
fn proxy_connection(
    client: TcpStream,
    upstream_port: u16,
    shared: &Arc<Shared>,
) -> std::io::Result<()> {
    // The accepted socket may inherit O_NONBLOCK from the listener on some platforms.
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
    {
        let mut sockets = lock(&shared.sockets);
        sockets.push(client.try_clone()?);
        sockets.push(upstream.try_clone()?);
    }

    // Server → client: raw copy.
    let down = {
        let mut from = upstream.try_clone()?;
        let mut to = client.try_clone()?;
        thread::Builder::new()
            .name("proxy-down".into())
            .spawn(move || {
                let _ = std::io::copy(&mut from, &mut to);
                let _ = to.shutdown(Shutdown::Write);
            })?
    };
    // Client → server: line by line, recording each command.
    let up = {
        let shared = Arc::clone(shared);
        let mut to = upstream;
        let from = client;
        thread::Builder::new()
            .name("proxy-up".into())
            .spawn(move || {
                let mut reader = BufReader::new(from);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match reader.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                    record(&shared, &line);
                    if to.write_all(&line).is_err() {
                        break;
                    }
                    if shared.mangle.load(Ordering::SeqCst) {
                        let extra = reader.buffer().len();
                        reader.consume(extra);
                    }
                }
                let _ = to.shutdown(Shutdown::Write);
            })?
    };
    let mut threads = lock(&shared.threads);
    // Drop handles of finished threads so long tests don't accumulate them.
    threads.retain(|t| !t.is_finished());
    threads.push(down);
    threads.push(up);
    Ok(())
}

fn record(shared: &Shared, raw: &[u8]) {
    let text = String::from_utf8_lossy(raw);
    let text = text.trim_end_matches(['\r', '\n']);
    // Telnet IP/Synch bytes (IAC IP IAC DM, sent before ABOR) are not part of the verb.
    let text = text.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    let entry = if verb_of(text).eq_ignore_ascii_case("PASS") {
        format!("{} ****", verb_of(text))
    } else {
        text.to_string()
    };
    lock(&shared.commands).push(entry);
}
