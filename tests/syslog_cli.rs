//! `zoneguard syslog parse` and `replay --syslog` with the header options
//! (`--no-hostname`, `--bad-hostname RE`, `--syslog-listener NAME`), run as
//! the real binary.

mod common;

use std::io::Write;

use common::*;
use serde_json::Value;

/// Runs `zoneguard syslog parse ARGS` with `input` on stdin.
fn parse(args: &[&str], input: &[u8]) -> (std::process::Output, Vec<Value>) {
    let mut child = std::process::Command::new(bin())
        .args(["syslog", "parse"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    (out, lines)
}

const LINES: &[u8] = b"<13>Jan  1 14:40:51 alma korte: message\n\
<7>2006-10-29T02:00:00.156+01:00 ctld snmpd[2499]: PTHREAD support initialized\n\
<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - hi\n";

#[test]
fn syslog_parse_header_flags() {
    // Defaults (CONTRACT.md): the word after the time is the host name.
    let (out, v) = parse(&[], LINES);
    assert!(out.status.success());
    assert_eq!(v.len(), 3);
    assert_eq!(v[0]["hostname"], "alma");
    assert_eq!(v[0]["app_name"], "korte");
    assert_eq!(v[1]["hostname"], "ctld");
    assert_eq!(v[2]["hostname"], "mymachine.example.com");

    let (out, v) = parse(&["--no-hostname"], LINES);
    assert!(out.status.success());
    assert!(v[0]["hostname"].is_null(), "{}", v[0]);
    assert_eq!(v[0]["app_name"], "alma");
    assert_eq!(v[0]["msg"], "korte: message");
    assert!(v[1]["hostname"].is_null());
    assert_eq!(v[1]["app_name"], "ctld");
    // RFC 5424 keeps its HOSTNAME field.
    assert_eq!(v[2]["hostname"], "mymachine.example.com");

    let (out, v) = parse(&["--bad-hostname", "^ctld"], LINES);
    assert!(out.status.success());
    assert_eq!(v[0]["hostname"], "alma");
    assert!(v[1]["hostname"].is_null(), "{}", v[1]);
    assert_eq!(v[1]["app_name"], "ctld");
    assert_eq!(v[1]["msg"], "snmpd[2499]: PTHREAD support initialized");

    // With --strict the options change nothing (RFC 5424 only).
    let (out, v) = parse(&["--strict", "--no-hostname"], LINES);
    assert!(out.status.success());
    assert_eq!(v[0]["valid"], false);
    assert_eq!(v[2]["hostname"], "mymachine.example.com");
}

#[test]
fn bad_hostname_that_does_not_compile_is_a_clear_error() {
    let (out, v) = parse(&["--bad-hostname", "(unclosed"], LINES);
    assert!(!out.status.success());
    assert!(v.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--bad-hostname"), "{err}");
}

#[test]
fn replay_syslog_takes_the_header_options() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("x.log");
    std::fs::write(&log, LINES).expect("write log");
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        "name: t\nsyslog:\n  listeners:\n    - {name: nohost, protocol: udp, address: 127.0.0.1:0, expect_hostname: false, bad_hostname: '^x'}\n",
    )
    .expect("write config");
    let cfg = cfg.to_string_lossy().into_owned();
    let log = log.to_string_lossy().into_owned();
    let out_dir = dir.path().join("o");
    let out_dir = out_dir.to_string_lossy().into_owned();
    for extra in [
        &[][..],
        &["--no-hostname"][..],
        &["--bad-hostname", "^ctld"][..],
        &["--syslog-listener", "nohost"][..],
    ] {
        let mut args = vec!["replay", "-c", &cfg, "--syslog", &log, "-l", &out_dir];
        args.extend_from_slice(extra);
        let o = zoneguard(&args);
        assert!(
            o.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(stdout.contains("3 lines, 3 parsed"), "{extra:?}: {stdout}");
    }
    for (extra, what) in [
        (&["--syslog-listener", "nope"][..], "--syslog-listener"),
        (&["--bad-hostname", "[a-"][..], "--bad-hostname"),
    ] {
        let mut args = vec!["replay", "-c", &cfg, "--syslog", &log, "-l", &out_dir];
        args.extend_from_slice(extra);
        let o = zoneguard(&args);
        assert!(!o.status.success(), "{extra:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(what), "{extra:?}: {err}");
    }
    // A listener whose bad_hostname does not compile fails `check` with
    // the key's path.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "name: t\nsyslog:\n  listeners:\n    - {name: u, protocol: udp, address: 127.0.0.1:0, bad_hostname: '(x'}\n",
    )
    .expect("write config");
    let o = zoneguard(&["check", "-c", &bad.to_string_lossy()]);
    assert!(!o.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(all.contains("syslog.listeners[0].bad_hostname"), "{all}");
}
