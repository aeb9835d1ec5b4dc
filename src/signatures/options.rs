//! Splitting the option text of a rule into `key[:value]` pairs, and the
//! string decoders options share (quotes, escapes, `|hex|` content).

/// One option, borrowed from the rule text: key and raw (trimmed) value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawOption<'a> {
    /// The keyword.
    pub key: &'a str,
    /// The text after `:`, trimmed, escapes still in place.
    pub value: Option<&'a str>,
}

/// Splits `key:value; key; ...` on unescaped `;` exactly as Suricata does:
/// quotes do not protect `;`, only a backslash does.
///
/// The error names the byte offset of the problem.
pub fn split_options(s: &str) -> Result<Vec<RawOption<'_>>, (usize, &'static str)> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(16);
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'\\') => i += 2,
            Some(b';') => {
                let opt = s
                    .get(start..i)
                    .ok_or((start, "option is not valid UTF-8"))?;
                out.push(one_option(opt, start)?);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    let tail = s.get(start..).unwrap_or("");
    if !tail.trim().is_empty() {
        return Err((start, "last option is not terminated by ';'"));
    }
    Ok(out)
}

fn one_option(opt: &str, at: usize) -> Result<RawOption<'_>, (usize, &'static str)> {
    let (key, value) = match opt.split_once(':') {
        Some((k, v)) => (k.trim(), Some(v.trim())),
        None => (opt.trim(), None),
    };
    if key.is_empty() {
        return Err((at, "empty option"));
    }
    if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err((at, "invalid keyword name"));
    }
    Ok(RawOption { key, value })
}

/// Removes one pair of surrounding double quotes, if present.
pub fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(v)
}

/// Removes the surrounding double quotes, which must be present.
pub fn require_quotes(v: &str) -> Result<&str, String> {
    match v.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        Some(inner) => Ok(inner),
        None => Err("value must be enclosed in double quotes".to_string()),
    }
}

/// Unescapes a text value (`msg`): `\"`, `\;`, `\:` and `\\` become the
/// character; other backslashes are kept.
pub fn unescape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&n) = chars.peek() {
                if matches!(n, '"' | ';' | ':' | '\\') {
                    out.push(n);
                    chars.next();
                    continue;
                }
            }
        }
        out.push(c);
    }
    out
}

/// Maximum decoded length of a content pattern.
pub const MAX_CONTENT_LEN: usize = 65_535;

/// Decodes a content string (without the quotes): `|41 42|` hex runs and the
/// escapes `\"`, `\;`, `\:`, `\\`. Errors name the byte offset.
pub fn decode_content(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let mut in_hex = false;
    let mut nibble: Option<u8> = None;
    while let Some(&c) = b.get(i) {
        if in_hex {
            match c {
                b'|' => {
                    if nibble.is_some() {
                        return Err(format!("odd number of hex digits before offset {i}"));
                    }
                    in_hex = false;
                }
                b' ' | b'\t' => {
                    if nibble.is_some() {
                        return Err(format!("space inside a hex byte at offset {i}"));
                    }
                }
                _ => {
                    let v = (c as char).to_digit(16).ok_or_else(|| {
                        format!("invalid hex character '{}' at offset {i}", c as char)
                    })?;
                    // to_digit(16) is < 16, so the cast is lossless.
                    let v = v as u8;
                    match nibble.take() {
                        Some(h) => out.push(h << 4 | v),
                        None => nibble = Some(v),
                    }
                }
            }
        } else {
            match c {
                b'|' => in_hex = true,
                b'\\' => {
                    let n = *b
                        .get(i + 1)
                        .ok_or_else(|| format!("trailing backslash at offset {i}"))?;
                    if !matches!(n, b'"' | b';' | b':' | b'\\') {
                        return Err(format!("invalid escape '\\{}' at offset {i}", n as char));
                    }
                    out.push(n);
                    i += 1;
                }
                _ => out.push(c),
            }
        }
        i += 1;
        if out.len() > MAX_CONTENT_LEN {
            return Err(format!("content longer than {MAX_CONTENT_LEN} bytes"));
        }
    }
    if in_hex {
        return Err("unterminated '|' hex run".to_string());
    }
    if out.is_empty() {
        return Err("empty content".to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_unescaped_semicolons_only() {
        let o = split_options(r#"msg:"a\;b"; content:"x|3b|"; nocase; pcre:"/a"b/i"; sid:1;"#);
        let o = o.unwrap();
        assert_eq!(o[0].key, "msg");
        assert_eq!(o[0].value, Some(r#""a\;b""#));
        assert_eq!(
            o[2],
            RawOption {
                key: "nocase",
                value: None
            }
        );
        // An unescaped quote inside a value does not change the split.
        assert_eq!(o[3].value, Some(r#""/a"b/i""#));
        assert_eq!(o[4].key, "sid");
        // Quotes do not protect ';': the pcre is cut and the rest is junk.
        assert!(split_options(r#"pcre:"/a;b/"; sid:1;"#).is_err());
    }

    #[test]
    fn rejects_unterminated_and_empty() {
        assert!(split_options("sid:1").is_err());
        assert!(split_options("sid:1;;").is_err());
        assert!(split_options("sid:1; ").is_ok());
        assert!(split_options(r"msg:x\;").is_err());
    }

    #[test]
    fn content_decoding() {
        assert_eq!(decode_content("a|3a 20|b").unwrap(), b"a: b");
        assert_eq!(decode_content(r#"\"\;\:\\"#).unwrap(), br#"";:\"#);
        assert_eq!(decode_content("|0D0a|").unwrap(), b"\r\n");
        assert!(decode_content("|3|").is_err());
        assert!(decode_content("|3g|").is_err());
        assert!(decode_content("|41").is_err());
        assert!(decode_content(r"\x").is_err());
        assert!(decode_content(r"a\").is_err());
        assert!(decode_content("").is_err());
        assert!(decode_content("||").is_err());
    }

    #[test]
    fn text_unescape() {
        assert_eq!(unescape_text(r#"a \"b\" \; c\d"#), r#"a "b" ; c\d"#);
        assert_eq!(unquote("\"x\""), "x");
        assert_eq!(unquote("x"), "x");
        assert!(require_quotes("x").is_err());
    }

    /// Writes bytes as content text: printable bytes as is (escaping the
    /// four special characters), the rest as `|hex|`.
    fn encode(bytes: &[u8]) -> String {
        let mut s = String::new();
        for &b in bytes {
            match b {
                b'"' | b';' | b':' | b'\\' => {
                    s.push('\\');
                    s.push(b as char);
                }
                b'|' => s.push_str("|7C|"),
                0x20..=0x7e => s.push(b as char),
                _ => s.push_str(&format!("|{b:02x}|")),
            }
        }
        s
    }

    proptest::proptest! {
        #[test]
        fn content_round_trips(bytes in proptest::collection::vec(proptest::num::u8::ANY, 1..64)) {
            let text = encode(&bytes);
            proptest::prop_assert_eq!(decode_content(&text).unwrap(), bytes);
            // The encoded content survives option splitting intact.
            let rule = format!("content:\"{text}\"; sid:1;");
            let opts = split_options(&rule).unwrap();
            proptest::prop_assert_eq!(opts.len(), 2);
            proptest::prop_assert_eq!(opts[0].value, Some(&*format!("\"{text}\"")));
        }

        #[test]
        fn never_panics(s in "\\PC{0,80}") {
            let _ = split_options(&s);
            let _ = decode_content(&s);
            let _ = unescape_text(&s);
        }
    }
}
