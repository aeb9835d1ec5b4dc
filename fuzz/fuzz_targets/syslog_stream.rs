//! Fuzz target `syslog_stream`: arbitrary bytes as one TCP connection of
//! the log service (cut into reads at the positions the first bytes give),
//! framed by RFC 6587, each frame parsed leniently, decoded and run
//! through the shipped Sigma rules, as the service's workers do.
//!
//! Nothing may panic, and every byte ends in a frame, a counted framing
//! error or a skipped over-long tail.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zoneguard::logrules::replay::replay_message;
use zoneguard::logrules::{Engine, LoadOptions, ReplayOptions, ReplayStats, RuleSet};
use zoneguard::syslog::framing::FrameDecoder;
use zoneguard::syslog::ParseOptions;

const RULES: &[(&str, &str)] = &[
    (
        "accounts.yml",
        include_str!("../../rules/sigma/accounts.yml"),
    ),
    (
        "firewall.yml",
        include_str!("../../rules/sigma/firewall.yml"),
    ),
    (
        "log_tampering.yml",
        include_str!("../../rules/sigma/log_tampering.yml"),
    ),
    (
        "services.yml",
        include_str!("../../rules/sigma/services.yml"),
    ),
    (
        "ssh_bruteforce.yml",
        include_str!("../../rules/sigma/ssh_bruteforce.yml"),
    ),
    (
        "ssh_login_after_failures.yml",
        include_str!("../../rules/sigma/ssh_login_after_failures.yml"),
    ),
    ("sudo.yml", include_str!("../../rules/sigma/sudo.yml")),
];

/// The shipped rules, loaded once (each run gets a fresh engine).
fn rules() -> RuleSet {
    static SET: std::sync::OnceLock<RuleSet> = std::sync::OnceLock::new();
    SET.get_or_init(|| {
        let mut opts = LoadOptions::default();
        opts.placeholders
            .insert("admins".into(), vec!["ops".into()]);
        let mut set = RuleSet::new();
        for (name, text) in RULES {
            set.load_str(text, name, &opts);
        }
        assert!(set.report.rejected.is_empty(), "shipped rules load");
        set
    })
    .clone()
}

fuzz_target!(|data: &[u8]| {
    let (cuts, stream) = data.split_at(data.len().min(4));
    let mut engine = Engine::new(rules());
    let ropts = ReplayOptions {
        parse: ParseOptions {
            sender: Some([127, 0, 0, 1].into()),
            ..ParseOptions::default()
        }
        .received_at_unix(1_793_584_800),
        hosts: Default::default(),
        max_message_size: 512,
    };
    let mut stats = ReplayStats::default();
    let mut out = Vec::new();
    let mut dec = FrameDecoder::new(ropts.max_message_size);
    let mut rest = stream;
    for &c in cuts {
        let (a, b) = rest.split_at(rest.len().min(usize::from(c) + 1));
        dec.push(a);
        while let Some(f) = dec.next_frame() {
            if let Ok(f) = f {
                replay_message(f.data, &mut engine, &ropts, &mut stats, &mut out);
            }
        }
        rest = b;
    }
    dec.push(rest);
    dec.finish();
    while let Some(f) = dec.next_frame() {
        if let Ok(f) = f {
            replay_message(f.data, &mut engine, &ropts, &mut stats, &mut out);
        }
    }
    assert!(dec.buffered() <= 512 + stream.len());
});
