//! zoneguard: network security monitoring for zoned government networks
//! (graded protection, MLPS 2.0).
//!
//! The crate is laid out as the pipeline it implements; each module owns one
//! stage and data moves one way through them:
//!
//! ```text
//! capture -> decode -> flow -> applayer -> policy / signatures -> output
//! syslog  -> logrules -------------------------------------------> output
//! ```
//!
//! See `docs/architecture.md` for the threads, the time model and the
//! reasons behind the design.
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod alert;
pub mod api;
pub mod applayer;
pub mod capture;
pub mod config;
pub mod daemon;
pub mod decode;
pub mod detect;
pub mod flow;
pub mod incident;
pub mod logrules;
pub mod metrics;
pub mod notify;
pub mod output;
pub mod pipeline;
pub mod policy;
pub mod queue;
pub mod signatures;
pub mod syslog;
pub mod taxonomy;
pub mod time;
pub mod tls;
