//! FTPS through real ftpfs mounts, on every TLS server variant of `common::servers`
//! (vsftpd with `require_ssl_reuse`, pure-ftpd `-Y 2`/`-Y 3`, proftpd with mod_tls, explicit
//! and implicit), with the test PKI's CA given as `tls_ca`.
//!
//! What is shown: the file-tool suite (ls, cat, cp in and out, mkdir, mv, rm, append,
//! random write, empty files, `head -c` of a large file = ABOR) on each; no data connection
//! that failed to resume (server logs); runs of uploads on TLS 1.3; parallel readers and
//! writers on proftpd (which binds data connections to their own control connection's
//! session); every `data_mode`. Certificate checks, the password's safety and the
//! downgrade attack are in `tests/tls/refusals.rs`.

use std::fs;
use std::time::Duration;

use crate::common::servers::{FtpServer, ServerKind, ServerOptions, TlsSetup};
use crate::mount::harness::{Mount, pattern, sha256, wait_for};

/// Mounts `srv` over TLS, trusting the test CA.
pub fn mount_tls(srv: &FtpServer, opts: &[&str]) -> Mount {
    let ca = format!("tls_ca={}", srv.ca_file().display());
    let mut all = vec![ca.as_str()];
    all.extend_from_slice(opts);
    Mount::of(srv, &all)
}

/// The server's count of logins so far (vsftpd and proftpd log every command).
fn logins(srv: &FtpServer) -> usize {
    srv.command_lines("USER").len()
}

/// The file-tool suite on one TLS server.
fn file_tools(kind: ServerKind, setup: TlsSetup) {
    let srv = FtpServer::start_tls(kind, setup);
    srv.write_file("hello.txt", "hello\n");
    let big = pattern(8 << 20, 3);
    srv.write_file("big.bin", &big);
    let m = mount_tls(&srv, &[]);
    let local = tempfile::tempdir().expect("tempdir");
    let l = local.path();

    let ls = m.sh("ls -l");
    assert!(ls.contains("hello.txt") && ls.contains("big.bin"), "{ls}");
    assert_eq!(m.sh("cat hello.txt"), "hello\n");

    // cp in and out
    let data = pattern(3 * 1024 * 1024 + 5, 9);
    fs::write(l.join("in.bin"), &data).expect("write");
    m.sh(&format!("cp {}/in.bin in.bin", l.display()));
    assert_eq!(sha256(&srv.root.join("in.bin")), sha256(&l.join("in.bin")));
    m.sh(&format!("cp big.bin {}/out.bin", l.display()));
    assert!(fs::read(l.join("out.bin")).expect("out") == big);

    // mkdir, mv, rm
    m.sh("mkdir -p d/e && mv in.bin d/e/moved.bin && rm hello.txt");
    assert!(srv.root.join("d/e/moved.bin").is_file());
    assert!(!srv.root.join("hello.txt").exists());

    // append (APPE, or the staged copy where the server refuses it) and a random write
    m.sh("printf 'one\\n' > app.txt && printf 'two\\n' >> app.txt");
    assert_eq!(m.sh("cat app.txt"), "one\ntwo\n");
    m.sh("printf 'XY' | dd of=d/e/moved.bin bs=1 seek=1000 conv=notrunc status=none");
    let mut want = data.clone();
    want[1000..1002].copy_from_slice(b"XY");
    assert!(wait_for(Duration::from_secs(5), || {
        fs::read(srv.root.join("d/e/moved.bin")).is_ok_and(|got| got == want)
    }));

    // empty files: a TLS data connection that carries nothing
    m.sh("touch empty && : > empty2 && truncate -s 0 app.txt");
    assert_eq!(
        fs::metadata(srv.root.join("empty")).expect("empty").len(),
        0
    );
    assert_eq!(
        fs::metadata(srv.root.join("app.txt")).expect("app").len(),
        0
    );
    assert_eq!(m.sh("cat empty empty2 | wc -c").trim(), "0");

    // head -c of a large file: the download is aborted (ABOR over TLS; proftpd answers
    // 226 before 426) and the connection stays usable: no new login afterwards
    if kind != ServerKind::PureFtpd {
        // wait until the logins made ahead at mount have ended
        assert!(wait_for(Duration::from_secs(10), || {
            let n = logins(&srv);
            std::thread::sleep(Duration::from_millis(300));
            n == logins(&srv)
        }));
    }
    for _ in 0..3 {
        assert_eq!(m.sh("head -c 16384 big.bin | wc -c").trim(), "16384");
        assert_eq!(m.sh("ls d/e"), "moved.bin\n");
    }
    if kind != ServerKind::PureFtpd {
        let before = logins(&srv);
        for _ in 0..3 {
            assert_eq!(m.sh("head -c 100000 big.bin | wc -c").trim(), "100000");
        }
        assert_eq!(
            m.sh("cat d/e/moved.bin | wc -c").trim(),
            data.len().to_string()
        );
        // (proftpd's TLS 1.3 sessions may also be retired because its uploads bring no new
        // session tickets; that is the TLS policy's doing, not the ABOR's)
        if !m.log().contains("used up the TLS 1.3 session tickets") {
            assert_eq!(
                logins(&srv),
                before,
                "aborted downloads cost new logins:\n{}",
                m.log()
            );
        }
        assert!(
            !m.log().contains("ABOR answered unexpectedly"),
            "{}",
            m.log()
        );
    }

    if kind != ServerKind::PureFtpd {
        assert!(
            srv.tls_reuse_failures().is_empty(),
            "data connections that did not resume:\n{:?}",
            srv.tls_reuse_failures()
        );
    }
    assert!(
        !m.log().lines().any(|l| l.contains(" ERROR ")),
        "{}",
        m.log()
    );
}

#[test]
fn file_tools_vsftpd_explicit_tls13() {
    file_tools(ServerKind::Vsftpd, TlsSetup::explicit());
}

#[test]
fn file_tools_vsftpd_explicit_tls12() {
    file_tools(ServerKind::Vsftpd, TlsSetup::explicit().with_max_tls12());
}

#[test]
fn file_tools_vsftpd_implicit() {
    file_tools(ServerKind::Vsftpd, TlsSetup::implicit());
}

#[test]
fn file_tools_pure_ftpd_tls_login_only() {
    file_tools(
        ServerKind::PureFtpd,
        TlsSetup::explicit().with_pure_level(2),
    );
}

#[test]
fn file_tools_pure_ftpd_tls_data_too() {
    file_tools(
        ServerKind::PureFtpd,
        TlsSetup::explicit().with_pure_level(3),
    );
}

#[test]
fn file_tools_proftpd_explicit() {
    file_tools(ServerKind::Proftpd, TlsSetup::explicit());
}

#[test]
fn file_tools_proftpd_implicit() {
    file_tools(ServerKind::Proftpd, TlsSetup::implicit());
}

/// New files one after another on TLS 1.3: each STOR's data connection must resume its
/// control connection's session although rustls uses each ticket once.
fn upload_streak(kind: ServerKind) -> Mount {
    let srv = FtpServer::start_tls(kind, TlsSetup::explicit());
    // one connection: every upload resumes the same control connection's session
    let m = mount_tls(&srv, &["connections=2"]);
    for i in 0..12 {
        m.sh(&format!("printf 'file {i}\\n' > up{i}.txt"));
    }
    for i in 0..12 {
        assert_eq!(
            fs::read_to_string(srv.root.join(format!("up{i}.txt"))).expect("server copy"),
            format!("file {i}\n")
        );
        assert_eq!(m.sh(&format!("cat up{i}.txt")), format!("file {i}\n"));
    }
    assert_eq!(m.sh("ls | wc -l").trim(), "12");
    assert!(
        srv.tls_reuse_failures().is_empty(),
        "{:?}\n{}",
        srv.tls_reuse_failures(),
        m.log()
    );
    m
}

#[test]
fn twelve_uploads_in_a_row_on_vsftpd_tls13_all_resume() {
    let m = upload_streak(ServerKind::Vsftpd);
    // vsftpd sends a new ticket after every resumed handshake, which the upload's close
    // collects: no need to fall back to TLS 1.2
    assert!(!m.log().contains("using TLS 1.2"), "{}", m.log());
}

#[test]
fn twelve_uploads_in_a_row_on_proftpd_tls13() {
    let m = upload_streak(ServerKind::Proftpd);
    // proftpd 1.3.8 sends no ticket after an upload: the third upload of a connection finds
    // none left; ftpfs retires that connection, retries on another and learns, once, to
    // log in new connections with TLS 1.2
    let n = m.log().matches("using TLS 1.2 for new connections").count();
    assert_eq!(n, 1, "the fallback was logged {n} times:\n{}", m.log());
}

#[test]
fn eight_parallel_readers_and_writers_on_proftpd() {
    let srv = FtpServer::start_tls(ServerKind::Proftpd, TlsSetup::explicit());
    for i in 0..8 {
        srv.write_file(format!("r{i}.bin"), pattern(2 << 20, i));
    }
    let m = mount_tls(&srv, &["connections=12"]);
    let local = tempfile::tempdir().expect("tempdir");
    for i in 0..8 {
        fs::write(
            local.path().join(format!("w{i}.bin")),
            pattern(1 << 20, 100 + i),
        )
        .expect("write");
    }
    let script = format!(
        "for i in 0 1 2 3 4 5 6 7; do (cat r$i.bin > {d}/got$i.bin) & (cp {d}/w$i.bin w$i.bin) & done; wait",
        d = local.path().display()
    );
    m.sh(&script);
    for i in 0..8u64 {
        assert!(
            fs::read(local.path().join(format!("got{i}.bin"))).expect("read")
                == pattern(2 << 20, i),
            "reader {i}"
        );
        assert!(
            fs::read(srv.root.join(format!("w{i}.bin"))).expect("written")
                == pattern(1 << 20, 100 + i),
            "writer {i}"
        );
    }
    assert!(
        srv.proftpd_reuse_failures().is_empty(),
        "{:?}",
        srv.proftpd_reuse_failures()
    );
}

#[test]
fn every_data_mode_over_tls() {
    let srv = FtpServer::start_with(
        ServerKind::Vsftpd,
        ServerOptions {
            tls: Some(TlsSetup::explicit()),
            ..Default::default()
        },
    );
    srv.write_file("r.txt", "read me\n");
    for mode in ["epsv", "pasv", "eprt", "port"] {
        let opt = format!("data_mode={mode}");
        let m = mount_tls(&srv, &[&opt]);
        assert_eq!(m.sh("cat r.txt"), "read me\n", "{mode}");
        m.sh(&format!("printf '{mode}\\n' > w-{mode}.txt"));
        assert_eq!(
            fs::read_to_string(srv.root.join(format!("w-{mode}.txt"))).expect("written"),
            format!("{mode}\n")
        );
        assert_eq!(m.sh(&format!("cat w-{mode}.txt")), format!("{mode}\n"));
    }
    assert!(srv.tls_reuse_failures().is_empty());
}

#[test]
fn fstab_style_options_through_the_mount_helper() {
    use crate::mount::harness::{BIN, fusermount_u, is_mounted};
    use std::process::{Command, Stdio};
    let srv = FtpServer::start_tls(
        ServerKind::Vsftpd,
        TlsSetup::implicit().with_cert(crate::common::tls::CertKind::SelfSigned),
    );
    srv.write_file("f.txt", "via mount.ftpfs over TLS\n");
    let dir = tempfile::tempdir().expect("tmp");
    let helper = dir.path().join("mount.ftpfs");
    std::os::unix::fs::symlink(BIN, &helper).expect("symlink");
    let pw = dir.path().join("pw");
    fs::write(&pw, format!("{}\n", srv.password)).expect("pw");
    let mnt = dir.path().join("m");
    fs::create_dir(&mnt).expect("mkdir");
    // as an fstab line would give them: mount(8)'s own options, the password file and the
    // pin of the self-signed certificate
    let opts = format!(
        "rw,noauto,_netdev,nosuid,nodev,password_file={},tls_fingerprint={}",
        pw.display(),
        srv.cert().pin()
    );
    let out = Command::new(&helper)
        .arg(srv.url())
        .arg(&mnt)
        .args(["-o", &opts])
        .env_remove("FTPFS_PASSWORD")
        .env("FTPFS_SYSLOG_SOCKET", dir.path().join("no-syslog"))
        .stdin(Stdio::null())
        .output()
        .expect("helper");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(is_mounted(&mnt));
    assert_eq!(
        fs::read_to_string(mnt.join("f.txt")).expect("read"),
        "via mount.ftpfs over TLS\n"
    );
    assert!(fusermount_u(&mnt), "fusermount3 -u kept failing");
}
