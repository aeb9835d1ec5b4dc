//! `zoneguard run`: the daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

/// Arguments of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Config file (YAML): interfaces, syslog listeners, zones, rules,
    /// state and log directories.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: PathBuf,
}

pub fn run(a: RunArgs) -> anyhow::Result<ExitCode> {
    let opts = zoneguard::daemon::RunOptions {
        config: a.config.clone(),
    };
    match zoneguard::daemon::run(&opts) {
        Ok(s) => {
            tracing::info!(
                "stopped / 已停止: {} packets, {} alerts, {} incidents opened, {} EVE records ({} lost), reloads {} ok / {} failed",
                s.packets,
                s.alerts,
                s.incidents.as_ref().map_or(0, |i| i.opened),
                s.eve.0,
                s.eve.1,
                s.reloads.0,
                s.reloads.1
            );
            if let Some(err) = s.incidents.as_ref().and_then(|i| i.sync_error.as_ref()) {
                eprintln!("zoneguard: error / 错误: incident store / 事件库: {err}");
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("zoneguard: error / 错误: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
