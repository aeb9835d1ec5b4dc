//! Syslog intake: parsing (RFC 5424 / RFC 3164), TCP framing (RFC 6587),
//! program decoders that lift security fields out of the message text, and
//! the `zoneguard syslog parse` command.
//!
//! ```text
//! listener --Received--> bytes --parser--> SyslogMessage --decode--> LogEvent
//!   (UDP datagram, or TCP/TLS stream --framing--> message)
//! ```
//!
//! See `docs/syslog.md` for conformance notes and the field mapping.

mod json;
mod message;
mod parser;
mod timestamp;

#[cfg(test)]
mod conformance_tests;

pub mod config;
pub mod decode;
pub mod framing;
pub mod ingest;
pub mod listener;
pub mod service;

pub use json::{error_json, run_parse_command, run_parse_command_with, to_contract_json};
pub use message::{
    BadHostname, BadHostnameError, ParseError, ParseOptions, Protocol, SdElement, SdParam,
    SyslogMessage,
};
pub use parser::parse;
