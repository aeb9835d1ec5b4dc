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

/// The same packets as pcapng (one SHB, one IDB with nanosecond time, one
/// EPB per packet), to measure the pcapng path.
fn to_pcapng(pcap: &'static [u8]) -> Vec<u8> {
    fn block(out: &mut Vec<u8>, btype: u32, body: &[u8]) {
        let len = (12 + body.len().div_ceil(4) * 4) as u32;
        out.extend_from_slice(&btype.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(body);
        out.resize(out.len() + (4 - body.len() % 4) % 4, 0);
        out.extend_from_slice(&len.to_le_bytes());
    }
    let mut out = Vec::with_capacity(pcap.len() + pcap.len() / 4);
    let mut shb = vec![0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0];
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut out, 0x0a0d_0d0a, &shb);
    // Ethernet, snaplen 0, if_tsresol = 9, end of options.
    block(
        &mut out,
        1,
        &[1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0],
    );
    let mut r = CaptureReader::from_reader("pcap", Cursor::new(pcap)).unwrap();
    let mut body = Vec::new();
    while let Some(p) = r.next_packet().unwrap() {
        body.clear();
        let ts = p.ts.0 as u64;
        for v in [
            0,
            (ts >> 32) as u32,
            ts as u32,
            p.data.len() as u32,
            p.orig_len,
        ] {
            body.extend_from_slice(&v.to_le_bytes());
        }
        body.extend_from_slice(p.data);
        block(&mut out, 6, &body);
    }
    out
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
    let ng: &'static [u8] = Box::leak(to_pcapng(data).into_boxed_slice());
    g.bench_function("pcapng_from_memory", |b| {
        b.iter(|| {
            let r = CaptureReader::from_reader("mem", Cursor::new(ng)).unwrap();
            let got = read_all(r);
            assert_eq!(got.0, packets);
            black_box(got)
        })
    });
    g.finish();
}

criterion_group!(benches, bench_capture);
criterion_main!(benches);
