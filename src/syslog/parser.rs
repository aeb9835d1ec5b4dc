//! The syslog line parser: RFC 5424 (strict or lenient) and RFC 3164 with
//! real-world deviations. Zero-copy: every field borrows from the line
//! unless it had to be repaired.
//!
//! Lenient mode (the daemon's) never rejects a non-empty line: what is not
//! RFC 5424 is read as RFC 3164, and what has no recognisable header becomes
//! the message text, as rsyslog and syslog-ng do. Strict mode accepts only
//! RFC 5424 exactly as the ABNF of RFC 5424 §6 says.

use std::borrow::Cow;

use nom::bytes::complete::{tag, take_while_m_n};
use nom::IResult;

use super::message::{ParseError, ParseOptions, Protocol, SdElement, SdParam, SyslogMessage};
use super::timestamp::{self, Stamp};

/// Facility and severity of RFC 3164 §4.3.3 for a message without PRI
/// (user.notice, PRI 13).
const DEFAULT_PRI: u8 = 13;
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parse one syslog message (without its transport framing).
pub fn parse<'a>(line: &'a [u8], opts: &ParseOptions) -> Result<SyslogMessage<'a>, ParseError> {
    if opts.strict {
        return parse_strict(line);
    }
    let mut end = line.len();
    while end > 0 && matches!(line.get(end - 1), Some(b'\n' | b'\r' | b'\0')) {
        end -= 1;
    }
    let line = line.get(..end).unwrap_or_default();
    if line.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ParseError::Empty);
    }
    let (pri, pos) = match pri_digits(line) {
        Ok((rest, v)) if v <= 191 => (Some(v as u8), line.len() - rest.len()),
        _ => (None, 0),
    };
    let mut msg = match lenient_5424(line, pos, opts) {
        Some(m) => m,
        None => parse_3164(line, pos, pri.is_some(), opts),
    };
    // RFC 3164 §4.3.3: a message without PRI is user.notice. A headerless
    // RFC 5424-like line keeps no PRI.
    let pri = match (pri, msg.protocol) {
        (Some(p), _) => Some(p),
        (None, Protocol::Rfc3164) => Some(DEFAULT_PRI),
        (None, Protocol::Rfc5424) => None,
    };
    msg.facility = pri.map(|p| p >> 3);
    msg.severity = pri.map(|p| p & 7);
    if msg.hostname.is_none() {
        msg.hostname = opts.sender.map(|ip| Cow::Owned(ip.to_string()));
    }
    Ok(msg)
}

/// `<` 1*3DIGIT `>` (the value is range-checked by the caller).
fn pri_digits(input: &[u8]) -> IResult<&[u8], u16> {
    let (rest, _) = tag(&b"<"[..])(input)?;
    let (rest, d) = take_while_m_n(1, 3, |b: u8| b.is_ascii_digit())(rest)?;
    let (rest, _) = tag(&b">"[..])(rest)?;
    let v = d.iter().fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'));
    Ok((rest, v))
}

fn text(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(b)
}

fn opt_text(b: &[u8]) -> Option<Cow<'_, str>> {
    if b.is_empty() || b == b"-" {
        None
    } else {
        Some(text(b))
    }
}

/// The token at `pos` up to the next SP (or the end) and the position after it.
fn token(line: &[u8], pos: usize) -> (&[u8], usize) {
    let rest = line.get(pos..).unwrap_or_default();
    let n = memchr::memchr(b' ', rest).unwrap_or(rest.len());
    (rest.get(..n).unwrap_or_default(), pos + n)
}

fn empty_message<'a>(protocol: Protocol) -> SyslogMessage<'a> {
    SyslogMessage {
        protocol,
        facility: None,
        severity: None,
        timestamp: None,
        hostname: None,
        app_name: None,
        procid: None,
        msgid: None,
        structured_data: Vec::new(),
        msg: Cow::Borrowed(""),
    }
}

// ---------------------------------------------------------------- strict

fn parse_strict(line: &[u8]) -> Result<SyslogMessage<'_>, ParseError> {
    if line.is_empty() {
        return Err(ParseError::Empty);
    }
    if line.first() != Some(&b'<') {
        return Err(ParseError::Pri {
            offset: 0,
            reason: "expected '<'",
        });
    }
    let mut pos = 1;
    let start = pos;
    while line.get(pos).is_some_and(u8::is_ascii_digit) && pos - start < 3 {
        pos += 1;
    }
    let d = line.get(start..pos).unwrap_or_default();
    let bad_pri = |offset| ParseError::Pri {
        offset,
        reason: "expected a value 0-191 without leading zeros, then '>'",
    };
    if d.is_empty() {
        return Err(bad_pri(start));
    }
    if d.len() > 1 && d.first() == Some(&b'0') {
        return Err(bad_pri(start + 1));
    }
    let pri = d.iter().fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'));
    if pri > 191 || line.get(pos) != Some(&b'>') {
        return Err(bad_pri(pos));
    }
    pos += 1;
    // VERSION = NONZERO-DIGIT 0*2DIGIT
    let vstart = pos;
    while line.get(pos).is_some_and(u8::is_ascii_digit) && pos - vstart < 3 {
        pos += 1;
    }
    if pos == vstart || line.get(vstart) == Some(&b'0') {
        return Err(ParseError::Version { offset: vstart });
    }
    if line.get(pos) != Some(&b' ') {
        return Err(ParseError::Version { offset: pos });
    }
    pos += 1;
    // TIMESTAMP
    let timestamp = if line.get(pos) == Some(&b'-') {
        pos += 1;
        None
    } else {
        let rest = line.get(pos..).unwrap_or_default();
        let (stamp, n) =
            timestamp::parse_rfc3339(rest, true).map_err(|(at, reason)| ParseError::Timestamp {
                offset: pos + at,
                reason,
            })?;
        let t =
            timestamp::resolve_stamp(stamp, chrono_tz::Tz::UTC).ok_or(ParseError::Timestamp {
                offset: pos,
                reason: "not representable",
            })?;
        pos += n;
        Some(t)
    };
    let mut fields: [Option<Cow<'_, str>>; 4] = [None, None, None, None];
    for (i, (name, max)) in [
        ("HOSTNAME", 255),
        ("APP-NAME", 48),
        ("PROCID", 128),
        ("MSGID", 32),
    ]
    .into_iter()
    .enumerate()
    {
        if line.get(pos) != Some(&b' ') {
            return Err(ParseError::Header {
                field: name,
                offset: pos,
                max,
            });
        }
        pos += 1;
        let (tok, end) = token(line, pos);
        let bad = tok
            .iter()
            .position(|b| !(33..=126).contains(b))
            .map(|p| pos + p);
        if tok.is_empty() || tok.len() > max || bad.is_some() {
            return Err(ParseError::Header {
                field: name,
                offset: bad.unwrap_or(pos + tok.len().min(max)),
                max,
            });
        }
        if let Some(slot) = fields.get_mut(i) {
            *slot = opt_text(tok);
        }
        pos = end;
    }
    if line.get(pos) != Some(&b' ') {
        return Err(ParseError::StructuredData {
            offset: pos,
            reason: "expected SP before STRUCTURED-DATA",
        });
    }
    pos += 1;
    let structured_data = match line.get(pos) {
        Some(b'-') => {
            pos += 1;
            Vec::new()
        }
        Some(b'[') => {
            let (sd, n) = parse_sd(line.get(pos..).unwrap_or_default(), pos, true)?;
            pos += n;
            sd
        }
        _ => {
            return Err(ParseError::StructuredData {
                offset: pos,
                reason: "expected NILVALUE or '['",
            })
        }
    };
    let msg = match line.get(pos) {
        None => Cow::Borrowed(""),
        Some(b' ') => {
            let body = line.get(pos + 1..).unwrap_or_default();
            if body.starts_with(BOM) {
                match std::str::from_utf8(body) {
                    Ok(s) => Cow::Borrowed(s),
                    Err(e) => {
                        return Err(ParseError::Msg {
                            offset: pos + 1 + e.valid_up_to(),
                            reason: "MSG starts with a BOM but is not valid UTF-8",
                        })
                    }
                }
            } else {
                text(body)
            }
        }
        Some(_) => {
            return Err(ParseError::Msg {
                offset: pos,
                reason: "expected SP or end after STRUCTURED-DATA",
            })
        }
    };
    let [hostname, app_name, procid, msgid] = fields;
    Ok(SyslogMessage {
        protocol: Protocol::Rfc5424,
        facility: Some((pri >> 3) as u8),
        severity: Some((pri & 7) as u8),
        timestamp,
        hostname,
        app_name,
        procid,
        msgid,
        structured_data,
        msg,
    })
}

// ------------------------------------------------------ structured data

fn sd_name_byte(b: u8) -> bool {
    (33..=126).contains(&b) && !matches!(b, b'=' | b']' | b'"')
}

/// Parse one or more SD-ELEMENTs at the start of `input` (`input[0]` is
/// `[`). `base` is the offset of `input` in the line, for errors. Returns
/// the elements and the bytes consumed.
pub(crate) fn parse_sd(
    input: &[u8],
    base: usize,
    strict: bool,
) -> Result<(Vec<SdElement<'_>>, usize), ParseError> {
    let err = |offset: usize, reason| ParseError::StructuredData {
        offset: base + offset,
        reason,
    };
    let name_max = if strict { 32 } else { 255 };
    let mut out: Vec<SdElement<'_>> = Vec::new();
    let mut pos = 0;
    while input.get(pos) == Some(&b'[') {
        pos += 1;
        let id_start = pos;
        while input.get(pos).is_some_and(|b| sd_name_byte(*b)) {
            pos += 1;
        }
        let id = input.get(id_start..pos).unwrap_or_default();
        if id.is_empty() || id.len() > name_max {
            return Err(err(
                id_start,
                "expected an SD-ID of 1-32 printable characters",
            ));
        }
        let id = text(id);
        if strict && out.iter().any(|e| e.id == id) {
            return Err(err(id_start, "duplicate SD-ID"));
        }
        let mut params = Vec::new();
        loop {
            match input.get(pos) {
                Some(b']') => {
                    pos += 1;
                    break;
                }
                Some(b' ') => {
                    pos += 1;
                    if !strict {
                        while input.get(pos) == Some(&b' ') {
                            pos += 1;
                        }
                        if input.get(pos) == Some(&b']') {
                            continue;
                        }
                    }
                }
                None => return Err(err(pos, "unterminated SD-ELEMENT")),
                _ => return Err(err(pos, "expected SP or ']' in SD-ELEMENT")),
            }
            let name_start = pos;
            while input.get(pos).is_some_and(|b| sd_name_byte(*b)) {
                pos += 1;
            }
            let name = input.get(name_start..pos).unwrap_or_default();
            if name.is_empty() || name.len() > name_max {
                return Err(err(
                    name_start,
                    "expected a PARAM-NAME of 1-32 printable characters",
                ));
            }
            if input.get(pos) != Some(&b'=') {
                return Err(err(pos, "expected '=' after PARAM-NAME"));
            }
            pos += 1;
            if !strict {
                while input.get(pos) == Some(&b' ') {
                    pos += 1;
                }
            }
            let value = if input.get(pos) == Some(&b'"') {
                pos += 1;
                let (v, n) = sd_value(input.get(pos..).unwrap_or_default(), strict)
                    .map_err(|(at, reason)| err(pos + at, reason))?;
                pos += n;
                v
            } else if strict {
                return Err(err(pos, "expected '\"' before PARAM-VALUE"));
            } else {
                // syslog-ng and VMware send unquoted values.
                let vstart = pos;
                while input.get(pos).is_some_and(|b| !matches!(b, b' ' | b']')) {
                    pos += 1;
                }
                if pos == vstart {
                    return Err(err(pos, "empty unquoted PARAM-VALUE"));
                }
                text(input.get(vstart..pos).unwrap_or_default())
            };
            params.push(SdParam {
                name: text(name),
                value,
            });
        }
        out.push(SdElement { id, params });
    }
    Ok((out, pos))
}

/// A PARAM-VALUE after its opening quote: returns the unescaped value and
/// the bytes consumed including the closing quote.
fn sd_value(input: &[u8], strict: bool) -> Result<(Cow<'_, str>, usize), (usize, &'static str)> {
    let mut pos = 0;
    let mut has_escape = false;
    loop {
        match input.get(pos) {
            None => return Err((pos, "unterminated PARAM-VALUE")),
            Some(b'"') => break,
            Some(b'\\') => match input.get(pos + 1) {
                Some(b'"' | b'\\' | b']') => {
                    has_escape = true;
                    pos += 2;
                }
                _ if strict => {
                    return Err((pos, "'\\' must escape '\"', '\\' or ']'"));
                }
                _ => pos += 1,
            },
            Some(b']') if strict => return Err((pos, "']' must be escaped in PARAM-VALUE")),
            Some(_) => pos += 1,
        }
    }
    let raw = input.get(..pos).unwrap_or_default();
    let value = if strict {
        match std::str::from_utf8(raw) {
            Ok(s) => Cow::Borrowed(s),
            Err(e) => return Err((e.valid_up_to(), "PARAM-VALUE is not UTF-8")),
        }
    } else {
        text(raw)
    };
    let value = if has_escape {
        let mut s = String::with_capacity(value.len());
        let mut chars = value.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(&n @ ('"' | '\\' | ']')) = chars.peek() {
                    s.push(n);
                    chars.next();
                    continue;
                }
            }
            s.push(c);
        }
        Cow::Owned(s)
    } else {
        value
    };
    Ok((value, pos + 1))
}

// ------------------------------------------------------- lenient 5424

/// Lenient RFC 5424 at `pos` (after an optional PRI): `VERSION SP
/// (TIMESTAMP|-) SP ...`. `None` when the line is not RFC 5424 at all.
fn lenient_5424<'a>(
    line: &'a [u8],
    mut pos: usize,
    opts: &ParseOptions,
) -> Option<SyslogMessage<'a>> {
    let vstart = pos;
    while line.get(pos).is_some_and(u8::is_ascii_digit) && pos - vstart < 3 {
        pos += 1;
    }
    if pos == vstart || line.get(pos) != Some(&b' ') {
        return None;
    }
    pos += 1;
    let mut m = empty_message(Protocol::Rfc5424);
    if line.get(pos) == Some(&b'-') && matches!(line.get(pos + 1), None | Some(b' ')) {
        pos += 1;
    } else {
        let (stamp, n) = timestamp::parse_rfc3339(line.get(pos..)?, false).ok()?;
        if !matches!(line.get(pos + n), None | Some(b' ')) {
            return None;
        }
        m.timestamp = resolve(stamp, opts);
        pos += n;
    }
    for (i, max) in [255usize, 48, 128, 32].into_iter().enumerate() {
        if line.get(pos) != Some(&b' ') {
            return Some(m);
        }
        let (tok, end) = token(line, pos + 1);
        // Over-long fields are cut to the RFC 5424 maximum, as syslog-ng does.
        let v = opt_text(tok.get(..max).unwrap_or(tok));
        match i {
            0 => m.hostname = v,
            1 => m.app_name = v,
            2 => m.procid = v,
            _ => m.msgid = v,
        }
        pos = end;
    }
    if line.get(pos) != Some(&b' ') {
        return Some(m);
    }
    pos += 1;
    match line.get(pos) {
        Some(b'-') if matches!(line.get(pos + 1), None | Some(b' ')) => pos += 1,
        Some(b'[') => {
            let rest = line.get(pos..).unwrap_or_default();
            match parse_sd(rest, pos, false) {
                Ok((sd, n)) => {
                    m.structured_data = sd;
                    pos += n;
                }
                Err(_) => {
                    // Skip the malformed element, as syslog_loose does.
                    match memchr::memchr(b']', rest) {
                        Some(close) => pos += close + 1,
                        None => {
                            m.msg = text(rest);
                            return Some(m);
                        }
                    }
                }
            }
        }
        _ => {
            // No STRUCTURED-DATA field at all: the rest is the message.
            m.msg = text(line.get(pos..).unwrap_or_default());
            return Some(m);
        }
    }
    let body = line.get(pos..).unwrap_or_default();
    let body = body.strip_prefix(b" ").unwrap_or(body);
    m.msg = text(body);
    Some(m)
}

fn resolve(stamp: Stamp, opts: &ParseOptions) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    timestamp::resolve_stamp(stamp, opts.tz)
}

// ------------------------------------------------------------ RFC 3164

/// Is this token a host name? Program tags (`sshd[1]:`, `su:`), Cisco
/// message ids (`%ASA-6-...`) and key=value pairs are not.
fn is_hostname(tok: &[u8]) -> bool {
    let Some(&first) = tok.first() else {
        return false;
    };
    // Letters, digits, '.', '-', '_', ':' (IPv6) and non-ASCII (IDN written
    // in UTF-8); '%' starts a Cisco message id, not a host.
    let host_byte =
        |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':') || *b >= 0x80;
    if first == b'%' || !tok.iter().all(host_byte) {
        return false;
    }
    if tok.last() == Some(&b':') {
        // `0002::` is an IPv6 address, `prg0:` a tag.
        return std::str::from_utf8(tok)
            .ok()
            .and_then(|s| s.parse::<std::net::Ipv6Addr>().ok())
            .is_some();
    }
    true
}

/// Does the configured `bad_hostname` pattern reject this word? (No
/// pattern: no; the common case costs one branch.)
fn bad_hostname(opts: &ParseOptions, tok: &[u8]) -> bool {
    match &opts.bad_hostname {
        None => false,
        Some(re) => re.is_match(&text(tok)),
    }
}

fn skip_spaces(line: &[u8], mut pos: usize) -> usize {
    while line.get(pos) == Some(&b' ') {
        pos += 1;
    }
    pos
}

fn parse_3164<'a>(
    line: &'a [u8],
    start: usize,
    had_pri: bool,
    opts: &ParseOptions,
) -> SyslogMessage<'a> {
    let (mut m, synced) = parse_3164_fields(line, start, had_pri, opts);
    if let Some(v) = synced {
        m.structured_data.push(SdElement {
            id: Cow::Borrowed("timeQuality"),
            params: vec![SdParam {
                name: Cow::Borrowed("isSynced"),
                value: Cow::Borrowed(v),
            }],
        });
    }
    m
}

/// `isSynced` for a Cisco clock marker before the time stamp.
fn sync_marker(b: Option<&u8>) -> Option<&'static str> {
    match b {
        Some(b'*') => Some("0"),
        Some(b'.') => Some("1"),
        _ => None,
    }
}

fn parse_3164_fields<'a>(
    line: &'a [u8],
    start: usize,
    had_pri: bool,
    opts: &ParseOptions,
) -> (SyslogMessage<'a>, Option<&'static str>) {
    let mut m = empty_message(Protocol::Rfc3164);
    let mut pos = skip_spaces(line, start);
    // Cisco IOS sequence number: `<189>123: Mar  1 ...` or `<189>123: *Mar ...`.
    let digits_end = {
        let mut p = pos;
        while line.get(p).is_some_and(u8::is_ascii_digit) {
            p += 1;
        }
        p
    };
    if digits_end > pos
        && line.get(digits_end) == Some(&b':')
        && line.get(digits_end + 1) == Some(&b' ')
    {
        let after = skip_spaces(line, digits_end + 1);
        let after = if matches!(line.get(after), Some(b'*' | b'.')) {
            after + 1
        } else {
            after
        };
        if stamp_at(line, after, opts).is_some() {
            pos = after;
        }
    }
    // Cisco marks the clock state with a leading '*' (not synchronised) or
    // '.' (synchronised); kept as RFC 5424 `timeQuality isSynced`, as
    // syslog-ng does.
    let mut synced: Option<&'static str> = None;
    if pos > start && matches!(line.get(pos - 1), Some(b'*' | b'.')) {
        // The sequence-number branch above stepped over the marker.
        synced = sync_marker(line.get(pos - 1));
    }
    if matches!(line.get(pos), Some(b'*' | b'.')) && stamp_at(line, pos + 1, opts).is_some() {
        synced = sync_marker(line.get(pos));
        pos += 1;
    }
    let stamp = stamp_at(line, pos, opts);
    let after_header;
    if let Some((t, n)) = stamp {
        m.timestamp = t;
        pos = skip_spaces(line, pos + n);
        let (tok, end) = token(line, pos);
        if opts.expect_hostname && is_hostname(tok) && !bad_hostname(opts, tok) {
            m.hostname = Some(text(tok));
            pos = end;
            if line.get(pos) == Some(&b' ') {
                pos += 1;
            }
            if line.get(pos) == Some(&b' ') {
                // Two spaces after the host name: no tag.
                m.msg = text(line.get(skip_spaces(line, pos)..).unwrap_or_default());
                return (m, synced);
            }
        }
        after_header = true;
    } else {
        after_header = false;
    }
    // TAG: program up to SP, ':' or '['; `[pid]`; optional ':'.
    let rest = line.get(pos..).unwrap_or_default();
    let n = rest
        .iter()
        .position(|b| matches!(b, b' ' | b':' | b'['))
        .unwrap_or(rest.len());
    let prog = rest.get(..n).unwrap_or_default();
    let mut p = pos + n;
    let mut pid: Option<&[u8]> = None;
    if line.get(p) == Some(&b'[') {
        let r = line.get(p + 1..).unwrap_or_default();
        if let Some(close) = memchr::memchr(b']', r) {
            let inner = r.get(..close).unwrap_or_default();
            if !inner.contains(&b' ') {
                pid = Some(inner);
                p += close + 2;
            }
        }
    }
    // A `prog[pid]` tag must name a program: at least one letter and no
    // punctuation outside `-_./()%@` (syslog-ng's program check).
    if pid.is_some() && !is_program(prog) {
        let body = line.get(pos..).unwrap_or_default();
        m.msg = text(body);
        return (m, synced);
    }
    let colon = line.get(p) == Some(&b':');
    let tag_ok = !prog.is_empty()
        && !prog.contains(&b'=')
        && (colon || (after_header && matches!(line.get(p), None | Some(b' '))));
    if !tag_ok {
        let body = if after_header || had_pri {
            line.get(pos..).unwrap_or_default()
        } else {
            line
        };
        m.msg = text(body);
        return (m, synced);
    }
    m.app_name = Some(text(prog));
    m.procid = pid.and_then(opt_text);
    if colon {
        p += 1;
    }
    let mut body = line.get(skip_spaces(line, p)..).unwrap_or_default();
    // rsyslog and others put RFC 5424 structured data into BSD messages.
    if body.first() == Some(&b'[') {
        if let Ok((sd, n)) = parse_sd(body, 0, false) {
            if matches!(body.get(n), None | Some(b' ')) && sd.iter().all(|e| !e.params.is_empty()) {
                m.structured_data = sd;
                body = body.get(n..).unwrap_or_default();
                body = body.get(skip_spaces(body, 0)..).unwrap_or_default();
            }
        }
    }
    m.msg = text(body);
    (m, synced)
}

fn is_program(prog: &[u8]) -> bool {
    prog.iter().any(|b| b.is_ascii_alphabetic() || *b >= 0x80)
        && prog.iter().all(|b| {
            b.is_ascii_alphanumeric()
                || *b >= 0x80
                || matches!(b, b'-' | b'_' | b'.' | b'/' | b'(' | b')' | b'%' | b'@')
        })
}

type Resolved = Option<chrono::DateTime<chrono::FixedOffset>>;

/// A BSD or ISO time stamp at `pos`: the resolved time and its length.
fn stamp_at(line: &[u8], pos: usize, opts: &ParseOptions) -> Option<(Resolved, usize)> {
    let rest = line.get(pos..)?;
    if let Some((s, n)) = timestamp::parse_bsd(rest) {
        if matches!(rest.get(n), None | Some(b' ')) {
            return Some((timestamp::resolve_bsd(s, opts.tz, opts.received), n));
        }
    }
    if let Ok((s, mut n)) = timestamp::parse_rfc3339(rest, false) {
        if rest.get(n) == Some(&b':') {
            n += 1;
        }
        if matches!(rest.get(n), None | Some(b' ')) {
            return Some((resolve(s, opts), n));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use chrono_tz::Tz;

    fn opts(strict: bool) -> ParseOptions {
        ParseOptions {
            strict,
            tz: Tz::Asia__Shanghai,
            received: Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap(),
            sender: None,
            ..Default::default()
        }
    }

    #[test]
    fn rfc5424_example() {
        let line = b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\"] \xEF\xBB\xBF'su root' failed";
        for strict in [true, false] {
            let m = parse(line, &opts(strict)).unwrap();
            assert_eq!(m.protocol, Protocol::Rfc5424);
            assert_eq!((m.facility, m.severity), (Some(4), Some(2)));
            assert_eq!(m.hostname.as_deref(), Some("mymachine.example.com"));
            assert_eq!(m.app_name.as_deref(), Some("su"));
            assert_eq!(m.procid, None);
            assert_eq!(m.msgid.as_deref(), Some("ID47"));
            assert_eq!(m.structured_data.len(), 1);
            assert_eq!(m.structured_data[0].params[1].value, "Application");
            assert_eq!(m.msg, "\u{feff}'su root' failed");
            assert!(matches!(m.msg, Cow::Borrowed(_)));
            assert_eq!(
                m.timestamp.unwrap().to_rfc3339(),
                "2003-10-11T22:14:15.003+00:00"
            );
        }
    }

    #[test]
    fn sd_escapes() {
        let line = br#"<1>1 - - - - - [a i="\]\"\\" j="x\n"] m"#;
        let m = parse(line, &opts(false)).unwrap();
        assert_eq!(m.structured_data[0].params[0].value, "]\"\\");
        assert_eq!(m.structured_data[0].params[1].value, "x\\n");
        assert!(matches!(
            parse(line, &opts(true)),
            Err(ParseError::StructuredData { offset: 33, .. })
        ));
    }

    #[test]
    fn strict_rejects() {
        for bad in [
            &b""[..],
            b"<192>1 - - - - - -",
            b"<002>1 - - - - - -",
            b"<1>0 - - - - - -",
            b"<1>1 - - - - - X",
            b"<1>1 - - - - - [a][a]",
            b"<1>1 - - - - - [a b=\"]\"]",
            b"<1>1 - -   - - -",
            b"<1>1 - - - - - -\n",
            b"<1>1 - - - - - - \xEF\xBB\xBF\xC1",
        ] {
            assert!(
                parse(bad, &opts(true)).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn bsd_with_pid_and_year_inference() {
        let m = parse(
            b"<38>Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for root",
            &opts(false),
        )
        .unwrap();
        assert_eq!(m.protocol, Protocol::Rfc3164);
        assert_eq!(m.hostname.as_deref(), Some("LabSZ"));
        assert_eq!(m.app_name.as_deref(), Some("sshd"));
        assert_eq!(m.procid.as_deref(), Some("24200"));
        assert_eq!(m.msg, "Failed password for root");
        assert_eq!(
            m.timestamp.unwrap().to_rfc3339(),
            "2026-12-10T06:55:46+08:00"
        );
    }

    #[test]
    fn no_hostname_and_sender_fill() {
        let mut o = opts(false);
        o.sender = Some("10.1.2.3".parse().unwrap());
        let m = parse(b"<134>Jul  3 19:10:30 filterlog[72237]: 146,,,", &o).unwrap();
        assert_eq!(m.hostname.as_deref(), Some("10.1.2.3"));
        assert_eq!(m.app_name.as_deref(), Some("filterlog"));
        assert_eq!(m.msg, "146,,,");
    }

    #[test]
    fn cisco_forms() {
        let m = parse(
            b"<166>Oct 10 2018 12:34:56 localhost CiscoASA[999]: %ASA-6-106023: Deny",
            &opts(false),
        )
        .unwrap();
        assert_eq!(
            m.timestamp.unwrap().to_rfc3339(),
            "2018-10-10T12:34:56+08:00"
        );
        assert_eq!(m.msg, "%ASA-6-106023: Deny");
        let m = parse(
            b"<190>Apr 15 2007 21:28:13: %PIX-6-302014: Teardown",
            &opts(false),
        )
        .unwrap();
        assert_eq!(m.hostname, None);
        assert_eq!(m.app_name.as_deref(), Some("%PIX-6-302014"));
        assert_eq!(m.msg, "Teardown");
        let m = parse(b"<189>52: *Mar  1 00:01:02 host tag: x", &opts(false)).unwrap();
        assert_eq!(m.hostname.as_deref(), Some("host"));
        assert_eq!(m.structured_data.len(), 1);
        assert_eq!(m.structured_data[0].id, "timeQuality");
        assert_eq!(m.structured_data[0].params[0].name, "isSynced");
        assert_eq!(m.structured_data[0].params[0].value, "0");
    }

    #[test]
    fn cisco_clock_marker_is_time_quality() {
        let m = parse(
            b"<190>.Apr 15 2007 21:28:13: %PIX-6-302014: x",
            &opts(false),
        )
        .unwrap();
        assert_eq!(m.structured_data[0].id, "timeQuality");
        assert_eq!(m.structured_data[0].params[0].value, "1");
        let m = parse(b"<190>*Apr 15 21:28:13 host tag: x", &opts(false)).unwrap();
        assert_eq!(m.structured_data[0].params[0].value, "0");
        // No marker, no element; a '.' or '*' not before a time stamp is text.
        let m = parse(b"<190>Apr 15 21:28:13 host tag: x", &opts(false)).unwrap();
        assert!(m.structured_data.is_empty());
        let m = parse(b"<190>.hello world", &opts(false)).unwrap();
        assert!(m.structured_data.is_empty());
    }

    #[test]
    fn garbage_is_message_text() {
        let m = parse(b"complete and utter gobbledegook", &opts(false)).unwrap();
        assert_eq!(m.msg, "complete and utter gobbledegook");
        assert_eq!(m.app_name, None);
        let m = parse(
            b"<189>date=2020-04-23 time=01:16:08 devname=\"x\"",
            &opts(false),
        )
        .unwrap();
        assert_eq!(m.msg, "date=2020-04-23 time=01:16:08 devname=\"x\"");
        assert_eq!(parse(b"  \r\n", &opts(false)), Err(ParseError::Empty));
    }

    #[test]
    fn no_hostname_reads_the_word_as_program() {
        let mut o = opts(false);
        o.expect_hostname = false;
        o.sender = Some("10.9.8.7".parse().unwrap());
        let m = parse(b"<13>Jan  1 14:40:51 alma korte: message", &o).unwrap();
        assert_eq!(m.hostname.as_deref(), Some("10.9.8.7"));
        assert_eq!(m.app_name.as_deref(), Some("alma"));
        assert_eq!(m.msg, "korte: message");
        let m = parse(b"<134>Jul  3 19:10:30 filterlog[72237]: 146,,,", &o).unwrap();
        assert_eq!(m.app_name.as_deref(), Some("filterlog"));
        assert_eq!(m.procid.as_deref(), Some("72237"));
        // RFC 5424 keeps its HOSTNAME field.
        let m = parse(b"<13>1 - host app - - - x", &o).unwrap();
        assert_eq!(m.hostname.as_deref(), Some("host"));
        // Default: the host name.
        let m = parse(b"<13>Jan  1 14:40:51 alma korte: message", &opts(false)).unwrap();
        assert_eq!(m.hostname.as_deref(), Some("alma"));
        assert_eq!(m.app_name.as_deref(), Some("korte"));
    }

    #[test]
    fn bad_hostname_is_not_a_host() {
        let mut o = opts(false);
        o.bad_hostname = Some(crate::syslog::BadHostname::new("^ctld").unwrap());
        let line = b"<7>2006-10-29T02:00:00.156+01:00 ctld snmpd[2499]: PTHREAD";
        let m = parse(line, &o).unwrap();
        assert_eq!(m.hostname, None);
        assert_eq!(m.app_name.as_deref(), Some("ctld"));
        assert_eq!(m.msg, "snmpd[2499]: PTHREAD");
        // Other words stay host names.
        let m = parse(b"<7>Aug 29 02:00:00 web1 snmpd[2499]: x", &o).unwrap();
        assert_eq!(m.hostname.as_deref(), Some("web1"));
        assert_eq!(m.app_name.as_deref(), Some("snmpd"));
        // Invalid UTF-8 in the word is matched lossily, never an error.
        let m = parse(b"<7>Aug 29 02:00:00 ctld\xff x: y", &o).unwrap();
        assert_eq!(m.hostname, None);
        assert!(crate::syslog::BadHostname::new("(").is_err());
        assert!(crate::syslog::BadHostname::new("").is_err());
        assert!(crate::syslog::BadHostname::new("(*LIMIT_MATCH=99999999)a").is_err());
    }

    fn header_field(max: usize) -> impl proptest::strategy::Strategy<Value = Option<String>> {
        proptest::option::of(
            proptest::string::string_regex(&format!("[!-~&&[^-]][!-~]{{0,{}}}", max - 1)).unwrap(),
        )
    }

    proptest::proptest! {
        /// Any message built by the RFC 5424 grammar parses back, strict
        /// and lenient, to the same fields.
        #[test]
        fn rfc5424_round_trip(
            pri in 0u16..=191,
            version in 1u16..=999,
            ts in proptest::option::of((1970i32..2100, 1u32..=12, 1u32..=28, 0u32..24, 0u32..60, 0u32..60,
                proptest::option::of(0u32..1_000_000), -1439i32..=1439)),
            hostname in header_field(255),
            app in header_field(48),
            procid in header_field(128),
            msgid in header_field(32),
            sd in proptest::collection::btree_map("[a-zA-Z0-9@.]{1,32}",
                proptest::collection::btree_map("[a-zA-Z0-9.]{1,32}", "[ -~]{0,12}", 0..3), 0..3),
            msg in proptest::option::of("[ -~]{1,40}"),
        ) {
            use chrono::{Datelike, Timelike};
            let mut line = format!("<{pri}>{version} ");
            match ts {
                None => line.push('-'),
                Some((y, mo, d, h, mi, se, frac, off)) => {
                    line.push_str(&format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{se:02}"));
                    if let Some(f) = frac {
                        line.push_str(&format!(".{f:06}"));
                    }
                    if off == 0 {
                        line.push('Z');
                    } else {
                        let sign = if off < 0 { '-' } else { '+' };
                        line.push_str(&format!("{sign}{:02}:{:02}", off.abs() / 60, off.abs() % 60));
                    }
                }
            }
            for f in [&hostname, &app, &procid, &msgid] {
                line.push(' ');
                line.push_str(f.as_deref().unwrap_or("-"));
            }
            line.push(' ');
            if sd.is_empty() {
                line.push('-');
            }
            for (id, params) in &sd {
                line.push('[');
                line.push_str(id);
                for (k, v) in params {
                    let esc = v.replace('\\', "\\\\").replace('"', "\\\"").replace(']', "\\]");
                    line.push_str(&format!(" {k}=\"{esc}\""));
                }
                line.push(']');
            }
            if let Some(m) = &msg {
                line.push(' ');
                line.push_str(m);
            }
            for strict in [true, false] {
                let m = parse(line.as_bytes(), &opts(strict)).map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{e}: {line}")))?;
                proptest::prop_assert_eq!(m.protocol, Protocol::Rfc5424);
                proptest::prop_assert_eq!(m.facility, Some((pri >> 3) as u8));
                proptest::prop_assert_eq!(m.severity, Some((pri & 7) as u8));
                proptest::prop_assert_eq!(m.hostname.as_deref(), hostname.as_deref());
                proptest::prop_assert_eq!(m.app_name.as_deref(), app.as_deref());
                proptest::prop_assert_eq!(m.procid.as_deref(), procid.as_deref());
                proptest::prop_assert_eq!(m.msgid.as_deref(), msgid.as_deref());
                proptest::prop_assert_eq!(&*m.msg, msg.as_deref().unwrap_or(""));
                let got: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>> = m
                    .structured_data
                    .iter()
                    .map(|e| (e.id.to_string(), e.params.iter().map(|p| (p.name.to_string(), p.value.to_string())).collect()))
                    .collect();
                proptest::prop_assert_eq!(&got, &sd);
                match (ts, m.timestamp) {
                    (None, None) => {}
                    (Some((y, mo, d, h, mi, se, frac, off)), Some(t)) => {
                        proptest::prop_assert_eq!((t.year(), t.month(), t.day()), (y, mo, d));
                        proptest::prop_assert_eq!((t.hour(), t.minute(), t.second()), (h, mi, se));
                        proptest::prop_assert_eq!(t.nanosecond(), frac.unwrap_or(0) * 1000);
                        proptest::prop_assert_eq!(t.offset().local_minus_utc(), off * 60);
                    }
                    (a, b) => proptest::prop_assert!(false, "timestamp {a:?} vs {b:?}"),
                }
            }
        }

        /// BSD lines with a tag parse back to their parts, the year taken
        /// from the receive time (2026-11-27, Asia/Shanghai).
        #[test]
        fn rfc3164_round_trip(
            pri in proptest::option::of(0u16..=191),
            month in 1u32..=11,
            day in 1u32..=28,
            (h, mi, se) in (0u32..24, 0u32..60, 0u32..60),
            host in "[a-z][a-z0-9.-]{0,20}",
            prog in "[a-z][a-z0-9_/.-]{0,15}",
            pid in proptest::option::of(1u32..99999),
            msg in "[!-Z^-~][ -~]{0,40}",
        ) {
            use chrono::{Datelike, Timelike};
            const MON: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
            let mut line = pri.map(|p| format!("<{p}>")).unwrap_or_default();
            line.push_str(&format!("{} {day:>2} {h:02}:{mi:02}:{se:02} {host} {prog}", MON[month as usize - 1]));
            if let Some(p) = pid {
                line.push_str(&format!("[{p}]"));
            }
            line.push_str(": ");
            line.push_str(&msg);
            let m = parse(line.as_bytes(), &opts(false)).unwrap();
            proptest::prop_assert_eq!(m.protocol, Protocol::Rfc3164);
            let pri = pri.unwrap_or(13);
            proptest::prop_assert_eq!((m.facility, m.severity), (Some((pri >> 3) as u8), Some((pri & 7) as u8)));
            proptest::prop_assert_eq!(m.hostname.as_deref(), Some(host.as_str()));
            proptest::prop_assert_eq!(m.app_name.as_deref(), Some(prog.as_str()));
            let pid_s = pid.map(|p| p.to_string());
            proptest::prop_assert_eq!(m.procid.as_deref(), pid_s.as_deref());
            proptest::prop_assert_eq!(&*m.msg, msg.as_str());
            let t = m.timestamp.unwrap();
            proptest::prop_assert_eq!((t.year(), t.month(), t.day(), t.hour(), t.minute(), t.second()), (2026, month, day, h, mi, se));
            proptest::prop_assert_eq!(t.offset().local_minus_utc(), 8 * 3600);
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse(&bytes, &opts(false));
            let _ = parse(&bytes, &opts(true));
        }

        /// The header options never panic and never touch RFC 5424 or what
        /// is accepted: every line the default parse accepts, the optioned
        /// parse accepts too, with the same time stamp.
        #[test]
        fn header_options_never_panic(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            shaped in "<[0-9]{1,3}>[ .*]?(Jan|Feb) [ 1-9][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})? [ -~]{0,40}",
            expect_hostname in proptest::bool::ANY,
            pattern in proptest::sample::select(vec!["^ctld", "^%", "[0-9]", "^$", "(a+)+$"]),
        ) {
            let mut o = opts(false);
            o.expect_hostname = expect_hostname;
            o.bad_hostname = crate::syslog::BadHostname::new(pattern).ok();
            for line in [&bytes[..], shaped.as_bytes()] {
                let base = parse(line, &opts(false));
                let got = parse(line, &o);
                proptest::prop_assert_eq!(base.is_ok(), got.is_ok());
                if let (Ok(b), Ok(g)) = (&base, &got) {
                    proptest::prop_assert_eq!(b.protocol, g.protocol);
                    proptest::prop_assert_eq!(b.timestamp, g.timestamp);
                    if b.protocol == Protocol::Rfc5424 {
                        proptest::prop_assert_eq!(b, g);
                    }
                }
            }
        }

        #[test]
        fn never_panics_on_syslog_shaped(s in "<[0-9]{1,3}>[0-9 ]{0,3}[-0-9T:.Z+ ]{0,30}[ a-z\\[\\]=\"\\\\:]{0,60}") {
            let _ = parse(s.as_bytes(), &opts(false));
            let _ = parse(s.as_bytes(), &opts(true));
        }
    }
}
