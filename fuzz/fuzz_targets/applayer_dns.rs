#![no_main]
//! DNS over UDP (whole datagram) and TCP (arbitrary chunking).
use libfuzzer_sys::fuzz_target;
use zoneguard::applayer::{detect, AppProto, AppState, Direction, Transport};
use zoneguard::time::Timestamp;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let _ = detect(Transport::Udp, Direction::ToServer, data, 5353, 53);
    let mut udp = AppState::new(AppProto::Dns, Transport::Udp, 53);
    udp.on_data(Direction::ToServer, data, Timestamp(0), &mut out);
    udp.on_data(Direction::ToClient, data, Timestamp(1), &mut out);
    let mut tcp = AppState::new(AppProto::Dns, Transport::Tcp, 53);
    let split = usize::from(data.first().copied().unwrap_or(1)).max(1);
    for c in data.chunks(split) {
        tcp.on_data(Direction::ToServer, c, Timestamp(0), &mut out);
    }
    tcp.on_close(Timestamp(2), &mut out);
    for e in &out {
        let _ = e.eve_object();
    }
});
