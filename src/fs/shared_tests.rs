//! Core tests of one file shared by several writers, on the fake remote: two appenders or two
//! streaming writers of one file, an old handle still open after its name was unlinked (or
//! replaced by a rename) and the name re-created, a truncate racing the release of the last
//! writer, and staging that waits only for the handles of its own file.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::tests::*;
use super::*;
use crate::cache::ManualClock;
use crate::remote::fake::FakeRemote;
use crate::remote::{Capabilities, ReadStream, RemoteResult, WriteStream};

/// How long a test waits for another thread before it calls the wait a failure.
pub(super) const DEADLINE: Duration = Duration::from_secs(10);

/// Closes a handle the way close(2) does: flush, then release (both verdicts count).
pub(super) fn close(fs: &Fs, fh: u64) -> FsResult<()> {
    let flushed = fs.flush(fh);
    let released = fs.release(fh);
    flushed.and(released)
}

pub(super) fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

// ---------------------------------------------------------------- two writers of one file

/// Two O_APPEND handles opened before either writes; the kernel appends at the size it knows.
#[test]
fn two_appenders_keep_both_writes_in_order() {
    let (fs, fake, ino) = with_file(b"hello");
    let a = fs.open(ino, libc::O_WRONLY | libc::O_APPEND).unwrap().0;
    let b = fs.open(ino, libc::O_WRONLY | libc::O_APPEND).unwrap().0;
    fs.write(a, 5, b"AAA").unwrap();
    fs.write(b, 8, b"BBB").unwrap();
    assert_eq!(fs.getattr(ino).unwrap().size, 11, "both writes count");
    fs.write(a, 11, b"CC").unwrap();
    close(&fs, b).unwrap();
    close(&fs, a).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"helloAAABBBCC");
    assert_eq!(fs.getattr(ino).unwrap().size, 13);
}

/// The second appender opens while the first one's APPE is running.
#[test]
fn appender_opened_during_another_ones_upload_keeps_both() {
    let (fs, fake, ino) = with_file(b"hello");
    let a = fs.open(ino, libc::O_WRONLY | libc::O_APPEND).unwrap().0;
    fs.write(a, 5, b"AAA").unwrap();
    let b = fs.open(ino, libc::O_WRONLY | libc::O_APPEND).unwrap().0;
    fs.write(b, 8, b"BBB").unwrap();
    fs.write(a, 11, b"CC").unwrap();
    close(&fs, a).unwrap();
    close(&fs, b).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"helloAAABBBCC");
}

/// A streaming rewrite and a second O_WRONLY handle writing at the end: POSIX order, each
/// handle at its own offset.
#[test]
fn two_streaming_writers_land_in_posix_order() {
    let (fs, fake, _) = setup();
    let (attr, a) = fs.create(R, "f", 0o644, WRONLY_CREAT).unwrap();
    fs.write(a, 0, b"aaaa").unwrap();
    let b = fs.open(attr.ino, libc::O_WRONLY).unwrap().0;
    fs.write(b, 4, b"bbbb").unwrap();
    fs.write(a, 4, b"cc").unwrap();
    close(&fs, b).unwrap();
    close(&fs, a).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"aaaaccbb");
    assert_eq!(fs.getattr(attr.ino).unwrap().size, 8);
}

// ---------------------------------------------------------------- unlinked, then re-created

/// The old handle's close must not touch the new file's live size or its pending mtime.
#[test]
fn old_writer_closing_after_unlink_and_recreate_leaves_the_new_file_alone() {
    let (fs, fake, _) = setup();
    let (_, old) = fs.create(R, "f", 0o644, WRONLY_CREAT).unwrap();
    fs.write(old, 0, b"old data, longer").unwrap();
    fs.unlink(R, "f").unwrap();
    let (attr, new) = fs.create(R, "f", 0o644, WRONLY_CREAT).unwrap();
    fs.write(new, 0, b"new").unwrap();
    let t = at(1_600_000_000);
    let touch = set(|s| s.mtime = Some(SetTime::At(t)));
    fs.setattr(attr.ino, Some(new), touch).unwrap();
    // Where the old upload ends up is the server's business (the fake writes it by name).
    let _ = close(&fs, old);
    let a = fs.getattr(attr.ino).unwrap();
    assert_eq!((a.size, a.mtime), (3, t), "after the old handle's close");
    fs.write(new, 3, b" file").unwrap();
    assert_eq!(fs.getattr(attr.ino).unwrap().size, 8);
    close(&fs, new).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"new file");
    assert_eq!(fake.mtime("/f"), Some(t));
    let a = fs.getattr(attr.ino).unwrap();
    assert_eq!((a.size, a.mtime), (8, t), "after the new handle's close");
}

/// The same with the old handle on a staged copy.
#[test]
fn old_staged_writer_closing_after_unlink_and_recreate_leaves_the_new_file_alone() {
    let (fs, fake, ino) = with_file(b"old");
    let old = fs.open(ino, libc::O_RDWR).unwrap().0;
    fs.write(old, 3, b" and more").unwrap();
    fs.unlink(R, "f").unwrap();
    let (attr, new) = fs.create(R, "f", 0o644, WRONLY_CREAT).unwrap();
    fs.write(new, 0, b"new").unwrap();
    close(&fs, old).unwrap();
    assert_eq!(fs.getattr(attr.ino).unwrap().size, 3);
    fs.write(new, 3, b"!").unwrap();
    assert_eq!(fs.getattr(attr.ino).unwrap().size, 4);
    close(&fs, new).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"new!");
}

/// An old handle writing after its name was re-created starts no transfer on that name.
#[test]
fn old_writer_after_unlink_and_recreate_sends_nothing_to_the_new_file() {
    let (fs, fake, ino) = with_file(b"old");
    let old = fs.open(ino, libc::O_WRONLY | libc::O_APPEND).unwrap().0;
    fs.unlink(R, "f").unwrap();
    let (_, new) = fs.create(R, "f", 0o644, WRONLY_CREAT).unwrap();
    fs.write(new, 0, b"new").unwrap();
    close(&fs, new).unwrap();
    fs.write(old, 3, b"late").unwrap();
    close(&fs, old).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"new");
    assert_eq!(fake.count("open_append"), 0);
}

/// With atomic_replace, the upload of an unlinked file is not renamed into place.
#[test]
fn atomic_replace_upload_of_an_unlinked_file_is_not_renamed_into_place() {
    let cfg = FsConfig {
        atomic_replace: true,
        ..test_config()
    };
    let (fs, fake, _) = setup_with(cfg);
    fake.add_file("/f", b"old content");
    let ino = fs.lookup(R, "f").unwrap().ino;
    let fh = fs.open(ino, libc::O_WRONLY | libc::O_TRUNC).unwrap().0;
    fs.write(fh, 0, b"new").unwrap();
    fs.unlink(R, "f").unwrap();
    close(&fs, fh).unwrap();
    let names = crate::remote::Remote::list(&fake, "/").unwrap();
    assert!(names.is_empty(), "nothing is left: {names:?}");
}

/// A rename onto a file being written replaces it: the name shows the renamed file, also
/// after the old writer's close.
#[test]
fn rename_onto_a_file_being_written_shows_the_renamed_file() {
    let (fs, fake, _) = setup();
    fake.add_file("/x", b"xy");
    fs.lookup(R, "x").unwrap();
    let (_, w) = fs.create(R, "f", 0o644, WRONLY_CREAT).unwrap();
    fs.write(w, 0, b"being written").unwrap();
    fs.rename(R, "x", R, "f", false).unwrap();
    assert_eq!(fs.lookup(R, "f").unwrap().size, 2);
    let _ = close(&fs, w);
    assert_eq!(
        fs.lookup(R, "f").unwrap().size,
        2,
        "after the old writer's close"
    );
}

// ---------------------------------------------------------------- truncate vs. release

/// A truncate while only readers share the staged copy is uploaded at once (no writer is
/// left to upload it at close).
#[test]
fn truncate_while_only_readers_are_open_is_uploaded() {
    let (fs, fake, ino) = with_file(b"0123456789");
    let w = fs.open(ino, libc::O_RDWR).unwrap().0;
    fs.write(w, 0, b"ab").unwrap();
    let r = fs.open(ino, libc::O_RDONLY).unwrap().0;
    close(&fs, w).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"ab23456789");
    fs.setattr(ino, None, set(|s| s.size = Some(4))).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"ab23");
    assert_eq!(fs.read(r, 0, 100).unwrap(), b"ab23");
    close(&fs, r).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"ab23");
    assert_eq!(fs.getattr(ino).unwrap().size, 4);
}

/// A remote that holds the first call of one operation until the test lets it go.
struct Gated {
    inner: FakeRemote,
    op: &'static str,
    gate: Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
}

impl Gated {
    fn hold(&self, op: &str) {
        if op != self.op {
            return;
        }
        let gate = self.gate.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((entered, go)) = gate {
            let _ = entered.send(());
            let _ = go.recv_timeout(DEADLINE);
        }
    }
}

impl Remote for Gated {
    fn list(&self, dir: &str) -> RemoteResult<Vec<RemoteEntry>> {
        self.hold("list");
        self.inner.list(dir)
    }
    fn open_read(&self, path: &str, offset: u64) -> RemoteResult<Box<dyn ReadStream>> {
        self.hold("open_read");
        self.inner.open_read(path, offset)
    }
    fn open_write(&self, path: &str) -> RemoteResult<Box<dyn WriteStream>> {
        self.hold("open_write");
        self.inner.open_write(path)
    }
    fn open_append(&self, path: &str) -> RemoteResult<Box<dyn WriteStream>> {
        self.hold("open_append");
        self.inner.open_append(path)
    }
    fn mkdir(&self, path: &str) -> RemoteResult<()> {
        self.inner.mkdir(path)
    }
    fn size(&self, path: &str) -> RemoteResult<u64> {
        self.inner.size(path)
    }
    fn rmdir(&self, path: &str) -> RemoteResult<()> {
        self.inner.rmdir(path)
    }
    fn delete(&self, path: &str) -> RemoteResult<()> {
        self.hold("delete");
        self.inner.delete(path)
    }
    fn rename(&self, from: &str, to: &str) -> RemoteResult<()> {
        self.inner.rename(from, to)
    }
    fn set_mtime(&self, path: &str, mtime: SystemTime) -> RemoteResult<()> {
        self.hold("set_mtime");
        self.inner.set_mtime(path, mtime)
    }
    fn chmod(&self, path: &str, mode: u32) -> RemoteResult<()> {
        self.inner.chmod(path, mode)
    }
    fn symlink(&self, target: &str, path: &str) -> RemoteResult<()> {
        self.inner.symlink(target, path)
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
}

/// A core over a fake whose first call of `op` waits: (fs, fake, entered, go).
fn gated(op: &'static str) -> (Fs, FakeRemote, mpsc::Receiver<()>, mpsc::Sender<()>) {
    gated_with(op, test_config())
}

/// [`gated`] with the core configured by `cfg`.
pub(super) fn gated_with(
    op: &'static str,
    cfg: FsConfig,
) -> (Fs, FakeRemote, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let fake = FakeRemote::new();
    let (entered_tx, entered) = mpsc::channel();
    let (go, go_rx) = mpsc::channel();
    let remote = Gated {
        inner: fake.clone(),
        op,
        gate: Mutex::new(Some((entered_tx, go_rx))),
    };
    let clock = ManualClock::default();
    let fs = Fs::new(Arc::new(remote), cfg, Box::new(clock));
    (fs, fake, entered, go)
}

/// The last writer's RELEASE applies an mtime set after its FLUSH (a network call); a
/// truncate that returns meanwhile must still reach the server.
#[test]
fn truncate_during_the_last_writers_release_is_uploaded() {
    let (fs, fake, entered, go) = gated("set_mtime");
    fake.add_file("/f", b"0123456789");
    let ino = fs.lookup(R, "f").unwrap().ino;
    let w = fs.open(ino, libc::O_RDWR).unwrap().0;
    fs.write(w, 0, b"ab").unwrap();
    fs.flush(w).unwrap();
    let touch = set(|s| s.mtime = Some(SetTime::At(at(1_500_000_000))));
    fs.setattr(ino, None, touch).unwrap();
    std::thread::scope(|s| {
        let release = s.spawn(|| fs.release(w));
        entered
            .recv_timeout(DEADLINE)
            .expect("the release applies the mtime");
        let truncated = fs.setattr(ino, None, set(|s| s.size = Some(4)));
        go.send(()).unwrap();
        assert_eq!(truncated.unwrap().size, 4);
        release.join().unwrap().unwrap();
    });
    assert_eq!(fake.file("/f").unwrap(), b"ab23");
    assert_eq!(fs.getattr(ino).unwrap().size, 4);
}

// ---------------------------------------------------------------- staging waits only for its file

/// Staging a file locks only that file's handles: a handle of another file busy with its
/// transfer (its mutex held) does not hold up an O_RDWR open that stages a streaming writer.
#[test]
fn staging_waits_only_for_the_handles_of_its_file() {
    let (fs, fake, _) = setup();
    let (_, busy) = fs.create(R, "b", 0o644, WRONLY_CREAT).unwrap();
    let (attr, w) = fs.create(R, "a", 0o644, WRONLY_CREAT).unwrap();
    fs.write(w, 0, b"abc").unwrap();
    let h = fs.handle(busy).unwrap();
    let transfer = lock(&h);
    let (tx, rx) = mpsc::channel();
    let fs_ref = &fs;
    let rdwr = std::thread::scope(|s| {
        s.spawn(move || tx.send(fs_ref.open(attr.ino, libc::O_RDWR)));
        let got = rx.recv_timeout(DEADLINE);
        drop(transfer);
        got
    });
    let rdwr = rdwr
        .expect("the open waited for another file's handle")
        .unwrap()
        .0;
    fs.write(rdwr, 3, b"d").unwrap();
    close(&fs, rdwr).unwrap();
    close(&fs, w).unwrap();
    close(&fs, busy).unwrap();
    assert_eq!(fake.file("/a").unwrap(), b"abcd");
}

// ---------------------------------------------------------------- many threads on one file

/// Threads mixing appenders, rewrites, O_RDWR writers, truncates and reads on one file (and
/// a bystander file) finish within the deadline (no lock cycle), every operation succeeds,
/// no live entry, staged copy or handle is left over, and afterwards the core shows what the
/// server holds. It cannot say which writes should have landed (appends racing on the size
/// they read may share an offset): the order of content is checked by the tests above.
#[test]
fn racing_writers_of_one_file_finish_clean_up_and_show_the_servers_copy() {
    let (fs, fake, _) = setup();
    fake.add_file("/f", b"start");
    fake.add_file("/g", b"bystander");
    let ino = fs.lookup(R, "f").unwrap().ino;
    let other = fs.lookup(R, "g").unwrap().ino;
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (fs, tx) = (&fs, tx.clone());
            s.spawn(move || {
                let r = (0..150u64).try_for_each(|i| one_step(fs, ino, other, (t * 7 + i) % 6));
                let _ = tx.send(r);
            });
        }
        drop(tx);
        for _ in 0..4 {
            let r = rx.recv_timeout(Duration::from_secs(60));
            r.expect("a thread is stuck").unwrap();
        }
    });
    assert!(lock(&fs.live).is_empty(), "a live entry is left");
    assert!(lock(&fs.staged).is_empty(), "a staged copy is left");
    assert!(lock(&fs.handles).is_empty(), "a handle is left");
    let server = fake.file("/f").unwrap();
    assert_eq!(fs.getattr(ino).unwrap().size, server.len() as u64);
    assert_eq!(read_all(&fs, ino, 100).unwrap(), server);
    // Appends racing on the size they read may land on one offset: only x's were added.
    let g = fake.file("/g").unwrap();
    assert_eq!(read_all(&fs, other, 100).unwrap(), g);
    assert!(g.starts_with(b"bystander") && g[9..].iter().all(|&b| b == b'x'));
}

fn one_step(fs: &Fs, ino: u64, other: u64, kind: u64) -> FsResult<()> {
    let size = |ino| fs.getattr(ino).map(|a| a.size);
    match kind {
        0 => {
            let fh = fs.open(ino, libc::O_WRONLY | libc::O_APPEND)?.0;
            let w = fs.write(fh, size(ino)?, b"append");
            close(fs, fh).and(w.map(drop))
        }
        1 => {
            let fh = fs.open(ino, libc::O_WRONLY | libc::O_TRUNC)?.0;
            let w = fs.write(fh, 0, b"rewritten");
            close(fs, fh).and(w.map(drop))
        }
        2 => {
            let fh = fs.open(ino, libc::O_RDWR)?.0;
            let w = fs.write(fh, 2, b"rdwr").and_then(|_| fs.read(fh, 0, 64));
            close(fs, fh).and(w.map(drop))
        }
        3 => fs.setattr(ino, None, set(|s| s.size = Some(7))).map(drop),
        4 => read_all(fs, ino, 16).map(drop),
        _ => {
            let fh = fs.open(other, libc::O_WRONLY | libc::O_APPEND)?.0;
            let w = fs.write(fh, size(other)?, b"x");
            close(fs, fh).and(w.map(drop))
        }
    }
}

/// A FLUSH of a read-only handle (every exec of a process that inherited the descriptor
/// sends one) answers at once, also while a read of that handle waits for the server.
#[test]
fn flush_of_a_reader_does_not_wait_for_its_read() {
    let (fs, fake, entered, go) = gated("open_read");
    fake.add_file("/f", b"0123456789");
    let ino = fs.lookup(R, "f").unwrap().ino;
    let fh = fs.open(ino, libc::O_RDONLY).unwrap().0;
    std::thread::scope(|s| {
        let read = s.spawn(|| fs.read(fh, 0, 10));
        entered
            .recv_timeout(DEADLINE)
            .expect("the read reaches the server");
        let start = std::time::Instant::now();
        fs.flush(fh).expect("flush");
        assert!(
            start.elapsed() < std::time::Duration::from_millis(500),
            "flush waited {:?} for the read",
            start.elapsed()
        );
        go.send(()).expect("go");
        assert_eq!(read.join().expect("join").expect("read"), b"0123456789");
    });
    fs.release(fh).expect("release");
}
