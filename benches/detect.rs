//! Cost of the cross-flow detectors per packet: extracting an observation
//! from a decoded packet, and feeding observations to the state machine
//! (a background-like mix, and a spoofed SYN flood that churns the tables).
//!
//! `cargo bench --bench detect`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use zoneguard::capture::LinkType;
use zoneguard::config::{Config, DetectConfig};
use zoneguard::decode::{decode, DecodeOptions};
use zoneguard::detect::{CrossFlow, ObsKind, Observation, QName};
use zoneguard::policy::ZonePolicy;
use zoneguard::time::Timestamp;

fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0];
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(payload);
    f
}

fn tcp(flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = vec![
        0xC3, 0x50, 0x00, 0x16, 0, 0, 0x10, 0, 0, 0, 0x20, 0, 0x50, flags,
    ];
    t.extend_from_slice(&[0xFF, 0xFF, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    t
}

fn dns_query(name: &str) -> Vec<u8> {
    let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for l in name.split('.') {
        m.push(l.len() as u8);
        m.extend_from_slice(l.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 16, 0, 1]);
    let mut u = vec![0x80, 0x00, 0x00, 0x35];
    u.extend_from_slice(&((8 + m.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(&m);
    u
}

fn ip(a: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

fn policy() -> Arc<ZonePolicy> {
    let cfg = Config::load(std::path::Path::new("config/dehong-egov.yaml"))
        .unwrap_or_else(|_| Config::builtin_default());
    Arc::new(ZonePolicy::from_config(&cfg))
}

fn label(i: u32) -> String {
    format!(
        "{:016x}{:016x}{:016x}",
        u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        u64::from(i) ^ 0xdead_beef_cafe,
        u64::from(i).rotate_left(17)
    )
}

/// A background-like mix: connections opened and answered, ordinary and
/// tunnel-like DNS queries, pings.
fn background(n: u32) -> Vec<Observation> {
    let mut v = Vec::with_capacity(n as usize);
    let base = Timestamp::from_secs_nanos(1_790_000_000, 0);
    for i in 0..n {
        let ts = Timestamp(base.0 + i64::from(i) * 20_000); // 50 k observations/s
        let client = ip(0x0a1f_0000 + (i % 5000));
        let server = ip(0x0a0a_010a + (i % 4));
        let mk = |src, dst, sport, dport, kind| Observation {
            ts,
            pcap_cnt: u64::from(i) + 1,
            src,
            dst,
            sport,
            dport,
            ether: None,
            kind,
        };
        let o = match i % 20 {
            0..=6 => mk(
                client,
                server,
                30000 + (i % 30000) as u16,
                443,
                ObsKind::Syn,
            ),
            7..=13 => mk(
                server,
                client,
                443,
                30000 + (i % 30000) as u16,
                ObsKind::SynAck,
            ),
            14..=17 => mk(
                client,
                ip(0x0a0a_0135),
                40000,
                53,
                ObsKind::DnsQuery {
                    qtype: 1,
                    name: QName::from_text(&format!("www{}.example.com", i % 300))
                        .unwrap_or(QName::empty()),
                },
            ),
            18 => mk(
                client,
                ip(0x0a0a_0135),
                40000,
                53,
                ObsKind::DnsQuery {
                    qtype: 16,
                    name: QName::from_text(&format!("{}.{i}.t.cdn-sync.example", label(i)))
                        .unwrap_or(QName::empty()),
                },
            ),
            _ => mk(client, server, 0, 0, ObsKind::EchoRequest),
        };
        v.push(o);
    }
    v
}

/// A spoofed SYN flood: every packet from a new source.
fn flood(n: u32) -> Vec<Observation> {
    let base = Timestamp::from_secs_nanos(1_790_000_000, 0);
    (0..n)
        .map(|i| Observation {
            ts: Timestamp(base.0 + i64::from(i) * 10_000),
            pcap_cnt: u64::from(i) + 1,
            src: ip(0xc612_0000u32.wrapping_add(i.wrapping_mul(2_654_435_761))),
            dst: ip(0x0a0a_0114),
            sport: (i % 60000) as u16 + 1024,
            dport: 443,
            ether: None,
            kind: ObsKind::Syn,
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let opts = DecodeOptions::default();
    let data = ipv4(
        6,
        [10, 31, 4, 27],
        [10, 10, 1, 10],
        &tcp(0x18, &[0x41; 1400]),
    );
    let syn = ipv4(6, [10, 31, 4, 27], [10, 10, 1, 10], &tcp(0x02, &[]));
    let q = ipv4(
        17,
        [10, 35, 9, 201],
        [10, 10, 1, 53],
        &dns_query(&format!("{}.7.t.cdn-sync.example", label(7))),
    );
    let ts = Timestamp::from_secs_nanos(1_790_000_000, 0);
    let mut g = c.benchmark_group("detect_observation");
    g.throughput(Throughput::Elements(1));
    for (name, frame) in [
        ("tcp_data_none", &data),
        ("tcp_syn", &syn),
        ("dns_query_64", &q),
    ] {
        let d = decode(LinkType::Ethernet, frame, &opts);
        g.bench_function(name, |b| {
            b.iter(|| black_box(Observation::from_decoded(ts, 1, black_box(&d))))
        });
    }
    g.finish();

    let cfg = DetectConfig::default();
    let pol = policy();
    let mut g = c.benchmark_group("detect_crossflow");
    for (name, list) in [
        ("background_mix", background(100_000)),
        ("spoofed_syn_flood", flood(100_000)),
    ] {
        g.throughput(Throughput::Elements(list.len() as u64));
        g.bench_function(name, |b| {
            b.iter_batched(
                || CrossFlow::new(&cfg, Arc::clone(&pol)),
                |mut cf| {
                    let mut out = Vec::new();
                    for o in &list {
                        cf.observe(o, &mut out);
                        cf.advance(o.ts, &mut out);
                    }
                    black_box(out.len())
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
