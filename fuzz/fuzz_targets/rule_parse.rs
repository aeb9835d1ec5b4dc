//! Fuzz the rule loader: arbitrary bytes as a rule file (lines,
//! continuations, comments, headers, options, pcre, content) and as a
//! threshold.config. Must never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zoneguard::signatures::{load_rules_str, Classification, ThresholdConfig, Vars};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let vars = Vars::suricata_defaults().resolve();
    let classes = Classification::suricata_default();
    let res = load_rules_str(&text, "fuzz.rules", &vars, &classes);
    let _ = zoneguard::signatures::check_json(&res);
    let _ = ThresholdConfig::parse(&text, "fuzz.threshold", &vars);
});
