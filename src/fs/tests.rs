//! Core tests against the fake remote: cache costs as operation counts, our own changes seen at
//! once, the read/write stream paths, setattr, errno mapping, and a model-based proptest.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;

use super::*;
use crate::cache::ManualClock;
use crate::remote::fake::FakeRemote;

const TTL: Duration = Duration::from_secs(10);
const UID: u32 = 1000;
const GID: u32 = 1000;
const WRONLY_CREAT: i32 = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC;

fn setup() -> (Fs, FakeRemote, ManualClock) {
    let fake = FakeRemote::new();
    let clock = ManualClock::default();
    let cfg = FsConfig {
        uid: UID,
        gid: GID,
        umask: None,
        dir_cache_ttl: TTL,
        dir_cache_size: 64,
    };
    let fs = Fs::new(Arc::new(fake.clone()), cfg, Box::new(clock.clone()));
    (fs, fake, clock)
}

fn errno<T: Debug>(r: FsResult<T>) -> i32 {
    r.expect_err("operation should have failed").errno
}

/// Deterministic pseudo-random bytes (xorshift).
fn pattern(len: usize, seed: u64) -> Vec<u8> {
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

/// create + write in `chunk`-sized pieces + flush + release; returns the inode.
fn write_new(fs: &Fs, parent: u64, name: &str, data: &[u8], chunk: usize) -> FsResult<u64> {
    let (attr, fh) = fs.create(parent, name, 0o644, WRONLY_CREAT)?;
    write_and_close(fs, fh, data, chunk)?;
    Ok(attr.ino)
}

fn write_and_close(fs: &Fs, fh: u64, data: &[u8], chunk: usize) -> FsResult<()> {
    let mut off = 0;
    for piece in data.chunks(chunk.max(1)) {
        assert_eq!(fs.write(fh, off as u64, piece)?, piece.len());
        off += piece.len();
    }
    let flushed = fs.flush(fh);
    let released = fs.release(fh);
    flushed.and(released)
}

/// open O_RDONLY + sequential reads of `chunk` until an empty read + release.
fn read_all(fs: &Fs, ino: u64, chunk: u32) -> FsResult<Vec<u8>> {
    let fh = fs.open(ino, libc::O_RDONLY)?;
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

fn readdir_names(fs: &Fs, ino: u64) -> Vec<(String, FileKind)> {
    let fh = fs.opendir(ino).unwrap();
    let items = fs.readdir(fh).unwrap();
    fs.releasedir(fh);
    items
        .iter()
        .filter(|i| i.name != "." && i.name != "..")
        .map(|i| (i.name.clone(), i.kind))
        .collect()
}

// ---------------------------------------------------------------- 1. cache costs

fn files_in_root(fake: &FakeRemote, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let name = format!("f{i}");
            fake.add_file(&format!("/{name}"), &pattern(i * 10, i as u64));
            name
        })
        .collect()
}

fn lookup_getattr_all(fs: &Fs, names: &[String]) {
    for (i, name) in names.iter().enumerate() {
        let a = fs.lookup(ROOT_INO, name).unwrap();
        assert_eq!(a.size, (i * 10) as u64);
        assert_eq!(fs.getattr(a.ino).unwrap(), a);
    }
}

#[test]
fn lookup_and_getattr_of_n_files_cost_exactly_one_list() {
    let (fs, fake, _) = setup();
    let names = files_in_root(&fake, 20);
    lookup_getattr_all(&fs, &names);
    assert_eq!(fake.count("list"), 1);
    assert_eq!(fake.total_calls(), 1);
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
    assert_eq!(fake.count("list"), 2);
    assert_eq!(fake.total_calls(), 2);
}

#[test]
fn missing_name_in_fresh_listing_is_enoent_without_remote_call() {
    let (fs, fake, _) = setup();
    files_in_root(&fake, 3);
    fs.lookup(ROOT_INO, "f0").unwrap();
    let before = fake.total_calls();
    assert_eq!(errno(fs.lookup(ROOT_INO, "nope")), libc::ENOENT);
    assert_eq!(fake.total_calls(), before);
}

/// Like `find`: readdir every directory, lookup every entry, recurse into directories.
fn find(fs: &Fs, ino: u64, path: &str, seen: &mut Vec<String>) {
    for (name, kind) in readdir_names(fs, ino) {
        let a = fs.lookup(ino, &name).unwrap();
        assert_eq!(a.kind, kind);
        let child = join(path, &name);
        seen.push(child.clone());
        if kind == FileKind::Dir {
            find(fs, a.ino, &child, seen);
        }
    }
}

#[test]
fn tree_walk_lists_each_directory_exactly_once_and_nothing_else() {
    let (fs, fake, _) = setup();
    for d in ["/d1", "/d1/sub", "/d2", "/d2/empty"] {
        fake.add_dir(d);
    }
    for f in ["/f0", "/d1/f1", "/d1/f2", "/d1/sub/f3", "/d2/f4"] {
        fake.add_file(f, f.as_bytes());
    }
    let mut seen = vec![];
    find(&fs, ROOT_INO, "/", &mut seen);
    assert_eq!(seen.len(), 9);
    assert_eq!(fake.count("list"), 5, "/, /d1, /d1/sub, /d2, /d2/empty");
    assert_eq!(fake.total_calls(), 5);
}

// ---------------------------------------------------------------- 2. our own changes

#[test]
fn written_file_shows_new_size_in_lookup_without_new_list() {
    let (fs, fake, _) = setup();
    let data = pattern(5000, 1);
    write_new(&fs, ROOT_INO, "new", &data, 700).unwrap();
    let lists = fake.count("list");
    assert_eq!(fs.lookup(ROOT_INO, "new").unwrap().size, 5000);
    assert_eq!(fake.count("list"), lists);
    assert_eq!(fake.file("/new").unwrap(), data);
}

#[test]
fn mkdir_shows_in_parent_readdir_without_list() {
    let (fs, fake, _) = setup();
    fake.add_file("/f", b"x");
    assert_eq!(readdir_names(&fs, ROOT_INO).len(), 1);
    let lists = fake.count("list");
    let a = fs.mkdir(ROOT_INO, "d").unwrap();
    assert_eq!(a.kind, FileKind::Dir);
    let names = readdir_names(&fs, ROOT_INO);
    assert!(names.contains(&("d".to_string(), FileKind::Dir)), "{names:?}");
    assert_eq!(fake.count("list"), lists);
    assert!(fake.exists("/d"));
}

#[test]
fn unlink_makes_lookup_enoent() {
    let (fs, fake, _) = setup();
    fake.add_file("/f", b"x");
    fs.lookup(ROOT_INO, "f").unwrap();
    fs.unlink(ROOT_INO, "f").unwrap();
    assert_eq!(errno(fs.lookup(ROOT_INO, "f")), libc::ENOENT);
    assert!(!fake.exists("/f"));
}

#[test]
fn rename_file_is_seen_at_once() {
    let (fs, fake, _) = setup();
    fake.add_file("/f", b"hello");
    let ino = fs.lookup(ROOT_INO, "f").unwrap().ino;
    fs.rename(ROOT_INO, "f", ROOT_INO, "g", false).unwrap();
    assert_eq!(errno(fs.lookup(ROOT_INO, "f")), libc::ENOENT);
    let g = fs.lookup(ROOT_INO, "g").unwrap();
    assert_eq!((g.ino, g.size), (ino, 5));
    assert_eq!(fake.file("/g").unwrap(), b"hello");
}

#[test]
fn rename_dir_with_children_moves_subtree_and_keeps_child_inodes() {
    let (fs, fake, _) = setup();
    fake.add_dir("/a");
    fake.add_dir("/a/s");
    fake.add_file("/a/x", b"xx");
    fake.add_file("/a/s/y", b"yyy");
    let a = fs.lookup(ROOT_INO, "a").unwrap().ino;
    let x = fs.lookup(a, "x").unwrap().ino;
    let s = fs.lookup(a, "s").unwrap().ino;
    let y = fs.lookup(s, "y").unwrap().ino;
    fs.rename(ROOT_INO, "a", ROOT_INO, "b", false).unwrap();
    assert_eq!(errno(fs.lookup(ROOT_INO, "a")), libc::ENOENT);
    let b = fs.lookup(ROOT_INO, "b").unwrap();
    assert_eq!(b.ino, a);
    assert_eq!(fs.lookup(b.ino, "x").unwrap().ino, x);
    let s2 = fs.lookup(b.ino, "s").unwrap();
    assert_eq!(s2.ino, s);
    assert_eq!(fs.lookup(s2.ino, "y").unwrap().size, 3);
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
    let old_g = fs.lookup(ROOT_INO, "g").unwrap().ino;
    fs.rename(ROOT_INO, "f", ROOT_INO, "g", false).unwrap();
    let g = fs.lookup(ROOT_INO, "g").unwrap();
    assert_ne!(g.ino, old_g);
    assert_eq!(g.size, 11);
    assert_eq!(errno(fs.getattr(old_g)), libc::ENOENT);
    assert_eq!(read_all(&fs, g.ino, 4).unwrap(), b"new content");
    assert_eq!(errno(fs.lookup(ROOT_INO, "f")), libc::ENOENT);
}

#[test]
fn rename_noreplace_onto_existing_is_eexist() {
    let (fs, fake, _) = setup();
    fake.add_file("/f", b"1");
    fake.add_file("/g", b"22");
    assert_eq!(
        errno(fs.rename(ROOT_INO, "f", ROOT_INO, "g", true)),
        libc::EEXIST
    );
    assert_eq!(fake.file("/g").unwrap(), b"22");
    assert_eq!(fake.count("rename"), 0);
}

#[test]
fn rename_dir_onto_non_empty_dir_is_enotempty() {
    let (fs, fake, _) = setup();
    fake.add_dir("/a");
    fake.add_dir("/b");
    fake.add_file("/b/keep", b"k");
    assert_eq!(
        errno(fs.rename(ROOT_INO, "a", ROOT_INO, "b", false)),
        libc::ENOTEMPTY
    );
    assert!(fake.exists("/a") && fake.exists("/b/keep"));
}

#[test]
fn rmdir_of_non_empty_is_enotempty_cached_or_not() {
    let (fs, fake, _) = setup();
    fake.add_dir("/d");
    fake.add_file("/d/f", b"x");
    // Listing of /d not cached: the server refuses, the core re-lists.
    assert_eq!(errno(fs.rmdir(ROOT_INO, "d")), libc::ENOTEMPTY);
    // Listing of /d cached now.
    let d = fs.lookup(ROOT_INO, "d").unwrap().ino;
    fs.lookup(d, "f").unwrap();
    assert_eq!(errno(fs.rmdir(ROOT_INO, "d")), libc::ENOTEMPTY);
    assert!(fake.exists("/d/f"));
}

#[test]
fn mkdir_of_existing_is_eexist() {
    let (fs, fake, _) = setup();
    fake.add_dir("/d");
    fake.add_file("/f", b"");
    assert_eq!(errno(fs.mkdir(ROOT_INO, "d")), libc::EEXIST);
    assert_eq!(errno(fs.mkdir(ROOT_INO, "f")), libc::EEXIST);
    assert_eq!(fake.count("mkdir"), 0);
}

// ---------------------------------------------------------------- 3. reads

fn big_file(fake: &FakeRemote, fs: &Fs) -> (Vec<u8>, u64) {
    let data = pattern((4 << 20) + 123, 7);
    fake.add_file("/big", &data);
    let ino = fs.lookup(ROOT_INO, "big").unwrap().ino;
    (data, ino)
}

#[test]
fn sequential_chunked_reads_use_one_stream_and_match_bytes() {
    let (fs, fake, _) = setup();
    let data = pattern(300_000, 3);
    fake.add_file("/f", &data);
    let ino = fs.lookup(ROOT_INO, "f").unwrap().ino;
    assert_eq!(read_all(&fs, ino, 4096).unwrap(), data);
    assert_eq!(fake.count("open_read"), 1);
}

#[test]
fn far_forward_read_opens_new_stream_but_short_skip_does_not() {
    let (fs, fake, _) = setup();
    let (data, ino) = big_file(&fake, &fs);
    let fh = fs.open(ino, libc::O_RDONLY).unwrap();
    assert_eq!(fs.read(fh, 0, 65536).unwrap(), &data[..65536]);
    let near = 65536 + (512 << 10);
    assert_eq!(fs.read(fh, near, 4096).unwrap(), &data[near as usize..][..4096]);
    assert_eq!(fake.count("open_read"), 1, "a gap within the skip window");
    let far = 3 << 20;
    assert_eq!(fs.read(fh, far, 65536).unwrap(), &data[far as usize..][..65536]);
    assert_eq!(fake.count("open_read"), 2, "a gap beyond the skip window");
    fs.release(fh).unwrap();
}

#[test]
fn read_slightly_behind_is_served_from_back_window() {
    let (fs, fake, _) = setup();
    let (data, ino) = big_file(&fake, &fs);
    let fh = fs.open(ino, libc::O_RDONLY).unwrap();
    for i in 0..8u64 {
        let off = i * 65536;
        assert_eq!(fs.read(fh, off, 65536).unwrap(), &data[off as usize..][..65536]);
    }
    let pos = 8 * 65536;
    let behind = pos - 200_000;
    assert_eq!(fs.read(fh, behind, 8192).unwrap(), &data[behind as usize..][..8192]);
    // Straddling the stream position: part from the window, part from the stream.
    let straddle = pos - 1000;
    assert_eq!(fs.read(fh, straddle, 8192).unwrap(), &data[straddle as usize..][..8192]);
    assert_eq!(fake.count("open_read"), 1);
    fs.release(fh).unwrap();
}

#[test]
fn read_past_eof_is_short_then_empty() {
    let (fs, fake, _) = setup();
    let data = pattern(1000, 9);
    fake.add_file("/f", &data);
    let ino = fs.lookup(ROOT_INO, "f").unwrap().ino;
    let fh = fs.open(ino, libc::O_RDONLY).unwrap();
    assert_eq!(fs.read(fh, 900, 500).unwrap(), &data[900..]);
    assert!(fs.read(fh, 1000, 100).unwrap().is_empty());
    assert!(fs.read(fh, 5000, 100).unwrap().is_empty());
    assert_eq!(fs.read(fh, 950, 10).unwrap(), &data[950..960]);
    fs.release(fh).unwrap();
    let fh = fs.open(ino, libc::O_RDONLY).unwrap();
    assert!(fs.read(fh, 5000, 100).unwrap().is_empty());
    fs.release(fh).unwrap();
}

// ---------------------------------------------------------------- 4. writes

#[test]
fn chunked_write_then_flush_stores_exact_bytes() {
    let (fs, fake, _) = setup();
    let data = pattern(100_000, 11);
    let (_, fh) = fs.create(ROOT_INO, "f", 0o644, WRONLY_CREAT).unwrap();
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
    let (_, fh) = fs.create(ROOT_INO, "f", 0o644, WRONLY_CREAT).unwrap();
    assert_eq!(fs.write(fh, 8192, &data[8192..]).unwrap(), 100);
    assert_eq!(fs.write(fh, 0, &data[..8192]).unwrap(), 8192);
    fs.flush(fh).unwrap();
    fs.release(fh).unwrap();
    assert_eq!(fake.file("/f").unwrap(), data);
}

#[test]
fn write_behind_position_is_enotsup() {
    let (fs, _, _) = setup();
    let (_, fh) = fs.create(ROOT_INO, "f", 0o644, WRONLY_CREAT).unwrap();
    fs.write(fh, 0, &[1; 100]).unwrap();
    assert_eq!(errno(fs.write(fh, 50, &[2; 10])), libc::ENOTSUP);
    fs.release(fh).unwrap();
}

#[test]
fn failed_finish_makes_flush_enospc_and_release_reports_it_too() {
    let (fs, fake, _) = setup();
    let (_, fh) = fs.create(ROOT_INO, "f", 0o644, WRONLY_CREAT).unwrap();
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
        let (_, fh) = fs.create(ROOT_INO, name, 0o644, WRONLY_CREAT).unwrap();
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
    assert_eq!(errno(fs.create(ROOT_INO, "f", 0o644, flags)), libc::EEXIST);
    assert_eq!(fake.file("/f").unwrap(), b"keep");
    assert_eq!(fake.count("open_write"), 0);
}

#[test]
fn open_rdwr_is_enotsup() {
    let (fs, fake, _) = setup();
    fake.add_file("/f", b"keep");
    let ino = fs.lookup(ROOT_INO, "f").unwrap().ino;
    assert_eq!(errno(fs.open(ino, libc::O_RDWR)), libc::ENOTSUP);
    let flags = libc::O_RDWR | libc::O_CREAT;
    assert_eq!(errno(fs.create(ROOT_INO, "g", 0o644, flags)), libc::ENOTSUP);
    assert_eq!(fake.file("/f").unwrap(), b"keep");
    assert_eq!(fake.count("open_write"), 0);
}

#[test]
fn open_wronly_trunc_replaces_content() {
    let (fs, fake, _) = setup();
    fake.add_file("/f", &pattern(5000, 1));
    let ino = fs.lookup(ROOT_INO, "f").unwrap().ino;
    let fh = fs.open(ino, libc::O_WRONLY | libc::O_TRUNC).unwrap();
    let new = pattern(300, 2);
    write_and_close(&fs, fh, &new, 128).unwrap();
    assert_eq!(fake.file("/f").unwrap(), new);
    assert_eq!(fs.lookup(ROOT_INO, "f").unwrap().size, 300);
    assert_eq!(read_all(&fs, ino, 100).unwrap(), new);
}

#[test]
fn second_flush_continues_with_append() {
    let (fs, fake, _) = setup();
    let (a, b) = (pattern(1000, 1), pattern(777, 2));
    let (attr, fh) = fs.create(ROOT_INO, "f", 0o644, WRONLY_CREAT).unwrap();
    fs.write(fh, 0, &a).unwrap();
    fs.flush(fh).unwrap();
    assert_eq!(fake.file("/f").unwrap(), a);
    fs.write(fh, 1000, &b).unwrap();
    fs.flush(fh).unwrap();
    fs.release(fh).unwrap();
    assert_eq!(fake.count("open_append"), 1);
    assert_eq!(fake.count("open_write"), 1);
    let whole = [a, b].concat();
    assert_eq!(fake.file("/f").unwrap(), whole);
    assert_eq!(fs.getattr(attr.ino).unwrap().size, 1777);
}

// ---------------------------------------------------------------- 5. setattr

fn one_file(fs: &Fs, fake: &FakeRemote, data: &[u8]) -> u64 {
    fake.add_file("/f", data);
    fs.lookup(ROOT_INO, "f").unwrap().ino
}

#[test]
fn chmod_updates_mode_seen_by_getattr() {
    let (fs, fake, _) = setup();
    let ino = one_file(&fs, &fake, b"x");
    let set = SetAttr {
        mode: Some(0o100600),
        ..SetAttr::default()
    };
    assert_eq!(fs.setattr(ino, None, set).unwrap().perm, 0o600);
    assert_eq!(fs.getattr(ino).unwrap().perm, 0o600);
    assert_eq!(fake.mode("/f"), Some(0o600));
}

#[test]
fn chown_to_other_uid_is_eperm() {
    let (fs, fake, _) = setup();
    let ino = one_file(&fs, &fake, b"x");
    let other = SetAttr {
        uid: Some(UID + 1),
        ..SetAttr::default()
    };
    assert_eq!(errno(fs.setattr(ino, None, other)), libc::EPERM);
    let same = SetAttr {
        uid: Some(UID),
        gid: Some(GID),
        ..SetAttr::default()
    };
    assert_eq!(fs.setattr(ino, None, same).unwrap().uid, UID);
}

#[test]
fn truncate_to_zero_empties_file() {
    let (fs, fake, _) = setup();
    let ino = one_file(&fs, &fake, b"some content");
    let set = SetAttr {
        size: Some(0),
        ..SetAttr::default()
    };
    assert_eq!(fs.setattr(ino, None, set).unwrap().size, 0);
    assert_eq!(fake.file("/f").unwrap(), b"");
    assert_eq!(fs.getattr(ino).unwrap().size, 0);
}

#[test]
fn truncate_to_other_sizes_is_enotsup() {
    let (fs, fake, _) = setup();
    let ino = one_file(&fs, &fake, b"some content");
    for size in [1, 5, 100] {
        let set = SetAttr {
            size: Some(size),
            ..SetAttr::default()
        };
        assert_eq!(errno(fs.setattr(ino, None, set)), libc::ENOTSUP, "{size}");
    }
    assert_eq!(fake.file("/f").unwrap(), b"some content");
}

#[test]
fn set_mtime_shows_in_getattr() {
    let (fs, fake, _) = setup();
    let ino = one_file(&fs, &fake, b"x");
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let set = SetAttr {
        mtime: Some(SetTime::At(t)),
        ..SetAttr::default()
    };
    assert_eq!(fs.setattr(ino, None, set).unwrap().mtime, t);
    assert_eq!(fs.getattr(ino).unwrap().mtime, t);
    assert_eq!(fake.mtime("/f"), Some(t));
}

/// create + write + setattr(mtime) on the open file; returns (ino, fh, t).
fn write_with_mtime(fs: &Fs, fake: &FakeRemote) -> (u64, u64, SystemTime) {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_234_567_890);
    let (attr, fh) = fs.create(ROOT_INO, "f", 0o644, WRONLY_CREAT).unwrap();
    fs.write(fh, 0, b"payload").unwrap();
    let set = SetAttr {
        mtime: Some(SetTime::At(t)),
        ..SetAttr::default()
    };
    assert_eq!(fs.setattr(attr.ino, Some(fh), set).unwrap().mtime, t);
    assert_eq!(fake.count("set_mtime"), 0, "not before the upload finished");
    (attr.ino, fh, t)
}

#[test]
fn mtime_set_while_writing_is_applied_after_upload() {
    let (fs, fake, _) = setup();
    let (_, fh, t) = write_with_mtime(&fs, &fake);
    fs.flush(fh).unwrap();
    assert_eq!(fake.count("set_mtime"), 1);
    assert_eq!(fake.mtime("/f"), Some(t));
    fs.release(fh).unwrap();
    assert_eq!(fake.count("set_mtime"), 1);
    assert_eq!(fake.mtime("/f"), Some(t));
    assert_eq!(fake.file("/f").unwrap(), b"payload");
}

#[test]
fn mtime_set_while_writing_is_still_shown_after_release() {
    let (fs, fake, _) = setup();
    let (ino, fh, t) = write_with_mtime(&fs, &fake);
    fs.flush(fh).unwrap();
    assert_eq!(fs.getattr(ino).unwrap().mtime, t, "after flush");
    fs.release(fh).unwrap();
    assert_eq!(fs.getattr(ino).unwrap().mtime, t, "after release (cp -p, touch -r)");
}

// ---------------------------------------------------------------- 6. errors

#[test]
fn list_connection_error_is_eio_from_lookup() {
    let (fs, fake, _) = setup();
    fake.add_file("/f", b"x");
    fake.fail_next("list", RemoteError::Connection("421 bye".into()));
    assert_eq!(errno(fs.lookup(ROOT_INO, "f")), libc::EIO);
    assert_eq!(fs.lookup(ROOT_INO, "f").unwrap().size, 1, "errors are not cached");
}

#[test]
fn delete_unavailable_for_existing_name_is_eacces() {
    let (fs, fake, _) = setup();
    fake.add_file("/f", b"x");
    fs.lookup(ROOT_INO, "f").unwrap();
    fake.fail_next("delete", RemoteError::Unavailable("550 denied".into()));
    assert_eq!(errno(fs.unlink(ROOT_INO, "f")), libc::EACCES);
    assert_eq!(fake.count("list"), 2, "the core re-listed to decide");
    assert!(fake.exists("/f"));
}

#[test]
fn delete_unavailable_for_vanished_name_is_enoent() {
    let (fs, fake, _) = setup();
    fake.add_file("/f", b"x");
    fs.lookup(ROOT_INO, "f").unwrap();
    // Another client removes it; our cached listing still shows it.
    fake.delete("/f").unwrap();
    assert_eq!(errno(fs.unlink(ROOT_INO, "f")), libc::ENOENT);
    assert_eq!(errno(fs.lookup(ROOT_INO, "f")), libc::ENOENT);
}

#[test]
fn names_with_slash_or_newline_are_einval() {
    let (fs, fake, _) = setup();
    for bad in ["a/b", "a\nb", "a\rb", ""] {
        assert_eq!(errno(fs.lookup(ROOT_INO, bad)), libc::EINVAL, "{bad:?}");
        assert_eq!(errno(fs.mkdir(ROOT_INO, bad)), libc::EINVAL, "{bad:?}");
        assert_eq!(errno(fs.create(ROOT_INO, bad, 0o644, WRONLY_CREAT)), libc::EINVAL);
        assert_eq!(errno(fs.unlink(ROOT_INO, bad)), libc::EINVAL);
        assert_eq!(errno(fs.rmdir(ROOT_INO, bad)), libc::EINVAL);
        assert_eq!(errno(fs.rename(ROOT_INO, "x", ROOT_INO, bad, false)), libc::EINVAL);
        assert_eq!(errno(fs.rename(ROOT_INO, bad, ROOT_INO, "x", false)), libc::EINVAL);
    }
    assert_eq!(fake.total_calls(), 0);
}

// ---------------------------------------------------------------- 7. model-based proptest

/// path → content; `None` is a directory. The root is implicit.
type Model = BTreeMap<String, Option<Vec<u8>>>;
type Outcome = Result<Option<Vec<u8>>, i32>;

const PATHS: [&str; 12] = [
    "/a", "/b", "/c", "/d", "/a/a", "/a/b", "/a/c", "/a/d", "/b/a", "/b/b", "/b/c", "/b/d",
];

#[derive(Clone, Debug)]
enum Op {
    /// create O_EXCL, write in chunks of the given size, close.
    Create(&'static str, Vec<u8>, usize),
    /// open an existing file O_WRONLY|O_TRUNC, write, close.
    Rewrite(&'static str, Vec<u8>, usize),
    Unlink(&'static str),
    Mkdir(&'static str),
    Rmdir(&'static str),
    /// from, to, noreplace.
    Rename(&'static str, &'static str, bool),
    Read(&'static str),
}

fn parent_name(p: &str) -> (&str, &str) {
    split(p).expect("not the root")
}

fn m_is_dir(m: &Model, p: &str) -> Option<bool> {
    if p == "/" {
        return Some(true);
    }
    m.get(p).map(Option::is_none)
}

/// What the kernel's path walk to `p`'s parent answers.
fn m_parent(m: &Model, p: &str) -> Result<(), i32> {
    let (parent, _) = parent_name(p);
    let mut cur = String::new();
    for comp in parent.split('/').filter(|c| !c.is_empty()) {
        cur = format!("{cur}/{comp}");
        match m_is_dir(m, &cur) {
            None => return Err(libc::ENOENT),
            Some(false) => return Err(libc::ENOTDIR),
            Some(true) => {}
        }
    }
    Ok(())
}

fn m_has_children(m: &Model, p: &str) -> bool {
    let prefix = format!("{p}/");
    m.keys().any(|k| k.starts_with(&prefix))
}

fn m_apply(m: &mut Model, op: &Op) -> Outcome {
    match op {
        Op::Create(p, data, _) => {
            m_parent(m, p)?;
            if m.contains_key(*p) {
                return Err(libc::EEXIST);
            }
            m.insert(p.to_string(), Some(data.clone()));
        }
        Op::Rewrite(p, data, _) => {
            m_parent(m, p)?;
            match m_is_dir(m, p) {
                None => return Err(libc::ENOENT),
                Some(true) => return Err(libc::EISDIR),
                Some(false) => m.insert(p.to_string(), Some(data.clone())),
            };
        }
        Op::Unlink(p) => {
            m_parent(m, p)?;
            match m_is_dir(m, p) {
                None => return Err(libc::ENOENT),
                Some(true) => return Err(libc::EISDIR),
                Some(false) => m.remove(*p),
            };
        }
        Op::Mkdir(p) => {
            m_parent(m, p)?;
            if m.contains_key(*p) {
                return Err(libc::EEXIST);
            }
            m.insert(p.to_string(), None);
        }
        Op::Rmdir(p) => {
            m_parent(m, p)?;
            match m_is_dir(m, p) {
                None => return Err(libc::ENOENT),
                Some(false) => return Err(libc::ENOTDIR),
                Some(true) if m_has_children(m, p) => return Err(libc::ENOTEMPTY),
                Some(true) => m.remove(*p),
            };
        }
        Op::Rename(from, to, noreplace) => {
            m_parent(m, from)?;
            m_parent(m, to)?;
            let src_dir = m_is_dir(m, from).ok_or(libc::ENOENT)?;
            if from == to {
                return Ok(None);
            }
            if src_dir && to.starts_with(&format!("{from}/")) {
                return Err(libc::EINVAL);
            }
            if let Some(dst_dir) = m_is_dir(m, to) {
                if *noreplace {
                    return Err(libc::EEXIST);
                }
                match (src_dir, dst_dir) {
                    (true, false) => return Err(libc::ENOTDIR),
                    (false, true) => return Err(libc::EISDIR),
                    (true, true) if m_has_children(m, to) => return Err(libc::ENOTEMPTY),
                    _ => {}
                }
            }
            m.remove(*to);
            let prefix = format!("{from}/");
            let moved: Vec<String> = m
                .keys()
                .filter(|k| k.as_str() == *from || k.starts_with(&prefix))
                .cloned()
                .collect();
            for old in moved {
                let v = m.remove(&old).expect("listed");
                m.insert(format!("{to}{}", &old[from.len()..]), v);
            }
        }
        Op::Read(p) => {
            m_parent(m, p)?;
            return match m.get(*p) {
                None => Err(libc::ENOENT),
                Some(None) => Err(libc::EISDIR),
                Some(Some(d)) => Ok(Some(d.clone())),
            };
        }
    }
    Ok(None)
}

/// The kernel's path walk: lookup each component, refusing non-directories.
fn fs_dir(fs: &Fs, dir: &str) -> FsResult<u64> {
    let mut ino = ROOT_INO;
    for comp in dir.split('/').filter(|c| !c.is_empty()) {
        let a = fs.lookup(ino, comp)?;
        if a.kind != FileKind::Dir {
            return Err(FsError::new(libc::ENOTDIR, format!("{comp}: not a dir")));
        }
        ino = a.ino;
    }
    Ok(ino)
}

fn fs_apply(fs: &Fs, op: &Op) -> FsResult<Option<Vec<u8>>> {
    match op {
        Op::Create(p, data, chunk) => {
            let (dir, name) = parent_name(p);
            let parent = fs_dir(fs, dir)?;
            let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL;
            let (_, fh) = fs.create(parent, name, 0o644, flags)?;
            write_and_close(fs, fh, data, *chunk)?;
        }
        Op::Rewrite(p, data, chunk) => {
            let (dir, name) = parent_name(p);
            let a = fs.lookup(fs_dir(fs, dir)?, name)?;
            let fh = fs.open(a.ino, libc::O_WRONLY | libc::O_TRUNC)?;
            write_and_close(fs, fh, data, *chunk)?;
        }
        Op::Unlink(p) => {
            let (dir, name) = parent_name(p);
            fs.unlink(fs_dir(fs, dir)?, name)?;
        }
        Op::Mkdir(p) => {
            let (dir, name) = parent_name(p);
            fs.mkdir(fs_dir(fs, dir)?, name)?;
        }
        Op::Rmdir(p) => {
            let (dir, name) = parent_name(p);
            fs.rmdir(fs_dir(fs, dir)?, name)?;
        }
        Op::Rename(from, to, noreplace) => {
            let (fdir, fname) = parent_name(from);
            let (tdir, tname) = parent_name(to);
            let fp = fs_dir(fs, fdir)?;
            let tp = fs_dir(fs, tdir)?;
            fs.rename(fp, fname, tp, tname, *noreplace)?;
        }
        Op::Read(p) => {
            let (dir, name) = parent_name(p);
            let a = fs.lookup(fs_dir(fs, dir)?, name)?;
            return read_all(fs, a.ino, 37).map(Some);
        }
    }
    Ok(None)
}

/// The whole tree as the core shows it (readdir + lookup + read), checking that readdir,
/// lookup and the bytes read agree on kind, inode and size.
fn fs_tree(fs: &Fs, ino: u64, path: &str, out: &mut Model) -> Result<(), String> {
    let fh = fs.opendir(ino).map_err(|e| format!("opendir {path}: {e}"))?;
    let items = fs.readdir(fh).map_err(|e| format!("readdir {path}: {e}"))?;
    fs.releasedir(fh);
    for it in items.iter().filter(|i| i.name != "." && i.name != "..") {
        let child = join(path, &it.name);
        let a = fs
            .lookup(ino, &it.name)
            .map_err(|e| format!("lookup of listed {child}: {e}"))?;
        if (a.kind, a.ino) != (it.kind, it.ino) {
            return Err(format!("{child}: readdir says {it:?}, lookup says {a:?}"));
        }
        if a.kind == FileKind::Dir {
            out.insert(child.clone(), None);
            fs_tree(fs, a.ino, &child, out)?;
        } else {
            let data = read_all(fs, a.ino, 64).map_err(|e| format!("read {child}: {e}"))?;
            if a.size != data.len() as u64 {
                return Err(format!("{child}: size {} but {} bytes", a.size, data.len()));
            }
            out.insert(child, Some(data));
        }
    }
    Ok(())
}

/// The fake's tree, straight from the fake.
fn fake_tree(fake: &FakeRemote, dir: &str, out: &mut Model) {
    for e in crate::remote::Remote::list(fake, dir).unwrap() {
        let p = join(dir, &e.name);
        if e.kind == FileKind::Dir {
            out.insert(p.clone(), None);
            fake_tree(fake, &p, out);
        } else {
            out.insert(p.clone(), fake.file(&p));
        }
    }
}

/// Applies (clock advance in seconds, op) steps to the core and the model, comparing the outcome
/// of each op and then the whole tree.
fn run_steps(steps: &[(u64, Op)]) -> Result<(), String> {
    let (fs, fake, clock) = setup();
    let mut model = Model::new();
    for (i, (tick, op)) in steps.iter().enumerate() {
        clock.advance(Duration::from_secs(*tick));
        let want = m_apply(&mut model, op);
        let got = fs_apply(&fs, op).map_err(|e| e.errno);
        if std::env::var("STATS").is_ok() { eprintln!("STAT {} {:?}", format!("{op:?}").split('(').next().unwrap(), got.as_ref().map(|_| ()).map_err(|e| *e)); }
        if got != want {
            let err = fs_apply(&fs, op).err();
            return Err(format!(
                "step {i} {op:?}: core {got:?}, model {want:?} ({err:?})"
            ));
        }
        let mut on_server = Model::new();
        fake_tree(&fake, "/", &mut on_server);
        if on_server != model {
            return Err(format!(
                "after step {i} {op:?}: server {on_server:?}, model {model:?}"
            ));
        }
        let mut seen = Model::new();
        fs_tree(&fs, ROOT_INO, "/", &mut seen).map_err(|e| format!("after step {i}: {e}"))?;
        if seen != model {
            return Err(format!(
                "after step {i} {op:?}: core shows {seen:?}, model {model:?}"
            ));
        }
    }
    Ok(())
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let path = || prop::sample::select(PATHS.to_vec());
    let data = || (prop::collection::vec(any::<u8>(), 0..200), 1usize..64);
    prop_oneof![
        3 => (path(), data()).prop_map(|(p, (d, c))| Op::Create(p, d, c)),
        2 => (path(), data()).prop_map(|(p, (d, c))| Op::Rewrite(p, d, c)),
        2 => path().prop_map(Op::Unlink),
        3 => path().prop_map(Op::Mkdir),
        1 => path().prop_map(Op::Rmdir),
        3 => (path(), path(), any::<bool>()).prop_map(|(f, t, n)| Op::Rename(f, t, n)),
        2 => path().prop_map(Op::Read),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 20000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn core_matches_reference_model(
        steps in prop::collection::vec(
            (prop_oneof![Just(0u64), Just(1), Just(TTL.as_secs() + 1)], op_strategy()),
            1..=30,
        )
    ) {
        run_steps(&steps).map_err(TestCaseError::fail)?;
    }
}
