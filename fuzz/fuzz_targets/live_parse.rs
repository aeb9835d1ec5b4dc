//! Fuzz target `live_parse`: the text parsers of live capture: the
//! `CapEff:` line of `/proc/*/status`, a BPF instruction as libpcap prints
//! it, and a pcap-filter expression compiled by libpcap (Ethernet and raw
//! IP). None may panic; a compiled filter fits the kernel's limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zoneguard::capture::live::{
    cap_eff_from_status, compile_filter, parse_insn, MAX_FILTER_INSNS,
};
use zoneguard::capture::LinkType;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = cap_eff_from_status(text);
    let _ = parse_insn(text);
    for lt in [LinkType::Ethernet, LinkType::Raw] {
        if let Ok(f) = compile_filter(text, lt) {
            assert!(!f.insns.is_empty() && f.insns.len() <= MAX_FILTER_INSNS);
        }
    }
});
