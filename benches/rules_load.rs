//! Parse + compile the whole shared ET Open set (target: ≤ 1.5 s).
//!
//! Needs in Cargo.toml: `[[bench]] name = "rules_load", harness = false`.
//! Run: `cargo bench --bench rules_load`. Prints the resident memory the
//! loaded rule set holds once, before measuring.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use zoneguard::signatures::{load_rule_files, Classification, Vars};

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
    let res = load_rule_files(&files, &vars, &classes);
    let took = t.elapsed();
    let after = rss_kib();
    eprintln!(
        "ET Open: {} files, {} rules loaded, {} rejected in {:?}; RSS +{} KiB ({} KiB total)",
        res.files,
        res.rules.len(),
        res.rejected.len(),
        took,
        after.saturating_sub(before),
        after
    );
    drop(res);

    let mut g = c.benchmark_group("rules_load");
    g.sample_size(10);
    g.bench_function("et_open_parse_compile", |b| {
        b.iter(|| {
            let vars = Vars::suricata_defaults().resolve();
            let res = load_rule_files(&files, &vars, &classes);
            std::hint::black_box(res.rules.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
