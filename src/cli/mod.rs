//! Commands of the `zoneguard` binary. `anyhow` lives here, at the edge;
//! the library below uses typed errors.

mod api;
mod central;
mod check;
mod incidents;
mod replay;
mod run;
mod syslog;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// zoneguard — network security monitoring for zoned government networks
/// (graded protection, MLPS 2.0): replays captures, enforces the zone
/// policy and writes Suricata-compatible EVE JSON.
///
/// zoneguard 网络安全监测：按等级保护分区策略检测违规外联、违规接入、
/// 跨区违规访问与涉密网络违规连接，输出与 Suricata 兼容的 EVE JSON。
#[derive(Debug, Parser)]
#[command(name = "zoneguard", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The daemon: live capture, syslog listeners, incident queue,
    /// /metrics and the API, until SIGTERM; SIGHUP reloads config and
    /// rules (守护进程：实时抓包、日志接收、事件队列、指标与 API).
    Run(run::RunArgs),
    /// Process capture files exactly as the daemon would and write
    /// DIR/eve.json (回放抓包文件并输出告警).
    Replay(replay::ReplayArgs),
    /// Validate the config (and rules), printing every error with its
    /// location (校验配置与规则).
    Check(check::CheckArgs),
    /// Syslog tools: `syslog parse` shows how lines are parsed (syslog 工具).
    Syslog(syslog::SyslogArgs),
    /// The incident queue: list, show, acknowledge, assign, resolve, export
    /// (事件队列与处置).
    Incidents(incidents::IncidentsArgs),
    /// The tamper-evident audit log (审计日志).
    Audit(incidents::AuditArgs),
    /// REST API tools: `api token` makes a bearer token (接口工具).
    Api(api::ApiArgs),
    /// Consume the alerts of many sensors from NATS JetStream into one
    /// incident queue, until SIGTERM/SIGINT (汇聚多个传感器的告警).
    Central(central::CentralArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(a) => run::run(a),
        Command::Replay(a) => replay::run(a),
        Command::Check(a) => check::run(a),
        Command::Syslog(a) => syslog::run(a),
        Command::Incidents(a) => incidents::run(a),
        Command::Audit(a) => incidents::run_audit(a),
        Command::Api(a) => api::run(a),
        Command::Central(a) => central::run(a),
    }
}

/// Logging to standard error; `ZONEGUARD_LOG` (or `RUST_LOG`) sets the
/// filter, default `warn` (`info` for the daemon).
pub fn init_logging(cli: &Cli) {
    let default = if matches!(cli.command, Command::Run(_)) {
        "info"
    } else {
        "warn"
    };
    let filter = std::env::var("ZONEGUARD_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| default.to_string());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// A config path given with `-c`, or none for the built-in defaults.
pub fn load_config(path: Option<&PathBuf>) -> anyhow::Result<zoneguard::config::Config> {
    match path {
        None => Ok(zoneguard::config::Config::builtin_default()),
        Some(p) => zoneguard::config::Config::load(p).map_err(|e| anyhow::anyhow!("{e}")),
    }
}
