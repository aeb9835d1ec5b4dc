//! Signatures: the Suricata rule language.
//!
//! This stage turns rule files into compiled [`Rule`]s that a matching
//! engine can use directly: the header's addresses and ports are resolved
//! into sorted range sets ([`AddrSet`], [`PortSet`]) through the address
//! and port groups ([`Vars`]), every option is validated and decoded
//! (content bytes, modifiers, pcre flags, byte_* arguments, flow, flowbits,
//! thresholds), and inspection steps are grouped per buffer in rule order.
//! A rule that is malformed or uses an unsupported keyword is rejected
//! alone, with its file, line, sid and a reason naming the keyword.
//!
//! ```text
//! rule files ──loader──> line joining, comments ──compile──> Rule
//!                                  header: addr/port sets (vars)
//!                                  options: split on unescaped ';'
//!                                  keywords: typed, per-buffer lists
//! ```
//!
//! Also here: `classification.config` / `reference.config`
//! ([`Classification`], [`References`]) and `threshold.config`
//! ([`ThresholdConfig`]).

pub mod addr;
pub mod buffer;
pub mod classification;
pub mod compile;
pub mod engine;
pub mod error;
pub mod header;
pub mod keywords;
pub mod loader;
pub mod options;
pub mod pcre;
pub mod rule;
pub mod ruleset;
pub mod threshold;
pub mod transform;
pub mod vars;

pub use addr::{AddrSet, ExprError, PortSet};
pub use buffer::{Buffer, Transform};
pub use classification::{ClassType, Classification, ConfigFileError, References};
pub use compile::{compile_rule, CompileCtx};
pub use error::RuleError;
pub use header::{Action, AppProto, Direction, Proto};
pub use loader::{check_json, load_rule_files, load_rules_str, LoadResult, Rejected};
pub use rule::{
    BufferList, Content, DetectionFilter, FastPatternRef, FlowOpts, FlowbitCmd, FlowbitOp, Flowint,
    FlowintOp, Match, Num, PacketMatch, Pcre, Rule, Threshold, ThresholdKind, Track, UintCmp,
    XbitOp, XbitTrack,
};
pub use threshold::{ThresholdConfig, ThresholdConfigError, ThresholdEntry};
pub use vars::{ResolvedVars, Vars};

#[cfg(test)]
mod tests;
