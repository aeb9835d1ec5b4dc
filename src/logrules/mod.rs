//! Log rules in Sigma format over parsed syslog.
//!
//! ```text
//! rules/sigma/*.yml --rule::RuleSet--> Engine --on_line(msg, LogEvent)--> Alert
//! ```
//!
//! * [`rule`]: the loader (YAML → compiled detection and correlation
//!   rules; each bad rule rejected alone with file, id and reason).
//! * [`condition`]: the `condition` expression parser (nom).
//! * [`logsource`]: which lines a rule looks at; what is not collected.
//! * [`modifiers`]: field values and modifiers.
//! * [`correlation`]: correlation rules.
//! * [`pattern`]: Sigma value patterns (wildcards, escapes, case folding).
//! * [`engine`]: rule index by logsource, evaluation, correlation state in
//!   log time.
//! * [`replay`]: a syslog file through parse, decode and the engine.
//!
//! Field mapping, sid ranges, the taxonomy tag and the shipped rules are
//! documented in `docs/logrules.md`.

pub mod condition;
pub mod correlation;
pub mod engine;
mod fields;
pub mod logsource;
pub mod modifiers;
pub mod pattern;
pub mod replay;
pub mod rule;

pub use engine::{Engine, EngineStats, LineContext};
pub use replay::{replay_log_file, replay_reader, HostMap, ReplayOptions, ReplayStats};
pub use rule::{LoadOptions, LoadReport, Rule, RuleError, RuleSet};

#[cfg(test)]
mod tests;
