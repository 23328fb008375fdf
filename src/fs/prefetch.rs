//! Read-ahead for one download stream: a thread owns the [`ReadStream`] and fills chunks into
//! a bounded queue while the FUSE thread hands earlier chunks to the kernel, so socket reads
//! and kernel copies overlap. Chunks grow from 64 KiB to 1 MiB while the reader keeps up
//! sequentially (the mountpoint-s3 pattern).
//!
//! Invariants:
//! - Memory per stream is bounded: at most [`DEPTH`] chunks queued, one being consumed, and
//!   [`BACK`] bytes of already-delivered chunks kept for slightly out-of-order reads (the
//!   kernel's parallel read-ahead requests can arrive out of order).
//! - An open file that is not being read does not hold a connection: when the queue has been
//!   full for [`IDLE_RELEASE`] (or for [`YIELD_AFTER`] while another request waits for a
//!   connection the pool cannot give), the thread ends the transfer (ABOR) and gives the
//!   connection back; the next read past the queued data resumes with `REST` at that offset
//!   (when the prefetcher was given a way to reopen). With a pool of one, a waiting listing
//!   gets the connection after the chunk being read, even from a busy reader.
//! - Dropping a `Prefetcher` stops its thread: the thread notices at once when it waits, or
//!   after its current socket read, then closes the stream (ABOR when not at the end).
//! - Errors are delivered in order, after the data that preceded them.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::remote::{ReadStream, RemoteError, Wanted};

/// Chunks read ahead of the consumer.
const DEPTH: usize = 4;
/// First and largest chunk size.
const FIRST_CHUNK: usize = 64 << 10;
const MAX_CHUNK: usize = 1 << 20;
/// Delivered bytes kept behind the read position.
const BACK: usize = 1 << 20;
/// A full queue left untouched this long gives its connection back.
#[cfg(not(test))]
const IDLE_RELEASE: Duration = Duration::from_secs(10);
#[cfg(test)]
const IDLE_RELEASE: Duration = Duration::from_millis(200);

/// A full queue gives its connection back after this long when another request waits for a
/// connection the pool cannot give (a pool at its limit, e.g. a server that takes one or two
/// connections: `cmp a b` would otherwise wait for IDLE_RELEASE at every switch of file).
const YIELD_AFTER: Duration = Duration::from_millis(20);

type Chunk = Result<Vec<u8>, RemoteError>;

/// Opens the file again at an offset (to resume after an idle release).
pub type Reopen = Arc<dyn Fn(u64) -> Result<Box<dyn ReadStream>, RemoteError> + Send + Sync>;

#[derive(Default)]
struct Queue {
    chunks: VecDeque<Chunk>,
    /// Buffers the consumer is done with, for the producer to fill again (allocating and
    /// freeing 1 MiB blocks on two threads makes glibc keep them resident).
    free: Vec<Vec<u8>>,
    /// The consumer is gone: stop.
    gone: bool,
    /// The producer stopped without reaching the end (idle release).
    paused: bool,
}

#[derive(Default)]
struct Pipe {
    q: Mutex<Queue>,
    cv: Condvar,
}

impl Pipe {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.q.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The consumer side.
pub struct Prefetcher {
    pipe: Option<Arc<Pipe>>,
    reopen: Option<Reopen>,
    /// Offset of `cur[0]`.
    cur_start: u64,
    cur: Vec<u8>,
    /// Already-delivered chunks before `cur_start`, oldest first, with their offsets.
    back: VecDeque<(u64, Vec<u8>)>,
    back_bytes: usize,
    /// Bytes at or after this offset are being served and must not be dropped from `back`.
    pin: u64,
    /// End of file, once seen.
    eof: Option<u64>,
}

/// Fills `buf` from the stream; returns the bytes read and the error that stopped it, if any.
fn fill(stream: &mut dyn ReadStream, buf: &mut [u8]) -> (usize, Option<RemoteError>) {
    let mut got = 0;
    while got < buf.len() {
        match stream.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return (got, Some(e)),
        }
    }
    (got, None)
}

/// Queues `chunk` when there is room; false when the consumer is gone, or when the queue stayed
/// full for [`IDLE_RELEASE`], or for [`YIELD_AFTER`] while `wanted` says another request waits
/// for a connection (then `paused` is set).
fn push(pipe: &Pipe, chunk: Chunk, wanted: &dyn Fn() -> Wanted) -> bool {
    let mut q = pipe.lock();
    let since = Instant::now();
    while q.chunks.len() >= DEPTH && !q.gone {
        let waited = since.elapsed();
        let left = IDLE_RELEASE.saturating_sub(waited);
        if left.is_zero() || (waited >= YIELD_AFTER && wanted() != Wanted::No) {
            q.paused = true;
            pipe.cv.notify_all();
            return false;
        }
        q = pipe
            .cv
            .wait_timeout(q, left.min(YIELD_AFTER))
            .map(|(g, _)| g)
            .unwrap_or_else(|p| p.into_inner().0);
    }
    if q.gone {
        return false;
    }
    q.chunks.push_back(chunk);
    pipe.cv.notify_all();
    true
}

/// Marks the producer as stopped before the end (the consumer reopens when it gets there).
fn pause(pipe: &Pipe) {
    let mut q = pipe.lock();
    q.paused = true;
    pipe.cv.notify_all();
}

fn pump(mut stream: Box<dyn ReadStream>, pipe: Arc<Pipe>) {
    let mut size = FIRST_CHUNK;
    loop {
        let mut buf = pipe.lock().free.pop().unwrap_or_default();
        buf.resize(size, 0);
        let (n, err) = fill(stream.as_mut(), &mut buf);
        buf.truncate(n);
        let end = n == 0 && err.is_none();
        let wanted = || stream.wanted();
        if (n > 0 || end) && !push(&pipe, Ok(buf), &wanted) {
            break;
        }
        if end {
            break;
        }
        if let Some(e) = err {
            push(&pipe, Err(e), &wanted);
            break;
        }
        if wanted() == Wanted::Now {
            // A listing waits and this download holds the only connection: give it back;
            // the reader resumes with REST once the listing is done.
            pause(&pipe);
            break;
        }
        size = (size * 2).min(MAX_CHUNK);
    }
    stream.close();
}

fn spawn(stream: Box<dyn ReadStream>) -> std::io::Result<Arc<Pipe>> {
    let pipe = Arc::new(Pipe::default());
    let theirs = Arc::clone(&pipe);
    std::thread::Builder::new()
        .name("ftpfs-prefetch".into())
        .spawn(move || pump(stream, theirs))?;
    Ok(pipe)
}

impl Prefetcher {
    /// Starts reading `stream`, which begins at `offset`.
    pub fn start(stream: Box<dyn ReadStream>, offset: u64) -> std::io::Result<Self> {
        Ok(Prefetcher {
            pipe: Some(spawn(stream)?),
            reopen: None,
            cur_start: offset,
            cur: Vec::new(),
            back: VecDeque::new(),
            back_bytes: 0,
            pin: 0,
            eof: None,
        })
    }

    /// Like [`Prefetcher::start`], able to resume after an idle release with `reopen`.
    pub fn start_with(
        stream: Box<dyn ReadStream>,
        offset: u64,
        reopen: Reopen,
    ) -> std::io::Result<Self> {
        let mut p = Prefetcher::start(stream, offset)?;
        p.reopen = Some(reopen);
        Ok(p)
    }

    /// The offset of the next byte from the stream.
    fn pos(&self) -> u64 {
        self.cur_start + self.cur.len() as u64
    }

    /// Lowest offset still held (in `back` or `cur`).
    pub fn low(&self) -> u64 {
        self.back.front().map_or(self.cur_start, |(o, _)| *o)
    }

    /// Whether a read at `offset` can be served without a new transfer: it lies within what
    /// is held, or at most `skip` bytes ahead of it.
    pub fn covers(&self, offset: u64, skip: u64) -> bool {
        offset >= self.low() && offset <= self.pos() + skip
    }

    /// Waits for the next chunk from the thread; resumes a released stream.
    fn recv(&mut self) -> Chunk {
        loop {
            let Some(pipe) = self.pipe.as_ref() else {
                return Err(RemoteError::Other("the download has ended".into()));
            };
            let paused = {
                let mut q = pipe.lock();
                loop {
                    if let Some(c) = q.chunks.pop_front() {
                        pipe.cv.notify_all();
                        return c;
                    }
                    if q.paused {
                        break true;
                    }
                    q = pipe.cv.wait(q).unwrap_or_else(|p| p.into_inner());
                }
            };
            if paused {
                let Some(reopen) = self.reopen.clone() else {
                    return Err(RemoteError::Other(
                        "the download was released while idle".into(),
                    ));
                };
                log::debug!("resuming an idle download at {}", self.pos());
                let stream = reopen(self.pos())?;
                self.pipe =
                    Some(spawn(stream).map_err(|e| RemoteError::Other(e.to_string().into()))?);
            }
        }
    }

    /// Takes the next chunk into `cur`; false at end of file.
    fn next(&mut self) -> Result<bool, RemoteError> {
        if self.eof.is_some() {
            return Ok(false);
        }
        let data = match self.recv() {
            Ok(d) => d,
            Err(e) => {
                self.stop();
                return Err(e);
            }
        };
        if data.is_empty() {
            self.eof = Some(self.pos());
            self.stop();
            return Ok(false);
        }
        let old = std::mem::replace(&mut self.cur, data);
        let old_start = self.cur_start;
        self.cur_start += old.len() as u64;
        if !old.is_empty() {
            self.back_bytes += old.len();
            self.back.push_back((old_start, old));
            // Drop the oldest chunks beyond the window, but never one holding bytes of the
            // read being served (it may start in the oldest chunk and end in the new one).
            while self.back_bytes > BACK {
                let evictable = self
                    .back
                    .front()
                    .is_some_and(|(o, c)| o + c.len() as u64 <= self.pin);
                if !evictable {
                    break;
                }
                if let Some((_, c)) = self.back.pop_front() {
                    self.back_bytes -= c.len();
                    self.recycle(c);
                }
            }
        }
        Ok(true)
    }

    /// Hands a used buffer back to the producer.
    fn recycle(&self, buf: Vec<u8>) {
        if let Some(pipe) = self.pipe.as_ref() {
            let mut q = pipe.lock();
            if q.free.len() < DEPTH {
                q.free.push(buf);
            }
        }
    }

    /// Tells the thread to stop.
    fn stop(&mut self) {
        if let Some(pipe) = self.pipe.take() {
            pipe.lock().gone = true;
            pipe.cv.notify_all();
        }
    }

    /// Copies what is held of `[offset, offset + want)` into `out`, in order.
    fn copy_held(&self, offset: u64, want: usize, out: &mut Vec<u8>) {
        let chunks = self
            .back
            .iter()
            .map(|(o, c)| (*o, c.as_slice()))
            .chain(std::iter::once((self.cur_start, self.cur.as_slice())));
        for (start, c) in chunks {
            let at = offset + out.len() as u64;
            if out.len() >= want {
                break;
            }
            let end = start + c.len() as u64;
            if at >= start && at < end {
                let from = (at - start) as usize;
                let take = (c.len() - from).min(want - out.len());
                out.extend_from_slice(&c[from..from + take]);
            }
        }
    }

    /// Reads `size` bytes at `offset` (short at end of file). `offset` must be covered.
    #[cfg(test)]
    pub fn read(&mut self, offset: u64, size: usize) -> Result<Vec<u8>, RemoteError> {
        self.read_with(offset, size, <[u8]>::to_vec)
    }

    /// Takes chunks from the thread until `[offset, offset + size)` is held or the file
    /// ended ([`Prefetcher::eof`]). `offset` must be covered.
    pub fn pull(&mut self, offset: u64, size: usize) -> Result<(), RemoteError> {
        let want_end = offset + size as u64;
        self.pin = offset;
        while self.pos() < want_end && self.next()? {}
        Ok(())
    }

    /// Like [`Prefetcher::read`], handing the bytes to `f`: without a copy when they lie in
    /// one chunk (the usual case: the kernel's reads are smaller than the chunks).
    pub fn read_with<R>(
        &mut self,
        offset: u64,
        size: usize,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, RemoteError> {
        let want_end = offset + size as u64;
        self.pull(offset, size)?;
        let end = want_end.min(self.pos());
        let chunks = self
            .back
            .iter()
            .map(|(o, c)| (*o, c.as_slice()))
            .chain(std::iter::once((self.cur_start, self.cur.as_slice())));
        for (start, c) in chunks {
            let stop = start + c.len() as u64;
            if offset >= start && end <= stop && offset <= end {
                let from = (offset - start) as usize;
                return Ok(f(&c[from..from + (end - offset) as usize]));
            }
        }
        let mut out = Vec::with_capacity(size);
        self.copy_held(offset, size, &mut out);
        Ok(f(&out))
    }

    /// End of file, once seen.
    pub fn eof(&self) -> Option<u64> {
        self.eof
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Bytes {
        data: Vec<u8>,
        pos: usize,
        fail_at: Option<usize>,
    }

    impl ReadStream for Bytes {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, RemoteError> {
            if self.fail_at.is_some_and(|f| self.pos >= f) {
                return Err(RemoteError::Timeout("stalled".into()));
            }
            let n = buf.len().min(self.data.len() - self.pos).min(10_000);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
        fn close(self: Box<Self>) {}
    }

    fn bytes(data: Vec<u8>) -> Bytes {
        Bytes {
            data,
            pos: 0,
            fail_at: None,
        }
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn sequential_and_slightly_out_of_order_reads() {
        let d = data(5 << 20);
        let s = bytes(d.clone());
        let mut p = Prefetcher::start(Box::new(s), 0).expect("start");
        let mut off = 0u64;
        while off < d.len() as u64 {
            // Read the next two blocks in swapped order, as parallel read-ahead may.
            let b = 128 << 10;
            let second = p.read(off + b, b as usize).expect("read");
            assert!(p.covers(off, 0));
            let first = p.read(off, b as usize).expect("read");
            assert_eq!(
                first,
                &d[off as usize..(off + b).min(d.len() as u64) as usize]
            );
            let s2 = ((off + b) as usize).min(d.len());
            assert_eq!(second, &d[s2..((off + 2 * b) as usize).min(d.len())]);
            off += 2 * b;
        }
        assert_eq!(p.read(d.len() as u64, 10).expect("eof").len(), 0);
        assert_eq!(p.eof(), Some(d.len() as u64));
    }

    /// Reads that start in the oldest held bytes and run past what was pulled are served whole.
    #[test]
    fn reads_from_the_oldest_held_bytes_into_unpulled_data_are_whole() {
        let d = data(12 << 20);
        let s = bytes(d.clone());
        let mut p = Prefetcher::start(Box::new(s), 0).expect("start");
        // Pull far enough that `back` is full, then read from its oldest bytes across into
        // data not pulled yet, in several shapes.
        let mut off = 0u64;
        for step in [3u64 << 20, 3 << 20, 2 << 20] {
            p.read(off + step, 4096).expect("pull");
            let low = p.low();
            let len = (p.pos() - low) as usize + 300_000;
            let got = p.read(low, len.clamp(300_000, 1 << 20)).expect("span");
            assert_eq!(got, &d[low as usize..low as usize + got.len()]);
            assert!(!got.is_empty());
            off += step;
        }
    }

    #[test]
    fn an_idle_stream_is_released_and_resumed_at_its_offset() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let d = Arc::new(data(20 << 20));
        let opens = Arc::new(AtomicUsize::new(0));
        let reopen: Reopen = {
            let (d, opens) = (Arc::clone(&d), Arc::clone(&opens));
            Arc::new(move |off| {
                opens.fetch_add(1, Ordering::SeqCst);
                Ok(Box::new(Bytes {
                    data: d[off as usize..].to_vec(),
                    pos: 0,
                    fail_at: None,
                }) as Box<dyn ReadStream>)
            })
        };
        let first = reopen(0).expect("open");
        let mut p = Prefetcher::start_with(first, 0, reopen).expect("start");
        assert_eq!(p.read(0, 1000).expect("read"), &d[..1000]);
        // Leave it idle past the release time: the producer stops with a full queue.
        std::thread::sleep(IDLE_RELEASE * 3);
        let mut off = 1000u64;
        while off < d.len() as u64 {
            let got = p.read(off, 1 << 20).expect("read after release");
            assert_eq!(got, &d[off as usize..(off as usize + got.len())]);
            off += got.len() as u64;
        }
        assert_eq!(opens.load(Ordering::SeqCst), 2, "resumed exactly once");
    }

    /// A download that says another request waits for its connection.
    struct Asked {
        inner: Bytes,
        closed: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl ReadStream for Asked {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, RemoteError> {
            self.inner.read(buf)
        }
        fn close(self: Box<Self>) {
            self.closed
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        fn wanted(&self) -> Wanted {
            Wanted::IfPaused
        }
    }

    #[test]
    fn a_paused_reader_gives_its_connection_to_a_waiting_request_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let d = Arc::new(data(20 << 20));
        let closed = Arc::new(AtomicUsize::new(0));
        let reopen: Reopen = {
            let (d, closed) = (Arc::clone(&d), Arc::clone(&closed));
            Arc::new(move |off| {
                Ok(Box::new(Asked {
                    inner: bytes(d[off as usize..].to_vec()),
                    closed: Arc::clone(&closed),
                }) as Box<dyn ReadStream>)
            })
        };
        let started = Instant::now();
        let mut p = Prefetcher::start_with(reopen(0).expect("open"), 0, reopen).expect("start");
        assert_eq!(p.read(0, 1000).expect("read"), &d[..1000]);
        // The queue fills at once; the stream is given back after YIELD_AFTER, long before
        // IDLE_RELEASE.
        while closed.load(Ordering::SeqCst) == 0 && started.elapsed() < IDLE_RELEASE {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(closed.load(Ordering::SeqCst), 1, "not given back in time");
        let mut off = 1000u64;
        while off < d.len() as u64 {
            let got = p.read(off, 1 << 20).expect("read after yielding");
            assert_eq!(got, &d[off as usize..(off as usize + got.len())]);
            off += got.len() as u64;
        }
    }

    /// A download that a waiting listing needs now (a pool of one).
    struct Needed(Bytes);

    impl ReadStream for Needed {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, RemoteError> {
            self.0.read(buf)
        }
        fn close(self: Box<Self>) {}
        fn wanted(&self) -> Wanted {
            Wanted::Now
        }
    }

    #[test]
    fn a_busy_reader_gives_the_only_connection_to_a_listing_after_each_chunk() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let d = Arc::new(data(3 << 20));
        let opens = Arc::new(AtomicUsize::new(0));
        let reopen: Reopen = {
            let (d, opens) = (Arc::clone(&d), Arc::clone(&opens));
            Arc::new(move |off| {
                opens.fetch_add(1, Ordering::SeqCst);
                Ok(Box::new(Needed(bytes(d[off as usize..].to_vec()))) as Box<dyn ReadStream>)
            })
        };
        let mut p = Prefetcher::start_with(reopen(0).expect("open"), 0, reopen).expect("start");
        let mut off = 0u64;
        while off < d.len() as u64 {
            let got = p.read(off, 128 << 10).expect("read");
            assert_eq!(got, &d[off as usize..(off as usize + got.len())]);
            off += got.len() as u64;
        }
        // One chunk (64 KiB after each resume) per transfer.
        assert_eq!(opens.load(Ordering::SeqCst), (3 << 20) / FIRST_CHUNK);
    }

    #[test]
    fn starts_at_an_offset_and_reports_errors_after_the_data() {
        let d = data(1 << 20);
        let s = Bytes {
            data: d[1000..].to_vec(),
            pos: 0,
            fail_at: Some(300_000),
        };
        let mut p = Prefetcher::start(Box::new(s), 1000).expect("start");
        assert_eq!(
            p.read(1000, 200_000).expect("data first"),
            &d[1000..201_000]
        );
        assert!(p.read(201_000, 200_000).is_err());
        assert!(!p.covers(0, 0));
    }
}
