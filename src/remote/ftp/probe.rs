//! `ftpfs probe`: a diagnostic that logs in, prints the server's features, then lists the root
//! once with each data-connection method (EPSV, PASV, EPRT, PORT) and prints, per method,
//! `ok` with the time taken (on FTPS, whether the data connection resumed the control
//! connection's TLS session) or how it failed (`timeout`, `refused`, `rejected`, `error`),
//! whether the PASV reply's address differs from the server's, the listing format, and the
//! `-o` options to use.
//!
//! Invariant: each method is tried on a healthy session — after an attempt that leaves the
//! control connection unusable (an active-mode timeout), the probe logs in again.

use std::io::Write;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use super::FtpConfig;
use super::datamode::{DataMode, Failure, Method, PasvAddress};
use super::session::{Session, Shared, abs_path};
use super::tls_verify::{CertInfo, fingerprint, utc};
use super::transfer::{self, Attempt, TlsFailure};

/// The outcome per method.
pub type Results = Vec<(Method, Result<u128, Failure>)>;

fn connect(cfg: &FtpConfig) -> Result<Session, String> {
    let mut cfg = cfg.clone();
    cfg.data_mode = DataMode::Auto;
    let shared = Arc::new(Shared::new(&cfg).map_err(|e| e.to_string())?);
    Session::connect(Arc::new(cfg), shared).map_err(|e| e.to_string())
}

/// Lists the root once with `method`; returns the milliseconds taken.
fn try_method(s: &mut Session, method: Method, cmd: &str) -> Result<u128, Failure> {
    let start = Instant::now();
    match s.attempt(method, cmd, 0) {
        Ok(mut dc) => {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match dc.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => {
                        s.dead = true;
                        return Err(Failure::Failed(e.to_string()));
                    }
                }
            }
            s.finish(dc)
                .map(|()| start.elapsed().as_millis())
                .map_err(|e| Failure::Failed(e.to_string()))
        }
        Err(Attempt::Data(f)) => Err(f),
        Err(Attempt::Tls(t)) => {
            s.dead = true;
            Err(Failure::Failed(match t {
                TlsFailure::Retire(why) => why,
                TlsFailure::Failed(e) => e.to_string(),
            }))
        }
        Err(Attempt::Command(e)) => {
            s.dead = true;
            Err(Failure::Failed(e.to_string()))
        }
    }
}

/// The options to recommend from the results.
pub fn recommend(results: &Results) -> Option<String> {
    let ok = |m: Method| results.iter().any(|(x, r)| *x == m && r.is_ok());
    if ok(Method::Epsv) || ok(Method::Pasv) {
        let mode = match (ok(Method::Epsv), ok(Method::Pasv)) {
            (true, true) | (true, false) => "passive",
            _ => "pasv",
        };
        Some(format!("-o data_mode={mode}"))
    } else if ok(Method::Eprt) {
        Some("-o data_mode=active".into())
    } else if ok(Method::Port) {
        Some("-o data_mode=port".into())
    } else {
        None
    }
}

/// Runs the probe, printing to `out`. Returns whether some method works.
pub fn run(cfg: &FtpConfig, out: &mut dyn Write) -> std::io::Result<bool> {
    writeln!(
        out,
        "ftpfs probe: {}:{} as {}",
        cfg.host, cfg.port, cfg.user
    )?;
    let mut s = match connect(cfg) {
        Ok(s) => s,
        Err(e) => {
            writeln!(out, "error: {e}")?;
            writeln!(out, "recommended: none")?;
            return Ok(false);
        }
    };
    let server_ip = s.peer().ip();
    writeln!(out, "server address: {}", s.peer())?;
    if let Some(t) = s.tls_info() {
        writeln!(out, "tls: {} {}", t.version, t.cipher)?;
        if let Some(der) = &t.cert {
            let c = CertInfo::of(der);
            writeln!(out, "certificate: {}", c.describe())?;
            if !c.names.is_empty() {
                writeln!(out, "certificate names: {}", c.names.join(", "))?;
            }
            writeln!(
                out,
                "certificate valid: {} to {}",
                c.not_before.map_or_else(|| "?".into(), utc),
                c.not_after.map_or_else(|| "?".into(), utc)
            )?;
            writeln!(out, "certificate fingerprint: {}", fingerprint(&c.sha256))?;
        }
    }
    let mut feats = s.feats.raw.clone();
    feats.sort();
    writeln!(
        out,
        "features: {}",
        if feats.is_empty() {
            "(none advertised)".to_string()
        } else {
            feats.join(", ")
        }
    )?;
    // "/" is ASCII: no encoding can refuse it.
    let root = abs_path(&s.shared, "/").unwrap_or_else(|_| "/".into());
    let cmd = if s.feats.mlsd {
        writeln!(out, "listing: MLSD")?;
        format!("MLSD {root}")
    } else {
        writeln!(out, "listing: LIST")?;
        "LIST".to_string()
    };
    let mut results: Results = vec![];
    let mut reply_addr: Option<IpAddr> = None;
    for method in Method::ALL {
        if s.dead {
            s = match connect(cfg) {
                Ok(s) => s,
                Err(e) => {
                    writeln!(
                        out,
                        "{:<5} error    (cannot log in again: {e})",
                        method.name()
                    )?;
                    results.push((method, Err(Failure::Failed(e))));
                    continue;
                }
            };
        }
        if !s.feats.mlsd
            && let Err(e) = s.cwd("/")
        {
            writeln!(out, "error: CWD {root}: {e}")?;
            s.dead = true;
        }
        if method == Method::Pasv {
            // Look at the 227 reply's address (the attempt below makes its own PASV).
            if let Ok((_, Some(ip))) = transfer::passive_target(&mut s.raw_ctx(), Method::Pasv) {
                reply_addr = Some(ip);
            }
        }
        let r = try_method(&mut s, method, &cmd);
        match &r {
            Ok(ms) => {
                let tls = match s.tls_resumed.take() {
                    Some(true) => " (TLS session resumed)",
                    Some(false) => " (TLS full handshake: not resumed)",
                    None => "",
                };
                writeln!(out, "{:<5} ok       {ms} ms{tls}", method.name())?
            }
            Err(f) => writeln!(
                out,
                "{:<5} {:<8} {}",
                method.name(),
                f.verdict(),
                f.detail()
            )?,
        }
        results.push((method, r));
    }
    if let Some(ip) = reply_addr
        && ip != server_ip
    {
        let how = match cfg.pasv_address {
            PasvAddress::Control => {
                "ignored: ftpfs connects to the server's address with the reply's port"
            }
            PasvAddress::Reply => "used, as -o pasv_address=reply asks",
        };
        writeln!(
            out,
            "note: the PASV reply address {ip} differs from the server's address {server_ip} ({how})"
        )?;
    }
    if !s.dead {
        s.quit();
    }
    let rec = recommend(&results);
    let works = rec.is_some();
    let passive = results.iter().any(|(m, r)| m.is_passive() && r.is_ok());
    let active = results.iter().any(|(m, r)| !m.is_passive() && r.is_ok());
    let verdict = match (passive, active) {
        (true, true) => "passive and active data connections both work",
        (true, false) => {
            "passive works, active does not (the server cannot connect to this machine)"
        }
        (false, true) => {
            "passive data connections are blocked (a firewall in front of the server?); active works, and -o data_mode=auto falls back to it on its own"
        }
        (false, false) => {
            "no data connection works: open the server's passive port range, or let the server connect to this machine (-o active_port_range)"
        }
    };
    writeln!(out, "verdict: {verdict}")?;
    writeln!(out, "recommended: {}", rec.as_deref().unwrap_or("none"))?;
    Ok(works)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recommendation_follows_what_worked() {
        let f = || Err(Failure::TimedOut("x".into()));
        let all_fail: Results = Method::ALL.iter().map(|m| (*m, f())).collect();
        assert_eq!(recommend(&all_fail), None);
        let mut only_active = all_fail.clone();
        only_active[2].1 = Ok(5);
        assert_eq!(
            recommend(&only_active).as_deref(),
            Some("-o data_mode=active")
        );
        let mut pasv_only = all_fail.clone();
        pasv_only[1].1 = Ok(5);
        assert_eq!(recommend(&pasv_only).as_deref(), Some("-o data_mode=pasv"));
        let mut port_only = all_fail;
        port_only[3].1 = Ok(5);
        assert_eq!(recommend(&port_only).as_deref(), Some("-o data_mode=port"));
    }
}
