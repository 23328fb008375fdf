//! How `-o memory_budget=SIZE` is split, decided once at mount: the FUSE request buffers
//! (fuser's, one per receiving thread, of which a write request touches up to `max_write`
//! bytes that then stay resident), what the program itself needs ([`PROGRAM`]), and the
//! [`super::Budget`] for the data on its way (read-ahead, upload queues, requests' data).
//! The budget is thus what the whole daemon may use, not counting the directory listings and
//! inode tables, which grow with the directories listed (bounded by `-o dir_max_entries`
//! and `-o dir_cache_size`, about 250 bytes per entry).
//!
//! Invariants:
//! - `receivers × (max_io + REQUEST_HEADER) + program + pool == budget`: the parts are the
//!   whole budget.
//! - `max_io` (the largest read or write request the kernel sends) is at most a quarter of
//!   the pool, so a request's buffer is always well within [`super::Budget::max_grant`];
//!   with the default budget it is 1 MiB, the size that makes `cp` fast.

/// Default `-o memory_budget` (64 MiB).
pub const DEFAULT_BUDGET: usize = 64 << 20;
/// Smallest accepted `-o memory_budget` (1 MiB).
pub const MIN_BUDGET: usize = 1 << 20;
/// Largest accepted `-o memory_budget` (64 GiB).
pub const MAX_BUDGET: usize = 64 << 30;

/// Largest and smallest request size asked of the kernel (`max_write`, `max_readahead`).
pub const MAX_IO: usize = 1 << 20;
pub const MIN_IO: usize = 128 << 10;
/// Threads that read requests from the kernel (each with fuser's request buffer); the
/// requests themselves run on worker threads ([`crate::fuse`]).
pub const RECEIVERS: usize = 1;
/// What a request adds to its data in fuser's buffer (headers; a page to be safe).
pub const REQUEST_HEADER: usize = 4096;
/// What the program needs besides the data buffers, at most: code and libraries (~5 MiB
/// resident), a quiet mount's tables, thread stacks, TLS state (measured: 6 MiB idle, plain
/// or FTPS). A quarter of smaller budgets.
pub const PROGRAM: usize = 8 << 20;

/// The split of one mount's budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizing {
    /// The whole budget (`-o memory_budget`).
    pub budget: usize,
    /// Largest read and write request (`max_write`, `max_readahead`), a power of two.
    pub max_io: usize,
    /// Threads receiving requests from the kernel.
    pub receivers: usize,
    /// Left for the program itself.
    pub program: usize,
    /// Bytes for the [`super::Budget`]: read-ahead, upload queues, requests' data.
    pub pool: usize,
    /// Most threads running requests at once.
    pub workers: usize,
}

impl Sizing {
    /// The split of `budget` bytes for a mount of `connections` pooled connections.
    pub fn new(budget: usize, connections: usize) -> Sizing {
        let budget = budget.clamp(MIN_BUDGET, MAX_BUDGET);
        // A sixteenth of the budget, as a power of two within [MIN_IO, MAX_IO].
        let mut max_io = MAX_IO;
        while max_io > MIN_IO && max_io > budget / 16 {
            max_io /= 2;
        }
        let requests = RECEIVERS * (max_io + REQUEST_HEADER);
        let program = PROGRAM.min(budget / 4);
        Sizing {
            budget,
            max_io,
            receivers: RECEIVERS,
            program,
            pool: budget - requests - program,
            // Requests wait on the network: enough threads that listings are served while
            // every pooled connection streams (as many as fuser had threads before).
            workers: (connections + 4).clamp(4, 68),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OptionSettings;
    use crate::mount_opts::parse_mount_options;

    #[test]
    fn the_parts_make_the_whole_and_requests_fit_the_pool() {
        for mib in [1usize, 2, 3, 4, 8, 16, 64, 1024] {
            let s = Sizing::new(mib << 20, 24);
            assert_eq!(
                s.receivers * (s.max_io + REQUEST_HEADER) + s.program + s.pool,
                s.budget,
                "{mib} MiB"
            );
            assert!(s.max_io.is_power_of_two());
            assert!((MIN_IO..=MAX_IO).contains(&s.max_io), "{mib} MiB: {s:?}");
            assert!(s.max_io * 4 <= s.pool, "{mib} MiB: {s:?}");
        }
        assert_eq!(Sizing::new(DEFAULT_BUDGET, 24).max_io, MAX_IO);
        assert_eq!(Sizing::new(4 << 20, 24).max_io, 256 << 10);
        assert_eq!(Sizing::new(1 << 20, 24).max_io, MIN_IO);
        assert_eq!(Sizing::new(1 << 20, 24).workers, 28);
        assert_eq!(Sizing::new(1 << 20, 1).workers, 5);
    }

    fn budget_of(opts: &str) -> Result<usize, String> {
        let o = parse_mount_options(opts).map_err(|e| e.to_string())?;
        OptionSettings::from_options(&o)
            .map(|s| s.memory_budget)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_option_takes_sizes_within_bounds() {
        assert_eq!(budget_of(""), Ok(DEFAULT_BUDGET));
        assert_eq!(budget_of("memory_budget=8M"), Ok(8 << 20));
        assert_eq!(budget_of("memory_budget=1g"), Ok(1 << 30));
        assert_eq!(budget_of("memory_budget=1048576"), Ok(1 << 20));
        let e = budget_of("memory_budget=512K").expect_err("too small");
        assert!(
            e.contains("memory_budget") && e.contains("at least 1M"),
            "{e}"
        );
        let e = budget_of("memory_budget=65G").expect_err("too large");
        assert!(e.contains("at most 64G"), "{e}");
        assert!(budget_of("memory_budget").is_err());
        assert!(budget_of("memory_budget=lots").is_err());
    }
}
