//! Address and port sets of rule headers, and the expression language that
//! describes them (`any`, `$VAR`, `[list]`, `!negation`, CIDRs, ranges).
//!
//! Sets are stored as sorted, non-overlapping, non-adjacent inclusive ranges,
//! so membership is one binary search and set algebra is a linear merge.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use thiserror::Error;

/// Maximum nesting of `[...]` lists and `!` negations in one expression.
pub const MAX_EXPR_DEPTH: usize = 32;

/// Why an address or port expression is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ExprError {
    /// The text does not follow the expression grammar.
    #[error("syntax error at byte {pos}: {msg}")]
    Syntax {
        /// Byte offset inside the expression.
        pos: usize,
        /// What was expected.
        msg: &'static str,
    },
    /// A literal (address, CIDR, port, range) could not be read.
    #[error("invalid {kind} '{text}'")]
    Literal {
        /// `address` or `port`.
        kind: &'static str,
        /// The offending literal.
        text: String,
    },
    /// `$NAME` is not defined.
    #[error("unknown variable '${0}'")]
    UnknownVariable(String),
    /// `$NAME` is defined but its value is itself invalid.
    #[error("variable '${name}' is invalid: {reason}")]
    BadVariable {
        /// The variable.
        name: String,
        /// Why its value cannot be used.
        reason: String,
    },
    /// Variables refer to each other in a loop.
    #[error("variable '${0}' refers to itself (cycle)")]
    Cycle(String),
    /// Lists, negations or variables nest too deeply.
    #[error("expression nests deeper than {MAX_EXPR_DEPTH} levels")]
    TooDeep,
    /// The expression denotes the empty set (e.g. `!any`).
    #[error("expression matches nothing")]
    Empty,
}

/// A totally ordered point type with a successor and predecessor.
trait Point: Copy + Ord {
    const MIN: Self;
    const MAX: Self;
    fn succ(self) -> Option<Self>;
    fn pred(self) -> Option<Self>;
}

macro_rules! point {
    ($t:ty) => {
        impl Point for $t {
            const MIN: Self = <$t>::MIN;
            const MAX: Self = <$t>::MAX;
            fn succ(self) -> Option<Self> {
                self.checked_add(1)
            }
            fn pred(self) -> Option<Self> {
                self.checked_sub(1)
            }
        }
    };
}
point!(u16);
point!(u32);
point!(u128);

/// Sorts and merges overlapping or adjacent ranges.
fn normalize<T: Point>(mut v: Vec<(T, T)>) -> Vec<(T, T)> {
    v.retain(|&(lo, hi)| lo <= hi);
    v.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(v.len());
    for (lo, hi) in v {
        if let Some(last) = out.last_mut() {
            let touches = match last.1.succ() {
                Some(next) => lo <= next,
                None => true,
            };
            if touches {
                if hi > last.1 {
                    last.1 = hi;
                }
                continue;
            }
        }
        out.push((lo, hi));
    }
    out
}

fn complement<T: Point>(v: &[(T, T)]) -> Vec<(T, T)> {
    let mut out = Vec::with_capacity(v.len() + 1);
    let mut next = Some(T::MIN);
    for &(lo, hi) in v {
        if let Some(start) = next {
            if lo > start {
                if let Some(end) = lo.pred() {
                    out.push((start, end));
                }
            }
        }
        next = hi.succ();
    }
    if let Some(start) = next {
        out.push((start, T::MAX));
    }
    out
}

fn union<T: Point>(a: &[(T, T)], b: &[(T, T)]) -> Vec<(T, T)> {
    let mut v = Vec::with_capacity(a.len() + b.len());
    v.extend_from_slice(a);
    v.extend_from_slice(b);
    normalize(v)
}

fn minus<T: Point>(a: &[(T, T)], b: &[(T, T)]) -> Vec<(T, T)> {
    let nb = complement(b);
    intersect(a, &nb)
}

fn intersect<T: Point>(a: &[(T, T)], b: &[(T, T)]) -> Vec<(T, T)> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while let (Some(&(alo, ahi)), Some(&(blo, bhi))) = (a.get(i), b.get(j)) {
        let lo = alo.max(blo);
        let hi = ahi.min(bhi);
        if lo <= hi {
            out.push((lo, hi));
        }
        if ahi < bhi {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

fn contains<T: Point>(v: &[(T, T)], x: T) -> bool {
    let i = v.partition_point(|&(lo, _)| lo <= x);
    i.checked_sub(1)
        .and_then(|j| v.get(j))
        .is_some_and(|&(_, hi)| x <= hi)
}

/// A set of IPv4 and IPv6 addresses.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct AddrSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl AddrSet {
    /// Every address (`any`).
    pub fn any() -> Self {
        Self {
            v4: vec![(0, u32::MAX)],
            v6: vec![(0, u128::MAX)],
        }
    }

    /// No address.
    pub fn empty() -> Self {
        Self::default()
    }

    /// True when the set holds every IPv4 and IPv6 address.
    pub fn is_any(&self) -> bool {
        self.v4 == [(0, u32::MAX)] && self.v6 == [(0, u128::MAX)]
    }

    /// True when the set holds no address.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Membership test: one binary search.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => contains(&self.v4, u32::from(a)),
            IpAddr::V6(a) => contains(&self.v6, u128::from(a)),
        }
    }

    /// The IPv4 ranges, sorted and disjoint (inclusive bounds).
    pub fn v4_ranges(&self) -> &[(u32, u32)] {
        &self.v4
    }

    /// The IPv6 ranges, sorted and disjoint (inclusive bounds).
    pub fn v6_ranges(&self) -> &[(u128, u128)] {
        &self.v6
    }

    /// The union of two sets.
    pub fn union(&self, other: &Self) -> Self {
        Self {
            v4: union(&self.v4, &other.v4),
            v6: union(&self.v6, &other.v6),
        }
    }

    /// The addresses of `self` that are not in `other`.
    pub fn minus(&self, other: &Self) -> Self {
        Self {
            v4: minus(&self.v4, &other.v4),
            v6: minus(&self.v6, &other.v6),
        }
    }

    /// Every address not in `self`.
    pub fn complement(&self) -> Self {
        Self {
            v4: complement(&self.v4),
            v6: complement(&self.v6),
        }
    }

    /// Parses one address literal: an IPv4/IPv6 address, a CIDR
    /// (`10.0.0.0/8`, `2001:db8::/32`, `10.0.0.0/255.0.0.0`) or a range
    /// (`10.0.0.1-10.0.0.9`).
    pub fn parse_literal(s: &str) -> Result<Self, ExprError> {
        let bad = || ExprError::Literal {
            kind: "address",
            text: s.to_string(),
        };
        if let Some((a, b)) = s.split_once('-') {
            let a: IpAddr = a.trim().parse().map_err(|_| bad())?;
            let b: IpAddr = b.trim().parse().map_err(|_| bad())?;
            return match (a, b) {
                (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => Ok(Self {
                    v4: vec![(u32::from(a), u32::from(b))],
                    v6: Vec::new(),
                }),
                (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => Ok(Self {
                    v4: Vec::new(),
                    v6: vec![(u128::from(a), u128::from(b))],
                }),
                _ => Err(bad()),
            };
        }
        let (ip, mask) = match s.split_once('/') {
            Some((ip, mask)) => (ip, Some(mask)),
            None => (s, None),
        };
        let ip: IpAddr = ip.parse().map_err(|_| bad())?;
        match ip {
            IpAddr::V4(a) => {
                let prefix = match mask {
                    None => 32,
                    Some(m) => match m.parse::<u32>() {
                        Ok(p) if p <= 32 => p,
                        Ok(_) => return Err(bad()),
                        Err(_) => {
                            let m: Ipv4Addr = m.parse().map_err(|_| bad())?;
                            let m = u32::from(m);
                            // A netmask must be contiguous ones.
                            if m.leading_ones() + m.trailing_zeros() != 32 {
                                return Err(bad());
                            }
                            m.leading_ones()
                        }
                    },
                };
                let host_bits = 32 - prefix;
                let span = u32::MAX.checked_shr(prefix).unwrap_or(0);
                let lo = if host_bits == 32 {
                    0
                } else {
                    u32::from(a) & !span
                };
                Ok(Self {
                    v4: vec![(lo, lo | span)],
                    v6: Vec::new(),
                })
            }
            IpAddr::V6(a) => {
                let prefix = match mask {
                    None => 128,
                    Some(m) => match m.parse::<u32>() {
                        Ok(p) if p <= 128 => p,
                        _ => return Err(bad()),
                    },
                };
                let span = u128::MAX.checked_shr(prefix).unwrap_or(0);
                let lo = if prefix == 0 {
                    0
                } else {
                    u128::from(a) & !span
                };
                Ok(Self {
                    v4: Vec::new(),
                    v6: vec![(lo, lo | span)],
                })
            }
        }
    }
}

impl fmt::Display for AddrSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_any() {
            return f.write_str("any");
        }
        f.write_str("[")?;
        let mut first = true;
        for &(lo, hi) in &self.v4 {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{}-{}", Ipv4Addr::from(lo), Ipv4Addr::from(hi))?;
        }
        for &(lo, hi) in &self.v6 {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{}-{}", Ipv6Addr::from(lo), Ipv6Addr::from(hi))?;
        }
        f.write_str("]")
    }
}

/// A set of TCP/UDP ports.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct PortSet {
    ranges: Vec<(u16, u16)>,
}

impl PortSet {
    /// Every port (`any`).
    pub fn any() -> Self {
        Self {
            ranges: vec![(0, u16::MAX)],
        }
    }

    /// No port.
    pub fn empty() -> Self {
        Self::default()
    }

    /// True when every port is in the set.
    pub fn is_any(&self) -> bool {
        self.ranges == [(0, u16::MAX)]
    }

    /// True when no port is in the set.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Membership test: one binary search.
    pub fn contains(&self, port: u16) -> bool {
        contains(&self.ranges, port)
    }

    /// The ranges, sorted and disjoint (inclusive bounds).
    pub fn ranges(&self) -> &[(u16, u16)] {
        &self.ranges
    }

    /// The union of two sets.
    pub fn union(&self, other: &Self) -> Self {
        Self {
            ranges: union(&self.ranges, &other.ranges),
        }
    }

    /// The ports of `self` that are not in `other`.
    pub fn minus(&self, other: &Self) -> Self {
        Self {
            ranges: minus(&self.ranges, &other.ranges),
        }
    }

    /// Every port not in `self`.
    pub fn complement(&self) -> Self {
        Self {
            ranges: complement(&self.ranges),
        }
    }

    /// Parses one port literal: `80`, `80:90`, `1024:` or `:1023`.
    pub fn parse_literal(s: &str) -> Result<Self, ExprError> {
        let bad = || ExprError::Literal {
            kind: "port",
            text: s.to_string(),
        };
        let num = |t: &str| -> Result<u16, ExprError> {
            let t = t.trim();
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            t.parse::<u16>().map_err(|_| bad())
        };
        let (lo, hi) = match s.split_once(':') {
            None => {
                let p = num(s)?;
                (p, p)
            }
            Some((a, b)) => {
                let lo = if a.trim().is_empty() { 0 } else { num(a)? };
                let hi = if b.trim().is_empty() {
                    u16::MAX
                } else {
                    num(b)?
                };
                if a.trim().is_empty() && b.trim().is_empty() {
                    return Err(bad());
                }
                (lo, hi)
            }
        };
        if lo > hi {
            return Err(bad());
        }
        Ok(Self {
            ranges: vec![(lo, hi)],
        })
    }
}

impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_any() {
            return f.write_str("any");
        }
        f.write_str("[")?;
        for (i, &(lo, hi)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}:{hi}")?;
            }
        }
        f.write_str("]")
    }
}

/// The set algebra the expression parser needs.
pub(crate) trait SetExpr: Sized + Clone {
    fn any() -> Self;
    fn union(&self, other: &Self) -> Self;
    fn minus(&self, other: &Self) -> Self;
    fn complement(&self) -> Self;
    fn is_empty(&self) -> bool;
    fn parse_literal(s: &str) -> Result<Self, ExprError>;
}

macro_rules! set_expr {
    ($t:ty) => {
        impl SetExpr for $t {
            fn any() -> Self {
                <$t>::any()
            }
            fn union(&self, other: &Self) -> Self {
                <$t>::union(self, other)
            }
            fn minus(&self, other: &Self) -> Self {
                <$t>::minus(self, other)
            }
            fn complement(&self) -> Self {
                <$t>::complement(self)
            }
            fn is_empty(&self) -> bool {
                <$t>::is_empty(self)
            }
            fn parse_literal(s: &str) -> Result<Self, ExprError> {
                <$t>::parse_literal(s)
            }
        }
    };
}
set_expr!(AddrSet);
set_expr!(PortSet);

/// Recursive-descent parser for set expressions.
struct ExprParser<'a, 'f, S> {
    s: &'a str,
    pos: usize,
    lookup: &'f mut dyn FnMut(&str) -> Result<S, ExprError>,
}

impl<S: SetExpr> ExprParser<'_, '_, S> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn err(&self, msg: &'static str) -> ExprError {
        ExprError::Syntax { pos: self.pos, msg }
    }

    /// One item: optional `!`s, then a list, a variable, `any` or a literal.
    /// Returns (negated, set).
    fn item(&mut self, depth: usize) -> Result<(bool, S), ExprError> {
        if depth > MAX_EXPR_DEPTH {
            return Err(ExprError::TooDeep);
        }
        self.skip_ws();
        let mut neg = false;
        while self.peek() == Some(b'!') {
            neg = !neg;
            self.pos += 1;
            self.skip_ws();
        }
        match self.peek() {
            None => Err(self.err("expected an address, port, list or variable")),
            Some(b'[') => {
                self.pos += 1;
                let set = self.list(depth + 1)?;
                Ok((neg, set))
            }
            Some(b'$') => {
                self.pos += 1;
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    self.pos += 1;
                }
                let name = self.s.get(start..self.pos).unwrap_or("");
                if name.is_empty() {
                    return Err(self.err("expected a variable name after '$'"));
                }
                let set = (self.lookup)(name)?;
                Ok((neg, set))
            }
            Some(_) => {
                let start = self.pos;
                while self.peek().is_some_and(|b| {
                    b != b',' && b != b']' && b != b'[' && !b.is_ascii_whitespace()
                }) {
                    self.pos += 1;
                }
                let text = self.s.get(start..self.pos).unwrap_or("");
                if text.is_empty() {
                    return Err(self.err("empty item"));
                }
                if text.eq_ignore_ascii_case("any") {
                    return Ok((neg, S::any()));
                }
                Ok((neg, S::parse_literal(text)?))
            }
        }
    }

    /// The rest of a list after `[`: items separated by `,`, up to `]`.
    /// Positives are united (all when there are none), negatives removed.
    fn list(&mut self, depth: usize) -> Result<S, ExprError> {
        let mut pos: Option<S> = None;
        let mut neg: Option<S> = None;
        loop {
            let (n, set) = self.item(depth)?;
            let slot = if n { &mut neg } else { &mut pos };
            *slot = Some(match slot.take() {
                Some(acc) => acc.union(&set),
                None => set,
            });
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(self.err("expected ',' or ']' in list")),
            }
        }
        let base = pos.unwrap_or_else(S::any);
        Ok(match neg {
            Some(n) => base.minus(&n),
            None => base,
        })
    }
}

/// Parses a whole expression; `lookup` resolves `$NAME` (without the `$`).
pub(crate) fn parse_expr<S: SetExpr>(
    s: &str,
    lookup: &mut dyn FnMut(&str) -> Result<S, ExprError>,
) -> Result<S, ExprError> {
    let mut p = ExprParser { s, pos: 0, lookup };
    let (neg, set) = p.item(0)?;
    p.skip_ws();
    if p.pos != s.len() {
        return Err(p.err("unexpected text after expression"));
    }
    let set = if neg { set.complement() } else { set };
    if set.is_empty() {
        return Err(ExprError::Empty);
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_vars<S>(name: &str) -> Result<S, ExprError> {
        Err(ExprError::UnknownVariable(name.to_string()))
    }

    fn addr(s: &str) -> Result<AddrSet, ExprError> {
        parse_expr(s, &mut no_vars)
    }

    fn port(s: &str) -> Result<PortSet, ExprError> {
        parse_expr(s, &mut no_vars)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_and_negation() {
        let s = addr("[10.0.0.0/8,!10.1.0.0/16]").unwrap();
        assert!(s.contains(ip("10.2.3.4")));
        assert!(!s.contains(ip("10.1.3.4")));
        assert!(!s.contains(ip("11.0.0.1")));
        let n = addr("!10.0.0.0/8").unwrap();
        assert!(n.contains(ip("11.0.0.1")));
        assert!(n.contains(ip("::1")));
        assert!(!n.contains(ip("10.9.9.9")));
    }

    #[test]
    fn nested_lists_and_only_negatives() {
        let s = addr("[![1.1.1.0/24, !1.1.1.1], 2.2.2.2]").unwrap();
        assert!(s.contains(ip("2.2.2.2")));
        assert!(!s.contains(ip("3.3.3.3")));
        let only_neg = addr("[!1.1.1.1]").unwrap();
        assert!(only_neg.contains(ip("1.1.1.2")));
        assert!(!only_neg.contains(ip("1.1.1.1")));
    }

    #[test]
    fn ipv6_mask_and_range() {
        let s = addr("2001:db8::/32").unwrap();
        assert!(s.contains(ip("2001:db8::1")));
        assert!(!s.contains(ip("2001:db9::1")));
        assert!(addr("10.0.0.0/255.255.0.0")
            .unwrap()
            .contains(ip("10.0.200.1")));
        assert!(addr("10.0.0.0/255.0.255.0").is_err());
        let r = addr("10.0.0.5-10.0.0.9").unwrap();
        assert!(r.contains(ip("10.0.0.9")) && !r.contains(ip("10.0.0.10")));
        assert!(addr("0.0.0.0/0").unwrap().contains(ip("255.255.255.255")));
    }

    #[test]
    fn errors() {
        assert_eq!(addr("!any"), Err(ExprError::Empty));
        assert!(addr("[1.1.1.1").is_err());
        assert!(addr("1.1.1.1/33").is_err());
        assert!(addr("$NOPE").is_err());
        assert!(addr("[]").is_err());
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert_eq!(addr(&deep), Err(ExprError::TooDeep));
    }

    #[test]
    fn ports() {
        let p = port("[80,8000:8080,!8001]").unwrap();
        assert!(p.contains(80) && p.contains(8080) && !p.contains(8001) && !p.contains(81));
        let hi = port("1024:").unwrap();
        assert!(hi.contains(65535) && !hi.contains(1023));
        let lo = port(":1023").unwrap();
        assert!(lo.contains(0) && lo.contains(1023) && !lo.contains(1024));
        assert!(port("!80").unwrap().contains(81));
        assert!(port("90:80").is_err());
        assert!(port("65536").is_err());
        assert!(port(":").is_err());
        assert!(port("any").unwrap().is_any());
    }

    proptest::proptest! {
        #[test]
        fn any_text_never_panics(s in "\\PC{0,64}") {
            let _ = addr(&s);
            let _ = port(&s);
        }

        #[test]
        fn list_semantics_match_a_naive_model(
            items in proptest::collection::vec((proptest::bool::ANY, 0u8..4, 0u8..=32), 1..6),
            probe in proptest::collection::vec((0u8..4, proptest::num::u8::ANY), 1..16),
        ) {
            // Items are `[!]10.N.0.0/P`-style CIDRs over a small space so
            // that they overlap often.
            let cidr = |n: u8, p: u8| -> (u32, u32) {
                let base = u32::from(Ipv4Addr::new(10, n, 0, 0));
                let span = u32::MAX.checked_shr(u32::from(p)).unwrap_or(0);
                (base & !span, (base & !span) | span)
            };
            let text = format!(
                "[{}]",
                items
                    .iter()
                    .map(|&(neg, n, p)| format!("{}10.{n}.0.0/{p}", if neg { "!" } else { "" }))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let any_pos = items.iter().any(|&(neg, _, _)| !neg);
            let model = |ip: u32| -> bool {
                let inside = |&(_, n, p): &(bool, u8, u8)| {
                    let (lo, hi) = cidr(n, p);
                    (lo..=hi).contains(&ip)
                };
                let pos = !any_pos || items.iter().filter(|i| !i.0).any(inside);
                let neg = items.iter().filter(|i| i.0).any(inside);
                pos && !neg
            };
            match addr(&text) {
                Ok(set) => {
                    for &(n, h) in &probe {
                        let ip = u32::from(Ipv4Addr::new(10, n, h, 1));
                        proptest::prop_assert_eq!(set.contains(IpAddr::V4(Ipv4Addr::from(ip))), model(ip), "{}", text);
                    }
                }
                Err(ExprError::Empty) => {
                    for &(n, h) in &probe {
                        let ip = u32::from(Ipv4Addr::new(10, n, h, 1));
                        proptest::prop_assert!(!model(ip), "{}", text);
                    }
                }
                Err(e) => proptest::prop_assert!(false, "{text}: {e}"),
            }
        }

        #[test]
        fn port_algebra(a in 0u16..1000, b in 0u16..1000, x in 0u16..1100) {
            let (lo, hi) = (a.min(b), a.max(b));
            let set = PortSet::parse_literal(&format!("{lo}:{hi}")).unwrap();
            proptest::prop_assert_eq!(set.contains(x), (lo..=hi).contains(&x));
            proptest::prop_assert_eq!(set.complement().contains(x), !(lo..=hi).contains(&x));
        }
    }
}
