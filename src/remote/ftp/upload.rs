//! The upload side of a STOR/APPE: a thread that writes queued chunks to the data connection,
//! so that a FUSE `write()` returns as soon as its data is queued and the next chunk is read
//! from the kernel while the previous one is on the wire.
//!
//! Invariants:
//! - At most [`QUEUE`] chunks wait, plus one being written. The chunks are the callers' own
//!   buffers (a FUSE write's data, in a buffer of the mount's memory budget), queued without
//!   a copy and given back to the budget once written: the budget bounds them all, and a
//!   slow server slows the writers down instead of filling memory.
//! - Chunks reach the data connection in the order they were queued. A chunk queued with
//!   [`Uploader::write_keep`] comes back once written (oldest first), for its caller to
//!   fill again.
//! - The first write error stops the thread; the error is returned by the next `write_all`
//!   (or by `stop`) together with the data connection, so the caller can still read the
//!   server's verdict (a 552 says more than "broken pipe"). Nothing queued after a failed
//!   chunk is written.
//! - `stop` returns only after every queued chunk was written (or the first error).

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::transfer::DataConn;
use crate::memory::Buf;
use crate::remote::{RemoteError, RemoteResult};

/// Chunks that may wait for the wire.
const QUEUE: usize = 4;

type Outcome = (DataConn, RemoteResult<()>);

/// Stack of an upload thread: it writes to a socket (through rustls under TLS).
const STACK: usize = 256 << 10;

/// A chunk, and whether it goes back to the caller once written.
type Chunk = (Buf, bool);

/// A data connection fed by a thread of its own.
pub struct Uploader {
    tx: Option<SyncSender<Chunk>>,
    /// Chunks queued with `write_keep`, once written.
    back: Receiver<Buf>,
    /// How many of those are still out.
    lent: usize,
    thread: Option<JoinHandle<Option<Outcome>>>,
}

impl Uploader {
    /// Starts the thread. If no thread can be started, the data connection comes back (to be
    /// written to directly).
    pub fn start(dc: DataConn) -> Result<Uploader, Option<DataConn>> {
        let (tx, rx): (SyncSender<Chunk>, Receiver<Chunk>) = sync_channel(QUEUE);
        let (back_tx, back) = sync_channel::<Buf>(QUEUE + 1);
        // Handed over through a slot, so that it can be taken back when the thread does not
        // start (the closure would otherwise drop it).
        let slot = Arc::new(Mutex::new(Some(dc)));
        let mine = Arc::clone(&slot);
        let spawned = std::thread::Builder::new()
            .name("ftpfs-upload".into())
            .stack_size(STACK)
            .spawn(move || {
                let mut dc = mine.lock().ok()?.take()?;
                for (buf, keep) in rx {
                    if let Err(e) = dc.write_all(&buf) {
                        return Some((dc, Err(e)));
                    }
                    if keep {
                        let _ = back_tx.send(buf);
                    }
                }
                Some((dc, Ok(())))
            });
        match spawned {
            Ok(thread) => Ok(Uploader {
                tx: Some(tx),
                back,
                lent: 0,
                thread: Some(thread),
            }),
            Err(_) => Err(slot.lock().ok().and_then(|mut g| g.take())),
        }
    }

    /// Queues a copy of `data` (outside any budget: for callers that have none).
    #[cfg(test)]
    pub fn write_all(&mut self, data: &[u8]) -> RemoteResult<()> {
        self.write_buf(Buf::unbudgeted(data.to_vec()))
    }

    /// Queues `buf` (waits while the queue is full). An error is the first failed write of
    /// an earlier chunk: the thread has stopped, and `stop` gives the connection back.
    pub fn write_buf(&mut self, buf: Buf) -> RemoteResult<()> {
        self.send((buf, false))
    }

    /// Queues `buf` to come back once written; returns the oldest such buffer, once it is
    /// written, when `depth` of them are out (else `None`).
    pub fn write_keep(&mut self, buf: Buf, depth: usize) -> RemoteResult<Option<Buf>> {
        self.send((buf, true))?;
        self.lent += 1;
        if self.lent < depth.max(1) {
            return Ok(None);
        }
        match self.back.recv() {
            Ok(b) => {
                self.lent -= 1;
                Ok(Some(b))
            }
            Err(_) => Err(RemoteError::Other("upload stopped".into())),
        }
    }

    fn send(&mut self, c: Chunk) -> RemoteResult<()> {
        let Some(tx) = &self.tx else {
            return Err(RemoteError::Other("upload already stopped".into()));
        };
        if tx.send(c).is_ok() {
            return Ok(());
        }
        // The thread ended: it hit an error (it never ends on its own otherwise).
        Err(RemoteError::Other("upload stopped".into()))
    }

    /// Waits until every queued chunk is written; returns the data connection and the first
    /// write error, if any. `None` only if the thread panicked (the connection is lost).
    pub fn stop(&mut self) -> Option<Outcome> {
        self.tx = None;
        self.thread.take().and_then(|t| t.join().ok().flatten())
    }
}

impl Drop for Uploader {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};

    use super::*;
    use crate::remote::ftp::transfer::DataSock;

    /// A data connection to a local peer (returned too).
    fn pair() -> (DataConn, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let data = TcpStream::connect(addr).expect("connect");
        let (peer, _) = l.accept().expect("accept");
        let dc = DataConn::new(DataSock::plain(data), "STOR x".into(), None);
        (dc, peer)
    }

    /// A thread that reads all the peer gets.
    fn everything_from(mut peer: TcpStream) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut got = vec![];
            peer.read_to_end(&mut got).expect("read");
            got
        })
    }

    #[test]
    fn chunks_arrive_in_order_and_stop_waits_for_all() {
        let (dc, peer) = pair();
        let reader = everything_from(peer);
        let mut up = Uploader::start(dc).ok().expect("thread");
        let mut want = vec![];
        for k in 0..64u32 {
            let chunk: Vec<u8> = (0..100_000u32).map(|i| (i ^ k) as u8).collect();
            up.write_all(&chunk).expect("queued");
            want.extend_from_slice(&chunk);
        }
        let (dc, r) = up.stop().expect("outcome");
        r.expect("all written");
        drop(dc);
        assert!(reader.join().expect("join") == want);
    }

    #[test]
    fn kept_chunks_come_back_once_written_oldest_first() {
        let (dc, peer) = pair();
        let reader = everything_from(peer);
        let mut up = Uploader::start(dc).ok().expect("thread");
        let mut free: Vec<Buf> = (0..2u8).map(|k| Buf::unbudgeted(vec![k; 50_000])).collect();
        let mut want = vec![];
        for k in 0..40u8 {
            let mut b = free.pop().expect("a buffer is always back");
            b.fill(k);
            want.extend_from_slice(&b);
            if let Some(back) = up.write_keep(b, 2).expect("queued") {
                free.push(back);
            }
            assert!(up.lent < 2, "more buffers out than asked");
        }
        let (dc, r) = up.stop().expect("outcome");
        r.expect("all written");
        drop(dc);
        assert!(reader.join().expect("join") == want);
    }

    #[test]
    fn a_write_error_stops_the_thread_and_is_reported() {
        let (dc, peer) = pair();
        drop(peer);
        let mut up = Uploader::start(dc).ok().expect("thread");
        let chunk = vec![7u8; 1 << 20];
        // Writes to a closed peer fail after a few chunks (the first may fit in buffers);
        // then write_all fails fast, and stop gives the connection back with the error.
        let mut failed = false;
        for _ in 0..200 {
            if up.write_all(&chunk).is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed, "writes to a closed peer kept succeeding");
        let (_dc, r) = up.stop().expect("outcome");
        assert!(r.is_err());
    }
}
