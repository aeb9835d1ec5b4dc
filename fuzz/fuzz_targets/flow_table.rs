//! Fuzz the flow table and TCP reassembly with arbitrary operation
//! sequences: never panics, never exceeds its capacity or memory caps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zoneguard::flow::stream::{Stream, StreamConfig, StreamStats};
use zoneguard::flow::{Addr, FlowKey, FlowTable, FlowTableConfig, TimeoutClass};
use zoneguard::time::Timestamp;

fuzz_target!(|data: &[u8]| {
    let cfg = FlowTableConfig { max_flows: 64, ..Default::default() };
    let mut ft: FlowTable<u8> = FlowTable::new(cfg, 1);
    let mut now: i64 = 0;
    let mut stream = Stream::default();
    let scfg = StreamConfig { per_stream_cap: 4096, global_cap: 8192, depth: 1 << 20 };
    let mut global = 0usize;
    let mut stats = StreamStats::default();
    for chunk in data.chunks(8) {
        if chunk.len() < 8 {
            break;
        }
        let a = Addr::from_ip(std::net::Ipv4Addr::new(10, 0, chunk[0] % 8, chunk[1]).into());
        let b = Addr::from_ip(std::net::Ipv4Addr::new(10, 1, 0, chunk[2] % 4).into());
        let proto = [6u8, 17, 1, 47][usize::from(chunk[3] % 4)];
        now += i64::from(chunk[4]) * 100_000_000;
        let ts = Timestamp(now);
        let (k, lo) = FlowKey::new(a, u16::from(chunk[5]), b, 80, proto, 0);
        let l = ft.lookup_or_create(k, lo, chunk[6] & 1 == 0, ts, || 0, |_, _| {});
        let class = match chunk[7] % 4 { 0 => TimeoutClass::TcpNew, 1 => TimeoutClass::TcpEstablished, 2 => TimeoutClass::UdpNew, _ => TimeoutClass::TcpClosed };
        ft.touch(l.idx, ts, l.to_server, 64, class);
        assert!(ft.len() <= 64);
        if chunk[7] & 0x80 != 0 {
            ft.expire(ts, &mut |_, _| {});
        }
        let seq = u32::from_le_bytes([chunk[0], chunk[1], chunk[4], chunk[5]]);
        let len = usize::from(chunk[6]);
        let payload = vec![chunk[2]; len];
        stream.on_segment(seq, &payload, &scfg, &mut global, &mut stats, &mut |_| {});
        assert!(stream.buffered() <= scfg.per_stream_cap);
    }
    stream.flush(&mut global, &mut stats, &mut |_| {});
    assert_eq!(global, 0);
    ft.flush(|_, _| {});
});
