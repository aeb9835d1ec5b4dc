//! Value parsers and checks of individual keywords, with Suricata's
//! documented semantics. Each returns a typed value or a [`RuleError`]
//! naming the keyword.

use super::buffer::Transform;
use super::error::RuleError;
use super::header::AppProto;
use super::rule::{
    Base64Decode, BufferList, ByteExtract, ByteFormat, ByteJump, ByteOp, ByteTest, Content, Endian,
    FlagsMode, FlowDir, FlowOpts, FlowState, FlowbitCmd, FlowbitOp, Flowint, FlowintOp, IsDataAt,
    Match, Num, PacketMatch, StreamSide, Target, TcpFlags, UintCmp, XbitOp, XbitTrack,
};

/// Largest absolute value of content positions (Suricata keeps them in 16 bits).
pub const MAX_POS: i64 = 65_535;

/// Parses an unsigned decimal (or `0x` hex) number within `min..=max`.
pub fn parse_u64(v: &str, key: &str, min: u64, max: u64) -> Result<u64, RuleError> {
    let t = unquote_ws(v);
    let n = parse_plain_u64(t)
        .ok_or_else(|| RuleError::invalid(key, format!("'{t}' is not a number")))?;
    if n < min || n > max {
        return Err(RuleError::invalid(
            key,
            format!("{n} is out of range {min}..={max}"),
        ));
    }
    Ok(n)
}

fn unquote_ws(v: &str) -> &str {
    super::options::unquote(v.trim()).trim()
}

fn parse_plain_u64(t: &str) -> Option<u64> {
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        if h.is_empty() || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        return u64::from_str_radix(h, 16).ok();
    }
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

fn parse_plain_i64(t: &str) -> Option<i64> {
    match t.strip_prefix('-') {
        Some(rest) => parse_plain_u64(rest)
            .and_then(|n| i64::try_from(n).ok())
            .map(|n| -n),
        None => parse_plain_u64(t).and_then(|n| i64::try_from(n).ok()),
    }
}

/// Parses a 16-bit unsigned value.
pub fn parse_u16(v: &str, key: &str) -> Result<u16, RuleError> {
    let n = parse_u64(v, key, 0, 65_535)?;
    u16::try_from(n).map_err(|_| RuleError::invalid(key, "out of range"))
}

/// Parses a content position argument: a signed number or a byte_extract
/// variable defined earlier in the rule.
pub fn parse_num(v: &str, key: &str, vars: &[Box<str>]) -> Result<Num, RuleError> {
    let t = v.trim();
    if let Some(n) = parse_plain_i64(t) {
        if !(-MAX_POS..=MAX_POS).contains(&n) {
            return Err(RuleError::invalid(key, format!("{n} is out of range")));
        }
        return Ok(Num::Lit(n));
    }
    if vars.iter().any(|x| &**x == t) {
        return Ok(Num::Var(t.into()));
    }
    if is_ident(t) {
        return Err(RuleError::invalid(
            key,
            format!("unknown byte_extract variable '{t}'"),
        ));
    }
    Err(RuleError::invalid(key, format!("'{t}' is not a number")))
}

fn is_ident(t: &str) -> bool {
    !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        && !t.as_bytes().first().is_some_and(u8::is_ascii_digit)
}

/// Splits a leading `!`.
pub fn negatable(v: &str) -> (bool, &str) {
    let t = v.trim();
    match t.strip_prefix('!') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, t),
    }
}

/// Suricata's unsigned-integer syntax: `N`, `=N`, `!N`, `!=N`, `<N`, `<=N`,
/// `>N`, `>=N`, `A<>B`, `A-B`, `!A-B` (ranges exclusive). Numbers are
/// decimal or `0x` hex; `max` bounds them.
pub fn parse_uint(v: &str, key: &str, max: u64) -> Result<UintCmp, RuleError> {
    let t = unquote_ws(v);
    let (_, cmp) = uint_expr::expr(t)
        .map_err(|_| RuleError::invalid(key, format!("'{t}' is not a number or comparison")))?;
    let check = |n: u64| {
        if n > max {
            Err(RuleError::invalid(key, format!("{n} is larger than {max}")))
        } else {
            Ok(())
        }
    };
    match cmp {
        UintCmp::Between(a, b) | UintCmp::NotBetween(a, b) => {
            check(a)?;
            check(b)?;
            if a >= b {
                return Err(RuleError::invalid(
                    key,
                    format!("range {a}-{b} is empty or reversed"),
                ));
            }
        }
        UintCmp::Eq(n)
        | UintCmp::Ne(n)
        | UintCmp::Lt(n)
        | UintCmp::Le(n)
        | UintCmp::Gt(n)
        | UintCmp::Ge(n) => check(n)?,
    }
    Ok(cmp)
}

/// nom grammar of the unsigned-integer comparisons.
mod uint_expr {
    use nom::branch::alt;
    use nom::bytes::complete::{tag, tag_no_case, take_while1};
    use nom::character::complete::{digit1, space0};
    use nom::combinator::{all_consuming, map, map_res};
    use nom::sequence::{delimited, preceded, separated_pair};
    use nom::IResult;

    use super::super::rule::UintCmp;

    fn number(i: &str) -> IResult<&str, u64> {
        delimited(
            space0,
            alt((
                map_res(
                    preceded(
                        tag_no_case("0x"),
                        take_while1(|c: char| c.is_ascii_hexdigit()),
                    ),
                    |h| u64::from_str_radix(h, 16),
                ),
                map_res(digit1, str::parse::<u64>),
            )),
            space0,
        )(i)
    }

    fn op<'a>(
        t: &'static str,
        f: fn(u64) -> UintCmp,
    ) -> impl FnMut(&'a str) -> IResult<&'a str, UintCmp> {
        map(preceded(tag(t), number), f)
    }

    /// The whole expression (must consume all input).
    pub(super) fn expr(i: &str) -> IResult<&str, UintCmp> {
        all_consuming(alt((
            map(separated_pair(number, tag("<>"), number), |(a, b)| {
                UintCmp::Between(a, b)
            }),
            op("!=", UintCmp::Ne),
            map(
                preceded(tag("!"), separated_pair(number, tag("-"), number)),
                |(a, b)| UintCmp::NotBetween(a, b),
            ),
            op("!", UintCmp::Ne),
            op("<=", UintCmp::Le),
            op(">=", UintCmp::Ge),
            op("<", UintCmp::Lt),
            op(">", UintCmp::Gt),
            op("=", UintCmp::Eq),
            map(separated_pair(number, tag("-"), number), |(a, b)| {
                UintCmp::Between(a, b)
            }),
            map(number, UintCmp::Eq),
        )))(i)
    }
}

/// `metadata: key value, key value`: appended as pairs.
pub fn metadata(v: &str, out: &mut Vec<(String, String)>) {
    for entry in v.split(',') {
        let e = entry.trim();
        if e.is_empty() {
            continue;
        }
        let (k, val) = match e.split_once(char::is_whitespace) {
            Some((k, val)) => (k, val.trim()),
            None => (e, ""),
        };
        out.push((k.to_string(), val.to_string()));
    }
}

/// `reference: system,id`.
pub fn reference(v: &str) -> Result<(String, String), RuleError> {
    let (sys, id) = v
        .split_once(',')
        .ok_or_else(|| RuleError::invalid("reference", "expected 'system,id'"))?;
    let (sys, id) = (sys.trim(), id.trim());
    if sys.is_empty() || id.is_empty() {
        return Err(RuleError::invalid("reference", "expected 'system,id'"));
    }
    Ok((sys.to_string(), id.to_string()))
}

/// `target: src_ip | dest_ip`.
pub fn target(v: &str) -> Result<Target, RuleError> {
    match v.trim() {
        "src_ip" => Ok(Target::SrcIp),
        "dest_ip" => Ok(Target::DestIp),
        other => Err(RuleError::invalid(
            "target",
            format!("'{other}' is not src_ip or dest_ip"),
        )),
    }
}

/// `nocase`, `rawbytes`, `startswith`, `endswith` on the last content.
pub fn flag_modifier(c: &mut Content, key: &str) -> Result<(), RuleError> {
    let slot = match key {
        "nocase" => &mut c.nocase,
        "rawbytes" => &mut c.rawbytes,
        "startswith" => {
            if c.depth.is_some() || c.offset.is_some() || c.is_relative() {
                return Err(RuleError::invalid(
                    key,
                    "cannot be mixed with depth, offset, distance or within",
                ));
            }
            &mut c.startswith
        }
        _ => &mut c.endswith,
    };
    if std::mem::replace(slot, true) {
        return Err(RuleError::invalid(key, "given twice for the same content"));
    }
    Ok(())
}

/// `depth`, `offset`, `distance`, `within` on the last content.
pub fn position_modifier(c: &mut Content, key: &str, n: Num) -> Result<(), RuleError> {
    let absolute = matches!(key, "depth" | "offset");
    if c.startswith {
        return Err(RuleError::invalid(key, "cannot be mixed with startswith"));
    }
    if absolute && c.is_relative() {
        return Err(RuleError::invalid(
            key,
            "cannot mix an absolute keyword (depth/offset) with a relative one (distance/within)",
        ));
    }
    if !absolute && (c.depth.is_some() || c.offset.is_some()) {
        return Err(RuleError::invalid(
            key,
            "cannot mix a relative keyword (distance/within) with an absolute one (depth/offset)",
        ));
    }
    let len = i64::try_from(c.pattern.len()).unwrap_or(i64::MAX);
    if let Num::Lit(v) = n {
        match key {
            "depth" if v < len => {
                return Err(RuleError::invalid(
                    key,
                    format!("depth {v} is smaller than the content length {len}"),
                ))
            }
            "within" if v < len => {
                return Err(RuleError::invalid(
                    key,
                    format!("within {v} is smaller than the content length {len}"),
                ))
            }
            "offset" if v < 0 => return Err(RuleError::invalid(key, "must not be negative")),
            _ => {}
        }
    }
    let slot = match key {
        "depth" => &mut c.depth,
        "offset" => &mut c.offset,
        "distance" => &mut c.distance,
        _ => &mut c.within,
    };
    if slot.replace(n).is_some() {
        return Err(RuleError::invalid(key, "given twice for the same content"));
    }
    Ok(())
}

/// `fast_pattern:only` (deprecated, same as plain) or `fast_pattern:offset,length`.
pub fn fast_pattern_arg(c: &mut Content, v: &str) -> Result<(), RuleError> {
    let v = v.trim();
    if v == "only" {
        return Ok(());
    }
    let (a, b) = v
        .split_once(',')
        .ok_or_else(|| RuleError::invalid("fast_pattern", format!("unknown argument '{v}'")))?;
    let off = parse_u16(a, "fast_pattern")?;
    let len = parse_u16(b, "fast_pattern")?;
    let end = usize::from(off) + usize::from(len);
    if len == 0 || end > c.pattern.len() {
        return Err(RuleError::invalid(
            "fast_pattern",
            format!("chop {off},{len} is outside the content"),
        ));
    }
    c.fast_pattern_chop = Some((off, len));
    Ok(())
}

/// `isdataat:[!]N|var[,relative][,rawbytes]`.
pub fn isdataat(v: &str, vars: &[Box<str>]) -> Result<IsDataAt, RuleError> {
    let mut parts = v.split(',').map(str::trim);
    let first = parts.next().unwrap_or("");
    let (negated, pos) = negatable(first);
    let pos = parse_num(pos, "isdataat", vars)?;
    if matches!(pos, Num::Lit(n) if n < 0) {
        return Err(RuleError::invalid("isdataat", "must not be negative"));
    }
    let mut relative = false;
    for p in parts {
        match p {
            "relative" => relative = true,
            "rawbytes" => {}
            other => {
                return Err(RuleError::invalid(
                    "isdataat",
                    format!("unknown option '{other}'"),
                ))
            }
        }
    }
    Ok(IsDataAt {
        pos,
        negated,
        relative,
    })
}

fn endian_or_format(
    key: &str,
    p: &str,
    endian: &mut Option<Endian>,
    format: &mut Option<ByteFormat>,
    string: &mut bool,
) -> Result<bool, RuleError> {
    let set_endian = |e: &mut Option<Endian>, v| {
        if e.replace(v).is_some() {
            Err(RuleError::invalid(key, "byte order given twice"))
        } else {
            Ok(true)
        }
    };
    match p {
        "big" => set_endian(endian, Endian::Big),
        "little" => set_endian(endian, Endian::Little),
        "dce" => set_endian(endian, Endian::Dce),
        "string" => {
            *string = true;
            Ok(true)
        }
        "hex" | "dec" | "oct" => {
            let f = match p {
                "hex" => ByteFormat::Hex,
                "dec" => ByteFormat::Dec,
                _ => ByteFormat::Oct,
            };
            if format.replace(f).is_some() {
                return Err(RuleError::invalid(key, "base given twice"));
            }
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn finish_format(
    key: &str,
    nbytes: u8,
    string: bool,
    format: Option<ByteFormat>,
    endian: Option<Endian>,
) -> Result<ByteFormat, RuleError> {
    let f = match (string, format) {
        (false, None) => ByteFormat::Binary,
        (false, Some(_)) => return Err(RuleError::invalid(key, "hex/dec/oct need 'string'")),
        (true, f) => f.unwrap_or(ByteFormat::Dec),
    };
    let max = if string { 23 } else { 8 };
    // ET Open uses 0 with `string` (read the digits present) and in
    // byte_jump (jump by post_offset only); Suricata accepts both.
    let zero_ok = string || key == "byte_jump";
    if (nbytes == 0 && !zero_ok) || nbytes > max {
        return Err(RuleError::invalid(
            key,
            format!("byte count {nbytes} is not in 1..={max}"),
        ));
    }
    if string && endian.is_some_and(|e| e != Endian::Big) {
        return Err(RuleError::invalid(
            key,
            "a byte order cannot be used with 'string'",
        ));
    }
    Ok(f)
}

fn nbytes(v: &str, key: &str) -> Result<u8, RuleError> {
    let n = parse_u64(v, key, 0, 23)?;
    u8::try_from(n).map_err(|_| RuleError::invalid(key, "out of range"))
}

fn bitmask(v: &str, key: &str) -> Result<u32, RuleError> {
    let n = parse_u64(v, key, 1, u64::from(u32::MAX))?;
    u32::try_from(n).map_err(|_| RuleError::invalid(key, "bitmask out of range"))
}

/// `byte_test: bytes, [!]op, value, offset [, relative][, endian][, string, base][, dce][, bitmask N]`.
pub fn byte_test(v: &str, vars: &[Box<str>]) -> Result<ByteTest, RuleError> {
    const K: &str = "byte_test";
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let [n, op, value, offset, rest @ ..] = parts.as_slice() else {
        return Err(RuleError::invalid(
            K,
            "expected 'bytes, operator, value, offset[, options]'",
        ));
    };
    let nb = nbytes(n, K)?;
    let (negated, op) = negatable(op);
    let op = match op {
        "<" => ByteOp::Lt,
        ">" => ByteOp::Gt,
        "=" | "" if negated || op == "=" => ByteOp::Eq,
        "<=" => ByteOp::Le,
        ">=" => ByteOp::Ge,
        "&" => ByteOp::And,
        "^" => ByteOp::Xor,
        other => return Err(RuleError::invalid(K, format!("unknown operator '{other}'"))),
    };
    let value = match parse_plain_u64(value) {
        Some(n) => {
            Num::Lit(i64::try_from(n).map_err(|_| RuleError::invalid(K, "value out of range"))?)
        }
        None => parse_num(value, K, vars)?,
    };
    let offset = parse_num(offset, K, vars)?;
    let (mut relative, mut endian, mut format, mut string, mut mask) =
        (false, None, None, false, None);
    for p in rest {
        if endian_or_format(K, p, &mut endian, &mut format, &mut string)? {
            continue;
        }
        if *p == "relative" {
            relative = true;
        } else if let Some(m) = p.strip_prefix("bitmask") {
            mask = Some(bitmask(m, K)?);
        } else {
            return Err(RuleError::invalid(K, format!("unknown option '{p}'")));
        }
    }
    let format = finish_format(K, nb, string, format, endian)?;
    Ok(ByteTest {
        nbytes: nb,
        op,
        negated,
        value,
        offset,
        relative,
        endian: endian.unwrap_or_default(),
        format,
        bitmask: mask,
    })
}

/// `byte_jump: bytes, offset [, relative][, multiplier N][, endian][, string, base][, align][, from_beginning|from_end][, post_offset N][, dce][, bitmask N]`.
pub fn byte_jump(v: &str, vars: &[Box<str>]) -> Result<ByteJump, RuleError> {
    const K: &str = "byte_jump";
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let [n, offset, rest @ ..] = parts.as_slice() else {
        return Err(RuleError::invalid(K, "expected 'bytes, offset[, options]'"));
    };
    let nb = nbytes(n, K)?;
    let offset = parse_num(offset, K, vars)?;
    let mut j = ByteJump {
        nbytes: nb,
        offset,
        relative: false,
        multiplier: 1,
        endian: Endian::Big,
        format: ByteFormat::Binary,
        align: false,
        from_beginning: false,
        from_end: false,
        post_offset: 0,
        bitmask: None,
    };
    let (mut endian, mut format, mut string) = (None, None, false);
    for p in rest {
        if endian_or_format(K, p, &mut endian, &mut format, &mut string)? {
            continue;
        }
        match *p {
            "relative" => j.relative = true,
            "align" => j.align = true,
            "from_beginning" => j.from_beginning = true,
            "from_end" => j.from_end = true,
            _ => {
                if let Some(m) = p.strip_prefix("multiplier") {
                    j.multiplier = u32::try_from(parse_u64(m, K, 1, 65_535)?)
                        .map_err(|_| RuleError::invalid(K, "multiplier out of range"))?;
                } else if let Some(m) = p.strip_prefix("post_offset") {
                    let n = parse_plain_i64(m.trim())
                        .filter(|n| (-MAX_POS..=MAX_POS).contains(n))
                        .ok_or_else(|| {
                            RuleError::invalid(K, format!("bad post_offset '{}'", m.trim()))
                        })?;
                    j.post_offset = i32::try_from(n)
                        .map_err(|_| RuleError::invalid(K, "post_offset out of range"))?;
                } else if let Some(m) = p.strip_prefix("bitmask") {
                    j.bitmask = Some(bitmask(m, K)?);
                } else {
                    return Err(RuleError::invalid(K, format!("unknown option '{p}'")));
                }
            }
        }
    }
    if j.from_beginning && j.from_end {
        return Err(RuleError::invalid(
            K,
            "from_beginning and from_end together",
        ));
    }
    j.format = finish_format(K, nb, string, format, endian)?;
    j.endian = endian.unwrap_or_default();
    Ok(j)
}

/// `byte_extract: bytes, offset, name [, relative][, multiplier N][, endian][, string, base][, align N][, dce][, bitmask N]`.
pub fn byte_extract(v: &str) -> Result<ByteExtract, RuleError> {
    const K: &str = "byte_extract";
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let [n, offset, name, rest @ ..] = parts.as_slice() else {
        return Err(RuleError::invalid(
            K,
            "expected 'bytes, offset, name[, options]'",
        ));
    };
    let nb = nbytes(n, K)?;
    let offset = parse_plain_i64(offset)
        .filter(|n| (-MAX_POS..=MAX_POS).contains(n))
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| RuleError::invalid(K, format!("bad offset '{offset}'")))?;
    if !is_ident(name) {
        return Err(RuleError::invalid(K, format!("bad variable name '{name}'")));
    }
    let mut e = ByteExtract {
        nbytes: nb,
        offset,
        name: (*name).into(),
        relative: false,
        multiplier: 1,
        endian: Endian::Big,
        format: ByteFormat::Binary,
        align: 0,
        bitmask: None,
    };
    let (mut endian, mut format, mut string) = (None, None, false);
    for p in rest {
        if endian_or_format(K, p, &mut endian, &mut format, &mut string)? {
            continue;
        }
        if *p == "relative" {
            e.relative = true;
        } else if let Some(m) = p.strip_prefix("multiplier") {
            e.multiplier = u32::try_from(parse_u64(m, K, 1, 65_535)?)
                .map_err(|_| RuleError::invalid(K, "multiplier out of range"))?;
        } else if let Some(m) = p.strip_prefix("align") {
            e.align = match parse_u64(m, K, 2, 4)? {
                2 => 2,
                4 => 4,
                _ => return Err(RuleError::invalid(K, "align must be 2 or 4")),
            };
        } else if let Some(m) = p.strip_prefix("bitmask") {
            e.bitmask = Some(bitmask(m, K)?);
        } else {
            return Err(RuleError::invalid(K, format!("unknown option '{p}'")));
        }
    }
    e.format = finish_format(K, nb, string, format, endian)?;
    e.endian = endian.unwrap_or_default();
    Ok(e)
}

/// `base64_decode[: bytes N, offset N, relative]`.
pub fn base64_decode(v: Option<&str>) -> Result<Base64Decode, RuleError> {
    const K: &str = "base64_decode";
    let mut d = Base64Decode::default();
    let Some(v) = v else { return Ok(d) };
    for p in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if p == "relative" {
            d.relative = true;
        } else if let Some(n) = p.strip_prefix("bytes") {
            d.bytes = u32::try_from(parse_u64(n, K, 1, u64::from(u32::MAX))?)
                .map_err(|_| RuleError::invalid(K, "bytes out of range"))?;
        } else if let Some(n) = p.strip_prefix("offset") {
            d.offset = u32::try_from(parse_u64(n, K, 0, u64::from(u32::MAX))?)
                .map_err(|_| RuleError::invalid(K, "offset out of range"))?;
        } else {
            return Err(RuleError::invalid(K, format!("unknown option '{p}'")));
        }
    }
    Ok(d)
}

/// `ip_proto: [!<>]N|name`.
pub fn ip_proto(v: &str) -> Result<UintCmp, RuleError> {
    const K: &str = "ip_proto";
    let t = v.trim();
    let (prefix, name) = match t.find(|c: char| c.is_ascii_alphanumeric()) {
        Some(i) => t.split_at(i),
        None => return Err(RuleError::invalid(K, "missing protocol")),
    };
    let num = match name.to_ascii_lowercase().as_str() {
        "icmp" => Some(1),
        "igmp" => Some(2),
        "ipip" => Some(4),
        "tcp" => Some(6),
        "udp" => Some(17),
        "ipv6" => Some(41),
        "gre" => Some(47),
        "esp" => Some(50),
        "ah" => Some(51),
        "ipv6-icmp" | "icmpv6" => Some(58),
        "pim" => Some(103),
        "sctp" => Some(132),
        _ => None,
    };
    let text = match num {
        Some(n) => format!("{prefix}{n}"),
        None => t.to_string(),
    };
    match parse_uint(&text, K, 255)? {
        c @ (UintCmp::Eq(_) | UintCmp::Ne(_) | UintCmp::Lt(_) | UintCmp::Gt(_)) => Ok(c),
        _ => Err(RuleError::invalid(
            K,
            "expected [!<>]number or a protocol name",
        )),
    }
}

/// `flags: [modifier]FSRPAUCE0[modifier][,mask]`.
pub fn tcp_flags(v: &str) -> Result<TcpFlags, RuleError> {
    const K: &str = "flags";
    let (f, m) = match v.split_once(',') {
        Some((f, m)) => (f.trim(), Some(m.trim())),
        None => (v.trim(), None),
    };
    let bits = |s: &str, mode: &mut Option<FlagsMode>| -> Result<u8, RuleError> {
        let mut out = 0u8;
        for c in s.chars() {
            let bit = match c.to_ascii_uppercase() {
                'F' => 0x01,
                'S' => 0x02,
                'R' => 0x04,
                'P' => 0x08,
                'A' => 0x10,
                'U' => 0x20,
                'E' | '2' => 0x40,
                'C' | '1' => 0x80,
                '0' => 0,
                '+' | '*' | '!' => {
                    let md = match c {
                        '+' => FlagsMode::All,
                        '*' => FlagsMode::Any,
                        _ => FlagsMode::Not,
                    };
                    if mode.replace(md).is_some() {
                        return Err(RuleError::invalid(K, "more than one modifier"));
                    }
                    continue;
                }
                ' ' => continue,
                other => return Err(RuleError::invalid(K, format!("unknown flag '{other}'"))),
            };
            out |= bit;
        }
        Ok(out)
    };
    let mut mode = None;
    let flags = bits(f, &mut mode)?;
    if f.is_empty() {
        return Err(RuleError::invalid(K, "no flags given"));
    }
    let ignore = match m {
        Some(m) => {
            let mut none = None;
            let b = bits(m, &mut none)?;
            if none.is_some() {
                return Err(RuleError::invalid(K, "modifier inside the mask"));
            }
            b
        }
        None => 0,
    };
    Ok(TcpFlags {
        flags,
        ignore,
        mode: mode.unwrap_or(FlagsMode::Exact),
    })
}

/// `fragbits: [+*!]MDR`.
pub fn fragbits(v: &str) -> Result<PacketMatch, RuleError> {
    const K: &str = "fragbits";
    let mut bits = 0u8;
    let mut mode = None;
    for c in v.trim().chars() {
        let bit = match c.to_ascii_uppercase() {
            'M' => 0x01,
            'D' => 0x02,
            'R' => 0x04,
            '+' | '*' | '!' => {
                let md = match c {
                    '+' => FlagsMode::All,
                    '*' => FlagsMode::Any,
                    _ => FlagsMode::Not,
                };
                if mode.replace(md).is_some() {
                    return Err(RuleError::invalid(K, "more than one modifier"));
                }
                continue;
            }
            other => return Err(RuleError::invalid(K, format!("unknown bit '{other}'"))),
        };
        bits |= bit;
    }
    if bits == 0 {
        return Err(RuleError::invalid(K, "no bits given"));
    }
    Ok(PacketMatch::FragBits {
        bits,
        mode: mode.unwrap_or(FlagsMode::Exact),
    })
}

/// `ipopts: name`.
pub fn ipopts(v: &str) -> Result<PacketMatch, RuleError> {
    let name = v.trim();
    const NAMES: &[&str] = &[
        "rr", "eol", "nop", "ts", "sec", "esec", "lsrr", "lsrre", "ssrr", "satid", "any",
    ];
    if !NAMES.contains(&name) {
        return Err(RuleError::invalid(
            "ipopts",
            format!("unknown option '{name}'"),
        ));
    }
    Ok(PacketMatch::IpOpts(name.into()))
}

/// `tls.version: 1.0|1.1|1.2|1.3|3.0|0xNNNN`.
pub fn tls_version(v: &str) -> Result<PacketMatch, RuleError> {
    const K: &str = "tls.version";
    let t = unquote_ws(v);
    let n = match t {
        "3.0" => 0x0300,
        "1.0" => 0x0301,
        "1.1" => 0x0302,
        "1.2" => 0x0303,
        "1.3" => 0x0304,
        other => {
            let n = parse_plain_u64(other)
                .ok_or_else(|| RuleError::invalid(K, format!("unknown version '{other}'")))?;
            u16::try_from(n).map_err(|_| RuleError::invalid(K, "out of range"))?
        }
    };
    Ok(PacketMatch::TlsVersion(n))
}

/// `ssl_version: [!]v[, [!]v...]` with v in sslv2, sslv3, tls1.0 .. tls1.3.
pub fn ssl_version(v: &str) -> Result<PacketMatch, RuleError> {
    const K: &str = "ssl_version";
    let (mut any_of, mut none_of) = (0u8, 0u8);
    for item in v.split(',').map(str::trim) {
        let (neg, name) = negatable(item);
        let bit = match name.to_ascii_lowercase().as_str() {
            "sslv2" => 1,
            "sslv3" => 2,
            "tls1.0" => 4,
            "tls1.1" => 8,
            "tls1.2" => 16,
            "tls1.3" => 32,
            _ => return Err(RuleError::invalid(K, format!("unknown version '{name}'"))),
        };
        if neg {
            none_of |= bit;
        } else {
            any_of |= bit;
        }
    }
    Ok(PacketMatch::SslVersion { any_of, none_of })
}

/// `stream_size: server|client|both|either, op, N`.
pub fn stream_size(v: &str) -> Result<PacketMatch, RuleError> {
    const K: &str = "stream_size";
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let [side, op, n] = parts.as_slice() else {
        return Err(RuleError::invalid(K, "expected 'side, operator, value'"));
    };
    let side = match *side {
        "server" => StreamSide::Server,
        "client" => StreamSide::Client,
        "both" => StreamSide::Both,
        "either" => StreamSide::Either,
        other => return Err(RuleError::invalid(K, format!("unknown side '{other}'"))),
    };
    let n = parse_u64(n, K, 0, u64::from(u32::MAX))?;
    let cmp = match *op {
        "<" => UintCmp::Lt(n),
        "<=" => UintCmp::Le(n),
        ">" => UintCmp::Gt(n),
        ">=" => UintCmp::Ge(n),
        "=" => UintCmp::Eq(n),
        "!=" => UintCmp::Ne(n),
        other => return Err(RuleError::invalid(K, format!("unknown operator '{other}'"))),
    };
    Ok(PacketMatch::StreamSize { side, cmp })
}

/// `urilen: cmp[, norm|raw]`.
pub fn urilen(v: &str) -> Result<PacketMatch, RuleError> {
    const K: &str = "urilen";
    let (c, kind) = match v.split_once(',') {
        Some((c, k)) => (c, Some(k.trim())),
        None => (v, None),
    };
    let raw = match kind {
        None | Some("norm") => false,
        Some("raw") => true,
        Some(other) => return Err(RuleError::invalid(K, format!("unknown option '{other}'"))),
    };
    Ok(PacketMatch::Urilen {
        cmp: parse_uint(c, K, 65_535)?,
        raw,
    })
}

/// `app-layer-protocol: [!]name`.
pub fn app_layer_protocol(v: &str) -> Result<PacketMatch, RuleError> {
    let (negated, name) = negatable(v);
    let name = name.split(',').next().unwrap_or("").trim();
    let known =
        AppProto::from_name(name).is_some() || matches!(name, "unknown" | "failed" | "http_any");
    if !known {
        return Err(RuleError::invalid(
            "app-layer-protocol",
            format!("unknown protocol '{name}'"),
        ));
    }
    Ok(PacketMatch::AppLayerProtocol {
        name: name.into(),
        negated,
    })
}

/// `flow: opt[, opt...]`.
pub fn flow(v: &str, f: &mut FlowOpts) -> Result<(), RuleError> {
    const K: &str = "flow";
    for p in v.split(',').map(str::trim) {
        let conflict = |what: &str| RuleError::invalid(K, format!("conflicting {what} options"));
        match p {
            "to_server" | "from_client" | "to_client" | "from_server" => {
                let d = if matches!(p, "to_server" | "from_client") {
                    FlowDir::ToServer
                } else {
                    FlowDir::ToClient
                };
                if f.dir.replace(d).is_some_and(|old| old != d) {
                    return Err(conflict("direction"));
                }
            }
            "established" | "not_established" | "stateless" => {
                let s = match p {
                    "established" => FlowState::Established,
                    "not_established" => FlowState::NotEstablished,
                    _ => FlowState::Stateless,
                };
                if f.state.replace(s).is_some_and(|old| old != s) {
                    return Err(conflict("state"));
                }
            }
            "only_stream" | "no_stream" => {
                let s = p == "only_stream";
                if f.stream.replace(s).is_some_and(|old| old != s) {
                    return Err(conflict("stream"));
                }
            }
            "only_frag" | "no_frag" => {
                let s = p == "only_frag";
                if f.frag.replace(s).is_some_and(|old| old != s) {
                    return Err(conflict("fragment"));
                }
            }
            other => return Err(RuleError::invalid(K, format!("unknown option '{other}'"))),
        }
    }
    Ok(())
}

/// `flowbits: cmd[, name[|name...] | name[&name...]]`.
pub fn flowbits(v: &str) -> Result<FlowbitOp, RuleError> {
    const K: &str = "flowbits";
    let (cmd, names) = match v.split_once(',') {
        Some((c, n)) => (c.trim(), Some(n.trim())),
        None => (v.trim(), None),
    };
    let cmd = match cmd {
        "set" => FlowbitCmd::Set,
        "unset" => FlowbitCmd::Unset,
        "toggle" => FlowbitCmd::Toggle,
        "isset" => FlowbitCmd::IsSet,
        "isnotset" => FlowbitCmd::IsNotSet,
        "noalert" => FlowbitCmd::NoAlert,
        other => return Err(RuleError::invalid(K, format!("unknown command '{other}'"))),
    };
    if cmd == FlowbitCmd::NoAlert {
        if names.is_some() {
            return Err(RuleError::invalid(K, "noalert takes no name"));
        }
        return Ok(FlowbitOp {
            cmd,
            names: Vec::new(),
            any: false,
        });
    }
    let names = names
        .filter(|n| !n.is_empty())
        .ok_or_else(|| RuleError::invalid(K, "missing flowbit name"))?;
    let has_or = names.contains('|');
    let has_and = names.contains('&');
    if has_or && has_and {
        return Err(RuleError::invalid(K, "cannot mix '|' and '&'"));
    }
    if has_or
        && matches!(
            cmd,
            FlowbitCmd::Set | FlowbitCmd::Unset | FlowbitCmd::Toggle
        )
    {
        return Err(RuleError::invalid(
            K,
            "'|' is only allowed with isset/isnotset",
        ));
    }
    let list: Vec<Box<str>> = names
        .split(['|', '&'])
        .map(str::trim)
        .map(Box::from)
        .collect();
    if list
        .iter()
        .any(|n| n.is_empty() || n.contains(char::is_whitespace))
    {
        return Err(RuleError::invalid(
            K,
            format!("invalid flowbit name in '{names}'"),
        ));
    }
    Ok(FlowbitOp {
        cmd,
        names: list,
        any: has_or,
    })
}

/// `xbits: cmd, name, track ip_src|ip_dst|ip_pair|tx[, expire N]`.
pub fn xbits(v: &str) -> Result<XbitOp, RuleError> {
    const K: &str = "xbits";
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let [cmd, name, rest @ ..] = parts.as_slice() else {
        return Err(RuleError::invalid(K, "expected 'command, name, track ...'"));
    };
    let cmd = match *cmd {
        "set" => FlowbitCmd::Set,
        "unset" => FlowbitCmd::Unset,
        "toggle" => FlowbitCmd::Toggle,
        "isset" => FlowbitCmd::IsSet,
        "isnotset" => FlowbitCmd::IsNotSet,
        other => return Err(RuleError::invalid(K, format!("unknown command '{other}'"))),
    };
    if name.is_empty() || name.contains(char::is_whitespace) || name.contains(['|', '&']) {
        return Err(RuleError::invalid(K, format!("invalid name '{name}'")));
    }
    let (mut track, mut expire) = (None, None);
    for p in rest {
        let mut it = p.split_whitespace();
        match (it.next(), it.next(), it.next()) {
            (Some("track"), Some(t), None) => {
                let t = match t {
                    "ip_src" => XbitTrack::IpSrc,
                    "ip_dst" => XbitTrack::IpDst,
                    "ip_pair" => XbitTrack::IpPair,
                    "tx" => XbitTrack::Tx,
                    other => return Err(RuleError::invalid(K, format!("unknown track '{other}'"))),
                };
                if track.replace(t).is_some() {
                    return Err(RuleError::invalid(K, "track given twice"));
                }
            }
            (Some("expire"), Some(n), None) => {
                let n = u32::try_from(parse_u64(n, K, 1, u64::from(u32::MAX))?)
                    .map_err(|_| RuleError::invalid(K, "expire out of range"))?;
                if expire.replace(n).is_some() {
                    return Err(RuleError::invalid(K, "expire given twice"));
                }
            }
            _ => return Err(RuleError::invalid(K, format!("unknown option '{p}'"))),
        }
    }
    Ok(XbitOp {
        cmd,
        name: (*name).into(),
        track: track.ok_or_else(|| RuleError::invalid(K, "missing 'track'"))?,
        expire: expire.unwrap_or(0),
    })
}

/// `flowint: name, op[, value]`.
pub fn flowint(v: &str) -> Result<Flowint, RuleError> {
    const K: &str = "flowint";
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let (name, op, value) = match parts.as_slice() {
        [n, o] => (*n, *o, None),
        [n, o, val] => (*n, *o, Some(*val)),
        _ => return Err(RuleError::invalid(K, "expected 'name, operator[, value]'")),
    };
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(RuleError::invalid(K, format!("invalid name '{name}'")));
    }
    let op = match op {
        "=" => FlowintOp::Set,
        "+" => FlowintOp::Add,
        "-" => FlowintOp::Sub,
        "==" => FlowintOp::Eq,
        "!=" => FlowintOp::Ne,
        "<" => FlowintOp::Lt,
        "<=" => FlowintOp::Le,
        ">" => FlowintOp::Gt,
        ">=" => FlowintOp::Ge,
        "isset" => FlowintOp::IsSet,
        "notset" | "isnotset" => FlowintOp::NotSet,
        other => return Err(RuleError::invalid(K, format!("unknown operator '{other}'"))),
    };
    let needs_value = !matches!(op, FlowintOp::IsSet | FlowintOp::NotSet);
    let value = match (needs_value, value) {
        (true, Some(v)) => Some(match parse_plain_u64(v) {
            Some(n) if n <= u64::from(u32::MAX) => {
                Num::Lit(i64::from(u32::try_from(n).unwrap_or(u32::MAX)))
            }
            Some(_) => return Err(RuleError::invalid(K, "value out of range")),
            None if is_ident(v) || v.contains('.') => Num::Var(v.into()),
            None => return Err(RuleError::invalid(K, format!("invalid value '{v}'"))),
        }),
        (true, None) => return Err(RuleError::invalid(K, "missing value")),
        (false, Some(_)) => return Err(RuleError::invalid(K, "isset/notset take no value")),
        (false, None) => None,
    };
    Ok(Flowint {
        name: name.into(),
        op,
        value,
    })
}

/// `app-layer-event: [!]proto.event_name`.
pub fn app_layer_event(v: &str) -> Result<PacketMatch, RuleError> {
    const K: &str = "app-layer-event";
    let (negated, name) = negatable(v);
    let (proto, event) = name
        .split_once('.')
        .ok_or_else(|| RuleError::invalid(K, format!("'{name}' is not 'protocol.event'")))?;
    let proto_ok = AppProto::from_name(proto).is_some() || matches!(proto, "applayer" | "file");
    let event_ok = !event.is_empty()
        && event
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    if !proto_ok || !event_ok {
        return Err(RuleError::invalid(
            K,
            format!("'{name}' is not 'protocol.event'"),
        ));
    }
    Ok(PacketMatch::AppLayerEvent {
        name: name.into(),
        negated,
    })
}

/// `xor:"hexkey"`.
pub fn xor_key(v: &str) -> Result<Box<[u8]>, RuleError> {
    const K: &str = "xor";
    let s = super::options::unquote(v.trim());
    if s.is_empty() || s.len() % 2 != 0 || s.len() > 510 {
        return Err(RuleError::invalid(K, "key must be 1-255 bytes of hex"));
    }
    let mut out = Vec::with_capacity(s.len() / 2);
    for pair in s.as_bytes().chunks(2) {
        let txt = std::str::from_utf8(pair).map_err(|_| RuleError::invalid(K, "key is not hex"))?;
        out.push(u8::from_str_radix(txt, 16).map_err(|_| RuleError::invalid(K, "key is not hex"))?);
    }
    Ok(out.into_boxed_slice())
}

/// Checks on a finished buffer list: contents longer than `bsize` allows,
/// and contents a case transform makes impossible (as Suricata refuses).
pub fn check_list(l: &BufferList) -> Result<(), RuleError> {
    let case = l.transforms.iter().rev().find_map(|t| match t {
        Transform::ToLowercase => Some(true),
        Transform::ToUppercase => Some(false),
        _ => None,
    });
    if let Some(lower) = case {
        for m in &l.matches {
            if let Match::Content(c) = m {
                let bad = if lower {
                    c.pattern.iter().any(u8::is_ascii_uppercase)
                } else {
                    c.pattern.iter().any(u8::is_ascii_lowercase)
                };
                if bad && !c.nocase {
                    let t = if lower {
                        "to_lowercase"
                    } else {
                        "to_uppercase"
                    };
                    return Err(RuleError::invalid(
                        "content",
                        format!("pattern can never match after {t}"),
                    ));
                }
            }
        }
    }
    let max = l.matches.iter().find_map(|m| match m {
        Match::Bsize(c) => Some(c.max_value()),
        _ => None,
    });
    if let Some(Some(max)) = max {
        for m in &l.matches {
            if let Match::Content(c) = m {
                let len = u64::try_from(c.pattern.len()).unwrap_or(u64::MAX);
                if !c.negated && len > max {
                    return Err(RuleError::invalid(
                        "bsize",
                        format!("content of {len} bytes can never match a buffer of at most {max}"),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn uint_never_panics(s in "[0-9<>=!x -]{0,16}") {
            let _ = parse_uint(&s, "dsize", 65_535);
        }

        #[test]
        fn uint_matches_its_meaning(a in 0u64..1000, b in 0u64..1000, v in 0u64..1100) {
            let c = parse_uint(&format!("{a}"), "d", 2000).unwrap();
            proptest::prop_assert_eq!(c.matches(v), v == a);
            let c = parse_uint(&format!(">{a}"), "d", 2000).unwrap();
            proptest::prop_assert_eq!(c.matches(v), v > a);
            if a < b {
                let c = parse_uint(&format!("{a}<>{b}"), "d", 2000).unwrap();
                proptest::prop_assert_eq!(c.matches(v), v > a && v < b);
            }
        }
    }

    #[test]
    fn uint_forms() {
        assert_eq!(parse_uint("5", "d", 100).unwrap(), UintCmp::Eq(5));
        assert_eq!(parse_uint(">5", "d", 100).unwrap(), UintCmp::Gt(5));
        assert_eq!(parse_uint("<=5", "d", 100).unwrap(), UintCmp::Le(5));
        assert_eq!(parse_uint("!5", "d", 100).unwrap(), UintCmp::Ne(5));
        assert_eq!(
            parse_uint("3<>9", "d", 100).unwrap(),
            UintCmp::Between(3, 9)
        );
        assert_eq!(parse_uint("3-9", "d", 100).unwrap(), UintCmp::Between(3, 9));
        assert!(UintCmp::Between(3, 9).matches(4) && !UintCmp::Between(3, 9).matches(3));
        assert!(parse_uint("9<>3", "d", 100).is_err());
        assert!(parse_uint("101", "d", 100).is_err());
        assert!(parse_uint("x", "d", 100).is_err());
        assert_eq!(parse_uint("0x10", "d", 100).unwrap(), UintCmp::Eq(16));
        assert_eq!(
            parse_uint(" 5 <> 10 ", "d", 100).unwrap(),
            UintCmp::Between(5, 10)
        );
        assert_eq!(
            parse_uint("!2-4", "d", 100).unwrap(),
            UintCmp::NotBetween(2, 4)
        );
        assert_eq!(parse_uint("!=7", "d", 100).unwrap(), UintCmp::Ne(7));
        assert!(parse_uint("<", "d", 100).is_err());
        assert!(parse_uint("5 6", "d", 100).is_err());
        assert!(parse_uint("99999999999999999999999", "d", u64::MAX).is_err());
    }

    #[test]
    fn positions() {
        let mut c = Content::new(b"abcd".to_vec(), false);
        assert!(position_modifier(&mut c, "depth", Num::Lit(3)).is_err());
        position_modifier(&mut c, "depth", Num::Lit(4)).unwrap();
        assert!(position_modifier(&mut c, "distance", Num::Lit(0)).is_err());
        assert!(flag_modifier(&mut c, "startswith").is_err());
        let mut c = Content::new(b"abcd".to_vec(), false);
        position_modifier(&mut c, "distance", Num::Lit(-3)).unwrap();
        assert!(position_modifier(&mut c, "within", Num::Lit(2)).is_err());
        assert!(position_modifier(&mut c, "offset", Num::Lit(2)).is_err());
        let mut c = Content::new(b"abcd".to_vec(), false);
        flag_modifier(&mut c, "nocase").unwrap();
        assert!(flag_modifier(&mut c, "nocase").is_err());
    }

    #[test]
    fn byte_keywords() {
        let t = byte_test("2,>,1000,0,relative,little", &[]).unwrap();
        assert_eq!(
            (t.nbytes, t.op, t.endian, t.relative),
            (2, ByteOp::Gt, Endian::Little, true)
        );
        let t = byte_test("4,!&,0x80,2,string,hex", &[]).unwrap();
        assert!(t.negated && t.format == ByteFormat::Hex);
        let t = byte_test("1,!,5,0", &[]).unwrap();
        assert!(t.negated && t.op == ByteOp::Eq);
        assert!(byte_test("9,=,1,0", &[]).is_err());
        assert!(byte_test("0,=,1,0", &[]).is_err());
        assert_eq!(byte_test("0,<,1000,0,string,dec", &[]).unwrap().nbytes, 0);
        assert!(byte_jump("0,0,relative,post_offset -13", &[]).is_ok());
        assert!(byte_test("2,=,1", &[]).is_err());
        assert!(byte_test("2,~,1,0", &[]).is_err());
        assert!(byte_test("2,=,1,0,hex", &[]).is_err());
        let j = byte_jump("4,58,relative,little,post_offset -4,align", &[]).unwrap();
        assert_eq!((j.nbytes, j.post_offset, j.align), (4, -4, true));
        assert!(byte_jump("4", &[]).is_err());
        let e = byte_extract("2,0,len,relative,little").unwrap();
        assert_eq!(&*e.name, "len");
        let vars = vec![Box::<str>::from("len")];
        assert_eq!(
            isdataat("!len,relative", &vars).unwrap().pos,
            Num::Var("len".into())
        );
        assert!(isdataat("nope", &vars).is_err());
    }

    #[test]
    fn flow_and_flowbits() {
        let mut f = FlowOpts::default();
        flow("established,to_server", &mut f).unwrap();
        assert_eq!(f.dir, Some(FlowDir::ToServer));
        assert!(flow("to_client", &mut f).is_err());
        let mut g = FlowOpts::default();
        assert!(flow("established,not_established", &mut g).is_err());
        assert!(flow("sideways", &mut g).is_err());
        let b = flowbits("isset,a|b").unwrap();
        assert!(b.any && b.names.len() == 2);
        assert!(flowbits("set,a|b").is_err());
        assert!(flowbits("isset,a|b&c").is_err());
        assert!(flowbits("isset").is_err());
        assert_eq!(flowbits("noalert").unwrap().cmd, FlowbitCmd::NoAlert);
        assert!(flowbits("bogus,x").is_err());
        let x = xbits("set, ET.PROPFIND, track ip_src, expire 360").unwrap();
        assert_eq!(
            (x.cmd, x.track, x.expire),
            (FlowbitCmd::Set, XbitTrack::IpSrc, 360)
        );
        assert!(xbits("set,a").is_err());
        assert!(xbits("set,a,track host").is_err());
        assert!(xbits("noalert,a,track ip_src").is_err());
        assert!(app_layer_event("http.invalid_transfer_encoding_value_in_request").is_ok());
        assert!(app_layer_event("nodot").is_err());
        let f = flowint(" ET.infostealer.dll.download, +, 1").unwrap();
        assert_eq!((f.op, f.value), (FlowintOp::Add, Some(Num::Lit(1))));
        assert_eq!(flowint("a, isset").unwrap().op, FlowintOp::IsSet);
        assert!(flowint("a, isset, 1").is_err());
        assert!(flowint("a, +").is_err());
        assert!(flowint("a, %, 1").is_err());
        assert!(app_layer_event("gopher.x").is_err());
    }

    #[test]
    fn flags_and_protos() {
        let f = tcp_flags("S,12").unwrap();
        assert_eq!((f.flags, f.ignore, f.mode), (0x02, 0xC0, FlagsMode::Exact));
        let f = tcp_flags("SA+").unwrap();
        assert_eq!((f.flags, f.mode), (0x12, FlagsMode::All));
        assert_eq!(tcp_flags("!R").unwrap().mode, FlagsMode::Not);
        assert!(tcp_flags("SX").is_err());
        assert!(tcp_flags("+*S").is_err());
        assert_eq!(ip_proto("tcp").unwrap(), UintCmp::Eq(6));
        assert_eq!(ip_proto("!ipv6-icmp").unwrap(), UintCmp::Ne(58));
        assert_eq!(ip_proto(">10").unwrap(), UintCmp::Gt(10));
        assert!(ip_proto("300").is_err());
        assert!(ip_proto("bogus").is_err());
        assert_eq!(
            fragbits("M+").unwrap(),
            PacketMatch::FragBits {
                bits: 1,
                mode: FlagsMode::All
            }
        );
        assert!(fragbits("X").is_err());
        assert!(ipopts("lsrr").is_ok() && ipopts("bogus").is_err());
        assert_eq!(tls_version("1.2").unwrap(), PacketMatch::TlsVersion(0x0303));
        assert!(tls_version("9.9").is_err());
        assert_eq!(
            ssl_version("sslv3,!tls1.2").unwrap(),
            PacketMatch::SslVersion {
                any_of: 2,
                none_of: 16
            }
        );
        assert!(ssl_version("tls9").is_err());
    }

    #[test]
    fn misc_values() {
        let mut m = Vec::new();
        metadata(
            "created_at 2020_01_01, former_category MALWARE, taxonomy network_attack/scan",
            &mut m,
        );
        assert_eq!(m[2], ("taxonomy".into(), "network_attack/scan".into()));
        assert_eq!(reference("url,example.com/x").unwrap().0, "url");
        assert!(reference("cve").is_err());
        assert_eq!(target("dest_ip").unwrap(), Target::DestIp);
        assert!(target("x").is_err());
        assert_eq!(&*xor_key("\"0d0a\"").unwrap(), &[0x0d, 0x0a]);
        assert!(xor_key("\"0d0\"").is_err());
        assert!(stream_size("server,<,5").is_ok());
        assert!(stream_size("server,~,5").is_err());
        assert!(urilen("<100,raw").is_ok());
        assert!(app_layer_protocol("!http").is_ok());
        assert!(app_layer_protocol("gopher").is_err());
        assert_eq!(parse_num("-5", "distance", &[]).unwrap(), Num::Lit(-5));
        assert!(parse_num("70000", "distance", &[]).is_err());
    }
}
