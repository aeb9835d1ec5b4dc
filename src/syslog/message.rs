//! The parsed form of one syslog message, the parse options and the parse
//! error. Every text field borrows from the input line unless it had to be
//! repaired (invalid UTF-8, escapes in structured data, a host name filled
//! from the sender's address).

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, Utc};
use chrono_tz::Tz;

/// Which wire format a message was read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// RFC 5424 (`<PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]`).
    Rfc5424,
    /// RFC 3164 ("BSD syslog") and the many shapes real devices send.
    Rfc3164,
}

impl Protocol {
    /// The name used in the JSON output (`rfc5424` / `rfc3164`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Rfc5424 => "rfc5424",
            Protocol::Rfc3164 => "rfc3164",
        }
    }
}

/// One `PARAM-NAME="PARAM-VALUE"` pair of an SD-ELEMENT; the value is
/// unescaped (`\"`, `\\`, `\]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdParam<'a> {
    /// PARAM-NAME.
    pub name: Cow<'a, str>,
    /// PARAM-VALUE with escapes removed.
    pub value: Cow<'a, str>,
}

/// One SD-ELEMENT: `[SD-ID *(SP SD-PARAM)]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdElement<'a> {
    /// SD-ID, e.g. `exampleSDID@32473` or `timeQuality`.
    pub id: Cow<'a, str>,
    /// The parameters in the order they were sent.
    pub params: Vec<SdParam<'a>>,
}

/// A parsed syslog message borrowing from the input line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyslogMessage<'a> {
    /// The format the message was read as.
    pub protocol: Protocol,
    /// Facility (PRI / 8); `None` only when no PRI could be assumed.
    pub facility: Option<u8>,
    /// Severity (PRI % 8).
    pub severity: Option<u8>,
    /// Time stamp with its offset; a stamp without one is read in
    /// [`ParseOptions::tz`] and a missing year comes from the receive time.
    pub timestamp: Option<DateTime<FixedOffset>>,
    /// HOSTNAME, or the sender's address when the line has none.
    pub hostname: Option<Cow<'a, str>>,
    /// APP-NAME (RFC 5424) or the program part of the TAG (RFC 3164).
    pub app_name: Option<Cow<'a, str>>,
    /// PROCID (RFC 5424) or the `[pid]` of the TAG (RFC 3164).
    pub procid: Option<Cow<'a, str>>,
    /// MSGID (RFC 5424 only).
    pub msgid: Option<Cow<'a, str>>,
    /// STRUCTURED-DATA elements; empty when there are none (no allocation).
    pub structured_data: Vec<SdElement<'a>>,
    /// The free-form message (a leading BOM is kept as sent).
    pub msg: Cow<'a, str>,
}

/// How to parse: strictness, the local time zone and the receive context.
#[derive(Clone, Debug)]
pub struct ParseOptions {
    /// Judge RFC 5424 conformance exactly (`zoneguard syslog parse --strict`);
    /// the daemon runs lenient (`false`), like rsyslog and syslog-ng.
    pub strict: bool,
    /// Zone for time stamps that carry no offset.
    pub tz: Tz,
    /// When the message arrived; gives the year of year-less stamps.
    pub received: DateTime<Utc>,
    /// The sender's address; fills a missing HOSTNAME.
    pub sender: Option<IpAddr>,
    /// RFC 3164: take the word after the time stamp as HOSTNAME when it
    /// looks like one (default `true`, as rsyslog and syslog-ng). `false`
    /// reads it as the program, for devices that send no host name
    /// (syslog-ng `flags(no-hostname)`); the sender's address then fills
    /// HOSTNAME. RFC 5424 lines are not affected.
    pub expect_hostname: bool,
    /// RFC 3164: a word after the time stamp that matches this pattern is
    /// never taken as HOSTNAME but read as the program (syslog-ng
    /// `bad-hostname()`). RFC 5424 lines are not affected.
    pub bad_hostname: Option<BadHostname>,
}

/// A compiled `bad_hostname` pattern (PCRE2, UTF-8 mode, with the match
/// and heap limits of the Sigma `re` modifier). Cheap to clone.
#[derive(Clone)]
pub struct BadHostname {
    pattern: Arc<str>,
    re: Arc<pcre2::bytes::Regex>,
}

impl BadHostname {
    /// Compiles `pattern`; the error says why it does not compile.
    pub fn new(pattern: &str) -> Result<Self, BadHostnameError> {
        if pattern.is_empty() {
            return Err(BadHostnameError("empty pattern".into()));
        }
        use crate::logrules::modifiers::{compile_regex, MAX_REGEX_LEN};
        // Compiled bare first so that an error's offset is the pattern's
        // own, not one inside the limit settings put before it.
        if pattern.len() <= MAX_REGEX_LEN && !pattern.starts_with("(*") {
            if let Err(e) = pcre2::bytes::RegexBuilder::new().utf(true).build(pattern) {
                return Err(BadHostnameError(format!("regex does not compile: {e}")));
            }
        }
        let re = compile_regex(pattern, false, false, false).map_err(BadHostnameError)?;
        Ok(BadHostname {
            pattern: Arc::from(pattern),
            re: Arc::new(re),
        })
    }

    /// The pattern as configured.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Does `word` match? A match abandoned at the PCRE2 limits counts as
    /// no match (the word stays a host name).
    pub fn is_match(&self, word: &str) -> bool {
        self.re.is_match(word.as_bytes()).unwrap_or(false)
    }
}

impl std::fmt::Debug for BadHostname {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("BadHostname").field(&self.pattern).finish()
    }
}

impl PartialEq for BadHostname {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern
    }
}

impl Eq for BadHostname {}

/// A `bad_hostname` pattern that does not compile.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadHostnameError(pub String);

impl ParseOptions {
    /// The same options with the receive time set to `secs` seconds after
    /// the Unix epoch (for reproducible runs: replay, tests, fuzzing).
    pub fn received_at_unix(mut self, secs: i64) -> Self {
        if let Some(t) = DateTime::<Utc>::from_timestamp(secs, 0) {
            self.received = t;
        }
        self
    }
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            strict: false,
            tz: Tz::UTC,
            received: Utc::now(),
            sender: None,
            expect_hostname: true,
            bad_hostname: None,
        }
    }
}

/// Why a line is not a syslog message (lenient mode) or not a conforming
/// RFC 5424 message (strict mode). Offsets are byte offsets into the line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Nothing to parse.
    #[error("empty message")]
    Empty,
    /// Bad or missing `<PRI>`.
    #[error("PRI at offset {offset}: {reason}")]
    Pri {
        /// Byte offset of the problem.
        offset: usize,
        /// What was expected.
        reason: &'static str,
    },
    /// Bad VERSION.
    #[error("VERSION at offset {offset}: expected 1-3 digits not starting with 0, then SP")]
    Version {
        /// Byte offset of the problem.
        offset: usize,
    },
    /// Bad TIMESTAMP.
    #[error("TIMESTAMP at offset {offset}: {reason}")]
    Timestamp {
        /// Byte offset of the problem.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// Bad HOSTNAME, APP-NAME, PROCID or MSGID.
    #[error(
        "{field} at offset {offset}: expected NILVALUE or 1 to {max} printable US-ASCII characters"
    )]
    Header {
        /// The header field.
        field: &'static str,
        /// Byte offset of the problem.
        offset: usize,
        /// Its maximum length.
        max: usize,
    },
    /// Bad STRUCTURED-DATA.
    #[error("STRUCTURED-DATA at offset {offset}: {reason}")]
    StructuredData {
        /// Byte offset of the problem.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// Bad MSG.
    #[error("MSG at offset {offset}: {reason}")]
    Msg {
        /// Byte offset of the problem.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
}
