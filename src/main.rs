//! The `zoneguard` command line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_logging(&args);
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("zoneguard: error / 错误: {e:#}");
            ExitCode::from(2)
        }
    }
}
