//! A real ftpfs mount of our own bad server with no faults (`common::badftp`): the everyday
//! commands work on it, with MLSD and with LIST, so tests of misbehaviour start from a server
//! that ftpfs otherwise gets along with.

use std::path::Path;

use super::harness::{Mount, pattern, sha256};
use crate::common::badftp::{BadFtp, Features};

fn everyday_commands(features: Features) {
    let srv = BadFtp::start();
    srv.set_features(features);
    srv.put_file("/docs/readme.txt", "hello from badftp\n");
    let big = pattern(300_000, 11);
    srv.put_file("/data.bin", &big);
    let m = Mount::of_bad(&srv, &["timeout=5"]);
    let ls = m.sh("ls -l");
    assert!(ls.contains(" 300000 ") && ls.contains("data.bin"), "{ls}");
    assert!(
        ls.lines()
            .any(|l| l.starts_with('d') && l.ends_with(" docs")),
        "{ls}"
    );
    assert_eq!(m.sh("cat docs/readme.txt"), "hello from badftp\n");

    let local = tempfile::tempdir().expect("tempdir");
    let l = local.path().display();
    m.sh(&format!("cp data.bin {l}/out.bin"));
    assert_eq!(std::fs::read(local.path().join("out.bin")).unwrap(), big);
    let upload = pattern(200_000, 12);
    std::fs::write(local.path().join("up.bin"), &upload).unwrap();
    m.sh(&format!("cp {l}/up.bin in.bin"));
    assert_eq!(srv.file("/in.bin").expect("uploaded"), upload);
    assert_eq!(sha256(&m.p("in.bin")), sha256(&local.path().join("up.bin")));

    m.sh("mkdir newdir");
    assert!(srv.is_dir("/newdir"));
    m.sh("mv in.bin newdir/moved.bin");
    assert!(!srv.exists("/in.bin"));
    assert_eq!(srv.file("/newdir/moved.bin").expect("moved"), upload);
    m.sh("touch newdir/empty");
    assert_eq!(srv.file("/newdir/empty").expect("touched"), b"");
    m.sh("rm newdir/moved.bin newdir/empty && rmdir newdir");
    assert!(!srv.exists("/newdir"));
    assert_eq!(m.sh("ls"), "data.bin\ndocs\n");
    assert!(!Path::new(&m.p("newdir")).exists());
    assert!(srv.count("STOR") >= 1 && srv.count("RNFR") == 1);
    let listing = if features.mlsd { "MLSD" } else { "LIST" };
    assert!(srv.count(listing) >= 1, "{:?}", srv.commands());
    let status = m.unmount();
    assert!(status.success(), "ftpfs exited with {status}");
}

#[test]
fn badftp_mount_everyday_commands_with_mlsd() {
    everyday_commands(Features::default());
}

#[test]
fn badftp_mount_everyday_commands_with_list_only() {
    everyday_commands(Features::vsftpd());
}

/// Reads at an offset (REST), reads that stop early (ABOR), parallel reads over several
/// connections, in each data-connection mode.
#[test]
fn badftp_mount_offsets_early_closes_and_every_data_mode() {
    let big = pattern(4 << 20, 13);
    for mode in ["pasv", "eprt", "port"] {
        let srv = BadFtp::start();
        srv.put_file("/big.bin", &big);
        let opt = format!("data_mode={mode}");
        let m = Mount::of_bad(&srv, &[&opt, "connections=4", "timeout=5"]);
        let tail =
            m.sh("dd if=big.bin bs=4096 skip=1000 count=2 status=none | od -An -tx1 | head -1");
        let want: String = big[4096 * 1000..4096 * 1000 + 16]
            .iter()
            .map(|b| format!(" {b:02x}"))
            .collect();
        assert_eq!(tail.trim_end(), want, "{mode}");
        assert_eq!(m.sh("head -c 5 big.bin | od -An -tx1").trim_end(), {
            let w: String = big[..5].iter().map(|b| format!(" {b:02x}")).collect();
            w
        });
        m.sh("for i in 1 2 3 4 5 6; do cat big.bin > /dev/null & done; wait");
        assert_eq!(sha256(&m.p("big.bin")), {
            let d = tempfile::tempdir().unwrap();
            std::fs::write(d.path().join("b"), &big).unwrap();
            sha256(&d.path().join("b"))
        });
        let status = m.unmount();
        assert!(status.success(), "{mode}: ftpfs exited with {status}");
        let verb = mode.to_uppercase();
        eprintln!(
            "{mode}: {} {verb}, {} REST, {} ABOR, {} RETR, peak {} connections",
            srv.count(&verb),
            srv.count("REST"),
            srv.count("ABOR"),
            srv.count("RETR"),
            srv.peak_connections()
        );
        assert!(srv.count(&verb) >= 1, "{mode}: {:?}", srv.commands());
        assert!(srv.count("REST") >= 1, "{mode}: {:?}", srv.commands());
    }
}
