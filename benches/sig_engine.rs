//! The signature engine with the whole shared ET Open set: load + compile
//! time, the memory the compiled engine holds, the prefilter's sizes, and
//! matching speed on representative packets.
//!
//! Run: `cargo bench --bench sig_engine`. Prints, once, before measuring:
//! load and compile times, RSS growth, and `Ruleset::prefilter_stats`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use zoneguard::signatures::engine::state::DetectState;
use zoneguard::signatures::engine::{PacketView, Ruleset, Scratch};
use zoneguard::signatures::{load_rule_files, Classification, Vars};
use zoneguard::time::Timestamp;

fn et_open_files() -> Vec<PathBuf> {
    let candidates = [
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/rules/et-open"),
        PathBuf::from("/work/shared/corpus/rules/et-open"),
    ];
    let Some(dir) = candidates.into_iter().find(|p| p.is_dir()) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "rules"));
    files.sort();
    files
}

/// Resident set size of this process in KiB (Linux), 0 elsewhere.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn packet(payload: &[u8], dport: u16, to_server: bool) -> PacketView<'_> {
    PacketView {
        stream_sizes: None,
        src: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)),
        dst: IpAddr::V4(Ipv4Addr::new(10, 10, 1, 20)),
        sport: 51000,
        dport,
        proto: 6,
        payload,
        ttl: 64,
        tos: 0,
        ip_id: Some(1),
        tcp: Some((0x18, 1000, 1, 1)),
        icmp: None,
        to_server,
        established: true,
        app_proto: None,
        l4_valid: true,
        ts: Timestamp::from_secs_micros(1_700_000_000, 0),
    }
}

fn bench(c: &mut Criterion) {
    let files = et_open_files();
    if files.is_empty() {
        eprintln!("ET Open corpus not found; nothing to measure");
        return;
    }
    let classes = Classification::suricata_default();
    let before = rss_kib();
    let t = std::time::Instant::now();
    let vars = Vars::suricata_defaults().resolve();
    let load = load_rule_files(&files, &vars, &classes);
    let parsed = t.elapsed();
    let rs = Ruleset::compile(&load, &classes);
    let total = t.elapsed();
    drop(load);
    let after = rss_kib();
    let (pk, app) = rs.prefilter_stats();
    eprintln!(
        "ET Open: {} rules run, {} not run; parse {:?}, parse + compile {:?}; engine RSS +{} KiB",
        rs.len(),
        rs.unsupported().len(),
        parsed,
        total,
        after.saturating_sub(before)
    );
    eprintln!("packet prefilters: {pk:?}");
    eprintln!("app prefilters:    {app:?}");

    let mut random = vec![0u8; 1400];
    let mut x: u32 = 0x1234_5678;
    for b in random.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let zeros = vec![0u8; 1400];
    let mut text = b"GET /index.php?id=1&page=2 HTTP/1.1\r\nHost: portal.example\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64)\r\nAccept: */*\r\nCookie: session=abcdef0123456789\r\n\r\n".to_vec();
    while text.len() < 1400 {
        text.extend_from_slice(b"lorem ipsum dolor sit amet, consectetur adipiscing elit ");
    }
    text.truncate(1400);
    let cases: [(&str, &[u8], u16, bool); 4] = [
        ("random_1400_to_443", &random, 443, true),
        ("zeros_1400_to_445", &zeros, 445, true),
        ("text_1400_to_80", &text, 80, true),
        ("text_1400_to_client", &text, 80, false),
    ];
    let mut g = c.benchmark_group("sig_engine_match");
    for (name, payload, dport, to_server) in cases {
        let p = packet(payload, dport, to_server);
        let mut st = DetectState::default();
        let mut sc = Scratch::default();
        let mut hits = Vec::new();
        g.throughput(Throughput::Bytes(payload.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut flow = None;
                hits.clear();
                rs.match_packet(black_box(&p), &mut flow, &mut st, &mut sc, &mut hits);
                black_box(hits.len())
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("sig_engine_load");
    g.sample_size(10);
    g.bench_function("et_open_parse_compile", |b| {
        b.iter(|| {
            let vars = Vars::suricata_defaults().resolve();
            let load = load_rule_files(&files, &vars, &classes);
            black_box(Ruleset::compile(&load, &classes).len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
