//! `mount.ftpfs`: the helper mount(8) runs for `mount -t ftpfs` and fstab entries of type
//! `ftpfs`. It is the `ftpfs` binary itself, started under the name `mount.ftpfs` (a symlink;
//! `scripts/install.sh` makes it), and this module turns mount(8)'s calling convention into
//! ftpfs's own arguments.
//!
//! mount(8) calls `mount.ftpfs SPEC DIR [-sfnv] [-N namespace] [-o OPTIONS] [-t ftpfs]`.
//! SPEC is the URL (`ftp://user@host/path`, or `ftpfs#ftp://…` / `ftpfs#host/path` as older
//! FUSE fstab lines write it). `-f` (fake) means "do everything but mount": ftpfs then only
//! checks its arguments. `-s` (sloppy) and `-n` (no mtab) need nothing from us. `-v` raises the
//! log level.
//!
//! Invariant: the translation never drops an option silently — everything in `-o` reaches
//! ftpfs's own option parser, which rejects what it does not know.

use std::ffi::OsString;

/// What mount(8) asked for.
#[derive(Debug, PartialEq, Eq)]
pub struct HelperArgs {
    /// Arguments for `ftpfs` (without the program name).
    pub args: Vec<OsString>,
    /// `-f`: check only, do not mount.
    pub fake: bool,
}

/// Whether the program was started as `mount.ftpfs`.
pub fn invoked_as_helper(argv0: &std::ffi::OsStr) -> bool {
    std::path::Path::new(argv0)
        .file_name()
        .is_some_and(|n| n == "mount.ftpfs")
}

/// Translates mount(8)'s arguments (after the program name) into ftpfs's.
pub fn translate(argv: &[OsString]) -> Result<HelperArgs, String> {
    let mut positional = Vec::new();
    let mut options: Vec<OsString> = Vec::new();
    let mut fake = false;
    let mut verbose = false;
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("-o") => {
                let v = it.next().ok_or("mount.ftpfs: -o needs a value")?;
                options.push(v.clone());
            }
            Some("-t") | Some("-N") => {
                it.next();
            }
            Some(s) if s.starts_with('-') && s.len() > 1 && !s.starts_with("--") => {
                for c in s[1..].chars() {
                    match c {
                        'f' => fake = true,
                        'v' => verbose = true,
                        's' | 'n' => {}
                        other => return Err(format!("mount.ftpfs: unknown flag -{other}")),
                    }
                }
            }
            _ => positional.push(a.clone()),
        }
    }
    let [spec, dir] = <[OsString; 2]>::try_from(positional)
        .map_err(|_| "usage: mount.ftpfs URL MOUNTPOINT [-o OPTIONS]".to_string())?;
    let spec = spec
        .to_str()
        .map(|s| s.strip_prefix("ftpfs#").unwrap_or(s).to_string())
        .map(OsString::from)
        .unwrap_or(spec);
    let mut args = vec![spec, dir];
    for o in options {
        args.push("-o".into());
        args.push(o);
    }
    if verbose {
        args.push("-v".into());
    }
    Ok(HelperArgs { args, fake })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn mount_calling_convention_becomes_ftpfs_arguments() {
        let h = translate(&os(&[
            "ftp://bob@h/pub",
            "/mnt/ftp",
            "-s",
            "-o",
            "rw,noauto,_netdev,password_file=/etc/ftpfs/bob",
        ]))
        .expect("translate");
        assert_eq!(
            h.args,
            os(&[
                "ftp://bob@h/pub",
                "/mnt/ftp",
                "-o",
                "rw,noauto,_netdev,password_file=/etc/ftpfs/bob"
            ])
        );
        assert!(!h.fake);
    }

    #[test]
    fn old_style_spec_fake_and_verbose() {
        let h = translate(&os(&["ftpfs#h/x", "/m", "-fv", "-t", "ftpfs"])).expect("translate");
        assert_eq!(h.args, os(&["h/x", "/m", "-v"]));
        assert!(h.fake);
        assert!(translate(&os(&["only-one"])).is_err());
        assert!(translate(&os(&["a", "b", "-x"])).is_err());
    }

    #[test]
    fn recognises_its_name() {
        assert!(invoked_as_helper("/sbin/mount.ftpfs".as_ref()));
        assert!(!invoked_as_helper("/usr/bin/ftpfs".as_ref()));
    }
}
