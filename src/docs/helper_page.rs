//! The roff of `mount.ftpfs.8`: the helper's calling convention (the flags
//! `crate::mount_helper::translate` takes), the mount options from the table, and the fstab
//! and systemd examples from `contrib/systemd/`.

use std::io;

use clap_mangen::roff::{Roff, bold, italic, roman};

use super::FSTAB_EXAMPLE;
use super::pages::{Page, example, item, mount_options, para, section, see_also};

/// The mount(8) flags `mount.ftpfs` takes (see `crate::mount_helper::translate`).
pub const HELPER_FLAGS: &[(&str, Option<&str>, &str)] = &[
    (
        "-o",
        Some("OPTIONS"),
        "Mount options, as for ftpfs -o (below); may be repeated.",
    ),
    (
        "-f",
        None,
        "Fake: check the URL, the options, the password source and the mountpoint, and \
         mount nothing (mount -f, findmnt-style checks of an fstab line).",
    ),
    ("-v", None, "Verbose: log at info level."),
    (
        "-s",
        None,
        "Sloppy: accepted; ftpfs rejects unknown options anyway.",
    ),
    (
        "-n",
        None,
        "No mtab: accepted and ignored (there is no mtab to write).",
    ),
    ("-t", Some("TYPE"), "Accepted and ignored (always ftpfs)."),
    ("-N", Some("NS"), "Accepted and ignored."),
];

pub(super) fn helper_page() -> io::Result<Vec<u8>> {
    let mut r = Roff::new();
    r.control(
        "TH",
        [
            "mount.ftpfs",
            "8",
            "",
            &format!("ftpfs {}", env!("CARGO_PKG_VERSION")),
            "System Administration",
        ],
    );
    section(&mut r, "NAME");
    r.text([roman(
        "mount.ftpfs - mount helper for ftpfs: mount -t ftpfs and fstab entries",
    )]);
    section(&mut r, "SYNOPSIS");
    r.text([
        bold("mount.ftpfs"),
        roman(" "),
        italic("URL"),
        roman(" "),
        italic("MOUNTPOINT"),
        roman(" [-sfnv] [-N NS] [-o "),
        italic("OPTIONS"),
        roman("]"),
    ]);
    r.control("br", []);
    r.text([
        bold("mount -t ftpfs"),
        roman(" "),
        italic("URL"),
        roman(" "),
        italic("MOUNTPOINT"),
        roman(" [-o "),
        italic("OPTIONS"),
        roman("]"),
    ]);
    section(&mut r, "DESCRIPTION");
    para(
        &mut r,
        [
            bold("mount.ftpfs"),
            roman(
                " is the program mount(8) runs for file systems of type ftpfs. It is the \
                 ftpfs binary under another name (scripts/install.sh makes /sbin/mount.ftpfs \
                 a symbolic link to it) and takes mount(8)'s calling convention: URL first, \
                 then the mountpoint, then flags. URL may also be written ftpfs#URL, as older \
                 FUSE fstab lines do. Everything in -o reaches ftpfs's own option parser, \
                 which rejects what it does not know.",
            ),
        ],
    );
    para(
        &mut r,
        [roman(
            "The mount then behaves as ftpfs without -f: the command returns once the mount \
             works (exit 0) or prints one line and exits 1; the daemon logs to syslog as \
             ftpfs[PID] (journalctl -t ftpfs) unless log_file is given. The password comes \
             from $FTPFS_PASSWORD, then password_file, then ~/.netrc of the user running \
             mount; there is no terminal to prompt on at boot.",
        )],
    );
    section(&mut r, "OPTIONS");
    for (flag, value, text) in HELPER_FLAGS {
        let mut tag = vec![bold(*flag)];
        if let Some(v) = value {
            tag.push(roman(" "));
            tag.push(italic(*v));
        }
        item(&mut r, tag, [roman(*text)]);
    }
    mount_options(&mut r);
    section(&mut r, "FSTAB AND SYSTEMD");
    example(
        &mut r,
        "An fstab entry that systemd mounts on first access (x-systemd.automount) and \
         unmounts after 10 idle minutes; noauto keeps mount -a from mounting it at boot, \
         _netdev orders it after the network, allow_other lets every user in:",
        FSTAB_EXAMPLE.trim_end(),
    );
    para(
        &mut r,
        [roman(
            "After editing fstab: systemctl daemon-reload && systemctl start \
             mnt-ftp.automount. Without systemd: mount /mnt/ftp.",
        )],
    );
    para(
        &mut r,
        [roman(
            "The same as a unit pair, /etc/systemd/system/mnt-ftp.mount and mnt-ftp.automount \
             (the names must be the escaped mountpoint: systemd-escape -p --suffix=mount \
             /mnt/ftp); enable only the automount: systemctl enable --now mnt-ftp.automount. \
             The repository's contrib/systemd/ has both files.",
        )],
    );
    example(
        &mut r,
        "",
        include_str!("../../contrib/systemd/mnt-ftp.mount"),
    );
    example(
        &mut r,
        "",
        include_str!("../../contrib/systemd/mnt-ftp.automount"),
    );
    section(&mut r, "EXIT STATUS");
    item(
        &mut r,
        [bold("0")],
        [roman("Mounted (with -f: everything checked).")],
    );
    item(
        &mut r,
        [bold("1")],
        [roman(
            "Not mounted; one line on standard error says why (mount(8) shows it).",
        )],
    );
    section(&mut r, "FILES");
    for (name, text) in [
        ("/etc/fstab", "Entries of type ftpfs."),
        (
            "password_file",
            "The password on the first line of the file that -o password_file names; \
             keep it mode 0600 and owned by root.",
        ),
        (
            "/sbin/mount.ftpfs",
            "This helper: a link to the ftpfs binary.",
        ),
    ] {
        item(&mut r, [bold(name)], [roman(text)]);
    }
    see_also(
        &mut r,
        "ftpfs(1), mount(8), fstab(5), systemd.mount(5), systemd.automount(5), \
         systemd-fstab-generator(8)",
    );
    let mut page = Page::new();
    page.roff(&r)?;
    Ok(page.0)
}
