//! Names through a real mount of `badftp` (whose names are bytes): Latin-1 and Shift-JIS names
//! used as bytes (no option) and converted (`-o encoding`), names the kernel cannot take left
//! out next to good ones, and names that cannot be created refused before anything is sent.

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::harness::{Mount, sh_in};
use crate::common::badftp::{BadFtp, Features, ListKind};

/// The names in a directory of the mount, as bytes.
pub fn names_in(dir: &Path) -> BTreeSet<Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").file_name().as_bytes().to_vec())
        .collect()
}

fn set(names: &[&[u8]]) -> BTreeSet<Vec<u8>> {
    names.iter().map(|n| n.to_vec()).collect()
}

/// Lines of the server's command log that hold `part` (bytes).
fn commands_with(srv: &BadFtp, part: &[u8]) -> Vec<String> {
    srv.log()
        .iter()
        .filter(|e| e.line.windows(part.len()).any(|w| w == part))
        .map(|e| e.text())
        .collect()
}

/// Latin-1 `café.txt` and Shift-JIS `日本.txt` without `-o encoding`: shown as their bytes,
/// and every everyday command works on them, byte-exact on the server.
fn legacy_names_as_bytes(features: Features) {
    let srv = BadFtp::start();
    srv.set_features(features);
    srv.put_file(b"/caf\xe9.txt", "latin1\n");
    srv.put_file(b"/\x93\xfa\x96\x7b.txt", "sjis\n");
    let m = Mount::of_bad(&srv, &["timeout=5"]);
    assert_eq!(
        names_in(&m.path),
        set(&[b"caf\xe9.txt", b"\x93\xfa\x96\x7b.txt"])
    );
    // sh's printf makes the bytes: \351 is e9, \223\372\226\173 is 93 fa 96 7b.
    let out = m.sh(
        "l=$(printf 'caf\\351.txt'); j=$(printf '\\223\\372\\226\\173.txt'); \
         cat \"$l\" \"$j\"",
    );
    assert_eq!(out, "latin1\nsjis\n");
    let local = tempfile::tempdir().expect("tempdir");
    let l = local.path().display();
    m.sh(&format!(
        "cp \"$(printf 'caf\\351.txt')\" {l}/out && cp {l}/out \"$(printf 'na\\357ve')\""
    ));
    assert_eq!(
        std::fs::read(local.path().join("out")).unwrap(),
        b"latin1\n"
    );
    assert_eq!(srv.file(b"/na\xefve").expect("cp in"), b"latin1\n");
    m.sh("mv \"$(printf 'na\\357ve')\" \"$(printf '\\223\\214\\213\\236')\"");
    assert!(!srv.exists(b"/na\xefve"));
    assert_eq!(srv.file(b"/\x93\x8c\x8b\x9e").expect("mv"), b"latin1\n");
    m.sh("touch \"$(printf '\\374ber')\"");
    assert_eq!(srv.file(b"/\xfcber").expect("touch"), b"");
    m.sh(
        "rm \"$(printf '\\374ber')\" \"$(printf '\\223\\214\\213\\236')\" \
         \"$(printf 'caf\\351.txt')\"",
    );
    assert_eq!(srv.names(b"/"), vec![b"\x93\xfa\x96\x7b.txt".to_vec()]);
    assert_eq!(names_in(&m.path), set(&[b"\x93\xfa\x96\x7b.txt"]));
    assert!(
        srv.count("OPTS") >= 1,
        "OPTS UTF8 ON is sent without -o encoding"
    );
    assert!(m.unmount().success());
}

#[test]
fn names_latin1_and_shift_jis_as_bytes_with_mlsd() {
    legacy_names_as_bytes(Features::default());
}

#[test]
fn names_latin1_and_shift_jis_as_bytes_with_list() {
    legacy_names_as_bytes(Features::vsftpd());
}

/// `-o encoding=latin1`: shown in UTF-8, sent back in Latin-1; a name Latin-1 cannot write
/// is EINVAL and nothing goes on the wire.
fn latin1_converted(features: Features) {
    let srv = BadFtp::start();
    srv.set_features(features);
    srv.put_file(b"/caf\xe9.txt", "latin1\n");
    srv.put_file(b"/d\xfcr/x", "in a dir\n");
    let m = Mount::of_bad(&srv, &["timeout=5", "encoding=latin1"]);
    assert_eq!(
        names_in(&m.path),
        set(&["café.txt".as_bytes(), "dür".as_bytes()])
    );
    assert_eq!(m.sh("cat café.txt dür/x"), "latin1\nin a dir\n");
    let local = tempfile::tempdir().expect("tempdir");
    let l = local.path().display();
    m.sh(&format!("cp café.txt {l}/out && cp {l}/out dür/naïve"));
    assert_eq!(srv.file(b"/d\xfcr/na\xefve").expect("cp in"), b"latin1\n");
    m.sh("mv dür/naïve Ärger && touch über");
    assert_eq!(srv.file(b"/\xc4rger").expect("mv"), b"latin1\n");
    assert_eq!(srv.file(b"/\xfcber").expect("touch"), b"");
    m.sh("rm über Ärger");
    assert!(!srv.exists(b"/\xfcber") && !srv.exists(b"/\xc4rger"));
    // Not in Latin-1: refused before anything is sent.
    srv.clear_log();
    for script in ["touch 日本.txt", "mkdir 日本"] {
        let out = sh_in(&m.path, script);
        assert!(!out.status.success(), "{script} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Invalid argument"), "{script}: {err}");
    }
    // (mv reports rename's EINVAL as "a subdirectory of itself": ask rename(2) itself.)
    let e = std::fs::rename(m.p("café.txt"), m.p("日本.txt")).expect_err("rename");
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}");
    let sent = commands_with(&srv, "日本".as_bytes());
    assert!(sent.is_empty(), "sent {sent:?}");
    assert!(srv.exists(b"/caf\xe9.txt"));
    assert_eq!(srv.count("OPTS"), 0, "no OPTS UTF8 ON with -o encoding");
    assert!(
        m.log()
            .contains("offers UTF8, but -o encoding=windows-1252")
            || !features.utf8
    );
    assert!(m.unmount().success());
}

#[test]
fn names_latin1_converted_with_mlsd() {
    latin1_converted(Features::default());
}

#[test]
fn names_latin1_converted_with_list() {
    latin1_converted(Features::vsftpd());
}

#[test]
fn names_shift_jis_converted() {
    let srv = BadFtp::start();
    srv.put_file(b"/\x93\xfa\x96\x7b.txt", "sjis\n");
    // Not Shift-JIS (0xa0): shown and used as its bytes.
    srv.put_file(b"/odd\xa0", "odd\n");
    let m = Mount::of_bad(&srv, &["timeout=5", "encoding=shift_jis"]);
    assert_eq!(names_in(&m.path), set(&["日本.txt".as_bytes(), b"odd\xa0"]));
    assert_eq!(m.sh("cat 日本.txt \"$(printf 'odd\\240')\""), "sjis\nodd\n");
    m.sh("cp 日本.txt 東京.txt && mv 東京.txt 大阪 && touch 名古屋");
    assert_eq!(srv.file(b"/\x91\xe5\x8d\xe3").expect("cp + mv"), b"sjis\n");
    assert_eq!(srv.file(b"/\x96\xbc\x8c\xc3\x89\xae").expect("touch"), b"");
    m.sh("rm 大阪 名古屋 \"$(printf 'odd\\240')\"");
    assert_eq!(srv.names(b"/"), vec![b"\x93\xfa\x96\x7b.txt".to_vec()]);
    let out = sh_in(&m.path, "touch café");
    assert!(!out.status.success(), "é is not in Shift_JIS");
    assert!(commands_with(&srv, b"caf").is_empty());
    assert!(m.unmount().success());
}

/// Entries whose names the kernel cannot take are left out, the good ones listed, with one
/// warning for the directory; creating such names fails before anything is sent.
#[test]
fn names_unsafe_entries_are_left_out_and_cannot_be_made() {
    let srv = BadFtp::start();
    let long = "l".repeat(300);
    srv.put_file(b"/bad/good one", "1");
    srv.put_file(b"/bad/also-good", "22");
    let mut mlsd = b"type=cdir; /bad\r\n".to_vec();
    for name in [
        "good one".as_bytes(),
        b"a/b",
        b"x\0y",
        b"cr\rin",
        long.as_bytes(),
        b"also-good",
        b"..",
        b"",
    ] {
        mlsd.extend_from_slice(b"type=file;size=1;modify=20240305120000; ");
        mlsd.extend_from_slice(name);
        mlsd.extend_from_slice(b"\r\n");
    }
    srv.set_listing(ListKind::Mlsd, "/bad", &mlsd);
    let m = Mount::of_bad(&srv, &["timeout=5"]);
    assert_eq!(m.sh("ls bad"), "also-good\ngood one\n");
    assert_eq!(m.sh("cat 'bad/good one'"), "1");
    m.sh("ls bad >/dev/null; ls -l bad >/dev/null");
    let log = m.log();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("left out"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning for the directory:\n{log}");
    assert!(warnings[0].contains("4 entries"), "{}", warnings[0]);

    srv.clear_log();
    let too_long = m.p(&format!("bad/{}", "n".repeat(256)));
    let e = std::fs::File::create(&too_long).expect_err("256 bytes is too long");
    assert_eq!(e.raw_os_error(), Some(libc::ENAMETOOLONG), "{e}");
    let e = std::fs::create_dir(&too_long).expect_err("mkdir");
    assert_eq!(e.raw_os_error(), Some(libc::ENAMETOOLONG), "{e}");
    for bad in ["bad/line\nbreak", "bad/cr\rname"] {
        let e = std::fs::File::create(m.p(bad)).expect_err(bad);
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{bad:?}: {e}");
    }
    let e = std::fs::rename(m.p("bad/good one"), m.p("bad/new\nline")).expect_err("rename");
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}");
    let sent: Vec<String> = srv
        .commands()
        .into_iter()
        .filter(|c| !matches!(c.split(' ').next(), Some("MLSD" | "EPSV" | "PASV" | "NOOP")))
        .collect();
    assert!(
        sent.is_empty(),
        "nothing but listings may be sent: {sent:?}"
    );
    // 255 bytes is fine.
    std::fs::write(m.p(&format!("bad/{}", "k".repeat(255))), "ok").expect("255 bytes");
    assert!(srv.exists(format!("/bad/{}", "k".repeat(255))));
    assert!(m.unmount().success());
}
