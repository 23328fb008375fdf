//! Several O_APPEND writers of one file stream in turns (`append.rs`): on the fake remote, two
//! and three appenders interleaving writes, flushes and closes in several orders upload with
//! APPE only (no staged copy, no download), land in write order and show the right size; a
//! non-append writer (or a write not at the end) stages them all without losing a byte; a
//! failed APPE is its own writer's error and holds up no other appender.

use std::sync::Mutex;
use std::time::SystemTime;

use super::shared_tests::{DEADLINE, close};
use super::tests::*;
use super::*;
use crate::remote::RemoteError;
use crate::remote::fake::FakeRemote;

const APPEND: i32 = libc::O_WRONLY | libc::O_APPEND;

/// One step of a scenario on handle number `.0`.
#[derive(Clone, Copy, Debug)]
enum Op {
    Write(usize, &'static [u8]),
    Flush(usize),
    Close(usize),
}

/// Appends `data` through `fh` where the kernel would (at the size shown), checking the size
/// and mtime shown after it.
fn append(fs: &Fs, ino: u64, fh: u64, data: &[u8]) -> FsResult<()> {
    let before = fs.getattr(ino)?;
    let t = SystemTime::now();
    assert_eq!(fs.write(fh, before.size, data)?, data.len());
    let after = fs.getattr(ino)?;
    assert_eq!(after.size, before.size + data.len() as u64, "size shown");
    assert!(after.mtime >= t, "mtime shown is the last write's");
    Ok(())
}

/// No staged copy exists and nothing was downloaded or uploaded whole.
fn assert_streamed(fs: &Fs, fake: &FakeRemote, stors: usize, what: &str) {
    assert!(lock(&fs.staged).is_empty(), "{what}: a staged copy exists");
    assert_eq!(fake.count("open_read"), 0, "{what}: a download");
    assert_eq!(fake.count("open_write"), stors, "{what}: a STOR");
}

/// Runs `ops` on `n` O_APPEND handles of `/f` (holding "log:"): the server ends with the
/// writes in order, through APPE only.
fn run(n: usize, ops: &[Op]) {
    let (fs, fake, ino) = with_file(b"log:");
    let fhs: Vec<u64> = (0..n).map(|_| fs.open(ino, APPEND).unwrap().0).collect();
    let mut want = b"log:".to_vec();
    let mut open = vec![true; n];
    for (i, op) in ops.iter().enumerate() {
        let what = format!("{ops:?} step {i}");
        match *op {
            Op::Write(k, data) => {
                append(&fs, ino, fhs[k], data).unwrap();
                want.extend_from_slice(data);
            }
            Op::Flush(k) => fs.flush(fhs[k]).unwrap(),
            Op::Close(k) => {
                close(&fs, fhs[k]).unwrap();
                open[k] = false;
            }
        }
        assert_streamed(&fs, &fake, 0, &what);
        assert_eq!(fs.getattr(ino).unwrap().size, want.len() as u64, "{what}");
    }
    for (k, _) in open.iter().enumerate().filter(|(_, o)| **o) {
        close(&fs, fhs[k]).unwrap();
    }
    assert_streamed(&fs, &fake, 0, &format!("{ops:?} at the end"));
    assert!(fake.count("open_append") >= 1);
    assert_eq!(fake.file("/f").unwrap(), want, "{ops:?}");
    assert_eq!(fs.getattr(ino).unwrap().size, want.len() as u64);
    assert!(lock(&fs.live).is_empty(), "a live entry is left");
}

#[test]
fn two_appenders_take_turns_with_appe() {
    use Op::*;
    run(
        2,
        &[
            Write(0, b"a1"),
            Write(1, b"b1"),
            Write(0, b"a2"),
            Close(0),
            Write(1, b"b2"),
        ],
    );
    run(
        2,
        &[
            Write(0, b"a1"),
            Write(0, b"a2"),
            Write(1, b"b1"),
            Close(1),
            Write(0, b"a3"),
        ],
    );
    run(
        2,
        &[
            Write(1, b"b1"),
            Flush(1),
            Write(0, b"a1"),
            Write(1, b"b2"),
            Flush(0),
        ],
    );
    run(2, &[Close(0), Write(1, b"b1"), Write(1, b"b2"), Close(1)]);
}

#[test]
fn three_appenders_take_turns_with_appe() {
    use Op::*;
    run(
        3,
        &[
            Write(0, b"a1"),
            Write(1, b"b1"),
            Write(2, b"c1"),
            Write(1, b"b2"),
            Close(1),
            Write(0, b"a2"),
            Write(2, b"c2"),
            Close(0),
            Write(2, b"c3"),
        ],
    );
    run(
        3,
        &[
            Write(2, b"c1"),
            Close(2),
            Write(0, b"a1"),
            Flush(0),
            Write(1, b"b1"),
            Write(0, b"a2"),
            Close(1),
            Write(0, b"a3"),
            Close(0),
        ],
    );
    run(
        3,
        &[
            Write(0, b"a1"),
            Write(1, b"b1"),
            Close(0),
            Write(2, b"c1"),
            Close(2),
            Write(1, b"b2"),
        ],
    );
}

/// A new file created with O_APPEND (a daemon's log) streams its STOR, then takes turns with
/// `echo >>` appenders.
#[test]
fn created_appender_takes_turns_with_a_later_one() {
    let (fs, fake, _) = setup();
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND;
    let (attr, daemon) = fs.create(R, "log", 0o644, flags).unwrap();
    append(&fs, attr.ino, daemon, b"start\n").unwrap();
    let echo = fs.open(attr.ino, APPEND).unwrap().0;
    append(&fs, attr.ino, echo, b"x\n").unwrap();
    close(&fs, echo).unwrap();
    append(&fs, attr.ino, daemon, b"tick\n").unwrap();
    let echo = fs.open(attr.ino, APPEND).unwrap().0;
    append(&fs, attr.ino, echo, b"y\n").unwrap();
    close(&fs, echo).unwrap();
    assert_eq!(fake.file("/log").unwrap(), b"start\nx\ntick\ny\n");
    append(&fs, attr.ino, daemon, b"end\n").unwrap();
    close(&fs, daemon).unwrap();
    assert_streamed(&fs, &fake, 1, "log");
    assert_eq!(fake.file("/log").unwrap(), b"start\nx\ntick\ny\nend\n");
    assert_eq!(fs.getattr(attr.ino).unwrap().size, 19);
}

/// Appenders in threads (each write made where the kernel would, one at a time as the kernel
/// orders O_APPEND writes of an inode; flushes and closes racing) finish within the deadline
/// and keep every write.
#[test]
fn racing_appenders_keep_every_write() {
    let (fs, fake, ino) = with_file(b"");
    let kernel = Mutex::new(());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        for t in 0..3u8 {
            let (fs, tx, kernel) = (&fs, tx.clone(), &kernel);
            s.spawn(move || {
                let r = (0..40).try_for_each(|i| {
                    let fh = fs.open(ino, APPEND)?.0;
                    for _ in 0..3 {
                        let g = lock(kernel);
                        let size = fs.getattr(ino)?.size;
                        fs.write(fh, size, &[b'a' + t; 3])?;
                        drop(g);
                    }
                    if i % 2 == 0 {
                        fs.flush(fh)?;
                    }
                    close(fs, fh)
                });
                let _ = tx.send(r);
            });
        }
        drop(tx);
        for _ in 0..3 {
            rx.recv_timeout(DEADLINE * 6).expect("stuck").unwrap();
        }
    });
    assert_streamed(&fs, &fake, 0, "racing");
    let got = fake.file("/f").unwrap();
    assert_eq!(got.len(), 3 * 40 * 3 * 3);
    for t in 0..3u8 {
        let n = got.iter().filter(|&&b| b == b'a' + t).count();
        assert_eq!(n, 40 * 9, "writes of thread {t}");
    }
    assert!(got.chunks(3).all(|c| c.iter().all(|&b| b == c[0])));
    assert_eq!(fs.getattr(ino).unwrap().size, got.len() as u64);
}

// ---------------------------------------------------------------- falling back to staging

/// Appenders joined by a writer of another kind: all are staged, nothing is lost.
#[test]
fn a_non_append_writer_stages_the_appenders_and_loses_nothing() {
    for (k, flags) in [libc::O_WRONLY, libc::O_RDWR].into_iter().enumerate() {
        let (fs, fake, ino) = with_file(b"0123");
        let a = fs.open(ino, APPEND).unwrap().0;
        let b = fs.open(ino, APPEND).unwrap().0;
        append(&fs, ino, a, b"aa").unwrap();
        append(&fs, ino, b, b"bb").unwrap();
        let c = fs.open(ino, flags).unwrap().0;
        assert!(!lock(&fs.staged).is_empty(), "{k}: staged");
        fs.write(c, 0, b"C").unwrap();
        append(&fs, ino, a, b"AA").unwrap();
        close(&fs, c).unwrap();
        append(&fs, ino, b, b"BB").unwrap();
        close(&fs, a).unwrap();
        close(&fs, b).unwrap();
        assert_eq!(fake.file("/f").unwrap(), b"C123aabbAABB", "{k}");
        assert_eq!(fs.getattr(ino).unwrap().size, 12);
        assert!(lock(&fs.live).is_empty() && lock(&fs.staged).is_empty());
    }
}

/// A truncate, and an appender writing somewhere else than the end, stage the appenders too.
#[test]
fn truncate_or_a_write_not_at_the_end_stages_the_appenders() {
    let (fs, fake, ino) = with_file(b"0123");
    let a = fs.open(ino, APPEND).unwrap().0;
    let b = fs.open(ino, APPEND).unwrap().0;
    append(&fs, ino, a, b"aa").unwrap();
    append(&fs, ino, b, b"bb").unwrap();
    fs.setattr(ino, None, set(|s| s.size = Some(7))).unwrap();
    append(&fs, ino, a, b"AA").unwrap();
    close(&fs, a).unwrap();
    close(&fs, b).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"0123aabAA");

    let (fs, fake, ino) = with_file(b"0123");
    let a = fs.open(ino, APPEND).unwrap().0;
    let b = fs.open(ino, APPEND).unwrap().0;
    append(&fs, ino, a, b"aa").unwrap();
    append(&fs, ino, b, b"bb").unwrap();
    fs.write(a, 0, b"X").unwrap();
    assert!(!lock(&fs.staged).is_empty(), "staged");
    append(&fs, ino, b, b"BB").unwrap();
    close(&fs, a).unwrap();
    close(&fs, b).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"X123aabbBB");
}

/// An APPE the server refuses stages every appender (the write still succeeds).
#[test]
fn a_refused_appe_stages_the_appenders() {
    let (fs, fake, ino) = with_file(b"0123");
    let a = fs.open(ino, APPEND).unwrap().0;
    let b = fs.open(ino, APPEND).unwrap().0;
    append(&fs, ino, a, b"aa").unwrap();
    let refused = RemoteError::Unavailable("451 Append/Restart not permitted".into());
    fake.fail_next("open_append", refused);
    append(&fs, ino, b, b"bb").unwrap();
    append(&fs, ino, a, b"AA").unwrap();
    close(&fs, b).unwrap();
    close(&fs, a).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"0123aabbAA");
}

// ---------------------------------------------------------------- failed uploads

/// One appender's APPE fails when the next one's turn finishes it: the failure is that
/// writer's (its flush and close), the other goes on from what the server holds.
#[test]
fn a_failed_appe_is_its_writers_error_and_holds_up_no_one() {
    let (fs, fake, ino) = with_file(b"0123");
    let a = fs.open(ino, APPEND).unwrap().0;
    let b = fs.open(ino, APPEND).unwrap().0;
    let c = fs.open(ino, APPEND).unwrap().0;
    append(&fs, ino, a, b"aa").unwrap();
    fake.fail_next("finish", RemoteError::NoSpace("552 full".into()));
    // B's turn ends A's APPE (refused): B's write lands where the server's file ends, not
    // at the size the kernel knew (which counted A's lost bytes): no zeros.
    assert_eq!(fs.write(b, 6, b"bb").unwrap(), 2);
    assert_eq!(
        fs.getattr(ino).unwrap().size,
        6,
        "the failed bytes are not shown"
    );
    append(&fs, ino, c, b"cc").unwrap();
    close(&fs, c).unwrap();
    assert_eq!(errno(fs.flush(a)), libc::ENOSPC, "A's flush");
    append(&fs, ino, b, b"BB").unwrap();
    close(&fs, b).unwrap();
    assert_eq!(errno(close(&fs, a)), libc::ENOSPC, "A's close");
    assert_streamed(&fs, &fake, 0, "after the failure");
    assert_eq!(fake.file("/f").unwrap(), b"0123bbccBB");
    assert_eq!(fs.getattr(ino).unwrap().size, 10);
}

/// The data connection of one appender fails mid-write: its write reports it, the turn
/// passes on.
#[test]
fn a_failed_append_write_passes_the_turn_on() {
    let (fs, fake, ino) = with_file(b"0123");
    let a = fs.open(ino, APPEND).unwrap().0;
    let b = fs.open(ino, APPEND).unwrap().0;
    append(&fs, ino, a, b"aa").unwrap();
    // The fake's server keeps what arrived before the failure ("aa"), as a real one may.
    fake.fail_next("write", RemoteError::Connection("connection reset".into()));
    assert_eq!(errno(fs.write(a, 6, b"AA")), libc::EIO);
    append(&fs, ino, b, b"bb").unwrap();
    close(&fs, b).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"0123aabb");
    assert_eq!(
        fs.getattr(ino).unwrap().size,
        8,
        "the server's size is shown"
    );
    assert_eq!(errno(close(&fs, a)), libc::EIO);
    assert_eq!(fake.file("/f").unwrap(), b"0123aabb");
    assert_streamed(&fs, &fake, 0, "after the failure");
}

/// A's APPE fails (552) while a non-append writer stages the appenders: B's copy starts from
/// what the server holds (listed afresh), not from the size that counted A's lost bytes, so
/// no zeros are uploaded past the server's end.
#[test]
fn a_failed_appe_while_staging_uploads_no_zeros() {
    let (fs, fake, ino) = with_file(b"0123");
    let a = fs.open(ino, APPEND).unwrap().0;
    let b = fs.open(ino, APPEND).unwrap().0;
    append(&fs, ino, a, b"aa").unwrap();
    fake.fail_next("finish", RemoteError::NoSpace("552 full".into()));
    let c = fs.open(ino, libc::O_WRONLY).unwrap().0;
    assert_eq!(
        fs.getattr(ino).unwrap().size,
        4,
        "A's lost bytes are not shown"
    );
    fs.write(c, 0, b"C").unwrap();
    close(&fs, c).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"C123");
    let size = fs.getattr(ino).unwrap().size;
    assert_eq!(fs.write(b, size, b"bb").unwrap(), 2);
    close(&fs, b).unwrap();
    assert_eq!(errno(close(&fs, a)), libc::ENOSPC, "A's close");
    assert_eq!(fake.file("/f").unwrap(), b"C123bb");
    assert_eq!(fs.getattr(ino).unwrap().size, 6);
}

/// A lone appender's upload fails mid-stream (the server kept part of it), then it closes:
/// the next user learns the server's size (the cached listing is not trusted), so a later
/// appender and a later writer lose nothing.
#[test]
fn a_failed_lone_append_leaves_no_stale_size() {
    let (fs, fake, ino) = with_file(b"0123");
    let a = fs.open(ino, APPEND).unwrap().0;
    append(&fs, ino, a, b"aa").unwrap();
    fake.fail_next("write", RemoteError::Connection("connection reset".into()));
    assert_eq!(errno(fs.write(a, 6, b"AA")), libc::EIO);
    assert_eq!(errno(close(&fs, a)), libc::EIO);
    assert_eq!(fake.file("/f").unwrap(), b"0123aa");
    assert_eq!(fs.getattr(ino).unwrap().size, 6, "the server's size");
    let b = fs.open(ino, APPEND).unwrap().0;
    append(&fs, ino, b, b"bb").unwrap();
    close(&fs, b).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"0123aabb");
    assert_eq!(fs.getattr(ino).unwrap().size, 8);
    let c = fs.open(ino, libc::O_WRONLY).unwrap().0;
    fs.write(c, 0, b"X").unwrap();
    close(&fs, c).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"X123aabb");
}

/// ftruncate through one appender while another one's APPE runs and `appending` is already
/// cleared (the window in which a stager has cleared it but not yet staged the handles):
/// all of them are staged first (the one uploading first), so no appended byte is dropped.
#[test]
fn ftruncate_while_another_appe_runs_stages_them_all() {
    let (fs, fake, ino) = with_file(b"0123");
    let a = fs.open(ino, APPEND).unwrap().0;
    let b = fs.open(ino, APPEND).unwrap().0;
    append(&fs, ino, a, b"aa").unwrap();
    append(&fs, ino, b, b"bb").unwrap();
    if let Some(l) = lock(&fs.live).get_mut("/f") {
        l.appending = false;
    }
    fs.setattr(ino, Some(a), set(|s| s.size = Some(7))).unwrap();
    close(&fs, a).unwrap();
    close(&fs, b).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"0123aab");
    assert_eq!(fs.getattr(ino).unwrap().size, 7);
}

/// After a failed upload, a listing without the file (removed on the server) leaves its
/// size 0, not the size before the failure, and the file no longer unsure.
#[test]
fn relist_of_a_missing_file_takes_size_zero() {
    use crate::remote::Remote;
    let (fs, fake, ino) = with_file(b"0123");
    let a = fs.open(ino, APPEND).unwrap().0;
    append(&fs, ino, a, b"aa").unwrap();
    let w = {
        let mut live = lock(&fs.live);
        let l = live.get_mut("/f").unwrap();
        l.appe = None;
        l.unsure = true;
        handles::Writer { id: l.id, fh: 0 }
    };
    fake.delete("/f").unwrap();
    fs.relist("/f", w).unwrap();
    let live = lock(&fs.live);
    let l = live.get("/f").unwrap();
    assert_eq!((l.size, l.unsure), (0, false));
}

/// Like `a_failed_appe_while_staging_uploads_no_zeros` with a lone appender: the new writer's
/// copy starts from what the server holds.
#[test]
fn a_lone_failed_appe_while_staging_uploads_no_zeros() {
    for flags in [libc::O_WRONLY, libc::O_RDWR] {
        let (fs, fake, ino) = with_file(b"0123");
        let a = fs.open(ino, APPEND).unwrap().0;
        append(&fs, ino, a, b"aa").unwrap();
        fake.fail_next("finish", RemoteError::NoSpace("552 full".into()));
        let c = fs.open(ino, flags).unwrap().0;
        assert_eq!(
            fs.getattr(ino).unwrap().size,
            4,
            "A's lost bytes are not shown"
        );
        fs.write(c, 0, b"C").unwrap();
        close(&fs, c).unwrap();
        assert_eq!(fake.file("/f").unwrap(), b"C123");
        assert_eq!(errno(close(&fs, a)), libc::ENOSPC, "A's close");
        assert_eq!(fs.getattr(ino).unwrap().size, 4);
    }
}

/// As `a_failed_appe_while_staging_uploads_no_zeros`, the listing after A's failure failing
/// too: the opener gets the error (nothing is staged at a guessed size) and a later one,
/// with the server listing again, stages B from the server's size.
#[test]
fn a_failed_listing_after_a_failed_appe_stages_nothing() {
    let (fs, fake, ino) = with_file(b"0123");
    let a = fs.open(ino, APPEND).unwrap().0;
    let b = fs.open(ino, APPEND).unwrap().0;
    append(&fs, ino, a, b"aa").unwrap();
    fake.fail_next("finish", RemoteError::NoSpace("552 full".into()));
    fake.fail_next("list", RemoteError::Connection("connection reset".into()));
    assert_eq!(errno(fs.open(ino, libc::O_WRONLY)), libc::EIO);
    assert!(lock(&fs.staged).is_empty(), "nothing staged");
    let c = fs.open(ino, libc::O_WRONLY).unwrap().0;
    fs.write(c, 0, b"C").unwrap();
    close(&fs, c).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"C123");
    let size = fs.getattr(ino).unwrap().size;
    assert_eq!(fs.write(b, size, b"bb").unwrap(), 2);
    close(&fs, b).unwrap();
    assert_eq!(errno(close(&fs, a)), libc::ENOSPC, "A's close");
    assert_eq!(fake.file("/f").unwrap(), b"C123bb");
}
