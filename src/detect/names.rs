//! DNS name measures for the tunnel detector: the registered domain a
//! query belongs to, and how random its subdomain part looks.

/// Second-level public suffixes under which a registration takes three
/// labels (`example.com.cn`), not two. A small built-in list covering the
/// suffixes common in this network's traffic; anything else counts the
/// last two labels as the registered domain.
const TWO_LABEL_SUFFIXES: &[&[u8]] = &[
    b"com.cn",
    b"net.cn",
    b"org.cn",
    b"gov.cn",
    b"edu.cn",
    b"ac.cn",
    b"mil.cn",
    b"co.uk",
    b"org.uk",
    b"ac.uk",
    b"gov.uk",
    b"com.hk",
    b"com.tw",
    b"co.jp",
    b"ne.jp",
    b"or.jp",
    b"com.au",
    b"net.au",
    b"co.kr",
    b"com.sg",
    b"com.br",
    b"co.in",
    b"com.ru",
    b"eu.org",
    b"github.io",
    b"cloudfront.net",
    b"amazonaws.com",
    b"azurewebsites.net",
];

/// Splits a name into (subdomain part, registered domain): for
/// `x1.y2.t.cdn-sync.example` → (`x1.y2.t`, `cdn-sync.example`). A name of
/// one or two labels has an empty subdomain part.
pub fn split_registered(name: &[u8]) -> (&[u8], &[u8]) {
    let dots = last_dots(name);
    let (Some(_), Some(d2)) = (dots.0, dots.1) else {
        return (&[], name);
    };
    // name = ... [d3] label [d2] label [d1] tld
    let two = name.get(d2 + 1..).unwrap_or(&[]);
    let cut = if TWO_LABEL_SUFFIXES.contains(&two) {
        match dots.2 {
            Some(d3) => d3,
            None => return (&[], name),
        }
    } else {
        d2
    };
    (
        name.get(..cut).unwrap_or(&[]),
        name.get(cut + 1..).unwrap_or(&[]),
    )
}

/// Positions of the last three dots (last first).
type Vec3 = (Option<usize>, Option<usize>, Option<usize>);

fn last_dots(name: &[u8]) -> Vec3 {
    let mut it = name
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, c)| **c == b'.')
        .map(|(i, _)| i);
    (it.next(), it.next(), it.next())
}

/// Length of the longest label of `part`.
pub fn longest_label(part: &[u8]) -> usize {
    part.split(|c| *c == b'.')
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0)
}

/// Shannon entropy in bits per character of `part` without its dots
/// (0 for an empty part). Uses a stack table; no allocation.
pub fn entropy(part: &[u8]) -> f64 {
    let mut counts = [0u16; 256];
    let mut n = 0u32;
    for &c in part.iter().filter(|c| **c != b'.') {
        if let Some(x) = counts.get_mut(usize::from(c)) {
            *x = x.saturating_add(1);
        }
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    let n = f64::from(n);
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_domains() {
        let s = |n: &str| {
            let (a, b) = split_registered(n.as_bytes());
            (
                String::from_utf8(a.to_vec()).unwrap(),
                String::from_utf8(b.to_vec()).unwrap(),
            )
        };
        assert_eq!(
            s("x1.y2.t.cdn-sync.example"),
            ("x1.y2.t".into(), "cdn-sync.example".into())
        );
        assert_eq!(s("www.dh.gov.cn"), ("www".into(), "dh.gov.cn".into()));
        assert_eq!(s("gov.cn"), ("".into(), "gov.cn".into()));
        assert_eq!(s("a.gov.cn"), ("".into(), "a.gov.cn".into()));
        assert_eq!(s("example"), ("".into(), "example".into()));
        assert_eq!(s(""), ("".into(), "".into()));
        assert_eq!(s("a.b"), ("".into(), "a.b".into()));
    }

    #[test]
    fn entropy_and_labels() {
        assert_eq!(entropy(b""), 0.0);
        assert_eq!(entropy(b"aaaa"), 0.0);
        assert!((entropy(b"ab.ab") - 1.0).abs() < 1e-9);
        let hex = b"3f9a0c77e1b2d4865a0f9c3e7b1d2a4c6e8f0b1d";
        assert!(entropy(hex) > 3.5, "{}", entropy(hex));
        assert!(entropy(b"www") < 1.0);
        assert_eq!(longest_label(b"abc.de.fghij"), 5);
        assert_eq!(longest_label(b""), 0);
    }
}
