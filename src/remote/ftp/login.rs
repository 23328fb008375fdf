//! Logging in: name resolution with a deadline, the banner, the first login (USER, PASS, then
//! TYPE I, FEAT and OPTS UTF8, one at a time) and the later ones (USER, PASS, TYPE I and OPTS
//! UTF8 in one write, with FEAT taken from the first; `Session::connect` falls back to one at
//! a time for good when that fails where a plain login works), PWD, and FEAT parsing.
//!
//! Invariants:
//! - The password goes out in PASS only, and is never logged (`Control::send_many` shows
//!   `PASS ****`).
//! - `OPTS UTF8 ON` is sent only when FEAT lists UTF8 and no `-o encoding` names another
//!   encoding (the server would switch its names to UTF-8 under us).
//! - Nothing is pipelined with servers lftp knows to mishandle it (decided from the first
//!   banner, kept in `Shared::pipelining`), nor after a pipelined login failed where a plain
//!   one worked (`Shared::pipelining_off`).

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::FtpConfig;
use super::control::{Control, Reply};
use super::session::{Shared, classify_reply};
use crate::remote::{Detail, RemoteError, RemoteResult};

/// What the server advertised in FEAT.
#[derive(Clone, Debug, Default)]
pub struct Feats {
    pub mlsd: bool,
    pub mfmt: bool,
    pub utf8: bool,
    pub rest_stream: bool,
    pub epsv: bool,
    pub size: bool,
    pub mdtm: bool,
    /// The raw FEAT lines (for diagnostics).
    pub raw: Vec<String>,
}

/// Reads a 211 FEAT reply: one feature per line between the first and the last line.
pub fn parse_feat(text: &str) -> Feats {
    let lines: Vec<&str> = text.lines().collect();
    let body: &[&str] = if lines.len() > 2 {
        &lines[1..lines.len() - 1]
    } else {
        &[]
    };
    let raw: Vec<String> = body
        .iter()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let has = |k: &str| {
        raw.iter().any(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case(k))
        })
    };
    Feats {
        mlsd: has("MLSD") || has("MLST"),
        mfmt: has("MFMT"),
        utf8: has("UTF8"),
        rest_stream: raw.iter().any(|l| {
            let mut w = l.split_whitespace();
            w.next().is_some_and(|a| a.eq_ignore_ascii_case("REST"))
                && w.next().is_some_and(|b| b.eq_ignore_ascii_case("STREAM"))
        }),
        epsv: has("EPSV"),
        size: has("SIZE"),
        mdtm: has("MDTM"),
        raw,
    }
}

/// The addresses of `host`, within `timeout`: getaddrinfo has no deadline of its own (a dead
/// DNS server costs minutes), so it runs in a thread that is left behind when it is late.
pub(super) fn resolve(host: &str, port: u16, timeout: Duration) -> RemoteResult<Vec<SocketAddr>> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let name = host.to_string();
    std::thread::Builder::new()
        .name("ftpfs-resolve".into())
        .spawn(move || {
            let r = (name.as_str(), port)
                .to_socket_addrs()
                .map(|a| a.collect::<Vec<_>>());
            let _ = tx.send(r);
        })
        .map_err(|e| RemoteError::Connection(format!("cannot start a thread: {e}").into()))?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(addrs)) => Ok(addrs),
        Ok(Err(e)) => Err(RemoteError::Connection(
            format!("cannot resolve {host}: {e}").into(),
        )),
        Err(_) => Err(RemoteError::Timeout(
            format!(
                "cannot resolve {host}: no answer within {}s",
                timeout.as_secs()
            )
            .into(),
        )),
    }
}

/// A refused login is final: say so plainly whatever the code (421 stays a connection limit).
pub(super) fn login_refused(e: RemoteError) -> RemoteError {
    match e {
        RemoteError::Unavailable(m) | RemoteError::Other(m) => RemoteError::PermissionDenied(m),
        other => other,
    }
}

/// Servers known to mishandle pipelined commands (lftp's `ftp:auto-sync-mode` list): with
/// them every command waits for the reply to the one before.
const NO_PIPELINING: [&str; 3] = ["icrosoft FTP Service", "MadGoat", "MikroTik"];

/// Whether commands may be pipelined with the server that sent `banner`.
pub(super) fn pipelining_allowed(banner: &str, target: &str) -> bool {
    let ok = !NO_PIPELINING.iter().any(|b| banner.contains(b));
    if !ok {
        log::info!(
            "{target}: this server is known to mishandle pipelined commands; sending one at a time"
        );
    }
    ok
}

/// Reads the server's greeting: 220 (after any 120 "ready in n minutes"); anything else, a
/// 421 "too many connections" among them, is the connection's error. Returns its text.
pub(super) fn banner(ctl: &mut Control, target: &str) -> RemoteResult<String> {
    let what = format!("connection to {target}");
    loop {
        let r = ctl.reply()?;
        match r.code {
            220 => return Ok(r.text),
            120 => continue,
            _ => {
                let e = classify_reply(r.code, r.last_line(), &what);
                // A refusal at the door is about the connection (421, or a 5xx "not
                // allowed from your address"), and the server closes it.
                return Err(match e {
                    RemoteError::Connection(_) | RemoteError::PermissionDenied(_) => e,
                    other => RemoteError::Connection(Detail::reply(r.code, other.to_string())),
                });
            }
        }
    }
}

/// The first login, one command at a time: USER, then PASS unless USER was enough (230).
pub(super) fn login(ctl: &mut Control, cfg: &FtpConfig, what: &str) -> RemoteResult<()> {
    let refused = |r: &Reply| login_refused(classify_reply(r.code, r.last_line(), what));
    let u = ctl.command(&format!("USER {}", cfg.user))?;
    match u.code {
        230 => Ok(()),
        331 => {
            let p = ctl.command(&format!("PASS {}", cfg.password))?;
            match p.code {
                230 | 202 => Ok(()),
                _ => Err(refused(&p)),
            }
        }
        _ => Err(refused(&u)),
    }
}

/// The login directory (PWD's 257 reply).
pub(super) fn pwd(ctl: &mut Control) -> RemoteResult<String> {
    let r = ctl.command("PWD")?;
    if r.code != 257 {
        return Err(classify_reply(r.code, r.last_line(), "PWD"));
    }
    parse_257(&r.text).ok_or_else(|| {
        RemoteError::Other(format!("PWD: unreadable reply {:?}", r.last_line()).into())
    })
}

/// The path of a 257 reply: between the first pair of double quotes, where `""` stands for
/// one quote (RFC 959 appendix II).
pub fn parse_257(text: &str) -> Option<String> {
    let rest = &text.get(4..)?[text.get(4..)?.find('"')? + 1..];
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            if chars.peek() == Some(&'"') {
                chars.next();
                out.push('"');
            } else {
                return Some(out);
            }
        } else {
            out.push(c);
        }
    }
    None
}

/// Whether the server does not speak UTF8 for us (not in FEAT, or `OPTS UTF8 ON` refused),
/// or the user said which encoding its names are in (`-o encoding`): asking a server to
/// switch to UTF-8 would make it send names in an encoding other than the one we read.
fn skip_utf8(f: &Feats, shared: &Shared) -> bool {
    !f.utf8 || shared.utf8_refused.load(Ordering::Relaxed) || shared.names.converts()
}

/// Checks the reply to `TYPE I` and, when sent, to `OPTS UTF8 ON` (a refusal is remembered).
fn check_setup(type_i: &Reply, opts: Option<&Reply>, shared: &Shared) -> RemoteResult<()> {
    if type_i.code != 200 {
        return Err(classify_reply(type_i.code, type_i.last_line(), "TYPE I"));
    }
    if let Some(r) = opts.filter(|r| !(200..300).contains(&r.code)) {
        log::debug!("OPTS UTF8 ON refused: {}", r.last_line());
        shared.utf8_refused.store(true, Ordering::Relaxed);
    }
    Ok(())
}

/// After the first login, one command at a time (the first login also finds out whether the
/// server takes pipelined commands): `TYPE I`, FEAT, then `OPTS UTF8 ON` when FEAT lists UTF8.
pub(super) fn setup(raw: &mut Control, shared: &Shared, target: &str) -> RemoteResult<Feats> {
    if shared.tls.is_some() {
        let pbsz = raw.command("PBSZ 0")?;
        let prot = raw.command("PROT P")?;
        check_protection(&pbsz, &prot, target)?;
    }
    let type_i = raw.command("TYPE I")?;
    if type_i.code != 200 {
        return Err(classify_reply(type_i.code, type_i.last_line(), "TYPE I"));
    }
    let f = raw.command("FEAT")?;
    let feats = if f.code == 211 {
        parse_feat(&f.text)
    } else {
        log::debug!(
            "{target}: FEAT answered {}; assuming no features",
            f.last_line()
        );
        Feats::default()
    };
    if shared.feats.set(feats.clone()).is_ok()
        && feats.utf8
        && let Some(enc) = shared.names.encoding()
    {
        log::warn!(
            "{target} offers UTF8, but -o encoding={enc}: its names are read as {enc} and OPTS \
             UTF8 ON is not sent (if names look garbled, mount without -o encoding)"
        );
    }
    let opts = if skip_utf8(&feats, shared) {
        None
    } else {
        Some(raw.command("OPTS UTF8 ON")?)
    };
    check_setup(&type_i, opts.as_ref(), shared)?;
    Ok(feats)
}

/// On a TLS session: data connections must be protected (`PBSZ 0`, `PROT P`), or the login
/// fails; ftpfs never sends file data in clear on a TLS mount.
fn check_protection(pbsz: &Reply, prot: &Reply, target: &str) -> RemoteResult<()> {
    for (r, cmd) in [(pbsz, "PBSZ 0"), (prot, "PROT P")] {
        if r.code != 200 {
            return Err(RemoteError::Tls(
                format!(
                    "{target} refused {cmd} ({}): ftpfs does not send data connections in clear \
                     on a TLS mount",
                    r.last_line()
                )
                .into(),
            ));
        }
    }
    Ok(())
}

/// A login once the server is known: USER, PASS, (on TLS `PBSZ 0`, `PROT P`), `TYPE I` and
/// `OPTS UTF8 ON` (when the server takes it) in one write, then their replies (a USER
/// answered 230 needs no PASS; its answer to PASS is then ignored).
pub(super) fn fast_login(
    raw: &mut Control,
    cfg: &FtpConfig,
    shared: &Shared,
    feats: Feats,
    what: &str,
) -> RemoteResult<Feats> {
    let user = format!("USER {}", cfg.user);
    let pass = format!("PASS {}", cfg.password.as_str());
    let utf8 = !skip_utf8(&feats, shared);
    let tls = shared.tls.is_some();
    let mut cmds = vec![user.as_str(), pass.as_str()];
    if tls {
        cmds.extend(["PBSZ 0", "PROT P"]);
    }
    cmds.push("TYPE I");
    if utf8 {
        cmds.push("OPTS UTF8 ON");
    }
    raw.send_many(&cmds)?;
    let u = raw.reply()?;
    let p = raw.reply()?;
    let refused = |r: &Reply| login_refused(classify_reply(r.code, r.last_line(), what));
    match u.code {
        230 => {}
        331 if matches!(p.code, 230 | 202) => {}
        331 => return Err(refused(&p)),
        _ => return Err(refused(&u)),
    }
    if tls {
        let pbsz = raw.reply()?;
        let prot = raw.reply()?;
        check_protection(&pbsz, &prot, what)?;
    }
    let type_i = raw.reply()?;
    let opts = if utf8 { Some(raw.reply()?) } else { None };
    check_setup(&type_i, opts.as_ref(), shared)?;
    Ok(feats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelining_is_off_for_servers_lftp_knows_to_break_it() {
        assert!(pipelining_allowed("220 (vsFTPd 3.0.3)", "t"));
        assert!(pipelining_allowed(
            "220---------- Welcome to Pure-FTPd",
            "t"
        ));
        assert!(!pipelining_allowed("220 Microsoft FTP Service", "t"));
        assert!(!pipelining_allowed(
            "220 MikroTik FTP server (MikroTik 6.49) ready",
            "t"
        ));
    }

    #[test]
    fn pwd_paths() {
        assert_eq!(
            parse_257("257 \"/home/bob\" is the current directory").as_deref(),
            Some("/home/bob")
        );
        assert_eq!(
            parse_257("257 \"/a \"\"q\"\" b\" created").as_deref(),
            Some("/a \"q\" b")
        );
        assert_eq!(parse_257("257 \"/\"").as_deref(), Some("/"));
        assert_eq!(parse_257("257 /no/quotes"), None);
        assert_eq!(parse_257("257 \"/unterminated"), None);
    }

    #[test]
    fn feat_replies_multi_and_single_line() {
        let f =
            parse_feat("211-Features:\n MLST type*;size*;\n REST STREAM\n MFMT\n UTF8\n211 End");
        assert!(f.mlsd && f.mfmt && f.utf8 && f.rest_stream && !f.epsv);
        assert_eq!(f.raw.len(), 4);
        let none = parse_feat("211 No features");
        assert!(!none.mlsd && none.raw.is_empty());
        assert!(!parse_feat("211-x\n REST\n211 End").rest_stream);
    }
}
