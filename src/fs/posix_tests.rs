//! POSIX details pjdfstest looks at, on the fake remote: the mode given at creation is applied
//! on the server, a directory's times change at once with its entries, fstat of an unlinked
//! open file, EFBIG, directory link counts, and directory times a server cannot set.

use std::time::{Duration, SystemTime};

use super::tests::{R, WRONLY_CREAT, errno, set, setup};
use super::*;

const RDWR_CREAT: i32 = libc::O_RDWR | libc::O_CREAT;

#[test]
fn mkdir_gives_the_requested_mode_only_when_the_server_default_differs() {
    let (fs, fake, _) = setup();
    // The fake gives new directories 0755.
    fs.mkdir(R, "a", 0o755).expect("mkdir");
    assert_eq!(fake.count("chmod"), 0);
    let a = fs.mkdir(R, "b", 0o700).expect("mkdir");
    assert_eq!(fake.mode("/b"), Some(0o700));
    assert_eq!(a.perm, 0o700);
    assert_eq!(fake.count("chmod"), 1);
    // Learned once: the third mkdir lists nothing.
    let lists = fake.count("list");
    fs.mkdir(R, "c", 0o751).expect("mkdir");
    assert_eq!(fake.count("list"), lists);
    assert_eq!(fake.mode("/c"), Some(0o751));
    assert_eq!(fs.lookup(R, "c").expect("lookup").perm, 0o751);
}

#[test]
fn a_created_file_gets_its_mode_after_its_upload() {
    let (fs, fake, _) = setup();
    let (a, fh) = fs.create(R, "f", 0o600, WRONLY_CREAT).expect("create");
    assert_eq!(a.perm, 0o600, "shown while open");
    fs.write(fh, 0, b"data").expect("write");
    fs.flush(fh).expect("flush");
    fs.release(fh).expect("release");
    assert_eq!(fake.mode("/f"), Some(0o600));
    assert_eq!(fs.lookup(R, "f").expect("lookup").perm, 0o600);
    // The server's default (0644) needs nothing.
    let chmods = fake.count("chmod");
    let (_, fh) = fs.create(R, "g", 0o644, WRONLY_CREAT).expect("create");
    fs.release(fh).expect("release");
    assert_eq!(fake.count("chmod"), chmods);
    // O_RDWR (staged) too.
    let (_, fh) = fs.create(R, "h", 0o640, RDWR_CREAT).expect("create");
    fs.release(fh).expect("release");
    assert_eq!(fake.mode("/h"), Some(0o640));
}

#[test]
fn a_server_without_site_chmod_keeps_its_default_and_creation_succeeds() {
    let (fs, fake, _) = setup();
    fake.fail_always(
        "chmod",
        RemoteError::Unsupported("502 SITE CHMOD not understood".into()),
    );
    let a = fs.mkdir(R, "d", 0o700).expect("mkdir succeeds");
    assert_eq!(a.perm, 0o755, "the mode the server gave");
    fs.mkdir(R, "e", 0o711).expect("mkdir");
    assert_eq!(fake.count("chmod"), 1, "not tried again");
}

#[test]
fn a_directory_shows_new_times_at_once_when_its_entries_change() {
    let (fs, fake, _) = setup();
    fake.add_dir("/d");
    fake.add_dir("/e");
    let d = fs.lookup(R, "d").expect("d").ino;
    let e = fs.lookup(R, "e").expect("e").ino;
    let mut last = fs.getattr(d).expect("stat");
    let mut changed = |what: &str, ino: u64| {
        std::thread::sleep(Duration::from_millis(2));
        let now = fs.getattr(ino).expect("stat");
        assert!(now.mtime > last.mtime && now.ctime > last.ctime, "{what}");
        last = now;
    };
    let (_, fh) = fs.create(d, "f", 0o644, WRONLY_CREAT).expect("create");
    fs.release(fh).expect("release");
    changed("create", d);
    fs.mkdir(d, "sub", 0o755).expect("mkdir");
    changed("mkdir", d);
    fs.rmdir(d, "sub").expect("rmdir");
    changed("rmdir", d);
    fs.rename(d, "f", d, "g", false).expect("rename");
    changed("rename", d);
    fs.unlink(d, "g").expect("unlink");
    changed("unlink", d);
    let before_e = fs.getattr(e).expect("e");
    let root = fs.getattr(R).expect("root");
    std::thread::sleep(Duration::from_millis(2));
    fs.mkdir(R, "x", 0o755).expect("mkdir in root");
    assert!(fs.getattr(R).expect("root").mtime > root.mtime);
    assert_eq!(fs.getattr(e).expect("e").mtime, before_e.mtime, "untouched");
}

#[test]
fn chmod_changes_ctime_but_not_mtime() {
    let (fs, fake, _) = setup();
    fake.add_file("/f", b"x");
    let a = fs.lookup(R, "f").expect("f");
    std::thread::sleep(Duration::from_millis(2));
    let b = fs
        .setattr(a.ino, None, set(|s| s.mode = Some(0o600)))
        .expect("chmod");
    assert_eq!(b.mtime, a.mtime);
    assert!(b.ctime > a.ctime);
}

#[test]
fn fstat_of_an_unlinked_open_file_answers_with_nlink_0() {
    let (fs, _fake, _) = setup();
    let (a, fh) = fs.create(R, "f", 0o644, RDWR_CREAT).expect("create");
    fs.write(fh, 0, b"hello").expect("write");
    fs.unlink(R, "f").expect("unlink");
    let st = fs.getattr(a.ino).expect("fstat after unlink");
    assert_eq!((st.nlink, st.size, st.kind), (0, 5, FileKind::File));
    assert_eq!(fs.read(fh, 0, 5).expect("read on"), b"hello");
    fs.release(fh).expect("release");
    fs.forget(a.ino, 1);
    assert_eq!(errno(fs.getattr(a.ino)), libc::ENOENT);
}

#[test]
fn truncate_beyond_what_a_staged_copy_can_hold_is_efbig() {
    let (fs, fake, _) = setup();
    fake.add_file("/f", b"x");
    let ino = fs.lookup(R, "f").expect("f").ino;
    let e = errno(fs.setattr(ino, None, set(|s| s.size = Some(u64::MAX))));
    assert_eq!(e, libc::EFBIG);
    assert_eq!(fake.file("/f").expect("kept"), b"x");
}

#[test]
fn a_directory_counts_its_subdirectories_when_its_listing_is_known() {
    let (fs, fake, _) = setup();
    fake.add_dir("/d");
    fake.add_dir("/d/a");
    fake.add_dir("/d/b");
    fake.add_file("/d/f", b"x");
    let d = fs.lookup(R, "d").expect("d").ino;
    assert_eq!(
        fs.getattr(d).expect("stat").nlink,
        1,
        "unknown until listed"
    );
    fs.lookup(d, "f").expect("lists /d");
    assert_eq!(fs.getattr(d).expect("stat").nlink, 4);
    let new = fs.mkdir(d, "c", 0o755).expect("mkdir");
    assert_eq!(new.nlink, 2, "a new directory is known to be empty");
    assert_eq!(fs.getattr(d).expect("stat").nlink, 5);
}

#[test]
fn utimensat_on_a_directory_the_server_cannot_set_succeeds_unchanged_files_stay_strict() {
    let (fs, fake, _) = setup();
    fake.add_dir("/d");
    fake.add_file("/f", b"x");
    let d = fs.lookup(R, "d").expect("d");
    let f = fs.lookup(R, "f").expect("f").ino;
    fake.fail_always(
        "set_mtime",
        RemoteError::Unavailable("550 d: Not a regular file".into()),
    );
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let after = fs
        .setattr(d.ino, None, set(|s| s.mtime = Some(SetTime::At(t))))
        .expect("directory: succeeds");
    assert_eq!(after.mtime, d.mtime, "unchanged");
    let e = errno(fs.setattr(f, None, set(|s| s.mtime = Some(SetTime::At(t)))));
    assert_eq!(e, libc::EPERM);
    // A lost connection is not a refusal.
    fake.fail_next("set_mtime", RemoteError::Connection("gone".into()));
    let e = errno(fs.setattr(d.ino, None, set(|s| s.mtime = Some(SetTime::At(t)))));
    assert_eq!(e, libc::EIO);
}

#[test]
fn a_write_far_beyond_the_end_shows_the_size_at_once_and_lands_there() {
    let (fs, fake, _) = setup();
    let (a, fh) = fs.create(R, "f", 0o644, WRONLY_CREAT).expect("create");
    // Within the reorder window: held until the gap is written, but the size shows it.
    fs.write(fh, 1 << 20, b"near").expect("write ahead");
    assert_eq!(fs.getattr(a.ino).expect("stat").size, (1 << 20) + 4);
    // A hole beyond 16 MiB: staged at once.
    let far = (32 << 20) + 1;
    fs.write(fh, far, b"data").expect("write far ahead");
    assert_eq!(fs.getattr(a.ino).expect("stat").size, far + 4);
    fs.flush(fh).expect("flush");
    fs.release(fh).expect("release");
    let got = fake.file("/f").expect("uploaded");
    assert_eq!(got.len() as u64, far + 4);
    assert_eq!(&got[1 << 20..(1 << 20) + 4], b"near");
    assert_eq!(&got[far as usize..], b"data");
    assert!(got[..1 << 20].iter().all(|&b| b == 0));
}

/// `tar -x` creates a file 0600, writes it, then chmods it to its final mode before close:
/// the chmod wins over the creation mode applied after the upload.
#[test]
fn a_chmod_while_open_wins_over_the_creation_mode() {
    let (fs, fake, _) = setup();
    let (a, fh) = fs.create(R, "f", 0o600, WRONLY_CREAT).expect("create");
    fs.write(fh, 0, b"data").expect("write");
    fs.setattr(a.ino, None, set(|s| s.mode = Some(0o644)))
        .expect("chmod");
    fs.flush(fh).expect("flush");
    fs.release(fh).expect("release");
    assert_eq!(fake.mode("/f"), Some(0o644));
    assert_eq!(fs.getattr(a.ino).expect("stat").perm, 0o644);
}

/// `touch -d` on an empty file opens it for writing, sets the time with futimens and closes
/// without writing: the time is on the server when close (flush) returns, not only at the
/// kernel's later RELEASE.
#[test]
fn a_time_set_on_an_empty_file_open_for_writing_is_on_the_server_at_flush() {
    let (fs, fake, _) = setup();
    fake.add_file("/e", b"");
    let ino = fs.lookup(R, "e").expect("e").ino;
    let (fh, _) = fs.open(ino, libc::O_WRONLY).expect("open");
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_580_608_922);
    fs.setattr(ino, None, set(|s| s.mtime = Some(SetTime::At(t))))
        .expect("futimens");
    fs.flush(fh).expect("flush");
    assert_eq!(fake.mtime("/e"), Some(t));
    fs.release(fh).expect("release");
    assert_eq!(fake.mtime("/e"), Some(t));
}
