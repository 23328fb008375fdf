//! `ftpfs` command: parse, validate, run; prints one error line and exits non-zero on failure.

use std::process::ExitCode;

use clap::Parser;

use ftpfs::cli::{Cli, build_config};
use ftpfs::credentials::RealEnv;
use ftpfs::run;

fn main() -> ExitCode {
    let cli = Cli::parse();
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
