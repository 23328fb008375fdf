//! Core tests of writing in place on the fake remote: staged copies (O_RDWR, writes at
//! offsets, truncate, appends with and without APPE), what is fetched and uploaded, errno and
//! kept data on failures, atomic_replace, and the disk limit.

use std::time::{Duration, SystemTime};

use super::shared_tests::close;
use super::tests::*;
use super::*;
use crate::remote::fake::FakeRemote;

const MIB: usize = 1 << 20;

/// A core whose server holds `/f` with `data`; returns (fs, fake, ino of /f, cache dir).
fn staged_setup(cfg: FsConfig, data: &[u8]) -> (Fs, FakeRemote, u64, std::path::PathBuf) {
    let dir = cfg.cache_dir.clone();
    let (fs, fake, _) = setup_with(cfg);
    fake.add_file("/f", data);
    let ino = fs.lookup(R, "f").unwrap().ino;
    (fs, fake, ino, dir)
}

/// Files left in the cache directory (staged copies kept after a failed upload).
fn kept(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return vec![];
    };
    rd.map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect()
}

#[test]
fn rdwr_write_fetches_nothing_and_reads_fetch_only_their_block() {
    let data = pattern(5 * MIB, 3);
    let (fs, fake, ino, _) = staged_setup(test_config(), &data);
    let fh = fs.open(ino, libc::O_RDWR).unwrap().0;
    fs.write(fh, (3 * MIB + 5) as u64, b"0123456789").unwrap();
    assert_eq!(fake.count("open_read"), 0, "a write fetches nothing");
    let got = fs.read(fh, MIB as u64 + 10, 100).unwrap();
    assert_eq!(got, data[MIB + 10..MIB + 110]);
    assert_eq!(fake.count("open_read"), 1, "one block");
    let got = fs.read(fh, (3 * MIB) as u64, 20).unwrap();
    assert_eq!(&got[5..15], b"0123456789");
    close(&fs, fh).unwrap();
    let mut want = data.clone();
    want[3 * MIB + 5..3 * MIB + 15].copy_from_slice(b"0123456789");
    assert_eq!(fake.file("/f").unwrap(), want);
    assert_eq!((fake.count("open_write"), fake.count("finish")), (1, 1));
}

#[test]
fn append_uses_appe_when_the_server_takes_it() {
    let (fs, fake, ino, _) = staged_setup(test_config(), b"hello ");
    let fh = fs.open(ino, libc::O_WRONLY | libc::O_APPEND).unwrap().0;
    fs.write(fh, 6, b"world").unwrap();
    close(&fs, fh).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"hello world");
    assert_eq!(
        (fake.count("open_append"), fake.count("open_write")),
        (1, 0)
    );
    assert_eq!(fake.count("open_read"), 0);
}

#[test]
fn append_falls_back_to_staged_when_appe_is_refused() {
    let (fs, fake, ino, dir) = staged_setup(test_config(), b"hello ");
    let no = RemoteError::Unavailable("451 Append/Restart not permitted".into());
    fake.fail_always("open_append", no);
    let fh = fs.open(ino, libc::O_WRONLY | libc::O_APPEND).unwrap().0;
    fs.write(fh, 6, b"world").unwrap();
    fs.write(fh, 11, b"!").unwrap();
    close(&fs, fh).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"hello world!");
    assert_eq!(fake.count("open_write"), 1);
    assert!(
        kept(&dir).is_empty(),
        "the staged copy is removed after a good upload"
    );
}

#[test]
fn upload_refusals_map_to_errno_and_keep_the_data_locally() {
    for (err, want) in [
        (RemoteError::Unavailable("550 denied".into()), libc::EACCES),
        (RemoteError::BadName("553 not allowed".into()), libc::EACCES),
        (RemoteError::NoSpace("552 full".into()), libc::ENOSPC),
        (
            RemoteError::PermissionDenied("532 quota".into()),
            libc::EDQUOT,
        ),
        (RemoteError::Connection("lost".into()), libc::EIO),
    ] {
        let (fs, fake, ino, dir) = staged_setup(test_config(), b"original");
        let fh = fs.open(ino, libc::O_RDWR).unwrap().0;
        fs.write(fh, 2, b"XY").unwrap();
        fake.fail_always("open_write", err.clone());
        assert_eq!(errno(fs.flush(fh)), want, "{err:?}: flush");
        assert_eq!(errno(fs.release(fh)), want, "{err:?}: release");
        assert_eq!(kept(&dir), vec![b"orXYinal".to_vec()], "{err:?}");
        assert_eq!(fake.file("/f").unwrap(), b"original");
    }
}

#[test]
fn failed_finish_of_a_staged_upload_is_reported() {
    let (fs, fake, ino, dir) = staged_setup(test_config(), b"abc");
    let fh = fs.open(ino, libc::O_RDWR).unwrap().0;
    fs.write(fh, 3, b"def").unwrap();
    fake.fail_next("finish", RemoteError::NoSpace("552 quota".into()));
    assert_eq!(errno(close(&fs, fh)), libc::ENOSPC);
    assert_eq!(kept(&dir), vec![b"abcdef".to_vec()]);
}

#[test]
fn cache_max_size_exceeded_is_enospc() {
    let mut cfg = test_config();
    cfg.cache_max_size = MIB as u64;
    let (fs, _, ino, _) = staged_setup(cfg, b"x");
    let fh = fs.open(ino, libc::O_RDWR).unwrap().0;
    fs.write(fh, 0, &vec![1; MIB / 2]).unwrap();
    assert_eq!(errno(fs.write(fh, MIB as u64, &vec![2; MIB])), libc::ENOSPC);
    // Overwriting bytes already staged costs nothing more.
    fs.write(fh, 0, &vec![3; MIB / 2]).unwrap();
    close(&fs, fh).unwrap();
    assert_eq!(fs.store.used(), 0, "released with the copy");
}

#[test]
fn truncate_up_is_sparse_and_a_write_beyond_fetches_nothing() {
    let (fs, fake, ino, _) = staged_setup(test_config(), b"head");
    let fh = fs.open(ino, libc::O_WRONLY).unwrap().0;
    let grow = set(|s| s.size = Some((8 * MIB) as u64));
    assert_eq!(
        fs.setattr(ino, Some(fh), grow).unwrap().size,
        (8 * MIB) as u64
    );
    fs.write(fh, (4 * MIB) as u64, b"mid").unwrap();
    assert!(
        fs.store.used() < 2 * MIB as u64,
        "sparse: {}",
        fs.store.used()
    );
    close(&fs, fh).unwrap();
    let got = fake.file("/f").unwrap();
    assert_eq!(got.len(), 8 * MIB);
    assert_eq!(
        (&got[..4], &got[4 * MIB..4 * MIB + 3]),
        (&b"head"[..], &b"mid"[..])
    );
    assert!(got[4..4 * MIB].iter().all(|&b| b == 0));
    assert_eq!(
        fake.count("open_read"),
        1,
        "only the 4 bytes the server had"
    );
}

#[test]
fn streaming_handle_switches_to_staged_on_a_write_behind() {
    let (fs, fake, _) = setup();
    let (attr, fh) = fs.create(R, "g", 0o644, WRONLY_CREAT).unwrap();
    fs.write(fh, 0, &pattern(1000, 1)).unwrap();
    fs.write(fh, 10, b"zz").unwrap();
    assert_eq!(fake.count("finish"), 1, "the stream ended first");
    assert_eq!(fs.getattr(attr.ino).unwrap().size, 1000);
    close(&fs, fh).unwrap();
    let mut want = pattern(1000, 1);
    want[10..12].copy_from_slice(b"zz");
    assert_eq!(fake.file("/g").unwrap(), want);
}

#[test]
fn mtime_set_on_a_staged_handle_is_applied_after_its_upload() {
    let (fs, fake, ino, _) = staged_setup(test_config(), b"abc");
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    let fh = fs.open(ino, libc::O_RDWR).unwrap().0;
    fs.write(fh, 0, b"x").unwrap();
    let touch = set(|s| s.mtime = Some(SetTime::At(t)));
    fs.setattr(ino, Some(fh), touch).unwrap();
    assert_eq!(fake.count("set_mtime"), 0);
    close(&fs, fh).unwrap();
    assert_eq!(
        (fake.mtime("/f"), fake.file("/f").unwrap()),
        (Some(t), b"xbc".to_vec())
    );
    assert_eq!(fs.getattr(ino).unwrap().mtime, t);
}

#[test]
fn unsupported_mtime_after_a_staged_upload_is_enotsup() {
    let (fs, fake, ino, _) = staged_setup(test_config(), b"abc");
    let fh = fs.open(ino, libc::O_RDWR).unwrap().0;
    fs.write(fh, 0, b"x").unwrap();
    let touch = set(|s| s.mtime = Some(SetTime::At(SystemTime::UNIX_EPOCH)));
    fs.setattr(ino, Some(fh), touch).unwrap();
    fake.fail_always("set_mtime", RemoteError::Unsupported("502 no MFMT".into()));
    assert_eq!(errno(close(&fs, fh)), libc::ENOTSUP);
    assert_eq!(
        fake.file("/f").unwrap(),
        b"xbc",
        "the data is there all the same"
    );
}

#[test]
fn atomic_replace_keeps_the_old_file_until_the_upload_is_confirmed() {
    let mut cfg = test_config();
    cfg.atomic_replace = true;
    let (fs, fake, ino, _) = staged_setup(cfg, b"old content");
    let fh = fs.open(ino, libc::O_WRONLY | libc::O_TRUNC).unwrap().0;
    fs.write(fh, 0, b"new").unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"old content", "streaming");
    close(&fs, fh).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"new");
    let fh = fs.open(ino, libc::O_RDWR).unwrap().0;
    fs.write(fh, 3, b"er").unwrap();
    close(&fs, fh).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"newer");
    let names = crate::remote::Remote::list(&fake, "/").unwrap();
    assert_eq!(names.len(), 1, "no temporary names left: {names:?}");
    assert_eq!(fake.count("rename"), 2);
}

#[test]
fn atomic_replace_refused_upload_leaves_the_original() {
    let mut cfg = test_config();
    cfg.atomic_replace = true;
    let (fs, fake, ino, _) = staged_setup(cfg, b"keep me");
    let fh = fs.open(ino, libc::O_RDWR).unwrap().0;
    fs.write(fh, 0, b"lose").unwrap();
    fake.fail_next("finish", RemoteError::NoSpace("552".into()));
    assert_eq!(errno(close(&fs, fh)), libc::ENOSPC);
    assert_eq!(fake.file("/f").unwrap(), b"keep me");
    assert_eq!(crate::remote::Remote::list(&fake, "/").unwrap().len(), 1);
}

#[test]
fn unmount_uploads_open_staged_files() {
    let (fs, fake, ino, _) = staged_setup(test_config(), b"abc");
    let fh = fs.open(ino, libc::O_RDWR).unwrap().0;
    fs.write(fh, 1, b"Z").unwrap();
    assert!(fs.shutdown());
    assert_eq!(fake.file("/f").unwrap(), b"aZc");
}

#[test]
fn create_rdwr_makes_the_name_at_once_and_excl_still_refuses() {
    let (fs, fake, _) = setup();
    let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL;
    let (_, fh) = fs.create(R, "n", 0o644, flags).unwrap();
    assert_eq!(fake.file("/n").unwrap(), b"");
    fs.write(fh, 0, b"data").unwrap();
    assert_eq!(fs.read(fh, 0, 10).unwrap(), b"data");
    assert_eq!(errno(fs.create(R, "n", 0o644, flags)), libc::EEXIST);
    close(&fs, fh).unwrap();
    assert_eq!(fake.file("/n").unwrap(), b"data");
}

#[test]
fn unlinked_staged_file_is_not_uploaded_again() {
    let (fs, fake, ino, _) = staged_setup(test_config(), b"abc");
    let fh = fs.open(ino, libc::O_RDWR).unwrap().0;
    fs.write(fh, 0, b"x").unwrap();
    fs.unlink(R, "f").unwrap();
    close(&fs, fh).unwrap();
    assert!(!fake.exists("/f"));
}

#[test]
fn symlink_goes_to_the_server_and_unsupported_is_eperm() {
    let (fs, fake, _) = setup();
    let a = fs.symlink(R, "l", "target/x").unwrap();
    assert_eq!(
        (a.kind, fs.readlink(a.ino).unwrap()),
        (FileKind::Symlink, "target/x".into())
    );
    assert!(fake.exists("/l"));
    assert_eq!(errno(fs.symlink(R, "l", "y")), libc::EEXIST);
    fake.fail_next(
        "symlink",
        RemoteError::Unsupported("500 SITE SYMLINK".into()),
    );
    assert_eq!(errno(fs.symlink(R, "m", "y")), libc::EPERM);
}

/// O_RDWR|O_CREAT|O_TRUNC of an existing file empties it even when nothing is written.
#[test]
fn rdwr_trunc_open_of_existing_file_empties_it_without_writes() {
    let (fs, fake, _, _) = staged_setup(test_config(), b"old content");
    let (_, fh) = fs
        .create(R, "f", 0o644, libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC)
        .unwrap();
    close(&fs, fh).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"");
    assert_eq!(fs.lookup(R, "f").unwrap().size, 0);
}

/// open(O_RDWR|O_TRUNC) (not create) of an existing file, closed without writing.
#[test]
fn rdwr_trunc_open_without_create_empties_it() {
    let (fs, fake, ino, _) = staged_setup(test_config(), b"old content");
    let (fh, _) = fs.open(ino, libc::O_RDWR | libc::O_TRUNC).unwrap();
    close(&fs, fh).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"");
}

/// The same with atomic_replace: the replacement (empty) still takes the old file's place.
#[test]
fn rdwr_trunc_open_with_atomic_replace_empties_it() {
    let cfg = FsConfig {
        atomic_replace: true,
        ..test_config()
    };
    let (fs, fake, _, _) = staged_setup(cfg, b"old content");
    let (_, fh) = fs
        .create(R, "f", 0o644, libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC)
        .unwrap();
    close(&fs, fh).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"");
}

/// A directory the server lists but refuses to list the contents of is EACCES, not ENOENT;
/// one that is gone is ENOENT.
#[test]
fn unreadable_directory_is_eacces_and_missing_one_enoent() {
    let (fs, fake, _) = setup();
    fake.add_dir("/locked");
    fake.add_dir("/gone");
    let locked = fs.lookup(R, "locked").unwrap().ino;
    let gone = fs.lookup(R, "gone").unwrap().ino;
    // The root's listing is cached and names both; listing /locked is refused with 550.
    fake.fail_next(
        "list",
        RemoteError::Unavailable("550 Permission denied".into()),
    );
    assert_eq!(errno(fs.opendir(locked)), libc::EACCES);
    crate::remote::Remote::rmdir(&fake, "/gone").unwrap();
    fs.cache.invalidate("/");
    assert_eq!(errno(fs.opendir(gone)), libc::ENOENT);
}

#[test]
fn a_staged_copy_reads_and_uploads_while_others_hold_the_whole_budget() {
    // The copy's lock is held while it fetches, reads and uploads, and a write waiting for
    // that lock may hold memory: the copy never waits for the budget (small buffers outside
    // it when it is full), so neither can wait for the other.
    let data = pattern(3 * MIB, 7);
    let mut cfg = test_config();
    cfg.budget = crate::memory::Budget::new(2 * MIB);
    let budget = cfg.budget.clone();
    let (fs, fake, ino, _) = staged_setup(cfg, &data);
    let fh = fs.open(ino, libc::O_RDWR).unwrap().0;
    fs.write(fh, (2 * MIB) as u64, b"in the middle").unwrap();
    let hold = [budget.take(MIB), budget.take(MIB)];
    assert!(budget.try_take(4096).is_none(), "the budget is full");
    let fs = std::sync::Arc::new(fs);
    let (got, closed) = crate::testing::within(10, "staged read and upload, budget full", {
        let fs = std::sync::Arc::clone(&fs);
        move || (fs.read(fh, 10, 300_000).map(|b| b.to_vec()), close(&fs, fh))
    });
    assert_eq!(got.expect("read"), data[10..300_010]);
    closed.expect("close");
    drop(hold);
    let mut want = data;
    want[2 * MIB..2 * MIB + 13].copy_from_slice(b"in the middle");
    assert_eq!(fake.file("/f").unwrap(), want);
}
