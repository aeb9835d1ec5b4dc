//! The packet pipeline: what a worker thread does with each packet, and the
//! replay driver that feeds captures through it.
//!
//! An [`Engine`] is the immutable, compiled snapshot of everything the
//! detection path reads (zone policy, decode options, table sizes). Workers
//! share it through an `Arc` and never lock it; a reload builds a new
//! engine and swaps it whole.

pub mod replay;
pub mod rogue;
pub mod worker;

use std::sync::Arc;

use crate::config::Config;
use crate::decode::defrag::DefragConfig;
use crate::decode::DecodeOptions;
use crate::flow::FlowTableConfig;
use crate::policy::ZonePolicy;

pub use replay::{replay, ReplayError, ReplayOptions, ReplaySummary};
pub use worker::{Worker, WorkerStats};

/// The compiled detection snapshot shared by all workers.
#[derive(Debug)]
pub struct Engine {
    /// The zone policy.
    pub policy: ZonePolicy,
    /// Time zone of EVE timestamps.
    pub tz: chrono_tz::Tz,
    /// Decoder options.
    pub decode: DecodeOptions,
    /// Flow table settings (per worker: the capacity is split).
    pub flow: FlowTableConfig,
    /// IP defragmentation settings (per worker).
    pub defrag: DefragConfig,
    /// Rogue-device alerts repeat at most once per this many seconds of
    /// packet time per MAC/IP pair.
    pub rogue_interval_secs: i64,
}

/// Options that come from the command line rather than the config.
#[derive(Clone, Debug, Default)]
pub struct EngineOptions {
    /// Validate IP/TCP/UDP/ICMP checksums (`-k all`).
    pub validate_checksums: bool,
}

impl Engine {
    /// Compiles an engine from a validated config.
    pub fn from_config(cfg: &Config, opts: &EngineOptions) -> Arc<Engine> {
        let decode = DecodeOptions {
            validate_checksums: opts.validate_checksums,
            ..DecodeOptions::default()
        };
        Arc::new(Engine {
            policy: ZonePolicy::from_config(cfg),
            tz: cfg.timezone,
            decode,
            flow: FlowTableConfig::default(),
            defrag: DefragConfig::default(),
            rogue_interval_secs: 3600,
        })
    }
}
