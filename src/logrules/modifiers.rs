//! Field values and modifiers: `contains`, `startswith`, `endswith`,
//! `all`, `cased`, `cidr`, `exists`, `gt`/`gte`/`lt`/`lte`, `base64`,
//! `base64offset`, `windash`, `expand`, `re` (with `i`, `m`, `s`);
//! anything else is rejected by name.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ipnet::IpNet;
use serde_yaml_ng::Value;

use super::pattern::{escape, Pattern};
use super::rule::{field_err, scalar_text, LoadOptions, RuleError};

/// Most values one field test may list (hostile input bound).
const MAX_VALUES: usize = 4096;

/// Longest `re` pattern accepted, in bytes.
pub const MAX_REGEX_LEN: usize = 4096;

/// PCRE2 match limit of every `re` value: how many times the matcher may
/// call its internal match function for one subject before it gives up
/// (PCRE2's default is 10 000 000). Catastrophic backtracking on a hostile
/// line costs at most this much work.
pub const REGEX_MATCH_LIMIT: u32 = 100_000;

/// PCRE2 heap limit of every `re` value, in KiB (PCRE2's default is 20 GB).
pub const REGEX_HEAP_LIMIT_KIB: u32 = 1024;

/// Matches of `re` values abandoned because they hit a limit (counted as
/// no match).
static REGEX_LIMIT_HITS: AtomicU64 = AtomicU64::new(0);

/// How many `re` matches were abandoned at [`REGEX_MATCH_LIMIT`] or
/// [`REGEX_HEAP_LIMIT_KIB`] since the process started (for metrics); such
/// a value counts as not matching.
pub fn regex_limit_hits() -> u64 {
    REGEX_LIMIT_HITS.load(Ordering::Relaxed)
}

/// Compiles a Sigma `re` value: PCRE2 (Sigma's flavour), case-sensitive
/// unless `i`, `^`/`$` at line ends with `m`, `.` matching newline with
/// `s`; UTF-8 mode; JIT when available. The match and heap limits are set
/// in the pattern (`(*LIMIT_MATCH=..)(*LIMIT_HEAP=..)`); a pattern that
/// sets its own limits is rejected so it cannot raise them.
pub fn compile_regex(
    pattern: &str,
    caseless: bool,
    multi_line: bool,
    dotall: bool,
) -> Result<pcre2::bytes::Regex, String> {
    if pattern.len() > MAX_REGEX_LEN {
        return Err(format!("regex longer than {MAX_REGEX_LEN} bytes"));
    }
    if pattern.starts_with("(*") {
        return Err("regex start-of-pattern settings `(*...)` are not allowed".into());
    }
    let full =
        format!("(*LIMIT_MATCH={REGEX_MATCH_LIMIT})(*LIMIT_HEAP={REGEX_HEAP_LIMIT_KIB}){pattern}");
    pcre2::bytes::RegexBuilder::new()
        .utf(true)
        .caseless(caseless)
        .multi_line(multi_line)
        .dotall(dotall)
        .jit_if_available(true)
        .build(&full)
        .map_err(|e| format!("regex does not compile: {e}"))
}

/// A numeric comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// >
    Gt,
    /// >=
    Gte,
    /// <
    Lt,
    /// <=
    Lte,
    /// ==
    Eq,
    /// !=
    Neq,
}

impl CmpOp {
    pub(crate) fn parse(s: &str) -> Option<CmpOp> {
        Some(match s {
            "gt" => CmpOp::Gt,
            "gte" => CmpOp::Gte,
            "lt" => CmpOp::Lt,
            "lte" => CmpOp::Lte,
            "eq" => CmpOp::Eq,
            "neq" => CmpOp::Neq,
            _ => return None,
        })
    }

    /// `a op b`.
    pub fn eval<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Gt => a > b,
            CmpOp::Gte => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Lte => a <= b,
            CmpOp::Eq => a == b,
            CmpOp::Neq => a != b,
        }
    }
}

/// One value test.
#[derive(Clone, Debug)]
pub(crate) enum Matcher {
    Str(Pattern),
    Cidr(IpNet),
    Num(CmpOp, f64),
    Re(Arc<pcre2::bytes::Regex>),
}

impl Matcher {
    pub(crate) fn matches(&self, v: &str) -> bool {
        match self {
            Matcher::Str(p) => p.matches(v),
            Matcher::Cidr(n) => v
                .trim()
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| n.contains(&ip)),
            Matcher::Num(op, n) => v.trim().parse::<f64>().is_ok_and(|x| op.eval(x, *n)),
            Matcher::Re(re) => match re.is_match(v.as_bytes()) {
                Ok(m) => m,
                Err(_) => {
                    // Match or heap limit: counted, and not a match.
                    REGEX_LIMIT_HITS.fetch_add(1, Ordering::Relaxed);
                    false
                }
            },
        }
    }
}

/// The test one `field|modifiers: values` entry makes.
#[derive(Clone, Debug)]
pub(crate) enum ValueTest {
    /// Any of the values matches.
    Any(Vec<Matcher>),
    /// All of them match (`all` modifier).
    All(Vec<Matcher>),
    /// `exists: true/false`.
    Exists(bool),
    /// `null`: the field is absent or empty.
    Null,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Plain,
    Contains,
    Starts,
    Ends,
}

pub(crate) fn values(
    at: &str,
    mods: &[&str],
    v: &Value,
    opts: &LoadOptions,
    keyword: bool,
) -> Result<ValueTest, RuleError> {
    let mut shape = if keyword {
        Shape::Contains
    } else {
        Shape::Plain
    };
    let (mut all, mut cased, mut cidr, mut exists) = (false, false, false, false);
    let (mut re, mut re_i, mut re_m, mut re_s) = (false, false, false, false);
    let mut num: Option<CmpOp> = None;
    let mut transforms: Vec<&str> = Vec::new();
    for &m in mods {
        match m {
            "contains" => shape = Shape::Contains,
            "startswith" => shape = Shape::Starts,
            "endswith" => shape = Shape::Ends,
            "all" => all = true,
            "cased" => cased = true,
            "cidr" => cidr = true,
            "exists" => exists = true,
            "gt" | "gte" | "lt" | "lte" => num = CmpOp::parse(m),
            "base64" | "base64offset" | "windash" | "expand" => transforms.push(m),
            "re" => re = true,
            "i" if re => re_i = true,
            "m" if re => re_m = true,
            "s" if re => re_s = true,
            _ => return Err(RuleError::UnsupportedModifier(m.to_owned())),
        }
    }
    let explicit_shape = mods
        .iter()
        .any(|m| matches!(*m, "contains" | "startswith" | "endswith"));
    if re && (explicit_shape || cidr || exists || num.is_some() || !transforms.is_empty()) {
        return Err(field_err(
            at,
            "`re` combines only with `all`, `cased` and its flags `i`, `m`, `s`",
        ));
    }
    // Collect raw values.
    let raw: Vec<Option<String>> = match v {
        Value::Sequence(seq) => {
            if seq.len() > MAX_VALUES {
                return Err(field_err(at, "too many values"));
            }
            seq.iter()
                .map(|x| match x {
                    Value::Null => Ok(None),
                    _ => scalar_text(x)
                        .map(Some)
                        .ok_or_else(|| field_err(at, "values must be scalars")),
                })
                .collect::<Result<_, _>>()?
        }
        Value::Null => vec![None],
        _ => vec![Some(
            scalar_text(v).ok_or_else(|| field_err(at, "values must be scalars"))?,
        )],
    };
    if exists {
        return match v {
            Value::Bool(b) => Ok(ValueTest::Exists(*b)),
            _ => Err(field_err(at, "`exists` takes true or false")),
        };
    }
    if raw.len() == 1 && raw.first() == Some(&None) {
        return Ok(ValueTest::Null);
    }
    let mut texts: Vec<String> = Vec::with_capacity(raw.len());
    for r in raw {
        match r {
            Some(s) => texts.push(s),
            None => {
                return Err(RuleError::Unsupported(format!(
                    "{at}: null inside a value list"
                )))
            }
        }
    }
    // base64 and friends produce literal text; `expand` yields plain values.
    let mut literal = false;
    for t in transforms {
        texts = match t {
            "expand" => expand(&texts, opts)?,
            "windash" => windash(&texts),
            "base64" => {
                literal = true;
                texts.iter().map(|s| base64(s.as_bytes())).collect()
            }
            "base64offset" => {
                literal = true;
                texts
                    .iter()
                    .flat_map(|s| base64_offsets(s.as_bytes()))
                    .collect()
            }
            _ => texts,
        };
        if texts.len() > MAX_VALUES {
            return Err(field_err(at, "too many values after expansion"));
        }
    }
    let mut ms = Vec::with_capacity(texts.len());
    for s in texts {
        let m = if re {
            Matcher::Re(Arc::new(
                compile_regex(&s, re_i, re_m, re_s).map_err(|e| field_err(at, e))?,
            ))
        } else if let Some(op) = num {
            let n: f64 = s
                .trim()
                .parse()
                .map_err(|_| field_err(at, format!("`{s}` is not a number")))?;
            Matcher::Num(op, n)
        } else if cidr {
            Matcher::Cidr(
                s.trim()
                    .parse()
                    .map_err(|_| field_err(at, format!("`{s}` is not a CIDR")))?,
            )
        } else {
            let body = if literal { escape(&s) } else { s };
            let text = match shape {
                Shape::Plain => body,
                Shape::Contains => format!("*{body}*"),
                Shape::Starts => format!("{body}*"),
                Shape::Ends => format!("*{body}"),
            };
            Matcher::Str(Pattern::new(&text, cased))
        };
        ms.push(m);
    }
    Ok(if all {
        ValueTest::All(ms)
    } else {
        ValueTest::Any(ms)
    })
}

/// `%name%` placeholders (Sigma `expand`) to the configured lists.
fn expand(texts: &[String], opts: &LoadOptions) -> Result<Vec<String>, RuleError> {
    let mut out = Vec::new();
    for t in texts {
        let trimmed = t.trim();
        if let Some(name) = trimmed
            .strip_prefix('%')
            .and_then(|r| r.strip_suffix('%'))
            .filter(|n| !n.is_empty() && !n.contains('%'))
        {
            let vals = opts
                .placeholders
                .get(name)
                .ok_or_else(|| RuleError::Placeholder(name.to_owned()))?;
            out.extend(vals.iter().map(|v| escape(v)));
        } else {
            out.push(t.clone());
        }
    }
    Ok(out)
}

/// Sigma `windash`: every `-` that starts a word also as `/`, en dash, em
/// dash and horizontal bar (all dashes of a value replaced together).
fn windash(texts: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(texts.len() * 5);
    for t in texts {
        out.push(t.clone());
        for alt in ['/', '\u{2013}', '\u{2014}', '\u{2015}'] {
            let mut s = String::with_capacity(t.len());
            let mut prev_space = true;
            for c in t.chars() {
                if c == '-' && prev_space {
                    s.push(alt);
                } else {
                    s.push(c);
                }
                prev_space = c == ' ';
            }
            if s != *t {
                out.push(s);
            }
        }
    }
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = ((n >> (18 - 6 * i)) & 63) as usize;
                s.push(char::from(B64.get(idx).copied().unwrap_or(b'A')));
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// The three `base64offset` variants: the encoding of the value at byte
/// offsets 0, 1, 2 of a longer text, trimmed to the characters that do not
/// depend on the unknown neighbours.
fn base64_offsets(v: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    const END_TRIM: [usize; 3] = [0, 3, 2];
    let mut out = Vec::with_capacity(3);
    for i in 0..3usize {
        let mut buf = vec![b' '; i];
        buf.extend_from_slice(v);
        let enc = base64(&buf);
        let end_trim = END_TRIM.get((v.len() + i) % 3).copied().unwrap_or(0);
        let start = START.get(i).copied().unwrap_or(0);
        let end = enc.len().saturating_sub(end_trim);
        if let Some(s) = enc.get(start..end) {
            if !s.is_empty() {
                out.push(s.to_owned());
            }
        }
    }
    out
}
