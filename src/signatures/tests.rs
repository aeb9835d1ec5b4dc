//! Whole-rule tests: keyword edge cases, the ET Open corpus and the
//! suricata-verify rules.

use std::path::{Path, PathBuf};

use super::*;

fn ctx_parts() -> (ResolvedVars, Classification) {
    (
        Vars::suricata_defaults().resolve(),
        Classification::suricata_default(),
    )
}

fn compile(text: &str) -> Result<Rule, RuleError> {
    let (vars, classes) = ctx_parts();
    compile_rule(
        text,
        "test.rules".into(),
        1,
        CompileCtx {
            vars: &vars,
            classification: &classes,
        },
    )
}

fn opts(o: &str) -> Result<Rule, RuleError> {
    compile(&format!("alert tcp any any -> any any ({o})"))
}

fn reason(o: &str) -> String {
    match opts(o) {
        Ok(_) => panic!("accepted: {o}"),
        Err(e) => e.to_string(),
    }
}

fn contents(r: &Rule) -> Vec<(&Buffer, &Content)> {
    r.lists
        .iter()
        .flat_map(|l| {
            l.matches.iter().filter_map(move |m| match m {
                Match::Content(c) => Some((&l.buffer, c)),
                _ => None,
            })
        })
        .collect()
}

#[test]
fn full_rule() {
    let r = compile(
        r#"alert http $HOME_NET any -> $EXTERNAL_NET $HTTP_PORTS (msg:"ET TEST \"quoted\" a\;b"; flow:established,to_server; http.method; content:"POST"; http.uri; content:"/gate.php"; startswith; fast_pattern; content:"id="; distance:0; http.user_agent; content:"Mozilla"; nocase; reference:url,example.com; classtype:trojan-activity; sid:2000001; rev:3; metadata:created_at 2020_01_01, taxonomy network_attack/scan, taxonomy x/y;)"#,
    )
    .unwrap();
    assert_eq!(r.sid, 2000001);
    assert_eq!(r.rev, 3);
    assert_eq!(r.msg, r#"ET TEST "quoted" a;b"#);
    assert_eq!(r.priority, 1);
    assert_eq!(r.classtype.as_deref(), Some("trojan-activity"));
    assert_eq!(r.proto, Proto::App(AppProto::Http));
    assert!(r.src.contains("10.1.2.3".parse().unwrap()));
    assert!(!r.dst.contains("10.1.2.3".parse().unwrap()));
    assert!(r.dst_ports.contains(80) && !r.dst_ports.contains(81));
    assert_eq!(r.lists.len(), 3);
    assert_eq!(r.lists[1].buffer, Buffer::HttpUri);
    assert_eq!(r.lists[1].matches.len(), 2);
    let (list, fp) = r.fast_pattern_content().unwrap();
    assert_eq!(
        (list.buffer, &*fp.pattern),
        (Buffer::HttpUri, &b"/gate.php"[..])
    );
    let md = r.metadata_grouped();
    assert_eq!(
        md["taxonomy"],
        serde_json::json!(["network_attack/scan", "x/y"])
    );
    assert_eq!(r.flow.dir, Some(rule::FlowDir::ToServer));
    assert_eq!(r.app_proto(), Some(AppProto::Http));
    let t = opts(r#"tls.sni; content:"x"; sid:1;"#).unwrap();
    assert_eq!(t.app_proto(), Some(AppProto::Tls));
    assert_eq!(opts("sid:1;").unwrap().app_proto(), None);
}

#[test]
fn content_edge_cases() {
    let r = opts(r#"content:"a|3a|b"; content:!"x\;y\"z\\"; sid:1;"#).unwrap();
    let c = contents(&r);
    assert_eq!(&*c[0].1.pattern, b"a:b");
    assert!(c[1].1.negated);
    assert_eq!(&*c[1].1.pattern, br#"x;y"z\"#);
    // A negated content is never the default fast pattern.
    assert_eq!(r.fast_pattern.map(|f| f.index), Some(0));
    assert!(reason(r#"content:"a|3|"; sid:1;"#).contains("'content'"));
    assert!(reason(r#"content:abc; sid:1;"#).contains("double quotes"));
    assert!(reason(r#"content:"a\x"; sid:1;"#).contains("invalid escape"));
}

#[test]
fn modifier_rules() {
    assert!(reason(r#"nocase; content:"a"; sid:1;"#).contains("needs a preceding content"));
    assert!(reason(r#"content:"abc"; depth:2; sid:1;"#).contains("smaller than the content length"));
    assert!(reason(r#"content:"abc"; startswith; depth:5; sid:1;"#).contains("startswith"));
    assert!(reason(r#"content:"abc"; depth:5; startswith; sid:1;"#).contains("startswith"));
    assert!(
        reason(r#"content:"a"; content:"b"; distance:0; offset:1; sid:1;"#).contains("absolute")
    );
    assert!(
        reason(r#"content:"a"; fast_pattern; content:"b"; fast_pattern; sid:1;"#)
            .contains("more than one")
    );
    assert!(reason(r#"isdataat:1,relative; sid:1;"#).contains("relative without"));
    // distance/within on the first content are anchored at the start of the
    // buffer, as Suricata does (126 ET Open rules rely on it, e.g. sid
    // 2025879 `file_data; content:"root:x:0:0:..."; within:27;`).
    let r = opts(r#"content:"a"; within:5; sid:1;"#).unwrap();
    assert_eq!(contents(&r)[0].1.within, Some(Num::Lit(5)));
    assert!(
        opts(r#"http.method; content:"GET"; http.uri; content:"/a"; distance:0; sid:1;"#).is_ok()
    );
    assert!(reason(r#"pcre:"/a/R"; sid:1;"#).contains("relative flag"));
    assert!(reason(r#"byte_test:1,=,1,0,relative; sid:1;"#).contains("relative without"));
    // A relative step continues from byte_jump, or from the start of the
    // sticky buffer (ET: `file_data; byte_test:1,>,95,0,relative;`).
    assert!(opts("byte_jump:2,1,little,post_offset -4; isdataat:!2,relative; sid:1;").is_ok());
    assert!(opts("file.data; byte_test:1,>,95,0,relative; sid:1;").is_ok());
    let r = opts(r#"content:"a"; content:"bc"; distance:-1; within:2; sid:1;"#).unwrap();
    let c = contents(&r);
    assert_eq!(c[1].1.distance, Some(Num::Lit(-1)));
    assert_eq!(c[1].1.within, Some(Num::Lit(2)));
}

#[test]
fn legacy_modifiers_move_contents() {
    let r = opts(r#"content:"GET"; http_method; content:"/x"; http_uri; content:"y"; distance:0; http_uri; content:"raw"; sid:1;"#)
        .unwrap();
    let buf_of = |p: &[u8]| {
        contents(&r)
            .into_iter()
            .find(|(_, c)| &*c.pattern == p)
            .map(|(b, _)| *b)
    };
    assert_eq!(buf_of(b"GET"), Some(Buffer::HttpMethod));
    assert_eq!(buf_of(b"/x"), Some(Buffer::HttpUri));
    assert_eq!(buf_of(b"y"), Some(Buffer::HttpUri));
    assert_eq!(buf_of(b"raw"), Some(Buffer::Payload));
    assert!(reason(r#"http.uri; content:"a"; http_uri; sid:1;"#).contains("sticky"));
    assert!(reason(r#"http_uri; sid:1;"#).contains("needs a preceding content"));
    let r = opts(r#"uricontent:"/a"; sid:1;"#).unwrap();
    assert_eq!(r.lists[0].buffer, Buffer::HttpUri);
}

#[test]
fn sticky_buffers_and_transforms() {
    let r = opts(r#"dns.query; dotprefix; content:".evil.com"; endswith; bsize:<50; http.uri; content:"a"; dns.query; dotprefix; content:"x"; sid:1;"#)
        .unwrap();
    assert_eq!(r.lists.len(), 2);
    assert_eq!(r.lists[0].transforms, vec![Transform::DotPrefix]);
    assert_eq!(r.lists[0].matches.len(), 3);
    assert!(reason(r#"dotprefix; content:"a"; sid:1;"#).contains("sticky buffer"));
    assert!(reason(r#"http.uri; content:"a"; to_lowercase; sid:1;"#).contains("directly follow"));
    assert!(reason(r#"bsize:5; sid:1;"#).contains("sticky"));
    assert!(reason(r#"http.uri; content:"abcdef"; bsize:3; sid:1;"#).contains("never match"));
    assert!(reason(r#"http.uri; pcre:"/a/H"; sid:1;"#).contains("sticky buffer"));
    assert!(reason(r#"http.uri; to_lowercase; content:"ABC"; sid:1;"#).contains("never match"));
    assert!(opts(r#"http.uri; to_lowercase; content:"abc"; sid:1;"#).is_ok());
    assert!(
        compile(r#"alert dns any any -> any any (http.uri; content:"a"; sid:1;)"#)
            .unwrap_err()
            .to_string()
            .contains("http buffer in a rule for protocol dns")
    );
    assert!(compile(r#"alert http2 any any -> any any (http.uri; content:"a"; sid:1;)"#).is_ok());
    assert!(compile(r#"alert tls any any -> any any (file.data; content:"a"; sid:1;)"#).is_ok());
    let r = opts(r#"pcre:"/^\/x/U"; sid:1;"#).unwrap();
    assert_eq!(r.lists[0].buffer, Buffer::HttpUri);
    let r = opts(r#"file.data; content:"MZ"; pcre:"/PE/R"; sid:1;"#).unwrap();
    assert_eq!(r.lists[0].matches.len(), 2);
}

#[test]
fn relative_after_legacy_follows_its_content() {
    let r = opts(r#"content:"/a"; http_uri; isdataat:!1,relative; sid:1;"#).unwrap();
    assert_eq!(r.lists.len(), 1);
    assert_eq!(r.lists[0].buffer, Buffer::HttpUri);
    assert_eq!(r.lists[0].matches.len(), 2);
}

#[test]
fn header_and_meta_errors() {
    assert!(matches!(
        compile("alert tcp any any <- any any (sid:1;)"),
        Err(RuleError::BackwardDirection)
    ));
    assert!(matches!(
        compile("alert tcp $NOPE any -> any any (sid:1;)"),
        Err(RuleError::Expr { .. })
    ));
    assert!(matches!(
        compile("alert gopher any any -> any any (sid:1;)"),
        Err(RuleError::UnknownProtocol(_))
    ));
    assert!(matches!(
        compile("log tcp any any -> any any (sid:1;)"),
        Err(RuleError::UnknownAction(_))
    ));
    assert!(matches!(opts("msg:\"x\";"), Err(RuleError::MissingSid)));
    assert_eq!(
        reason("sid:1; frobnicate:2;"),
        "unsupported keyword 'frobnicate'"
    );
    assert!(reason("sid:1; classtype:nope;").contains("unknown classtype"));
    assert!(reason("sid:0;").contains("'sid'"));
    assert!(reason("sid:1; sid:2;").contains("twice"));
    let r = opts("sid:1; classtype:misc-activity; priority:1; tag:session,5,packets; noalert;")
        .unwrap();
    assert_eq!(r.priority, 1);
    assert!(r.noalert);
    assert_eq!(r.notes.len(), 1);
    let r = opts("sid:1;").unwrap();
    assert_eq!((r.priority, r.gid, r.rev), (3, 1, 0));
    let r = opts(r#"Content:"a"; NoCase; SID:7;"#).unwrap();
    assert_eq!(r.sid, 7);
}

#[test]
fn packet_keywords() {
    let r = opts("dsize:>10; ttl:<5; itype:8; icode:0; icmp_id:5; icmp_seq:1; ip_proto:!tcp; flags:SA+,12; window:!1024; sameip; id:1; tos:!8; stream_size:client,<,5; urilen:1<>10; sid:1;")
        .unwrap();
    assert_eq!(r.packet.len(), 14);
    let r = opts("ack:0; seq:1; fragbits:M+; ipopts:any; tcp.flags:S; tls.version:1.2; ssl_version:!sslv2; sid:1;").unwrap();
    assert_eq!(r.packet.len(), 7);
    assert!(reason("dsize:70000; sid:1;").contains("dsize"));
    assert!(reason("sameip:1; sid:1;").contains("no value"));
    let r = opts("threshold: type limit, track by_src, seconds 60, count 1; detection_filter: track by_src, count 5, seconds 60; flowbits:set,a; flowbits:isset,b|c; flowbits:noalert; sid:1;").unwrap();
    assert!(r.threshold.is_some() && r.detection_filter.is_some());
    assert_eq!(r.flowbits.len(), 3);
    assert!(r.noalert);
}

#[test]
fn byte_extract_variables() {
    let r = opts(
        r#"content:"x"; byte_extract:2,0,len,relative; content:"y"; distance:len; isdataat:len,relative; byte_test:1,>,len,0; sid:1;"#,
    );
    assert!(r.is_ok(), "{r:?}");
    assert!(
        reason(r#"content:"x"; distance:len; sid:1;"#).contains("unknown byte_extract variable")
    );
}

#[test]
fn loader_lines_comments_duplicates() {
    let (vars, classes) = ctx_parts();
    let text = "# comment\n\
        # alert tcp any any -> any any (msg:\"disabled\"; sid:9;)\n\
        \n\
        alert tcp any any -> any any (msg:\"one\"; \\\n    content:\"a\"; sid:1;)\n\
        alert tcp any any -> any any (msg:\"dup\"; sid:1;)\n\
        alert tcp any any -> any any (msg:\"bad\"; xyz; sid:3;)\n\
        alert tcp any any -> any any (msg:\"gid\"; sid:1; gid:2;)\n\
        alert tcp any any -> any any (msg:\"unterminated\"; sid:4;\n";
    let res = load_rules_str(text, "t.rules", &vars, &classes);
    assert_eq!(res.rules.len(), 2);
    assert_eq!(res.disabled, 1);
    assert_eq!(res.rules[0].line, 4);
    let rej: Vec<(usize, Option<u32>)> = res.rejected.iter().map(|r| (r.line, r.sid)).collect();
    assert_eq!(rej, vec![(6, Some(1)), (7, Some(3)), (9, Some(4))]);
    assert!(res.rejected[0]
        .reason
        .contains("duplicate sid 1 (gid 1), first defined at t.rules:4"));
    assert_eq!(res.rejected[1].reason, "unsupported keyword 'xyz'");
    let j = check_json(&res);
    assert_eq!(j["rules_loaded"], 2);
    assert_eq!(j["rules_rejected"], 3);
    assert_eq!(j["rejected"][1]["sid"], 3);
    assert_eq!(j["rejected"][1]["file"], "t.rules");
    assert_eq!(j["rejected"][1]["line"], 7);
}

#[test]
fn missing_file_is_reported() {
    let (vars, classes) = ctx_parts();
    let res = load_rule_files(&[PathBuf::from("/nonexistent/x.rules")], &vars, &classes);
    assert_eq!(res.files, 0);
    assert_eq!(res.rejected.len(), 1);
    assert_eq!(res.rejected[0].line, 0);
}

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

fn rule_files(dir: &Path, name_ok: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| name_ok(p));
    v.sort();
    v
}

fn shared_dir() -> Option<PathBuf> {
    // The shared corpus sits beside the worktree (or at /work/shared).
    [corpus(), PathBuf::from("/work/shared/corpus")]
        .into_iter()
        .find(|p| p.is_dir())
}

#[test]
fn et_open_conformance() {
    let Some(base) = shared_dir() else {
        eprintln!("shared corpus not found; skipping");
        return;
    };
    let dir = base.join("rules/et-open");
    let files = rule_files(&dir, |p| p.extension().is_some_and(|e| e == "rules"));
    assert!(files.len() > 30, "ET Open files missing");
    let (vars, _) = ctx_parts();
    let classes = Classification::from_file(&dir.join("classification.config"))
        .unwrap_or_else(|_| Classification::suricata_default());
    let t = std::time::Instant::now();
    let res = load_rule_files(&files, &vars, &classes);
    let took = t.elapsed();
    assert_eq!(res.files, files.len(), "every ET Open file must load");
    let active = res.active();
    let pct = res.rules.len() as f64 * 100.0 / active.max(1) as f64;
    eprintln!(
        "ET Open: {} files, {} active rules, {} loaded ({pct:.2} %), {} rejected, {} disabled, {:?}",
        res.files,
        active,
        res.rules.len(),
        res.rejected.len(),
        res.disabled,
        took
    );
    eprintln!("| keyword | rejected rules | example reason |");
    eprintln!("| --- | ---: | --- |");
    for (k, n) in res.rejections_by_keyword() {
        let ex = res
            .rejected
            .iter()
            .find(|r| r.keyword == k)
            .map(|r| {
                format!(
                    "{}:{} sid {:?}: {}",
                    r.file.rsplit('/').next().unwrap_or(""),
                    r.line,
                    r.sid,
                    r.reason
                )
            })
            .unwrap_or_default();
        eprintln!("| `{k}` | {n} | {ex} |");
    }
    assert!(pct >= 95.0, "only {pct:.2} % of ET Open accepted");

    // Every rule with a positive content has a fast pattern for the prefilter.
    let mut no_content = 0;
    for r in &res.rules {
        let positive = r
            .lists
            .iter()
            .flat_map(|l| &l.matches)
            .any(|m| matches!(m, Match::Content(c) if !c.negated));
        if positive {
            assert!(
                r.fast_pattern_content().is_some(),
                "sid {} has no fast pattern",
                r.sid
            );
        } else {
            no_content += 1;
        }
    }
    eprintln!("ET Open: {no_content} loaded rules have no positive content (IP/packet-only)");

    // Informative: the commented-out (disabled) rules, uncommented.
    let mut text = String::new();
    for f in &files {
        let body = std::fs::read_to_string(f).unwrap_or_default();
        for l in body.lines() {
            let t = l.trim_start_matches('#').trim_start();
            if l.starts_with('#')
                && t.split_whitespace()
                    .next()
                    .and_then(Action::from_name)
                    .is_some()
            {
                text.push_str(t);
                text.push('\n');
            }
        }
    }
    let dis = load_rules_str(&text, "disabled", &vars, &classes);
    eprintln!(
        "ET Open disabled rules, uncommented: {} loaded, {} rejected",
        dis.rules.len(),
        dis.rejected.len()
    );
    for (k, n) in dis.rejections_by_keyword() {
        let ex = dis
            .rejected
            .iter()
            .find(|r| r.keyword == k)
            .map(|r| r.reason.as_str())
            .unwrap_or("");
        eprintln!("  {k}: {n} ({ex})");
    }
}

#[test]
fn suricata_verify_rules_parse() {
    let Some(base) = shared_dir() else {
        eprintln!("shared corpus not found; skipping");
        return;
    };
    let dir = base.join("suricata-verify");
    let mut files = Vec::new();
    for d in rule_files(&dir, |p| p.is_dir()) {
        let f = d.join("test.rules");
        if f.is_file() {
            files.push(f);
        }
    }
    assert!(!files.is_empty());
    let (vars, classes) = ctx_parts();
    let mut loaded = 0;
    let mut rejected = Vec::new();
    for f in &files {
        // Each case is loaded alone, as with `-S`.
        let res = load_rule_files(std::slice::from_ref(f), &vars, &classes);
        loaded += res.rules.len();
        rejected.extend(res.rejected);
    }
    eprintln!(
        "suricata-verify: {} files, {loaded} rules loaded, {} rejected",
        files.len(),
        rejected.len()
    );
    for r in &rejected {
        eprintln!("  {}", loader::format_rejection(r));
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
    #[test]
    fn arbitrary_rules_never_panic(s in "\\PC{0,200}") {
        let _ = compile(&s);
        let _ = opts(&s);
    }

    #[test]
    fn arbitrary_files_never_panic(s in "(\\PC|\n|\\\\|#|;|\\(|\\)){0,300}") {
        // The same path as the fuzz target `rule_parse`.
        let (vars, classes) = ctx_parts();
        let res = load_rules_str(&s, "p.rules", &vars, &classes);
        let _ = check_json(&res);
        let _ = ThresholdConfig::parse(&s, "p.threshold", &vars);
    }

    #[test]
    fn arbitrary_option_soup_never_panics(
        keys in proptest::collection::vec(
            proptest::sample::select(vec![
                "content:\"ab\"", "content:!\"|41|\"", "nocase", "depth:2", "offset:1", "distance:0",
                "within:3", "startswith", "endswith", "fast_pattern", "http.uri", "http_uri",
                "dotprefix", "pcre:\"/a/R\"", "pcre:\"/b/U\"", "isdataat:1,relative",
                "byte_extract:1,0,v", "byte_test:1,>,v,0", "bsize:<5", "dns.query", "sid:1",
                "file.data", "byte_jump:2,0,relative", "base64_decode", "base64_data",
            ]),
            0..24,
        )
    ) {
        let o = keys.join("; ") + ";";
        let _ = opts(&o);
    }
}
