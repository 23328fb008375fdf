//! `ftpfs` command: parse, validate, run; prints one error line and exits non-zero on failure.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};

use ftpfs::cli::{Cli, Command, build_config, build_probe_config};
use ftpfs::credentials::RealEnv;
use ftpfs::{docs, logging, mount_helper, run};

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut fake = false;
    let cli = match argv.first() {
        Some(argv0) if mount_helper::invoked_as_helper(argv0) => {
            match mount_helper::translate(&argv[1..]) {
                Ok(h) => {
                    fake = h.fake;
                    let mut full = vec![std::ffi::OsString::from("ftpfs")];
                    full.extend(h.args);
                    Cli::parse_from(full)
                }
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        _ => {
            let matches = docs::with_internal_commands(Cli::command()).get_matches();
            if let Some(dir) = docs::generate_docs_dir(&matches) {
                return docs::run_generate_docs(dir);
            }
            Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
        }
    };
    if let Some(Command::Stats(args)) = &cli.command {
        let timeout = std::time::Duration::from_secs(args.timeout);
        return match ftpfs::stats::run_client(&args.mountpoint, args.json, timeout) {
            Ok(text) => {
                use std::io::Write;
                match std::io::stdout().lock().write_all(text.as_bytes()) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("ftpfs stats: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
            Err(e) => {
                eprintln!("ftpfs stats: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Probe(args)) = &cli.command {
        logging::init(match args.verbose {
            0 => log::LevelFilter::Warn,
            1 => log::LevelFilter::Info,
            _ => log::LevelFilter::Debug,
        });
        return match build_probe_config(args, &RealEnv) {
            Ok(cfg) => match ftpfs::remote::ftp::probe::run(&cfg, &mut std::io::stdout()) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("ftpfs: {e}");
                    ExitCode::FAILURE
                }
            },
            Err(e) => {
                eprintln!("ftpfs: {e}");
                ExitCode::FAILURE
            }
        };
    }
    logging::init(cli.log_level());
    let cfg = match build_config(cli, &RealEnv) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("ftpfs: {e}");
            return ExitCode::FAILURE;
        }
    };
    log::debug!("configuration: {cfg:?}");
    if fake {
        // mount -f: everything but the mount itself.
        return ExitCode::SUCCESS;
    }
    if cfg.foreground {
        run::run_foreground(&cfg)
    } else {
        run::run_daemon(&cfg)
    }
}
