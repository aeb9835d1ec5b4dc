//! The command line as users and scripts use it (CONTRACT.md).

mod common;

use common::*;
use serde_json::Value;

#[test]
fn help_describes_every_command() {
    let o = zoneguard(&["--help"]);
    assert!(o.status.success());
    let h = String::from_utf8_lossy(&o.stdout);
    for cmd in ["replay", "check", "syslog", "incidents", "audit"] {
        assert!(h.contains(cmd), "--help lacks {cmd}");
        let o = zoneguard(&[cmd, "--help"]);
        assert!(o.status.success(), "{cmd} --help");
    }
}

#[test]
fn shipped_configs_check_clean() {
    for cfg in ["config/dehong-egov.yaml", "config/minimal.yaml"] {
        let o = zoneguard(&["check", "-c", cfg]);
        assert!(
            o.status.success(),
            "{cfg}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let o = zoneguard(&["check", "-c", cfg, "--json"]);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["config_errors"], serde_json::json!([]), "{cfg}");
        assert!(
            v["rules_loaded"].is_u64() && v["rules_rejected"].is_u64() && v["rejected"].is_array()
        );
    }
}

#[test]
fn broken_config_names_path_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.yaml");
    std::fs::write(
        &p,
        "name: t\nzones:\n  - id: internet\n    level: 0\n    default: true\n  - id: a\n    level: 3\n    cidrs: [10.0.0.0/33]\n    bogus_key: 1\n",
    )
    .unwrap();
    let o = zoneguard(&["check", "-c", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("zones[1].cidrs[0]") && e.contains(":8:"), "{e}");
    assert!(e.contains("bogus_key"), "{e}");
    let o = zoneguard(&["check", "-c", p.to_str().unwrap(), "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["config_errors"].as_array().unwrap().len() >= 2, "{v}");
}

#[test]
fn check_rules_json_reports_rejections() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.rules");
    std::fs::write(
        &p,
        "alert tcp any any -> any 80 (msg:\"ok\"; content:\"GET\"; sid:1; rev:1;)\n\
         alert tcp any any -> any 80 (msg:\"bad\"; frobnicate; sid:2;)\n",
    )
    .unwrap();
    let o = zoneguard(&["check", "-S", p.to_str().unwrap(), "--json"]);
    assert!(
        o.status.success(),
        "--json exits 0 even with rejected rules"
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["rules_loaded"], 1);
    assert_eq!(v["rules_rejected"], 1);
    let r = &v["rejected"][0];
    assert_eq!(r["sid"], 2);
    assert_eq!(r["line"], 2);
    assert!(r["reason"].as_str().unwrap().contains("frobnicate"), "{r}");
}

#[test]
fn syslog_parse_contract_output() {
    use std::io::Write;
    let mut child = std::process::Command::new(bin())
        .args(["syslog", "parse"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 [exampleSDID@32473 iut=\"3\"] hi\n\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let v = &lines[0];
    assert_eq!(v["valid"], true);
    assert_eq!(v["protocol"], "rfc5424");
    assert_eq!(
        (v["facility"].as_u64(), v["severity"].as_u64()),
        (Some(4), Some(2))
    );
    assert_eq!(v["timestamp"], "2003-10-11T22:14:15.003Z");
    assert_eq!(v["structured_data"]["exampleSDID@32473"]["iut"], "3");
    assert!(v["procid"].is_null());
    assert_eq!(lines[1]["valid"], false);
    assert!(lines[1]["error"].is_string());
}
