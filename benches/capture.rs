//! Reading speed of the capture readers: a generated ~50 MB pcap of the
//! reference network, read from memory (the parsing) and from the file (with
//! the `read` calls), reporting packets per second.
//!
//! The capture is made once with `gen-pcap` (seed 1) if it is not in /tmp.

use std::hint::black_box;
use std::io::Cursor;
use std::path::Path;
use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use zoneguard::capture::CaptureReader;

const PCAP: &str = "/tmp/zg-bench-50.pcap";

fn ensure_capture() -> Vec<u8> {
    if !Path::new(PCAP).exists() {
        let tools = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared");
        let status = Command::new(format!("{tools}/tools/gen-pcap"))
            .args(["--topology", &format!("{tools}/topology/dehong-egov.yaml")])
            .args(["--plan", &format!("{tools}/tools/plans/public.yaml")])
            .args(["--seed", "1", "--size-mb", "50", "--out", PCAP])
            .args(["--truth", "/tmp/zg-bench-50.jsonl", "--quiet"])
            .status()
            .expect("run gen-pcap");
        assert!(status.success(), "gen-pcap failed");
    }
    std::fs::read(PCAP).expect("read the bench capture")
}

/// Reads every packet, touching its length and first byte.
fn read_all(mut r: CaptureReader) -> (u64, u64) {
    let mut bytes = 0u64;
    let mut first = 0u64;
    while let Some(p) = r.next_packet().expect("bench capture is valid") {
        bytes += p.data.len() as u64;
        first += u64::from(p.data.first().copied().unwrap_or(0));
        black_box(p.ts);
    }
    (r.packets_read(), bytes ^ first)
}

fn bench_capture(c: &mut Criterion) {
    // Leaked once so each iteration reads the same bytes without a copy.
    let data: &'static [u8] = Box::leak(ensure_capture().into_boxed_slice());
    let packets = read_all(CaptureReader::from_reader("count", Cursor::new(data)).unwrap()).0;
    let mut g = c.benchmark_group("capture");
    g.sample_size(20);
    g.throughput(Throughput::Elements(packets));
    g.bench_function("pcap_50mb_from_memory", |b| {
        b.iter(|| {
            let r = CaptureReader::from_reader("mem", Cursor::new(data)).unwrap();
            black_box(read_all(r))
        })
    });
    g.bench_function("pcap_50mb_from_file", |b| {
        b.iter(|| black_box(read_all(CaptureReader::open(Path::new(PCAP)).unwrap())))
    });
    g.finish();
}

criterion_group!(benches, bench_capture);
criterion_main!(benches);
