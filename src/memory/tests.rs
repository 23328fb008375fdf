//! The budget on its own: limits, waits in order, reclaiming, spares, and no deadlock under
//! many threads with a budget much smaller than their wishes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::testing::{eventually, within};

const K64: usize = 64 << 10;

#[test]
fn grants_stay_within_the_limit_and_come_back_when_dropped() {
    let b = Budget::new(4 * K64);
    let x = b.try_take(K64).expect("room");
    let y = b.try_take(2 * K64).expect("room");
    assert_eq!(b.granted(), 3 * K64);
    assert!(b.try_take(2 * K64).is_none(), "beyond the limit");
    let z = b.try_take(K64).expect("exactly the limit");
    assert_eq!(b.granted(), 4 * K64);
    drop((x, z));
    assert_eq!(b.granted(), 2 * K64);
    assert!(b.try_take(2 * K64).is_some());
    drop(y);
    assert_eq!(b.granted(), 0);
    assert!(b.high() <= b.limit());
}

#[test]
fn buffers_have_the_length_asked_for_and_are_counted_by_capacity() {
    let b = Budget::new(1 << 20);
    let mut x = b.take(100_000);
    assert_eq!(x.len(), 100_000);
    assert_eq!(x.capacity(), 2 * K64, "rounded up to a multiple of 64 KiB");
    assert_eq!(b.granted(), 2 * K64);
    x[99_999] = 7;
    x.truncate(10);
    assert_eq!(x.len(), 10);
    x.set_len(1 << 30);
    assert_eq!(x.len(), x.capacity());
    let small = b.take(10);
    assert_eq!(small.capacity(), 4096);
    let c = b.copy_of(b"hello");
    assert_eq!(&c[..], b"hello");
}

#[test]
fn take_waits_until_memory_is_given_back() {
    let b = Budget::new(2 * K64);
    let held = b.take(2 * K64);
    let (tx, rx) = mpsc::channel();
    let b2 = b.clone();
    let t = std::thread::spawn(move || {
        let got = b2.take(K64);
        tx.send(got.len()).expect("send");
    });
    eventually("the waiter queues", || b.pressed());
    assert!(rx.try_recv().is_err(), "granted while the budget was full");
    assert!(b.try_take(4096).is_none(), "try_take jumped the queue");
    drop(held);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).expect("granted"),
        K64
    );
    t.join().expect("join");
    assert!(!b.pressed());
}

#[test]
fn waiters_are_served_first_come_first_served() {
    // A big request queued first is not overtaken by small ones that would fit.
    let b = Budget::new(4 * K64);
    let held = b.take(3 * K64);
    let order = Arc::new(Mutex::new(Vec::new()));
    let spawn = |name: &'static str, n: usize| {
        let (b, order) = (b.clone(), Arc::clone(&order));
        std::thread::spawn(move || {
            let g = b.take(n);
            order.lock().expect("lock").push(name);
            g
        })
    };
    let big = spawn("big", 4 * K64);
    eventually("big waits", || b.pressed());
    let small = spawn("small", K64);
    // The small one fits beside `held`, but must wait behind the big one: once it waits
    // too (not before: it could not have overtaken yet), the order is still empty.
    eventually("small waits", || lock(&b.inner.st).waiting() == 2);
    assert!(order.lock().expect("lock").is_empty(), "small overtook big");
    drop(held);
    let big = big.join().expect("big");
    assert_eq!(*order.lock().expect("lock"), vec!["big"]);
    drop(big);
    let _small = small.join().expect("small");
    assert_eq!(*order.lock().expect("lock"), vec!["big", "small"]);
}

#[test]
fn a_request_larger_than_the_budget_is_granted_alone() {
    let b = Budget::new(2 * K64);
    let held = b.take(K64);
    let b2 = b.clone();
    let t = std::thread::spawn(move || b2.take(8 * K64).len());
    eventually("the big request waits", || b.pressed());
    drop(held);
    assert_eq!(t.join().expect("join"), 8 * K64);
}

/// A holder that gives back what it holds when asked: its "delivered" buffers at once, the
/// rest only when asked hard.
struct Holder {
    soft: Mutex<Vec<Buf>>,
    hard: Mutex<Vec<Buf>>,
    asked: AtomicUsize,
}

impl Reclaim for Holder {
    fn reclaim(&self, hard: bool) {
        self.asked.fetch_add(1, Ordering::SeqCst);
        self.soft.lock().expect("lock").clear();
        if hard {
            self.hard.lock().expect("lock").clear();
        }
    }
}

#[test]
fn waiters_make_holders_give_back_soft_first_then_hard() {
    let b = Budget::new(4 * K64);
    let h = Arc::new(Holder {
        soft: Mutex::new(vec![b.take(K64)]),
        hard: Mutex::new(vec![b.take(3 * K64)]),
        asked: AtomicUsize::new(0),
    });
    let weak: std::sync::Weak<dyn Reclaim> = Arc::downgrade(&(Arc::clone(&h) as Arc<dyn Reclaim>));
    let registered = b.register(weak);
    assert_eq!(b.holders(), 1);
    // One block fits once the soft part is given back: no hard reclaim needed.
    let one = within(5, "soft reclaim", {
        let b = b.clone();
        move || b.take(K64)
    });
    assert!(h.soft.lock().expect("lock").is_empty());
    assert_eq!(
        h.hard.lock().expect("lock").len(),
        1,
        "dropped more than needed"
    );
    drop(one);
    // Two more blocks need the hard part.
    let t0 = Instant::now();
    let two = within(5, "hard reclaim", {
        let b = b.clone();
        move || b.take(2 * K64)
    });
    assert!(h.hard.lock().expect("lock").is_empty());
    assert!(
        t0.elapsed() >= HARD_AFTER,
        "asked hard before waiting HARD_AFTER"
    );
    drop(two);
    drop(h);
    drop(registered);
    assert_eq!(b.holders(), 0, "a dropped holder stays registered");
}

#[test]
fn spares_are_reused_counted_and_freed_when_idle() {
    let b = Budget::new(64 * K64);
    let x = b.take(2 * K64);
    let ptr = x.as_ptr();
    drop(x);
    assert_eq!(b.granted(), 0);
    assert_eq!(b.used(), 2 * K64, "the spare counts against the limit");
    let y = b.take(2 * K64);
    assert_eq!(y.as_ptr(), ptr, "the spare was not reused");
    drop(y);
    // A grant that needs the spare's room frees it.
    let z = b.take(64 * K64);
    assert_eq!(b.used(), 64 * K64);
    drop(z);
    assert_eq!(
        b.used(),
        0,
        "spares beyond an eighth of the limit are freed at once"
    );
    // A spare up to twice the size asked for is reused (and granted whole).
    drop(b.take(3 * K64));
    let w = b.take(2 * K64);
    assert_eq!(w.capacity(), 3 * K64);
    assert_eq!(b.granted(), 3 * K64);
    drop(w);
    // Unused spares are freed after SPARE_TTL.
    eventually("spares freed", || b.used() == 0);
    // Small buffers are not kept.
    drop(b.take(100));
    assert_eq!(b.used(), 0);
}

#[test]
fn many_threads_with_a_tiny_budget_all_finish_and_never_exceed_it() {
    // 16 threads, each wanting up to max_grant at a time, in a budget of 8 blocks: every
    // take is eventually granted (no deadlock), and the granted bytes never pass the limit.
    // (A thread never waits while it holds a grant: that is the callers' side of the
    // contract, see the module doc.)
    let b = Budget::new(8 * K64);
    let done = within(60, "16 threads on a tiny budget", {
        let b = b.clone();
        move || {
            let threads: Vec<_> = (0..16)
                .map(|i| {
                    let b = b.clone();
                    std::thread::spawn(move || {
                        let mut n = 0;
                        for k in 0..200usize {
                            let size = ((i * 7 + k * 13) % 4 + 1) * K64;
                            let mut x = b.take(size.min(b.max_grant()));
                            x[0] = k as u8;
                            if k % 3 == 0 {
                                // Read-ahead beside it, when there is room: never waits
                                // while holding (the budget's contract).
                                let y = b.try_take(K64);
                                assert!(b.granted() <= b.limit());
                                drop(y);
                            }
                            assert!(b.granted() <= b.limit());
                            n += 1;
                        }
                        n
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().expect("thread"))
                .sum::<usize>()
        }
    });
    assert_eq!(done, 16 * 200);
    assert!(b.high() <= b.limit(), "{} > {}", b.high(), b.limit());
    assert_eq!(b.granted(), 0);
}

#[test]
fn try_take_gives_way_to_waiters_but_not_otherwise() {
    let b = Budget::new(4 * K64);
    assert!(b.try_take(4 * K64).is_some());
    let held = b.take(3 * K64);
    let b2 = b.clone();
    let t = std::thread::spawn(move || b2.take(2 * K64).len());
    eventually("waiter", || b.pressed());
    // There is room for one block, but someone waits.
    assert!(b.try_take(K64).is_none());
    drop(held);
    assert_eq!(t.join().expect("join"), 2 * K64);
    assert!(b.try_take(K64).is_some());
}
