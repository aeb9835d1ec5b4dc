//! `zoneguard check`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use zoneguard::config::{self, Config};
use zoneguard::signatures::{check_json, loader::format_rejection, ruleset};

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Config file to validate (default: the built-in defaults).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Check only this Suricata-format rule file (repeatable), as
    /// `suricata -S`; otherwise the config's rule directories.
    #[arg(short = 'S', long = "rules", value_name = "RULEFILE")]
    pub rules: Vec<PathBuf>,
    /// Print a JSON report: `{"rules_loaded", "rules_rejected", "rejected",
    /// "config_errors"}` (exit 0 even when rules are rejected).
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: CheckArgs) -> anyhow::Result<ExitCode> {
    let result = match &a.config {
        Some(p) => Config::load(p),
        None => Ok(Config::builtin_default()),
    };
    let fallback = Config::builtin_default();
    let cfg = result.as_ref().unwrap_or(&fallback);
    let rules = ruleset::load(cfg, &a.rules);
    if a.json {
        let mut config_errors = match &result {
            Ok(_) => Vec::new(),
            Err(e) => config::check_errors_json(e),
        };
        config_errors.extend(
            rules
                .errors
                .iter()
                .map(|m| serde_json::json!({"file": null, "line": null, "column": null, "path": "rules", "message": m})),
        );
        let mut report = check_json(&rules.result);
        if let Some(obj) = report.as_object_mut() {
            obj.insert(
                "config_errors".into(),
                serde_json::Value::Array(config_errors),
            );
        }
        println!("{report}");
        return Ok(if result.is_ok() && rules.errors.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    let ok = result.is_ok() && rules.errors.is_empty() && rules.result.rejected.is_empty();
    let text = config::check_report(&result);
    if result.is_ok() {
        print!("{text}");
    } else {
        eprint!("{text}");
    }
    for e in &rules.errors {
        eprintln!("{e}");
    }
    for r in &rules.result.rejected {
        eprintln!("{}", format_rejection(r));
    }
    println!(
        "rules: {} loaded, {} rejected from {} file(s) / 规则：已加载 {} 条，拒绝 {} 条",
        rules.result.rules.len(),
        rules.result.rejected.len(),
        rules.files.len(),
        rules.result.rules.len(),
        rules.result.rejected.len()
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
