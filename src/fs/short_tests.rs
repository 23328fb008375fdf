//! Short and changing files on the fake remote (`reading.rs`): a transfer cut short fails
//! with EIO; a file that really shrank is read to its new end, with read-ahead beyond it
//! answered EIO and the kernel told only after the short reply; a file that grew is read on.

use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use super::tests::{R, TTL, errno, pattern, setup, with_file};
use super::*;

const K128: u32 = 128 << 10;

fn notices(fs: &Fs) -> Receiver<Notice> {
    let (tx, rx) = channel();
    fs.set_notices(tx);
    rx
}

fn open_ro(fs: &Fs, ino: u64) -> u64 {
    fs.open(ino, libc::O_RDONLY).expect("open").0
}

#[test]
fn a_transfer_cut_short_is_eio_and_never_a_short_reply() {
    let data = pattern(300_000, 1);
    let (fs, fake, ino) = with_file(&data);
    let rx = notices(&fs);
    fake.cut_reads("/f", 150_000);
    let fh = open_ro(&fs, ino);
    assert_eq!(
        fs.read(fh, 0, K128).expect("before the cut"),
        &data[..K128 as usize]
    );
    assert_eq!(errno(fs.read(fh, K128 as u64, K128)), libc::EIO);
    assert_eq!(fake.count("size"), 1, "the size was asked again");
    // Still the listed size; the kernel was told nothing.
    assert_eq!(fs.getattr(ino).expect("stat").size, 300_000);
    assert!(rx.try_recv().is_err());
    // A good transfer afterwards reads on.
    fake.heal();
    assert_eq!(
        fs.read(fh, K128 as u64, K128).expect("healed"),
        &data[K128 as usize..2 * K128 as usize]
    );
}

#[test]
fn a_shrunk_file_ends_at_its_new_size_and_the_kernel_is_told_after_the_reply() {
    let (fs, fake, ino) = with_file(&pattern(1 << 20, 2));
    let rx = notices(&fs);
    let new = pattern(300_001, 3);
    fake.add_file("/f", &new);
    let fh = open_ro(&fs, ino);
    // Read-ahead beyond the new end, handled first: EIO, nothing said to the kernel yet.
    assert_eq!(errno(fs.read(fh, 3 * K128 as u64, K128)), libc::EIO);
    assert!(rx.try_recv().is_err(), "told before the short reply");
    assert_eq!(fs.read(fh, 0, K128).expect("head"), &new[..K128 as usize]);
    assert!(rx.try_recv().is_err());
    // The read that holds the end is short, then the kernel drops what it has beyond.
    let tail = fs.read(fh, 2 * K128 as u64, K128).expect("tail");
    assert_eq!(tail, &new[2 * K128 as usize..]);
    assert_eq!(
        rx.try_recv().expect("notice"),
        Notice::Inval {
            ino,
            from: 300_001 / 4096 * 4096
        }
    );
    assert_eq!(fs.getattr(ino).expect("stat").size, 300_001);
    // Late read-ahead beyond: still EIO; the middle is whole; at the end: empty.
    assert_eq!(errno(fs.read(fh, 4 * K128 as u64, K128)), libc::EIO);
    assert_eq!(
        fs.read(fh, K128 as u64, K128).expect("middle"),
        &new[K128 as usize..2 * K128 as usize]
    );
    assert_eq!(fs.read(fh, 300_001, 4096).expect("at end"), b"");
    assert!(rx.try_recv().is_err(), "one notice");
    assert_eq!(fake.count("size"), 1);
}

#[test]
fn a_file_shrunk_to_a_page_boundary_is_told_by_the_empty_read_at_its_end() {
    let (fs, fake, ino) = with_file(&pattern(1 << 20, 4));
    let rx = notices(&fs);
    let new = pattern(2 * K128 as usize, 5);
    fake.add_file("/f", &new);
    let fh = open_ro(&fs, ino);
    assert_eq!(fs.read(fh, 0, K128).expect("head").len(), K128 as usize);
    assert_eq!(
        fs.read(fh, K128 as u64, K128).expect("full").len(),
        K128 as usize
    );
    assert!(rx.try_recv().is_err());
    assert_eq!(fs.read(fh, 2 * K128 as u64, K128).expect("end"), b"");
    assert_eq!(
        rx.try_recv().expect("notice"),
        Notice::Inval {
            ino,
            from: 2 * K128 as u64
        }
    );
}

#[test]
fn without_size_the_server_is_listed_afresh() {
    let (fs, fake, ino) = with_file(&pattern(200_000, 6));
    let new = pattern(50_000, 7);
    fake.add_file("/f", &new);
    fake.fail_always(
        "size",
        RemoteError::Unsupported("500 SIZE not understood".into()),
    );
    let lists = fake.count("list");
    let fh = open_ro(&fs, ino);
    assert_eq!(fs.read(fh, 0, K128).expect("short"), new);
    assert_eq!(fake.count("list"), lists + 1);
    assert_eq!(fs.getattr(ino).expect("stat").size, 50_000);
}

#[test]
fn a_file_that_grew_is_read_to_the_size_a_stat_shows() {
    let (fs, fake, clock) = setup();
    let old = pattern(10_000, 8);
    fake.add_file("/f", &old);
    let ino = fs.lookup(R, "f").expect("lookup").ino;
    let fh = open_ro(&fs, ino);
    assert_eq!(fs.read(fh, 0, K128).expect("all of it"), old);
    // Appended by another client; a stat after the TTL shows it.
    let grown = [old.clone(), pattern(20_000, 9)].concat();
    fake.add_file("/f", &grown);
    clock.advance(TTL + Duration::from_secs(1));
    assert_eq!(fs.getattr(ino).expect("stat").size, 30_000);
    assert_eq!(fs.read(fh, 8192, K128).expect("on"), &grown[8192..]);
    assert_eq!(fs.read(fh, 30_000, 4096).expect("end"), b"");
}

#[test]
fn a_staged_copy_never_fills_a_short_transfer_with_zeros() {
    let data = pattern(3 << 20, 10);
    let (fs, fake, ino) = with_file(&data);
    fake.cut_reads("/f", 1_500_000);
    let fh = fs.open(ino, libc::O_RDWR).expect("open rw").0;
    assert_eq!(fs.read(fh, 0, 4096).expect("first block"), &data[..4096]);
    assert_eq!(errno(fs.read(fh, 2 << 20, 4096)), libc::EIO);
    // Nothing was written: closing uploads nothing.
    fs.release(fh).expect("release");
    assert_eq!(fake.file("/f").expect("kept"), data);
}
