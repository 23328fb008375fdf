//! Long names and paths: a name over 255 bytes is ENAMETOOLONG before anything is sent; a
//! command line longer than the server takes (`-o max_command_line`, 4094 bytes by default)
//! is refused locally with ENAMETOOLONG; a "File name too long" reply is ENAMETOOLONG.

use std::time::Duration;

use super::{assert_within, errno, mkdir_at, server_saw, still_works, timed, timeout_opt, walk};
use crate::common::badftp::{BadFtp, Fault, Rule};
use crate::mount::harness::Mount;

#[test]
fn names_over_255_bytes_are_enametoolong_before_anything_is_sent() {
    let srv = super::server();
    srv.put_file("/f", "x");
    let m = Mount::of_bad(&srv, &[&timeout_opt()]);
    let long = "L".repeat(256);
    let checks: Vec<(&str, std::io::Result<()>)> = vec![
        ("mkdir", std::fs::create_dir(m.p(&long))),
        ("create", std::fs::write(m.p(&long), "x")),
        ("stat", std::fs::metadata(m.p(&long)).map(drop)),
        ("rename to", std::fs::rename(m.p("f"), m.p(&long))),
        ("symlink", std::os::unix::fs::symlink("f", m.p(&long))),
    ];
    for (what, r) in checks {
        assert_eq!(errno(what, r), libc::ENAMETOOLONG, "{what}");
    }
    assert!(!server_saw(&srv, &long[..200]), "{:?}", srv.commands());
    // 255 bytes is a name like any other.
    let ok = "k".repeat(255);
    std::fs::create_dir(m.p(&ok)).expect("a 255-byte name");
    assert!(srv.is_dir(format!("/{ok}")));
    still_works(&m, &srv);
}

fn deep(srv: &BadFtp, levels: usize) -> Vec<String> {
    let comps: Vec<String> = (0..levels)
        .map(|i| format!("{}", i % 10).repeat(250))
        .collect();
    srv.mkdir(format!("/{}", comps.join("/")));
    comps
}

#[test]
fn a_command_line_over_max_command_line_is_refused_locally() {
    let srv = super::server();
    let comps = deep(&srv, 2);
    let m = Mount::of_bad(&srv, &[&timeout_opt(), "max_command_line=700"]);
    let base = m.path.clone();
    let name = "n".repeat(250);
    let (r, took) = timed("mkdir of a ~760-byte command", move || {
        let dir = walk(&base, &comps)?;
        mkdir_at(&dir, &name)
    });
    assert_eq!(errno("mkdir over max_command_line", r), libc::ENAMETOOLONG);
    assert_within("refused locally", took, Duration::from_secs(2), &m);
    assert!(
        srv.longest_line() <= 700,
        "longest line {}",
        srv.longest_line()
    );
    still_works(&m, &srv);
}

#[test]
fn a_path_beyond_4094_bytes_is_refused_locally_by_default() {
    let srv = super::server();
    let comps = deep(&srv, 17);
    let m = Mount::of_bad(&srv, &[&timeout_opt()]);
    let base = m.path.clone();
    let (r, took) = timed("walking 17 levels of 250-byte names", move || {
        let dir = walk(&base, &comps)?;
        mkdir_at(&dir, "x")
    });
    assert_eq!(errno("a path beyond 4094 bytes", r), libc::ENAMETOOLONG);
    assert_within("refused locally", took, Duration::from_secs(3), &m);
    assert!(
        srv.longest_line() <= 4094,
        "longest line {}",
        srv.longest_line()
    );
    still_works(&m, &srv);
}

#[test]
fn a_file_name_too_long_reply_is_enametoolong() {
    let srv = super::server();
    let m = Mount::of_bad(&srv, &[&timeout_opt()]);
    srv.add(Rule::on("MKD", Fault::Reply(550, "x: File name too long".into())).nth(1));
    let p = m.p("x");
    let (r, _) = timed("mkdir answered 'File name too long'", move || {
        std::fs::create_dir(p)
    });
    assert_eq!(
        errno("mkdir answered 'File name too long'", r),
        libc::ENAMETOOLONG
    );
    still_works(&m, &srv);
}

/// The default `max_command_line` (4094 bytes) fits what real servers take: a command line
/// of exactly that length gets one reply (a refusal: the path does not exist) and the
/// connection stays usable on pure-ftpd, vsftpd and proftpd; 200 bytes more and pure-ftpd
/// answers 421 and closes, vsftpd 500 and closes, proftpd not at all. pyftpdlib takes 2048
/// bytes: a longer line gets "500 Command too long." and then a second reply for the rest
/// of the line (ftpfs drops such a connection; `-o max_command_line=2048` avoids it).
#[test]
fn the_default_command_line_limit_fits_real_servers() {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpStream;

    use crate::common::servers::{FtpServer, ServerKind};

    /// Logs in, sends `MKD` with a line of `len` bytes, then NOOP; returns the replies' first
    /// lines (an empty string for no reply within 3 s or a closed connection).
    fn probe(srv: &FtpServer, len: usize) -> (String, String) {
        let s = TcpStream::connect(("127.0.0.1", srv.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
        let mut r = BufReader::new(s.try_clone().expect("clone"));
        let mut w = s;
        let mut reply = || {
            loop {
                let mut l = String::new();
                match r.read_line(&mut l) {
                    Ok(n) if n > 0 => {
                        if l.len() > 3 && l.as_bytes()[3] == b' ' {
                            return l.trim_end().to_string();
                        }
                    }
                    _ => return String::new(),
                }
            }
        };
        assert!(reply().starts_with("220"));
        write!(w, "USER {}\r\n", srv.user).expect("user");
        assert!(reply().starts_with("331"));
        write!(w, "PASS {}\r\n", srv.password).expect("pass");
        assert!(reply().starts_with("230"));
        let mut line = String::from("MKD /");
        while line.len() < len {
            line.push_str(&"d".repeat(200.min(len - line.len())));
            if line.len() < len {
                line.push('/');
            }
        }
        assert_eq!(line.len(), len);
        let mkd = match w.write_all(format!("{line}\r\n").as_bytes()) {
            Ok(()) => reply(),
            Err(_) => String::new(),
        };
        let noop = match w.write_all(b"NOOP\r\n") {
            Ok(()) => reply(),
            Err(_) => String::new(),
        };
        (mkd, noop)
    }

    for kind in [
        ServerKind::PureFtpd,
        ServerKind::Vsftpd,
        ServerKind::Proftpd,
        ServerKind::Pyftpdlib,
    ] {
        let srv = FtpServer::start(kind);
        let fits = if kind == ServerKind::Pyftpdlib {
            2048
        } else {
            4094
        };
        let (mkd, noop) = probe(&srv, fits);
        let clip = |s: &str| s.chars().take(60).collect::<String>();
        eprintln!(
            "{kind:?}, {fits} bytes: MKD → {:?}, NOOP → {noop:?}",
            clip(&mkd)
        );
        assert!(
            mkd.starts_with("550") || mkd.starts_with('2'),
            "{kind:?}: a {fits}-byte line: {mkd:?}"
        );
        assert!(noop.starts_with("200"), "{kind:?}: NOOP after it: {noop:?}");
        let (mkd, noop) = probe(&srv, 4300);
        eprintln!(
            "{kind:?}, 4300 bytes: MKD → {:?}, NOOP → {noop:?}",
            clip(&mkd)
        );
        assert!(
            !(mkd.starts_with("550") && noop.starts_with("200")),
            "{kind:?} takes 4300-byte lines: the test's premise changed"
        );
    }
}

/// pyftpdlib answers a command line over 2048 bytes twice ("500 Command too long.", then a
/// 500 for the rest of the line): ftpfs says ENAMETOOLONG and drops the connection, so the
/// extra reply never reaches another request.
#[test]
fn a_command_too_long_for_pyftpdlib_is_enametoolong_and_costs_nothing_more() {
    use crate::common::servers::{FtpServer, ServerKind};
    let srv = FtpServer::start(ServerKind::Pyftpdlib);
    let comps: Vec<String> = (0..9).map(|i| format!("{i}").repeat(240)).collect();
    let mut p = srv.root.clone();
    for c in &comps {
        p.push(c);
    }
    std::fs::create_dir_all(&p).expect("deep tree");
    srv.write_file("f.txt", "ok\n");
    let m = Mount::of(&srv, &["timeout=5", "connections=1"]);
    let base = m.path.clone();
    let (r, took) = timed("mkdir with a ~2200-byte MKD on pyftpdlib", move || {
        let dir = walk(&base, &comps)?;
        mkdir_at(&dir, &"n".repeat(200))
    });
    assert_eq!(errno("mkdir on pyftpdlib", r), libc::ENAMETOOLONG);
    assert_within("mkdir on pyftpdlib", took, Duration::from_secs(3), &m);
    for _ in 0..3 {
        assert_eq!(m.sh("cat f.txt"), "ok\n");
        m.sh("mkdir -p short && rmdir short");
    }
}
