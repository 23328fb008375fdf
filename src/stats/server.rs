//! The daemon's side of `ftpfs stats`: a Unix stream socket in the abstract namespace, named
//! after the mount's device number ([`socket_name`]), served by one thread.
//!
//! Invariants:
//! - Each connection gets one JSON document and is closed: the [`super::Report`], or
//!   `{"error": "..."}` for a caller that may not see it. Nothing is read from the caller.
//! - Access: the caller's uid (`SO_PEERCRED`, from the kernel, not from the caller) must be
//!   the mounting user's, root's, or anyone's when the mount has `allow_other` ([`Access`]).
//! - The report is built before the socket is written to (no lock is held during I/O), and
//!   a write that does not go through within [`WRITE_TIMEOUT`] is abandoned: a caller that
//!   does not read cannot hold the thread for long, and no FUSE request ever waits on it.
//! - A panic while building a report ends that answer only, not the thread.
//! - The name is held only while the FUSE session runs ([`Server::close`]): the kernel gives
//!   the device number to the next mount as soon as this one is gone, while this daemon may
//!   still be finishing uploads. A daemon that finds the name taken keeps trying to bind it
//!   (for [`TAKEOVER`]) instead of serving nothing.

use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::Source;

/// The longest a caller may take to read its answer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Who may read a mount's statistics: the same users the kernel lets into the mount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// The mounting user (the daemon's uid).
    pub owner: u32,
    /// The mount has `allow_other`: everyone.
    pub allow_other: bool,
}

impl Access {
    /// Root, the owner, or anyone with `allow_other`.
    pub fn allows(&self, uid: u32) -> bool {
        uid == 0 || uid == self.owner || self.allow_other
    }
}

/// The abstract socket name of the mount whose device is `dev`.
pub fn socket_name(dev: (u32, u32)) -> String {
    format!("ftpfs/stats/{}:{}", dev.0, dev.1)
}

/// The uid of the process at the other end of `s` (as the kernel recorded it at connect).
pub(super) fn peer_uid(s: &UnixStream) -> io::Result<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, a local of that size.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &mut len,
        )
    };
    if r == 0 {
        Ok(cred.uid)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// How long a daemon tries to take its socket's name while another process holds it: the
/// daemon of an earlier mount that had the same device number (the kernel reuses them), which
/// lets go of the name when its session ends ([`Server::close`]) or when it exits.
const TAKEOVER: Duration = Duration::from_secs(120);

/// The serving thread; [`Server::close`] frees the socket's name.
pub struct Server {
    addr: SocketAddr,
    closing: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Stops answering and frees the socket's name (at the end of the FUSE session: the
    /// device number may go to the next mount while this daemon still finishes uploads).
    /// Waits for an answer being written (at most [`WRITE_TIMEOUT`]).
    pub fn close(mut self) {
        self.closing.store(true, Ordering::SeqCst);
        // Wakes the thread's accept(); it sees `closing` and drops the listener.
        let _ = UnixStream::connect_addr(&self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Binds the socket of the mount `dev` and answers on it from a thread of its own. When the
/// name is taken (see [`TAKEOVER`]) the thread keeps trying to bind it meanwhile.
pub fn start_server(source: Arc<Source>, dev: (u32, u32), access: Access) -> io::Result<Server> {
    let addr = SocketAddr::from_abstract_name(socket_name(dev).as_bytes())?;
    let first = match UnixListener::bind_addr(&addr) {
        Ok(l) => Some(l),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            log::info!(
                "ftpfs stats: @{} is still held (by the daemon of an earlier mount, most \
                 likely); trying again for {}s",
                socket_name(dev),
                TAKEOVER.as_secs()
            );
            None
        }
        Err(e) => return Err(e),
    };
    let closing = Arc::new(AtomicBool::new(false));
    let thread = {
        let (addr, closing) = (addr.clone(), Arc::clone(&closing));
        std::thread::Builder::new()
            .name("ftpfs-stats".into())
            .spawn(move || {
                let Some(listener) = first.or_else(|| take_over(&addr, &closing, dev)) else {
                    return;
                };
                for conn in listener.incoming() {
                    if closing.load(Ordering::SeqCst) {
                        break;
                    }
                    match conn {
                        Ok(s) => answer(&source, access, s),
                        Err(e) => {
                            // Out of descriptors, most likely: try again a little later.
                            log::debug!("stats socket: {e}");
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                }
            })?
    };
    Ok(Server {
        addr,
        closing,
        thread: Some(thread),
    })
}

/// Binds `addr` once its holder lets go, within [`TAKEOVER`] and until `closing`.
fn take_over(addr: &SocketAddr, closing: &AtomicBool, dev: (u32, u32)) -> Option<UnixListener> {
    let start = std::time::Instant::now();
    while !closing.load(Ordering::SeqCst) {
        match UnixListener::bind_addr(addr) {
            Ok(l) => {
                // `close` may have come between the check above and the bind (its wake-up
                // connection then went elsewhere): it sets `closing` before it connects.
                if closing.load(Ordering::SeqCst) {
                    return None;
                }
                log::info!("ftpfs stats: serving on @{}", socket_name(dev));
                return Some(l);
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && start.elapsed() < TAKEOVER => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => {
                log::warn!(
                    "ftpfs stats: cannot serve statistics on @{} ({e}); SIGUSR1 still logs them",
                    socket_name(dev)
                );
                return None;
            }
        }
    }
    None
}

fn error_doc(msg: &str) -> Vec<u8> {
    serde_json::json!({ "error": msg }).to_string().into_bytes()
}

/// One answer: the report or why not.
fn answer(source: &Source, access: Access, mut s: UnixStream) {
    if let Err(e) = s.set_write_timeout(Some(WRITE_TIMEOUT)) {
        log::debug!("stats socket: {e}");
        return;
    }
    let doc = match peer_uid(&s) {
        Ok(uid) if access.allows(uid) => {
            let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                serde_json::to_vec(&source.report())
            }));
            match built {
                Ok(Ok(doc)) => doc,
                Ok(Err(e)) => error_doc(&format!("the daemon could not write its report: {e}")),
                Err(_) => error_doc("the daemon failed while building its report"),
            }
        }
        Ok(uid) => {
            log::info!("stats: refused to uid {uid} (not the owner, and no allow_other)");
            error_doc(&format!(
                "permission denied: uid {uid} may not read this mount's statistics (only its \
                 owner, uid {}, and root may: the mount is not allow_other)",
                access.owner
            ))
        }
        Err(e) => error_doc(&format!("cannot tell who is asking: {e}")),
    };
    if let Err(e) = s.write_all(&doc) {
        log::debug!("stats socket: answer not sent: {e}");
    }
    let _ = s.shutdown(std::net::Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_is_the_kernels_rule_for_the_mount() {
        let own = Access {
            owner: 1000,
            allow_other: false,
        };
        assert!(own.allows(1000) && own.allows(0));
        assert!(!own.allows(1001) && !own.allows(65534));
        let all = Access {
            owner: 1000,
            allow_other: true,
        };
        assert!(all.allows(65534));
        assert_eq!(socket_name((0, 57)), "ftpfs/stats/0:57");
    }
}
