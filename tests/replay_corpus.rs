//! Issue 2: every capture of Suricata's verification corpus replays
//! without a panic, and broken files give a clear error (naming the file and
//! the byte offset) while everything decoded before the damage is written.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn corpus_pcaps() -> Vec<PathBuf> {
    let dir = shared().join("corpus/suricata-verify");
    let mut out = Vec::new();
    for case in std::fs::read_dir(&dir).expect("suricata-verify corpus") {
        let case = case.unwrap().path();
        if !case.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&case).unwrap() {
            let p = f.unwrap().path();
            if p.extension().is_some_and(|e| e == "pcap" || e == "pcapng") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn replay(pcap: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "replay",
        "-r",
        pcap.to_str().unwrap(),
        "-l",
        out.to_str().unwrap(),
        "-q",
    ];
    args.extend_from_slice(extra);
    zoneguard(&args)
}

#[test]
fn every_corpus_pcap_replays() {
    let pcaps = corpus_pcaps();
    assert!(pcaps.len() >= 45, "corpus has {} pcaps", pcaps.len());
    let dir = tempfile::tempdir().unwrap();
    for (i, p) in pcaps.iter().enumerate() {
        for (j, extra) in [&[][..], &["-k", "all", "--workers", "2"][..]]
            .iter()
            .enumerate()
        {
            let out = dir.path().join(format!("{i}-{j}"));
            let o = replay(p, &out, extra);
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert!(
                !stderr.contains("panicked"),
                "{}: panic: {stderr}",
                p.display()
            );
            // The one fuzzed file of the corpus is corrupt on purpose: an
            // error naming it, after its first packet was processed.
            if p.ends_with("bug-6875-01/fuzz.pcap") {
                assert_eq!(o.status.code(), Some(1), "{stderr}");
                assert!(
                    stderr.contains("fuzz.pcap") && stderr.contains("byte"),
                    "{stderr}"
                );
            } else {
                assert!(o.status.success(), "{}: {stderr}", p.display());
            }
            let eve = read_jsonl(&out.join("eve.json"));
            assert!(
                eve.iter().any(|r| r["event_type"] == "stats"),
                "{}: no stats record",
                p.display()
            );
        }
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A classic pcap of `n` small Ethernet/IPv4/UDP frames.
fn small_pcap(n: usize) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]);
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&65535u32.to_le_bytes());
    v.extend_from_slice(&1u32.to_le_bytes());
    for i in 0..n {
        let mut f = vec![0u8; 42];
        f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[16..18].copy_from_slice(&28u16.to_be_bytes());
        f[22] = 64;
        f[23] = 17;
        f[26..30].copy_from_slice(&[10, 31, 0, 5]);
        f[30..34].copy_from_slice(&[10, 31, 0, 6]);
        f[34..36].copy_from_slice(&(40000 + i as u16).to_be_bytes());
        f[36..38].copy_from_slice(&9999u16.to_be_bytes());
        f[38..40].copy_from_slice(&8u16.to_be_bytes());
        v.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&(f.len() as u32).to_le_bytes());
        v.extend_from_slice(&(f.len() as u32).to_le_bytes());
        v.extend_from_slice(&f);
    }
    v
}

fn a_path(dir: &Path) -> PathBuf {
    write(dir, "k.pcap", &small_pcap(4))
}

#[test]
fn broken_captures_give_located_errors_and_keep_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let good = small_pcap(10);

    let empty = write(dir.path(), "empty.pcap", &[]);
    let o = replay(&empty, &dir.path().join("o-empty"), &[]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("empty.pcap") && e.contains("empty"), "{e}");

    let wrong = write(
        dir.path(),
        "wrong.pcap",
        b"GIF89a this is not a capture at all",
    );
    let o = replay(&wrong, &dir.path().join("o-wrong"), &[]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("wrong.pcap") && e.to_lowercase().contains("magic"),
        "{e}"
    );

    // cut in the middle of the 7th record: 6 packets are processed
    let record = 16 + 42;
    let cut = 24 + 6 * record + 20;
    let trunc = write(dir.path(), "trunc.pcap", &good[..cut]);
    let out = dir.path().join("o-trunc");
    let o = replay(&trunc, &out, &[]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("trunc.pcap") && e.contains(&format!("byte {}", 24 + 6 * record)),
        "{e}"
    );
    let eve = read_jsonl(&out.join("eve.json"));
    let flows = of_type(&eve, "flow");
    assert_eq!(flows.len(), 6, "the 6 complete packets' flows are written");

    // an absurd caplen in the 3rd record header
    let mut absurd = good.clone();
    let off = 24 + 2 * record + 8;
    absurd[off..off + 4].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let bad = write(dir.path(), "absurd.pcap", &absurd);
    let out = dir.path().join("o-absurd");
    let o = replay(&bad, &out, &[]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("absurd.pcap") && e.contains(&format!("byte {}", 24 + 2 * record)),
        "{e}"
    );
    assert_eq!(of_type(&read_jsonl(&out.join("eve.json")), "flow").len(), 2);

    // -k all: the hand-made frames carry no IPv4 header checksum, so every
    // packet is counted as invalid and not processed (as Suricata does)
    let out = dir.path().join("o-k");
    let o = zoneguard(&[
        "replay",
        "-q",
        "-k",
        "all",
        "-r",
        a_path(dir.path()).to_str().unwrap(),
        "-l",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let eve = read_jsonl(&out.join("eve.json"));
    assert_eq!(of_type(&eve, "flow").len(), 0);
    assert_eq!(
        of_type(&eve, "stats")[0]["stats"]["decoder"]["invalid_checksum"],
        4
    );
    let out = dir.path().join("o-k-none");
    let o = zoneguard(&[
        "replay",
        "-q",
        "-r",
        a_path(dir.path()).to_str().unwrap(),
        "-l",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    assert_eq!(of_type(&read_jsonl(&out.join("eve.json")), "flow").len(), 4);

    // several -r files are one stream: pcap_cnt keeps counting
    let a = write(dir.path(), "a.pcap", &small_pcap(3));
    let out = dir.path().join("o-multi");
    let o = zoneguard(&[
        "replay",
        "-q",
        "-r",
        a.to_str().unwrap(),
        "-r",
        a.to_str().unwrap(),
        "-l",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let eve = read_jsonl(&out.join("eve.json"));
    let stats = of_type(&eve, "stats");
    assert_eq!(stats[0]["stats"]["decoder"]["pkts"], 6);
}
