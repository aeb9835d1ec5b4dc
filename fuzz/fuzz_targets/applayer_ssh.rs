#![no_main]
//! Ssh parser: the input is split in two directions and arbitrary chunks.
use libfuzzer_sys::fuzz_target;
use zoneguard::applayer::{AppProto, AppState, Direction, Transport};
use zoneguard::time::Timestamp;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let split = usize::from(ctl & 0x3f).max(1);
    let mid = rest.len() / 2;
    let (a, b) = rest.split_at(mid);
    let mut s = AppState::new(AppProto::Ssh, Transport::Tcp, 0);
    let mut out = Vec::new();
    for (x, y) in a.chunks(split).zip(b.chunks(split)) {
        s.on_data(Direction::ToServer, x, Timestamp(0), &mut out);
        s.on_data(Direction::ToClient, y, Timestamp(0), &mut out);
        if ctl & 0x40 != 0 {
            s.on_gap(Direction::ToClient, u32::from(ctl));
        }
    }
    s.on_close(Timestamp(1), &mut out);
    for e in &out {
        let _ = e.eve_object();
    }
});
