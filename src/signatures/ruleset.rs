//! Which rule files a configuration loads, and loading them.
//!
//! Without `-S`, the rules are every `*.rules` file of the config's rule
//! directories (sorted by name, so the order is stable) plus its listed
//! files. With `-S FILE` (one or more), only those files are loaded, as
//! `suricata -S` does.

use std::path::PathBuf;

use super::{load_rule_files, Classification, LoadResult, ResolvedVars, Vars};
use crate::config::Config;

/// The outcome of loading a configuration's rules.
#[derive(Debug)]
pub struct RulesetLoad {
    /// Rules accepted and rejected.
    pub result: LoadResult,
    /// Problems with the surrounding files (classification.config, an
    /// unreadable rule directory, unresolvable variables), as messages.
    pub errors: Vec<String>,
    /// The rule files that were read.
    pub files: Vec<PathBuf>,
}

/// The rule files `cfg` names, or `only` when it is not empty.
pub fn rule_files(cfg: &Config, only: &[PathBuf], errors: &mut Vec<String>) -> Vec<PathBuf> {
    if !only.is_empty() {
        return only.to_vec();
    }
    let mut files = Vec::new();
    for dir in &cfg.rules.directories {
        match std::fs::read_dir(dir) {
            Ok(rd) => {
                let mut found: Vec<PathBuf> = rd
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "rules") && p.is_file())
                    .collect();
                found.sort();
                files.extend(found);
            }
            Err(e) => errors.push(format!(
                "rule directory {}: {e} / 规则目录无法读取",
                dir.display()
            )),
        }
    }
    files.extend(cfg.rules.files.iter().cloned());
    files
}

/// The variables rules are compiled with (the config's, which default to
/// Suricata 8's address and port groups).
pub fn resolved_vars(cfg: &Config) -> ResolvedVars {
    Vars::from_maps(&cfg.vars.address_groups, &cfg.vars.port_groups).resolve()
}

/// Loads the rules of `cfg` (or only the `-S` files).
pub fn load(cfg: &Config, only: &[PathBuf]) -> RulesetLoad {
    let mut errors = Vec::new();
    let classification = match &cfg.rules.classification_file {
        Some(p) => match Classification::from_file(p) {
            Ok(c) => c,
            Err(e) => {
                errors.push(format!(
                    "{}:{}: {} / 分类文件错误",
                    e.file, e.line, e.reason
                ));
                Classification::suricata_default()
            }
        },
        None => Classification::suricata_default(),
    };
    let vars = resolved_vars(cfg);
    for (kind, name, reason) in vars.errors() {
        errors.push(format!(
            "vars: {kind} group {name}: {reason} / 变量无法解析"
        ));
    }
    let files = rule_files(cfg, only, &mut errors);
    let result = load_rule_files(&files, &vars, &classification);
    RulesetLoad {
        result,
        errors,
        files,
    }
}
