//! Fuzz target `sigma_rule`: arbitrary bytes as a Sigma rule file, then a
//! few fixed log lines through the engine built from whatever loaded.
//!
//! Loading must never panic: every YAML document is loaded or rejected with
//! a reason. The same path is covered in-crate by the proptests in
//! `src/logrules/tests.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zoneguard::logrules::replay::replay_message;
use zoneguard::logrules::{Engine, LoadOptions, ReplayOptions, ReplayStats, RuleSet};
use zoneguard::syslog::ParseOptions;

const LINES: &[&[u8]] = &[
    b"<38>1 2026-11-02T09:00:00Z web01 sshd 1 - - Failed password for root from 203.0.113.9 port 4022 ssh2",
    b"<38>1 2026-11-02T09:00:01Z web01 sshd 1 - - Invalid user admin from 203.0.113.9 port 4023",
    b"<85>Nov  2 09:00:02 app01 sudo:  bob : TTY=pts/1 ; PWD=/ ; USER=root ; COMMAND=/bin/sh",
    b"<4>Nov  2 09:00:03 fw kernel: IPTABLES-DROP: IN=eth0 OUT= SRC=198.51.100.1 DST=10.0.0.1 PROTO=TCP SPT=1 DPT=22",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut opts = LoadOptions::default();
    opts.placeholders.insert("admins".into(), vec!["ops".into()]);
    let mut set = RuleSet::new();
    set.load_str(text, "fuzz.yml", &opts);
    let mut engine = Engine::new(set);
    let ropts = ReplayOptions {
        parse: ParseOptions::default().received_at_unix(1_793_584_800),
        hosts: Default::default(),
        max_message_size: 65536,
    };
    let mut stats = ReplayStats::default();
    let mut out = Vec::new();
    for l in LINES {
        replay_message(l, &mut engine, &ropts, &mut stats, &mut out);
    }
});
