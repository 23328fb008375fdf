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
