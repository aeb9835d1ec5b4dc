//! Fuzz the syslog parser in both modes, the JSON rendering and the
//! decoders. The same path is covered by proptests in
//! `src/syslog/parser.rs` (`never_panics*`).
//!
//! The first byte picks the header options: bit 0 clears
//! `expect_hostname`, bit 1 sets a `bad_hostname` pattern (bit 2 chooses
//! which); the rest is the line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zoneguard::syslog::{decode::decode, parse, to_contract_json, BadHostname, ParseOptions};

fuzz_target!(|data: &[u8]| {
    let (sel, line) = match data.split_first() {
        Some((b, rest)) => (*b, rest),
        None => (0, data),
    };
    let bad_hostname = if sel & 2 != 0 {
        let re = if sel & 4 != 0 {
            "^%"
        } else {
            "^(ctld|[0-9]+)$"
        };
        BadHostname::new(re).ok()
    } else {
        None
    };
    for strict in [false, true] {
        let opts = ParseOptions {
            strict,
            sender: Some(std::net::IpAddr::from([192, 0, 2, 1])),
            expect_hostname: sel & 1 == 0,
            bad_hostname: bad_hostname.clone(),
            ..ParseOptions::default()
        }
        .received_at_unix(1_767_225_600);
        if let Ok(m) = parse(line, &opts) {
            let _ = to_contract_json(&m);
            if let Some(e) = decode(&m) {
                let _ = e.field("CommandLine");
                let _ = e.field("SourceIp");
            }
        }
    }
});
