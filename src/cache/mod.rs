//! Directory-listing cache: one entry per directory (an `lru` cache bounded by
//! `dir_cache_size`), each valid for `dir_cache_ttl` after it was fetched, plus single-flight
//! fetching so that concurrent lookups in one directory cost one listing.
//!
//! Invariants:
//! - A listing is *fresh* while `now - fetched < ttl`; a fresh listing is authoritative: a name
//!   it lacks does not exist (negative entries come for free).
//! - Our own changes go through [`DirCache::update`] (edit a cached listing in place) or
//!   [`DirCache::invalidate`]; each bumps the directory's generation, and a fetch that started
//!   before a bump is returned to its caller but not stored, so a listing fetched before a change
//!   can never hide it. The counts are dropped whenever no fetch runs (none can be compared).
//! - No lock is held while fetching: the fetch closure runs unlocked; waiters block on a condvar.
//! - Every [`DirCache::get_or_fetch`] counts once, in atomics: a hit (a fresh listing), a
//!   shared fetch (it waited for one already running) or a miss (it fetched); see
//!   [`DirCache::stats`].

mod entries;

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lru::LruCache;
use serde::{Deserialize, Serialize};

use crate::remote::{RemoteEntry, RemoteError};

/// Time source, so tests can move time without sleeping.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that only moves when told to.
#[derive(Clone, Debug)]
pub struct ManualClock {
    base: Instant,
    offset: Arc<Mutex<Duration>>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock {
            base: Instant::now(),
            offset: Arc::new(Mutex::new(Duration::ZERO)),
        }
    }
}

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        let mut o = self.offset.lock().unwrap_or_else(|p| p.into_inner());
        *o += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.base + *self.offset.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub use entries::Entries;

struct Cached {
    entries: Arc<Entries>,
    fetched: Instant,
}

type FlightResult = Option<Result<Arc<Entries>, RemoteError>>;

#[derive(Default)]
struct Flight {
    /// The directory's generation when the fetch started.
    generation: u64,
    result: Mutex<FlightResult>,
    done: Condvar,
}

struct Inner {
    lru: LruCache<String, Cached>,
    /// Changes per directory, for fetches running now; cleared whenever none runs (so it
    /// does not grow with every directory ever changed).
    generation: HashMap<String, u64>,
    flights: HashMap<String, Arc<Flight>>,
    /// Fetches running, including ones a newer flight replaced in `flights`.
    running: usize,
}

/// The directory cache.
pub struct DirCache {
    inner: Mutex<Inner>,
    ttl: Duration,
    clock: Box<dyn Clock>,
    hits: AtomicU64,
    misses: AtomicU64,
    shared: AtomicU64,
}

/// What the directory cache did and holds (for `ftpfs stats`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheStats {
    /// Listings answered from the cache (fresh).
    pub hits: u64,
    /// Listings fetched from the server.
    pub misses: u64,
    /// Listings that waited for a fetch of the same directory already running.
    pub shared: u64,
    /// Directories whose listing is cached (fresh or not).
    pub dirs: usize,
    /// Of those, fresh ones (younger than the TTL).
    pub fresh: usize,
    /// Entries in all cached listings.
    pub entries: usize,
    /// `-o dir_cache_size`.
    pub capacity: usize,
    /// `-o dir_cache_ttl`, in seconds.
    pub ttl_secs: f64,
}

impl DirCache {
    pub fn new(ttl: Duration, size: usize, clock: Box<dyn Clock>) -> Self {
        let cap = NonZeroUsize::new(size.max(1)).unwrap_or(NonZeroUsize::MIN);
        DirCache {
            inner: Mutex::new(Inner {
                lru: LruCache::new(cap),
                generation: HashMap::new(),
                flights: HashMap::new(),
                running: 0,
            }),
            ttl,
            clock,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            shared: AtomicU64::new(0),
        }
    }

    /// Counters and contents (takes the lock once, briefly: no fetch runs under it).
    pub fn stats(&self) -> CacheStats {
        let now = self.clock.now();
        let inner = self.lock();
        let (mut fresh, mut entries) = (0, 0);
        for (_, c) in inner.lru.iter() {
            entries += c.entries.len();
            fresh += usize::from(now.duration_since(c.fetched) < self.ttl);
        }
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            shared: self.shared.load(Ordering::Relaxed),
            dirs: inner.lru.len(),
            fresh,
            entries,
            capacity: inner.lru.cap().get(),
            ttl_secs: self.ttl.as_secs_f64(),
        }
    }

    /// The TTL listings are kept for.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fresh cached listing, without fetching.
    pub fn peek(&self, dir: &str) -> Option<Arc<Entries>> {
        let now = self.clock.now();
        let mut inner = self.lock();
        match inner.lru.get(dir) {
            Some(c) if now.duration_since(c.fetched) < self.ttl => Some(Arc::clone(&c.entries)),
            _ => None,
        }
    }

    /// How many subdirectories a fresh cached listing of `dir` has (without fetching, and
    /// without making it more recently used).
    pub fn subdirs(&self, dir: &str) -> Option<usize> {
        let now = self.clock.now();
        let inner = self.lock();
        match inner.lru.peek(dir) {
            Some(c) if now.duration_since(c.fetched) < self.ttl => Some(
                c.entries
                    .values()
                    .filter(|e| e.kind == crate::remote::FileKind::Dir)
                    .count(),
            ),
            _ => None,
        }
    }

    /// The listing of `dir`: cached when fresh, else fetched once (concurrent callers for the
    /// same directory wait for that one fetch).
    pub fn get_or_fetch<F>(&self, dir: &str, fetch: F) -> Result<Arc<Entries>, RemoteError>
    where
        F: FnOnce() -> Result<Vec<RemoteEntry>, RemoteError>,
    {
        let flight = {
            let now = self.clock.now();
            let mut inner = self.lock();
            if let Some(c) = inner.lru.get(dir)
                && now.duration_since(c.fetched) < self.ttl
            {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(Arc::clone(&c.entries));
            }
            let generation = inner.generation.get(dir).copied().unwrap_or(0);
            // Join a fetch only if nothing changed since it started: one that began before our
            // own change would hand the stale listing to this caller.
            if let Some(f) = inner
                .flights
                .get(dir)
                .filter(|f| f.generation == generation)
            {
                let f = Arc::clone(f);
                drop(inner);
                self.shared.fetch_add(1, Ordering::Relaxed);
                return Self::wait(&f);
            }
            let f = Arc::new(Flight {
                generation,
                ..Flight::default()
            });
            inner.flights.insert(dir.to_string(), Arc::clone(&f));
            inner.running += 1;
            self.misses.fetch_add(1, Ordering::Relaxed);
            f
        };
        let fetched_at = self.clock.now();
        let result = fetch().map(|list| Arc::new(Entries::from(list)));
        {
            let mut inner = self.lock();
            // Remove only our own flight (a newer one may have replaced it).
            if inner
                .flights
                .get(dir)
                .is_some_and(|f| Arc::ptr_eq(f, &flight))
            {
                inner.flights.remove(dir);
            }
            if let Ok(entries) = &result {
                let unchanged =
                    inner.generation.get(dir).copied().unwrap_or(0) == flight.generation;
                if unchanged && !self.ttl.is_zero() {
                    inner.lru.put(
                        dir.to_string(),
                        Cached {
                            entries: Arc::clone(entries),
                            fetched: fetched_at,
                        },
                    );
                }
            }
            inner.running -= 1;
            if inner.running == 0 {
                inner.generation.clear();
            }
        }
        let mut slot = flight.result.lock().unwrap_or_else(|p| p.into_inner());
        *slot = Some(result.clone());
        flight.done.notify_all();
        result
    }

    fn wait(f: &Flight) -> Result<Arc<Entries>, RemoteError> {
        let mut slot = f.result.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(r) = slot.as_ref() {
                return r.clone();
            }
            slot = f.done.wait(slot).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn bump(inner: &mut Inner, dir: &str) {
        *inner.generation.entry(dir.to_string()).or_default() += 1;
    }

    /// Edits the cached listing of `dir` in place (when cached), e.g. after we created a file.
    /// Returns whether a listing was cached.
    pub fn update<F: FnOnce(&mut Entries)>(&self, dir: &str, edit: F) -> bool {
        let mut inner = self.lock();
        Self::bump(&mut inner, dir);
        match inner.lru.get_mut(dir) {
            Some(c) => {
                edit(Arc::make_mut(&mut c.entries));
                true
            }
            None => false,
        }
    }

    /// Forgets every listing that is no longer fresh (it would be fetched again before any
    /// use): called when the mount has gone idle, so that its memory goes back.
    pub fn drop_expired(&self) {
        let now = self.clock.now();
        let mut inner = self.lock();
        let old: Vec<String> = inner
            .lru
            .iter()
            .filter(|(_, c)| now.duration_since(c.fetched) >= self.ttl)
            .map(|(k, _)| k.clone())
            .collect();
        for k in old {
            inner.lru.pop(&k);
        }
    }

    /// Forgets the listing of `dir`.
    pub fn invalidate(&self, dir: &str) {
        let mut inner = self.lock();
        Self::bump(&mut inner, dir);
        inner.lru.pop(dir);
    }

    /// Forgets `dir` and every cached directory below it (after a directory rename/removal).
    pub fn invalidate_tree(&self, dir: &str) {
        let mut inner = self.lock();
        let prefix = if dir == "/" {
            "/".to_string()
        } else {
            format!("{dir}/")
        };
        // Cached listings below, and fetches running below (a listing taken before the change
        // must not be stored when it arrives).
        let doomed: Vec<String> = inner
            .lru
            .iter()
            .map(|(k, _)| k)
            .chain(inner.flights.keys())
            .filter(|k| *k == dir || k.starts_with(&prefix))
            .cloned()
            .collect();
        for k in doomed {
            Self::bump(&mut inner, &k);
            inner.lru.pop(&k);
        }
        Self::bump(&mut inner, dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::FileKind;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn entry(name: &str) -> RemoteEntry {
        RemoteEntry {
            name: name.into(),
            kind: FileKind::File,
            size: 1,
            mtime: None,
            mode: None,
            link_target: None,
        }
    }

    #[test]
    fn fresh_listing_is_served_from_cache_until_ttl() {
        let clock = ManualClock::default();
        let cache = DirCache::new(Duration::from_secs(10), 16, Box::new(clock.clone()));
        let calls = AtomicUsize::new(0);
        let fetch = || {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(vec![entry("a")])
        };
        assert!(cache.get_or_fetch("/", fetch).is_ok());
        assert!(cache.get_or_fetch("/", || unreachable!()).is_ok());
        clock.advance(Duration::from_secs(11));
        assert!(cache.peek("/").is_none());
        let again = cache.get_or_fetch("/", || Ok(vec![entry("b")]));
        assert!(again.is_ok_and(|e| e.contains_key("b")));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn change_during_fetch_is_not_hidden_by_the_stale_listing() {
        let cache = DirCache::new(Duration::from_secs(10), 16, Box::new(SystemClock));
        let r = cache.get_or_fetch("/d", || {
            cache.invalidate("/d");
            Ok(vec![entry("old")])
        });
        assert!(r.is_ok());
        assert!(cache.peek("/d").is_none(), "stale fetch must not be stored");
    }

    #[test]
    fn a_fetch_started_before_a_change_is_not_joined_after_it() {
        let cache = Arc::new(DirCache::new(
            Duration::from_secs(10),
            16,
            Box::new(SystemClock),
        ));
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let slow = {
            let cache = Arc::clone(&cache);
            std::thread::spawn(move || {
                cache
                    .get_or_fetch("/d", || {
                        let _ = started_tx.send(());
                        let _ = go_rx.recv();
                        Ok(vec![entry("old")])
                    })
                    .map(|e| e.contains_key("new"))
            })
        };
        started_rx.recv().expect("fetch started");
        cache.invalidate("/d"); // our own change (e.g. we created /d/new)
        let fresh = cache.get_or_fetch("/d", || Ok(vec![entry("old"), entry("new")]));
        assert!(
            fresh.is_ok_and(|e| e.contains_key("new")),
            "joined the stale fetch"
        );
        let _ = go_tx.send(());
        assert!(matches!(slow.join(), Ok(Ok(false))));
        assert!(cache.peek("/d").is_some_and(|e| e.contains_key("new")));
        // With no fetch running, the per-directory change counts are no longer needed.
        assert!(cache.lock().generation.is_empty());
    }

    #[test]
    fn a_fetch_below_a_tree_invalidated_meanwhile_is_not_stored() {
        let cache = Arc::new(DirCache::new(
            Duration::from_secs(10),
            16,
            Box::new(SystemClock),
        ));
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let slow = {
            let cache = Arc::clone(&cache);
            std::thread::spawn(move || {
                cache.get_or_fetch("/d/sub", || {
                    let _ = started_tx.send(());
                    let _ = go_rx.recv();
                    Ok(vec![entry("old")])
                })
            })
        };
        started_rx.recv().expect("fetch started");
        cache.invalidate_tree("/d"); // e.g. /d was renamed away, /d/sub is no more
        let _ = go_tx.send(());
        assert!(slow.join().is_ok_and(|r| r.is_ok()));
        assert!(cache.peek("/d/sub").is_none(), "stale listing stored");
    }

    #[test]
    fn update_edits_in_place_and_lru_bound_holds() {
        let cache = DirCache::new(Duration::from_secs(10), 2, Box::new(SystemClock));
        for d in ["/a", "/b", "/c"] {
            assert!(cache.get_or_fetch(d, || Ok(vec![entry("x")])).is_ok());
        }
        assert!(cache.peek("/a").is_none(), "evicted by the size bound");
        assert!(cache.update("/c", |e| {
            e.insert("y".into(), entry("y"));
        }));
        assert!(cache.peek("/c").is_some_and(|e| e.contains_key("y")));
        cache.invalidate_tree("/");
        assert!(cache.peek("/c").is_none());
    }

    #[test]
    fn concurrent_fetches_of_one_dir_are_single_flight() {
        let cache = Arc::new(DirCache::new(
            Duration::from_secs(10),
            16,
            Box::new(SystemClock),
        ));
        let calls = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let cache = Arc::clone(&cache);
                let calls = Arc::clone(&calls);
                std::thread::spawn(move || {
                    cache
                        .get_or_fetch("/", || {
                            calls.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(50));
                            Ok(vec![entry("a")])
                        })
                        .is_ok()
                })
            })
            .collect();
        for t in threads {
            assert!(t.join().unwrap_or(false));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
