//! Criterion benches of the log-rule path: parse + decode + the shipped
//! Sigma rules (detections and correlations) over the loghub OpenSSH log
//! and a gen-syslog file of the reference network.
//!
//! `cargo bench --bench logrules` (needs `shared/corpus` and
//! `shared/tools/gen-syslog` beside the crate, or `ZONEGUARD_SHARED`).

use std::path::{Path, PathBuf};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use zoneguard::config::Config;
use zoneguard::logrules::replay::replay_message;
use zoneguard::logrules::{Engine, LoadOptions, ReplayOptions, ReplayStats, RuleSet};

fn shared() -> PathBuf {
    std::env::var_os("ZONEGUARD_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared")))
}

fn lines(path: &Path) -> Vec<Vec<u8>> {
    std::fs::read(path)
        .map(|d| {
            d.split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec)
                .collect()
        })
        .unwrap_or_default()
}

fn gen_syslog(out: &Path) -> Vec<Vec<u8>> {
    let tool = shared().join("tools/gen-syslog");
    let plan = shared().join("tools/plans/syslog-public.yaml");
    let ok = std::process::Command::new(tool)
        .arg("--plan")
        .arg(plan)
        .args(["--seed", "1", "--lines", "100000", "--out"])
        .arg(out)
        .arg("--truth")
        .arg(out.with_extension("jsonl"))
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        lines(out)
    } else {
        Vec::new()
    }
}

fn logrules(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cfg = Config::load(&root.join("config/dehong-egov.yaml")).expect("config");
    let lopts = LoadOptions::from_config(&cfg);
    let build = || {
        let mut set = RuleSet::new();
        set.load_path(&root.join("rules/sigma"), &lopts)
            .expect("rules");
        Engine::new(set)
    };
    let tmp = std::env::temp_dir().join(format!("zg-logrules-bench-{}.log", std::process::id()));
    let inputs = [
        (
            "OpenSSH_2k",
            lines(&shared().join("corpus/syslog/loghub/OpenSSH/OpenSSH_2k.log")),
            1_451_520_000,
        ),
        ("gen-syslog 100k", gen_syslog(&tmp), 1_793_584_800),
    ];
    let mut g = c.benchmark_group("logrules");
    for (name, data, received) in &inputs {
        if data.is_empty() {
            eprintln!("skipping {name}: input not found");
            continue;
        }
        let ropts = ReplayOptions::from_config(&cfg, *received);
        g.throughput(Throughput::Elements(data.len() as u64));
        g.bench_function(format!("parse+decode+rules {name}"), |b| {
            b.iter_batched(
                build,
                |mut engine| {
                    let mut stats = ReplayStats::default();
                    let mut out = Vec::new();
                    for l in data {
                        replay_message(black_box(l), &mut engine, &ropts, &mut stats, &mut out);
                        out.clear();
                    }
                    black_box(stats)
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
    g.finish();
    let _ = std::fs::remove_file(&tmp);
    let _ = std::fs::remove_file(tmp.with_extension("jsonl"));
}

criterion_group!(benches, logrules);
criterion_main!(benches);
