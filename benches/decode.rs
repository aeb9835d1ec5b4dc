//! Decoder and defragmenter throughput on typical frames.
//!
//! `cargo bench --bench decode`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use zoneguard::capture::LinkType;
use zoneguard::decode::{decode, decode_into, DecodeOptions, Decoded, DefragConfig, Defragmenter};
use zoneguard::time::Timestamp;

fn csum(data: &[u8]) -> u16 {
    let mut acc: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    !(acc as u16)
}

fn ipv4(proto: u8, frag: u16, id: u16, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0, 10, 1, 2, 3, 10, 4, 5, 6]);
    let c = csum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn eth(vlan: Option<u16>, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    if let Some(v) = vlan {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&v.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn tcp(flags: u8, opts: &[u8], payload: &[u8]) -> Vec<u8> {
    let hlen = 20 + opts.len();
    let mut t = vec![0xC3, 0x50, 0x01, 0xBB, 0, 0, 0x10, 0, 0, 0, 0x20, 0];
    t.push(((hlen / 4) as u8) << 4);
    t.push(flags);
    t.extend_from_slice(&[0xFF, 0xFF, 0, 0, 0, 0]);
    t.extend_from_slice(opts);
    t.extend_from_slice(payload);
    t
}

fn udp(dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0xD4, 0x31];
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn frames() -> Vec<(&'static str, LinkType, Vec<u8>)> {
    let syn_opts = [
        2, 4, 5, 0xB4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
    ];
    let syn = eth(
        None,
        0x0800,
        &ipv4(6, 0x4000, 1, &tcp(0x02, &syn_opts, b"")),
    );
    let data = eth(
        None,
        0x0800,
        &ipv4(
            6,
            0x4000,
            2,
            &tcp(0x18, &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], &[0x41; 1400]),
        ),
    );
    let dns_q = [
        0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'w', b'w', b'w', 7, b'e', b'x', b'a', b'm',
        b'p', b'l', b'e', 3, b'c', b'o', b'm', 0, 0, 1, 0, 1,
    ];
    let dns = eth(None, 0x0800, &ipv4(17, 0, 3, &udp(53, &dns_q)));
    let vlan = eth(Some(142), 0x0800, &ipv4(6, 0x4000, 4, &tcp(0x10, &[], b"")));
    let mut erspan = vec![0x10, 0x64, 0x00, 0x01, 0, 0, 0, 0];
    erspan.extend_from_slice(&data);
    let mut gre = vec![0x10, 0x00, 0x88, 0xBE, 0, 0, 0, 1];
    gre.extend_from_slice(&erspan);
    let gre = eth(None, 0x0800, &ipv4(47, 0, 5, &gre));
    vec![
        ("tcp_syn", LinkType::Ethernet, syn),
        ("tcp_data_1400", LinkType::Ethernet, data),
        ("udp_dns", LinkType::Ethernet, dns),
        ("vlan_tcp", LinkType::Ethernet, vlan),
        ("gre_erspan_tcp", LinkType::Ethernet, gre),
    ]
}

/// Keeps the decoded frame observable without copying it: criterion 0.5
/// without its `real_blackbox` feature copies a returned value with volatile
/// byte reads, which would cost more than decoding.
fn keep(d: &zoneguard::decode::Decoded<'_>) -> usize {
    black_box(d);
    d.payload.len()
}

fn bench_decode(c: &mut Criterion) {
    let opts = DecodeOptions::default();
    let checked = DecodeOptions {
        validate_checksums: true,
        ..DecodeOptions::default()
    };
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    for (name, lt, frame) in frames() {
        g.bench_function(name, |b| {
            b.iter(|| black_box(decode(lt, black_box(&frame), &opts)))
        });
    }
    let (_, lt, data) = &frames()[1];
    let mut slot = Decoded::empty();
    g.bench_function("tcp_data_1400_into", |b| {
        b.iter(|| {
            decode_into(*lt, black_box(data), &opts, &mut slot);
            keep(&slot)
        })
    });
    g.bench_function("tcp_data_1400_checksums", |b| {
        b.iter(|| keep(&decode(*lt, black_box(data), &checked)))
    });
    g.finish();
}

fn bench_defrag(c: &mut Criterion) {
    let opts = DecodeOptions::default();
    let payload = udp(5000, &[0x55; 2000]);
    let first = eth(None, 0x0800, &ipv4(17, 0x2000, 77, &payload[..1480]));
    let second = eth(None, 0x0800, &ipv4(17, 185, 77, &payload[1480..]));
    let mut df = Defragmenter::new(DefragConfig::default());
    let ts = Timestamp::from_secs_nanos(1_700_000_000, 0);
    c.bench_function("defrag/ipv4_pair", |b| {
        b.iter(|| {
            let a = decode(LinkType::Ethernet, &first, &opts);
            let none = df.insert(ts, &a);
            let b2 = decode(LinkType::Ethernet, &second, &opts);
            let out = df.insert(ts, &b2);
            black_box(&none);
            out.map_or(0, |v| v.len())
        })
    });
}

criterion_group!(benches, bench_decode, bench_defrag);
criterion_main!(benches);
