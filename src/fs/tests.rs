//! Core tests against the fake remote: cache costs as operation counts, our own changes seen at
//! once, the read/write stream paths, setattr, errno mapping, and a model-based proptest.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::model_tests::{Model, fs_tree};
use super::*;
use crate::cache::ManualClock;
use crate::remote::fake::FakeRemote;

pub(super) const TTL: Duration = Duration::from_secs(10);
pub(super) const UID: u32 = 1000;
pub(super) const GID: u32 = 1000;
pub(super) const WRONLY_CREAT: i32 = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC;
pub(super) const R: u64 = ROOT_INO;

/// A core config with staged copies in a fresh directory (leaked for the test's life).
pub(super) fn test_config() -> FsConfig {
    let dir = tempfile::tempdir().expect("tempdir").keep();
    FsConfig {
        uid: UID,
        gid: GID,
        umask: None,
        dir_cache_ttl: TTL,
        dir_cache_size: 64,
        cache_dir: dir.join("cache"),
        cache_max_size: 1 << 30,
        atomic_replace: false,
        budget: crate::memory::Budget::new(64 << 20),
    }
}

pub(super) fn setup_with(cfg: FsConfig) -> (Fs, FakeRemote, ManualClock) {
    let fake = FakeRemote::new();
    let clock = ManualClock::default();
    let fs = Fs::new(Arc::new(fake.clone()), cfg, Box::new(clock.clone()));
    (fs, fake, clock)
}

pub(super) fn setup() -> (Fs, FakeRemote, ManualClock) {
    setup_with(test_config())
}

/// A fresh core over a server holding only `/f`, looked up: (fs, fake, inode of /f).
pub(super) fn with_file(data: &[u8]) -> (Fs, FakeRemote, u64) {
    let (fs, fake, _) = setup();
    fake.add_file("/f", data);
    let ino = fs.lookup(R, "f").unwrap().ino;
    (fs, fake, ino)
}

pub(super) fn errno<T: Debug>(r: FsResult<T>) -> i32 {
    r.expect_err("operation should have failed").errno
}

pub(super) fn set(edit: impl FnOnce(&mut SetAttr)) -> SetAttr {
    let mut s = SetAttr::default();
    edit(&mut s);
    s
}

/// Deterministic pseudo-random bytes (xorshift).
pub(super) fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Writes `data` in `chunk`-sized pieces, then flush + release (both must succeed).
pub(super) fn write_and_close(fs: &Fs, fh: u64, data: &[u8], chunk: usize) -> FsResult<()> {
    for (i, piece) in data.chunks(chunk.max(1)).enumerate() {
        assert_eq!(fs.write(fh, (i * chunk) as u64, piece)?, piece.len());
    }
    let flushed = fs.flush(fh);
    let released = fs.release(fh);
    flushed.and(released)
}

/// open O_RDONLY + sequential reads of `chunk` until an empty read + release.
pub(super) fn read_all(fs: &Fs, ino: u64, chunk: u32) -> FsResult<Vec<u8>> {
    let fh = fs.open(ino, libc::O_RDONLY)?.0;
    let mut out = vec![];
    loop {
        let got = fs.read(fh, out.len() as u64, chunk)?;
        if got.is_empty() {
            break;
        }
        out.extend_from_slice(&got);
    }
    fs.release(fh)?;
    Ok(out)
}

/// Reads `len` at `off` and checks the bytes against `data`.
pub(super) fn check_read(fs: &Fs, fh: u64, data: &[u8], off: usize, len: usize) {
    let got = fs.read(fh, off as u64, len as u32).unwrap();
    assert!(got == data[off..][..len], "read at {off}");
}

pub(super) fn readdir_names(fs: &Fs, ino: u64) -> Vec<(String, FileKind)> {
    let fh = fs.opendir(ino).unwrap();
    let mut items = vec![];
    fs.readdir(fh, 0, |i| {
        items.push(i.clone());
        false
    })
    .unwrap();
    fs.releasedir(fh);
    let real = items.iter().filter(|i| i.name != "." && i.name != "..");
    real.map(|i| (i.name.clone(), i.kind)).collect()
}

// ---------------------------------------------------------------- 1. cache costs

fn files_in_root(fake: &FakeRemote, n: usize) -> Vec<String> {
    let name = |i: usize| format!("f{i}");
    (0..n).for_each(|i| fake.add_file(&join("/", &name(i)), &pattern(i * 10, 1)));
    (0..n).map(name).collect()
}

fn lookup_getattr_all(fs: &Fs, names: &[String]) {
    for (i, name) in names.iter().enumerate() {
        let a = fs.lookup(R, name).unwrap();
        assert_eq!(a.size, (i * 10) as u64);
        assert_eq!(fs.getattr(a.ino).unwrap(), a);
    }
}

#[test]
fn lookup_and_getattr_of_n_files_cost_exactly_one_list() {
    let (fs, fake, _) = setup();
    lookup_getattr_all(&fs, &files_in_root(&fake, 20));
    assert_eq!((fake.count("list"), fake.total_calls()), (1, 1));
}

#[test]
fn second_pass_within_ttl_costs_no_remote_call() {
    let (fs, fake, clock) = setup();
    let names = files_in_root(&fake, 20);
    lookup_getattr_all(&fs, &names);
    let before = fake.total_calls();
    clock.advance(TTL - Duration::from_secs(1));
    lookup_getattr_all(&fs, &names);
    assert_eq!(fake.total_calls(), before);
}

#[test]
fn pass_after_ttl_costs_exactly_one_more_list() {
    let (fs, fake, clock) = setup();
    let names = files_in_root(&fake, 20);
    lookup_getattr_all(&fs, &names);
    clock.advance(TTL + Duration::from_secs(1));
    lookup_getattr_all(&fs, &names);
    assert_eq!((fake.count("list"), fake.total_calls()), (2, 2));
}

#[test]
fn missing_name_in_fresh_listing_is_enoent_without_remote_call() {
    let (fs, fake, _) = setup();
    files_in_root(&fake, 3);
    fs.lookup(R, "f0").unwrap();
    let before = fake.total_calls();
    assert_eq!(errno(fs.lookup(R, "nope")), libc::ENOENT);
    assert_eq!(fake.total_calls(), before);
}

#[test]
fn tree_walk_lists_each_directory_exactly_once_and_nothing_else() {
    let (fs, fake, _) = setup();
    ["/d1", "/d1/sub", "/d2", "/d2/empty"]
        .iter()
        .for_each(|d| fake.add_dir(d));
    let files = ["/f0", "/d1/f1", "/d1/f2", "/d1/sub/f3", "/d2/f4"];
    files.iter().for_each(|f| fake.add_file(f, b"x"));
    let mut seen = Model::new();
    fs_tree(&fs, R, "/", false, &mut seen).unwrap();
    assert_eq!(seen.len(), 9);
    assert_eq!(fake.count("list"), 5, "/, /d1, /d1/sub, /d2, /d2/empty");
    assert_eq!(fake.total_calls(), 5);
}

// ---------------------------------------------------------------- 2. our own changes

#[test]
fn written_file_shows_new_size_in_lookup_without_new_list() {
    let (fs, fake, _) = setup();
    let data = pattern(5000, 1);
    let (_, fh) = fs.create(R, "new", 0o644, WRONLY_CREAT).unwrap();
    write_and_close(&fs, fh, &data, 700).unwrap();
    let lists = fake.count("list");
    assert_eq!(fs.lookup(R, "new").unwrap().size, 5000);
    assert_eq!(fake.count("list"), lists);
    assert_eq!(fake.file("/new").unwrap(), data);
}

#[test]
fn mkdir_shows_in_parent_readdir_without_list() {
    let (fs, fake, _) = setup();
    fake.add_file("/f", b"x");
    assert_eq!(readdir_names(&fs, R).len(), 1);
    // The first mkdir of a mount lists its directory once, to learn the server's default
    // mode for new directories; later ones list nothing.
    fs.mkdir(R, "first", 0o755).unwrap();
    let lists = fake.count("list");
    assert_eq!(fs.mkdir(R, "d", 0o755).unwrap().kind, FileKind::Dir);
    let names = readdir_names(&fs, R);
    assert!(names.contains(&("d".into(), FileKind::Dir)), "{names:?}");
    assert_eq!(fake.count("list"), lists);
    assert!(fake.exists("/d"));
}

#[test]
fn unlink_makes_lookup_enoent() {
    let (fs, fake, _) = with_file(b"x");
    fs.unlink(R, "f").unwrap();
    assert_eq!(errno(fs.lookup(R, "f")), libc::ENOENT);
    assert!(!fake.exists("/f"));
}

/// The temp-file pattern: create, unlink while open, keep writing, close.
#[test]
fn unlink_of_file_open_for_writing_makes_lookup_enoent() {
    let (fs, fake, _) = setup();
    let (_, fh) = fs.create(R, "tmp", 0o600, WRONLY_CREAT).unwrap();
    fs.write(fh, 0, b"scratch").unwrap();
    fs.unlink(R, "tmp").unwrap();
    assert!(!fake.exists("/tmp"));
    assert_eq!(errno(fs.lookup(R, "tmp")), libc::ENOENT);
    assert!(readdir_names(&fs, R).is_empty());
    let _ = fs.release(fh);
    assert_eq!(errno(fs.lookup(R, "tmp")), libc::ENOENT, "after close");
}

#[test]
fn rename_file_is_seen_at_once() {
    let (fs, fake, ino) = with_file(b"hello");
    fs.rename(R, "f", R, "g", false).unwrap();
    assert_eq!(errno(fs.lookup(R, "f")), libc::ENOENT);
    let g = fs.lookup(R, "g").unwrap();
    assert_eq!((g.ino, g.size), (ino, 5));
    assert_eq!(fake.file("/g").unwrap(), b"hello");
}

#[test]
fn rename_dir_with_children_moves_subtree_and_keeps_child_inodes() {
    let (fs, fake, _) = setup();
    ["/a", "/a/s"].iter().for_each(|d| fake.add_dir(d));
    fake.add_file("/a/x", b"xx");
    fake.add_file("/a/s/y", b"yyy");
    let a = fs.lookup(R, "a").unwrap().ino;
    let x = fs.lookup(a, "x").unwrap().ino;
    let s = fs.lookup(a, "s").unwrap().ino;
    let y = fs.lookup(s, "y").unwrap().ino;
    fs.rename(R, "a", R, "b", false).unwrap();
    assert_eq!(errno(fs.lookup(R, "a")), libc::ENOENT);
    let b = fs.lookup(R, "b").unwrap().ino;
    assert_eq!(b, a);
    assert_eq!(fs.lookup(b, "x").unwrap().ino, x);
    assert_eq!(fs.lookup(b, "s").unwrap().ino, s);
    assert_eq!(fs.lookup(s, "y").unwrap().size, 3);
    assert_eq!(fs.getattr(x).unwrap().size, 2);
    assert_eq!(fs.getattr(y).unwrap().size, 3);
    assert_eq!(read_all(&fs, y, 2).unwrap(), b"yyy");
    assert!(fake.exists("/b/s/y") && !fake.exists("/a"));
}

#[test]
fn rename_onto_existing_file_replaces_it() {
    let (fs, fake, _) = setup();
    fake.add_file("/f", b"new content");
    fake.add_file("/g", b"old");
    let old_g = fs.lookup(R, "g").unwrap().ino;
    fs.rename(R, "f", R, "g", false).unwrap();
    let g = fs.lookup(R, "g").unwrap();
    assert_ne!(g.ino, old_g);
    assert_eq!(g.size, 11);
    assert_eq!(errno(fs.getattr(old_g)), libc::ENOENT);
    assert_eq!(read_all(&fs, g.ino, 4).unwrap(), b"new content");
    assert_eq!(errno(fs.lookup(R, "f")), libc::ENOENT);
}

#[test]
fn rename_noreplace_onto_existing_is_eexist() {
    let (fs, fake, _) = setup();
    fake.add_file("/f", b"1");
    fake.add_file("/g", b"22");
    assert_eq!(errno(fs.rename(R, "f", R, "g", true)), libc::EEXIST);
    assert_eq!(fake.file("/g").unwrap(), b"22");
    assert_eq!(fake.count("rename"), 0);
}

#[test]
fn rename_dir_onto_non_empty_dir_is_enotempty() {
    let (fs, fake, _) = setup();
    ["/a", "/b"].iter().for_each(|d| fake.add_dir(d));
    fake.add_file("/b/keep", b"k");
    assert_eq!(errno(fs.rename(R, "a", R, "b", false)), libc::ENOTEMPTY);
    assert!(fake.exists("/a") && fake.exists("/b/keep"));
}

#[test]
fn rmdir_of_non_empty_is_enotempty_cached_or_not() {
    let (fs, fake, _) = setup();
    fake.add_dir("/d");
    fake.add_file("/d/f", b"x");
    // Listing of /d not cached: the server refuses, the core re-lists.
    assert_eq!(errno(fs.rmdir(R, "d")), libc::ENOTEMPTY);
    let d = fs.lookup(R, "d").unwrap().ino;
    fs.lookup(d, "f").unwrap();
    assert_eq!(errno(fs.rmdir(R, "d")), libc::ENOTEMPTY, "cached");
    assert!(fake.exists("/d/f"));
}

#[test]
fn mkdir_of_existing_is_eexist() {
    let (fs, fake, _) = setup();
    fake.add_dir("/d");
    fake.add_file("/f", b"");
    assert_eq!(errno(fs.mkdir(R, "d", 0o755)), libc::EEXIST);
    assert_eq!(errno(fs.mkdir(R, "f", 0o755)), libc::EEXIST);
    assert_eq!(fake.count("mkdir"), 0);
}

// ---------------------------------------------------------------- 3. reads

/// A file larger than 3 MiB, open for reading: (content, fh).
fn big_file(fs: &Fs, fake: &FakeRemote) -> (Vec<u8>, u64) {
    let data = pattern((4 << 20) + 123, 7);
    fake.add_file("/big", &data);
    let ino = fs.lookup(R, "big").unwrap().ino;
    (data, fs.open(ino, libc::O_RDONLY).unwrap().0)
}

#[test]
fn sequential_chunked_reads_use_one_stream_and_match_bytes() {
    let data = pattern(300_000, 3);
    let (fs, fake, ino) = with_file(&data);
    assert_eq!(read_all(&fs, ino, 4096).unwrap(), data);
    assert_eq!(fake.count("open_read"), 1);
}

#[test]
fn far_forward_read_opens_new_stream_but_short_skip_does_not() {
    let (fs, fake, _) = setup();
    let (data, fh) = big_file(&fs, &fake);
    check_read(&fs, fh, &data, 0, 65536);
    check_read(&fs, fh, &data, 65536 + (512 << 10), 4096);
    assert_eq!(fake.count("open_read"), 1, "a gap within the skip window");
    check_read(&fs, fh, &data, 3 << 20, 65536);
    assert_eq!(fake.count("open_read"), 2, "a gap beyond the skip window");
    fs.release(fh).unwrap();
}

#[test]
fn read_slightly_behind_is_served_from_back_window() {
    let (fs, fake, _) = setup();
    let (data, fh) = big_file(&fs, &fake);
    (0..8).for_each(|i| check_read(&fs, fh, &data, i * 65536, 65536));
    let pos = 8 * 65536;
    check_read(&fs, fh, &data, pos - 200_000, 8192);
    // Straddling the stream position: part from the window, part from the stream.
    check_read(&fs, fh, &data, pos - 1000, 8192);
    assert_eq!(fake.count("open_read"), 1);
    fs.release(fh).unwrap();
}

#[test]
fn read_past_eof_is_short_then_empty() {
    let data = pattern(1000, 9);
    let (fs, _, ino) = with_file(&data);
    let fh = fs.open(ino, libc::O_RDONLY).unwrap().0;
    assert_eq!(fs.read(fh, 900, 500).unwrap(), &data[900..]);
    assert!(fs.read(fh, 1000, 100).unwrap().is_empty());
    assert!(fs.read(fh, 5000, 100).unwrap().is_empty());
    check_read(&fs, fh, &data, 950, 10);
    fs.release(fh).unwrap();
    let fh = fs.open(ino, libc::O_RDONLY).unwrap().0;
    assert!(fs.read(fh, 5000, 100).unwrap().is_empty());
    fs.release(fh).unwrap();
}

// ---------------------------------------------------------------- 4. writes

#[test]
fn chunked_write_then_flush_stores_exact_bytes() {
    let (fs, fake, _) = setup();
    let data = pattern(100_000, 11);
    let (_, fh) = fs.create(R, "f", 0o644, WRONLY_CREAT).unwrap();
    for (i, piece) in data.chunks(3000).enumerate() {
        fs.write(fh, (i * 3000) as u64, piece).unwrap();
    }
    fs.flush(fh).unwrap();
    assert_eq!(fake.file("/f").unwrap(), data);
    fs.release(fh).unwrap();
    assert_eq!(fake.file("/f").unwrap(), data);
    assert_eq!((fake.count("open_write"), fake.count("finish")), (1, 1));
}

#[test]
fn out_of_order_adjacent_writes_produce_right_file() {
    let (fs, fake, _) = setup();
    let data = pattern(8192 + 100, 12);
    let (_, fh) = fs.create(R, "f", 0o644, WRONLY_CREAT).unwrap();
    assert_eq!(fs.write(fh, 8192, &data[8192..]).unwrap(), 100);
    assert_eq!(fs.write(fh, 0, &data[..8192]).unwrap(), 8192);
    fs.flush(fh).unwrap();
    fs.release(fh).unwrap();
    assert_eq!(fake.file("/f").unwrap(), data);
}

#[test]
fn write_behind_position_switches_to_staged_and_keeps_both() {
    let (fs, fake, _) = setup();
    let (_, fh) = fs.create(R, "f", 0o644, WRONLY_CREAT).unwrap();
    fs.write(fh, 0, &[1; 100]).unwrap();
    fs.write(fh, 50, &[2; 10]).unwrap();
    fs.release(fh).unwrap();
    let mut want = vec![1u8; 100];
    want[50..60].fill(2);
    assert_eq!(fake.file("/f").unwrap(), want);
    assert_eq!(
        fake.count("open_write"),
        2,
        "the stream, then the staged upload"
    );
}

#[test]
fn failed_finish_makes_flush_enospc_and_release_reports_it_too() {
    let (fs, fake, _) = setup();
    let (_, fh) = fs.create(R, "f", 0o644, WRONLY_CREAT).unwrap();
    fs.write(fh, 0, b"data").unwrap();
    fake.fail_next("finish", RemoteError::NoSpace("552 quota".into()));
    assert_eq!(errno(fs.flush(fh)), libc::ENOSPC);
    assert_eq!(errno(fs.release(fh)), libc::ENOSPC);
}

#[test]
fn injected_write_failure_maps_to_enospc_or_eio() {
    let (fs, fake, _) = setup();
    for (name, err, want) in [
        ("q", RemoteError::NoSpace("552".into()), libc::ENOSPC),
        ("c", RemoteError::Connection("reset".into()), libc::EIO),
    ] {
        let (_, fh) = fs.create(R, name, 0o644, WRONLY_CREAT).unwrap();
        fake.fail_next("write", err);
        assert_eq!(errno(fs.write(fh, 0, b"abc")), want, "{name}");
        assert_eq!(errno(fs.write(fh, 0, b"abc")), want, "{name}: sticky");
        assert_eq!(errno(fs.flush(fh)), want, "{name}: flush");
        assert_eq!(errno(fs.release(fh)), want, "{name}: release");
    }
}

#[test]
fn create_excl_on_existing_is_eexist() {
    let (fs, fake, _) = setup();
    fake.add_file("/f", b"keep");
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL;
    assert_eq!(errno(fs.create(R, "f", 0o644, flags)), libc::EEXIST);
    assert_eq!(fake.file("/f").unwrap(), b"keep");
    assert_eq!(fake.count("open_write"), 0);
}

#[test]
fn open_rdwr_without_writes_uploads_nothing() {
    let (fs, fake, ino) = with_file(b"keep");
    let fh = fs.open(ino, libc::O_RDWR).unwrap().0;
    assert_eq!(fs.read(fh, 0, 100).unwrap(), b"keep");
    fs.flush(fh).unwrap();
    fs.release(fh).unwrap();
    assert_eq!(fake.file("/f").unwrap(), b"keep");
    assert_eq!(fake.count("open_write"), 0);
}

#[test]
fn open_wronly_trunc_replaces_content() {
    let (fs, fake, ino) = with_file(&pattern(5000, 1));
    let fh = fs.open(ino, libc::O_WRONLY | libc::O_TRUNC).unwrap().0;
    let new = pattern(300, 2);
    write_and_close(&fs, fh, &new, 128).unwrap();
    assert_eq!(fake.file("/f").unwrap(), new);
    assert_eq!(fs.lookup(R, "f").unwrap().size, 300);
    assert_eq!(read_all(&fs, ino, 100).unwrap(), new);
}

#[test]
fn second_flush_continues_with_append() {
    let (fs, fake, _) = setup();
    let (a, b) = (pattern(1000, 1), pattern(777, 2));
    let (attr, fh) = fs.create(R, "f", 0o644, WRONLY_CREAT).unwrap();
    fs.write(fh, 0, &a).unwrap();
    fs.flush(fh).unwrap();
    assert_eq!(fake.file("/f").unwrap(), a);
    fs.write(fh, 1000, &b).unwrap();
    fs.flush(fh).unwrap();
    fs.release(fh).unwrap();
    assert_eq!(
        (fake.count("open_write"), fake.count("open_append")),
        (1, 1)
    );
    assert_eq!(fake.file("/f").unwrap(), [a, b].concat());
    assert_eq!(fs.getattr(attr.ino).unwrap().size, 1777);
}

// ---------------------------------------------------------------- 5. setattr

#[test]
fn chmod_updates_mode_seen_by_getattr() {
    let (fs, fake, ino) = with_file(b"x");
    let chmod = set(|s| s.mode = Some(0o100600));
    assert_eq!(fs.setattr(ino, None, chmod).unwrap().perm, 0o600);
    assert_eq!(fs.getattr(ino).unwrap().perm, 0o600);
    assert_eq!(fake.mode("/f"), Some(0o600));
}

#[test]
fn chown_to_other_uid_is_eperm() {
    let (fs, _, ino) = with_file(b"x");
    let other = set(|s| s.uid = Some(UID + 1));
    assert_eq!(errno(fs.setattr(ino, None, other)), libc::EPERM);
    let same = set(|s| (s.uid, s.gid) = (Some(UID), Some(GID)));
    assert_eq!(fs.setattr(ino, None, same).unwrap().uid, UID);
}

#[test]
fn truncate_to_zero_empties_file() {
    let (fs, fake, ino) = with_file(b"some content");
    let trunc = set(|s| s.size = Some(0));
    assert_eq!(fs.setattr(ino, None, trunc).unwrap().size, 0);
    assert_eq!(fake.file("/f").unwrap(), b"");
    assert_eq!(fs.getattr(ino).unwrap().size, 0);
}

#[test]
fn truncate_to_other_sizes_is_uploaded_at_once() {
    let (fs, fake, ino) = with_file(b"some content");
    for (size, want) in [(4, &b"some"[..]), (6, b"some\0\0"), (1, b"s")] {
        let trunc = set(|s| s.size = Some(size));
        assert_eq!(fs.setattr(ino, None, trunc).unwrap().size, size);
        assert_eq!(fake.file("/f").unwrap(), want, "{size}");
        assert_eq!(fs.getattr(ino).unwrap().size, size);
    }
}

#[test]
fn set_mtime_shows_in_getattr() {
    let (fs, fake, ino) = with_file(b"x");
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let touch = set(|s| s.mtime = Some(SetTime::At(t)));
    assert_eq!(fs.setattr(ino, None, touch).unwrap().mtime, t);
    assert_eq!(fs.getattr(ino).unwrap().mtime, t);
    assert_eq!(fake.mtime("/f"), Some(t));
}

/// create + write + setattr(mtime) on the open file; returns (ino, fh, t).
fn write_with_mtime(fs: &Fs, fake: &FakeRemote) -> (u64, u64, SystemTime) {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_234_567_890);
    let (attr, fh) = fs.create(R, "f", 0o644, WRONLY_CREAT).unwrap();
    fs.write(fh, 0, b"payload").unwrap();
    let touch = set(|s| s.mtime = Some(SetTime::At(t)));
    assert_eq!(fs.setattr(attr.ino, Some(fh), touch).unwrap().mtime, t);
    assert_eq!(fake.count("set_mtime"), 0, "not before the upload finished");
    (attr.ino, fh, t)
}

#[test]
fn mtime_set_while_writing_is_applied_after_upload() {
    let (fs, fake, _) = setup();
    let (_, fh, t) = write_with_mtime(&fs, &fake);
    fs.flush(fh).unwrap();
    assert_eq!((fake.count("set_mtime"), fake.mtime("/f")), (1, Some(t)));
    fs.release(fh).unwrap();
    assert_eq!((fake.count("set_mtime"), fake.mtime("/f")), (1, Some(t)));
    assert_eq!(fake.file("/f").unwrap(), b"payload");
}

/// `cp -p`: write, futimens, close; `ls -l` right after must show the copied mtime.
#[test]
fn mtime_set_while_writing_is_still_shown_after_release() {
    let (fs, fake, _) = setup();
    let (ino, fh, t) = write_with_mtime(&fs, &fake);
    fs.flush(fh).unwrap();
    assert_eq!(fs.getattr(ino).unwrap().mtime, t, "after flush");
    fs.release(fh).unwrap();
    assert_eq!(fake.mtime("/f"), Some(t));
    assert_eq!(fs.getattr(ino).unwrap().mtime, t, "after release");
}

// ---------------------------------------------------------------- 6. errors

#[test]
fn list_connection_error_is_eio_from_lookup() {
    let (fs, fake, _) = setup();
    fake.add_file("/f", b"x");
    fake.fail_next("list", RemoteError::Connection("421 bye".into()));
    assert_eq!(errno(fs.lookup(R, "f")), libc::EIO);
    assert_eq!(fs.lookup(R, "f").unwrap().size, 1, "not cached");
}

#[test]
fn delete_unavailable_for_existing_name_is_eacces() {
    let (fs, fake, _) = with_file(b"x");
    fake.fail_next("delete", RemoteError::Unavailable("550 denied".into()));
    assert_eq!(errno(fs.unlink(R, "f")), libc::EACCES);
    assert_eq!(fake.count("list"), 2, "the core re-listed to decide");
    assert!(fake.exists("/f"));
}

#[test]
fn delete_unavailable_for_vanished_name_is_enoent() {
    let (fs, fake, _) = with_file(b"x");
    // Another client removes it; our cached listing still shows it.
    fake.delete("/f").unwrap();
    assert_eq!(errno(fs.unlink(R, "f")), libc::ENOENT);
    assert_eq!(errno(fs.lookup(R, "f")), libc::ENOENT);
}

#[test]
fn names_with_slash_or_newline_are_einval() {
    let (fs, fake, _) = setup();
    for bad in ["a/b", "a\nb", "a\rb", ""] {
        let mut errs = vec![errno(fs.lookup(R, bad)), errno(fs.mkdir(R, bad, 0o755))];
        errs.push(errno(fs.create(R, bad, 0o644, WRONLY_CREAT)));
        errs.push(errno(fs.unlink(R, bad)));
        errs.push(errno(fs.rmdir(R, bad)));
        errs.push(errno(fs.rename(R, "x", R, bad, false)));
        errs.push(errno(fs.rename(R, bad, R, "x", false)));
        assert_eq!(errs, [libc::EINVAL; 7], "{bad:?}");
    }
    assert_eq!(fake.total_calls(), 0);
}

#[test]
fn names_over_255_bytes_are_enametoolong_before_anything_is_sent() {
    let (fs, fake, _) = setup();
    fake.add_file("/f", b"x");
    let ino = fs.lookup(R, "f").expect("f").ino;
    let calls = fake.total_calls();
    let long = "n".repeat(256);
    assert_eq!(errno(fs.lookup(R, &long)), libc::ENAMETOOLONG);
    assert_eq!(errno(fs.mkdir(R, &long, 0o755)), libc::ENAMETOOLONG);
    assert_eq!(
        errno(fs.create(R, &long, 0o644, WRONLY_CREAT)),
        libc::ENAMETOOLONG
    );
    assert_eq!(errno(fs.symlink(R, &long, "f")), libc::ENAMETOOLONG);
    assert_eq!(
        errno(fs.rename(R, "f", R, &long, false)),
        libc::ENAMETOOLONG
    );
    assert_eq!(errno(fs.unlink(R, &long)), libc::ENAMETOOLONG);
    assert_eq!(fake.total_calls(), calls, "nothing may reach the server");
    assert!(fs.getattr(ino).is_ok());
    // 255 bytes is an ordinary name, and 255 Latin-1 bytes from the kernel are 255 bytes,
    // however long their String is.
    fs.mkdir(R, &"k".repeat(255), 0o755)
        .expect("a 255-byte name");
    let latin1 = crate::names::decode(&[0xe9; 255]).into_owned();
    fs.mkdir(R, &latin1, 0o755)
        .expect("255 bytes is a good name");
    assert!(fake.exists(&format!("/{latin1}")));
}
