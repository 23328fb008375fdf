//! Self-tests of the bad FTP server (`common::badftp`): normal FTP with a raw `TcpStream`
//! client ([`Client`]) and with `curl`, then every fault, with timings asserted loosely (CI
//! machines are slow) but really (a stall must stall, a trickle must be slow, a flood must
//! go on). Each test takes well under two seconds.

mod curl;
mod faults;
mod session;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::Duration;

use crate::common::badftp::{BAD_PASSWORD, BAD_USER, BadFtp};

/// One reply: its code and its lines (without CR/LF).
#[derive(Debug)]
pub struct Reply {
    pub code: u32,
    pub lines: Vec<Vec<u8>>,
}

impl Reply {
    pub fn last(&self) -> String {
        String::from_utf8_lossy(self.lines.last().map_or(&b""[..], |l| l)).into_owned()
    }
}

/// A minimal FTP client over a raw socket; every read waits at most 5 s (`set_wait` to
/// change).
pub struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

/// The port of a 227/229 reply.
fn passive_port(r: &Reply) -> u16 {
    let t = r.last();
    let inner = &t[t.find('(').expect("(") + 1..t.rfind(')').expect(")")];
    if r.code == 229 {
        inner.trim_matches('|').parse().expect("229 port")
    } else {
        let n: Vec<u16> = inner.split(',').map(|x| x.parse().expect("227")).collect();
        n[4] << 8 | n[5]
    }
}

impl Client {
    /// Connects without reading the greeting.
    pub fn connect(port: u16) -> Client {
        let s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Client {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        }
    }

    /// Connects, reads the 220 and logs in.
    pub fn login(srv: &BadFtp) -> Client {
        let mut c = Client::connect(srv.port);
        assert_eq!(c.reply().code, 220);
        assert_eq!(c.cmd(format!("USER {BAD_USER}")).code, 331);
        assert_eq!(c.cmd(format!("PASS {BAD_PASSWORD}")).code, 230);
        c
    }

    pub fn set_wait(&self, d: Duration) {
        self.w.set_read_timeout(Some(d)).unwrap();
    }

    pub fn send(&mut self, line: impl AsRef<[u8]>) {
        let mut b = line.as_ref().to_vec();
        b.extend_from_slice(b"\r\n");
        self.w.write_all(&b).expect("send");
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).expect("send");
    }

    /// One line (without CR/LF); an error on timeout, `UnexpectedEof` at EOF.
    pub fn line(&mut self) -> std::io::Result<Vec<u8>> {
        let mut l = Vec::new();
        if self.r.read_until(b'\n', &mut l)? == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        while matches!(l.last(), Some(b'\n' | b'\r')) {
            l.pop();
        }
        Ok(l)
    }

    /// One complete reply, or the error that stopped it.
    pub fn try_reply(&mut self) -> std::io::Result<Reply> {
        let first = self.line()?;
        let code = std::str::from_utf8(first.get(..3).unwrap_or_default())
            .ok()
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("not a reply: {first:?}")))?;
        let mut lines = vec![first.clone()];
        if first.get(3) == Some(&b'-') {
            let end = format!("{code} ");
            loop {
                let l = self.line()?;
                let done = l.starts_with(end.as_bytes());
                lines.push(l);
                if done {
                    break;
                }
            }
        }
        Ok(Reply { code, lines })
    }

    pub fn reply(&mut self) -> Reply {
        self.try_reply().expect("a reply")
    }

    pub fn cmd(&mut self, line: impl AsRef<[u8]>) -> Reply {
        self.send(line);
        self.reply()
    }

    /// A passive data connection (EPSV, or PASV when `pasv`).
    pub fn passive(&mut self, pasv: bool) -> TcpStream {
        let r = self.cmd(if pasv { "PASV" } else { "EPSV" });
        assert!(matches!(r.code, 227 | 229), "{r:?}");
        let s = TcpStream::connect((Ipv4Addr::LOCALHOST, passive_port(&r))).expect("data");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    }

    /// An active data connection announced with EPRT (or PORT when `port`); accepted once
    /// the server connects.
    pub fn active(&mut self, port_cmd: bool) -> TcpListener {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let p = l.local_addr().unwrap().port();
        let line = if port_cmd {
            format!("PORT 127,0,0,1,{},{}", p >> 8, p & 0xff)
        } else {
            format!("EPRT |1|127.0.0.1|{p}|")
        };
        assert_eq!(self.cmd(line).code, 200);
        l
    }

    /// Runs a download-style command (RETR, LIST …) over EPSV; returns its data after 226.
    pub fn fetch(&mut self, line: impl AsRef<[u8]>) -> Vec<u8> {
        let mut d = self.passive(false);
        let r = self.cmd(line);
        assert_eq!(r.code, 150, "{r:?}");
        let mut out = Vec::new();
        d.read_to_end(&mut out).expect("data");
        let r = self.reply();
        assert_eq!(r.code, 226, "{r:?}");
        out
    }

    /// STOR/APPE over EPSV.
    pub fn upload(&mut self, line: impl AsRef<[u8]>, data: &[u8]) {
        let mut d = self.passive(false);
        let r = self.cmd(line);
        assert_eq!(r.code, 150, "{r:?}");
        d.write_all(data).expect("upload");
        drop(d);
        let r = self.reply();
        assert_eq!(r.code, 226, "{r:?}");
    }

    /// Whether the server closed the connection (EOF within the read timeout).
    pub fn closed(&mut self) -> bool {
        matches!(self.line(), Err(e) if e.kind() == ErrorKind::UnexpectedEof)
    }

    /// Whether nothing at all arrives for `d` (and the connection stays open).
    pub fn silent_for(&mut self, d: Duration) -> bool {
        self.set_wait(d);
        let r = self.line();
        self.set_wait(Duration::from_secs(5));
        matches!(r, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
    }
}
