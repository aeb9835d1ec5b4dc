//! Why a rule is rejected.

use thiserror::Error;

use super::addr::ExprError;

/// Why one rule was rejected. The loader adds file, line and sid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RuleError {
    /// The header cannot be split into its fields.
    #[error("malformed rule header: {0}")]
    Header(&'static str),
    /// The action is not one Suricata knows.
    #[error("unknown action '{0}'")]
    UnknownAction(String),
    /// The protocol is not one Suricata knows.
    #[error("unknown protocol '{0}'")]
    UnknownProtocol(String),
    /// `<-` is not a direction.
    #[error("direction '<-' is not supported: write the rule with '->' and the sides swapped")]
    BackwardDirection,
    /// The direction field is something else.
    #[error("invalid direction '{0}': expected '->' or '<>'")]
    Direction(String),
    /// An address or port expression is invalid.
    #[error("invalid {field} '{text}': {error}")]
    Expr {
        /// `source address`, `destination port`, ...
        field: &'static str,
        /// The expression as written.
        text: String,
        /// What is wrong with it.
        error: ExprError,
    },
    /// The option list cannot be split.
    #[error("malformed options at byte {offset}: {reason}")]
    Options {
        /// Byte offset within the option text.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A keyword zoneguard does not support.
    #[error("unsupported keyword '{0}'")]
    Unsupported(String),
    /// A supported keyword with a value or combination that is invalid.
    #[error("invalid '{keyword}': {reason}")]
    Invalid {
        /// The keyword.
        keyword: String,
        /// What is wrong.
        reason: String,
    },
    /// No `sid` keyword.
    #[error("rule has no sid")]
    MissingSid,
    /// Another rule already has this gid:sid.
    #[error("duplicate sid {sid} (gid {gid}), first defined at {first}")]
    DuplicateSid {
        /// The sid.
        sid: u32,
        /// The gid.
        gid: u32,
        /// `file:line` of the rule kept.
        first: String,
    },
    /// The rule text exceeds the size cap.
    #[error("rule longer than {0} bytes")]
    TooLong(usize),
    /// The rule is valid but uses a keyword (or buffer) the matching
    /// engine does not run.
    #[error("keyword '{keyword}' is not run by the engine: {reason}")]
    NotRun {
        /// The keyword or buffer.
        keyword: String,
        /// What is missing.
        reason: String,
    },
}

impl RuleError {
    /// Shorthand for [`RuleError::Invalid`].
    pub fn invalid(keyword: &str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            keyword: keyword.to_string(),
            reason: reason.into(),
        }
    }

    /// The keyword the rejection is about, for statistics; header and
    /// structural problems are reported under a pseudo keyword in `<...>`.
    pub fn keyword(&self) -> &str {
        match self {
            Self::Unsupported(k) => k,
            Self::Invalid { keyword, .. } => keyword,
            Self::Header(_) | Self::Direction(_) | Self::BackwardDirection => "<header>",
            Self::UnknownAction(_) => "<action>",
            Self::UnknownProtocol(_) => "<protocol>",
            Self::Expr { .. } => "<address/port>",
            Self::Options { .. } => "<options>",
            Self::MissingSid => "sid",
            Self::DuplicateSid { .. } => "<duplicate sid>",
            Self::TooLong(_) => "<size>",
            Self::NotRun { keyword, .. } => keyword,
        }
    }
}
