//! What the mount sends to the server, counted by a proxy on the control connection: a `find`
//! over a tree lists each directory once and sends no per-file SIZE/MDTM; a second `find`
//! inside the listing TTL sends nothing at all.

use std::collections::HashSet;
use std::time::Duration;

use super::harness::Mount;
use crate::common::proxy::CountingProxy;
use crate::common::servers::{FtpServer, ServerKind};

const DIRS: usize = 6;
const FILES: usize = 12;

fn tree(srv: &FtpServer) -> usize {
    let mut dirs = 1; // the root
    for d in 0..DIRS {
        dirs += 2;
        for f in 0..FILES {
            srv.write_file(format!("dir {d}/file {f}.txt"), vec![b'x'; f]);
            srv.write_file(format!("dir {d}/inner/{f}"), "y");
        }
    }
    dirs
}

fn find_lists_each_dir_once(kind: ServerKind) {
    let srv = FtpServer::start(kind);
    let dirs = tree(&srv);
    let proxy = CountingProxy::start(srv.port);
    let url = format!("ftp://{}@127.0.0.1:{}/", srv.user, proxy.port());
    let m = Mount::new(&url, &srv.password, &["dir_cache_ttl=60"]);
    // Counted from before the mount: the root's listing at mount (which checks that the
    // mount works) stays in the cache and serves find's first readdir.
    let out = m.sh("find . -ls | wc -l");
    assert_eq!(out.trim(), (dirs + DIRS * FILES * 2).to_string());
    let cmds = proxy.commands();
    let listings: Vec<&String> = cmds
        .iter()
        .filter(|c| {
            let v = c.split(' ').next().unwrap_or("").to_ascii_uppercase();
            v == "MLSD" || v == "LIST"
        })
        .collect();
    assert_eq!(
        listings.len(),
        dirs,
        "one listing per directory, got:\n{cmds:#?}"
    );
    // Each directory exactly once: MLSD names it; LIST follows a CWD that names it.
    let named: Vec<String> = if listings
        .iter()
        .all(|c| c.to_ascii_uppercase().starts_with("MLSD"))
    {
        listings.iter().map(|c| c[5..].to_string()).collect()
    } else {
        cmds.iter()
            .filter(|c| c.to_ascii_uppercase().starts_with("CWD "))
            .map(|c| c[4..].to_string())
            .collect()
    };
    let unique: HashSet<&String> = named.iter().collect();
    assert_eq!(unique.len(), dirs, "directories listed: {named:#?}");
    for verb in ["SIZE", "MDTM", "MLST", "STAT"] {
        assert_eq!(proxy.count(verb), 0, "{verb} sent:\n{cmds:#?}");
    }

    proxy.settle(Duration::from_millis(300));
    proxy.reset();
    let again = m.sh("find . -ls | wc -l");
    assert_eq!(again, out);
    assert!(
        proxy.commands().is_empty(),
        "second find sent: {:#?}",
        proxy.commands()
    );
}

/// A sequential read of a large file is one RETR (read-ahead and the kernel's parallel reads
/// never restart it); reading it again unchanged is served from the page cache: no command.
fn reads_cost_one_retr_and_rereads_nothing(kind: ServerKind) {
    let srv = FtpServer::start(kind);
    let data = super::harness::pattern(24 << 20, 3);
    srv.write_file("big.bin", &data);
    let proxy = CountingProxy::start(srv.port);
    let url = format!("ftp://{}@127.0.0.1:{}/", srv.user, proxy.port());
    let m = Mount::new(&url, &srv.password, &["dir_cache_ttl=60"]);
    m.sh("ls -l big.bin >/dev/null");
    proxy.settle(Duration::from_millis(300));
    proxy.reset();
    assert_eq!(std::fs::read(m.p("big.bin")).expect("read"), data);
    let cmds = proxy.commands();
    assert_eq!(proxy.count("RETR"), 1, "{cmds:#?}");
    assert_eq!(proxy.count("REST"), 0, "{cmds:#?}");
    assert_eq!(proxy.count("ABOR"), 0, "{cmds:#?}");
    proxy.settle(Duration::from_millis(300));
    proxy.reset();
    // The kernel may have reclaimed a few of the cached pages meanwhile (seen under load):
    // those, and only those, are read again, each with REST at its offset. Without
    // FOPEN_KEEP_CACHE the open would drop every page and the file would be fetched anew
    // from offset 0 (a RETR without REST).
    let resident = resident_bytes(&m.p("big.bin"));
    assert_eq!(std::fs::read(m.p("big.bin")).expect("read"), data);
    let cmds = proxy.commands();
    let full_downloads = cmds
        .iter()
        .enumerate()
        .filter(|(i, c)| c.starts_with("RETR") && (*i == 0 || !cmds[i - 1].starts_with("REST")))
        .count();
    assert_eq!(
        full_downloads, 0,
        "re-read downloaded the file again: {cmds:#?}"
    );
    if resident == data.len() as u64 {
        assert!(
            cmds.is_empty(),
            "re-read of a fully cached file sent: {cmds:#?}"
        );
    } else {
        eprintln!(
            "note: {} of {} bytes were still cached before the re-read; it sent {} commands",
            resident,
            data.len(),
            cmds.len()
        );
    }
}

/// Bytes of `path` in the page cache (`fincore`, util-linux).
fn resident_bytes(path: &std::path::Path) -> u64 {
    let out = std::process::Command::new("fincore")
        .args(["--bytes", "--noheadings", "--output", "RES"])
        .arg(path)
        .output()
        .expect("fincore (util-linux)");
    assert!(out.status.success(), "fincore: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("fincore prints a number")
}

#[test]
fn reads_cost_one_retr_and_rereads_nothing_pure_ftpd() {
    reads_cost_one_retr_and_rereads_nothing(ServerKind::PureFtpd);
}

#[test]
fn reads_cost_one_retr_and_rereads_nothing_vsftpd() {
    reads_cost_one_retr_and_rereads_nothing(ServerKind::Vsftpd);
}

#[test]
fn find_lists_each_dir_once_mlsd_pyftpdlib() {
    find_lists_each_dir_once(ServerKind::Pyftpdlib);
}

#[test]
fn find_lists_each_dir_once_list_vsftpd() {
    find_lists_each_dir_once(ServerKind::Vsftpd);
}
