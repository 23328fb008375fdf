//! Reading `/proc/self/mountinfo`: for `ftpfs stats`, which mount a device number belongs
//! to, its type, mount point and owner (`user_id=`), and the device number of our own mount;
//! for `mount_watch`, our mount's id and whether it is still there.
//!
//! Invariants: parsing never fails on a line it does not understand (the line is skipped);
//! mount points come back unescaped (`\040` is a space), exactly as the kernel knows them.

use std::path::{Path, PathBuf};

/// One line of mountinfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    /// The mount's id (first field; unique while mounted).
    pub id: u64,
    /// (major, minor) of the filesystem's device.
    pub dev: (u32, u32),
    pub mount_point: PathBuf,
    /// `fuse.ftpfs`, `ext4`, `proc` …
    pub fstype: String,
    /// The mount source (for ftpfs its fsname).
    pub source: String,
    /// The superblock options (`rw,user_id=0,group_id=0`).
    pub super_opts: String,
}

impl MountEntry {
    /// Whether this is an ftpfs mount (`fuse.ftpfs`; also a plain `fuse` mount whose source
    /// is ftpfs's default fsname, for a mount made without the subtype).
    pub fn is_ftpfs(&self) -> bool {
        self.fstype == "fuse.ftpfs" || (self.fstype == "fuse" && self.source.starts_with("ftpfs#"))
    }

    /// The uid of the user who mounted it (FUSE's `user_id=` option).
    pub fn user_id(&self) -> Option<u32> {
        self.super_opts
            .split(',')
            .find_map(|o| o.strip_prefix("user_id="))
            .and_then(|v| v.parse().ok())
    }
}

/// Undoes mountinfo's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134`
/// backslash).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok());
        match octal {
            Some(c) => {
                out.push(c);
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The lines of mountinfo `text`, in order (a later mount on the same point hides earlier).
pub fn parse(text: &str) -> Vec<MountEntry> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<MountEntry> {
    let (left, right) = line.split_once(" - ")?;
    let f: Vec<&str> = left.split(' ').collect();
    let id = f.first()?.parse().ok()?;
    let (major, minor) = f.get(2)?.split_once(':')?;
    let mount_point = PathBuf::from(unescape(f.get(4)?));
    let mut r = right.split(' ');
    Some(MountEntry {
        id,
        dev: (major.parse().ok()?, minor.parse().ok()?),
        mount_point,
        fstype: r.next()?.to_string(),
        source: unescape(r.next().unwrap_or("")),
        super_opts: r.next().unwrap_or("").to_string(),
    })
}

/// The current process's mount table.
pub fn read() -> std::io::Result<Vec<MountEntry>> {
    std::fs::read_to_string("/proc/self/mountinfo").map(|t| parse(&t))
}

/// The newest FUSE mount on `mountpoint` (our own mount, just made).
pub fn newest_fuse<'a>(entries: &'a [MountEntry], mountpoint: &Path) -> Option<&'a MountEntry> {
    entries
        .iter()
        .rev()
        .find(|e| e.mount_point == mountpoint && e.fstype.starts_with("fuse"))
}

/// The device number of the newest FUSE mount on `mountpoint`.
pub fn fuse_dev_of(entries: &[MountEntry], mountpoint: &Path) -> Option<(u32, u32)> {
    newest_fuse(entries, mountpoint).map(|e| e.dev)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
25 22 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
101 22 0:50 / /tmp/a\\040b rw,nosuid,nodev,relatime shared:60 - fuse.ftpfs ftpfs#u@h:21/ rw,user_id=1000,group_id=100
102 22 0:51 / /tmp/a\\040b rw,nosuid,nodev,relatime shared:61 - fuse.ftpfs ftpfs#u@h:21/ rw,user_id=0,group_id=0,allow_other
103 22 0:52 / /tmp/c rw shared:62 - fuse.sshfs u@h: rw,user_id=0
104 22 0:53 / /tmp/d rw shared:63 - fuse ftpfs#x@y:21/ rw,user_id=7
garbage line
";

    #[test]
    fn lines_are_parsed_and_unescaped() {
        let e = parse(INFO);
        assert_eq!(e.len(), 6, "the garbage line is skipped");
        assert_eq!(e[2].dev, (0, 50));
        assert_eq!(e[2].mount_point, Path::new("/tmp/a b"));
        assert_eq!(
            (e[2].fstype.as_str(), e[2].source.as_str()),
            ("fuse.ftpfs", "ftpfs#u@h:21/")
        );
        assert_eq!(e[2].user_id(), Some(1000));
        assert!(e[2].is_ftpfs() && e[5].is_ftpfs());
        assert!(!e[1].is_ftpfs() && !e[4].is_ftpfs());
        assert_eq!(e[1].user_id(), None);
        assert_eq!(unescape("/a\\134b\\011c\\04"), "/a\\b\tc\\04");
    }

    #[test]
    fn our_device_is_the_newest_fuse_mount_on_the_path() {
        let e = parse(INFO);
        assert_eq!(fuse_dev_of(&e, Path::new("/tmp/a b")), Some((0, 51)));
        assert_eq!(fuse_dev_of(&e, Path::new("/proc")), None);
        assert_eq!(fuse_dev_of(&e, Path::new("/tmp/x")), None);
        assert_eq!(
            newest_fuse(&e, Path::new("/tmp/a b")).map(|m| m.id),
            Some(102)
        );
        assert_eq!(
            newest_fuse(&e, Path::new("/tmp/d")).map(|m| m.id),
            Some(104)
        );
    }
}
