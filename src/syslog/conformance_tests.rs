//! Conformance against `shared/corpus/syslog/rfc_vectors/vectors.jsonl`
//! (see docs/syslog.md, "Conformance", for the reading rules and the
//! deliberate differences listed in [`KNOWN_DIFFERENCES`]).

use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::Value;

use super::message::{BadHostname, ParseOptions, Protocol, SyslogMessage};
use super::parser::{parse, parse_sd};

/// Valid vectors whose expectation zoneguard deliberately does not follow.
pub(crate) const KNOWN_DIFFERENCES: &[&str] = &[
    // go-syslog's RFC 3164 parser takes no TAG unless a ':' follows it;
    // rsyslog, syslog-ng and RFC 3164 §4.1.3 take the first word.
    "gosyslog-0208",
    "gosyslog-0210",
    // syslog-ng fills a missing time stamp with the receive time; the
    // contract says absent fields are null.
    "syslogng-0017",
    "syslogng-0069",
    // A lone word after the time stamp: rsyslog (and we) take it as the
    // host name, syslog-ng as the program.
    "syslogng-0066",
    // No time stamp, no PRI: we take no host name from free text.
    "rsyslog-0032",
    // syslog_loose leaves the facility null without PRI; RFC 3164 §4.3.3
    // (and rsyslog, syslog-ng) assume user.notice.
    "syslogloose-0020",
    // The vector expects x-pid="8979" but its input says x-pid="9043" (an
    // error in the source's test table; see BROKEN_VECTORS).
    "syslogloose-0026",
    // syslog-ng strips the BOM from MSG; we keep MSG as sent (RFC 5424 §6.4
    // makes the BOM part of MSG-UTF8), as go-syslog does in 17 vectors.
    "syslogng-0039",
    "syslogng-0040",
    "syslogng-0041",
];

/// Valid vectors whose expectation contradicts their own input, so that no
/// parser can meet it: left out of the denominator of the rate (and still
/// listed above, so the test notices if one starts to match).
pub(crate) const BROKEN_VECTORS: &[&str] = &[
    // Input `x-pid="9043"`, expected `8979`: the expectation was copied from
    // the neighbouring `rsyslog_omfwd_tcp_default` case of the same table.
    "syslogloose-0026",
];

/// Vectors that test a non-default option of the source parser (see
/// `options` in the vector), not a convention: they run with the same
/// option set in [`ParseOptions`] (`expect_hostname: false` for syslog-ng
/// without LP_EXPECT_HOSTNAME, `bad_hostname` for `bad_hostname_re`) and
/// must match.
pub(crate) const OPTION_DEPENDENT: &[&str] = &[
    "syslogng-0006",
    "syslogng-0023",
    "syslogng-0027",
    "syslogng-0028",
    "syslogng-0029",
    "syslogng-0030",
];

pub(crate) fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("ZONEGUARD_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus")));
    let dir = dir.join("syslog");
    dir.is_dir().then_some(dir)
}

fn b64(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn raw_bytes(case: &Value) -> Vec<u8> {
    match case.get("raw").and_then(Value::as_str) {
        Some(s) => s.as_bytes().to_vec(),
        None => b64(case["raw_base64"].as_str().unwrap_or_default()),
    }
}

fn expected_str(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o
            .get("base64")
            .and_then(Value::as_str)
            .map(|s| String::from_utf8_lossy(&b64(s)).into_owned()),
        other => Some(other.to_string()),
    }
}

fn options_for(case: &Value) -> ParseOptions {
    let id = case["id"].as_str().unwrap_or_default();
    let mut opts = ParseOptions {
        strict: false,
        tz: Tz::UTC,
        received: Utc::now(),
        sender: None,
        expect_hostname: true,
        bad_hostname: None,
    };
    if id.starts_with("syslogng") {
        opts.tz = Tz::Europe__Berlin;
        opts.received = Utc.with_ymd_and_hms(2019, 2, 8, 8, 37, 49).unwrap();
        let o = &case["options"];
        // syslog-ng's lib/tests/test_msgparse.c gives each case its whole
        // flag set; the RFC 3164 parser reads a HOSTNAME only with
        // LP_EXPECT_HOSTNAME (the flag set of test_syslog_format.c adds to
        // defaults that include it).
        if let Some(flags) = o["flags"].as_array() {
            let complete = case["source"]
                .as_str()
                .is_some_and(|s| s.contains("test_msgparse.c"));
            if complete
                && case["format"] == "rfc3164"
                && !flags.iter().any(|f| f == "LP_EXPECT_HOSTNAME")
            {
                opts.expect_hostname = false;
            }
        }
        if let Some(re) = o["bad_hostname_re"].as_str() {
            opts.bad_hostname =
                Some(BadHostname::new(re).expect("vector's bad_hostname_re compiles"));
        }
    } else if id.starts_with("syslogloose") {
        opts.received = Utc.with_ymd_and_hms(2020, 1, 15, 0, 0, 0).unwrap();
        // The test passes an explicit zone for zone-less stamps.
        let ts = case["expect"]["timestamp"].as_str().unwrap_or_default();
        if ts.ends_with("+01:00") {
            opts.tz = Tz::Etc__GMTMinus1;
        } else if ts.ends_with("+05:00") {
            opts.tz = Tz::Etc__GMTMinus5;
        }
    }
    opts
}

fn check_field(case: &Value, m: &SyslogMessage<'_>, key: &str, want: &Value) -> Result<(), String> {
    let id = case["id"].as_str().unwrap_or_default();
    let got: Option<String> = match key {
        "facility" => m.facility.map(|v| v.to_string()),
        "severity" => m.severity.map(|v| v.to_string()),
        "hostname" => m.hostname.as_deref().map(str::to_owned),
        "appname" => m.app_name.as_deref().map(str::to_owned),
        "procid" => m.procid.as_deref().map(str::to_owned),
        "msgid" => m.msgid.as_deref().map(str::to_owned),
        "msg" => Some(m.msg.to_string()).filter(|s| !s.is_empty()),
        "timestamp" => return check_timestamp(m, want),
        "structured_data" => return check_sd(&m.structured_data, want),
        _ => return Ok(()),
    };
    let mut want_s = expected_str(want);
    if want_s.as_deref() == Some("<receiver-hostname>") {
        return Ok(());
    }
    if key == "msg"
        && id.starts_with("rsyslog")
        && m.protocol == Protocol::Rfc3164
        && !m.msg.starts_with(' ')
    {
        // rsyslog keeps the space after the TAG in %msg%.
        want_s = want_s
            .map(|s| s.strip_prefix(' ').map(str::to_owned).unwrap_or(s))
            .filter(|s| !s.is_empty());
    }
    if got == want_s {
        Ok(())
    } else {
        Err(format!("{key}: got {got:?}, want {want_s:?}"))
    }
}

fn check_timestamp(m: &SyslogMessage<'_>, want: &Value) -> Result<(), String> {
    let got = m.timestamp;
    let Some(w) = want.as_str() else {
        return if got.is_none() {
            Ok(())
        } else {
            Err(format!("timestamp: got {got:?}, want null"))
        };
    };
    let Some(t) = got else {
        return Err(format!("timestamp: got null, want {w}"));
    };
    let ok = if w.len() == 15 && w.as_bytes().get(3) == Some(&b' ') {
        t.format("%b %e %H:%M:%S").to_string() == w
    } else if w.len() == 19 {
        t.format("%Y-%m-%dT%H:%M:%S").to_string() == w
    } else {
        DateTime::parse_from_rfc3339(w)
            .map(|e| e == t && e.offset() == t.offset())
            .unwrap_or(false)
    };
    if ok {
        Ok(())
    } else {
        Err(format!("timestamp: got {}, want {w}", t.to_rfc3339()))
    }
}

fn check_sd(sd: &[super::message::SdElement<'_>], want: &Value) -> Result<(), String> {
    let Some(w) = want.as_object() else {
        return if sd.is_empty() {
            Ok(())
        } else {
            Err(format!("structured_data: got {sd:?}, want null"))
        };
    };
    for (id, params) in w {
        let Some(e) = sd.iter().find(|e| e.id == id.as_str()) else {
            return Err(format!("structured_data: missing {id}"));
        };
        for (name, value) in params.as_object().into_iter().flatten() {
            let got = e.params.iter().find(|p| p.name == name.as_str());
            if got.map(|p| p.value.as_ref()) != value.as_str() {
                return Err(format!(
                    "structured_data {id}.{name}: got {got:?}, want {value}"
                ));
            }
        }
    }
    Ok(())
}

fn check_case(case: &Value) -> Result<(), String> {
    let raw = raw_bytes(case);
    let format = case["format"].as_str().unwrap_or_default();
    let expect = &case["expect"];
    if format == "rfc5424-structured-data-fragment" {
        if raw == b"-" {
            return Ok(());
        }
        let (sd, _) = parse_sd(&raw, 0, false).map_err(|e| e.to_string())?;
        return match expect.get("structured_data") {
            Some(w) => check_sd(&sd, w),
            None => Ok(()),
        };
    }
    let opts = options_for(case);
    let m = parse(&raw, &opts).map_err(|e| format!("rejected: {e}"))?;
    let keys: Vec<String> = match case.get("checked_fields").and_then(Value::as_array) {
        Some(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        None => expect
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default(),
    };
    let mut errors = Vec::new();
    for k in &keys {
        if let Some(want) = expect.get(k) {
            if let Err(e) = check_field(case, &m, k, want) {
                errors.push(e);
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

fn load() -> Option<Vec<Value>> {
    let dir = corpus_dir()?;
    let text = std::fs::read_to_string(dir.join("rfc_vectors/vectors.jsonl")).ok()?;
    Some(
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("vectors.jsonl line is JSON"))
            .collect(),
    )
}

#[test]
fn lenient_conformance() {
    let Some(cases) = load() else {
        eprintln!("corpus not found; set ZONEGUARD_CORPUS");
        return;
    };
    let mut valid = 0;
    let mut failed = Vec::new();
    for case in cases.iter().filter(|c| c["valid"] == true) {
        valid += 1;
        if let Err(e) = check_case(case) {
            failed.push((case["id"].as_str().unwrap_or_default().to_owned(), e));
        }
    }
    for (id, e) in &failed {
        eprintln!("{id}: {e}");
    }
    let unexpected: Vec<_> = failed
        .iter()
        .filter(|(id, _)| !KNOWN_DIFFERENCES.contains(&id.as_str()))
        .collect();
    let matched = valid - failed.len();
    let raw_rate = matched as f64 / valid as f64;
    // A vector that contradicts its own input is not a valid case.
    let counted = valid - BROKEN_VECTORS.len();
    let rate = matched as f64 / counted as f64;
    eprintln!(
        "lenient: {matched} of {valid} valid cases match ({:.1} %); {matched} of {counted} \
         without the {} broken vector(s) ({:.1} %)",
        raw_rate * 100.0,
        BROKEN_VECTORS.len(),
        rate * 100.0,
    );
    assert!(
        unexpected.is_empty(),
        "unlisted differences: {unexpected:?}"
    );
    let stale: Vec<_> = KNOWN_DIFFERENCES
        .iter()
        .filter(|id| !failed.iter().any(|(f, _)| f == *id))
        .collect();
    assert!(
        stale.is_empty(),
        "listed differences that now match: {stale:?}"
    );
    // The option-dependent vectors match with their options and not
    // without: the options are what makes them pass.
    for id in OPTION_DEPENDENT {
        assert!(
            !failed.iter().any(|(f, _)| f == id),
            "{id} fails with its options"
        );
        let case = cases
            .iter()
            .find(|c| c["id"] == *id)
            .expect("option-dependent vector in the corpus");
        let defaults = ParseOptions {
            expect_hostname: true,
            bad_hostname: None,
            ..options_for(case)
        };
        let raw = raw_bytes(case);
        let m = parse(&raw, &defaults).expect("lenient parse");
        assert!(
            m.hostname.is_some(),
            "{id} takes no host name even with default options"
        );
    }
    // Every remaining mismatch is a listed, deliberate difference; the
    // vectors contradict each other (docs/conformance.md, "Syslog RFC
    // vectors").
    assert!(matched >= 189, "conformance {matched} / {counted}");
}

#[test]
fn strict_rejects_every_invalid_case_and_nothing_panics() {
    let Some(cases) = load() else {
        eprintln!("corpus not found; set ZONEGUARD_CORPUS");
        return;
    };
    let mut accepted = Vec::new();
    for case in &cases {
        let raw = raw_bytes(case);
        let fragment = case["format"] == "rfc5424-structured-data-fragment";
        let strict_ok = if fragment {
            raw.first() == Some(&b'[') && parse_sd(&raw, 0, true).is_ok_and(|(_, n)| n == raw.len())
                || raw == b"-"
        } else {
            let opts = ParseOptions {
                strict: true,
                ..options_for(case)
            };
            parse(&raw, &opts).is_ok()
        };
        // Lenient mode must not panic either.
        let _ = parse(&raw, &options_for(case));
        if case["valid"] == false && strict_ok {
            accepted.push(case["id"].as_str().unwrap_or_default().to_owned());
        }
    }
    assert!(
        accepted.is_empty(),
        "strict accepted invalid cases: {accepted:?}"
    );
}

/// Framing cases whose expectation we deliberately do not follow.
pub(crate) const FRAMING_DIFFERENCES: &[&str] = &[];

#[test]
fn framing_vectors_split_as_expected() {
    use super::framing::{FrameDecoder, StreamEnd};
    let Some(dir) = corpus_dir() else {
        eprintln!("corpus not found; set ZONEGUARD_CORPUS");
        return;
    };
    let text =
        std::fs::read_to_string(dir.join("rfc_vectors/framing.jsonl")).expect("framing.jsonl");
    let mut checked = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).expect("framing case is JSON");
        let id = case["id"].as_str().unwrap_or_default();
        let raw = raw_bytes(&case);
        let max = case["max_message_length"].as_u64().unwrap_or(8192) as usize;
        let mut dec = FrameDecoder::new(max);
        dec.push(&raw);
        dec.finish();
        let strict = ParseOptions {
            strict: true,
            ..ParseOptions::default()
        };
        let mut got: Vec<(Option<String>, bool)> = Vec::new();
        while let Some(r) = dec.next_frame() {
            got.push(match r {
                Ok(f) => match parse(f.data, &strict) {
                    Ok(m) => (Some(m.msg.to_string()).filter(|s| !s.is_empty()), false),
                    Err(_) => (None, true),
                },
                Err(_) => (None, true),
            });
        }
        // go-syslog reports an empty stream as an error ("found EOF,
        // expecting a MSGLEN"); the decoder says so in its end-of-stream
        // diagnostic, which the daemon counts as `empty_connections`
        // (a health check), not as a framing error.
        if dec.end() == Some(StreamEnd::Empty) {
            got.push((None, true));
        }
        let want: Vec<(Option<String>, bool)> = case["expect_results_best_effort"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let err = !r["error"].is_null();
                let msg = if err {
                    None
                } else {
                    expected_str(&r["message"]["msg"])
                };
                (msg, err)
            })
            .collect();
        if FRAMING_DIFFERENCES.contains(&id) {
            assert_ne!(got, want, "{id} now matches; drop it from the list");
            continue;
        }
        assert_eq!(got, want, "{id}");
        checked += 1;
    }
    assert!(checked >= 16, "only {checked} framing cases checked");
}
