//! The packet pipeline: what a worker thread does with each packet, and the
//! replay driver that feeds captures through it.
//!
//! An [`Engine`] is the immutable, compiled snapshot of everything the
//! detection path reads (zone policy, decode options, table sizes). Workers
//! share it through an `Arc` and never lock it; a reload builds a new
//! engine and swaps it whole.

pub mod app;
pub mod replay;
pub mod rogue;
pub mod worker;

use std::sync::Arc;

use crate::applayer::AppConfig;
use crate::config::Config;
use crate::decode::defrag::DefragConfig;
use crate::decode::DecodeOptions;
use crate::flow::stream::StreamConfig;
use crate::flow::{FlowTableConfig, FlowTimeouts};
use crate::policy::{Indicators, ZonePolicy};
use crate::signatures::engine::Ruleset;

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
    /// Threat-intelligence indicators.
    pub indicators: Indicators,
    /// HTTP Basic authentication counts as a cleartext login.
    pub cleartext_http_basic_auth: bool,
    /// TCP reassembly limits.
    pub stream: StreamConfig,
    /// Application-layer limits.
    pub app: AppConfig,
    /// The compiled signature ruleset (empty: no signature matching).
    pub rules: Arc<Ruleset>,
    /// Thresholds of the built-in cross-flow detectors (None: off, as
    /// with `-S` or `detect.enabled: false`).
    pub detect: Option<crate::config::DetectConfig>,
}

/// The per-class timeouts of the flow table (order of [`crate::flow::TimeoutClass`]:
/// TCP new/established/closed, then new/established of UDP, ICMP and
/// other protocols) from the config's per-protocol values, picked by `f`.
fn classes(
    t: &crate::config::FlowTimeouts,
    f: impl Fn(&crate::config::ProtoTimeouts) -> (u64, u64, u64),
) -> [u32; 9] {
    let secs = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    let (tn, te, tc) = f(&t.tcp);
    let (un, ue, _) = f(&t.udp);
    let (inew, ie, _) = f(&t.icmp);
    let (on, oe, _) = f(&t.other);
    [tn, te, tc, un, ue, inew, ie, on, oe].map(secs)
}

/// Options that come from the command line rather than the config.
#[derive(Clone, Debug, Default)]
pub struct EngineOptions {
    /// Validate IP/TCP/UDP/ICMP checksums (`-k all`).
    pub validate_checksums: bool,
    /// The compiled signature ruleset to run (None: none).
    pub rules: Option<Arc<Ruleset>>,
    /// `-S`: only the given rules; the built-in indicator lists are off
    /// (the zone policy still applies).
    pub signatures_only: bool,
}

impl Engine {
    /// Compiles an engine from a validated config.
    pub fn from_config(cfg: &Config, opts: &EngineOptions) -> Arc<Engine> {
        let decode = DecodeOptions {
            validate_checksums: opts.validate_checksums,
            ..DecodeOptions::default()
        };
        let t = &cfg.flow.timeouts;
        let flow = FlowTableConfig {
            max_flows: cfg.flow.max_flows.max(1),
            timeouts: FlowTimeouts {
                normal: classes(t, |p| (p.new, p.established, p.closed)),
                emergency: classes(t, |p| {
                    (p.emergency_new, p.emergency_established, p.emergency_closed)
                }),
            },
            emergency_recovery_percent: cfg.flow.emergency_recovery_percent.min(100),
        };
        let defrag = DefragConfig {
            max_bytes: cfg.defrag.max_bytes,
            max_trackers: cfg.defrag.max_trackers,
            timeout_secs: u32::try_from(cfg.defrag.timeout_secs).unwrap_or(u32::MAX),
        };
        let rules = opts
            .rules
            .clone()
            .unwrap_or_else(|| Arc::new(Ruleset::empty()));
        // Bodies are decompressed only when a loaded rule reads them.
        let decompress_cap = if rules.uses_bodies() {
            AppConfig::default().decompress_cap
        } else {
            0
        };
        Arc::new(Engine {
            policy: ZonePolicy::from_config(cfg),
            tz: cfg.timezone,
            decode,
            flow,
            defrag,
            rogue_interval_secs: i64::try_from(cfg.policy.rogue_alert_interval_secs)
                .unwrap_or(i64::MAX)
                .max(1),
            indicators: if opts.signatures_only {
                Indicators::default()
            } else {
                Indicators::from_config(cfg)
            },
            cleartext_http_basic_auth: cfg.cleartext_http_basic_auth,
            stream: StreamConfig::default(),
            // Bodies are decompressed only for detectors that read them
            // (signature file.data buffers), see docs/performance.md.
            app: AppConfig {
                decompress_cap,
                decompress_sides: rules.body_sides(),
                ..AppConfig::default()
            },
            rules,
            detect: (!opts.signatures_only && cfg.detect.enabled).then(|| cfg.detect.clone()),
        })
    }
}
