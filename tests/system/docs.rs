//! The man pages and completions as the binary writes them (`ftpfs generate-docs DIR`) and as
//! `scripts/install.sh` installs them: groff renders every page without a warning, man shows
//! every `-o` option, flag and subcommand, and bash, zsh and fish load their scripts and
//! complete ftpfs's flags and subcommands.

use std::path::Path;
use std::process::Command;

use super::{ok, repo, run};
use crate::mount::harness::BIN;
use ftpfs::option_table::MOUNT_OPTIONS;

/// The documented command's visible flags (`--long`, or `-s` without a long form) and
/// subcommands (the same definition the generator uses).
fn flags_of(cmd: &clap::Command) -> Vec<String> {
    cmd.get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_positional())
        .map(|a| match (a.get_long(), a.get_short()) {
            (Some(l), _) => format!("--{l}"),
            (None, Some(s)) => format!("-{s}"),
            (None, None) => panic!("flag without a name"),
        })
        .collect()
}

fn subcommands() -> Vec<clap::Command> {
    ftpfs::docs::command()
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect()
}

fn generate(dir: &Path) {
    let listed = ok(Command::new(BIN).arg("generate-docs").arg(dir));
    assert!(listed.lines().count() >= 6, "{listed}");
}

/// The page as man shows it, without hyphenation or justification.
fn man(page: &Path) -> String {
    ok(Command::new("man")
        .args(["--nh", "--nj", "-l"])
        .arg(page)
        .env("MANWIDTH", "200")
        .env("MAN_KEEP_FORMATTING", "")
        .env_remove("MANPAGER")
        .env_remove("PAGER"))
}

#[test]
fn man_pages_render_cleanly_and_show_every_option_and_subcommand() {
    let dir = tempfile::tempdir().expect("tmp");
    generate(dir.path());
    let mut pages: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "1" || e == "8"))
        .collect();
    pages.sort();
    assert!(pages.len() >= 3, "{pages:?}");
    for page in &pages {
        // -ww: every warning; -z: no output. groff says nothing about a clean page.
        let out = run(Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(page));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && err.is_empty(), "{page:?}: {err}");
    }
    let ftpfs1 = man(&dir.path().join("ftpfs.1"));
    let helper8 = man(&dir.path().join("mount.ftpfs.8"));
    for o in MOUNT_OPTIONS {
        let synopsis = o.synopsis();
        assert!(ftpfs1.contains(&synopsis), "man ftpfs lacks {synopsis}");
        assert!(
            helper8.contains(&synopsis),
            "man mount.ftpfs lacks {synopsis}"
        );
    }
    for f in flags_of(&ftpfs::docs::command()) {
        assert!(ftpfs1.contains(&f), "man ftpfs lacks {f}");
    }
    for sub in subcommands() {
        let name = sub.get_name();
        assert!(ftpfs1.contains(&format!("ftpfs-{name}(1)")), "{name}");
        let page = man(&dir.path().join(format!("ftpfs-{name}.1")));
        assert!(page.contains(&format!("ftpfs {name}")), "{page}");
        for f in flags_of(&sub) {
            assert!(page.contains(&f), "man ftpfs-{name} lacks {f}");
        }
    }
    for heading in [
        "SYNOPSIS",
        "MOUNT OPTIONS",
        "EXIT STATUS",
        "FILES",
        "EXAMPLES",
        "LOGGING",
    ] {
        assert!(
            ftpfs1.lines().any(|l| l == heading),
            "man ftpfs lacks {heading}"
        );
    }
    assert!(ftpfs1.contains("x-systemd.automount") && helper8.contains("[Automount]"));
}

/// Words bash completes after `line` (the last word is the one being completed).
fn bash_complete(script: &Path, line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split(' ').collect();
    let array = words
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let prog = format!(
        "source '{}' || exit 9\n\
         complete -p ftpfs >/dev/null || exit 8\n\
         COMP_WORDS=({array}); COMP_CWORD={cword}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}\n\
         _ftpfs ftpfs '{cur}' '{prev}'\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        cword = words.len() - 1,
        cur = words[words.len() - 1],
        prev = words[words.len().saturating_sub(2)],
    );
    ok(Command::new("bash").arg("--norc").arg("-c").arg(prog))
        .lines()
        .map(|l| l.trim().to_string())
        .collect()
}

/// Words fish completes for `line` (`complete -C`).
fn fish_complete(script: &Path, line: &str) -> Vec<String> {
    let prog = format!("source '{}'; complete -C '{line}'", script.display());
    ok(Command::new("fish").arg("--no-config").arg("-c").arg(prog))
        .lines()
        .map(|l| l.split('\t').next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn bash_zsh_and_fish_complete_the_flags_and_subcommands() {
    let dir = tempfile::tempdir().expect("tmp");
    generate(dir.path());
    let main = ftpfs::docs::command();
    let subs = subcommands();

    let bash = dir.path().join("ftpfs.bash");
    let got = bash_complete(&bash, "ftpfs -");
    for f in flags_of(&main) {
        assert!(got.contains(&f), "bash: `ftpfs -` lacks {f}: {got:?}");
    }
    let got = bash_complete(&bash, "ftpfs ");
    for sub in &subs {
        assert!(got.contains(&sub.get_name().to_string()), "bash: {got:?}");
    }
    assert!(!got.iter().any(|w| w.contains("generate")), "{got:?}");
    for sub in &subs {
        let got = bash_complete(&bash, &format!("ftpfs {} -", sub.get_name()));
        for f in flags_of(sub) {
            assert!(
                got.contains(&f),
                "bash: `ftpfs {} -` lacks {f}",
                sub.get_name()
            );
        }
    }

    let fish = dir.path().join("ftpfs.fish");
    let got = fish_complete(&fish, "ftpfs -");
    for f in flags_of(&main) {
        assert!(got.contains(&f), "fish: `ftpfs -` lacks {f}: {got:?}");
    }
    let got = fish_complete(&fish, "ftpfs ");
    for sub in &subs {
        assert!(got.contains(&sub.get_name().to_string()), "fish: {got:?}");
    }
    assert!(!got.iter().any(|w| w.contains("generate")), "{got:?}");
    for sub in &subs {
        let got = fish_complete(&fish, &format!("ftpfs {} -", sub.get_name()));
        for f in flags_of(sub) {
            assert!(
                got.contains(&f),
                "fish: `ftpfs {} -` lacks {f}",
                sub.get_name()
            );
        }
    }

    // zsh: the script parses, and loaded after compinit it registers itself for ftpfs.
    let zsh = dir.path().join("_ftpfs");
    ok(Command::new("zsh").arg("-n").arg(&zsh));
    let dump = dir.path().join("zcompdump");
    let registered = ok(Command::new("zsh").arg("-f").arg("-c").arg(format!(
        "autoload -Uz compinit && compinit -u -d '{}' && source '{}' && print -r -- $_comps[ftpfs]",
        dump.display(),
        zsh.display()
    )));
    assert_eq!(registered.trim(), "_ftpfs");
    let script = std::fs::read_to_string(&zsh).expect("read _ftpfs");
    for f in flags_of(&main) {
        assert!(script.contains(&f), "zsh lacks {f}");
    }
}

#[test]
fn install_sh_puts_pages_and_completions_where_man_and_the_shells_look() {
    let dir = tempfile::tempdir().expect("tmp");
    let prefix = dir.path().join("usr-local");
    let sbin = dir.path().join("sbin");
    ok(Command::new("bash")
        .arg(repo().join("scripts/install.sh"))
        .env("FTPFS_BIN", BIN)
        .env("PREFIX", &prefix)
        .env("SBIN", &sbin));
    for rel in [
        "bin/ftpfs",
        "share/man/man1/ftpfs.1",
        "share/man/man1/ftpfs-probe.1",
        "share/man/man1/ftpfs-stats.1",
        "share/man/man8/mount.ftpfs.8",
        "share/bash-completion/completions/ftpfs",
        "share/zsh/site-functions/_ftpfs",
        "share/fish/vendor_completions.d/ftpfs.fish",
    ] {
        assert!(
            prefix.join(rel).is_file(),
            "install.sh did not install {rel}"
        );
    }
    assert_eq!(
        std::fs::read_link(sbin.join("mount.ftpfs")).expect("mount.ftpfs link"),
        prefix.join("bin/ftpfs")
    );
    // man finds both pages in the prefix's man directory, in their sections.
    let manpath = prefix.join("share/man");
    for (page, section) in [("ftpfs", "man1"), ("mount.ftpfs", "man8")] {
        let found = ok(Command::new("man")
            .arg("-M")
            .arg(&manpath)
            .args(["-w", page]));
        assert!(
            found
                .trim()
                .ends_with(&format!("{section}/{page}.{}", &section[3..])),
            "{page}: {found}"
        );
    }
    // bash-completion's lookup path for a command is share/bash-completion/completions/NAME;
    // the installed script completes there too.
    let got = bash_complete(
        &prefix.join("share/bash-completion/completions/ftpfs"),
        "ftpfs pro",
    );
    assert_eq!(got, ["probe"]);
}
