//! The FTP layer's counters for `ftpfs stats`: commands by verb with their failures, retries,
//! running transfers, and what TLS negotiated. One [`Counters`] per mount (in
//! [`super::session::Shared`]); one [`Tally`] per control connection.
//!
//! How commands are counted: `Control::send_many`, which every command goes through, hands
//! the lines it sent to the connection's [`Tally`], which counts each verb as sent and queues
//! it; `Control::reply` hands over each reply: a 1xx is preliminary (the command stays
//! queued for its final reply), any other reply ends the oldest queued command and counts as
//! its error when its code is 400 or more. A reply that could not be read (timeout, lost or
//! cut connection, malformed) ends the oldest queued command as "no reply"; so do commands
//! still queued when the connection is dropped, and commands whose line could not be written.
//! Pipelined commands (logins, REST + RETR, an EPSV sent ahead) are thereby matched with
//! their replies in order, as the server sends them. A reply with nothing queued (a `421`
//! before a close) is counted under [`UNASKED`].
//!
//! ABOR: the replies of a transfer we cut short are ours to expect, not errors (the 426 of
//! the transfer, whatever ABOR gets), and their number varies (426 + 226, a single 226 for
//! both, proftpd's 226 before 426), so `dataconn.rs` ends an ABOR with a NOOP: the 200 that
//! answers it, while an ABOR is in flight, ends everything queued.
//!
//! Invariants: counting is a table lookup and a relaxed atomic add per command and per
//! reply; the verbs are a fixed table, so a server cannot make the counters grow; nothing
//! but the verb (and `SITE`'s sub-command) is kept: never an argument, so never a path or
//! the password.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::memory::Buf;
use crate::remote::stats::{CommandStat, RetryStats, StreamStats};
use crate::remote::{ReadStream, RemoteResult, Wanted, WriteStream};

/// The kinds of commands counted, in the order they are reported; the last one collects
/// any other verb.
const VERBS: [&str; 43] = [
    "USER",
    "PASS",
    "AUTH",
    "PBSZ",
    "PROT",
    "TYPE",
    "OPTS",
    "FEAT",
    "PWD",
    "CWD",
    "MLSD",
    "LIST",
    "NLST",
    "MLST",
    "STAT",
    "SIZE",
    "MDTM",
    "MFMT",
    "RETR",
    "STOR",
    "APPE",
    "REST",
    "ABOR",
    "EPSV",
    "PASV",
    "EPRT",
    "PORT",
    "MKD",
    "RMD",
    "DELE",
    "RNFR",
    "RNTO",
    "SITE CHMOD",
    "SITE UTIME",
    "SITE SYMLINK",
    "SITE",
    "NOOP",
    "QUIT",
    "SYST",
    "CDUP",
    "ACCT",
    UNASKED,
    OTHER,
];

/// Where a reply no command asked for is counted: the banner (a `421` refusing the
/// connection), or a reply before a close.
pub const UNASKED: &str = "(banner/unasked)";
/// Where verbs outside the table are counted.
const OTHER: &str = "(other)";

/// The table index of a command line's kind.
fn kind(line: &str) -> usize {
    let mut words = line.split(' ');
    let verb = words.next().unwrap_or("");
    let pick = |name: &str| VERBS.iter().position(|v| v.eq_ignore_ascii_case(name));
    let found = if verb.eq_ignore_ascii_case("SITE") {
        words
            .next()
            .and_then(|sub| pick(&format!("SITE {sub}")))
            .or_else(|| pick("SITE"))
    } else {
        pick(verb)
    };
    found.unwrap_or(VERBS.len() - 1)
}

fn index_of(name: &str) -> usize {
    VERBS
        .iter()
        .position(|v| *v == name)
        .unwrap_or(VERBS.len() - 1)
}

#[derive(Default)]
struct Slot {
    sent: AtomicU64,
    errors: AtomicU64,
    no_reply: AtomicU64,
}

/// The mount-wide counters of the FTP layer.
pub struct Counters {
    commands: [Slot; VERBS.len()],
    pub fresh_retries: AtomicU64,
    pub login_retries: AtomicU64,
    pub tls_retired: AtomicU64,
    pub data_fallbacks: AtomicU64,
    downloads: AtomicU64,
    uploads: AtomicU64,
    downloads_total: AtomicU64,
    uploads_total: AtomicU64,
    /// (version, cipher) of the last TLS control connection set up.
    tls: Mutex<Option<(String, String)>>,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            commands: std::array::from_fn(|_| Slot::default()),
            fresh_retries: AtomicU64::new(0),
            login_retries: AtomicU64::new(0),
            tls_retired: AtomicU64::new(0),
            data_fallbacks: AtomicU64::new(0),
            downloads: AtomicU64::new(0),
            uploads: AtomicU64::new(0),
            downloads_total: AtomicU64::new(0),
            uploads_total: AtomicU64::new(0),
            tls: Mutex::new(None),
        }
    }
}

/// Which kind of transfer a [`Gauge`] counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transfer {
    Download,
    Upload,
}

/// One running transfer, counted until dropped.
pub struct Gauge {
    counters: Arc<Counters>,
    kind: Transfer,
}

impl Drop for Gauge {
    fn drop(&mut self) {
        let c = match self.kind {
            Transfer::Download => &self.counters.downloads,
            Transfer::Upload => &self.counters.uploads,
        };
        c.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A download counted while it runs (until closed or dropped).
pub struct CountedRead {
    inner: Box<dyn ReadStream>,
    _running: Gauge,
}

impl CountedRead {
    pub fn new(inner: Box<dyn ReadStream>, counters: &Arc<Counters>) -> CountedRead {
        CountedRead {
            inner,
            _running: counters.transfer(Transfer::Download),
        }
    }
}

impl ReadStream for CountedRead {
    fn read(&mut self, buf: &mut [u8]) -> RemoteResult<usize> {
        self.inner.read(buf)
    }

    fn close(self: Box<Self>) {
        let CountedRead { inner, _running } = *self;
        inner.close();
    }

    fn wanted(&self) -> Wanted {
        self.inner.wanted()
    }
}

/// An upload counted while it runs (until finished or dropped).
pub struct CountedWrite {
    inner: Box<dyn WriteStream>,
    _running: Gauge,
}

impl CountedWrite {
    pub fn new(inner: Box<dyn WriteStream>, counters: &Arc<Counters>) -> CountedWrite {
        CountedWrite {
            inner,
            _running: counters.transfer(Transfer::Upload),
        }
    }
}

/// Every method is forwarded: the trait's defaults for `write_buf` and `write_keep` copy the
/// data into a buffer outside the memory budget (a 1 MiB mmap and its page faults per write
/// request: uploads ran at 0.66× until these were forwarded).
impl WriteStream for CountedWrite {
    fn write_all(&mut self, data: &[u8]) -> RemoteResult<()> {
        self.inner.write_all(data)
    }

    fn write_buf(&mut self, data: Buf) -> RemoteResult<()> {
        self.inner.write_buf(data)
    }

    fn write_keep(&mut self, data: Buf, depth: usize) -> RemoteResult<Option<Buf>> {
        self.inner.write_keep(data, depth)
    }

    fn finish(self: Box<Self>) -> RemoteResult<()> {
        let CountedWrite { inner, _running } = *self;
        inner.finish()
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    /// Counts a transfer as running until the returned guard is dropped.
    pub fn transfer(self: &Arc<Self>, kind: Transfer) -> Gauge {
        let (now, total) = match kind {
            Transfer::Download => (&self.downloads, &self.downloads_total),
            Transfer::Upload => (&self.uploads, &self.uploads_total),
        };
        bump(now);
        bump(total);
        Gauge {
            counters: Arc::clone(self),
            kind,
        }
    }

    /// A control connection finished its TLS handshake with this version and cipher.
    pub fn saw_tls(&self, version: &str, cipher: &str) {
        let mut t = self.tls.lock().unwrap_or_else(|p| p.into_inner());
        *t = Some((version.to_string(), cipher.to_string()));
    }

    /// The last TLS version and cipher seen.
    pub fn tls(&self) -> Option<(String, String)> {
        self.tls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Commands of every kind sent or answered so far, in the table's order.
    pub fn commands(&self) -> Vec<CommandStat> {
        VERBS
            .iter()
            .zip(&self.commands)
            .map(|(verb, s)| CommandStat {
                verb: (*verb).to_string(),
                sent: s.sent.load(Ordering::Relaxed),
                errors: s.errors.load(Ordering::Relaxed),
                no_reply: s.no_reply.load(Ordering::Relaxed),
            })
            .filter(|c| c.sent + c.errors + c.no_reply > 0)
            .collect()
    }

    pub fn streams(&self) -> StreamStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StreamStats {
            downloads: get(&self.downloads),
            uploads: get(&self.uploads),
            downloads_total: get(&self.downloads_total),
            uploads_total: get(&self.uploads_total),
        }
    }

    pub fn retries(&self) -> RetryStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RetryStats {
            fresh_connection: get(&self.fresh_retries),
            login: get(&self.login_retries),
            tls_retired: get(&self.tls_retired),
            data_fallbacks: get(&self.data_fallbacks),
        }
    }
}

/// The commands of one control connection that await their final reply (see the module
/// doc), and where they are counted.
pub struct Tally {
    counters: Arc<Counters>,
    /// Table index of each command awaiting its final reply, and whether a failure of it is
    /// expected (a transfer we aborted, and the ABOR).
    queued: VecDeque<(usize, bool)>,
    /// An ABOR is in flight (see the module doc).
    aborting: bool,
}

impl Default for Tally {
    /// Counts into counters of its own (a connection outside a mount: tests).
    fn default() -> Self {
        Tally::new(Arc::default())
    }
}

impl Tally {
    pub fn new(counters: Arc<Counters>) -> Tally {
        Tally {
            counters,
            queued: VecDeque::new(),
            aborting: false,
        }
    }

    /// Counts into `counters` from now on (commands still queued move along).
    pub fn count_into(&mut self, counters: Arc<Counters>) {
        self.counters = counters;
    }

    fn slot(&self, i: usize) -> &Slot {
        &self.counters.commands[i]
    }

    /// After `lines` were written to the server (`ok`), or could not be.
    pub fn wrote(&mut self, lines: &[&str], ok: bool) {
        if ok {
            self.sent(lines);
        } else {
            self.not_sent(lines);
        }
    }

    /// After a reply was read (its code), or could not be (`None`).
    pub fn read(&mut self, code: Option<u32>) {
        match code {
            Some(code) => self.replied(code),
            None => self.no_reply(),
        }
    }

    /// These lines were written to the server.
    pub fn sent(&mut self, lines: &[&str]) {
        for line in lines {
            let i = kind(line);
            bump(&self.slot(i).sent);
            let abort = VERBS[i] == "ABOR";
            if abort {
                self.aborting = true;
                self.queued
                    .iter_mut()
                    .for_each(|(_, expected)| *expected = true);
            }
            self.queued.push_back((i, abort));
        }
    }

    /// These lines could not be written: sent, and never answered.
    pub fn not_sent(&mut self, lines: &[&str]) {
        for line in lines {
            let i = kind(line);
            bump(&self.slot(i).sent);
            bump(&self.slot(i).no_reply);
        }
    }

    /// A reply with this code arrived.
    pub fn replied(&mut self, code: u32) {
        if (100..200).contains(&code) {
            return;
        }
        if self.aborting && code == 200 {
            // The NOOP that ends an ABOR: everything before it has been answered.
            self.queued.clear();
        }
        let (i, expected) = self
            .queued
            .pop_front()
            .unwrap_or_else(|| (index_of(UNASKED), false));
        if code >= 400 && !expected {
            bump(&self.slot(i).errors);
        }
        if self.queued.is_empty() {
            self.aborting = false;
        }
    }

    /// The reply the oldest command waited for could not be read.
    pub fn no_reply(&mut self) {
        if let Some((i, _)) = self.queued.pop_front() {
            bump(&self.slot(i).no_reply);
        }
    }
}

impl Drop for Tally {
    /// Commands still waiting when their connection goes never got a reply.
    fn drop(&mut self) {
        while let Some((i, _)) = self.queued.pop_front() {
            bump(&self.slot(i).no_reply);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(c: &Counters, verb: &str) -> (u64, u64, u64) {
        c.commands()
            .into_iter()
            .find(|s| s.verb == verb)
            .map_or((0, 0, 0), |s| (s.sent, s.errors, s.no_reply))
    }

    #[test]
    fn verbs_are_kinds_and_arguments_are_never_kept() {
        assert_eq!(VERBS[kind("RETR /secret/file")], "RETR");
        assert_eq!(VERBS[kind("retr x")], "RETR");
        assert_eq!(VERBS[kind("PASS hunter2")], "PASS");
        assert_eq!(VERBS[kind("SITE CHMOD 644 /a")], "SITE CHMOD");
        assert_eq!(VERBS[kind("SITE UTIME 20200101000000 /a")], "SITE UTIME");
        assert_eq!(VERBS[kind("SITE HELP")], "SITE");
        assert_eq!(VERBS[kind("XCRC /a")], OTHER);
        assert_eq!(VERBS[kind("")], OTHER);
        let c = Arc::new(Counters::default());
        let mut t = Tally::new(Arc::clone(&c));
        t.sent(&["PASS hunter2", "XCRC /top/secret"]);
        let shown = format!("{:?}", c.commands());
        assert!(
            !shown.contains("hunter2") && !shown.contains("secret"),
            "{shown}"
        );
    }

    #[test]
    fn pipelined_commands_are_matched_with_their_replies_in_order() {
        let c = Arc::new(Counters::default());
        let mut t = Tally::new(Arc::clone(&c));
        t.sent(&["USER u", "PASS p", "TYPE I"]);
        t.replied(331);
        t.replied(530);
        t.replied(200);
        assert_eq!(get(&c, "USER"), (1, 0, 0));
        assert_eq!(get(&c, "PASS"), (1, 1, 0));
        assert_eq!(get(&c, "TYPE"), (1, 0, 0));
        // REST + RETR: 350, then 150 (preliminary), then the transfer's verdict.
        t.sent(&["REST 10", "RETR /f"]);
        t.replied(350);
        t.replied(150);
        assert_eq!(get(&c, "RETR"), (1, 0, 0));
        t.replied(426);
        assert_eq!(get(&c, "RETR"), (1, 1, 0));
        assert_eq!(get(&c, "REST"), (1, 0, 0));
    }

    #[test]
    fn an_aborted_transfer_is_no_error_whatever_order_the_replies_come_in() {
        // (replies to RETR + ABOR, whether dataconn.rs then sends a NOOP): 426 + 226; one
        // 226 for both; proftpd's 226 before 426; 226 then 225.
        let cases: [(&[u32], bool); 4] = [
            (&[426, 226], false),
            (&[226], true),
            (&[226, 426], true),
            (&[226, 225], true),
        ];
        for (replies, noop) in cases {
            let c = Arc::new(Counters::default());
            let mut t = Tally::new(Arc::clone(&c));
            t.sent(&["RETR /big"]);
            t.replied(150);
            t.sent(&["ABOR"]);
            t.replied(replies[0]);
            if noop {
                t.sent(&["NOOP"]);
            }
            for &r in &replies[1..] {
                t.replied(r);
            }
            if noop {
                t.replied(200);
            }
            // In step again: the next command gets the next reply.
            t.sent(&["SIZE /x"]);
            t.replied(550);
            drop(t);
            let case = format!("{replies:?} {noop}");
            assert_eq!(get(&c, "RETR"), (1, 0, 0), "{case}");
            assert_eq!(get(&c, "ABOR"), (1, 0, 0), "{case}");
            assert_eq!(get(&c, "SIZE"), (1, 1, 0), "{case}");
            assert_eq!(get(&c, "NOOP").2, 0, "{case}");
            assert_eq!(get(&c, UNASKED), (0, 0, 0), "{case}");
        }
    }

    #[test]
    fn unanswered_commands_count_as_no_reply() {
        let c = Arc::new(Counters::default());
        {
            let mut t = Tally::new(Arc::clone(&c));
            t.sent(&["USER u", "PASS p", "TYPE I"]);
            t.no_reply();
            t.not_sent(&["NOOP"]);
            // The connection is dropped with PASS and TYPE still waiting.
        }
        assert_eq!(get(&c, "USER"), (1, 0, 1));
        assert_eq!(get(&c, "PASS"), (1, 0, 1));
        assert_eq!(get(&c, "TYPE"), (1, 0, 1));
        assert_eq!(get(&c, "NOOP"), (1, 0, 1));
    }

    #[test]
    fn a_reply_nobody_asked_for_is_counted_apart() {
        let c = Arc::new(Counters::default());
        let mut t = Tally::new(Arc::clone(&c));
        t.replied(421);
        assert_eq!(get(&c, UNASKED), (0, 1, 0));
        t.replied(220);
        assert_eq!(get(&c, UNASKED), (0, 1, 0));
    }

    #[test]
    fn transfers_are_counted_while_they_run() {
        let c = Arc::new(Counters::default());
        let d = c.transfer(Transfer::Download);
        let u = c.transfer(Transfer::Upload);
        let d2 = c.transfer(Transfer::Download);
        assert_eq!(
            c.streams(),
            StreamStats {
                downloads: 2,
                uploads: 1,
                downloads_total: 2,
                uploads_total: 1
            }
        );
        drop((d, u));
        let s = c.streams();
        assert_eq!((s.downloads, s.uploads, s.downloads_total), (1, 0, 2));
        drop(d2);
        assert_eq!(c.streams().downloads, 0);
    }

    /// Records which method each write came through, and where its buffer lives.
    struct Recorder(Arc<Mutex<Vec<(&'static str, usize)>>>);

    impl WriteStream for Recorder {
        fn write_all(&mut self, data: &[u8]) -> RemoteResult<()> {
            self.0
                .lock()
                .expect("lock")
                .push(("all", data.as_ptr() as usize));
            Ok(())
        }
        fn write_buf(&mut self, data: Buf) -> RemoteResult<()> {
            self.0
                .lock()
                .expect("lock")
                .push(("buf", data.as_ptr() as usize));
            Ok(())
        }
        fn write_keep(&mut self, data: Buf, _depth: usize) -> RemoteResult<Option<Buf>> {
            self.0
                .lock()
                .expect("lock")
                .push(("keep", data.as_ptr() as usize));
            Ok(Some(data))
        }
        fn finish(self: Box<Self>) -> RemoteResult<()> {
            Ok(())
        }
    }

    #[test]
    fn a_counted_upload_hands_its_buffers_on_without_a_copy() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let c = Arc::new(Counters::default());
        let mut w = CountedWrite::new(Box::new(Recorder(Arc::clone(&seen))), &c);
        let budget = crate::memory::Budget::new(8 << 20);
        let a = budget.copy_of(&[1u8; 100_000]);
        let (pa, pb) = (a.as_ptr() as usize, {
            let b = budget.copy_of(&[2u8; 100_000]);
            let p = b.as_ptr() as usize;
            w.write_buf(a).expect("buf");
            let back = w.write_keep(b, 1).expect("keep").expect("given back");
            assert_eq!(back.as_ptr() as usize, p);
            p
        });
        assert_eq!(*seen.lock().expect("lock"), vec![("buf", pa), ("keep", pb)]);
    }
}
