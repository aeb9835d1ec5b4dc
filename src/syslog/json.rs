//! The JSON rendering of a parse (CONTRACT.md, "syslog parse output") and
//! the `zoneguard syslog parse [--strict] [--json-input]` command.

use std::io::{BufRead, Write};

use chrono::{SecondsFormat, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use super::message::{ParseError, ParseOptions, SyslogMessage};
use super::parser::parse;

fn opt(v: Option<&str>) -> Value {
    v.map_or(Value::Null, |s| Value::String(s.to_owned()))
}

/// Render a parsed message as the contract's JSON object: `valid`,
/// `protocol`, `facility`, `severity`, `timestamp` (RFC 3339 with offset),
/// `hostname`, `app_name`, `procid`, `msgid`, `structured_data`
/// (`{id: {param: value}}`) and `msg`; absent fields (and an empty MSG or
/// STRUCTURED-DATA) are `null`.
pub fn to_contract_json(msg: &SyslogMessage<'_>) -> Value {
    let mut o = Map::with_capacity(12);
    o.insert("valid".into(), Value::Bool(true));
    o.insert("protocol".into(), Value::from(msg.protocol.as_str()));
    o.insert(
        "facility".into(),
        msg.facility.map_or(Value::Null, Value::from),
    );
    o.insert(
        "severity".into(),
        msg.severity.map_or(Value::Null, Value::from),
    );
    o.insert(
        "timestamp".into(),
        msg.timestamp.map_or(Value::Null, |t| {
            Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        }),
    );
    o.insert("hostname".into(), opt(msg.hostname.as_deref()));
    o.insert("app_name".into(), opt(msg.app_name.as_deref()));
    o.insert("procid".into(), opt(msg.procid.as_deref()));
    o.insert("msgid".into(), opt(msg.msgid.as_deref()));
    let sd = if msg.structured_data.is_empty() {
        Value::Null
    } else {
        let mut m = Map::new();
        for e in &msg.structured_data {
            let params = e
                .params
                .iter()
                .map(|p| (p.name.to_string(), Value::String(p.value.to_string())))
                .collect::<Map<_, _>>();
            m.insert(e.id.to_string(), Value::Object(params));
        }
        Value::Object(m)
    };
    o.insert("structured_data".into(), sd);
    o.insert(
        "msg".into(),
        if msg.msg.is_empty() {
            Value::Null
        } else {
            Value::String(msg.msg.to_string())
        },
    );
    Value::Object(o)
}

/// `{"valid": false, "error": "..."}` for a line that did not parse.
pub fn error_json(e: &ParseError) -> Value {
    let mut o = Map::with_capacity(2);
    o.insert("valid".into(), Value::Bool(false));
    o.insert("error".into(), Value::String(e.to_string()));
    Value::Object(o)
}

/// `zoneguard syslog parse [--strict] [--json-input]`: one JSON object per
/// input line. With `json_input` each line is a JSON string holding the
/// message exactly (control characters and all); a line that is not a JSON
/// string gives `{"valid": false, "error": ...}`. An unparseable line never
/// stops the stream. Returns the number of lines processed; only I/O errors
/// end the command early.
pub fn run_parse_command(
    input: impl BufRead,
    out: impl Write,
    strict: bool,
    json_input: bool,
    tz: Tz,
) -> std::io::Result<u64> {
    let opts = ParseOptions {
        strict,
        tz,
        ..ParseOptions::default()
    };
    run_parse_command_with(input, out, json_input, &opts)
}

/// [`run_parse_command`] with every parse option given (`strict`, `tz`,
/// `expect_hostname`, `bad_hostname`, ...: `zoneguard syslog parse
/// --no-hostname --bad-hostname RE`); the receive time is taken per line.
pub fn run_parse_command_with(
    mut input: impl BufRead,
    mut out: impl Write,
    json_input: bool,
    base: &ParseOptions,
) -> std::io::Result<u64> {
    let mut buf = Vec::with_capacity(4096);
    let mut n = 0u64;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        n += 1;
        let opts = ParseOptions {
            received: Utc::now(),
            ..base.clone()
        };
        let value = if json_input {
            match serde_json::from_slice::<String>(&buf) {
                Ok(s) => render(s.as_bytes(), &opts),
                Err(e) => {
                    let mut o = Map::new();
                    o.insert("valid".into(), Value::Bool(false));
                    o.insert(
                        "error".into(),
                        Value::String(format!("input line {n}: not a JSON string: {e}")),
                    );
                    Value::Object(o)
                }
            }
        } else {
            render(&buf, &opts)
        };
        serde_json::to_writer(&mut out, &value)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(n)
}

fn render(line: &[u8], opts: &ParseOptions) -> Value {
    match parse(line, opts) {
        Ok(m) => to_contract_json(&m),
        Err(e) => error_json(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_example() {
        let line = br#"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 [exampleSDID@32473 iut="3"] hi"#;
        let opts = ParseOptions::default();
        let v = to_contract_json(&parse(line, &opts).unwrap());
        assert_eq!(
            v,
            serde_json::json!({"valid": true, "protocol": "rfc5424", "facility": 4, "severity": 2,
                "timestamp": "2003-10-11T22:14:15.003Z", "hostname": "mymachine.example.com",
                "app_name": "su", "procid": null, "msgid": "ID47",
                "structured_data": {"exampleSDID@32473": {"iut": "3"}}, "msg": "hi"})
        );
    }

    #[test]
    fn command_streams_past_bad_lines() {
        let input =
            b"<1>1 - - - - - -\n\n<1>0 - - - - - -\r\n\"<13>1 - - - - - - a\\nb\"\n".to_vec();
        let mut out = Vec::new();
        let n = run_parse_command(&input[..], &mut out, true, false, Tz::UTC).unwrap();
        assert_eq!(n, 4);
        let lines: Vec<Value> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0]["valid"], true);
        assert_eq!(lines[1]["valid"], false);
        assert_eq!(lines[2]["valid"], false);
        assert_eq!(lines[3]["valid"], false);

        let input = b"\"<13>1 - - - - - - a\\nb\"\nnot json\n".to_vec();
        let mut out = Vec::new();
        run_parse_command(&input[..], &mut out, false, true, Tz::UTC).unwrap();
        let lines: Vec<Value> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines[0]["msg"], "a\nb");
        assert_eq!(lines[1]["valid"], false);
    }
}
