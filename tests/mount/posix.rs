//! POSIX details through a real mount, on pure-ftpd and vsftpd (pjdfstest's findings, see
//! docs/pjdfstest.md): the mode given at creation is on the server, a directory's times
//! change at once with its entries, fstat of an unlinked open file, EFBIG, directory link
//! counts, and utimensat on directories a server cannot set.

use std::os::unix::fs::MetadataExt;

use std::time::Duration;

use super::harness::{Mount, sh_in, wait_for};
use crate::common::servers::{FtpServer, ServerKind};

fn posix_details(kind: ServerKind) {
    let srv = FtpServer::start(kind);
    let m = Mount::of(&srv, &[]);
    // Modes given at creation, with the caller's umask, end up on the server.
    m.sh("mkdir -m 700 private && mkdir -m 751 open && umask 077 && : > secret && umask 022 && : > plain");
    let mode = |rel: &str| {
        std::fs::metadata(srv.root.join(rel))
            .expect("on server")
            .mode()
            & 0o7777
    };
    assert_eq!((mode("private"), mode("open")), (0o700, 0o751), "{kind}");
    // `: > f` closes a descriptor that wrote nothing: its (empty) upload ends at the kernel's
    // RELEASE, which trails close(2), and the mode is given right after.
    let modes_ok = wait_for(Duration::from_secs(5), || {
        (mode("secret"), mode("plain")) == (0o600, 0o644)
    });
    assert!(modes_ok, "{kind}: {:o} {:o}", mode("secret"), mode("plain"));
    assert_eq!(m.sh("stat -c %a private secret"), "700\n600\n");

    // A directory's mtime and ctime change at once when an entry is added or removed, and its
    // link count follows its subdirectories.
    let times = |rel: &str| m.sh(&format!("stat -c '%.9Y %.9Z %h' {rel}"));
    let t0 = times("open");
    m.sh("touch open/f");
    let t1 = times("open");
    assert_ne!(t0, t1, "{kind}: create in a directory");
    m.sh("mkdir open/a open/b");
    let t2 = times("open");
    assert!(t2.ends_with(" 4\n"), "{kind}: nlink: {t2}");
    m.sh("rm open/f && rmdir open/b");
    let t3 = times("open");
    assert!(t3 != t2 && t3.ends_with(" 3\n"), "{kind}: {t2} -> {t3}");

    // fstat of an open file after unlink answers nlink 0; I/O goes on.
    let out = m.sh(
        "python3 -c \"import os; fd = os.open('gone', os.O_RDWR | os.O_CREAT, 0o644); \
         os.unlink('gone'); print(os.fstat(fd).st_nlink); os.write(fd, b'still'); \
         print(os.pread(fd, 5, 0).decode())\"",
    );
    assert_eq!(out, "0\nstill\n", "{kind}");

    // A size beyond what the staged copy's filesystem can hold (ext4: 16 TiB) is EFBIG.
    let out = sh_in(&m.path, "echo x > big && truncate -s 1P big");
    assert!(!out.status.success(), "{kind}: truncate -s 1P succeeded");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("File too large"), "{kind}: {err}");

    // utimensat on a directory: set where the server can, else succeeds unchanged (once in
    // the log); on a file it is strict everywhere these servers allow it.
    m.sh("touch -d '2020-02-02 02:02:02 UTC' open plain");
    assert_eq!(
        std::fs::metadata(srv.root.join("plain"))
            .expect("plain")
            .mtime(),
        1_580_608_922,
        "{kind}: {}",
        m.log()
            .lines()
            .filter(|l| l.contains("MDTM") || l.contains("plain") || l.contains("SETATTR"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let dir_mtime = std::fs::metadata(srv.root.join("open"))
        .expect("dir")
        .mtime();
    match kind {
        ServerKind::Vsftpd => {
            assert_ne!(dir_mtime, 1_580_608_922);
            m.sh("touch -d '2020-02-02 02:02:02 UTC' private");
            let log = m.log();
            assert_eq!(
                log.matches("cannot set the times of directories").count(),
                1,
                "{log}"
            );
        }
        _ => assert_eq!(dir_mtime, 1_580_608_922, "{kind}"),
    }
    let status = m.unmount();
    assert!(status.success(), "{kind}: ftpfs exited with {status}");
}

#[test]
fn posix_details_on_pure_ftpd() {
    posix_details(ServerKind::PureFtpd);
}

#[test]
fn posix_details_on_vsftpd() {
    posix_details(ServerKind::Vsftpd);
}
