//! `ftpfs` command: parse, validate, run; prints one error line and exits non-zero on failure.

use std::process::ExitCode;

use clap::Parser;

use ftpfs::cli::{Cli, Command, build_config, build_probe_config};
use ftpfs::credentials::RealEnv;
use ftpfs::run;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Probe(args)) = &cli.command {
        run::init_logging(match args.verbose {
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
    run::init_logging(cli.log_level());
    let cfg = match build_config(cli, &RealEnv) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("ftpfs: {e}");
            return ExitCode::FAILURE;
        }
    };
    log::debug!("configuration: {cfg:?}");
    if cfg.foreground {
        run::run_foreground(&cfg)
    } else {
        run::run_daemon(&cfg)
    }
}
