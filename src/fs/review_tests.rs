//! Regression tests for problems found in review of "one file streams through one handle at
//! most": acknowledged writes lost when staging fails, an `atomic_replace` upload bringing back
//! an unlinked file, a failed stream blocking the file's other writers, and the live size
//! disagreeing with the open copy.

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::shared_tests::{DEADLINE, at, close, gated_with};
use super::tests::*;
use super::*;
use crate::remote::RemoteError;
use crate::remote::fake::FakeRemote;

// ---------------------------------------------------------------- staging must not drop writes

/// A core whose staged copies may use 10 bytes, with a streaming writer of `/f` that wrote
/// "aaaa" at 0 and 20 bytes at 100 (acknowledged, waiting in the reorder buffer).
fn writer_with_pending(cfg: FsConfig) -> (Fs, FakeRemote, u64, u64) {
    let (fs, fake, _) = setup_with(cfg);
    let (attr, a) = fs.create(R, "f", 0o644, WRONLY_CREAT).unwrap();
    fs.write(a, 0, b"aaaa").unwrap();
    fs.write(a, 100, &[b'z'; 20]).unwrap();
    (fs, fake, attr.ino, a)
}

fn small_cache() -> FsConfig {
    FsConfig {
        cache_max_size: 10,
        ..test_config()
    }
}

#[test]
fn pending_writes_that_do_not_fit_the_copy_fail_the_writers_close() {
    let (fs, _fake, _, a) = writer_with_pending(small_cache());
    // Behind the position: the handle is staged, its pending 20 bytes pass the limit.
    assert_eq!(errno(fs.write(a, 0, b"b")), libc::ENOSPC);
    assert_eq!(errno(fs.flush(a)), libc::ENOSPC, "flush");
    assert_eq!(errno(fs.flush(a)), libc::ENOSPC, "every later flush");
    assert_eq!(errno(fs.release(a)), libc::ENOSPC, "release");
}

#[test]
fn pending_writes_lost_when_another_open_stages_fail_the_writers_close() {
    let (fs, _fake, ino, a) = writer_with_pending(small_cache());
    // The open stages A (its pending bytes do not fit); the error is A's, reported at A's close.
    let b = fs.open(ino, libc::O_RDWR).map(|(fh, _)| fh);
    assert_eq!(errno(close(&fs, a)), libc::ENOSPC);
    if let Ok(b) = b {
        let _ = close(&fs, b);
    }
}

#[test]
fn pending_writes_fail_the_close_when_cache_dir_cannot_be_created() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let cfg = FsConfig {
        cache_dir: file.path().join("cache"),
        ..test_config()
    };
    let (fs, _fake, _, a) = writer_with_pending(cfg);
    assert_eq!(errno(fs.write(a, 0, b"b")), libc::EIO);
    assert_eq!(errno(close(&fs, a)), libc::EIO);
}

/// An mtime set while streaming is applied after the staged copy's upload (the upload would
/// overwrite it otherwise); a refusal is reported at close and costs no data.
#[test]
fn mtime_set_while_streaming_is_applied_after_the_staged_upload() {
    let (fs, fake, ino, a) = writer_with_pending(test_config());
    let t = at(1_500_000_000);
    let touch = set(|s| s.mtime = Some(SetTime::At(t)));
    fs.setattr(ino, Some(a), touch).unwrap();
    fs.write(a, 0, b"b").unwrap();
    close(&fs, a).unwrap();
    let mut want = b"baaa".to_vec();
    want.resize(100, 0);
    want.extend_from_slice(&[b'z'; 20]);
    assert_eq!(fake.file("/f").unwrap(), want);
    assert_eq!(fake.mtime("/f"), Some(t));
}

#[test]
fn refused_mtime_does_not_stop_staging_and_is_reported_at_close() {
    let (fs, fake, ino, a) = writer_with_pending(test_config());
    let touch = set(|s| s.mtime = Some(SetTime::At(at(1_500_000_000))));
    fs.setattr(ino, Some(a), touch).unwrap();
    fake.fail_next("set_mtime", RemoteError::PermissionDenied("550 no".into()));
    fs.write(a, 0, b"b").unwrap();
    assert_eq!(errno(close(&fs, a)), libc::EPERM);
    let mut want = b"baaa".to_vec();
    want.resize(100, 0);
    want.extend_from_slice(&[b'z'; 20]);
    assert_eq!(fake.file("/f").unwrap(), want, "the data is uploaded");
}

// ---------------------------------------------------------------- atomic_replace and unlink

/// An unlink while an `atomic_replace` staged upload runs: the temporary file is deleted, not
/// renamed over the name.
#[test]
fn atomic_replace_staged_upload_does_not_bring_back_a_file_unlinked_meanwhile() {
    let cfg = FsConfig {
        atomic_replace: true,
        ..test_config()
    };
    let (fs, fake, entered, go) = gated_with("open_write", cfg);
    fake.add_file("/f", b"old");
    let ino = fs.lookup(R, "f").unwrap().ino;
    let w = fs.open(ino, libc::O_RDWR).unwrap().0;
    fs.write(w, 0, b"NEW").unwrap();
    std::thread::scope(|s| {
        let flush = s.spawn(|| fs.flush(w));
        entered
            .recv_timeout(DEADLINE)
            .expect("the flush uploads to a temporary name");
        fs.unlink(R, "f").unwrap();
        go.send(()).unwrap();
        let _ = flush.join().unwrap();
    });
    let _ = fs.release(w);
    let names = crate::remote::Remote::list(&fake, "/").unwrap();
    assert!(names.is_empty(), "nothing is left: {names:?}");
}

// ---------------------------------------------------------------- a failed stream

/// A streaming handle whose upload failed (still open) reports its error at its close, but
/// does not stop other writers of the file, and a truncate meanwhile reaches the server.
#[test]
fn a_failed_upload_blocks_neither_other_writers_nor_truncate() {
    let (fs, fake, ino) = with_file(b"0123456789");
    let a = fs.open(ino, libc::O_WRONLY | libc::O_APPEND).unwrap().0;
    fs.write(a, 10, b"abc").unwrap();
    fake.fail_next("finish", RemoteError::NoSpace("552 full".into()));
    assert_eq!(errno(fs.flush(a)), libc::ENOSPC);
    fs.setattr(ino, None, set(|s| s.size = Some(4))).unwrap();
    assert_eq!(
        fake.file("/f").unwrap(),
        b"0123",
        "the truncate is uploaded"
    );
    let b = fs.open(ino, libc::O_WRONLY | libc::O_APPEND).unwrap().0;
    fs.write(b, 4, b"BB").unwrap();
    close(&fs, b).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"0123BB");
    assert_eq!(
        errno(close(&fs, a)),
        libc::ENOSPC,
        "A still reports its error"
    );
    assert_eq!(fake.file("/f").unwrap(), b"0123BB");
}

/// A create whose file is unlinked before it can answer releases the handle it made (and
/// ends its upload: with `atomic_replace` the temporary file is removed).
#[test]
fn create_that_fails_after_opening_leaves_no_handle_open() {
    let cfg = FsConfig {
        atomic_replace: true,
        ..test_config()
    };
    let (fs, fake, entered, go) = gated_with("open_write", cfg);
    fake.add_file("/f", b"old");
    fs.lookup(R, "f").unwrap();
    std::thread::scope(|s| {
        let create = s.spawn(|| fs.create(R, "f", 0o644, WRONLY_CREAT));
        entered
            .recv_timeout(DEADLINE)
            .expect("the create uploads to a temporary name");
        fs.unlink(R, "f").unwrap();
        go.send(()).unwrap();
        assert_eq!(errno(create.join().unwrap()), libc::ENOENT);
    });
    assert!(lock(&fs.handles).is_empty(), "a handle is left open");
    let names = crate::remote::Remote::list(&fake, "/").unwrap();
    assert!(names.is_empty(), "nothing is left: {names:?}");
}

// ---------------------------------------------------------------- live size vs the copy

/// Runs `rounds` rounds of `a` and `b` racing (started together), then checks that getattr
/// shows the size of the open copy (read through `fh`). Bounded by a deadline.
fn size_agrees_after_races(
    fs: &Fs,
    ino: u64,
    fh: u64,
    rounds: u64,
    a: impl Fn(u64) + Sync,
    b: impl Fn(u64) + Sync,
) {
    let deadline = Instant::now() + DEADLINE;
    let mut bad = vec![];
    for i in 0..rounds {
        if Instant::now() > deadline {
            break;
        }
        let go = AtomicBool::new(false);
        let ready = Barrier::new(3);
        std::thread::scope(|s| {
            s.spawn(|| {
                ready.wait();
                while !go.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
                a(i)
            });
            s.spawn(|| {
                ready.wait();
                while !go.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
                b(i)
            });
            ready.wait();
            go.store(true, Ordering::Release);
        });
        let shown = fs.getattr(ino).unwrap().size;
        let real = fs.read(fh, 0, 100).unwrap().len() as u64;
        if shown != real {
            bad.push((i, shown, real));
        }
    }
    assert!(bad.is_empty(), "(round, getattr, copy): {bad:?}");
}

#[test]
fn size_shown_agrees_with_the_copy_after_truncate_races_write() {
    let (fs, _fake, ino) = with_file(b"0123456789");
    let w = fs.open(ino, libc::O_RDWR).unwrap().0;
    let w2 = fs.open(ino, libc::O_RDWR).unwrap().0;
    let truncate = |_| {
        fs.setattr(ino, Some(w), set(|s| s.size = Some(2))).unwrap();
    };
    let write = |i: u64| {
        for _ in 0..i % 50 {
            std::hint::spin_loop();
        }
        fs.write(w2, 0, b"abcdefghij").unwrap();
    };
    size_agrees_after_races(&fs, ino, w, 3000, truncate, write);
}

#[test]
fn size_shown_agrees_with_the_copy_after_o_trunc_races_write() {
    let (fs, _fake, ino) = with_file(b"0123456789");
    let w = fs.open(ino, libc::O_RDWR).unwrap().0;
    let reopen = |_| {
        let fh = fs.open(ino, libc::O_RDWR | libc::O_TRUNC).unwrap().0;
        fs.release(fh).unwrap();
    };
    let write = |i: u64| {
        for _ in 0..i % 50 {
            std::hint::spin_loop();
        }
        fs.write(w, 0, b"abcdefghij").unwrap();
    };
    size_agrees_after_races(&fs, ino, w, 3000, reopen, write);
}
