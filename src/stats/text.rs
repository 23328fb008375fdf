//! The human-readable form of a [`Report`] (`ftpfs stats` without `--json`, and SIGUSR1):
//! one topic per line, exact numbers next to rounded ones, sections a remote does not have
//! (a pool, data connections, TLS) left out.

use std::fmt::Write as _;

use super::Report;
use crate::remote::stats::CommandStat;

/// `n` bytes: exact below 1 KiB, else rounded with the exact count after it.
pub(super) fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return plural(n, "byte");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {} ({n} bytes)", UNITS[unit])
}

/// `n` bytes rounded (for limits, whose exact count says nothing more).
fn rounded(n: u64) -> String {
    bytes(n).split(" (").next().unwrap_or_default().to_string()
}

/// `3 hits`, `1 hit`.
fn plural(n: impl Into<u64>, word: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn count(n: usize, word: &str) -> String {
    plural(n as u64, word)
}

/// `2d 3h 4m 5s`, from the largest unit present.
pub(super) fn duration(secs: u64) -> String {
    let parts = [
        (secs / 86_400, "d"),
        (secs / 3600 % 24, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
    ];
    let first = parts.iter().position(|(v, _)| *v > 0).unwrap_or(3);
    parts[first..]
        .iter()
        .map(|(v, u)| format!("{v}{u}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn commands(out: &mut String, cmds: &[CommandStat]) {
    if cmds.is_empty() {
        out.push_str("FTP commands: none sent\n");
        return;
    }
    let width = cmds.iter().map(|c| c.verb.len()).max().unwrap_or(0).max(10);
    let _ = writeln!(
        out,
        "{:<w$}  {:>8}  {:>8}  {:>8}",
        "FTP commands",
        "sent",
        "errors",
        "no reply",
        w = width + 2
    );
    for c in cmds {
        let _ = writeln!(
            out,
            "  {:<width$}  {:>8}  {:>8}  {:>8}",
            c.verb, c.sent, c.errors, c.no_reply
        );
    }
}

/// The report as text (ends with a newline).
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let o = &mut out;
    let _ = writeln!(
        o,
        "ftpfs {} (pid {}): {} on {}, up {}",
        r.version,
        r.pid,
        r.fsname,
        r.mountpoint.display(),
        duration(r.uptime_secs)
    );
    let _ = writeln!(
        o,
        "through the mount: {} read, {} written",
        bytes(r.fs.bytes_read),
        bytes(r.fs.bytes_written)
    );
    let f = &r.fs.files;
    let _ = writeln!(
        o,
        "files: {} open ({} read-only); {} using {} on disk (cache_max_size {})",
        f.open,
        f.open_read_only,
        count(f.staged, "staged copy").replace("copys", "copies"),
        bytes(f.staged_bytes),
        rounded(f.staged_limit)
    );
    let s = &r.remote.streams;
    let _ = writeln!(
        o,
        "transfers running: {} and {}; since the mount: {} and {}",
        plural(s.downloads, "download"),
        plural(s.uploads, "upload"),
        plural(s.downloads_total, "download"),
        plural(s.uploads_total, "upload")
    );
    let c = &r.fs.dir_cache;
    let _ = writeln!(
        o,
        "directory cache: {}, {}, {} for a listing already on its way; {} cached ({} fresh, \
         {}), at most {}, ttl {}s",
        plural(c.hits, "hit"),
        plural(c.misses, "miss").replace("misss", "misses"),
        plural(c.shared, "wait"),
        count(c.dirs, "listing"),
        c.fresh,
        count(c.entries, "entry").replace("entrys", "entries"),
        c.capacity,
        c.ttl_secs
    );
    if let Some(server) = &r.remote.server {
        let _ = writeln!(o, "server: {server}");
    }
    if let Some(p) = &r.remote.pool {
        let _ = writeln!(
            o,
            "connections: {} of at most {} ({} busy, {} idle, {} logging in; {} held by \
             transfers); {} waiting",
            p.connections,
            p.limit,
            p.busy,
            p.idle,
            p.logging_in,
            p.streams,
            count(p.waiting, "request")
        );
        if let Some(l) = &p.lowered {
            let code = l.code.map_or_else(String::new, |c| format!(" ({c})"));
            let _ = writeln!(
                o,
                "  the server refused one more login{code}: the limit was lowered to {} \
                 (-o connections={})",
                l.to, p.configured
            );
        }
    }
    if let Some(d) = &r.remote.data {
        let _ = writeln!(
            o,
            "data connections: {} (data_mode={}); {} failed",
            d.current.as_deref().unwrap_or("none made yet"),
            d.configured,
            d.failures
        );
        if let Some(why) = &d.last_fallback {
            let _ = writeln!(o, "  why: {why}");
        }
        if !d.rejected.is_empty() {
            let _ = writeln!(o, "  rejected by the server: {}", d.rejected.join(", "));
        }
    }
    let t = &r.remote.retries;
    let _ = writeln!(
        o,
        "retries: {} on a fresh connection, {} after a connection error, {} retired, {}",
        plural(t.fresh_connection, "operation"),
        plural(t.login, "login"),
        plural(t.tls_retired, "TLS session"),
        plural(t.data_fallbacks, "data-connection fallback")
    );
    if r.remote.pool.is_some() {
        match &r.remote.tls {
            None => {
                let _ = writeln!(o, "TLS: none (plain FTP)");
            }
            Some(t) => {
                let _ = writeln!(
                    o,
                    "TLS: {} ({}), {}{}",
                    t.version.as_deref().unwrap_or("?"),
                    t.cipher.as_deref().unwrap_or("?"),
                    t.mode,
                    if t.capped_to_1_2 {
                        "; new connections use TLS 1.2 at most"
                    } else {
                        ""
                    }
                );
            }
        }
        let features = if r.remote.features.is_empty() {
            "none advertised".to_string()
        } else {
            r.remote.features.join(", ")
        };
        let _ = writeln!(o, "server features: {features}");
    }
    commands(o, &r.remote.commands);
    out
}
