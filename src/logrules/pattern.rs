//! Value patterns of Sigma detections: plain strings with `*`/`?` wildcards
//! and `\` escapes, matched case-insensitively (ASCII) by default.
//!
//! A pattern is classified once at load time (exact, prefix, suffix,
//! contains, general glob) so the common cases need no backtracking and no
//! allocation per line.

/// One piece of a glob.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    /// Literal text (already lower-cased when matching is case-insensitive).
    Lit(String),
    /// `*`: any run of characters, possibly empty.
    Star,
    /// `?`: exactly one character.
    One,
}

/// A compiled string pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    kind: Kind,
    cased: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    /// `*` alone: any value, even empty.
    Any,
    Glob(Vec<Tok>),
}

/// Split Sigma value text into tokens: `*` and `?` are wildcards, `\*`,
/// `\?` and `\\` are the literal characters, any other `\` is literal.
fn tokenize(text: &str, cased: bool) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut lit = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    lit.push(n);
                    chars.next();
                }
                _ => lit.push('\\'),
            },
            '*' | '?' => {
                if !lit.is_empty() {
                    toks.push(Tok::Lit(std::mem::take(&mut lit)));
                }
                let t = if c == '*' { Tok::Star } else { Tok::One };
                // `**` is the same as `*`.
                if !(t == Tok::Star && toks.last() == Some(&Tok::Star)) {
                    toks.push(t);
                }
            }
            _ => lit.push(c),
        }
    }
    if !lit.is_empty() {
        toks.push(Tok::Lit(lit));
    }
    if !cased {
        for t in &mut toks {
            if let Tok::Lit(s) = t {
                *s = s.to_lowercase();
            }
        }
    }
    toks
}

/// Escape `*`, `?` and `\` so `text` is matched literally.
pub fn escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

impl Pattern {
    /// Compile Sigma value text (wildcards and escapes); `cased` selects
    /// case-sensitive matching (the `cased` modifier).
    pub fn new(text: &str, cased: bool) -> Pattern {
        let toks = tokenize(text, cased);
        let kind = match toks.as_slice() {
            [] => Kind::Exact(String::new()),
            [Tok::Star] => Kind::Any,
            [Tok::Lit(a)] => Kind::Exact(a.clone()),
            [Tok::Lit(a), Tok::Star] => Kind::Prefix(a.clone()),
            [Tok::Star, Tok::Lit(a)] => Kind::Suffix(a.clone()),
            [Tok::Star, Tok::Lit(a), Tok::Star] => Kind::Contains(a.clone()),
            _ => Kind::Glob(toks),
        };
        Pattern { kind, cased }
    }

    /// Does `hay` match? Case-insensitive patterns fold ASCII case on the
    /// fly (no allocation); other characters compare exactly after the
    /// pattern was lower-cased.
    pub fn matches(&self, hay: &str) -> bool {
        let h = hay.as_bytes();
        let eq = |a: &[u8], b: &[u8]| -> bool {
            if self.cased {
                a == b
            } else {
                a.eq_ignore_ascii_case(b)
            }
        };
        match &self.kind {
            Kind::Any => true,
            Kind::Exact(p) => h.len() == p.len() && eq(h, p.as_bytes()),
            Kind::Prefix(p) => h.get(..p.len()).is_some_and(|x| eq(x, p.as_bytes())),
            Kind::Suffix(p) => h
                .len()
                .checked_sub(p.len())
                .and_then(|i| h.get(i..))
                .is_some_and(|x| eq(x, p.as_bytes())),
            Kind::Contains(p) => find(h, p.as_bytes(), self.cased).is_some(),
            Kind::Glob(toks) => glob(toks, h, self.cased),
        }
    }
}

/// Position of `needle` in `hay`, folding ASCII case unless `cased`.
fn find(hay: &[u8], needle: &[u8], cased: bool) -> Option<usize> {
    if cased {
        return memchr::memmem::find(hay, needle);
    }
    if needle.is_empty() {
        return Some(0);
    }
    let first = needle.first()?;
    let (lo, up) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    let last_start = hay.len().checked_sub(needle.len())?;
    let mut i = 0;
    while i <= last_start {
        let rest = hay.get(i..=last_start)?;
        let off = memchr::memchr2(lo, up, rest)?;
        let at = i + off;
        if hay
            .get(at..at + needle.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(needle))
        {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

/// Length in bytes of the UTF-8 character starting with `b`.
fn char_len(b: u8) -> usize {
    match b {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Glob match with one backtrack point per `*` (iterative, O(n·m)).
fn glob(toks: &[Tok], h: &[u8], cased: bool) -> bool {
    let (mut ti, mut hi) = (0usize, 0usize);
    // (token index after the star, hay position to retry from)
    let mut star: Option<(usize, usize)> = None;
    loop {
        let step = match toks.get(ti) {
            None if hi >= h.len() => return true,
            None => None,
            Some(Tok::Star) => {
                star = Some((ti + 1, hi));
                ti += 1;
                continue;
            }
            Some(Tok::One) => h.get(hi).map(|&b| char_len(b)),
            Some(Tok::Lit(l)) => {
                let lb = l.as_bytes();
                match h.get(hi..hi + lb.len()) {
                    Some(w) if (cased && w == lb) || (!cased && w.eq_ignore_ascii_case(lb)) => {
                        Some(lb.len())
                    }
                    _ => None,
                }
            }
        };
        match step {
            Some(n) => {
                ti += 1;
                hi = hi.saturating_add(n);
            }
            None => match star {
                Some((st, sh)) if sh < h.len() => {
                    let next = sh + h.get(sh).map_or(1, |&b| char_len(b));
                    star = Some((st, next));
                    ti = st;
                    hi = next;
                }
                _ => return false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn classes() {
        assert!(Pattern::new("Root", false).matches("root"));
        assert!(!Pattern::new("Root", true).matches("root"));
        assert!(Pattern::new("abc*", false).matches("ABCdef"));
        assert!(Pattern::new("*def", false).matches("abcDEF"));
        assert!(Pattern::new("*cd*", false).matches("abcdef"));
        assert!(!Pattern::new("*xy*", false).matches("abcdef"));
        assert!(Pattern::new("*", false).matches(""));
        assert!(Pattern::new("", false).matches(""));
        assert!(!Pattern::new("", false).matches("a"));
    }

    #[test]
    fn globs_and_escapes() {
        assert!(Pattern::new("a?c", false).matches("abc"));
        assert!(!Pattern::new("a?c", false).matches("ac"));
        assert!(Pattern::new("a*b*c", false).matches("axxbyyc"));
        assert!(!Pattern::new("a*b*c", false).matches("axxbyy"));
        assert!(Pattern::new(r"a\*b", false).matches("a*b"));
        assert!(!Pattern::new(r"a\*b", false).matches("axb"));
        assert!(Pattern::new(r"a\?", false).matches("a?"));
        assert!(Pattern::new(r"c:\\dir", false).matches(r"c:\dir"));
        assert!(Pattern::new(r"c:\dir", false).matches(r"c:\dir"));
        assert!(Pattern::new("?", false).matches("中"));
        assert!(Pattern::new("*中*", false).matches("a中b"));
    }

    #[test]
    fn escape_roundtrip() {
        let p = Pattern::new(&escape(r"a*b?c\d"), false);
        assert!(p.matches(r"a*b?c\d"));
        assert!(!p.matches("axbycxd"));
    }

    proptest! {
        #[test]
        fn literal_always_matches_itself(s in ".{0,40}") {
            prop_assert!(Pattern::new(&escape(&s), true).matches(&s));
        }

        #[test]
        fn contains_agrees_with_std(h in "[a-cA-C]{0,20}", n in "[a-c]{1,4}") {
            let p = Pattern::new(&format!("*{n}*"), false);
            prop_assert_eq!(p.matches(&h), h.to_ascii_lowercase().contains(&n));
        }

        /// The classified and glob matchers agree with a naive recursive
        /// wildcard matcher.
        #[test]
        fn agrees_with_reference(p in "[ab*?]{0,8}", h in "[ab]{0,10}") {
            fn naive(p: &[u8], h: &[u8]) -> bool {
                match (p.first(), h.first()) {
                    (None, None) => true,
                    (None, Some(_)) => false,
                    (Some(b'*'), _) => naive(&p[1..], h) || (!h.is_empty() && naive(p, &h[1..])),
                    (Some(b'?'), Some(_)) => naive(&p[1..], &h[1..]),
                    (Some(c), Some(d)) if c == d => naive(&p[1..], &h[1..]),
                    _ => false,
                }
            }
            prop_assert_eq!(Pattern::new(&p, true).matches(&h), naive(p.as_bytes(), h.as_bytes()));
        }

        #[test]
        fn glob_never_panics(p in "[a\\*\\?\\\\中]{0,12}", h in "[a中]{0,12}") {
            let _ = Pattern::new(&p, false).matches(&h);
        }
    }
}
