//! Fuzz target `nats_wire`: arbitrary bytes as an alert message read from
//! the NATS stream by the central.
//!
//! Decoding must never panic: every input is an alert or a `WireError`
//! naming the field. A decoded alert must encode again and decode to the
//! same sensor, sequence and signature. The same path is covered in-crate
//! by the proptests in `src/queue/nats/wire.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zoneguard::queue::nats::{decode, encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = decode(data) {
        let again = encode(&r.alert, &r.sensor, r.seq).expect("a decoded alert encodes");
        let r2 = decode(&again).expect("an encoded alert decodes");
        assert_eq!(r2.sensor, r.sensor);
        assert_eq!(r2.seq, r.seq);
        assert_eq!(r2.alert.signature, r.alert.signature);
        assert_eq!(r2.alert.ts, r.alert.ts);
    }
});
