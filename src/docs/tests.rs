//! Tests of the generated pages and completion scripts (their text; `tests/system/docs.rs`
//! runs them through groff, man and the shells).

use super::pages::fstab_line;
use super::*;
use crate::mount_helper::translate;
use crate::option_table::MOUNT_OPTIONS;
use clap::FromArgMatches;

/// The text of a roff page with the escapes this module's output uses undone (enough to
/// search for words; `tests/system/docs.rs` renders the pages with groff as well).
fn plain(page: &[u8]) -> String {
    String::from_utf8_lossy(page)
        .replace("\\-", "-")
        .replace("\\*(Aq", "'")
        .replace("\\fB", "")
        .replace("\\fI", "")
        .replace("\\fR", "")
        .replace("\\fP", "")
        .replace("\\&", "")
        .replace("\\\\", "\\")
}

fn page(name: &str) -> String {
    let pages = man_pages().expect("render");
    let (_, p) = pages
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no page {name}"));
    plain(p)
}

/// Every visible flag of `cmd` as `--long` (or `-s` when it has no long form).
fn flags(cmd: &clap::Command) -> Vec<String> {
    cmd.get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_positional())
        .map(|a| match (a.get_long(), a.get_short()) {
            (Some(l), _) => format!("--{l}"),
            (None, Some(s)) => format!("-{s}"),
            (None, None) => panic!("flag without a name: {a:?}"),
        })
        .collect()
}

fn visible_subcommands() -> Vec<clap::Command> {
    command()
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect()
}

#[test]
fn ftpfs_page_mentions_every_option_flag_and_subcommand() {
    let p = page("ftpfs.1");
    for o in MOUNT_OPTIONS {
        for n in o.names {
            let shown = match o.value {
                Some(v) => format!("{n}={v}"),
                None => n.to_string(),
            };
            assert!(p.contains(&shown), "ftpfs.1 lacks -o {shown}");
        }
        if let Some(d) = o.default_text() {
            assert!(
                p.contains(&format!("Default: {d}.")),
                "ftpfs.1 lacks the default of {:?}",
                o.names
            );
        }
    }
    for f in flags(&command()) {
        assert!(p.contains(&f), "ftpfs.1 lacks {f}");
    }
    let subs = visible_subcommands();
    assert!(!subs.is_empty());
    for s in &subs {
        assert!(
            p.contains(&format!("ftpfs-{}(1)", s.get_name())),
            "ftpfs.1 lacks {}",
            s.get_name()
        );
        let sp = page(&format!("ftpfs-{}.1", s.get_name()));
        for f in flags(s) {
            assert!(sp.contains(&f), "ftpfs-{}.1 lacks {f}", s.get_name());
        }
    }
    for section in [
        "SYNOPSIS",
        "MOUNT OPTIONS",
        "EXIT STATUS",
        "ENVIRONMENT",
        "FILES",
        "EXAMPLES",
        "LOGGING",
    ] {
        assert!(
            p.contains(&format!(".SH \"{section}\"")) || p.contains(&format!(".SH {section}")),
            "{section}"
        );
    }
    for file in ["netrc", "password_file", "cache_dir"] {
        let files = &p[p.find(".SH FILES").expect("FILES")..];
        assert!(files.contains(file), "FILES lacks {file}");
    }
    for word in [
        "ftps://",
        "ftpes://",
        "-o tls ",
        "tls_ca=",
        "tls_fingerprint=sha256:",
        "tls_name=",
        "tls_insecure",
        "tls_max=1.2",
        "x-systemd.automount",
        "ftpfs[PID]",
        "journalctl -t ftpfs",
    ] {
        assert!(p.contains(word), "ftpfs.1 lacks {word}");
    }
    assert!(p.contains(&fstab_line()), "ftpfs.1 lacks the fstab example");
}

#[test]
fn readme_shows_the_tested_fstab_line() {
    let readme = include_str!("../../README.md");
    assert!(
        readme.contains(&fstab_line()),
        "README.md's automount line differs from contrib/systemd/fstab"
    );
}

#[test]
fn synopsis_shows_the_mount_and_the_subcommand_forms() {
    let p = page("ftpfs.1");
    let syn = &p[p.find(".SH SYNOPSIS").expect("synopsis")..];
    let syn = &syn[..syn[4..].find(".SH").expect("next section") + 4];
    assert!(syn.contains("ftpfs [OPTIONS] <URL> <MOUNTPOINT>"), "{syn}");
    assert!(syn.contains("ftpfs <COMMAND>"), "{syn}");
}

#[test]
fn generate_docs_parses_and_is_documented_nowhere() {
    let m = with_internal_commands(Cli::command())
        .try_get_matches_from(["ftpfs", GENERATE_DOCS, "/tmp/x"])
        .expect("parses");
    assert_eq!(generate_docs_dir(&m), Some(&PathBuf::from("/tmp/x")));
    // A mount is still a mount.
    let m = with_internal_commands(Cli::command())
        .try_get_matches_from(["ftpfs", "ftp://h/", "generate-docs"])
        .expect("parses");
    assert_eq!(generate_docs_dir(&m), None);
    let cli = Cli::from_arg_matches(&m).expect("a mount");
    assert_eq!(cli.mountpoint, Some(PathBuf::from("generate-docs")));
    let mut hidden: Vec<String> = command()
        .get_subcommands()
        .filter(|s| s.is_hide_set())
        .map(|s| s.get_name().to_string())
        .collect();
    hidden.push(GENERATE_DOCS.to_string());
    let names: Vec<String> = man_pages()
        .expect("render")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for h in &hidden {
        assert!(!page("ftpfs.1").contains(h.as_str()), "ftpfs.1 shows {h}");
        assert!(!names.iter().any(|n| n.contains(h.as_str())));
        for (name, script) in completions() {
            assert!(
                !String::from_utf8_lossy(&script).contains(h.as_str()),
                "{name} offers {h}"
            );
        }
    }
}

#[test]
fn helper_page_documents_its_flags_and_the_options() {
    let p = page("mount.ftpfs.8");
    for (flag, value, _) in HELPER_FLAGS {
        assert!(p.contains(flag), "mount.ftpfs.8 lacks {flag}");
        // Each documented flag is one translate() takes.
        let mut argv = vec!["ftp://h/", "/mnt", flag];
        if value.is_some() {
            argv.push("x");
        }
        let argv: Vec<std::ffi::OsString> = argv.iter().map(Into::into).collect();
        assert!(translate(&argv).is_ok(), "translate refuses {flag}");
    }
    for o in MOUNT_OPTIONS {
        assert!(p.contains(&o.synopsis()) || o.names.iter().all(|n| p.contains(n)));
    }
    for word in [
        "x-systemd.automount",
        "[Automount]",
        "[Mount]",
        "Type=ftpfs",
    ] {
        assert!(p.contains(word), "mount.ftpfs.8 lacks {word}");
    }
}

#[test]
fn completions_offer_every_flag_and_subcommand() {
    let scripts = completions();
    assert_eq!(
        scripts.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["ftpfs.bash", "_ftpfs", "ftpfs.fish"]
    );
    let cmd = command();
    for (name, script) in &scripts {
        let s = String::from_utf8_lossy(script);
        // fish writes `-l foreground` rather than `--foreground`.
        let has_flag = |f: &str| {
            s.contains(f)
                || f.strip_prefix("--")
                    .is_some_and(|l| s.contains(&format!("-l {l}")))
                || f.strip_prefix('-')
                    .is_some_and(|c| s.contains(&format!("-s {c}")))
        };
        for f in flags(&cmd) {
            assert!(has_flag(&f), "{name} lacks {f}");
        }
        for sub in visible_subcommands() {
            assert!(
                s.contains(sub.get_name()),
                "{name} lacks {}",
                sub.get_name()
            );
            for f in flags(&sub) {
                assert!(has_flag(&f), "{name} lacks {} {f}", sub.get_name());
            }
        }
    }
}

#[test]
fn generate_writes_every_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("new");
    let written = generate(&out).expect("generate");
    let mut names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut want: Vec<String> = [
        "_ftpfs",
        "ftpfs.1",
        "ftpfs.bash",
        "ftpfs.fish",
        "mount.ftpfs.8",
    ]
    .map(String::from)
    .into();
    want.extend(
        visible_subcommands()
            .iter()
            .map(|s| format!("ftpfs-{}.1", s.get_name())),
    );
    want.sort();
    assert!(want.contains(&"ftpfs-probe.1".to_string()));
    assert_eq!(names, want);
    for p in written {
        assert!(std::fs::metadata(&p).expect("written").len() > 200, "{p:?}");
    }
}
