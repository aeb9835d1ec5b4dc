//! Everything a reload replaces, built in one go: the validated config,
//! the compiled packet engine (zone policy + signatures) and the compiled
//! log rules. Built on a spare thread while traffic flows; swapped whole.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::Config;
use crate::logrules::RuleSet as LogRuleSet;
use crate::pipeline::{Engine, EngineOptions};
use crate::signatures::engine::Ruleset;
use crate::signatures::{loader::format_rejection, ruleset, Classification};

/// Why a snapshot could not be built (the old one keeps running).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The config did not validate; every error with its location.
    #[error("{0}")]
    Config(String),
    /// A rule file or directory could not be read.
    #[error("rules / 规则: {0}")]
    Rules(String),
    /// A Sigma rule directory could not be read.
    #[error("log rules / 日志规则 {path}: {reason}")]
    LogRules {
        /// The directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// How the signature and log rules loaded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleCounts {
    /// Signature rules compiled and run.
    pub signatures: usize,
    /// Signature rules rejected by the parser or not supported by the engine.
    pub signatures_rejected: usize,
    /// Sigma rules loaded.
    pub log_rules: usize,
    /// Sigma rules rejected.
    pub log_rules_rejected: usize,
    /// The first rejections, as `file:line sid N: reason`.
    pub messages: Vec<String>,
}

/// One immutable generation of the daemon's configuration and detection.
#[derive(Debug)]
pub struct Snapshot {
    /// The config file it came from.
    pub path: PathBuf,
    /// The validated config.
    pub config: Arc<Config>,
    /// The packet engine.
    pub engine: Arc<Engine>,
    /// The compiled Sigma rules.
    pub log_rules: Arc<LogRuleSet>,
    /// What loaded.
    pub counts: RuleCounts,
}

/// Rejections listed in a [`RuleCounts`] (the rest are counted).
const MAX_MESSAGES: usize = 50;

impl Snapshot {
    /// Reads `path` and compiles everything it names.
    pub fn load(path: &Path) -> Result<Snapshot, SnapshotError> {
        let cfg = Config::load(path).map_err(|e| SnapshotError::Config(e.to_string()))?;
        Snapshot::build(path, cfg, None)
    }

    /// Reads `path` for a reload: threshold, detection_filter and
    /// rate_filter counters and xbits of the rules that persist carry over
    /// from `old`, as in Suricata.
    pub fn reload(path: &Path, old: &Snapshot) -> Result<Snapshot, SnapshotError> {
        let cfg = Config::load(path).map_err(|e| SnapshotError::Config(e.to_string()))?;
        Snapshot::build(path, cfg, Some(old))
    }

    /// Compiles a snapshot from a validated config (`old`: the snapshot it
    /// replaces, whose detection counters carry over).
    pub fn build(
        path: &Path,
        cfg: Config,
        old: Option<&Snapshot>,
    ) -> Result<Snapshot, SnapshotError> {
        let mut counts = RuleCounts::default();
        let load = ruleset::load(&cfg, &[]);
        if !load.errors.is_empty() {
            return Err(SnapshotError::Rules(load.errors.join("; ")));
        }
        let classes = cfg
            .rules
            .classification_file
            .as_ref()
            .and_then(|p| Classification::from_file(p).ok())
            .unwrap_or_else(Classification::suricata_default);
        let mut rs = Ruleset::compile(&load.result, &classes);
        if let Some(path) = &cfg.rules.threshold_file {
            // Suricata's threshold.config: suppress, threshold, event_filter
            let vars = ruleset::resolved_vars(&cfg);
            let tc = crate::signatures::threshold::ThresholdConfig::from_file(path, &vars);
            for e in tc.errors.iter().take(MAX_MESSAGES) {
                counts.messages.push(format!("threshold.config: {e}"));
            }
            let applied = rs.apply_threshold_config(&tc);
            for n in applied.notes.iter().take(MAX_MESSAGES) {
                counts
                    .messages
                    .push(format!("{}:{}: {}", path.display(), n.line, n.reason));
            }
        }
        if let Some(old) = old {
            rs.keep_tracking(&old.engine.rules);
        }
        counts.signatures = rs.len();
        counts.signatures_rejected = load.result.rejected.len() + rs.unsupported().len();
        for r in load.result.rejected.iter().take(MAX_MESSAGES) {
            counts.messages.push(format_rejection(r));
        }
        for u in rs.unsupported().iter().take(MAX_MESSAGES) {
            counts
                .messages
                .push(format!("{}:{} sid {}: {}", u.file, u.line, u.sid, u.reason));
        }
        let log =
            crate::syslog::service::load_rules(&cfg).map_err(|e| SnapshotError::LogRules {
                path: PathBuf::from(&e.path),
                reason: e.source.to_string(),
            })?;
        let report = &log.report;
        counts.log_rules = report.loaded;
        counts.log_rules_rejected = report.rejected.len();
        for r in report.rejected.iter().take(MAX_MESSAGES) {
            counts.messages.push(r.to_string());
        }
        let engine = Engine::from_config(
            &cfg,
            &EngineOptions {
                validate_checksums: false,
                rules: Some(Arc::new(rs)),
                signatures_only: false,
            },
        );
        Ok(Snapshot {
            path: path.to_path_buf(),
            config: Arc::new(cfg),
            engine,
            log_rules: Arc::new(log),
            counts,
        })
    }
}
