//! Reading a directory listing (MLSD, LIST, NLST) from its data connection, bounded in time
//! and in memory, one line at a time: each line goes to the caller's parser as soon as it is
//! complete, so the raw listing is never held whole (a listing costs the entries it gives,
//! not its bytes, lines and entries at once).
//!
//! Invariants:
//! - A listing line is at most [`MAX_LINE_BYTES`] bytes, a listing at most
//!   `dir_max_entries` entries and `dir_max_entries` × [`BYTES_PER_ENTRY`] bytes; past any
//!   of these the read stops at once with [`RemoteError::Other`] (EIO), saying what the
//!   server sent. Memory held here is one read buffer and one line.
//! - Time: a listing must be complete by its deadline, which is the operation's deadline
//!   (`timeout` after it started) plus one second for every [`MIN_RATE`] bytes of lines that
//!   gave an entry: a listing whose entries keep arriving at [`MIN_RATE`] or more never runs
//!   out of time (its length is bounded by `dir_max_entries`), one that trickles below it, or
//!   sends lines that give nothing, fails with [`RemoteError::Timeout`] (ETIMEDOUT) soon
//!   after `timeout`. While unmounting, no time is earned.
//!   The server's 226 after the data must come by the same deadline.

use std::time::{Duration, Instant};

use super::transfer::DataConn;
pub use crate::remote::ftp::listing::MAX_LINE_BYTES;
use crate::remote::{RemoteError, RemoteResult};

/// The slowest a listing may arrive, on average, once `timeout` has passed (bytes per
/// second): 8 KiB/s is about a hundred entries a second.
pub const MIN_RATE: u64 = 8 * 1024;

/// Bytes a listing may have per entry it is allowed (`dir_max_entries`): real lines are
/// 50–200 bytes; this bounds a flood of lines that parse to nothing.
pub const BYTES_PER_ENTRY: u64 = 512;

/// The bounds of one listing.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The operation's deadline, before any data (see the module docs).
    pub deadline: Instant,
    /// The data socket's inactivity timeout (put back after a shorter wait).
    pub timeout: Duration,
    /// Most entries (`-o dir_max_entries`).
    pub max_entries: usize,
}

impl Limits {
    /// The deadline once `received` bytes have arrived.
    pub fn deadline_after(&self, received: u64) -> Instant {
        let extra = Duration::from_millis(received.saturating_mul(1000) / MIN_RATE);
        self.deadline + extra
    }

    fn max_bytes(&self) -> u64 {
        (self.max_entries as u64).saturating_mul(BYTES_PER_ENTRY)
    }
}

/// What the caller's parser says after a line.
pub struct Seen {
    /// Entries so far.
    pub entries: usize,
}

/// Reads the listing from `dc` to its end, handing every line (without its line
/// terminator; blank lines included) to `line`. Returns the deadline for the server's 226.
pub fn read_lines(
    dc: &mut DataConn,
    limits: &Limits,
    mut line: impl FnMut(&[u8]) -> Seen,
) -> RemoteResult<Instant> {
    let started = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    let mut partial: Vec<u8> = Vec::new();
    let mut received: u64 = 0;
    // Bytes of the lines that gave an entry: only they earn time (a flood of lines that
    // parse to nothing must not keep a listing going for hours).
    let mut earned: u64 = 0;
    let mut entries = 0usize;
    let what = dc.what().to_string();
    // Hands a line to the parser; its bytes count as earned when it gave an entry.
    let mut check = |l: &[u8], earned: &mut u64| -> RemoteResult<()> {
        let l = strip_cr(l);
        let now = line(l).entries;
        if now > entries {
            *earned += l.len() as u64 + 1;
        }
        entries = now;
        if entries > limits.max_entries {
            return Err(RemoteError::Other(
                format!(
                    "{}: the listing has more than {} entries (-o dir_max_entries); the last \
                     line: {:?}",
                    what,
                    limits.max_entries,
                    clip(l)
                )
                .into(),
            ));
        }
        Ok(())
    };
    loop {
        // Unmounting: no more time than the operation had from the start.
        let deadline = if dc.closing() {
            limits.deadline
        } else {
            limits.deadline_after(earned)
        };
        let n = match dc.read_until(&mut buf, deadline, limits.timeout) {
            Ok(n) => n,
            Err(RemoteError::Timeout(_)) if Instant::now() >= deadline => {
                return Err(RemoteError::Timeout(
                    format!(
                        "{}: {received} bytes ({entries} entries) in {:.1}s, entries \
                         arriving slower than {} KiB/s once the timeout had passed; giving up",
                        dc.what(),
                        started.elapsed().as_secs_f32(),
                        MIN_RATE / 1024
                    )
                    .into(),
                ));
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        received += n as u64;
        if received > limits.max_bytes() {
            return Err(RemoteError::Other(
                format!(
                    "{}: the listing is longer than {} bytes ({} entries × {BYTES_PER_ENTRY}, \
                     -o dir_max_entries); it ends with {:?}",
                    dc.what(),
                    limits.max_bytes(),
                    limits.max_entries,
                    clip(&buf[n.saturating_sub(200)..n])
                )
                .into(),
            ));
        }
        let mut rest = &buf[..n];
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            if partial.is_empty() {
                check(&rest[..i], &mut earned)?;
            } else {
                partial.extend_from_slice(&rest[..i]);
                too_long(dc, &partial)?;
                check(&partial, &mut earned)?;
                partial.clear();
            }
            rest = &rest[i + 1..];
        }
        partial.extend_from_slice(rest);
        too_long(dc, &partial)?;
    }
    if !partial.is_empty() {
        check(&partial, &mut earned)?;
    }
    Ok(limits.deadline_after(earned))
}

fn too_long(dc: &DataConn, line: &[u8]) -> RemoteResult<()> {
    if line.len() > MAX_LINE_BYTES {
        return Err(RemoteError::Other(
            format!(
                "{}: a listing line longer than {} KiB: {:?}…",
                dc.what(),
                MAX_LINE_BYTES / 1024,
                clip(line)
            )
            .into(),
        ));
    }
    Ok(())
}

fn strip_cr(l: &[u8]) -> &[u8] {
    l.strip_suffix(b"\r").unwrap_or(l)
}

/// The first 200 bytes of what the server sent, for messages.
fn clip(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned()
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::remote::ftp::transfer::DataSock;

    /// A data connection whose peer writes `script` (pause, bytes) and then closes.
    fn data(script: Vec<(Duration, Vec<u8>)>) -> DataConn {
        let s = crate::testing::scripted_peer(script, Duration::ZERO);
        s.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        DataConn::new(DataSock::plain(s), "MLSD /d".into(), None)
    }

    fn limits(max_entries: usize) -> Limits {
        Limits {
            deadline: Instant::now() + Duration::from_secs(2),
            timeout: Duration::from_secs(2),
            max_entries,
        }
    }

    /// Reads with every non-empty line counted as an entry; returns the lines.
    fn read(dc: &mut DataConn, l: &Limits) -> RemoteResult<Vec<String>> {
        let mut lines = vec![];
        read_lines(dc, l, |b| {
            if !b.is_empty() {
                lines.push(String::from_utf8_lossy(b).into_owned());
            }
            Seen {
                entries: lines.len(),
            }
        })?;
        Ok(lines)
    }

    #[test]
    fn lines_split_across_reads_come_out_whole_without_terminators() {
        let script = vec![
            (Duration::ZERO, b"type=file; a\r\ntype=fi".to_vec()),
            (
                Duration::from_millis(30),
                b"le; b\r\n\r\ntype=file; c".to_vec(),
            ),
        ];
        let got = read(&mut data(script), &limits(10)).expect("listing");
        assert_eq!(got, ["type=file; a", "type=file; b", "type=file; c"]);
    }

    #[test]
    fn a_line_longer_than_64_kib_fails_at_once_and_says_what_came() {
        let mut dc = data(vec![(Duration::ZERO, vec![b'x'; 200_000])]);
        let e = read(&mut dc, &limits(1000)).expect_err("too long");
        assert!(matches!(e, RemoteError::Other(_)), "{e}");
        assert!(e.to_string().contains("longer than 64 KiB: \"xxxx"), "{e}");
        assert_eq!(e.errno(), libc::EIO);
    }

    #[test]
    fn more_entries_than_allowed_fail_with_the_option_named() {
        let lines: Vec<u8> = (0..50)
            .flat_map(|i| format!("n{i}\r\n").into_bytes())
            .collect();
        let e = read(&mut data(vec![(Duration::ZERO, lines)]), &limits(20)).expect_err("cap");
        assert!(
            e.to_string()
                .contains("more than 20 entries (-o dir_max_entries)"),
            "{e}"
        );
        assert!(e.to_string().contains("\"n20\""), "{e}");
    }

    #[test]
    fn more_bytes_than_allowed_fail_even_without_entries() {
        // Blank lines give no entries; the bytes still count (2 entries × 512 bytes).
        let mut dc = data(vec![(Duration::ZERO, vec![b'\n'; 5000])]);
        let e = read(&mut dc, &limits(2)).expect_err("bytes cap");
        assert!(e.to_string().contains("longer than 1024 bytes"), "{e}");
    }

    #[test]
    fn a_trickle_fails_at_the_deadline_not_per_byte() {
        // A byte every 100 ms: each read succeeds long before the socket's 2 s timeout.
        let script: Vec<_> = b"type=file; slow\r\n"
            .iter()
            .map(|&b| (Duration::from_millis(100), vec![b]))
            .collect();
        let l = Limits {
            deadline: Instant::now() + Duration::from_millis(500),
            ..limits(10)
        };
        let start = Instant::now();
        let e = read(&mut data(script), &l).expect_err("too slow");
        let took = start.elapsed();
        assert!(matches!(e, RemoteError::Timeout(_)), "{e}");
        assert!(e.to_string().contains("slower than 8 KiB/s"), "{e}");
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_millis(1200),
            "{took:?}"
        );
    }

    #[test]
    fn bytes_received_extend_the_deadline() {
        let l = limits(10);
        assert_eq!(l.deadline_after(0), l.deadline);
        assert_eq!(
            l.deadline_after(MIN_RATE * 3),
            l.deadline + Duration::from_secs(3)
        );
    }

    #[test]
    fn lines_that_give_no_entry_earn_no_time() {
        // Blank lines at ~200 KiB/s for 4 s, well above MIN_RATE: they parse to nothing, so
        // the listing still ends at its deadline instead of when the server tires.
        let script: Vec<_> = (0..200)
            .map(|_| (Duration::from_millis(20), vec![b'\n'; 4096]))
            .collect();
        let l = Limits {
            deadline: Instant::now() + Duration::from_millis(500),
            ..limits(100_000)
        };
        let start = Instant::now();
        let e = read(&mut data(script), &l).expect_err("no entries, no time");
        let took = start.elapsed();
        assert!(matches!(e, RemoteError::Timeout(_)), "{e}");
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_millis(1500),
            "{took:?}"
        );
    }
}
