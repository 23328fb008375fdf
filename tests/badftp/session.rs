//! The bad server without faults, driven by the raw client: login (pipelined too), every
//! command ftpfs sends, the three ways of making data connections, byte-exact names,
//! verbatim listings, features switched off, and the command log.

use std::io::Read;
use std::time::Duration;

use super::Client;
use crate::common::badftp::{BadFtp, Features, ListKind};

#[test]
fn badftp_pipelined_login_replies_in_order_and_hides_the_password() {
    let srv = BadFtp::start();
    let mut c = Client::connect(srv.port);
    assert_eq!(c.reply().code, 220);
    c.send_raw(b"USER bad\r\nPASS bad-pw\r\nTYPE I\r\nOPTS UTF8 ON\r\nPWD\r\n");
    let codes: Vec<u32> = (0..5).map(|_| c.reply().code).collect();
    assert_eq!(codes, [331, 230, 200, 200, 257]);
    let mut bad = Client::connect(srv.port);
    bad.reply();
    bad.cmd("USER bad");
    assert_eq!(bad.cmd("PASS wrong").code, 530);
    assert_eq!(bad.cmd("PWD").code, 530, "nothing works before a login");
    let log = srv.commands();
    assert!(log.contains(&"PASS ****".to_string()), "{log:?}");
    assert!(
        !log.iter()
            .any(|l| l.contains("bad-pw") || l.contains("wrong"))
    );
    assert_eq!(srv.connections(), 2);
    assert_eq!(srv.log()[0].conn, 1);
    assert!(srv.log().iter().any(|e| e.conn == 2));
    assert_eq!(srv.count("pass"), 2);
}

#[test]
fn badftp_serves_every_command_ftpfs_sends() {
    let srv = BadFtp::start();
    srv.put_file("/pub/readme.txt", "hello world\n");
    let mut c = Client::login(&srv);
    let feat = c.cmd("FEAT");
    assert_eq!(feat.code, 211);
    let feat: Vec<String> = feat
        .lines
        .iter()
        .map(|l| String::from_utf8_lossy(l).trim().to_string())
        .collect();
    for f in ["EPSV", "MDTM", "MFMT", "REST STREAM", "SIZE", "UTF8"] {
        assert!(feat.contains(&f.to_string()), "{f} in {feat:?}");
    }
    assert!(feat.iter().any(|l| l.starts_with("MLST ")));
    assert_eq!(c.cmd("SYST").code, 215);
    assert_eq!(c.cmd("TYPE I").code, 200);
    assert_eq!(c.cmd("PWD").last(), "257 \"/\" is the current directory");
    assert_eq!(c.cmd("MKD /work").code, 257);
    assert_eq!(c.cmd("MKD /work").code, 550, "exists");
    assert_eq!(c.cmd("CWD work").code, 250);
    assert_eq!(
        c.cmd("PWD").last(),
        "257 \"/work\" is the current directory"
    );
    assert_eq!(c.cmd("CWD /nope").code, 550);
    c.upload("STOR f.txt", b"0123456789");
    assert_eq!(srv.file("/work/f.txt").unwrap(), b"0123456789");
    c.upload("APPE f.txt", b"abc");
    assert_eq!(srv.file("/work/f.txt").unwrap(), b"0123456789abc");
    assert_eq!(c.cmd("SIZE f.txt").last(), "213 13");
    assert_eq!(c.cmd("SIZE /work").code, 550);
    assert_eq!(c.cmd("MFMT 20240305120000 f.txt").code, 213);
    assert_eq!(c.cmd("MDTM f.txt").last(), "213 20240305120000");
    assert_eq!(srv.mtime("/work/f.txt"), Some(1_709_640_000));
    assert_eq!(
        c.cmd("MDTM 20230101000000 f.txt").code,
        213,
        "vsftpd's set form"
    );
    assert_eq!(c.cmd("MDTM f.txt").last(), "213 20230101000000");
    assert_eq!(c.cmd("SITE CHMOD 600 f.txt").code, 200);
    assert_eq!(srv.mode("/work/f.txt"), Some(0o600));
    assert_eq!(c.cmd("SITE UTIME 20230101000000 f.txt").code, 500);

    let list = String::from_utf8(c.fetch("LIST -a")).unwrap();
    assert!(
        list.starts_with("-rw-------    1 ftp      ftp                13 Jan  1  2023 f.txt\r\n"),
        "{list:?}"
    );
    let mlsd = String::from_utf8(c.fetch("MLSD /work")).unwrap();
    assert_eq!(
        mlsd,
        "type=file;size=13;modify=20230101000000;UNIX.mode=0600; f.txt\r\n"
    );
    assert_eq!(c.fetch("NLST"), b"f.txt\r\n");
    let root = String::from_utf8(c.fetch("LIST /")).unwrap();
    assert!(
        root.contains(" pub\r\n") && root.starts_with('d'),
        "{root:?}"
    );
    let mlst = c.cmd("MLST f.txt");
    assert_eq!(mlst.code, 250);
    assert_eq!(mlst.lines.len(), 3);

    assert_eq!(c.fetch("RETR /pub/readme.txt"), b"hello world\n");
    assert_eq!(c.cmd("REST 6").code, 350);
    assert_eq!(c.fetch("RETR ../pub/readme.txt"), b"world\n");
    assert_eq!(
        c.fetch("RETR /pub/readme.txt"),
        b"hello world\n",
        "REST is used up"
    );
    assert_eq!(c.cmd("RETR /pub/none").code, 550);

    assert_eq!(c.cmd("RNFR f.txt").code, 350);
    assert_eq!(c.cmd("RNTO g.txt").code, 250);
    assert_eq!(c.cmd("RNTO h.txt").code, 503);
    assert_eq!(srv.names("/work"), vec![b"g.txt".to_vec()]);
    assert_eq!(c.cmd("RMD /work").code, 550, "not empty");
    assert_eq!(c.cmd("DELE g.txt").code, 250);
    assert_eq!(c.cmd("DELE g.txt").code, 550);
    assert_eq!(c.cmd("CDUP").code, 250);
    assert_eq!(c.cmd("RMD work").code, 250);
    assert!(!srv.exists("/work"));
    assert_eq!(c.cmd("ABOR").code, 225);
    assert_eq!(c.cmd("NOOP").code, 200);
    assert_eq!(c.cmd("XYZZY").code, 500);
    assert_eq!(c.cmd("QUIT").code, 221);
    assert!(c.closed());
    assert!(srv.count("RETR") >= 4 && srv.count("LIST") == 2);
}

#[test]
fn badftp_pasv_eprt_and_port_data_connections() {
    let srv = BadFtp::start();
    srv.put_file("/f", "data!");
    let mut c = Client::login(&srv);
    // PASV.
    let mut d = c.passive(true);
    assert_eq!(c.cmd("RETR /f").code, 150);
    let mut got = Vec::new();
    d.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"data!");
    assert_eq!(c.reply().code, 226);
    // EPRT and PORT: the server connects to us.
    for port_cmd in [false, true] {
        let l = c.active(port_cmd);
        c.send("RETR /f");
        let (mut d, _) = l.accept().expect("the server connects");
        assert_eq!(c.reply().code, 150);
        let mut got = Vec::new();
        d.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"data!");
        assert_eq!(c.reply().code, 226);
    }
    assert_eq!(c.cmd("EPRT |1|10.1.2.3|2000|").code, 500, "loopback only");
    assert_eq!(c.cmd("PORT 10,1,2,3,7,208").code, 500);
    // A transfer without any data connection set up.
    assert_eq!(c.cmd("RETR /f").code, 425);
}

#[test]
fn badftp_names_are_bytes_and_listings_can_be_verbatim() {
    let srv = BadFtp::start();
    let latin1 = b"caf\xe9.txt".to_vec();
    let sjis = b"\x83\x65\x83\x58\x83\x67.txt".to_vec(); // テスト in Shift-JIS
    srv.put_file([b"/odd/".as_slice(), &latin1].concat(), "latin-1 body");
    let list = [
        b"01-02-24  03:04PM       <DIR>          sub\r\n".as_slice(),
        b"01-02-24  03:04PM                  12 caf\xe9.txt\r\n",
        b"this line parses as nothing at all\n",
    ]
    .concat();
    srv.set_listing(ListKind::List, "/odd", &list);
    srv.set_listing(
        ListKind::Mlsd,
        "/odd",
        b"type=file;size=3; a/b\r\ntype=file; ..\r\n",
    );
    srv.set_listing(ListKind::Nlst, "/odd", b"\x83\x65\x83\x58\x83\x67.txt\r\n");
    let mut c = Client::login(&srv);
    assert_eq!(c.cmd("CWD /odd").code, 250);
    assert_eq!(
        c.fetch("LIST -a"),
        list,
        "byte-exact, whatever the tree holds"
    );
    assert_eq!(c.fetch("LIST"), list);
    assert_eq!(
        c.fetch("MLSD /odd"),
        b"type=file;size=3; a/b\r\ntype=file; ..\r\n"
    );
    assert_eq!(c.fetch("NLST"), b"\x83\x65\x83\x58\x83\x67.txt\r\n");
    // Names in commands are bytes too.
    assert_eq!(
        c.fetch([b"RETR ".as_slice(), &latin1].concat()),
        b"latin-1 body"
    );
    assert_eq!(
        c.cmd([b"SIZE ".as_slice(), &latin1].concat()).last(),
        "213 12"
    );
    assert_eq!(
        c.cmd(b"SIZE caf\xc3\xa9.txt").code,
        550,
        "UTF-8 is another name"
    );
    c.upload([b"STOR ".as_slice(), &sjis].concat(), b"sjis body");
    assert_eq!(
        srv.file([b"/odd/".as_slice(), &sjis].concat()).unwrap(),
        b"sjis body"
    );
    assert_eq!(
        srv.names("/odd"),
        vec![latin1.clone(), sjis.clone()],
        "byte order"
    );
    assert_eq!(c.cmd([b"RNFR ".as_slice(), &sjis].concat()).code, 350);
    assert_eq!(c.cmd(b"RNTO \xe9t\xe9").code, 250);
    assert_eq!(srv.file(b"/odd/\xe9t\xe9").unwrap(), b"sjis body");
    // Back to the tree's own listing, with the raw names.
    srv.clear_listing(ListKind::Nlst, "/odd");
    assert_eq!(c.fetch("NLST"), b"caf\xe9.txt\r\n\xe9t\xe9\r\n");
    // The log keeps the raw bytes.
    assert!(srv.log().iter().any(|e| e.line == b"RNTO \xe9t\xe9"));
}

#[test]
fn badftp_features_switched_off_make_their_commands_unknown() {
    let srv = BadFtp::start();
    srv.put_file("/f", "x");
    srv.set_features(Features::vsftpd());
    let mut c = Client::login(&srv);
    let feat = c.cmd("FEAT");
    assert!(
        !feat
            .lines
            .iter()
            .any(|l| l.starts_with(b" MLST") || l == b" MFMT")
    );
    assert!(feat.lines.iter().any(|l| l == b" EPSV"));
    assert_eq!(c.cmd("MLSD /").code, 500);
    assert_eq!(c.cmd("MFMT 20240305120000 /f").code, 500);
    srv.set_features(Features::none());
    assert_eq!(c.cmd("FEAT").last(), "211 No features");
    for cmd in ["SIZE /f", "MDTM /f", "EPSV", "EPRT |1|127.0.0.1|1|"] {
        assert_eq!(c.cmd(cmd).code, 500, "{cmd}");
    }
    assert_eq!(c.cmd("REST 1").code, 502);
    assert_eq!(c.cmd("OPTS UTF8 ON").code, 501);
    let mut d = c.passive(true);
    assert_eq!(c.cmd("RETR /f").code, 150, "PASV always works");
    let mut got = Vec::new();
    d.read_to_end(&mut got).unwrap();
    assert_eq!(c.reply().code, 226);
    assert_eq!(got, b"x");
    assert_eq!(srv.features(), Features::none());
    c.set_wait(Duration::from_secs(5));
}
