//! Read-ahead against in-memory streams: order, out-of-order reads, releases and resumes,
//! yielding the connection, errors after data; and the memory budget: a budget smaller than
//! a chunk, many streams on a small budget, idle streams and waiters taking memory back.

use super::*;
use crate::testing::{eventually, within};

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
    let mut p = Prefetcher::start(Box::new(s), 0, &Budget::unlimited()).expect("start");
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
    let mut p = Prefetcher::start(Box::new(s), 0, &Budget::unlimited()).expect("start");
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
    let mut p = Prefetcher::start_with(first, 0, reopen, &Budget::unlimited()).expect("start");
    assert_eq!(p.read(0, 1000).expect("read"), &d[..1000]);
    // Left idle past the release time, the stream gives back its chunks (and connection).
    eventually("the idle stream released", || p.held() == 0);
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
    let mut p = Prefetcher::start_with(reopen(0).expect("open"), 0, reopen, &Budget::unlimited())
        .expect("start");
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
    let mut p = Prefetcher::start_with(reopen(0).expect("open"), 0, reopen, &Budget::unlimited())
        .expect("start");
    let mut off = 0u64;
    while off < d.len() as u64 {
        let got = p.read(off, 128 << 10).expect("read");
        assert_eq!(got, &d[off as usize..(off as usize + got.len())]);
        off += got.len() as u64;
    }
    // One chunk (64 KiB after each resume) per transfer.
    assert_eq!(
        opens.load(Ordering::SeqCst),
        ((3 << 20) / FIRST_CHUNK) as usize
    );
}

#[test]
fn starts_at_an_offset_and_reports_errors_after_the_data() {
    let d = data(1 << 20);
    let s = Bytes {
        data: d[1000..].to_vec(),
        pos: 0,
        fail_at: Some(300_000),
    };
    let mut p = Prefetcher::start(Box::new(s), 1000, &Budget::unlimited()).expect("start");
    assert_eq!(
        p.read(1000, 200_000).expect("data first"),
        &d[1000..201_000]
    );
    assert!(p.read(201_000, 200_000).is_err());
    assert!(!p.covers(0, 0));
}

/// A reopen function over `d` that counts its calls.
fn reopener(d: &Arc<Vec<u8>>) -> (Reopen, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let opens = Arc::new(AtomicUsize::new(0));
    let reopen: Reopen = {
        let (d, opens) = (Arc::clone(d), Arc::clone(&opens));
        Arc::new(move |off| {
            opens.fetch_add(1, Ordering::SeqCst);
            let off = (off as usize).min(d.len());
            Ok(Box::new(bytes(d[off..].to_vec())) as Box<dyn ReadStream>)
        })
    };
    (reopen, opens)
}

/// Reads all of `d` from `p` in pieces of `step` (the last one short), checking every byte.
fn read_all(p: &mut Prefetcher, d: &[u8], step: usize) {
    let mut off = 0usize;
    while off < d.len() {
        let got = p.read(off as u64, step).expect("read");
        assert_eq!(got, &d[off..(off + step).min(d.len())], "at {off}");
        off += got.len();
    }
    assert!(p.read(d.len() as u64, step).expect("eof").is_empty());
}

#[test]
fn chunks_end_on_multiples_of_their_size() {
    assert_eq!(chunk_size(0, FIRST_CHUNK, u64::MAX), FIRST_CHUNK);
    // 64K, 64K, 128K, 256K, 512K, 1M, 1M...: every boundary after 256K is a multiple of 256K.
    let mut pos = 0;
    let mut target = FIRST_CHUNK;
    let mut ends = vec![];
    while pos < 8 << 20 {
        let s = chunk_size(pos, target, u64::MAX);
        assert_eq!((pos + s) % s.min(target), 0, "chunk at {pos} of {s}");
        pos += s;
        ends.push(pos);
        target = (target * 2).min(MAX_CHUNK);
    }
    assert!(
        ends.iter()
            .filter(|e| **e >= 256 << 10)
            .all(|e| e % (256 << 10) == 0)
    );
    // An unaligned start (REST at any offset) is aligned after its first chunk.
    let s = chunk_size(10_000, FIRST_CHUNK, u64::MAX);
    assert_eq!((10_000 + s) % FIRST_CHUNK, 0);
    // Little room: smaller, still aligned, never below MIN_CHUNK.
    assert_eq!(chunk_size(0, MAX_CHUNK, 100 << 10), 64 << 10);
    assert_eq!(chunk_size(0, MAX_CHUNK, 1), MIN_CHUNK);
}

#[test]
fn a_budget_smaller_than_a_read_still_reads_everything() {
    // 96 KiB of budget, reads of 128 KiB: read-ahead gets 32 KiB chunks at most, each read
    // takes a buffer of its own (granted alone, being larger than the budget).
    let d = Arc::new(data(3 << 20));
    let budget = Budget::new(96 << 10);
    let (reopen, _) = reopener(&d);
    let mut p =
        Prefetcher::start_with(reopen(0).expect("open"), 0, reopen, &budget).expect("start");
    within(60, "reading on a tiny budget", move || {
        read_all(&mut p, &d, 128 << 10)
    });
    assert_eq!(budget.granted(), 0);
}

#[test]
fn reads_within_a_budget_of_a_few_chunks_never_pass_it() {
    let d = Arc::new(data(6 << 20));
    let budget = Budget::new(512 << 10);
    let (reopen, _) = reopener(&d);
    let mut p =
        Prefetcher::start_with(reopen(0).expect("open"), 0, reopen, &budget).expect("start");
    read_all(&mut p, &d, 96 << 10);
    assert!(
        budget.high() <= budget.limit(),
        "{} > {}",
        budget.high(),
        budget.limit()
    );
}

#[test]
fn sixteen_streams_on_a_small_budget_all_finish_correctly() {
    // 16 readers at once, 1 MiB of budget (less than one full window each): every stream
    // finishes with the right bytes, nothing deadlocks, the budget is never passed.
    let budget = Budget::new(1 << 20);
    let done = within(120, "16 streams on 1 MiB", {
        let budget = budget.clone();
        move || {
            let threads: Vec<_> = (0..16)
                .map(|i| {
                    let budget = budget.clone();
                    std::thread::spawn(move || {
                        let d: Arc<Vec<u8>> = Arc::new(
                            (0..(3 << 20) + i * 4097)
                                .map(|k| (k * 31 + i) as u8)
                                .collect(),
                        );
                        let (reopen, _) = reopener(&d);
                        let mut p =
                            Prefetcher::start_with(reopen(0).expect("open"), 0, reopen, &budget)
                                .expect("start");
                        // Pairs of reads in swapped order, as the kernel's parallel
                        // read-ahead may send them.
                        let b = 64usize << 10;
                        let mut off = 0usize;
                        while off < d.len() {
                            let second = p.read((off + b) as u64, b).expect("read");
                            let first = p.read(off as u64, b).expect("read");
                            assert_eq!(first, &d[off..(off + b).min(d.len())]);
                            let s2 = (off + b).min(d.len());
                            assert_eq!(second, &d[s2..(off + 2 * b).min(d.len())]);
                            off += 2 * b;
                        }
                        1
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().expect("reader"))
                .sum::<usize>()
        }
    });
    assert_eq!(done, 16);
    assert!(
        budget.high() <= budget.limit(),
        "{} > {}",
        budget.high(),
        budget.limit()
    );
}

#[test]
fn read_ahead_grows_with_the_reading_and_stays_within_its_window() {
    let d = Arc::new(data(20 << 20));
    let budget = Budget::new(64 << 20);
    let (reopen, _) = reopener(&d);
    let mut p =
        Prefetcher::start_with(reopen(0).expect("open"), 0, reopen, &budget).expect("start");
    // A short read of a large file fetches little.
    assert_eq!(p.read(0, 4096).expect("read"), &d[..4096]);
    // Once read-ahead has run (not before: the bound would hold trivially), give it time
    // to go past its window if it were to.
    eventually("read-ahead started", || p.held() > 4096);
    std::thread::sleep(IDLE_RELEASE / 4);
    let held = p.held();
    assert!(
        held <= (DEPTH + 1) * FIRST_CHUNK,
        "too much for one small read: {held}"
    );
    // Reading on, the window grows to DEPTH chunks of MAX_CHUNK, and no further.
    let mut off = 4096usize;
    while off < 4 << 20 {
        let got = p.read(off as u64, 256 << 10).expect("read");
        assert_eq!(got, &d[off..off + got.len()]);
        off += got.len();
    }
    eventually("read-ahead fills its window", || p.held() >= 3 << 20);
    std::thread::sleep(IDLE_RELEASE / 4);
    let held = p.held();
    assert!(
        held <= DEPTH * MAX_CHUNK + BACK + MAX_CHUNK,
        "beyond its window: {held}"
    );
}

#[test]
fn an_idle_stream_gives_its_memory_back_and_resumes() {
    use std::sync::atomic::Ordering;
    let d = Arc::new(data(20 << 20));
    let budget = Budget::new(64 << 20);
    let (reopen, opens) = reopener(&d);
    let mut p =
        Prefetcher::start_with(reopen(0).expect("open"), 0, reopen, &budget).expect("start");
    assert_eq!(p.read(0, 1000).expect("read"), &d[..1000]);
    let t = Instant::now();
    while budget.granted() > 0 || p.held() > 0 {
        assert!(
            t.elapsed() < IDLE_RELEASE * 20,
            "memory still held while idle"
        );
        std::thread::sleep(IDLE_RELEASE / 10);
    }
    let mut off = 1000usize;
    while off < d.len() {
        let got = p.read(off as u64, 1 << 20).expect("read after release");
        assert_eq!(got, &d[off..off + got.len()]);
        off += got.len();
    }
    assert_eq!(opens.load(Ordering::SeqCst), 2, "resumed exactly once");
}

#[test]
fn a_waiter_takes_the_memory_of_a_stream_nobody_reads() {
    // A stream read once fills its window; someone then needs most of the budget: the
    // stream gives its chunks back (its transfer stops) and reading it on resumes.
    let d = Arc::new(data(8 << 20));
    let budget = Budget::new(2 << 20);
    let (reopen, opens) = reopener(&d);
    let mut p =
        Prefetcher::start_with(reopen(0).expect("open"), 0, reopen, &budget).expect("start");
    assert_eq!(p.read(0, 4096).expect("read"), &d[..4096]);
    assert_eq!(p.read(4096, 508 << 10).expect("read"), &d[4096..512 << 10]);
    eventually("read-ahead", || budget.granted() >= 512 << 10);
    let big = within(10, "a waiter behind idle read-ahead", {
        let budget = budget.clone();
        move || budget.take(budget.limit())
    });
    assert_eq!(p.held(), 0);
    drop(big);
    let mut off = 512usize << 10;
    while off < d.len() {
        let got = p.read(off as u64, 256 << 10).expect("read after reclaim");
        assert_eq!(got, &d[off..off + got.len()]);
        off += got.len();
    }
    assert!(opens.load(std::sync::atomic::Ordering::SeqCst) >= 2);
}

#[test]
fn dropping_the_reader_frees_its_memory() {
    let d = Arc::new(data(8 << 20));
    let budget = Budget::new(64 << 20);
    let (reopen, _) = reopener(&d);
    let mut p =
        Prefetcher::start_with(reopen(0).expect("open"), 0, reopen, &budget).expect("start");
    assert_eq!(p.read(0, 4096).expect("read"), &d[..4096]);
    drop(p);
    eventually("memory given back after drop", || budget.granted() == 0);
}

#[test]
fn one_sequential_stream_reuses_its_buffers_and_holds_little() {
    // 64 MiB read the way the kernel does (256 KiB at a time): the budget's high-water mark
    // (spares included) stays within the window, what is kept behind, and the chunks on
    // their way; buffers are reused rather than new ones made for every chunk.
    let d = Arc::new(data(64 << 20));
    let budget = Budget::new(64 << 20);
    let (reopen, _) = reopener(&d);
    let mut p =
        Prefetcher::start_with(reopen(0).expect("open"), 0, reopen, &budget).expect("start");
    let mut off = 0usize;
    while off < d.len() {
        let ok = p
            .read_with(off as u64, 256 << 10, |s| s == &d[off..off + s.len()])
            .expect("read");
        assert!(ok, "wrong bytes at {off}");
        off += 256 << 10;
    }
    // Window + what is kept behind + chunks on their way + the buffer of one read that spans
    // chunks (while chunks still grow, a slow reader's 256 KiB read can span two of them) +
    // the smaller chunks of the ramp, kept as spares until unused for a while (64 KiB to
    // 512 KiB: less than one full chunk). Seen under load: 7.25 and 7.5 MiB.
    let most = DEPTH * MAX_CHUNK + BACK + 2 * MAX_CHUNK + (256 << 10) + MAX_CHUNK;
    assert!(budget.high() as u64 <= most, "{} > {most}", budget.high());
}

#[test]
fn a_starved_read_beyond_the_stream_skips_to_it_and_sees_where_the_file_ends() {
    // A budget with no room for read-ahead: reads go through buffers lent to the thread,
    // which skips forward to a read that starts beyond its position (within the skip window
    // of the caller), also past the end of the file.
    let d = Arc::new(data(300_000));
    // 40 KiB held elsewhere: a 64 KiB chunk never fits, a read's own buffer does.
    let budget = Budget::new(96 << 10);
    let hog = budget.take(40 << 10);
    let (reopen, opens) = reopener(&d);
    let mut p =
        Prefetcher::start_with(reopen(0).expect("open"), 0, reopen, &budget).expect("start");
    let b = within(10, "read with no read-ahead", {
        let d = Arc::clone(&d);
        move || {
            let got = p.read(100_000, 50_000).expect("read ahead of the stream");
            assert_eq!(got, &d[100_000..150_000]);
            // Beyond the end: empty, and the end is where the file ends.
            assert!(p.read(400_000, 10).expect("past the end").is_empty());
            assert_eq!(p.eof(), Some(300_000));
            p
        }
    });
    drop(hog);
    drop(b);
    assert!(opens.load(std::sync::atomic::Ordering::SeqCst) >= 1);
}
