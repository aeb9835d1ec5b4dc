//! The `daemon:` section: where `zoneguard run` keeps its state and
//! writes its records, and how it rotates them.
//!
//! ```yaml
//! daemon:
//!   state_dir: /var/lib/zoneguard    # incidents.db
//!   log_dir: /var/log/zoneguard      # eve.json (outputs.eve.filename)
//!   stats_interval_secs: 30          # EVE `stats` records
//!   eve_rotate_bytes: 1073741824     # rotate eve.json past 1 GiB (0: never)
//!   eve_rotate_secs: 86400           # rotate eve.json daily (0: never)
//!   eve_keep: 14                     # rotated files kept
//!   shutdown_timeout_secs: 10
//! ```
//!
//! Relative paths are resolved against the config file's directory, like
//! the rule directories.

use std::path::PathBuf;

/// Settings of the live daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    /// Directory of the incident store (`incidents.db`).
    pub state_dir: PathBuf,
    /// Directory of `eve.json` and its rotated files.
    pub log_dir: PathBuf,
    /// Seconds between EVE `stats` records (0: none).
    pub stats_interval_secs: u64,
    /// Rotate `eve.json` once it exceeds this many bytes (0: never).
    pub eve_rotate_bytes: u64,
    /// Rotate `eve.json` once it is this many seconds old (0: never).
    pub eve_rotate_secs: u64,
    /// Rotated EVE files kept (the oldest beyond are deleted).
    pub eve_keep: u32,
    /// Longest time shutdown may take before the daemon gives up
    /// flushing and exits (non-zero).
    pub shutdown_timeout_secs: u64,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            state_dir: PathBuf::from("/var/lib/zoneguard"),
            log_dir: PathBuf::from("/var/log/zoneguard"),
            stats_interval_secs: 30,
            eve_rotate_bytes: 0,
            eve_rotate_secs: 0,
            eve_keep: 14,
            shutdown_timeout_secs: 10,
        }
    }
}

/// Keys of the `daemon:` section.
pub(super) const DAEMON_KEYS: &[&str] = &[
    "state_dir",
    "log_dir",
    "stats_interval_secs",
    "eve_rotate_bytes",
    "eve_rotate_secs",
    "eve_keep",
    "shutdown_timeout_secs",
];
