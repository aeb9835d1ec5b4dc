//! Criterion benches of the syslog parser, the decoders and the frame
//! decoder over a mix of corpus lines (loghub OpenSSH/Mac/Thunderbird, auth
//! logs, firewall devices).
//!
//! `cargo bench --bench syslog` (needs `shared/corpus` beside the crate or
//! `ZONEGUARD_CORPUS`).

use std::path::PathBuf;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use zoneguard::syslog::decode::decode;
use zoneguard::syslog::framing::FrameDecoder;
use zoneguard::syslog::{parse, BadHostname, ParseOptions};

const FILES: &[&str] = &[
    "loghub/OpenSSH/OpenSSH_2k.log",
    "loghub/Mac/Mac_2k.log",
    "loghub/Thunderbird/Thunderbird_2k.log",
    "auth/beats_secure_rhel7_excerpt.log",
    "auth/beats_system_auth_test.log",
    "auth/integrations_auth_ubuntu1204.log",
    "auth/integrations_account_and_pam.log",
    "devices/cisco_asa/cisco_asa_excerpt.log",
    "devices/fortigate/fortigate_excerpt.log",
    "devices/iptables/iptables_kernel.log",
    "devices/pfsense/pfsense_filterlog.log",
];

fn corpus_lines() -> Vec<Vec<u8>> {
    let dir = std::env::var_os("ZONEGUARD_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus")))
        .join("syslog");
    let mut lines = Vec::new();
    for f in FILES {
        let Ok(data) = std::fs::read(dir.join(f)) else {
            continue;
        };
        lines.extend(
            data.split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec),
        );
    }
    assert!(!lines.is_empty(), "corpus not found; set ZONEGUARD_CORPUS");
    lines
}

fn syslog(c: &mut Criterion) {
    let lines = corpus_lines();
    let opts = ParseOptions::default().received_at_unix(1_767_225_600);
    let mut g = c.benchmark_group("syslog");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function(format!("parse {} corpus lines", lines.len()), |b| {
        b.iter(|| {
            for l in &lines {
                let _ = black_box(parse(black_box(l), &opts));
            }
        })
    });
    g.bench_function(format!("parse+decode {} corpus lines", lines.len()), |b| {
        b.iter(|| {
            for l in &lines {
                if let Ok(m) = parse(l, &opts) {
                    black_box(decode(&m));
                }
            }
        })
    });
    // The header options (expect_hostname, bad_hostname): their cost
    // beside the zero-option run above.
    let no_host = ParseOptions {
        expect_hostname: false,
        ..opts.clone()
    };
    g.bench_function(
        format!("parse no-hostname {} corpus lines", lines.len()),
        |b| {
            b.iter(|| {
                for l in &lines {
                    let _ = black_box(parse(black_box(l), &no_host));
                }
            })
        },
    );
    let bad_host = ParseOptions {
        bad_hostname: Some(BadHostname::new("^(ctld|%)").expect("pattern compiles")),
        ..opts.clone()
    };
    g.bench_function(
        format!("parse bad-hostname {} corpus lines", lines.len()),
        |b| {
            b.iter(|| {
                for l in &lines {
                    let _ = black_box(parse(black_box(l), &bad_host));
                }
            })
        },
    );
    let mut stream = Vec::new();
    for l in &lines {
        stream.extend_from_slice(format!("{} ", l.len()).as_bytes());
        stream.extend_from_slice(l);
    }
    g.bench_function("frame octet-counted stream", |b| {
        b.iter(|| {
            let mut d = FrameDecoder::default();
            let mut n = 0usize;
            for chunk in stream.chunks(64 * 1024) {
                d.push(chunk);
                while let Some(Ok(f)) = d.next_frame() {
                    n += f.data.len();
                }
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, syslog);
criterion_main!(benches);
