//! `zoneguard check`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use zoneguard::config::{self, Config};

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Config file to validate (default: the built-in defaults).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print a JSON report (exit 0 even when rules are rejected).
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: CheckArgs) -> anyhow::Result<ExitCode> {
    let result = match &a.config {
        Some(p) => Config::load(p),
        None => Ok(Config::builtin_default()),
    };
    if a.json {
        let config_errors = match &result {
            Ok(_) => Vec::new(),
            Err(e) => config::check_errors_json(e),
        };
        let report = serde_json::json!({
            "rules_loaded": 0,
            "rules_rejected": 0,
            "rejected": [],
            "config_errors": config_errors,
        });
        println!("{report}");
        return Ok(if result.is_ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    let text = config::check_report(&result);
    match &result {
        Ok(_) => {
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Err(_) => {
            eprint!("{text}");
            Ok(ExitCode::from(1))
        }
    }
}
