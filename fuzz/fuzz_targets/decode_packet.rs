//! Fuzz the packet decoder and the defragmenter: the first byte picks the
//! link type and options, the rest is the frame. Never panics, never holds
//! more than the defragmenter's memory cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zoneguard::capture::LinkType;
use zoneguard::decode::{decode, decode_reassembled, DecodeOptions, DefragConfig, Defragmenter};
use zoneguard::time::Timestamp;

const LINKTYPES: [u32; 12] = [0, 1, 9, 50, 101, 104, 108, 113, 228, 229, 276, 147];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let lt = LinkType::from_u32(LINKTYPES[usize::from(sel) % LINKTYPES.len()]);
    let opts = DecodeOptions {
        validate_checksums: sel & 0x80 != 0,
        max_tunnel_depth: 8,
    };
    let cfg = DefragConfig {
        max_bytes: 64 * 1024,
        max_trackers: 16,
        timeout_secs: 60,
    };
    let mut df = Defragmenter::new(cfg).with_max_fragments(64);
    // The input may hold several frames separated by 0xFE bytes, so fragment
    // sequences reach the reassembler.
    for (i, frame) in rest.split(|b| *b == 0xFE).enumerate() {
        let d = decode(lt, frame, &opts);
        let _ = d.shard_hash();
        if let Some(dg) = df.insert(Timestamp::from_secs_nanos(i as i64, 0), &d) {
            let _ = decode_reassembled(&d, &dg, &opts);
        }
        assert!(df.memory_used() <= cfg.max_bytes);
    }
});
