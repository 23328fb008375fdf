//! Coreutils-level behaviour through a real mount, on each real server: `ls -l`, `stat`,
//! `cat`, `cp` in and out (checksums equal), `mkdir -p`, `mv` (file and directory), `rm -r`,
//! `touch`, `find`, `du`, `tar -c` out of and `tar -x` into the mount, names with spaces and
//! UTF-8. What is checked on the server side is read from the server's own root directory.

use std::fs;
use std::path::Path;

use super::harness::{Mount, pattern, sh_in, sha256};
use crate::common::servers::{FtpServer, ServerKind};

const NAMES: &[&str] = &[
    "name with spaces.txt",
    "héllo wörld.txt",
    "日本語.txt",
    "a#b%c?.txt",
    "  two leading spaces.txt",
];

fn populate(srv: &FtpServer) {
    srv.write_file("hello.txt", "hello\n");
    srv.write_file("pre/sub/deep.txt", "deep\n");
    for (i, n) in NAMES.iter().enumerate() {
        srv.write_file(Path::new("pre").join(n), format!("content {i}\n"));
    }
}

fn scenario(kind: ServerKind) {
    let srv = FtpServer::start(kind);
    populate(&srv);
    let m = Mount::of(&srv, &[]);
    let local = tempfile::tempdir().expect("tempdir");
    let l = local.path();

    // ls -l, stat, cat
    let ls = m.sh("ls -l");
    assert!(
        ls.contains("hello.txt") && ls.contains("pre"),
        "ls -l:\n{ls}"
    );
    assert_eq!(m.sh("stat -c '%s %F' hello.txt"), "6 regular file\n");
    assert_eq!(m.sh("stat -c '%F' pre"), "directory\n");
    assert_eq!(m.sh("cat hello.txt"), "hello\n");
    assert_eq!(m.sh("cat pre/sub/deep.txt"), "deep\n");

    // names with spaces, UTF-8, #%? and leading spaces, pre-existing on the server
    let listed = m.sh("ls -1 pre");
    for (i, n) in NAMES.iter().enumerate() {
        assert!(
            listed.lines().any(|l| l == *n),
            "{n:?} not listed:\n{listed}"
        );
        let got = fs::read_to_string(m.p("pre").join(n)).expect("read through mount");
        assert_eq!(got, format!("content {i}\n"), "{n:?}");
    }

    // cp in and out, checksums equal
    let data = pattern(3 * 1024 * 1024 + 17, 1);
    fs::write(l.join("big.bin"), &data).expect("write");
    m.sh(&format!("cp {}/big.bin big.bin", l.display()));
    assert_eq!(
        sha256(&srv.root.join("big.bin")),
        sha256(&l.join("big.bin"))
    );
    m.sh(&format!("cp big.bin {}/out.bin", l.display()));
    assert_eq!(sha256(&l.join("out.bin")), sha256(&l.join("big.bin")));
    // within the mount (copy_file_range is refused; cp falls back to read + write)
    m.sh("cp big.bin copy.bin");
    assert_eq!(
        sha256(&srv.root.join("copy.bin")),
        sha256(&l.join("big.bin"))
    );
    assert!(!m.log().contains("Not Implemented"), "{}", m.log());
    m.sh("rm copy.bin");
    assert_eq!(m.sh("stat -c %s big.bin").trim(), data.len().to_string());

    // a file read (its pages cached) then rewritten through a write-only descriptor (which
    // bypasses the page cache) reads back new, also at the same size
    m.sh(&format!("cp {}/big.bin again.bin", l.display()));
    let before = fs::read(m.p("again.bin")).expect("read");
    let mut other = pattern(data.len(), 2);
    fs::write(l.join("other.bin"), &other).expect("write");
    m.sh(&format!("cp {}/other.bin again.bin", l.display()));
    assert!(fs::read(m.p("again.bin")).expect("reread") == other && before != other);
    other.truncate(1000);
    fs::write(m.p("again.bin"), &other).expect("write through mount");
    assert!(fs::read(m.p("again.bin")).expect("reread") == other);
    assert!(fs::read(srv.root.join("again.bin")).expect("srv") == other);
    m.sh("rm again.bin");

    // new names with spaces and UTF-8, created through the mount
    m.sh("echo one > 'new name.txt' && echo two > 'ünïcødé ß.txt'");
    assert_eq!(
        fs::read_to_string(srv.root.join("new name.txt")).expect("srv"),
        "one\n"
    );
    assert_eq!(
        fs::read_to_string(srv.root.join("ünïcødé ß.txt")).expect("srv"),
        "two\n"
    );

    // mkdir -p, mv file and dir
    m.sh("mkdir -p d1/d2/d3");
    assert!(srv.root.join("d1/d2/d3").is_dir());
    m.sh("mv big.bin d1/d2/moved.bin && mv d1 d9");
    assert!(srv.root.join("d9/d2/moved.bin").is_file());
    assert!(!srv.root.join("d1").exists() && !srv.root.join("big.bin").exists());
    assert_eq!(
        m.sh("cat d9/d2/moved.bin | sha256sum | cut -d' ' -f1")
            .trim(),
        sha256(&l.join("big.bin"))
    );
    // mv onto an existing file replaces it
    m.sh("echo replaced > 'new name.txt.tmp' && mv 'new name.txt.tmp' 'new name.txt'");
    assert_eq!(
        fs::read_to_string(srv.root.join("new name.txt")).expect("srv"),
        "replaced\n"
    );

    // touch creates an empty file
    m.sh("touch newfile");
    assert_eq!(
        fs::metadata(srv.root.join("newfile")).expect("srv").len(),
        0
    );

    // find and du
    let found = m.sh("find . -type f | sort");
    for want in [
        "./hello.txt",
        "./pre/sub/deep.txt",
        "./d9/d2/moved.bin",
        "./newfile",
    ] {
        assert!(
            found.lines().any(|x| x == want),
            "find lacks {want}:\n{found}"
        );
    }
    let du: u64 = m
        .sh("du -sk d9 | cut -f1")
        .trim()
        .parse()
        .expect("du number");
    assert!(du >= 3 * 1024, "du says {du} KiB for a 3 MiB file");

    // tar -c out of the mount: the archive holds what the server holds
    m.sh(&format!("tar -cf {}/out.tar pre", l.display()));
    fs::create_dir(l.join("untar")).expect("mkdir");
    let out = sh_in(&l.join("untar"), "tar -xf ../out.tar");
    assert!(out.status.success(), "untar: {out:?}");
    for n in NAMES {
        assert_eq!(
            fs::read(l.join("untar/pre").join(n)).expect("untarred"),
            fs::read(srv.root.join("pre").join(n)).expect("srv")
        );
    }

    // tar -x into the mount (mtimes not restored: -m, see SEMANTICS.md on servers without a
    // way to set directory mtimes), then compare trees
    fs::create_dir_all(l.join("src/a/b")).expect("mkdir");
    fs::write(l.join("src/a/b/f1"), pattern(100_000, 2)).expect("write");
    fs::write(l.join("src/a/f 2"), "two\n").expect("write");
    fs::write(l.join("src/top"), "").expect("write");
    let out = sh_in(l, "tar -cf in.tar -C src .");
    assert!(out.status.success());
    m.sh(&format!("mkdir x && tar -xmf {}/in.tar -C x", l.display()));
    let diff = sh_in(l, &format!("diff -r src {}/x", m.path.display()));
    assert!(diff.status.success(), "trees differ: {diff:?}");

    // rm -r
    m.sh("rm -r d9 x pre");
    for gone in ["d9", "x", "pre"] {
        assert!(!srv.root.join(gone).exists(), "{gone} still on the server");
    }
    assert!(
        m.sh("ls -A")
            .lines()
            .all(|x| !["d9", "x", "pre"].contains(&x))
    );

    let status = m.unmount();
    assert!(status.success(), "ftpfs exited with {status}");
}

#[test]
fn coreutils_on_pure_ftpd() {
    scenario(ServerKind::PureFtpd);
}

#[test]
fn coreutils_on_pyftpdlib() {
    scenario(ServerKind::Pyftpdlib);
}

#[test]
fn coreutils_on_vsftpd() {
    scenario(ServerKind::Vsftpd);
}

#[test]
fn coreutils_on_proftpd() {
    scenario(ServerKind::Proftpd);
}
