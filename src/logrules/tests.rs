//! Loader and engine tests over hand-written rules and lines.

use std::net::IpAddr;

use proptest::prelude::*;

use super::rule::{base64, derived_sid, RuleError};
use super::*;
use crate::alert::Alert;
use crate::syslog::decode::decode;
use crate::syslog::{parse, ParseOptions};
use crate::time::Timestamp;

fn opts() -> LoadOptions {
    let mut o = LoadOptions::default();
    o.placeholders
        .insert("admins".into(), vec!["ops".into(), "dcadmin".into()]);
    o
}

fn load(yaml: &str) -> RuleSet {
    let mut s = RuleSet::new();
    s.load_str(yaml, "test.yml", &opts());
    s
}

fn engine(yaml: &str) -> Engine {
    let s = load(yaml);
    assert!(s.report.rejected.is_empty(), "{:#?}", s.report.rejected);
    Engine::new(s)
}

fn reject_reason(yaml: &str) -> RuleError {
    let s = load(yaml);
    assert_eq!(s.report.loaded, 0, "rule loaded unexpectedly");
    s.report
        .rejected
        .first()
        .map(|r| r.error.clone())
        .expect("one rejection")
}

/// Feed RFC 5424 lines `(seconds after 09:00:00Z, host, app, msg)`.
fn run(e: &mut Engine, lines: &[(u32, &str, &str, &str)]) -> Vec<Alert> {
    let mut out = Vec::new();
    for (t, host, app, msg) in lines {
        let line = format!(
            "<38>1 2026-11-02T09:{:02}:{:02}Z {host} {app} 1 - - {msg}",
            t / 60,
            t % 60
        );
        let m = parse(line.as_bytes(), &ParseOptions::default()).expect("test line parses");
        let ev = decode(&m);
        let ctx = LineContext {
            received: Timestamp::from_secs_nanos(0, 0),
            host_ip: Some(IpAddr::from([10, 0, 0, 1])),
            zone: Some("dmz"),
        };
        e.on_line(&m, ev.as_ref(), &ctx, &mut out);
    }
    out
}

fn rule(detection: &str) -> String {
    format!(
        "title: t\nid: r1\nlevel: high\ntags: [zoneguard.taxonomy.network_attack.brute_force, attack.t1110]\nlogsource: {{product: linux}}\ndetection:\n{detection}"
    )
}

fn fires(detection: &str, app: &str, msg: &str) -> bool {
    let mut e = engine(&rule(detection));
    !run(&mut e, &[(0, "h", app, msg)]).is_empty()
}

const FAILED: &str = "Failed password for root from 203.0.113.9 port 4022 ssh2";

#[test]
fn field_modifiers() {
    let d = |s: &str| format!("  sel:\n{s}\n  condition: sel\n");
    assert!(fires(&d("    event: ssh_failed"), "sshd", FAILED));
    assert!(fires(&d("    event: SSH_FAILED"), "sshd", FAILED));
    assert!(!fires(&d("    event|cased: SSH_FAILED"), "sshd", FAILED));
    assert!(fires(&d("    user|startswith: ro"), "sshd", FAILED));
    assert!(fires(&d("    user|endswith: OT"), "sshd", FAILED));
    assert!(fires(
        &d("    message|contains: 'password for'"),
        "sshd",
        FAILED
    ));
    assert!(fires(
        &d("    message|contains|all: [password, root]"),
        "sshd",
        FAILED
    ));
    assert!(!fires(
        &d("    message|contains|all: [password, admin]"),
        "sshd",
        FAILED
    ));
    assert!(fires(&d("    src_ip|cidr: 203.0.113.0/24"), "sshd", FAILED));
    assert!(!fires(&d("    src_ip|cidr: 10.0.0.0/8"), "sshd", FAILED));
    assert!(fires(&d("    src_port|gt: 4000"), "sshd", FAILED));
    assert!(!fires(&d("    src_port|lte: 4000"), "sshd", FAILED));
    assert!(fires(&d("    user|exists: true"), "sshd", FAILED));
    assert!(fires(&d("    unit|exists: false"), "sshd", FAILED));
    assert!(fires(&d("    unit: null"), "sshd", FAILED));
    assert!(!fires(&d("    user: null"), "sshd", FAILED));
    assert!(fires(&d("    user: 'r?o*'"), "sshd", FAILED));
    assert!(fires(
        &d("    user|expand: '%admins%'"),
        "sshd",
        "Failed password for ops from 1.2.3.4 port 1 ssh2"
    ));
    assert!(!fires(&d("    user|expand: '%admins%'"), "sshd", FAILED));
    // A list of maps is an OR.
    assert!(fires(
        &d("    - user: nobody\n    - user: root"),
        "sshd",
        FAILED
    ));
    // Host and program come from the header.
    assert!(fires(&d("    host: h\n    program: sshd"), "sshd", FAILED));
}

#[test]
fn keywords_and_encodings() {
    let d = |s: &str| format!("  keywords:\n{s}\n  condition: keywords\n");
    assert!(fires(
        &d("    - 'no match'\n    - 'Password FOR'"),
        "sshd",
        FAILED
    ));
    assert!(!fires(&d("    - 'nothing'"), "sshd", FAILED));
    assert!(fires(&d("    '|all': [Failed, ssh2]"), "sshd", FAILED));
    assert!(!fires(&d("    '|all': [Failed, ssh3]"), "sshd", FAILED));
    let enc = base64(b"curl http://x");
    let msg = format!("run: echo {enc} | base64 -d | sh");
    let d2 = |s: &str| format!("  sel:\n{s}\n  condition: sel\n");
    assert!(fires(
        &d2("    message|base64|contains: 'curl http://x'"),
        "bash",
        &msg
    ));
    let shifted = base64(b"ab curl http://x trailing");
    let msg2 = format!("payload {shifted}");
    assert!(fires(
        &d2("    message|base64offset|contains: 'curl http://x'"),
        "bash",
        &msg2
    ));
    assert!(fires(
        &d2("    command|windash|contains: ' -enc '"),
        "sudo",
        "ops : TTY=pts/1 ; PWD=/ ; USER=root ; COMMAND=/usr/bin/pwsh /enc AAA"
    ));
}

#[test]
fn base64_known_values() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
}

#[test]
fn conditions() {
    let d = "  sel_a:\n    user: root\n  sel_b:\n    user: admin\n  filter:\n    src_ip|cidr: 203.0.113.0/24\n";
    let with = |c: &str| format!("{d}  condition: {c}\n");
    assert!(fires(&with("1 of sel_*"), "sshd", FAILED));
    assert!(!fires(&with("all of sel_*"), "sshd", FAILED));
    assert!(!fires(&with("1 of sel_* and not filter"), "sshd", FAILED));
    assert!(fires(&with("(sel_a or sel_b) and filter"), "sshd", FAILED));
    assert!(fires(&with("2 of them"), "sshd", FAILED));
    assert!(!fires(&with("all of them"), "sshd", FAILED));
}

#[test]
fn rejections_name_the_reason() {
    let d = |s: &str| rule(&format!("  sel:\n{s}\n  condition: sel\n"));
    assert_eq!(
        reject_reason(&d("    user|utf16: 'r'")),
        RuleError::UnsupportedModifier("utf16".into())
    );
    assert_eq!(
        reject_reason(&d("    NoSuchField: x")),
        RuleError::UnknownField("NoSuchField".into())
    );
    assert_eq!(
        reject_reason(&d("    user|expand: '%nobody%'")),
        RuleError::Placeholder("nobody".into())
    );
    assert!(matches!(
        reject_reason(&d("    src_ip|cidr: not-a-net")),
        RuleError::Field { .. }
    ));
    assert!(matches!(
        reject_reason(&rule("  sel:\n    user: x\n  condition: sel and nope\n")),
        RuleError::Condition(_)
    ));
    assert!(matches!(
        reject_reason(&rule(
            "  sel:\n    user: x\n  condition: sel | count() > 5\n"
        )),
        RuleError::Condition(_)
    ));
    assert!(matches!(
        reject_reason("title: w\nlogsource: {product: windows, category: process_creation}\ndetection: {sel: {Image: x}, condition: sel}\n"),
        RuleError::NotCollected(_)
    ));
    assert!(matches!(
        reject_reason("title: a\nlogsource: {product: linux, service: auditd}\ndetection: {sel: {type: EXECVE}, condition: sel}\n"),
        RuleError::NotCollected(_)
    ));
    assert!(matches!(
        reject_reason("title: t\ntags: [zoneguard.taxonomy.nope.nope]\nlogsource: {product: linux}\ndetection: {k: [x], condition: k}\n"),
        RuleError::Taxonomy(_)
    ));
    assert!(matches!(
        reject_reason("- just\n- a list\n"),
        RuleError::Field { .. }
    ));
    assert!(matches!(
        reject_reason("title: [unclosed\n"),
        RuleError::Yaml(_)
    ));
}

#[test]
fn one_bad_document_does_not_stop_the_others() {
    let good = rule("  k: [Failed]\n  condition: k\n");
    let bad = rule("  sel:\n    user|utf16: x\n  condition: sel\n");
    let s = load(&format!("{good}---\n{bad}---\n{good}"));
    assert_eq!(s.report.loaded, 2);
    assert_eq!(s.report.rejected.len(), 1);
    let r = s.report.rejected.first().expect("rejection");
    assert_eq!(
        (r.file.as_str(), r.doc, r.id.as_deref()),
        ("test.yml", 1, Some("r1"))
    );
    let good_lines = good.lines().count();
    assert_eq!(r.line, good_lines + 2);

    assert_eq!(
        s.report.by_reason(),
        vec![("unsupported modifier utf16".to_owned(), 1)]
    );
}

#[test]
fn alert_shape() {
    let mut e = engine(&rule("  sel:\n    event: ssh_failed\n  condition: sel\n"));
    let a = run(&mut e, &[(5, "web01", "sshd", FAILED)]);
    let a = a.first().expect("alert");
    assert_eq!(a.gid, 1);
    assert_eq!(a.sid, derived_sid("r1"));
    assert!((3_000_000..4_000_000).contains(&a.sid));
    assert_eq!(a.severity, 1);
    assert_eq!(&*a.signature, "t");
    assert_eq!(a.taxonomy(), Some("network_attack/brute_force"));
    assert!(a.category.contains("brute force"));
    assert_eq!(a.addrs.src_ip, "203.0.113.9".parse().ok());
    assert_eq!(a.addrs.src_port, 4022);
    assert_eq!(a.addrs.dest_ip, Some(IpAddr::from([10, 0, 0, 1])));
    assert_eq!(a.addrs.proto, Some(6));
    assert_eq!(a.ts, Timestamp::from_secs_nanos(1_793_610_005, 0));
    let log = a.log.as_ref().expect("log");
    assert_eq!(log.host.as_deref(), Some("web01"));
    assert_eq!(log.program.as_deref(), Some("sshd"));
    assert_eq!(log.message, FAILED);
    let keys: Vec<&str> = a.metadata.iter().map(|(k, _)| &**k).collect();
    assert_eq!(
        keys,
        ["taxonomy", "sigma_id", "sigma_level", "mitre", "zone"]
    );
}

const BASE: &str = "title: failed\nname: failed\nlogsource: {product: linux, service: sshd}\ndetection: {sel: {event: ssh_failed}, condition: sel}\n";

fn count_rule(n: u32, span: &str, generate: bool) -> String {
    format!("{BASE}---\ntitle: bf\nid: bf\nlevel: medium\ncorrelation:\n  type: event_count\n  rules: [failed]\n  group-by: [src_ip]\n  timespan: {span}\n  generate: {generate}\n  condition: {{gte: {n}}}\n")
}

fn failed_from(ip: &str) -> String {
    format!("Failed password for root from {ip} port 1 ssh2")
}

#[test]
fn event_count_in_log_time() {
    let a = failed_from("198.51.100.1");
    let b = failed_from("198.51.100.2");
    let mut e = engine(&count_rule(3, "60s", false));
    // Two sources interleaved; the third from .1 within 60 s fires, the
    // base rule raises nothing itself (generate: false).
    let out = run(
        &mut e,
        &[
            (0, "h", "sshd", &a),
            (10, "h", "sshd", &b),
            (20, "h", "sshd", &a),
            (60, "h", "sshd", &a),
        ],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out.first().map(|x| &*x.signature), Some("bf"));
    assert_eq!(
        out.first().and_then(|x| x.addrs.src_ip),
        "198.51.100.1".parse().ok()
    );
    // Spread over more than 60 s: nothing.
    let mut e = engine(&count_rule(3, "60s", false));
    let out = run(
        &mut e,
        &[
            (0, "h", "sshd", &a),
            (40, "h", "sshd", &a),
            (101, "h", "sshd", &a),
        ],
    );
    assert!(out.is_empty());
    // generate: true keeps the base rule's own alerts.
    let mut e = engine(&count_rule(2, "1m", true));
    let out = run(&mut e, &[(0, "h", "sshd", &a), (1, "h", "sshd", &a)]);
    assert_eq!(out.len(), 3);
    // After firing, the rest of the window that started with the first
    // counted event is absorbed; counting restarts after it
    // (non-overlapping alerts).
    let mut e = engine(&count_rule(2, "1m", false));
    let out = run(
        &mut e,
        &[
            (0, "h", "sshd", &a),
            (1, "h", "sshd", &a),
            (2, "h", "sshd", &a),
            (60, "h", "sshd", &a),
            (61, "h", "sshd", &a),
            (62, "h", "sshd", &a),
        ],
    );
    assert_eq!(out.len(), 2);
    assert_eq!(out.get(1).map(|x| x.ts.secs() - 1_793_610_000), Some(62));
}

#[test]
fn value_count_counts_distinct_values() {
    let y = format!("{}---\ntitle: spray\ncorrelation:\n  type: value_count\n  rules: [inv]\n  group-by: [src_ip]\n  timespan: 1h\n  condition: {{field: user, gte: 3}}\n",
        "title: inv\nname: inv\nlogsource: {product: linux, service: sshd}\ndetection: {sel: {event: ssh_invalid_user}, condition: sel}\n");
    let mut e = engine(&y);
    let l = |u: &str| format!("Invalid user {u} from 192.0.2.7 port 4");
    let (x, z, w) = (l("x"), l("z"), l("w"));
    let out = run(
        &mut e,
        &[
            (0, "h", "sshd", &x),
            (1, "h", "sshd", &x),
            (2, "h", "sshd", &z),
        ],
    );
    assert!(out.is_empty());
    let out = run(&mut e, &[(3, "h", "sshd", &w)]);
    assert_eq!(out.len(), 1);
}

#[test]
fn temporal_and_ordered() {
    let rules = "title: acc\nname: acc\nlogsource: {product: linux, service: sshd}\ndetection: {sel: {event: ssh_accepted}, condition: sel}\n";
    let mk = |ty: &str| {
        format!("{BASE}---\n{rules}---\ntitle: seq\ncorrelation:\n  type: {ty}\n  rules: [failed, acc]\n  group-by: [src_ip]\n  timespan: 5m\n")
    };
    let f = failed_from("192.0.2.1");
    let ok = "Accepted password for root from 192.0.2.1 port 2 ssh2";
    let mut e = engine(&mk("temporal_ordered"));
    assert!(run(&mut e, &[(0, "h", "sshd", ok), (10, "h", "sshd", &f)]).is_empty());
    assert_eq!(run(&mut e, &[(20, "h", "sshd", ok)]).len(), 1);
    let mut e = engine(&mk("temporal"));
    assert_eq!(
        run(&mut e, &[(0, "h", "sshd", ok), (10, "h", "sshd", &f)]).len(),
        1
    );
    let mut e = engine(&mk("temporal"));
    assert!(run(&mut e, &[(0, "h", "sshd", ok), (400, "h", "sshd", &f)]).is_empty());
}

#[test]
fn unknown_correlation_reference_is_rejected_at_build() {
    let y = "title: c\nid: c1\ncorrelation: {type: event_count, rules: [missing], group-by: [src_ip], timespan: 1m, condition: {gte: 2}}\n";
    let s = load(y);
    assert_eq!(s.report.loaded, 1);
    let e = Engine::new(s);
    assert_eq!(e.report().loaded, 0);
    assert_eq!(
        e.report().rejected.first().map(|r| r.error.clone()),
        Some(RuleError::UnknownReference("missing".into()))
    );
    assert_eq!(e.rule_count(), 0);
}

#[test]
fn correlation_state_is_bounded() {
    let mut e = engine(&count_rule(1000, "1h", false));
    let n = engine::MAX_GROUPS as u32 + 10;
    let lines: Vec<String> = (0..n)
        .map(|i| failed_from(&format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256)))
        .collect();
    let batch: Vec<(u32, &str, &str, &str)> =
        lines.iter().map(|l| (0, "h", "sshd", l.as_str())).collect();
    run(&mut e, &batch);
    assert_eq!(e.groups_held(), engine::MAX_GROUPS);
    assert_eq!(e.stats().groups_capped, 10);
    // An hour later the old groups expire and new sources are tracked.
    let late = failed_from("192.0.2.200");
    run(&mut e, &[(3599, "h", "sshd", &late)]);
    assert_eq!(e.stats().groups_capped, 11);
}

#[test]
fn correlation_groups_expire_in_log_time() {
    let mut e = engine(&count_rule(1000, "1m", false));
    let lines: Vec<String> = (0..engine::MAX_GROUPS as u32)
        .map(|i| failed_from(&format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256)))
        .collect();
    let batch: Vec<(u32, &str, &str, &str)> =
        lines.iter().map(|l| (0, "h", "sshd", l.as_str())).collect();
    run(&mut e, &batch);
    let late = failed_from("192.0.2.200");
    run(&mut e, &[(120, "h", "sshd", &late)]);
    assert_eq!(e.stats().groups_capped, 0);
    assert_eq!(e.groups_held(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary text as a rule file: never panics, every document is
    /// either loaded or rejected.
    #[test]
    fn loader_never_panics_on_text(s in "\\PC{0,300}") {
        let mut set = RuleSet::new();
        set.load_str(&s, "fuzz.yml", &opts());
        let _ = Engine::new(set);
    }

    /// Rule-shaped YAML with hostile pieces.
    #[test]
    fn loader_never_panics_on_rule_shapes(
        field in "[a-zA-Z_|]{0,20}",
        val in "[ -~]{0,20}",
        cond in "[a-z_0-9*() ]{0,30}",
        ls in prop::sample::select(vec!["{product: linux}", "{category: firewall}", "{product: windows}", "{}", "x"]),
    ) {
        let y = format!("title: t\nlogsource: {ls}\ndetection:\n  sel:\n    '{}': '{}'\n  condition: '{}'\n",
            field.replace('\'', ""), val.replace('\'', ""), cond);
        let mut set = RuleSet::new();
        set.load_str(&y, "p.yml", &opts());
        let mut e = Engine::new(set);
        run(&mut e, &[(0, "h", "sshd", FAILED)]);
    }

    /// Arbitrary lines through parse, decode and the shipped-style rules.
    #[test]
    fn engine_never_panics_on_lines(line in "\\PC{0,200}") {
        let mut e = engine(&count_rule(2, "1m", true));
        let mut out = Vec::new();
        if let Ok(m) = parse(line.as_bytes(), &ParseOptions::default()) {
            let ev = decode(&m);
            let ctx = LineContext { received: Timestamp::from_secs_nanos(0, 0), host_ip: None, zone: None };
            e.on_line(&m, ev.as_ref(), &ctx, &mut out);
        }
    }
}

#[test]
fn re_modifier_is_pcre() {
    let d = |s: &str| format!("  sel:\n{s}\n  condition: sel\n");
    // Case-sensitive by default (Sigma), unanchored.
    assert!(fires(&d("    user|re: '^ro+t$'"), "sshd", FAILED));
    assert!(!fires(&d("    user|re: '^ROOT$'"), "sshd", FAILED));
    assert!(fires(&d("    user|re|i: '^ROOT$'"), "sshd", FAILED));
    assert!(fires(
        &d("    src_ip|re: '^203\\.0\\.113\\.\\d{1,3}$'"),
        "sshd",
        FAILED
    ));
    assert!(!fires(&d("    src_ip|re: '^10\\.'"), "sshd", FAILED));
    // PCRE syntax beyond the `regex` crate: look-ahead and back-references.
    assert!(fires(
        &d("    user|re: '^(?!admin)r(o)\\1t'"),
        "sshd",
        FAILED
    ));
    // A value list is any of them; `all` needs every one.
    assert!(fires(&d("    user|re: ['^x', 'oo']"), "sshd", FAILED));
    assert!(!fires(&d("    user|re|all: ['^x', 'oo']"), "sshd", FAILED));
    assert!(fires(&d("    user|re|all: ['^r', 't$']"), "sshd", FAILED));
    // Keywords search the message.
    assert!(fires(
        "  k:\n    '|re':\n      - 'port \\d+ ssh2$'\n  condition: k\n",
        "sshd",
        FAILED
    ));
}

#[test]
fn re_modifier_rejections() {
    let d = |s: &str| rule(&format!("  sel:\n{s}\n  condition: sel\n"));
    for bad in [
        "    user|re: '(unclosed'",
        "    user|re|contains: 'x'",
        "    user|re|base64: 'x'",
        "    user|re: '(*LIMIT_MATCH=10000000)a'",
    ] {
        assert!(
            matches!(reject_reason(&d(bad)), RuleError::Field { .. }),
            "{bad}"
        );
    }
    // Sub-modifiers only after `re`.
    assert_eq!(
        reject_reason(&d("    user|i: 'x'")),
        RuleError::UnsupportedModifier("i".into())
    );
    let long = format!(
        "    user|re: '{}'",
        "a".repeat(super::modifiers::MAX_REGEX_LEN + 1)
    );
    assert!(matches!(reject_reason(&d(&long)), RuleError::Field { .. }));
}

#[test]
fn re_catastrophic_backtracking_is_bounded_and_counted() {
    // (a+)+$ against "aaaa…ab" backtracks exponentially without a limit.
    let re = super::modifiers::compile_regex("^(a+)+$", false, false, false).expect("compiles");
    let subject = format!("{}b", "a".repeat(64));
    let before = super::modifiers::regex_limit_hits();
    let started = std::time::Instant::now();
    let r = re.is_match(subject.as_bytes());
    assert!(r.is_err(), "the match limit stops it: {r:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    // Through a rule: no alert, and the limit hit is counted.
    let mut e = engine(&rule("  sel:\n    user|re: '^(a+)+$'\n  condition: sel\n"));
    let line = format!("Failed password for {subject} from 203.0.113.9 port 4022 ssh2");
    assert!(run(&mut e, &[(0, "h", "sshd", &line)]).is_empty());
    assert!(super::modifiers::regex_limit_hits() > before);
}

proptest! {
    /// Any pattern text and any subject: compiling and matching give a
    /// result or an error, never a panic.
    #[test]
    fn re_never_panics(pat in "\\PC{0,40}", subject in "\\PC{0,200}") {
        if let Ok(re) = super::modifiers::compile_regex(&pat, false, true, true) {
            let _ = re.is_match(subject.as_bytes());
        }
    }
}
