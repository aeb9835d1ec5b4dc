//! Fuzz the RFC 6587 frame decoder: the input is split into chunks at
//! positions taken from its first byte, and every frame must stay within
//! the maximum size. The same property is a proptest in
//! `src/syslog/framing.rs` (`chunking_does_not_change_the_split`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zoneguard::syslog::framing::FrameDecoder;

const MAX: usize = 256;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut).max(1);
    let mut dec = FrameDecoder::new(MAX);
    for chunk in rest.chunks(cut) {
        dec.push(chunk);
        while let Some(r) = dec.next_frame() {
            if let Ok(f) = r {
                assert!(f.data.len() <= MAX);
            }
        }
        assert!(dec.buffered() <= MAX + 16 + cut);
    }
    dec.finish();
    while let Some(r) = dec.next_frame() {
        if let Ok(f) = r {
            assert!(f.data.len() <= MAX);
        }
    }
});
