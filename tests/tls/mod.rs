//! Self-tests of the FTPS fixtures, with `curl` as the client (never ftpfs): every TLS
//! server variant of `common::servers` logs in, lists, uploads and downloads over TLS
//! with the test CA; the throwaway PKI's bad certificates fail curl's verification for
//! the right reason; the raw proxies see what they claim to see.
//!
//! These tests prove the fixtures, so the FTPS tests of ftpfs can trust them: a server
//! that silently allowed plain text, a certificate that was not really expired, or a
//! proxy that could not see a password would make those tests pass for nothing. Where
//! a check could pass vacuously, a positive control shows it can fail (e.g. the
//! recording proxy does see a plain-FTP password).
//!
//! curl 7.88 with OpenSSL 3.0 resumes the control connection's TLS session on each data
//! connection, so vsftpd's `require_ssl_reuse` and proftpd's reuse requirement accept
//! it; `--no-sessionid` turns that off, which is how the reuse-failure helpers are
//! tested against real log lines. Each curl call makes one transfer: with TLS 1.3, a
//! second transfer on the same control connection after an upload sometimes gets a
//! full handshake instead of a resumed one (vsftpd then answers 522 and ends the
//! session, proftpd 425; curl/curl#4654), and curl's exit status only reflects the
//! last URL. Every curl call costs ≈ 0.2 s (curl waits ~190 ms for the reply to the
//! command it sends after starting the data connection's handshake), and proftpd
//! accepts a new connection only ≈ 0.35 s after its previous session ended (plain
//! FTP too), so the tests keep the number of calls and proftpd sessions low.

mod certs;
mod mount;
mod proxies;
mod refusals;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::servers::{
    FtpServer, ServerKind, StartFailure, TlsMode, TlsSetup, wait_for_tls_banner,
};

/// Arguments every curl call gets: quiet but with errors, verbose protocol trace on
/// stderr (for the TLS version and the replies), a hard time limit.
const CURL_BASE: &[&str] = &["-sS", "-v", "--max-time", "20"];

/// `curl` with `args`; its exit status, stdout and stderr.
pub fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(CURL_BASE)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running curl: {e}: run scripts/setup.sh (as root)"))
}

/// curl's stderr, for assertions and messages.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The TLS versions curl reports ("SSL connection using TLSv1.3 / …"), in order.
pub fn tls_versions(out: &Output) -> Vec<String> {
    stderr(out)
        .lines()
        .filter_map(|l| l.split("SSL connection using ").nth(1))
        .map(|rest| rest.split(' ').next().unwrap_or("").to_string())
        .collect()
}

/// The URL of `rel` on `server` through `port` (the server's or a proxy's), and the
/// curl arguments that make curl use TLS the way the server requires, trusting `ca`.
pub fn target(server: &FtpServer, port: u16, rel: &str, ca: &Path) -> (String, Vec<String>) {
    let tls = server.tls().expect("an FTPS server");
    let (scheme, mut args) = match tls.mode {
        TlsMode::Explicit => ("ftp", vec!["--ssl-reqd".to_string()]),
        TlsMode::Implicit => ("ftps", vec![]),
    };
    args.extend([
        "--cacert".to_string(),
        ca.display().to_string(),
        "-u".to_string(),
        format!("{}:{}", server.user, server.password),
    ]);
    (format!("{scheme}://127.0.0.1:{port}/{rel}"), args)
}

/// curl against `server` (directly) for `rel`, with the server's TLS arguments, the test
/// CA, and `extra` arguments.
pub fn curl_at(server: &FtpServer, rel: &str, extra: &[&str]) -> Output {
    let (url, args) = target(server, server.port, rel, server.ca_file());
    let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
    all.extend_from_slice(extra);
    all.push(&url);
    curl(&all)
}

/// Asserts curl succeeded; returns its stdout.
pub fn ok(server: &FtpServer, what: &str, out: &Output) -> Vec<u8> {
    assert!(
        out.status.success(),
        "{what} against {} failed ({}):\n{}\n--- server log ---\n{}",
        server.kind,
        out.status,
        stderr(out),
        server.log()
    );
    out.stdout.clone()
}

/// Size of the test upload: several TLS records, small enough that curl's TLS 1.3 upload
/// race (below) is rare.
const UPLOAD_SIZE: u32 = 64 * 1024;

/// curl 7.88 closes a TLS 1.3 upload connection without reading the session ticket the
/// server sent after the resumed handshake, so its kernel answers with a reset, which
/// can destroy data the server has not read yet: vsftpd then answers `426 Failure
/// reading network stream` (curl/curl#6149). Against vsftpd: 13 of 20 uploads of
/// 200 KB, none of 200 uploads of 0–100 KB. A 426 is retried; any other failure is not.
const UPLOAD_ATTEMPTS: usize = 3;

/// List the root, upload a file, download it back, all over TLS; returns the TLS
/// versions curl negotiated. Also asserts that the login needed TLS: a plain curl is
/// refused, and (where the server tells) no data connection failed to resume.
fn roundtrip(server: &FtpServer, extra: &[&str]) -> Vec<String> {
    server.write_file("hello.txt", "hello over TLS\n");
    let listing = curl_at(server, "", extra);
    let text = String::from_utf8(ok(server, "LIST", &listing)).unwrap();
    assert!(text.contains("hello.txt"), "listing: {text:?}");

    let local = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..UPLOAD_SIZE).map(|i| (i * 7 + i / 251) as u8).collect();
    let src = local.path().join("up.bin");
    std::fs::write(&src, &data).unwrap();
    let mut up_args = extra.to_vec();
    up_args.extend(["-T", src.to_str().unwrap()]);
    let mut upload = curl_at(server, "up.bin", &up_args);
    for _ in 1..UPLOAD_ATTEMPTS {
        if upload.status.success() || !stderr(&upload).contains("got 426") {
            break;
        }
        eprintln!(
            "{}: curl's TLS upload reset race (426), trying again",
            server.kind
        );
        upload = curl_at(server, "up.bin", &up_args);
    }
    ok(server, "STOR", &upload);
    assert!(
        std::fs::read(server.root.join("up.bin")).unwrap() == data,
        "uploaded file differs"
    );

    let download = curl_at(server, "up.bin", extra);
    assert!(
        ok(server, "RETR", &download) == data,
        "downloaded file differs"
    );

    let mut versions = Vec::new();
    for out in [&listing, &upload, &download] {
        let v = tls_versions(out);
        assert!(
            !v.is_empty(),
            "curl reported no TLS connection:\n{}",
            stderr(out)
        );
        versions.extend(v);
    }
    if matches!(server.kind, ServerKind::Vsftpd | ServerKind::Proftpd) {
        assert_eq!(server.tls_reuse_failures(), Vec::<String>::new());
        assert!(server.saw_command("USER"), "no USER in the server's log");
    }
    assert_plain_login_refused(server);
    versions
}

/// A client without TLS does not get in (explicit: the server refuses the login;
/// implicit: the server does not even greet).
fn assert_plain_login_refused(server: &FtpServer) {
    if server.tls().unwrap().mode == TlsMode::Implicit {
        // A plain client waits for a greeting that never comes: talk first instead.
        let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"USER ftpfs-test\r\n").unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        // Nothing, a TLS alert record (0x15) or a plain error before closing (vsftpd
        // "500 OOPS: …wrong version number", proftpd "421 TLS handshake failed").
        assert!(
            got.first().is_none_or(|&b| matches!(b, 0x15 | b'4' | b'5')),
            "{} (implicit) answered plain text: {:?}",
            server.kind,
            String::from_utf8_lossy(&got)
        );
        return;
    }
    let url = format!("ftp://127.0.0.1:{}/", server.port);
    let userpw = format!("{}:{}", server.user, server.password);
    let out = curl(&["--max-time", "5", "-u", &userpw, &url]);
    // The server refuses USER with 5xx (vsftpd 530, proftpd 550), or ends the session
    // with 421 (pure-ftpd: "cleartext sessions and weak ciphers are not accepted").
    let err = stderr(&out);
    assert!(
        !out.status.success() && (err.contains("\n< 5") || err.contains("\n< 421")),
        "{} ({}) did not refuse a plain-text login:\n{}",
        server.kind,
        server.tls().unwrap(),
        err
    );
}

fn all_are(versions: &[String], want: &str) {
    assert!(
        !versions.is_empty() && versions.iter().all(|v| v == want),
        "expected only {want}, got {versions:?}"
    );
}

#[test]
fn vsftpd_explicit_lists_uploads_downloads_on_tls13_and_tls12() {
    let server = FtpServer::start_tls(ServerKind::Vsftpd, TlsSetup::explicit());
    assert!(server.url().starts_with("ftpes://ftpfs-test@127.0.0.1:"));
    all_are(&roundtrip(&server, &[]), "TLSv1.3");
    all_are(&roundtrip(&server, &["--tls-max", "1.2"]), "TLSv1.2");
}

#[test]
fn vsftpd_implicit_lists_uploads_downloads() {
    let server = FtpServer::start_tls(ServerKind::Vsftpd, TlsSetup::implicit());
    assert!(server.url().starts_with("ftps://ftpfs-test@127.0.0.1:"));
    all_are(&roundtrip(&server, &[]), "TLSv1.3");
    all_are(&roundtrip(&server, &["--tls-max", "1.2"]), "TLSv1.2");
}

#[test]
fn pure_ftpd_y2_and_y3_list_upload_download_and_y3_refuses_clear_data() {
    for (level, clear_data_ok) in [(2, true), (3, false)] {
        let tls = TlsSetup::explicit().with_pure_level(level);
        let server = FtpServer::start_tls(ServerKind::PureFtpd, tls);
        all_are(&roundtrip(&server, &[]), "TLSv1.3");
        // curl --ftp-ssl-control: TLS for the login only, PROT C (clear) for data.
        let url = format!("ftp://127.0.0.1:{}/hello.txt", server.port);
        let userpw = format!("{}:{}", server.user, server.password);
        let ca = server.ca_file().to_str().unwrap();
        let out = curl(&["--ftp-ssl-control", "--cacert", ca, "-u", &userpw, &url]);
        assert_eq!(
            out.status.success(),
            clear_data_ok,
            "pure-ftpd -Y {level}, clear data connection:\n{}",
            stderr(&out)
        );
    }
}

#[test]
fn proftpd_explicit_lists_uploads_downloads() {
    let server = FtpServer::start_tls(ServerKind::Proftpd, TlsSetup::explicit());
    assert!(server.url().starts_with("ftpes://"));
    all_are(&roundtrip(&server, &[]), "TLSv1.3");
    assert!(
        server.log().contains("==> proftpd tls.log <=="),
        "log() lacks the TLS log"
    );
}

#[test]
fn proftpd_implicit_lists_uploads_downloads() {
    let server = FtpServer::start_tls(ServerKind::Proftpd, TlsSetup::implicit());
    assert!(server.url().starts_with("ftps://"));
    all_are(&roundtrip(&server, &[]), "TLSv1.3");
}

/// The server capped at TLS 1.2 negotiates TLS 1.2 with a curl that offers 1.3, and
/// refuses a curl that insists on 1.3.
fn capped_at_tls12(kind: ServerKind) {
    let server = FtpServer::start_tls(kind, TlsSetup::explicit().with_max_tls12());
    server.write_file("a.txt", "a\n");
    let out = curl_at(&server, "a.txt", &[]);
    ok(&server, "RETR", &out);
    all_are(&tls_versions(&out), "TLSv1.2");
    let out = curl_at(&server, "a.txt", &["--tlsv1.3"]);
    assert!(
        !out.status.success(),
        "{kind} capped at TLS 1.2 accepted TLS 1.3:\n{}",
        stderr(&out)
    );
}

#[test]
fn vsftpd_and_pure_ftpd_can_be_capped_at_tls12() {
    capped_at_tls12(ServerKind::Vsftpd);
    capped_at_tls12(ServerKind::PureFtpd);
}

#[test]
fn proftpd_can_be_capped_at_tls12() {
    capped_at_tls12(ServerKind::Proftpd);
}

#[test]
fn reuse_requiring_servers_refuse_and_log_a_data_connection_without_resumption() {
    // curl --no-sessionid does a full handshake on the data connection.
    for (mode, kind, line) in [
        (
            TlsSetup::explicit(),
            ServerKind::Vsftpd,
            "\"522 SSL connection failed: session reuse required\"",
        ),
        (
            TlsSetup::implicit(),
            ServerKind::Proftpd,
            "client did not reuse TLS session, rejecting data connection",
        ),
    ] {
        let server = FtpServer::start_tls(kind, mode);
        server.write_file("a.txt", "a\n");
        assert_eq!(server.tls_reuse_failures(), Vec::<String>::new());
        let out = curl_at(&server, "a.txt", &["--no-sessionid", "--tls-max", "1.2"]);
        assert!(
            !out.status.success(),
            "{kind}: a data connection without reuse worked:\n{}",
            stderr(&out)
        );
        // vsftpd logs the 522 after curl has given up on the data connection.
        let logged = server.wait_for_log(Duration::from_secs(5), |_| {
            server.tls_reuse_failures().iter().any(|l| l.contains(line))
        });
        assert!(
            logged,
            "{kind}: no {line:?} among the reuse failures {:#?}\n{}",
            server.tls_reuse_failures(),
            server.log()
        );
    }
}

#[test]
fn implicit_readiness_check_fails_on_a_plain_server() {
    // Something that greets in plain text on the port is not our implicit-TLS server.
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            match listener.accept() {
                Ok((mut s, _)) => {
                    let _ = s.write_all(b"220 someone else\r\n");
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let began = Instant::now();
    let res = wait_for_tls_banner(&mut child, port, "our-nonce");
    let _ = child.kill();
    let _ = child.wait();
    assert!(matches!(&res, Err(StartFailure::WrongServer(_))), "{res:?}");
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "{:?}",
        began.elapsed()
    );
}
