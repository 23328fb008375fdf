//! Data-connection modes of `ftpfs` through the network lab: passive, active, the `auto`
//! fallback, failures that must end in EIO instead of a hang, and `ftpfs probe`'s verdicts.
//!
//! Every scenario runs twice, with the lab's firewalls dropping (`--block drop`: connects hang
//! until ftpfs's own timeout) and rejecting (`--block reject`: TCP reset at once) blocked
//! connections. The `per_block!` table at the bottom gives each test its own lab id, so the
//! tests run in parallel. Mounts and probes use `data_connect_timeout=2` ([`DCT`]) to keep
//! the suite short; time limits are that timeout (once or twice) plus [`MARGIN`].
//!
//! How the tests see which data connections were made (see `super`): pyftpdlib's log records
//! every `PORT`/`EPRT` argument ([`active_ports`]), and `ss -Htan` in the server namespace
//! ([`Lab::server_conns`]) still lists each download's data connection in TIME-WAIT, with the
//! server's port (passive) or the client's port (active).
//!
//! The nat-pasv-ip scenario advertises 198.19.255.1 (inside the lab's own 198.18.0.0/15 range)
//! rather than netlab's default 10.255.255.1, so no test ever addresses a private range.

use std::collections::HashMap;
use std::process::Output;
use std::time::{Duration, Instant};

use super::{Lab, active_ports, conns};
use crate::mount::harness::{Mount, pattern, sh_in, sha256, tail};

/// `data_connect_timeout` used by these tests, in seconds.
const DCT: u64 = 2;
const DCT_OPT: &str = "data_connect_timeout=2";
/// Slack over the expected timeouts: process start, logins, a loaded 2-core machine.
const MARGIN: Duration = Duration::from_secs(4);
/// Address the nat-pasv-ip scenario puts in 227 replies.
const NAT_PASV_IP: &str = "198.19.255.1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    Drop,
    Reject,
}

impl Block {
    fn arg(self) -> &'static str {
        match self {
            Block::Drop => "drop",
            Block::Reject => "reject",
        }
    }
}

fn dct() -> Duration {
    Duration::from_secs(DCT)
}

/// `netlab.sh --id ID up --scenario SCENARIO --block BLOCK EXTRA...`
fn lab(id: u8, block: Block, scenario: &str, extra: &[&str]) -> Lab {
    let mut args = vec!["--scenario", scenario, "--block", block.arg()];
    args.extend_from_slice(extra);
    Lab::up(id, &args)
}

/// Runs `script` in the mount and times it.
fn timed(m: &Mount, script: &str) -> (Output, Duration) {
    let t = Instant::now();
    let out = sh_in(&m.path, script);
    (out, t.elapsed())
}

fn describe(out: &Output, m: &Mount) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}\nftpfs log tail:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        tail(&m.log(), 60)
    )
}

/// Runs `cmd` under `timeout 20` and asserts that it fails with EIO within `limit`.
fn expect_eio(m: &Mount, cmd: &str, limit: Duration) {
    let (out, took) = timed(m, &format!("timeout 20 {cmd}"));
    assert_ne!(
        out.status.code(),
        Some(124),
        "`{cmd}` hung (killed after 20 s); {}",
        describe(&out, m)
    );
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("Input/output error"),
        "`{cmd}` should fail with EIO; {}",
        describe(&out, m)
    );
    assert!(
        took <= limit,
        "`{cmd}` took {took:?} to fail, limit {limit:?}; {}",
        describe(&out, m)
    );
}

/// Mounts with `opts` where no data connection can work: either the mount fails (ftpfs lists
/// the root before mounting) or `ls` then fails with EIO; either within `limit`, without a
/// hang, and for that reason (not a bad option or a failed login). Returns ftpfs's log.
fn expect_no_data(lab: &Lab, opts: &[&str], limit: Duration) -> String {
    let t = Instant::now();
    let log = match lab.try_mount(opts) {
        Ok(m) => {
            expect_eio(&m, "ls", limit);
            m.log()
        }
        Err(log) => {
            let took = t.elapsed();
            assert!(
                took <= limit,
                "with {opts:?} the mount took {took:?} to fail, limit {limit:?}:\n{log}"
            );
            log
        }
    };
    assert!(
        log.contains("no data connection could be made"),
        "with {opts:?} the failure was not about data connections:\n{log}"
    );
    log
}

/// `ls` of the root and `cat hello.txt`.
fn ls_and_cat(m: &Mount) {
    let ls = m.sh("ls -1");
    for name in ["hello.txt", "many", "nested", "upload", "big-4MiB.bin"] {
        assert!(ls.lines().any(|l| l == name), "{name} not listed:\n{ls}");
    }
    assert_eq!(m.sh("cat hello.txt"), "hello from ftplab\n");
}

/// Copies a 4 MiB file into `upload/NAME` and back out, and the server's `big-4MiB.bin`
/// out; all checksums must match.
fn copy_in_out(lab: &Lab, m: &Mount, name: &str) {
    let local = tempfile::tempdir().expect("tempdir");
    let l = local.path();
    std::fs::write(l.join("in.bin"), pattern(4 << 20, u64::from(lab.id))).expect("write");
    let want = sha256(&l.join("in.bin"));
    m.sh(&format!("cp '{}/in.bin' 'upload/{name}'", l.display()));
    assert_eq!(
        sha256(&lab.root().join("upload").join(name)),
        want,
        "uploaded file differs on the server"
    );
    m.sh(&format!("cp 'upload/{name}' '{}/out.bin'", l.display()));
    assert_eq!(sha256(&l.join("out.bin")), want, "copied-out file differs");
    m.sh(&format!("cp big-4MiB.bin '{}/big.bin'", l.display()));
    assert_eq!(
        sha256(&l.join("big.bin")),
        sha256(&lab.root().join("big-4MiB.bin")),
        "downloaded big-4MiB.bin differs"
    );
}

fn count(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

/// Data connections (not LISTEN, not the control port) seen in the server netns.
fn data_conns(lab: &Lab) -> Vec<super::Conn> {
    let port: u16 = lab.var("PORT").parse().expect("FTPLAB_PORT");
    conns(&lab.server_conns())
        .into_iter()
        .filter(|c| c.state != "LISTEN" && c.local_port != port)
        .collect()
}

/// No `PORT`/`EPRT` reached the server and ftpfs never fell back to active: passive all
/// along (falling back from EPSV to PASV is fine).
fn assert_stayed_passive(lab: &Lab, m: &Mount) {
    let ports = active_ports(&lab.server_log());
    assert!(
        ports.is_empty(),
        "active mode was used (ports {ports:?}); ftpfs log:\n{}",
        tail(&m.log(), 60)
    );
    let log = m.log();
    let to_active = log
        .lines()
        .filter(|l| l.contains("falling back"))
        .find(|l| ["active", "EPRT", "PORT"].iter().any(|w| l.contains(w)));
    assert_eq!(to_active, None, "fell back to active mode");
}

// ---------------------------------------------------------------------------- scenarios

/// No firewall: the default (auto) mount lists, reads and copies.
fn open(block: Block, id: u8) {
    let lab = lab(id, block, "open", &[]);
    let m = lab.mount(&[]);
    ls_and_cat(&m);
    copy_in_out(&lab, &m, "open.bin");
    assert_stayed_passive(&lab, &m);
}

/// The server accepts only port 21: auto falls back to active once for the whole mount.
fn server_fw_21_only(block: Block, id: u8) {
    let lab = lab(id, block, "server-fw-21-only", &[]);
    let m = lab.mount(&[DCT_OPT]);
    // 11 operations, each needing a data connection (dirs and files not seen before).
    let script = "set -e
        ls . >/dev/null
        ls many >/dev/null
        ls nested >/dev/null
        ls nested/a >/dev/null
        ls nested/a/b >/dev/null
        ls upload >/dev/null
        cat hello.txt
        cat 'name with spaces.txt'
        cat 'ümlaut-ß.txt'
        cat nested/a/b/deep.txt
        cat many/f001.txt";
    let (out, took) = timed(&m, &format!("timeout 60 sh -c \"{script}\""));
    assert!(out.status.success(), "{}", describe(&out, &m));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from ftplab\nspaces\nutf8\ndeep\nfile 001\n"
    );
    let limit = dct() * 2 + MARGIN;
    assert!(
        took < limit,
        "11 operations took {took:?} (limit {limit:?}): the passive timeout was paid more than \
         once; {}",
        describe(&out, &m)
    );
    ls_and_cat(&m);
    copy_in_out(&lab, &m, "fw21.bin");
    let log = m.log();
    assert_eq!(count(&log, "falling back"), 1, "ftpfs log:\n{log}");
    let line = log.lines().find(|l| l.contains("falling back")).unwrap();
    assert!(
        ["data_mode=active", "data_mode=eprt", "data_mode=port"]
            .iter()
            .any(|o| line.contains(o)),
        "the fallback message should name the option that skips the probe: {line}"
    );
    assert!(
        !active_ports(&lab.server_log()).is_empty(),
        "no PORT/EPRT reached the server"
    );
}

/// The same over FTPS (the lab's pyftpdlib requires explicit TLS): the passive data
/// connections that cannot get through are a data-mode failure, not a TLS one, so auto falls
/// back to active once, and the data connections made by the server are TLS too (ftpfs is the
/// TLS client on the accepted socket).
fn server_fw_21_only_tls(block: Block, id: u8) {
    let cert = crate::common::tls::pki().cert(crate::common::tls::CertKind::Good);
    let pem = cert.combined.display().to_string();
    let lab = lab(id, block, "server-fw-21-only", &["--tls-cert", &pem]);
    let url = format!(
        "ftpes://{}@{}:{}/",
        lab.var("USER"),
        lab.var("HOST"),
        lab.var("PORT")
    );
    let prefix = lab.client_prefix();
    let prefix: Vec<&str> = prefix.iter().map(String::as_str).collect();
    let pin = format!("tls_fingerprint={}", cert.pin());
    let m = Mount::with_prefix(&prefix, &url, &lab.password(), &[DCT_OPT, &pin]);
    let (out, took) = timed(
        &m,
        "timeout 60 sh -c 'ls nested/a/b && cat hello.txt && cat many/f001.txt'",
    );
    assert!(out.status.success(), "{}", describe(&out, &m));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "deep.txt\nhello from ftplab\nfile 001\n"
    );
    let limit = dct() * 2 + MARGIN;
    assert!(
        took < limit,
        "took {took:?} (limit {limit:?}); {}",
        describe(&out, &m)
    );
    copy_in_out(&lab, &m, "fw21-tls.bin");
    let log = m.log();
    assert_eq!(count(&log, "falling back"), 1, "ftpfs log:\n{log}");
    assert!(
        !log.lines()
            .any(|l| l.contains(" ERROR ") || l.contains("TLS handshake failed")),
        "ftpfs log:\n{log}"
    );
    assert!(
        !active_ports(&lab.server_log()).is_empty(),
        "no PORT/EPRT reached the server"
    );
}

/// The server also opens its passive range: forced passive works, through that range.
fn server_fw_range(block: Block, id: u8) {
    let lab = lab(id, block, "server-fw-range", &[]);
    let m = lab.mount(&["data_mode=passive", DCT_OPT]);
    ls_and_cat(&m);
    copy_in_out(&lab, &m, "range.bin");
    assert_stayed_passive(&lab, &m);
    let data = data_conns(&lab);
    assert!(!data.is_empty(), "no data connection seen on the server");
    for c in &data {
        assert!(
            (50000..=50100).contains(&c.local_port),
            "passive data connection outside 50000-50100: {}",
            c.line
        );
    }
}

/// The client accepts no inbound connection: auto stays passive; forced active fails fast
/// (the mount or the first `ls`, see [`expect_no_data`]).
fn client_fw(block: Block, id: u8) {
    let lab = lab(id, block, "client-fw", &[]);
    {
        let m = lab.mount(&[DCT_OPT]);
        ls_and_cat(&m);
        copy_in_out(&lab, &m, "clientfw.bin");
        assert_stayed_passive(&lab, &m);
    }
    expect_no_data(&lab, &["data_mode=active", DCT_OPT], dct() + MARGIN);
}

/// The 227 reply carries an unreachable address (and EPSV is refused): auto uses the control
/// connection's address and works; trusting the reply fails fast (mount or EIO).
fn nat_pasv_ip(block: Block, id: u8) {
    let lab = lab(
        id,
        block,
        "nat-pasv-ip",
        &["--no-epsv", "--pasv-ip", NAT_PASV_IP],
    );
    {
        let m = lab.mount(&[DCT_OPT]);
        ls_and_cat(&m);
        copy_in_out(&lab, &m, "nat.bin");
        assert_stayed_passive(&lab, &m);
    }
    expect_no_data(
        &lab,
        &["data_mode=pasv", "pasv_address=reply", DCT_OPT],
        dct() + MARGIN,
    );
}

/// Both firewalls: nothing works; the mount or the first `ls` fails within two
/// data-connection timeouts ([`expect_no_data`]), with a hint in the log that names both
/// passive and active. The probe says so too.
fn both_firewalls(block: Block, id: u8) {
    let lab = lab(id, block, "server-fw-21-only,client-fw", &[]);
    let log = expect_no_data(&lab, &[DCT_OPT], dct() * 2 + MARGIN);
    let lower = log.to_lowercase();
    assert!(
        lower.contains("passive") && lower.contains("active"),
        "the log should say what to do (passive/active):\n{log}"
    );
    let (code, out) = lab.probe(&[DCT_OPT]);
    let v = verdicts(&out);
    for mode in MODES {
        assert_ne!(v[mode], "ok", "{mode} cannot work here:\n{out}");
    }
    assert_eq!(recommended(&out), "none", "{out}");
    assert_eq!(code, 1, "probe exit code when no mode works:\n{out}");
}

/// Active mode with a port range: every PORT/EPRT and every data connection uses it.
fn active_port_range(block: Block, id: u8) {
    let lab = lab(id, block, "open", &[]);
    let m = lab.mount(&["data_mode=active,active_port_range=50010-50020", DCT_OPT]);
    // 16 data connections over 11 ports: the ports must be reused.
    let mut script = String::from("set -e; ls many >/dev/null");
    for i in 1..=15 {
        script.push_str(&format!("; cat many/f{i:03}.txt"));
    }
    let out = m.sh(&script);
    assert_eq!(out.lines().count(), 15, "{out}");
    assert_eq!(out.lines().last(), Some("file 015"));
    let ports = active_ports(&lab.server_log());
    assert!(
        ports.len() >= 16,
        "expected a PORT/EPRT per data connection, got {ports:?}"
    );
    assert!(
        ports.iter().all(|p| (50010..=50020).contains(p)),
        "PORT/EPRT outside 50010-50020: {ports:?}"
    );
    let data = data_conns(&lab);
    assert!(!data.is_empty(), "no data connection seen on the server");
    for c in &data {
        assert!(
            (50010..=50020).contains(&c.peer_port),
            "data connection to a client port outside 50010-50020: {}",
            c.line
        );
    }
    assert_eq!(count(&m.log(), "falling back"), 0, "{}", m.log());
}

// ------------------------------------------------------------------------------- probe

const MODES: [&str; 4] = ["EPSV", "PASV", "EPRT", "PORT"];

/// `MODE verdict` lines of the probe output (`^(EPSV|PASV|EPRT|PORT)\s+(ok|...)\b`); panics
/// unless every mode has exactly one.
fn verdicts(out: &str) -> HashMap<&'static str, String> {
    const VERDICTS: [&str; 5] = ["ok", "timeout", "refused", "rejected", "error"];
    let mut v = HashMap::new();
    for line in out.lines() {
        let mut words = line.split_whitespace();
        let (Some(mode), Some(word)) = (words.next(), words.next()) else {
            continue;
        };
        let Some(mode) = MODES.iter().find(|m| **m == mode && line.starts_with(mode)) else {
            continue;
        };
        let verdict: String = word
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if VERDICTS.contains(&verdict.as_str()) {
            assert!(
                v.insert(*mode, verdict).is_none(),
                "two lines for {mode}:\n{out}"
            );
        }
    }
    for mode in MODES {
        assert!(v.contains_key(mode), "no verdict line for {mode}:\n{out}");
    }
    v
}

/// What follows `recommended:` on the last line.
fn recommended(out: &str) -> String {
    let last = out
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    last.strip_prefix("recommended:")
        .unwrap_or_else(|| panic!("last line is not `recommended: ...`:\n{out}"))
        .trim()
        .to_string()
}

fn assert_verdicts(out: &str, want: &[(&str, &[&str])]) {
    let v = verdicts(out);
    for (mode, ok) in want {
        assert!(
            ok.contains(&v[mode].as_str()),
            "{mode}: {} (want one of {ok:?}):\n{out}",
            v[mode]
        );
    }
}

fn probe_open(block: Block, id: u8) {
    let lab = lab(id, block, "open", &[]);
    let (code, out) = lab.probe(&[DCT_OPT]);
    assert_verdicts(
        &out,
        &[
            ("EPSV", &["ok"]),
            ("PASV", &["ok"]),
            ("EPRT", &["ok"]),
            ("PORT", &["ok"]),
        ],
    );
    assert!(out.lines().any(|l| l.trim() == "listing: MLSD"), "{out}");
    assert!(!out.contains("differs"), "{out}");
    assert_ne!(recommended(&out), "none", "{out}");
    assert_eq!(code, 0, "{out}");
}

fn probe_server_fw_21_only(block: Block, id: u8) {
    let lab = lab(id, block, "server-fw-21-only", &[]);
    let (code, out) = lab.probe(&[DCT_OPT]);
    let blocked: &[&str] = match block {
        Block::Drop => &["timeout"],
        Block::Reject => &["refused"],
    };
    assert_verdicts(
        &out,
        &[
            ("EPSV", blocked),
            ("PASV", blocked),
            ("EPRT", &["ok"]),
            ("PORT", &["ok"]),
        ],
    );
    assert!(out.lines().any(|l| l.trim() == "listing: MLSD"), "{out}");
    let rec = recommended(&out);
    assert!(
        ["data_mode=active", "data_mode=eprt", "data_mode=port"]
            .iter()
            .any(|o| rec.contains(o)),
        "recommended should be an active mode: {rec}"
    );
    assert_eq!(code, 0, "{out}");
}

fn probe_client_fw(block: Block, id: u8) {
    let lab = lab(id, block, "client-fw", &[]);
    let (code, out) = lab.probe(&[DCT_OPT]);
    let blocked: &[&str] = &["timeout", "refused", "rejected"];
    assert_verdicts(
        &out,
        &[
            ("EPSV", &["ok"]),
            ("PASV", &["ok"]),
            ("EPRT", blocked),
            ("PORT", blocked),
        ],
    );
    let rec = recommended(&out);
    assert!(
        rec != "none" && !["active", "eprt", "port"].iter().any(|m| rec.contains(m)),
        "recommended should be passive or the default: {rec}"
    );
    assert_eq!(code, 0, "{out}");
}

fn probe_nat_pasv_ip(block: Block, id: u8) {
    let lab = lab(
        id,
        block,
        "nat-pasv-ip",
        &["--no-epsv", "--pasv-ip", NAT_PASV_IP],
    );
    let (code, out) = lab.probe(&[DCT_OPT]);
    assert_verdicts(
        &out,
        &[
            ("EPSV", &["rejected"]),
            ("PASV", &["ok"]),
            ("EPRT", &["rejected"]),
            ("PORT", &["ok"]),
        ],
    );
    assert!(
        out.lines()
            .any(|l| l.contains("reply address") && l.contains("differs")),
        "no `reply address ... differs` line:\n{out}"
    );
    let rec = recommended(&out);
    assert!(
        rec != "none" && !rec.contains("pasv_address=reply"),
        "{rec}"
    );
    assert_eq!(code, 0, "{out}");
}

// ------------------------------------------------------------------------ test table

/// `name => drop_id, reject_id;` declares `name::drop` and `name::reject`, each calling
/// `name(Block, id)` with its own lab id; `ALL_IDS` lists them for the uniqueness check.
macro_rules! per_block {
    ($($name:ident => $drop:literal, $reject:literal;)*) => {
        $(
            mod $name {
                use super::Block;

                #[test]
                fn drop() {
                    super::$name(Block::Drop, $drop)
                }

                #[test]
                fn reject() {
                    super::$name(Block::Reject, $reject)
                }
            }
        )*
        const ALL_IDS: &[u8] = &[$($drop, $reject,)*];
    };
}

per_block! {
    open => 60, 61;
    server_fw_21_only => 62, 63;
    server_fw_21_only_tls => 82, 83;
    server_fw_range => 64, 65;
    client_fw => 66, 67;
    nat_pasv_ip => 68, 69;
    both_firewalls => 70, 71;
    active_port_range => 72, 73;
    probe_open => 74, 75;
    probe_server_fw_21_only => 76, 77;
    probe_client_fw => 78, 79;
    probe_nat_pasv_ip => 80, 81;
}

#[test]
fn lab_ids_are_unique() {
    let mut ids = ALL_IDS.to_vec();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), ALL_IDS.len(), "duplicate lab id in {ALL_IDS:?}");
    assert!(!ids.contains(&super::HARNESS_TEST_ID));
    assert!(ids.iter().all(|&i| i <= 99), "lab ids are 0..=99");
}

#[test]
fn parses_probe_output() {
    let out = "connected to 198.18.0.2:21 (pyftpdlib)\n\
               EPSV   timeout after 2 s\n\
               PASV   refused: connection refused\n\
               EPRT   ok (12 ms)\n\
               PORT   rejected: 500 not understood\n\
               listing: MLSD\n\
               PASV reply address 10.255.255.1 differs from the server's 198.18.0.2\n\
               recommended: -o data_mode=active\n";
    let v = verdicts(out);
    assert_eq!(
        MODES.map(|m| v[m].as_str()),
        ["timeout", "refused", "ok", "rejected"]
    );
    assert_eq!(recommended(out), "-o data_mode=active");
    assert_eq!(recommended("EPSV error\nrecommended: none\n\n"), "none");
}
