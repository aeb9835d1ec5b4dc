//! Feeds arbitrary bytes to the pcap/pcapng reader: it must never panic,
//! must terminate, and must never hand out more than `MAX_CAPLEN` bytes.
//! The same path is covered in-crate by the proptests of
//! `src/capture/reader/tests.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zoneguard::capture::{CaptureReader, MAX_CAPLEN};

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    let Ok(mut r) = CaptureReader::from_reader("fuzz", std::io::Cursor::new(data.to_vec())) else {
        return;
    };
    loop {
        match r.next_packet() {
            Ok(Some(p)) => {
                assert!(p.data.len() <= MAX_CAPLEN as usize);
                assert!(r.offset() <= len);
            }
            Ok(None) | Err(_) => break,
        }
    }
    assert!(matches!(r.next_packet(), Ok(None)));
});
