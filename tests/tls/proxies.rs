//! The raw proxies: the recording proxy sees every byte (a plain-FTP password is
//! visible to it, a TLS one is not, and a ClientHello follows `AUTH` directly), and the
//! stripping proxy makes `curl --ssl-reqd` fail before any `USER`/`PASS`.

use super::{curl, ok, stderr, target};
use crate::common::rawproxy::{RawProxy, STRIPPED_REPLY, is_client_hello};
use crate::common::servers::{FtpServer, ServerKind, TlsSetup};

/// curl through `proxy` to `server` for `rel`, with `extra` arguments.
fn curl_via(
    proxy: &RawProxy,
    server: &FtpServer,
    rel: &str,
    extra: &[&str],
) -> std::process::Output {
    let (url, args) = target(server, proxy.port(), rel, server.ca_file());
    let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
    all.extend_from_slice(extra);
    all.push(&url);
    curl(&all)
}

#[test]
fn recording_proxy_sees_no_password_over_tls_and_a_client_hello_right_after_auth() {
    let server = FtpServer::start_tls(ServerKind::Vsftpd, TlsSetup::explicit());
    server.write_file("a.txt", "a\n");
    let proxy = RawProxy::recording(server.port);
    ok(
        &server,
        "LIST via proxy",
        &curl_via(&proxy, &server, "", &[]),
    );
    ok(
        &server,
        "RETR via proxy",
        &curl_via(&proxy, &server, "a.txt", &[]),
    );
    let conns = proxy.connections();
    assert_eq!(conns.len(), 2, "one control connection per curl");
    for conn in &conns {
        let after = conn.after_auth().unwrap_or_else(|| {
            panic!(
                "no AUTH line in what the client sent: {:?}",
                conn.client_text()
            )
        });
        assert!(
            is_client_hello(after),
            "the client sent {:?} after AUTH, not a ClientHello",
            &after[..after.len().min(16)]
        );
        // The server's 234 came back through the proxy before the handshake.
        assert!(String::from_utf8_lossy(&conn.client_received).contains("234 "));
    }
    assert!(
        !proxy.any_contains(server.password.as_bytes()),
        "password crossed in clear"
    );
    assert!(!proxy.any_sent_command("USER") && !proxy.any_sent_command("PASS"));

    // Implicit TLS: the very first byte is the ClientHello.
    let implicit = FtpServer::start_tls(ServerKind::Vsftpd, TlsSetup::implicit());
    let proxy = RawProxy::recording(implicit.port);
    ok(
        &implicit,
        "implicit via proxy",
        &curl_via(&proxy, &implicit, "", &[]),
    );
    let conns = proxy.connections();
    assert!(
        is_client_hello(&conns[0].client_sent),
        "{:?}",
        &conns[0].client_sent[..8]
    );
    assert!(!proxy.any_contains(implicit.password.as_bytes()));
}

#[test]
fn recording_proxy_does_see_a_plain_text_password() {
    // Positive control for the assertions above.
    let server = FtpServer::start(ServerKind::Vsftpd);
    let proxy = RawProxy::recording(server.port);
    let url = format!("ftp://127.0.0.1:{}/", proxy.port());
    let userpw = format!("{}:{}", server.user, server.password);
    let out = curl(&["-u", &userpw, &url]);
    ok(&server, "plain LIST via proxy", &out);
    assert!(proxy.any_contains(server.password.as_bytes()));
    assert!(proxy.any_sent_command("USER") && proxy.any_sent_command("PASS"));
    assert!(proxy.connections()[0].after_auth().is_none());
}

#[test]
fn stripping_proxy_makes_ssl_reqd_fail_before_login() {
    let server = FtpServer::start_tls(ServerKind::Vsftpd, TlsSetup::explicit());
    let proxy = RawProxy::stripping(server.port);
    let out = curl_via(&proxy, &server, "", &[]);
    assert!(
        !out.status.success(),
        "curl --ssl-reqd got through:\n{}",
        stderr(&out)
    );
    let conns = proxy.connections();
    assert_eq!(conns.len(), 1);
    let conn = &conns[0];
    assert!(
        conn.auth_refused >= 1,
        "the proxy refused no AUTH: {:?}",
        conn.client_text()
    );
    let received = String::from_utf8_lossy(&conn.client_received);
    assert!(received.contains(std::str::from_utf8(STRIPPED_REPLY).unwrap()));
    assert!(
        !conn.sent_command("USER") && !conn.sent_command("PASS"),
        "curl logged in after the stripped AUTH: {:?}",
        conn.client_text()
    );
    assert!(!proxy.any_contains(server.password.as_bytes()));
    assert!(
        !server.saw_command("AUTH"),
        "the proxy forwarded AUTH:\n{}",
        server.log()
    );
    assert!(!server.saw_command("USER"));

    // Positive control: curl --ssl (TLS if possible) falls back to plain and sends
    // USER/PASS, which the proxy records and vsftpd refuses (force_local_logins_ssl).
    let proxy = RawProxy::stripping(server.port);
    let url = format!("ftp://127.0.0.1:{}/", proxy.port());
    let userpw = format!("{}:{}", server.user, server.password);
    let out = curl(&["--ssl", "-u", &userpw, &url]);
    let conn = &proxy.connections()[0];
    assert!(
        conn.sent_command("USER"),
        "{:?} / {}",
        conn.client_text(),
        stderr(&out)
    );
    assert!(
        !out.status.success(),
        "vsftpd let a plain login in:\n{}",
        stderr(&out)
    );
    assert!(server.saw_command("USER"));
}
