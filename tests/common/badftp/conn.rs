//! One control connection of the bad server: the greeting, then one command line at a time —
//! logged, matched against the fault rules, then either the fault or the normal handling.
//!
//! Invariants:
//! - Exactly one reply (or, for transfers, 150 then 226/426) per command unless a fault says
//!   otherwise; replies go out in command order.
//! - Paths are bytes: arguments are resolved against the working directory without any
//!   decoding, and names go back into replies and listings unchanged.
//! - Nothing but USER, PASS, QUIT, FEAT, SYST, NOOP and OPTS works before a successful login.
//! - `REST` applies to the next RETR/STOR only; each EPSV/PASV/EPRT/PORT replaces the last
//!   one and is used up by the transfer that opens its data connection.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};

use super::data::{self, Control, Plan, Sent};
use super::tree::{self, Kind};
use super::{Fault, ListKind, Shared, lock};

/// What the connection does after a command.
enum Flow {
    Go,
    Close,
    Stall,
}

const GARBAGE: &[u8] = b"Hello! This is not an FTP reply.\r\n";

/// Splits a command line into its upper-cased verb and its raw argument (everything after
/// the first space). Leading non-alphanumeric bytes (Telnet IP/Synch before ABOR) are skipped.
pub(super) fn split_command(line: &[u8]) -> (String, Vec<u8>) {
    let start = line
        .iter()
        .position(u8::is_ascii_alphanumeric)
        .unwrap_or(line.len());
    let line = &line[start..];
    let (verb, arg) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &b""[..]),
    };
    (
        String::from_utf8_lossy(verb).to_ascii_uppercase(),
        arg.to_vec(),
    )
}

/// LIST/NLST arguments: leading `-options` (one word) and the path after them.
fn list_path(arg: &[u8]) -> &[u8] {
    if arg.first() == Some(&b'-') {
        match arg.iter().position(|&b| b == b' ') {
            Some(i) => &arg[i + 1..],
            None => b"",
        }
    } else {
        arg
    }
}

/// Splits `first rest` at the first space.
fn first_word(arg: &[u8]) -> (&[u8], &[u8]) {
    match arg.iter().position(|&b| b == b' ') {
        Some(i) => (&arg[..i], &arg[i + 1..]),
        None => (arg, b""),
    }
}

fn is_transfer(verb: &str) -> bool {
    matches!(verb, "RETR" | "STOR" | "APPE" | "LIST" | "NLST" | "MLSD")
}

/// A PWD/MKD-style quoted path (`"` doubled).
fn quoted(path: &[u8]) -> Vec<u8> {
    let mut q = vec![b'"'];
    for &b in path {
        q.push(b);
        if b == b'"' {
            q.push(b'"');
        }
    }
    q.push(b'"');
    q
}

struct Conn<'a> {
    shared: &'a Shared,
    ctl: Control,
    id: u64,
    user: Option<Vec<u8>>,
    logged_in: bool,
    cwd: Vec<u8>,
    rest: u64,
    plan: Plan,
    rnfr: Option<Vec<u8>>,
    /// Set by a fault for the current command only.
    reply_rate: Option<f64>,
    data_fault: Option<Fault>,
}

/// Serves one control connection until it closes or the server shuts down.
pub(super) fn serve(shared: &Shared, sock: TcpStream, id: u64) {
    let mut c = Conn {
        shared,
        ctl: Control::new(sock, id),
        id,
        user: None,
        logged_in: false,
        cwd: b"/".to_vec(),
        rest: 0,
        plan: Plan::None,
        rnfr: None,
        reply_rate: None,
        data_fault: None,
    };
    let banner = shared.fault_for("BANNER", b"", None, 0);
    let flow = match banner.map(|f| c.apply(f, "BANNER")) {
        Some(Some(flow)) => flow,
        _ => c.reply(220, "badftp ready."),
    };
    let flow = match flow {
        Flow::Go => c.commands(),
        other => other,
    };
    if let Flow::Stall = flow {
        c.stall();
    }
}

impl Conn<'_> {
    fn commands(&mut self) -> Flow {
        while let Some((line, len)) = self.ctl.read_line(self.shared) {
            let idx = self.shared.record(self.id, &line, len);
            let (verb, arg) = split_command(&line);
            let path = self.target_path(&verb, &arg);
            let fault = self.shared.fault_for(&verb, &arg, path.as_deref(), len);
            self.reply_rate = None;
            self.data_fault = None;
            let flow = match fault {
                Some(f) => {
                    self.shared.note_fault(idx, &f);
                    match self.apply(f, &verb) {
                        Some(flow) => flow,
                        None => self.command(&verb, &arg),
                    }
                }
                None => self.command(&verb, &arg),
            };
            match flow {
                Flow::Go => {}
                other => return other,
            }
        }
        Flow::Close
    }

    /// After a Stall: log what still comes, answer nothing, until EOF or shutdown.
    fn stall(&mut self) {
        while let Some((line, len)) = self.ctl.read_line(self.shared) {
            self.shared.record(self.id, &line, len);
        }
    }

    /// The path a command works on (for `Rule::path`).
    fn target_path(&self, verb: &str, arg: &[u8]) -> Option<Vec<u8>> {
        let p = match verb {
            "LIST" | "NLST" => list_path(arg),
            "MLSD" | "MLST" | "RETR" | "STOR" | "APPE" | "SIZE" | "MDTM" | "DELE" | "RMD"
            | "XRMD" | "MKD" | "XMKD" | "CWD" | "XCWD" | "RNFR" | "RNTO" => arg,
            "MFMT" => first_word(arg).1,
            "SITE" => first_word(first_word(arg).1).1,
            _ => return None,
        };
        Some(tree::resolve(&self.cwd, p))
    }

    /// Applies a fault; `Some(flow)` when it replaced the command, `None` when the command
    /// is to be handled normally (with `reply_rate`/`data_fault` set).
    fn apply(&mut self, f: Fault, verb: &str) -> Option<Flow> {
        Some(match f {
            Fault::Delay(d) => {
                if !data::sleep_checked(self.shared, d) {
                    return Some(Flow::Close);
                }
                return None;
            }
            Fault::Reply(code, text) => self.reply(code, &text),
            Fault::Raw(bytes) => self.send(&bytes),
            Fault::Garbage => self.send(GARBAGE),
            Fault::Stall => Flow::Stall,
            Fault::Close => Flow::Close,
            Fault::CloseAfter(code, text) => {
                self.reply(code, &text);
                Flow::Close
            }
            Fault::Ignore => Flow::Go,
            Fault::FloodReply => {
                self.flood_reply();
                Flow::Close
            }
            Fault::Trickle { .. } | Fault::Drip(_) if !is_transfer(verb) => {
                self.reply_rate = f.rate();
                return None;
            }
            Fault::TrickleReply { bytes_per_sec } => {
                self.reply_rate = Some(bytes_per_sec as f64);
                return None;
            }
            other => {
                self.data_fault = Some(other);
                return None;
            }
        })
    }

    fn send(&mut self, bytes: &[u8]) -> Flow {
        if self.ctl.send(self.shared, bytes, self.reply_rate) {
            Flow::Go
        } else {
            Flow::Close
        }
    }

    fn reply_bytes(&mut self, code: u32, text: &[u8]) -> Flow {
        let mut line = format!("{code} ").into_bytes();
        line.extend_from_slice(text);
        line.extend_from_slice(b"\r\n");
        self.send(&line)
    }

    fn reply(&mut self, code: u32, text: &str) -> Flow {
        self.reply_bytes(code, text.as_bytes())
    }

    fn flood_reply(&mut self) {
        let mut n = 0u64;
        loop {
            let mut batch = Vec::with_capacity(64 << 10);
            while batch.len() < 60 << 10 {
                batch.extend_from_slice(
                    format!("123-flood line {n:>12} of a reply that never ends ..........\r\n")
                        .as_bytes(),
                );
                n += 1;
            }
            if !self.ctl.send(self.shared, &batch, None) {
                return;
            }
        }
    }

    fn resolve(&self, arg: &[u8]) -> Vec<u8> {
        tree::resolve(&self.cwd, arg)
    }

    fn command(&mut self, verb: &str, arg: &[u8]) -> Flow {
        let f = self.shared.features();
        let open = matches!(
            verb,
            "USER" | "PASS" | "QUIT" | "FEAT" | "SYST" | "NOOP" | "OPTS"
        );
        if !self.logged_in && !open {
            return self.reply(530, "Please login with USER and PASS.");
        }
        match verb {
            "USER" => {
                self.user = Some(arg.to_vec());
                self.logged_in = false;
                self.reply(331, "Please specify the password.")
            }
            "PASS" => {
                let ok = self.user.as_deref() == Some(self.shared.user.as_bytes())
                    && arg == self.shared.password.as_bytes();
                self.logged_in = ok;
                if ok {
                    self.reply(230, "Login successful.")
                } else {
                    self.reply(530, "Login incorrect.")
                }
            }
            "QUIT" => {
                self.reply(221, "Goodbye.");
                Flow::Close
            }
            "NOOP" => self.reply(200, "NOOP ok."),
            "SYST" => self.reply(215, "UNIX Type: L8"),
            "TYPE" | "MODE" | "STRU" => self.reply(200, "OK."),
            "ALLO" => self.reply(202, "ALLO not needed."),
            "HELP" => self.reply(214, "Help OK."),
            "ABOR" => self.reply(225, "No transfer to ABOR."),
            "FEAT" => self.feat(),
            "OPTS" if f.utf8 && arg.eq_ignore_ascii_case(b"UTF8 ON") => {
                self.reply(200, "Always in UTF8 mode.")
            }
            "OPTS" => self.reply(501, "Option not understood."),
            "PWD" | "XPWD" => {
                let mut t = quoted(&self.cwd.clone());
                t.extend_from_slice(b" is the current directory");
                self.reply_bytes(257, &t)
            }
            "CWD" | "XCWD" | "CDUP" | "XCUP" => {
                let p = if verb.ends_with("UP") {
                    self.resolve(b"..")
                } else {
                    self.resolve(arg)
                };
                if lock(&self.shared.tree).is_dir(&p) {
                    self.cwd = p;
                    self.reply(250, "Directory successfully changed.")
                } else {
                    self.reply(550, "Failed to change directory.")
                }
            }
            "EPSV" if f.epsv && arg.eq_ignore_ascii_case(b"ALL") => self.reply(200, "EPSV ALL ok."),
            "EPSV" | "PASV" if verb == "PASV" || f.epsv => match Plan::passive() {
                Ok((plan, port)) => {
                    self.plan = plan;
                    if verb == "EPSV" {
                        self.reply(229, &format!("Entering Extended Passive Mode (|||{port}|)"))
                    } else {
                        let (hi, lo) = (port >> 8, port & 0xff);
                        self.reply(
                            227,
                            &format!("Entering Passive Mode (127,0,0,1,{hi},{lo})."),
                        )
                    }
                }
                Err(_) => self.reply(425, "Cannot listen."),
            },
            "EPRT" | "PORT" if verb == "PORT" || f.eprt => {
                let addr = if verb == "EPRT" {
                    parse_eprt(arg)
                } else {
                    parse_port(arg)
                };
                match addr.filter(|a| a.ip().is_loopback()) {
                    Some(a) => {
                        self.plan = Plan::Active(a);
                        self.reply(200, &format!("{verb} command successful."))
                    }
                    None => self.reply(500, &format!("Illegal {verb} command.")),
                }
            }
            "REST" if f.rest_stream => {
                match std::str::from_utf8(arg).ok().and_then(|s| s.parse().ok()) {
                    Some(n) => {
                        self.rest = n;
                        self.reply(350, &format!("Restart position accepted ({n})."))
                    }
                    None => self.reply(501, "Bad REST argument."),
                }
            }
            "REST" => self.reply(502, "REST not implemented."),
            "RETR" => self.retr(arg),
            "STOR" | "APPE" => self.store(verb, arg),
            "LIST" => self.list(ListKind::List, list_path(arg)),
            "NLST" => self.list(ListKind::Nlst, list_path(arg)),
            "MLSD" if f.mlsd => self.list(ListKind::Mlsd, arg),
            "MLST" if f.mlsd => self.mlst(arg),
            "SIZE" if f.size => self.size(arg),
            "MDTM" if f.mdtm => self.mdtm(arg),
            "MFMT" if f.mfmt => self.mfmt(arg),
            "SITE" => self.site(arg),
            "MKD" | "XMKD" | "RMD" | "XRMD" | "DELE" | "RNFR" | "RNTO" => self.change(verb, arg),
            _ => self.reply(500, "Unknown command."),
        }
    }

    fn feat(&mut self) -> Flow {
        let f = self.shared.features();
        let lines: Vec<&str> = [
            (f.eprt, " EPRT"),
            (f.epsv, " EPSV"),
            (f.mdtm, " MDTM"),
            (f.mfmt, " MFMT"),
            (f.mlsd, " MLST type*;size*;modify*;UNIX.mode*;"),
            (f.rest_stream, " REST STREAM"),
            (f.size, " SIZE"),
            (f.utf8, " UTF8"),
        ]
        .into_iter()
        .filter_map(|(on, l)| on.then_some(l))
        .collect();
        if lines.is_empty() {
            return self.reply(211, "No features");
        }
        let mut text = String::from("211-Features:\r\n");
        for l in lines {
            text.push_str(l);
            text.push_str("\r\n");
        }
        text.push_str("211 End\r\n");
        self.send(text.as_bytes())
    }

    /// Opens the data connection, says 150, runs `body`, then 226 / 426 (+226 after ABOR).
    fn transfer(
        &mut self,
        opening: &str,
        body: impl FnOnce(&mut Self, &mut TcpStream) -> Sent,
    ) -> Flow {
        let plan = std::mem::replace(&mut self.plan, Plan::None);
        let Some(mut dc) = plan.connect(self.shared) else {
            return self.reply(425, "Failed to establish connection.");
        };
        if let Flow::Close = self.reply(150, opening) {
            return Flow::Close;
        }
        match body(self, &mut dc) {
            Sent::Done => {
                let _ = dc.shutdown(std::net::Shutdown::Write);
                drop(dc);
                self.reply(226, "Transfer complete.")
            }
            Sent::Abor => {
                drop(dc);
                match self.reply(426, "Transfer aborted.") {
                    Flow::Go => self.reply(226, "ABOR successful."),
                    other => other,
                }
            }
            Sent::Closed => self.reply(426, "Failure on the data connection; transfer aborted."),
            Sent::Gone => Flow::Close,
            Sent::Stall => Flow::Stall,
        }
    }

    /// Sends `bytes` (or what the data fault makes of them) over the data connection.
    fn send_data(&mut self, kind: Option<ListKind>, bytes: Vec<u8>, dc: &mut TcpStream) -> Sent {
        let fault = self.data_fault.take();
        let rate = fault.as_ref().and_then(Fault::rate);
        let bytes = match &fault {
            Some(Fault::Data(d)) => d.clone(),
            _ => bytes,
        };
        let mut n = 0u64;
        let mut off = 0usize;
        let shared = self.shared;
        let mut src: Box<data::Source<'_>> = match fault {
            Some(Fault::FloodData) => Box::new(move |max: usize| {
                let mut out = Vec::new();
                while out.len() < max {
                    out.extend_from_slice(&flood_line(kind, n));
                    n += 1;
                }
                Some(out)
            }),
            Some(Fault::FloodLine) => Box::new(|max: usize| Some(vec![b'x'; max])),
            Some(Fault::StallData) => Box::new(|_| Some(Vec::new())),
            other => {
                let keep = match other {
                    Some(Fault::ShortData { fraction }) => {
                        (bytes.len() as f64 * fraction.clamp(0.0, 1.0)) as usize
                    }
                    _ => bytes.len(),
                };
                Box::new(move |max: usize| {
                    if off >= keep {
                        return None;
                    }
                    let end = keep.min(off + max);
                    let c = bytes[off..end].to_vec();
                    off = end;
                    Some(c)
                })
            }
        };
        data::pump(shared, &mut self.ctl, dc, &mut *src, rate)
    }

    fn retr(&mut self, arg: &[u8]) -> Flow {
        let p = self.resolve(arg);
        let rest = std::mem::take(&mut self.rest);
        let contents = match lock(&self.shared.tree).get(&p).map(|n| &n.kind) {
            Some(Kind::File(d)) => d.clone(),
            _ => return self.reply(550, "Failed to open file."),
        };
        let len = contents.len();
        let body = contents[(rest.min(len as u64) as usize)..].to_vec();
        let mut opening = b"Opening BINARY mode data connection for ".to_vec();
        opening.extend_from_slice(tree::base(&p));
        let opening = format!("{} ({len} bytes).", String::from_utf8_lossy(&opening));
        self.transfer(&opening, |c, dc| c.send_data(None, body, dc))
    }

    fn store(&mut self, verb: &str, arg: &[u8]) -> Flow {
        let p = self.resolve(arg);
        let rest = std::mem::take(&mut self.rest);
        let keep = (verb == "STOR").then_some(rest);
        if let Err(why) = lock(&self.shared.tree).open_write(&p, keep) {
            return self.reply(553, &format!("Could not create file: {why}"));
        }
        self.transfer("Ok to send data.", |c, dc| {
            let fault = c.data_fault.take();
            let rate = fault.as_ref().and_then(Fault::rate);
            let stall = fault == Some(Fault::StallData);
            let shared = c.shared;
            let mut sink = |b: &[u8]| lock(&shared.tree).append(&p, b);
            data::receive(shared, &mut c.ctl, dc, &mut sink, rate, stall)
        })
    }

    fn list(&mut self, kind: ListKind, arg: &[u8]) -> Flow {
        let dir = self.resolve(arg);
        let body = match self.shared.listing(kind, &dir) {
            Some(b) => b,
            None => match self.generate(kind, &dir) {
                Ok(b) => b,
                Err(flow) => return flow,
            },
        };
        self.transfer("Here comes the directory listing.", |c, dc| {
            c.send_data(Some(kind), body, dc)
        })
    }

    /// A listing of the tree; `Err` after the error reply.
    fn generate(&mut self, kind: ListKind, dir: &[u8]) -> Result<Vec<u8>, Flow> {
        let now = tree::now_secs();
        let t = lock(&self.shared.tree);
        // Formatted under the lock: no copy of any file's contents.
        let entries: Vec<(&[u8], &tree::Node)> = match t.get(dir) {
            None => {
                drop(t);
                return Err(self.reply(550, "No such file or directory."));
            }
            Some(n) if !n.is_dir() && kind == ListKind::Mlsd => {
                drop(t);
                return Err(self.reply(501, "Not a directory."));
            }
            Some(n) if !n.is_dir() => vec![(tree::base(dir), n)],
            Some(_) => t.children(dir).collect(),
        };
        let mut out = Vec::new();
        for (name, n) in entries {
            match kind {
                ListKind::List => out.extend_from_slice(&tree::list_line(name, n, now)),
                ListKind::Mlsd => out.extend_from_slice(&tree::mlsd_line(name, n)),
                ListKind::Nlst => {
                    out.extend_from_slice(name);
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
        Ok(out)
    }

    fn mlst(&mut self, arg: &[u8]) -> Flow {
        let p = self.resolve(arg);
        let node = lock(&self.shared.tree).get(&p).cloned();
        let Some(n) = node else {
            return self.reply(550, "No such file or directory.");
        };
        let mut text = b"250-Listing ".to_vec();
        text.extend_from_slice(&p);
        text.extend_from_slice(b"\r\n ");
        text.extend_from_slice(&tree::mlsd_line(&p, &n));
        text.extend_from_slice(b"250 End.\r\n");
        self.send(&text)
    }

    fn size(&mut self, arg: &[u8]) -> Flow {
        let p = self.resolve(arg);
        let size = match lock(&self.shared.tree).get(&p) {
            Some(n) if !n.is_dir() => Some(n.size()),
            _ => None,
        };
        match size {
            Some(s) => self.reply(213, &s.to_string()),
            None => self.reply(550, "Could not get file size."),
        }
    }

    fn mdtm(&mut self, arg: &[u8]) -> Flow {
        let (first, rest) = first_word(arg);
        // vsftpd's two-argument form sets the time, when the whole argument is not a file.
        let p = self.resolve(arg);
        let mut t = lock(&self.shared.tree);
        if t.get(&p).is_none()
            && let Some(secs) = tree::parse_stamp(first)
        {
            let target = tree::resolve(&self.cwd, rest);
            if let Some(n) = t.get_mut(&target) {
                n.mtime = secs;
                drop(t);
                return self.reply(213, "File modification time set.");
            }
        }
        let m = t.get(&p).filter(|n| !n.is_dir()).map(|n| n.mtime);
        drop(t);
        match m {
            Some(m) => self.reply(213, &tree::stamp(m)),
            None => self.reply(550, "Could not get file modification time."),
        }
    }

    fn mfmt(&mut self, arg: &[u8]) -> Flow {
        let (stamp, path) = first_word(arg);
        let Some(secs) = tree::parse_stamp(stamp) else {
            return self.reply(501, "Bad time stamp.");
        };
        let p = self.resolve(path);
        let found = match lock(&self.shared.tree).get_mut(&p) {
            Some(n) => {
                n.mtime = secs;
                true
            }
            None => false,
        };
        if !found {
            return self.reply(550, "No such file or directory.");
        }
        let mut text = format!("Modify={}; ", tree::stamp(secs)).into_bytes();
        text.extend_from_slice(path);
        self.reply_bytes(213, &text)
    }

    fn site(&mut self, arg: &[u8]) -> Flow {
        let (sub, rest) = first_word(arg);
        if !sub.eq_ignore_ascii_case(b"CHMOD") {
            return self.reply(500, "Unknown SITE command.");
        }
        let (mode, path) = first_word(rest);
        let Some(mode) = std::str::from_utf8(mode)
            .ok()
            .and_then(|m| u32::from_str_radix(m, 8).ok())
        else {
            return self.reply(501, "Bad mode.");
        };
        let p = self.resolve(path);
        let found = match lock(&self.shared.tree).get_mut(&p) {
            Some(n) => {
                n.mode = mode & 0o7777;
                true
            }
            None => false,
        };
        if found {
            self.reply(200, "SITE CHMOD command ok.")
        } else {
            self.reply(550, "SITE CHMOD command failed.")
        }
    }

    /// MKD, RMD, DELE, RNFR, RNTO.
    fn change(&mut self, verb: &str, arg: &[u8]) -> Flow {
        let p = self.resolve(arg);
        let mut t = lock(&self.shared.tree);
        let r = match verb {
            "MKD" | "XMKD" => t.mkdir(&p),
            "RMD" | "XRMD" => t.rmdir(&p),
            "DELE" => t.delete(&p),
            "RNFR" => {
                let exists = t.get(&p).is_some();
                drop(t);
                if exists {
                    self.rnfr = Some(p);
                    return self.reply(350, "Ready for RNTO.");
                }
                return self.reply(550, "RNFR command failed.");
            }
            _ => match self.rnfr.take() {
                Some(from) => t.rename(&from, &p),
                None => {
                    drop(t);
                    return self.reply(503, "RNFR required first.");
                }
            },
        };
        drop(t);
        match (verb, r) {
            ("MKD" | "XMKD", Ok(())) => {
                let mut text = quoted(&p);
                text.extend_from_slice(b" created");
                self.reply_bytes(257, &text)
            }
            ("RNTO", Ok(())) => self.reply(250, "Rename successful."),
            (_, Ok(())) => self.reply(250, "Requested file action okay, completed."),
            (_, Err(why)) => self.reply(550, why),
        }
    }
}

/// One line of an endless listing (or of an endless file for RETR).
fn flood_line(kind: Option<ListKind>, n: u64) -> Vec<u8> {
    match kind {
        Some(ListKind::List) => {
            format!("-rw-r--r--    1 ftp      ftp             0 Jan 01  2020 flood{n:012}\r\n")
        }
        Some(ListKind::Mlsd) => format!("type=file;size=0;modify=20200101000000; flood{n:012}\r\n"),
        Some(ListKind::Nlst) => format!("flood{n:012}\r\n"),
        None => format!("endless file content, line {n:012}\n"),
    }
    .into_bytes()
}

/// `|1|127.0.0.1|port|` (any delimiter).
fn parse_eprt(arg: &[u8]) -> Option<SocketAddr> {
    let s = std::str::from_utf8(arg).ok()?;
    let d = s.chars().next()?;
    let parts: Vec<&str> = s.split(d).collect();
    if parts.len() < 5 {
        return None;
    }
    let ip: IpAddr = parts[2].parse().ok()?;
    let port: u16 = parts[3].parse().ok()?;
    Some(SocketAddr::new(ip, port))
}

/// `h1,h2,h3,h4,p1,p2`.
fn parse_port(arg: &[u8]) -> Option<SocketAddr> {
    let s = std::str::from_utf8(arg).ok()?;
    let n: Vec<u8> = s
        .split(',')
        .map(|x| x.trim().parse().ok())
        .collect::<Option<_>>()?;
    if n.len() != 6 {
        return None;
    }
    let ip = Ipv4Addr::new(n[0], n[1], n[2], n[3]);
    Some(SocketAddr::new(
        IpAddr::V4(ip),
        u16::from(n[4]) << 8 | u16::from(n[5]),
    ))
}
