//! `zoneguard syslog parse`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

/// Arguments of `syslog`.
#[derive(Debug, Args)]
pub struct SyslogArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SyslogCommand,
}

/// Syslog tools.
#[derive(Debug, Subcommand)]
pub enum SyslogCommand {
    /// Read syslog lines on standard input and print one JSON object per
    /// line: the fields the daemon parses (逐行解析 syslog 并输出 JSON).
    Parse(ParseArgs),
}

/// Arguments of `syslog parse`.
#[derive(Debug, Args)]
pub struct ParseArgs {
    /// Judge RFC 5424 conformance exactly instead of parsing as leniently
    /// as a real receiver (the daemon's own parsing).
    #[arg(long)]
    pub strict: bool,
    /// Each input line is a JSON string holding one message exactly
    /// (control characters and all).
    #[arg(long = "json-input")]
    pub json_input: bool,
    /// Config whose `timezone` applies to timestamps without an offset.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Time zone for timestamps without an offset (IANA name), overriding
    /// the config; default UTC.
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// RFC 3164 lines carry no host name: the word after the time stamp is
    /// the program, as syslog-ng's `flags(no-hostname)` (设备不发送主机名).
    #[arg(long = "no-hostname")]
    pub no_hostname: bool,
    /// A word after an RFC 3164 time stamp matching this PCRE2 pattern is
    /// not a host name, as syslog-ng's `bad-hostname()` (匹配的词不作主机名).
    #[arg(long = "bad-hostname", value_name = "RE")]
    pub bad_hostname: Option<String>,
}

pub fn run(a: SyslogArgs) -> anyhow::Result<ExitCode> {
    match a.command {
        SyslogCommand::Parse(p) => {
            let mut tz = match &p.config {
                Some(_) => super::load_config(p.config.as_ref())?.timezone,
                None => chrono_tz::UTC,
            };
            if let Some(name) = &p.tz {
                tz = name
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--tz: unknown time zone '{name}' / 未知时区"))?;
            }
            let bad_hostname = match &p.bad_hostname {
                None => None,
                Some(re) => Some(
                    zoneguard::syslog::BadHostname::new(re)
                        .map_err(|e| anyhow::anyhow!("--bad-hostname: {e} / 正则表达式无效"))?,
                ),
            };
            let opts = zoneguard::syslog::ParseOptions {
                strict: p.strict,
                tz,
                expect_hostname: !p.no_hostname,
                bad_hostname,
                ..zoneguard::syslog::ParseOptions::default()
            };
            let stdin = std::io::stdin();
            let stdout = std::io::stdout();
            zoneguard::syslog::run_parse_command_with(
                stdin.lock(),
                stdout.lock(),
                p.json_input,
                &opts,
            )
            .context("syslog parse")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
