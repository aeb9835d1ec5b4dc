//! Criterion benches of the flow table and the zone lookups.
//!
//! `cargo bench --bench flow`

use std::net::{IpAddr, Ipv4Addr};

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use zoneguard::flow::{Addr, FlowKey, FlowTable, FlowTableConfig, TimeoutClass};
use zoneguard::policy::ZoneMap;
use zoneguard::time::Timestamp;

fn keys(n: u32) -> Vec<(FlowKey, bool)> {
    (0..n)
        .map(|i| {
            let a = Addr::from_ip(IpAddr::V4(Ipv4Addr::from(0x0a1f_0000 + (i % 60_000))));
            let b = Addr::from_ip(IpAddr::V4(Ipv4Addr::new(10, 40, 0, 10 + (i % 3) as u8)));
            FlowKey::new(a, 30_000 + (i % 20_000) as u16, b, 443, 6, 0)
        })
        .collect()
}

fn flow_table(c: &mut Criterion) {
    let mut g = c.benchmark_group("flow_table");
    let ks = keys(100_000);
    g.throughput(Throughput::Elements(ks.len() as u64));
    g.bench_function("lookup_or_create+touch 100k packets over 100k flows", |b| {
        b.iter_batched(
            || FlowTable::<u32>::new(FlowTableConfig::default(), 0),
            |mut ft| {
                for (i, (k, lo)) in ks.iter().enumerate() {
                    let ts = Timestamp::from_secs_nanos(1_000 + (i / 1000) as i64, 0);
                    let l = ft.lookup_or_create(*k, *lo, true, ts, || 0, |_, _| {});
                    ft.touch(l.idx, ts, l.to_server, 1500, TimeoutClass::TcpEstablished);
                }
                ft
            },
            BatchSize::LargeInput,
        )
    });
    // steady state: existing flows only
    let mut ft = FlowTable::<u32>::new(FlowTableConfig::default(), 0);
    let hot = keys(10_000);
    for (k, lo) in &hot {
        let ts = Timestamp::from_secs_nanos(1_000, 0);
        let l = ft.lookup_or_create(*k, *lo, true, ts, || 0, |_, _| {});
        ft.touch(l.idx, ts, true, 60, TimeoutClass::TcpEstablished);
    }
    g.throughput(Throughput::Elements(hot.len() as u64));
    g.bench_function("lookup+touch existing 10k flows", |b| {
        b.iter(|| {
            for (k, lo) in &hot {
                let ts = Timestamp::from_secs_nanos(1_001, 0);
                let l = ft.lookup_or_create(*k, !*lo, true, ts, || 0, |_, _| {});
                ft.touch(l.idx, ts, l.to_server, 1500, TimeoutClass::TcpEstablished);
            }
        })
    });
    g.finish();
}

fn zone_lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("zone_lookup");
    let prefixes: Vec<(ipnet::IpNet, u16)> = [
        "10.10.1.0/24",
        "10.20.0.0/16",
        "10.31.0.0/16",
        "10.32.0.0/16",
        "10.33.0.0/16",
        "10.34.0.0/16",
        "10.35.0.0/16",
        "10.40.0.0/24",
        "10.41.0.0/24",
        "10.42.0.0/24",
        "10.50.0.0/24",
        "172.16.0.0/16",
    ]
    .iter()
    .enumerate()
    .map(|(i, s)| (s.parse().unwrap(), i as u16 + 1))
    .collect();
    let m = ZoneMap::new(prefixes, Some(0));
    let ips: Vec<IpAddr> = (0..1024u32)
        .map(|i| {
            IpAddr::V4(Ipv4Addr::from(if i % 2 == 0 {
                0x0a1f_0000 + i
            } else {
                0x2f64_1700 + i
            }))
        })
        .collect();
    g.throughput(Throughput::Elements(ips.len() as u64));
    g.bench_function("reference zones, 1024 addresses", |b| {
        b.iter(|| {
            for ip in &ips {
                black_box(m.lookup(*ip));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, flow_table, zone_lookup);
criterion_main!(benches);
