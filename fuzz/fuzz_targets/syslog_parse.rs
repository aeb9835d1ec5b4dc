//! Fuzz the syslog parser in both modes, the JSON rendering and the
//! decoders. The same path is covered by proptests in
//! `src/syslog/parser.rs` (`never_panics*`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zoneguard::syslog::{decode::decode, parse, to_contract_json, ParseOptions};

fuzz_target!(|data: &[u8]| {
    for strict in [false, true] {
        let opts = ParseOptions {
            strict,
            sender: Some(std::net::IpAddr::from([192, 0, 2, 1])),
            ..ParseOptions::default()
        }
        .received_at_unix(1_767_225_600);
        if let Ok(m) = parse(data, &opts) {
            let _ = to_contract_json(&m);
            if let Some(e) = decode(&m) {
                let _ = e.field("CommandLine");
                let _ = e.field("SourceIp");
            }
        }
    }
});
