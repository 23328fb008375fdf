//! Read-ahead for one download stream: a thread owns the [`ReadStream`] and fills chunks while
//! the FUSE worker threads hand earlier chunks to the kernel, so socket reads and kernel
//! copies overlap. Chunks grow from 64 KiB to 1 MiB while the reader keeps up sequentially
//! (the mountpoint-s3 pattern), and end on multiples of their size, so that the kernel's
//! reads (aligned, at most `max_read`) lie in one chunk and are answered without a copy.
//!
//! Invariants:
//! - Every chunk is a buffer of the mount's memory budget ([`Budget`]). Read-ahead takes only
//!   what the budget gives at once ([`Budget::try_take`]): at most its window ahead of the
//!   reader (4 chunks, or half its fair share of the budget when that is less) and up to
//!   [`BACK`] bytes behind it (slightly out-of-order reads: the kernel's parallel read-ahead
//!   requests can arrive out of order). When the budget is short, chunks shrink down to
//!   [`MIN_CHUNK`], then read-ahead stops; it never waits for memory.
//! - A read never waits for read-ahead that has no memory: when the thread is starved, the
//!   reader takes one buffer for its whole request ([`Budget::take`], holding no other buffer
//!   and leaving its chunks reclaimable while it waits its turn) and lends it to the thread,
//!   which fills it from the stream (a "demand"); the filled buffer becomes a chunk. A read
//!   that spans chunks is copied into such a buffer.
//! - The chunks live in the shared state, so the budget can take them back ([`Reclaim`]):
//!   soft, the chunks behind the reader; hard, every chunk of a stream that no read is using,
//!   whose transfer then stops (its connection goes back; reading on resumes with REST).
//! - An open file that is not being read holds neither a connection nor memory: when the
//!   thread has had nothing to do for [`IDLE_RELEASE`], it drops its chunks, ends the transfer
//!   (ABOR) and gives the connection back; after [`YIELD_AFTER`] while another request waits
//!   for a connection the pool cannot give, it gives the connection back keeping its chunks;
//!   with a pool of one, a waiting listing gets the connection after the chunk being read.
//!   The next read past the held data resumes with `REST` (when given a way to reopen).
//! - Dropping a `Prefetcher` frees its chunks and stops its thread (at once when it waits,
//!   else after its current socket read; then ABOR when not at the end).
//! - Errors are delivered in order, after the data that preceded them.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::memory::{Budget, Buf, Reclaim};
use crate::remote::{ReadStream, RemoteError, Wanted};

/// Chunks read ahead of the reader, at most.
const DEPTH: u64 = 4;
/// First, smallest and largest chunk size.
const FIRST_CHUNK: u64 = 64 << 10;
pub(super) const MIN_CHUNK: u64 = 64 << 10;
const MAX_CHUNK: u64 = 1 << 20;
/// Delivered bytes kept behind the reader, at most.
pub(super) const BACK: u64 = 1 << 20;
/// A thread with nothing to do this long gives back its connection and its memory.
#[cfg(not(test))]
pub(super) const IDLE_RELEASE: Duration = Duration::from_secs(10);
#[cfg(test)]
pub(super) const IDLE_RELEASE: Duration = Duration::from_millis(200);
/// A waiting thread gives its connection back after this long when another request waits for
/// a connection the pool cannot give (a pool at its limit, e.g. a server that takes one or
/// two connections: `cmp a b` would otherwise wait for IDLE_RELEASE at every switch of file).
const YIELD_AFTER: Duration = Duration::from_millis(20);
/// A starved thread tries the budget again this often.
const RETRY: Duration = Duration::from_millis(10);
/// Stack of a read-ahead thread: it reads from a socket (through rustls under TLS).
const STACK: usize = 256 << 10;

/// Opens the file again at an offset (to resume after a release).
pub type Reopen = Arc<dyn Fn(u64) -> Result<Box<dyn ReadStream>, RemoteError> + Send + Sync>;

/// A buffer lent by the reader for the thread to fill from the stream; once filled (or at the
/// end of the stream) the thread makes it a chunk.
struct Demand {
    buf: Buf,
    /// File offset of `buf[0]`.
    start: u64,
    /// Bytes of `buf` already valid.
    filled: usize,
}

#[derive(Default)]
struct State {
    /// Held data, contiguous and in order, ending at `pos` (unless a thread stopped early).
    chunks: VecDeque<(u64, Buf)>,
    /// The offset of the next byte the stream delivers.
    pos: u64,
    /// Where the running transfer began.
    started: u64,
    /// Where the reader is: the end of the last read served.
    read_at: u64,
    /// A read is using `[start, end)`: none of it may be reclaimed.
    pin: Option<(u64, u64)>,
    demand: Option<Demand>,
    /// The stream ended here (`Ok`), or failed after the held data.
    end: Option<Result<(), RemoteError>>,
    /// A thread is running.
    running: bool,
    /// The thread of this generation must stop (reclaimed or replaced); see `generation`.
    generation: u64,
    /// The thread has no memory for its next chunk.
    starved: bool,
    /// The consumer is gone.
    gone: bool,
    /// The last time a read came.
    last_read: Option<Instant>,
}

impl State {
    fn low(&self) -> u64 {
        self.chunks.front().map_or(self.pos, |(o, _)| *o)
    }

    #[cfg(test)]
    fn held(&self) -> u64 {
        self.chunks.iter().map(|(_, b)| b.len() as u64).sum()
    }

    /// The chunk holding all of `[off, end)`, if one does.
    fn one_chunk(&self, off: u64, end: u64) -> Option<&[u8]> {
        self.chunks.iter().find_map(|(o, b)| {
            let stop = o + b.len() as u64;
            (off >= *o && end <= stop).then(|| &b[(off - o) as usize..(end - o) as usize])
        })
    }

    /// Copies what is held of `[off, off + out.len())` into `out`, in order; returns the
    /// bytes copied (stops at the first byte not held).
    fn copy_held(&self, off: u64, out: &mut [u8]) -> usize {
        let mut n = 0;
        for (o, b) in &self.chunks {
            let at = off + n as u64;
            let stop = o + b.len() as u64;
            if n == out.len() {
                break;
            }
            if at >= *o && at < stop {
                let from = (at - o) as usize;
                let take = (b.len() - from).min(out.len() - n);
                out[n..n + take].copy_from_slice(&b[from..from + take]);
                n += take;
            }
        }
        n
    }

    /// Drops the chunks wholly before `before`.
    fn drop_before(&mut self, before: u64) {
        while self
            .chunks
            .front()
            .is_some_and(|(o, b)| o + b.len() as u64 <= before)
        {
            self.chunks.pop_front();
        }
    }

    /// Makes `buf` (data from `start`, `len` bytes) a chunk: data held from `start` on is
    /// replaced by it (it holds the same bytes), data before a gap is dropped.
    fn adopt(&mut self, start: u64, mut buf: Buf, len: usize) {
        while self.chunks.back().is_some_and(|(o, _)| *o >= start) {
            self.chunks.pop_back();
        }
        if let Some((o, b)) = self.chunks.back_mut()
            && *o + b.len() as u64 > start
        {
            b.truncate((start - *o) as usize);
        }
        if self
            .chunks
            .back()
            .is_some_and(|(o, b)| o + b.len() as u64 != start)
        {
            self.chunks.clear();
        }
        buf.truncate(len);
        if len > 0 {
            self.chunks.push_back((start, buf));
        }
        self.pos = start + len as u64;
    }
}

struct Pipe {
    st: Mutex<State>,
    cv: Condvar,
    budget: Budget,
}

impl Pipe {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait<'a>(&'a self, g: MutexGuard<'a, State>, d: Duration) -> MutexGuard<'a, State> {
        self.cv
            .wait_timeout(g, d)
            .map(|(g, _)| g)
            .unwrap_or_else(|p| p.into_inner().0)
    }

    /// How far ahead of the reader the thread may read: twice what has been read since the
    /// transfer began (a short read of a large file fetches little), between 4 first chunks
    /// and [`DEPTH`] largest ones, and at most half this stream's fair share of the budget.
    fn window(&self, st: &State) -> u64 {
        (2 * st.read_at.saturating_sub(st.started))
            .clamp(DEPTH * FIRST_CHUNK, DEPTH * MAX_CHUNK)
            .min(self.budget.share() as u64 / 2)
            .max(MIN_CHUNK)
    }
}

impl Reclaim for Pipe {
    fn reclaim(&self, hard: bool) {
        let Ok(mut st) = self.st.try_lock() else {
            return;
        };
        let keep = st.pin.map_or(st.read_at, |(s, _)| s.min(st.read_at));
        st.drop_before(keep);
        if hard && st.pin.is_none() && st.demand.is_none() && !st.chunks.is_empty() {
            // Nobody reads this stream now: all of it goes, and its thread stops (the held
            // data would no longer reach up to the stream's position).
            st.chunks.clear();
            if st.running {
                st.generation += 1;
                st.running = false;
                st.end = None;
            }
            self.cv.notify_all();
        }
    }
}

/// What the thread fills next.
enum Target {
    Chunk(Buf),
    Demand(Demand),
}

/// The next chunk size: `target` (which doubles up to MAX_CHUNK) cut so that the chunk ends
/// on a multiple of its size, and to `room`.
pub(super) fn chunk_size(pos: u64, target: u64, room: u64) -> u64 {
    let mut size = target;
    while size > MIN_CHUNK && size > room {
        size /= 2;
    }
    size - pos % size
}

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

/// Reads and drops `n` bytes (a short skip forward), using `scratch`.
fn skip(stream: &mut dyn ReadStream, n: u64, scratch: &mut [u8]) -> Result<u64, RemoteError> {
    let mut done = 0;
    while done < n {
        let want = ((n - done) as usize).min(scratch.len());
        let (got, err) = fill(stream, &mut scratch[..want]);
        done += got as u64;
        if let Some(e) = err {
            return Err(e);
        }
        if got < want {
            break;
        }
    }
    Ok(done)
}

/// The thread: fills chunks (and lent buffers) until the end, an error, a release, or a new
/// generation.
fn pump(mut stream: Box<dyn ReadStream>, pipe: Arc<Pipe>, generation: u64) {
    let mut target = FIRST_CHUNK;
    loop {
        let Some(t) = next_target(&pipe, stream.as_ref(), generation, target) else {
            break;
        };
        let end = match t {
            Target::Demand(mut d) => {
                let pos = pipe.lock().pos;
                let next = d.start + d.filled as u64;
                if pos > next {
                    // Cannot happen (a demand starts where the stream is or ahead of it);
                    // dropped, the reader asks again.
                    continue;
                }
                // A short skip forward first (the read starts beyond the stream's position).
                let gap = next - pos;
                let skipped = skip(stream.as_mut(), gap, &mut d.buf);
                let mut st = pipe.lock();
                if st.generation != generation {
                    break;
                }
                match skipped {
                    Ok(k) if k == gap => {}
                    // The file ends before the read (or the stream failed on the way): the
                    // lent buffer is not needed; the reader sees the end.
                    Ok(k) => {
                        // What is held would not reach up to the new position: dropped.
                        st.chunks.clear();
                        st.pos = pos + k;
                        st.end = Some(Ok(()));
                        pipe.cv.notify_all();
                        break;
                    }
                    Err(e) => {
                        st.end = Some(Err(e));
                        pipe.cv.notify_all();
                        break;
                    }
                }
                drop(st);
                let (n, err) = fill(stream.as_mut(), &mut d.buf[d.filled..]);
                d.filled += n;
                let at_end = err.is_some() || d.filled < d.buf.len();
                let mut st = pipe.lock();
                if st.generation != generation {
                    break;
                }
                st.adopt(d.start, d.buf, d.filled);
                if at_end {
                    st.end = Some(err.map_or(Ok(()), Err));
                }
                pipe.cv.notify_all();
                at_end
            }
            Target::Chunk(mut buf) => {
                let (n, err) = fill(stream.as_mut(), &mut buf);
                let mut st = pipe.lock();
                if st.generation != generation {
                    break;
                }
                let start = st.pos;
                buf.truncate(n);
                if n > 0 {
                    st.chunks.push_back((start, buf));
                    st.pos += n as u64;
                }
                let at_end = err.is_some() || n == 0;
                if at_end {
                    st.end = Some(err.map_or(Ok(()), Err));
                }
                pipe.cv.notify_all();
                target = (target * 2).min(MAX_CHUNK);
                at_end
            }
        };
        if end {
            break;
        }
        if stream.wanted() == Wanted::Now {
            // A listing waits and this download holds the only connection: give it back;
            // the reader resumes with REST once the listing is done.
            break;
        }
    }
    {
        let mut st = pipe.lock();
        if st.generation == generation {
            st.running = false;
            st.starved = false;
        }
        pipe.cv.notify_all();
    }
    stream.close();
}

/// Waits for something to fill: a lent buffer, or room ahead of the reader and a buffer of
/// the budget. `None`: the thread must stop (gone, reclaimed, idle, or yielding).
fn next_target(
    pipe: &Pipe,
    stream: &dyn ReadStream,
    generation: u64,
    target: u64,
) -> Option<Target> {
    let mut st = pipe.lock();
    let mut waiting_since: Option<Instant> = None;
    loop {
        if st.gone || st.generation != generation {
            return None;
        }
        if let Some(d) = st.demand.take() {
            st.starved = false;
            return Some(Target::Demand(d));
        }
        let window = pipe.window(&st);
        // Ahead of the reader: of the read waiting, if one does (its data is read whatever the
        // window), else of the last read served.
        let reader = st.pin.map_or(st.read_at, |(_, end)| end.max(st.read_at));
        let ahead = st.pos.saturating_sub(reader);
        // Whole chunks (at most half the window), so that they are all alike and their
        // buffers are reused rather than new ones made.
        let size = chunk_size(st.pos, target, window / 2);
        if ahead == 0 || ahead + size <= window {
            let mut s = size;
            loop {
                if let Some(buf) = pipe.budget.try_take(s as usize) {
                    st.starved = false;
                    return Some(Target::Chunk(buf));
                }
                if s <= MIN_CHUNK {
                    break;
                }
                s = chunk_size(st.pos, s / 2, s / 2);
            }
            if !st.starved {
                st.starved = true;
                pipe.cv.notify_all();
            }
        }
        // Nothing to do now: the window is full, or the budget is.
        let since = *waiting_since.get_or_insert_with(Instant::now);
        let idle = st.last_read.map_or(since, |t| t.max(since)).elapsed();
        if idle >= IDLE_RELEASE && st.pin.is_none() {
            log::debug!("read-ahead idle at {}: releasing it", st.pos);
            st.chunks.clear();
            st.generation += 1;
            st.running = false;
            st.starved = false;
            pipe.cv.notify_all();
            return None;
        }
        if since.elapsed() >= YIELD_AFTER && stream.wanted() != Wanted::No {
            return None;
        }
        let wait = if st.starved { RETRY } else { YIELD_AFTER };
        st = pipe.wait(st, wait.min(IDLE_RELEASE.saturating_sub(idle)));
    }
}

/// The reader's side of one download.
pub struct Prefetcher {
    pipe: Arc<Pipe>,
    reopen: Option<Reopen>,
    /// Counts this stream in the budget's fair share while it is open.
    _registered: crate::memory::Registration,
}

impl Prefetcher {
    /// Starts reading `stream`, which begins at `offset`, with buffers of `budget`.
    pub fn start(
        stream: Box<dyn ReadStream>,
        offset: u64,
        budget: &Budget,
    ) -> std::io::Result<Self> {
        let pipe = Arc::new(Pipe {
            st: Mutex::new(State {
                pos: offset,
                started: offset,
                read_at: offset,
                running: true,
                ..State::default()
            }),
            cv: Condvar::new(),
            budget: budget.clone(),
        });
        let weak: std::sync::Weak<dyn Reclaim> =
            Arc::downgrade(&(Arc::clone(&pipe) as Arc<dyn Reclaim>));
        let registered = budget.register(weak);
        spawn(stream, &pipe, 0)?;
        Ok(Prefetcher {
            pipe,
            reopen: None,
            _registered: registered,
        })
    }

    /// Like [`Prefetcher::start`], able to resume after a release with `reopen`.
    pub fn start_with(
        stream: Box<dyn ReadStream>,
        offset: u64,
        reopen: Reopen,
        budget: &Budget,
    ) -> std::io::Result<Self> {
        let mut p = Prefetcher::start(stream, offset, budget)?;
        p.reopen = Some(reopen);
        Ok(p)
    }

    /// Lowest offset still held (the stream's position when nothing is).
    pub fn low(&self) -> u64 {
        self.pipe.lock().low()
    }

    /// The offset of the next byte from the stream.
    #[cfg(test)]
    pub fn pos(&self) -> u64 {
        self.pipe.lock().pos
    }

    /// Bytes held now.
    #[cfg(test)]
    pub fn held(&self) -> u64 {
        self.pipe.lock().held()
    }

    /// Whether a read at `offset` can be served without a new transfer: it lies within what
    /// is held, or at most `skip` bytes ahead of it.
    pub fn covers(&self, offset: u64, skip: u64) -> bool {
        let st = self.pipe.lock();
        offset >= st.low() && offset <= st.pos + skip
    }

    /// End of file, once seen.
    pub fn eof(&self) -> Option<u64> {
        let st = self.pipe.lock();
        matches!(st.end, Some(Ok(()))).then_some(st.pos)
    }

    /// Makes `[offset, offset + size)` held (or reaches the end of the file); the data may
    /// be reclaimed again once this returns (`read_with` pulls again).
    pub fn pull(&mut self, offset: u64, size: usize) -> Result<(), RemoteError> {
        self.serve(offset, size, false, |_| ())
    }

    /// Reads `size` bytes at `offset` (short at end of file).
    #[cfg(test)]
    pub fn read(&mut self, offset: u64, size: usize) -> Result<Vec<u8>, RemoteError> {
        self.read_with(offset, size, <[u8]>::to_vec)
    }

    /// Hands the bytes of `[offset, offset + size)` (short at the end) to `f`: without a copy
    /// when they lie in one chunk (the usual case: chunks are aligned and larger than the
    /// kernel's reads).
    pub fn read_with<R>(
        &mut self,
        offset: u64,
        size: usize,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, RemoteError> {
        self.serve(offset, size, true, f)
    }

    /// Gets `[offset, offset + size)` held (or the end of the file), then, with `deliver`,
    /// hands it to `f`.
    fn serve<R>(
        &mut self,
        offset: u64,
        size: usize,
        deliver: bool,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, RemoteError> {
        let want = offset + size as u64;
        // The reader's own buffer: taken when the thread is starved (lent to it), or to join
        // chunks.
        let mut mine: Option<Buf> = None;
        let pipe = &*self.pipe;
        let mut st = pipe.lock();
        st.last_read = Some(Instant::now());
        loop {
            st.pin = Some((offset, want));
            if offset < st.low() {
                // What was read there has been dropped: a transfer from `offset`.
                st = self.restart(st, offset, true)?;
                continue;
            }
            let eof = matches!(st.end, Some(Ok(())));
            // At the end of the file a read is short, or empty beyond it.
            let stop = if eof {
                want.min(st.pos).max(offset)
            } else {
                want
            };
            if st.pos >= stop || eof {
                if !deliver || offset == stop {
                    let r = f(&[]);
                    self.served(st, stop);
                    return Ok(r);
                }
                if let Some(d) = st.one_chunk(offset, stop) {
                    let r = f(d);
                    self.served(st, stop);
                    return Ok(r);
                }
                let n = (stop - offset) as usize;
                match mine.as_mut() {
                    Some(b) if b.capacity() >= n => {
                        b.set_len(n);
                        let got = st.copy_held(offset, b);
                        let r = f(&b[..got]);
                        self.served(st, stop);
                        return Ok(r);
                    }
                    _ => {
                        st = self.take_mine(st, &mut mine, n);
                        continue;
                    }
                }
            }
            if let Some(Err(e)) = &st.end {
                let e = e.clone();
                st.pin = None;
                return Err(e);
            }
            if !st.running {
                let (at, gap) = (offset.max(st.pos), offset > st.pos);
                st = self.restart(st, at, gap)?;
                continue;
            }
            if st.starved && st.demand.is_none() {
                let n = (want - offset) as usize;
                match mine.take() {
                    Some(mut b) if b.capacity() >= n => {
                        // Lend it: what is held of the request goes in first, the thread
                        // reads the rest into it (no other memory needed).
                        b.set_len(n);
                        let (start, filled) = if offset <= st.pos {
                            let k = (st.pos - offset) as usize;
                            (offset, st.copy_held(offset, &mut b[..k]))
                        } else {
                            (offset, 0)
                        };
                        st.demand = Some(Demand {
                            buf: b,
                            start,
                            filled,
                        });
                        pipe.cv.notify_all();
                    }
                    _ => {
                        st = self.take_mine(st, &mut mine, n);
                        continue;
                    }
                }
            }
            pipe.cv.notify_all();
            st = pipe.wait(st, Duration::from_millis(50));
        }
    }

    /// After a read of `[.., stop)`: the reader is there; data too far behind goes.
    fn served(&self, mut st: MutexGuard<'_, State>, stop: u64) {
        st.pin = None;
        st.read_at = st.read_at.max(stop);
        let back = BACK.min(self.pipe.window(&st));
        let keep = st.read_at.saturating_sub(back);
        st.drop_before(keep);
        self.pipe.cv.notify_all();
    }

    /// Takes a buffer of `n` bytes from the budget into `mine` (dropping a smaller one
    /// first), waiting its turn without holding the pipe's lock, any other buffer, or a pin
    /// (the held chunks stay reclaimable meanwhile).
    fn take_mine<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        mine: &mut Option<Buf>,
        n: usize,
    ) -> MutexGuard<'a, State> {
        st.pin = None;
        drop(st);
        *mine = None;
        *mine = Some(self.pipe.budget.take(n));
        self.pipe.lock()
    }

    /// Starts a transfer at `at` (a new thread); `fresh`: the held data is dropped first (it
    /// would not be contiguous with the new transfer).
    fn restart<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        at: u64,
        fresh: bool,
    ) -> Result<MutexGuard<'a, State>, RemoteError> {
        st.generation += 1;
        let generation = st.generation;
        if fresh || at != st.pos {
            st.chunks.clear();
            st.read_at = at;
        }
        st.pos = at;
        st.started = at;
        st.end = None;
        st.starved = false;
        st.running = false;
        st.pin = None;
        if fresh && let Some(d) = st.demand.as_mut() {
            // Lent, not taken by the thread that stopped: the new one fills it from `at`.
            d.start = at;
            d.filled = 0;
        }
        self.pipe.cv.notify_all();
        let Some(reopen) = self.reopen.clone() else {
            return Err(RemoteError::Other(
                "the download was released while idle".into(),
            ));
        };
        drop(st);
        log::debug!("resuming a download at {at}");
        let stream = reopen(at)?;
        let mut st = self.pipe.lock();
        if st.generation != generation {
            // Replaced meanwhile (reclaimed): the next turn starts again.
            return Ok(st);
        }
        st.running = true;
        if let Err(e) = spawn(stream, &self.pipe, generation) {
            st.running = false;
            return Err(RemoteError::Other(e.to_string().into()));
        }
        Ok(st)
    }
}

fn spawn(stream: Box<dyn ReadStream>, pipe: &Arc<Pipe>, generation: u64) -> std::io::Result<()> {
    let theirs = Arc::clone(pipe);
    std::thread::Builder::new()
        .name("ftpfs-prefetch".into())
        .stack_size(STACK)
        .spawn(move || pump(stream, theirs, generation))?;
    Ok(())
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        let mut st = self.pipe.lock();
        st.gone = true;
        st.generation += 1;
        st.chunks.clear();
        st.demand = None;
        self.pipe.cv.notify_all();
    }
}

#[cfg(test)]
#[path = "prefetch_tests.rs"]
mod tests;
