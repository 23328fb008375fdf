//! The sockets of a mount that wait on the server, so that an unmount can end the waits
//! that have gone silent. Every control connection and every data connection is registered
//! ([`Watch::register`]) for its whole life; each marks when it starts waiting on the server
//! ([`Watched::waiting`]: a reply, a command write, a data read or write) and when a byte
//! moves ([`Watched::touch`]).
//!
//! At unmount (SIGTERM, SIGINT, or the mount vanishing under a lazy `fusermount3 -u -z`)
//! [`Watch::cancel`] starts a reaper: from then on, every wait that has seen no byte for
//! [`SILENT`] is cut (`shutdown(2)` of its socket: the blocked read or write returns at
//! once, the request fails with EIO), and new waits get at most [`CLOSING_TIMEOUT`]. Waits
//! that move (an upload finishing at unmount) go on; nothing that is merely idle (a pooled
//! connection, an open file nobody reads) is cut.
//!
//! Invariants:
//! - A socket is unregistered before it is closed (the registration is dropped first, under
//!   the registry's lock, which the reaper holds while it cuts): the reaper never shuts down
//!   a descriptor number that was closed and reused.
//! - Cutting is the only thing the reaper does; it never blocks (shutdown does not wait).

use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// At unmount, a wait that has seen no byte for this long is cut.
pub const SILENT: Duration = Duration::from_secs(2);

/// At unmount, the longest any new wait may take (`timeout` when shorter).
pub const CLOSING_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the reaper looks.
const REAP_EVERY: Duration = Duration::from_millis(200);

/// One registered socket.
struct Sock {
    fd: RawFd,
    what: &'static str,
    /// Waiting on the server right now.
    busy: AtomicBool,
    /// When the wait began or a byte last moved (milliseconds since the watch's base).
    last: AtomicU64,
    /// Already cut.
    cut: AtomicBool,
}

/// The registry of a mount.
pub struct Watch {
    base: Instant,
    closing: AtomicBool,
    next: AtomicU64,
    socks: Mutex<HashMap<u64, Arc<Sock>>>,
}

impl Default for Watch {
    fn default() -> Self {
        Watch {
            base: Instant::now(),
            closing: AtomicBool::new(false),
            next: AtomicU64::new(1),
            socks: Mutex::new(HashMap::new()),
        }
    }
}

/// A registered socket; unregisters when dropped (drop it before the socket).
pub struct Watched {
    watch: Arc<Watch>,
    id: u64,
    sock: Arc<Sock>,
}

/// A wait on the server in progress (see [`Watched::waiting`]); ends when dropped.
pub struct Waiting(Arc<Sock>);

impl Watch {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Sock>>> {
        self.socks.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now_ms(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    /// Registers the socket `fd` (a control or data connection: `what`, for the log).
    pub fn register(self: &Arc<Self>, fd: RawFd, what: &'static str) -> Watched {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let sock = Arc::new(Sock {
            fd,
            what,
            busy: AtomicBool::new(false),
            last: AtomicU64::new(self.now_ms()),
            cut: AtomicBool::new(false),
        });
        self.lock().insert(id, Arc::clone(&sock));
        Watched {
            watch: Arc::clone(self),
            id,
            sock,
        }
    }

    /// Whether the mount is being unmounted.
    pub fn closing(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
    }

    /// The timeout for a wait that starts now: `timeout`, or at most [`CLOSING_TIMEOUT`]
    /// while unmounting.
    pub fn timeout(&self, timeout: Duration) -> Duration {
        if self.closing() {
            timeout.min(CLOSING_TIMEOUT)
        } else {
            timeout
        }
    }

    /// The mount is being unmounted: from now on, waits silent for [`SILENT`] are cut (by a
    /// thread of its own, which lives as long as the process). Idempotent.
    pub fn cancel(self: &Arc<Self>) {
        if self.closing.swap(true, Ordering::SeqCst) {
            return;
        }
        let me = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("ftpfs-reaper".into())
            .spawn(move || {
                loop {
                    me.reap();
                    std::thread::sleep(REAP_EVERY);
                }
            });
        if let Err(e) = spawned {
            log::warn!("cannot start the thread that ends stalled waits at unmount: {e}");
            self.reap();
        }
    }

    /// Cuts every wait silent for [`SILENT`]; returns how many were cut.
    pub fn reap(&self) -> usize {
        self.reap_at(self.now_ms())
    }

    fn reap_at(&self, now: u64) -> usize {
        let silent = SILENT.as_millis() as u64;
        let socks = self.lock();
        // Logged after the lock is released: every data connection's open and close takes it.
        let mut cut = Vec::new();
        for s in socks.values() {
            let idle = now.saturating_sub(s.last.load(Ordering::Relaxed));
            if s.busy.load(Ordering::Relaxed)
                && idle >= silent
                && !s.cut.swap(true, Ordering::Relaxed)
            {
                // SAFETY: `fd` is open: it is unregistered (under this lock) before it is
                // closed. shutdown(2) does not block.
                unsafe { libc::shutdown(s.fd, libc::SHUT_RDWR) };
                cut.push((s.what, idle));
            }
        }
        drop(socks);
        for (what, idle) in &cut {
            log::info!(
                "unmounting: ended a wait on the server's {what} silent for {:.1}s",
                *idle as f64 / 1000.0
            );
        }
        cut.len()
    }
}

impl Watched {
    /// Marks a wait on the server (a reply, a write, a data read) until the guard drops.
    pub fn waiting(&self) -> Waiting {
        self.touch();
        self.sock.busy.store(true, Ordering::Relaxed);
        Waiting(Arc::clone(&self.sock))
    }

    /// A byte moved.
    pub fn touch(&self) {
        self.sock.last.store(self.watch.now_ms(), Ordering::Relaxed);
    }

    /// Whether this socket was cut at unmount (its error should say so).
    pub fn was_cut(&self) -> bool {
        self.sock.cut.load(Ordering::Relaxed)
    }

    /// Whether the mount is being unmounted.
    pub fn closing(&self) -> bool {
        self.watch.closing()
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::Relaxed);
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.watch.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;

    use super::*;

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let a = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let (b, _) = l.accept().expect("accept");
        (a, b)
    }

    #[test]
    fn only_waits_silent_for_long_are_cut() {
        let watch = Arc::new(Watch::default());
        let (mut waiting, _peer1) = pair();
        let (idle, _peer2) = pair();
        let w1 = watch.register(waiting.as_raw_fd(), "control connection");
        let w2 = watch.register(idle.as_raw_fd(), "data connection");
        let guard = w1.waiting();
        assert_eq!(watch.reap(), 0, "nothing has been silent for long yet");
        let later = watch.now_ms() + SILENT.as_millis() as u64 + 1;
        assert_eq!(watch.reap_at(later), 1);
        assert!(w1.was_cut() && !w2.was_cut(), "an idle socket is never cut");
        let mut buf = [0u8; 8];
        assert_eq!(
            waiting.read(&mut buf).map_err(|e| e.kind()),
            Ok(0),
            "the wait ends"
        );
        drop(guard);
        assert_eq!(watch.reap_at(later), 0);
        drop(w1);
        drop(w2);
        assert!(watch.lock().is_empty());
    }

    #[test]
    fn unmounting_shortens_new_waits() {
        let watch = Arc::new(Watch::default());
        assert!(!watch.closing());
        assert_eq!(
            watch.timeout(Duration::from_secs(30)),
            Duration::from_secs(30)
        );
        watch.cancel();
        watch.cancel();
        assert!(watch.closing());
        assert_eq!(watch.timeout(Duration::from_secs(30)), CLOSING_TIMEOUT);
        assert_eq!(
            watch.timeout(Duration::from_secs(1)),
            Duration::from_secs(1)
        );
    }
}
