//! The FUSE adapter: one core call and one reply per kernel request, nothing else. It converts
//! between fuser's types and the core's, and is the single place where failed operations are
//! logged (ENOENT at debug level: it is the normal answer to a lookup of a missing name).
//!
//! Invariants: no logic here beyond type conversion — every behaviour lives in [`crate::fs`],
//! where it is tested without FUSE. Names are bytes to the kernel and `String`s to the core:
//! they cross here through [`crate::names`], losslessly both ways.
//!
//! Threads: fuser reads requests on [`crate::memory::sizing::RECEIVERS`] thread(s); every
//! request that may wait runs on a [`workers::Workers`] thread (as many as the work needs),
//! and only requests answered from memory at once (forget, releasedir, statfs, the ENOSYS
//! ones) are answered on the receiving thread. A write's data is copied from fuser's buffer
//! into a buffer of the memory budget before it leaves the receiving thread (the receiver
//! waits there when the budget is full: the kernel then holds further requests).

mod workers;

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, CopyFileRangeFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags,
    Generation, INodeNo, InitFlags, KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr,
    ReplyCreate, ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyLseek,
    ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};

use crate::fs::{Attr, DirItem, Fs, FsError, Notice, SetAttr, SetTime};
use crate::names;
use crate::remote::FileKind;

/// The preferred I/O size reported in `st_blksize`, so that `cp` and friends write in 1 MiB
/// pieces instead of 128 KiB (the kernel splits them when `max_write` is smaller).
const BLKSIZE: u32 = 1 << 20;

/// Sends the core's notices ([`Notice`]) to the kernel from a thread of its own. A notice
/// that drops cached pages waits until the kernel unlocks them, which it does only once the
/// read requests holding them are answered: it must never run on a thread that answers
/// requests. The thread ends when the core is dropped.
pub fn start_notifier(fs: &Fs, notifier: fuser::Notifier) -> std::io::Result<()> {
    let (tx, rx) = std::sync::mpsc::channel::<Notice>();
    std::thread::Builder::new()
        .name("ftpfs-notify".into())
        .spawn(move || {
            for n in rx {
                let Notice::Inval { ino, from } = n;
                let from = i64::try_from(from).unwrap_or(i64::MAX);
                // ENOENT: the kernel has forgotten the inode meanwhile (nothing to drop).
                if let Err(e) = notifier.inval_inode(INodeNo(ino), from, 0) {
                    log::debug!("kernel notice for inode {ino}: {e}");
                }
            }
        })?;
    fs.set_notices(tx);
    Ok(())
}

/// fuser's `Filesystem` over the core.
pub struct FuseAdapter {
    fs: Arc<Fs>,
    workers: workers::Workers,
    /// Largest read and write request asked of the kernel.
    max_io: u32,
}

impl FuseAdapter {
    /// The adapter for `fs`, running requests on up to `workers` threads, asking the kernel
    /// for requests of at most `max_io` bytes.
    pub fn new(fs: Arc<Fs>, workers: usize, max_io: u32) -> Self {
        let weak = Arc::downgrade(&fs);
        let on_idle = move || {
            if let Some(fs) = weak.upgrade() {
                fs.idle();
            }
        };
        FuseAdapter {
            fs,
            workers: workers::Workers::new(workers, on_idle),
            max_io,
        }
    }

    /// Runs `f` with the core on a worker thread.
    fn spawn(&self, f: impl FnOnce(&Fs) + Send + 'static) {
        let fs = Arc::clone(&self.fs);
        self.workers.run(move || f(&fs));
    }
}

/// Adds one readdirplus entry; true when the reply is full (the entry did not fit).
fn add_plus(fs: &Fs, reply: &mut ReplyDirectoryPlus, ttl: &Duration, item: &DirItem) -> bool {
    let Some(a) = item.attr else {
        return false;
    };
    let full = reply.add(
        INodeNo(a.ino),
        item.next,
        os(&item.name),
        ttl,
        &attr(&a),
        Generation(0),
    );
    // The kernel takes a reference for every entry but `.` and `..` that fits; the core took
    // one for each entry it handed out.
    if full && item.name != "." && item.name != ".." {
        fs.forget(a.ino, 1);
    }
    full
}

fn attr(a: &Attr) -> FileAttr {
    FileAttr {
        ino: INodeNo(a.ino),
        size: a.size,
        blocks: a.size.div_ceil(512),
        atime: a.mtime,
        mtime: a.mtime,
        ctime: a.ctime,
        crtime: a.mtime,
        kind: kind(a.kind),
        perm: a.perm,
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        rdev: 0,
        blksize: BLKSIZE,
        flags: 0,
    }
}

fn kind(k: FileKind) -> FileType {
    match k {
        FileKind::File => FileType::RegularFile,
        FileKind::Dir => FileType::Directory,
        FileKind::Symlink => FileType::Symlink,
    }
}

/// Write-only handles bypass the kernel's page cache (FOPEN_DIRECT_IO): the kernel then hands
/// the writer's own pages to the write request instead of first copying them into cache pages
/// it allocates (a third of `cp`'s CPU time into the mount went there). Nothing is lost:
/// without a writeback cache every write(2) reaches the daemon anyway, and a write-only
/// descriptor can neither read nor be mmap'ed. Pages other descriptors cached stay coherent
/// because a file written to is opened without FOPEN_KEEP_CACHE next time.
fn write_only(flags: i32) -> FopenFlags {
    if flags & libc::O_ACCMODE == libc::O_WRONLY {
        FopenFlags::FOPEN_DIRECT_IO
    } else {
        FopenFlags::empty()
    }
}

/// The one logging point for failed operations.
fn fail(op: &str, e: FsError) -> Errno {
    if e.errno == libc::ENOENT {
        log::debug!("{op}: {}", e.msg);
    } else {
        log::warn!("{op}: {}", e.msg);
    }
    Errno::from_i32(e.errno)
}

/// A kernel name (bytes) as the core's name: lossless, any bytes (see [`crate::names`]).
fn name(n: &OsStr) -> Result<Cow<'_, str>, Errno> {
    Ok(names::decode(n.as_bytes()))
}

/// A kernel name, owned (to take it to a worker thread).
fn owned(n: &OsStr) -> OsString {
    n.to_os_string()
}

/// A core name as the kernel's bytes.
fn os(n: &str) -> Cow<'_, OsStr> {
    match names::encode(n) {
        Cow::Borrowed(b) => Cow::Borrowed(OsStr::from_bytes(b)),
        Cow::Owned(b) => Cow::Owned(OsString::from_vec(b)),
    }
}

fn set_time(t: Option<TimeOrNow>) -> Option<SetTime> {
    t.map(|t| match t {
        TimeOrNow::Now => SetTime::Now,
        TimeOrNow::SpecificTime(t) => SetTime::At(t),
    })
}

/// How long the end of the session waits for requests still running.
const DRAIN: Duration = Duration::from_secs(60);

impl Filesystem for FuseAdapter {
    /// The session ends (unmount): requests still running on worker threads (a RELEASE that
    /// trails the last close, say) finish before the core shuts down.
    fn destroy(&mut self) {
        if !self.workers.wait_idle(DRAIN) {
            log::warn!(
                "requests still running after {} s at unmount",
                DRAIN.as_secs()
            );
        }
    }

    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // O_TRUNC arrives with open() instead of as a separate truncate, so a truncating open
        // is one STOR, not an empty STOR followed by another.
        // Entries come with their attributes (readdirplus) when the kernel sees them used
        // (READDIRPLUS_AUTO: the first batch of a directory, and later ones once its entries
        // are looked at). Always-plus made the kernel build an inode for each of a big
        // directory's entries even for `ls -f` or `find`: 100 000 entries, cold `ls -f` 0.39 s
        // always, 0.22 s auto (curl MLSD 0.17 s); cold `ls -l` 0.62 s and 0.60 s
        // (scripts/bench/bigdir.sh).
        if let Err(missing) = config.add_capabilities(
            InitFlags::FUSE_ATOMIC_O_TRUNC
                | InitFlags::FUSE_DO_READDIRPLUS
                | InitFlags::FUSE_READDIRPLUS_AUTO,
        ) {
            log::debug!("kernel lacks {missing:?}");
        }
        if let Err(max) = config.set_max_write(self.max_io) {
            log::debug!("kernel takes writes of at most {max} bytes");
        }
        if let Err(max) = config.set_max_readahead(self.max_io) {
            log::debug!("kernel reads ahead at most {max} bytes");
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, n: &OsStr, reply: ReplyEntry) {
        let n = owned(n);
        self.spawn(move |fs| {
            let r = name(&n).and_then(|n| fs.lookup(parent.0, &n).map_err(|e| fail("lookup", e)));
            match r {
                Ok(a) => reply.entry(&fs.kernel_ttl(), &attr(&a), Generation(0)),
                Err(e) => reply.error(e),
            }
        });
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.fs.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        self.spawn(move |fs| match fs.getattr(ino.0) {
            Ok(a) => reply.attr(&fs.kernel_ttl(), &attr(&a)),
            Err(e) => reply.error(fail("getattr", e)),
        });
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let set = SetAttr {
            mode,
            uid,
            gid,
            size,
            atime: set_time(atime),
            mtime: set_time(mtime),
        };
        self.spawn(move |fs| match fs.setattr(ino.0, fh.map(|f| f.0), set) {
            Ok(a) => reply.attr(&fs.kernel_ttl(), &attr(&a)),
            Err(e) => reply.error(fail("setattr", e)),
        });
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        self.spawn(move |fs| match fs.readlink(ino.0) {
            Ok(t) => reply.data(&names::encode(&t)),
            Err(e) => reply.error(fail("readlink", e)),
        });
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        n: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let n = owned(n);
        self.spawn(move |fs| {
            let r = name(&n).and_then(|n| {
                fs.mkdir(parent.0, &n, mode & !umask)
                    .map_err(|e| fail("mkdir", e))
            });
            match r {
                Ok(a) => reply.entry(&fs.kernel_ttl(), &attr(&a), Generation(0)),
                Err(e) => reply.error(e),
            }
        });
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, n: &OsStr, reply: ReplyEmpty) {
        let n = owned(n);
        self.spawn(move |fs| {
            let r = name(&n).and_then(|n| fs.unlink(parent.0, &n).map_err(|e| fail("unlink", e)));
            match r {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, n: &OsStr, reply: ReplyEmpty) {
        let n = owned(n);
        self.spawn(move |fs| {
            let r = name(&n).and_then(|n| fs.rmdir(parent.0, &n).map_err(|e| fail("rmdir", e)));
            match r {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn symlink(
        &self,
        _req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let (n, target) = (owned(link_name), owned(target.as_os_str()));
        self.spawn(move |fs| {
            let r = name(&n).and_then(|n| {
                let t = names::decode(target.as_bytes());
                fs.symlink(parent.0, &n, &t).map_err(|e| fail("symlink", e))
            });
            match r {
                Ok(a) => reply.entry(&fs.kernel_ttl(), &attr(&a), Generation(0)),
                Err(e) => reply.error(e),
            }
        });
    }

    fn link(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let e = FsError::new(libc::ENOTSUP, format!("{newname:?}: FTP has no hard links"));
        reply.error(fail("link", e));
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        n: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if flags.intersects(RenameFlags::RENAME_EXCHANGE | RenameFlags::RENAME_WHITEOUT) {
            let e = FsError::new(
                libc::EINVAL,
                "RENAME_EXCHANGE/WHITEOUT cannot be done over FTP",
            );
            return reply.error(fail("rename", e));
        }
        let noreplace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        let (n, newname) = (owned(n), owned(newname));
        self.spawn(move |fs| {
            let r = name(&n).and_then(|n| {
                name(&newname).and_then(|nn| {
                    fs.rename(parent.0, &n, newparent.0, &nn, noreplace)
                        .map_err(|e| fail("rename", e))
                })
            });
            match r {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        self.spawn(move |fs| match fs.open(ino.0, flags.0) {
            Ok((fh, keep)) => reply.opened(
                FileHandle(fh),
                if keep {
                    FopenFlags::FOPEN_KEEP_CACHE
                } else {
                    write_only(flags.0)
                },
            ),
            Err(e) => reply.error(fail("open", e)),
        });
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.spawn(move |fs| {
            let mut reply = Some(reply);
            let r = fs.read_with(fh.0, offset, size, |d| {
                if let Some(r) = reply.take() {
                    r.data(d);
                }
            });
            if let (Err(e), Some(r)) = (r, reply) {
                r.error(fail("read", e));
            }
        });
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        // fuser reuses its buffer for the next request: the data is copied out here.
        let data = self.fs.budget().copy_of(data);
        self.spawn(move |fs| match fs.write_buf(fh.0, offset, data) {
            Ok(n) => reply.written(n as u32),
            Err(e) => reply.error(fail("write", e)),
        });
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        self.spawn(move |fs| match fs.flush(fh.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(fail("close", e)),
        });
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.spawn(move |fs| match fs.flush(fh.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(fail("fsync", e)),
        });
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.spawn(move |fs| match fs.release(fh.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(fail("release", e)),
        });
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        self.spawn(move |fs| match fs.opendir(ino.0) {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(fail("opendir", e)),
        });
    }

    /// Answered here, not on a worker: a directory handle's entries come from its snapshot,
    /// never from the server.
    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let r = self.fs.readdir(fh.0, offset, |item| {
            reply.add(
                INodeNo(item.ino),
                item.next,
                kind(item.kind),
                os(&item.name),
            )
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(fail("readdir", e)),
        }
    }

    /// Answered here while the directory's listing is fresh in the cache (no wait on the
    /// server possible); on a worker otherwise.
    fn readdirplus(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let fs = &self.fs;
        let ttl = fs.kernel_ttl();
        if let Some(r) =
            fs.readdirplus_cached(fh.0, offset, |item| add_plus(fs, &mut reply, &ttl, item))
        {
            match r {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(fail("readdirplus", e)),
            }
            return;
        }
        self.spawn(move |fs| {
            let r = fs.readdirplus(fh.0, offset, |item| add_plus(fs, &mut reply, &ttl, item));
            match r {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(fail("readdirplus", e)),
            }
        });
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.fs.releasedir(fh.0);
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let s = self.fs.statfs();
        reply.statfs(
            s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.bsize, s.namelen, s.bsize,
        );
    }

    // Extended attributes do not exist on FTP. ENOSYS (not ENOTSUP) makes the kernel stop
    // asking for the rest of the mount, so `ls -l` costs no round trip into the daemon per
    // file; these are answered without a log line (fuser's defaults would warn).
    fn getxattr(&self, _req: &Request, _ino: INodeNo, _n: &OsStr, _size: u32, reply: ReplyXattr) {
        reply.error(Errno::ENOSYS);
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, _size: u32, reply: ReplyXattr) {
        reply.error(Errno::ENOSYS);
    }

    fn setxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _n: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::ENOSYS);
    }

    fn removexattr(&self, _req: &Request, _ino: INodeNo, _n: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::ENOSYS);
    }

    // Calls the kernel has its own answer for once told ENOSYS (it stops sending them for the
    // mount), answered without fuser's warning: access(2) is then decided by the mode bits
    // (the server enforces its own rights at the operation itself); copy_file_range falls
    // back to read + write (FTP has no server-side copy); lseek SEEK_DATA/SEEK_HOLE to the
    // generic answer (all data); fallocate to EOPNOTSUPP (FTP cannot reserve space; glibc's
    // posix_fallocate then writes zeros).
    fn access(&self, _req: &Request, _ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        reply.error(Errno::ENOSYS);
    }

    fn copy_file_range(
        &self,
        _req: &Request,
        _ino_in: INodeNo,
        _fh_in: FileHandle,
        _offset_in: u64,
        _ino_out: INodeNo,
        _fh_out: FileHandle,
        _offset_out: u64,
        _len: u64,
        _flags: CopyFileRangeFlags,
        reply: ReplyWrite,
    ) {
        reply.error(Errno::ENOSYS);
    }

    fn lseek(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: i64,
        _whence: i32,
        reply: ReplyLseek,
    ) {
        reply.error(Errno::ENOSYS);
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _length: u64,
        _mode: i32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::ENOSYS);
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        n: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let n = owned(n);
        self.spawn(move |fs| {
            let r = name(&n).and_then(|n| {
                fs.create(parent.0, &n, mode & !umask, flags)
                    .map_err(|e| fail("create", e))
            });
            match r {
                Ok((a, fh)) => reply.created(
                    &fs.kernel_ttl(),
                    &attr(&a),
                    Generation(0),
                    FileHandle(fh),
                    write_only(flags),
                ),
                Err(e) => reply.error(e),
            }
        });
    }
}
