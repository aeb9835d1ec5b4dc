//! Where a document path (`zones[3].cidrs[0]`) sits in the YAML text.
//!
//! `serde_yaml_ng` keeps no spans on its `Value`, so semantic errors found
//! after parsing would otherwise carry no line. This index walks the text
//! structurally, after the YAML library has accepted it, and records the
//! position of every mapping key and sequence item it can place: block
//! mappings and sequences (including compact `- key: v` items), flow
//! sequences and mappings (`[a, b]`, `{ip: 10.0.0.1, mac: "..."}`, also
//! spanning lines), quoted and plain scalars, comments, block scalars
//! (`|`, `>`, skipped). Anything it does not understand (complex keys,
//! aliases as keys, multi-line plain scalars) is simply not indexed; a
//! lookup then falls back to the nearest indexed ancestor, so a position is
//! never invented.

use std::collections::HashMap;

/// Deepest flow nesting followed; deeper content is not indexed.
const MAX_FLOW_DEPTH: usize = 64;

/// Map from document path to byte offset in the text.
#[derive(Debug, Default)]
pub struct LineIndex {
    offsets: HashMap<String, usize>,
    line_starts: Vec<usize>,
    text: String,
}

#[derive(Debug)]
enum Kind {
    Map,
    Seq(usize),
    /// A key whose value starts on a later line (or is null).
    Pending,
}

#[derive(Debug)]
struct Frame {
    indent: usize,
    path: String,
    kind: Kind,
}

fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn join_index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// The parent of a path (`a.b[2]` -> `a.b`, `a.b` -> `a`), or `None` at the
/// root.
pub fn parent_path(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    if path.ends_with(']') {
        if let Some(open) = path.rfind('[') {
            return path.get(..open);
        }
    }
    match path.rfind('.') {
        Some(dot) => path.get(..dot),
        None => Some(""),
    }
}

struct Builder<'a> {
    bytes: &'a [u8],
    offsets: HashMap<String, usize>,
}

impl Builder<'_> {
    fn record(&mut self, path: String, offset: usize) {
        self.offsets.entry(path).or_insert(offset);
    }

    fn byte(&self, i: usize) -> Option<u8> {
        self.bytes.get(i).copied()
    }

    /// Skips blanks, line breaks and comments inside a flow collection.
    fn skip_flow_ws(&self, mut i: usize) -> usize {
        loop {
            match self.byte(i) {
                Some(b' ' | b'\t' | b'\r' | b'\n') => i += 1,
                Some(b'#') => {
                    while let Some(b) = self.byte(i) {
                        if b == b'\n' {
                            break;
                        }
                        i += 1;
                    }
                }
                _ => return i,
            }
        }
    }

    /// End of a quoted scalar starting at `i` (the quote), just past the
    /// closing quote; `None` if unterminated.
    fn quoted_end(&self, i: usize) -> Option<usize> {
        let quote = self.byte(i)?;
        let mut j = i + 1;
        loop {
            let b = self.byte(j)?;
            if quote == b'"' && b == b'\\' {
                j += 2;
                continue;
            }
            if b == quote {
                if quote == b'\'' && self.byte(j + 1) == Some(b'\'') {
                    j += 2;
                    continue;
                }
                return Some(j + 1);
            }
            j += 1;
        }
    }

    fn quoted_text(&self, start: usize, end: usize) -> Option<String> {
        let inner = self.bytes.get(start + 1..end.checked_sub(1)?)?;
        let s = std::str::from_utf8(inner).ok()?;
        Some(s.replace("''", "'"))
    }

    /// Parses one flow value at `i` (after blanks), recording nested paths.
    /// Returns the offset just past it, or `None` if the text is not what
    /// this index understands.
    fn flow_value(&mut self, i: usize, path: &str, depth: usize) -> Option<usize> {
        if depth > MAX_FLOW_DEPTH {
            return None;
        }
        let i = self.skip_flow_ws(i);
        match self.byte(i)? {
            b'[' => self.flow_seq(i, path, depth),
            b'{' => self.flow_map(i, path, depth),
            b'"' | b'\'' => self.quoted_end(i),
            _ => {
                let mut j = i;
                while let Some(b) = self.byte(j) {
                    if matches!(b, b',' | b']' | b'}' | b'[' | b'{' | b'\n') {
                        break;
                    }
                    if b == b'#' && j > i && matches!(self.byte(j - 1), Some(b' ' | b'\t')) {
                        break;
                    }
                    j += 1;
                }
                Some(j)
            }
        }
    }

    fn flow_seq(&mut self, i: usize, path: &str, depth: usize) -> Option<usize> {
        let mut i = i + 1;
        let mut index = 0usize;
        loop {
            i = self.skip_flow_ws(i);
            if self.byte(i)? == b']' {
                return Some(i + 1);
            }
            let item = join_index(path, index);
            self.record(item.clone(), i);
            i = self.flow_value(i, &item, depth + 1)?;
            i = self.skip_flow_ws(i);
            match self.byte(i)? {
                b',' => {
                    i += 1;
                    index += 1;
                }
                b']' => return Some(i + 1),
                _ => return None,
            }
        }
    }

    fn flow_map(&mut self, i: usize, path: &str, depth: usize) -> Option<usize> {
        let mut i = i + 1;
        loop {
            i = self.skip_flow_ws(i);
            let b = self.byte(i)?;
            if b == b'}' {
                return Some(i + 1);
            }
            let key_start = i;
            let key = if b == b'"' || b == b'\'' {
                let end = self.quoted_end(i)?;
                let k = self.quoted_text(i, end)?;
                i = end;
                k
            } else {
                let mut j = i;
                loop {
                    let c = self.byte(j)?;
                    if c == b':'
                        && matches!(
                            self.byte(j + 1),
                            Some(b' ' | b'\t' | b'\r' | b'\n' | b',' | b'}' | b']') | None
                        )
                    {
                        break;
                    }
                    if matches!(c, b',' | b'}' | b']' | b'\n') {
                        return None;
                    }
                    j += 1;
                }
                let k = std::str::from_utf8(self.bytes.get(i..j)?).ok()?.trim_end();
                i = j;
                k.to_string()
            };
            let key_path = join_key(path, &key);
            self.record(key_path.clone(), key_start);
            i = self.skip_flow_ws(i);
            if self.byte(i)? != b':' {
                return None;
            }
            i = self.skip_flow_ws(i + 1);
            if !matches!(self.byte(i)?, b',' | b'}') {
                i = self.flow_value(i, &key_path, depth + 1)?;
                i = self.skip_flow_ws(i);
            }
            match self.byte(i)? {
                b',' => i += 1,
                b'}' => return Some(i + 1),
                _ => return None,
            }
        }
    }
}

/// Splits `key: rest` at the start of `t` (block context). Returns the key
/// text and the byte offset (within `t`) where the value starts.
fn split_block_key(t: &str) -> Option<(String, usize)> {
    let bytes = t.as_bytes();
    let first = *bytes.first()?;
    let (key, after) = if first == b'"' || first == b'\'' {
        let mut j = 1;
        loop {
            let b = *bytes.get(j)?;
            if first == b'"' && b == b'\\' {
                j += 2;
                continue;
            }
            if b == first {
                if first == b'\'' && bytes.get(j + 1) == Some(&b'\'') {
                    j += 2;
                    continue;
                }
                break;
            }
            j += 1;
        }
        let key = t.get(1..j)?.replace("''", "'");
        let mut k = j + 1;
        while bytes.get(k) == Some(&b' ') {
            k += 1;
        }
        if bytes.get(k) != Some(&b':') {
            return None;
        }
        (key, k + 1)
    } else {
        if matches!(
            first,
            b'[' | b'{' | b'#' | b'&' | b'*' | b'!' | b'?' | b'|' | b'>'
        ) {
            return None;
        }
        let mut j = 0;
        loop {
            let b = *bytes.get(j)?;
            if b == b':' && matches!(bytes.get(j + 1), Some(b' ' | b'\t' | b'\r') | None) {
                break;
            }
            if b == b'#' && j > 0 && matches!(bytes.get(j - 1), Some(b' ' | b'\t')) {
                return None;
            }
            j += 1;
        }
        (t.get(..j)?.trim_end().to_string(), j + 1)
    };
    Some((key, after))
}

fn leading_spaces(s: &str) -> usize {
    s.bytes().take_while(|&b| b == b' ').count()
}

/// Whether `t` starts a block sequence item (`- x` or a lone `-`).
fn is_item(t: &str) -> bool {
    t == "-" || t.starts_with("- ") || t.starts_with("-\t") || t.starts_with("-\r")
}

/// Byte column of `sub`, a subslice of `t`, where `t` starts at byte
/// column `col` of its line.
fn byte_col(col: usize, t: &str, sub: &str) -> usize {
    col + (sub.as_ptr() as usize).saturating_sub(t.as_ptr() as usize)
}

/// Strips `&anchor` and `!tag` tokens in front of a value.
fn strip_props(mut v: &str) -> &str {
    while v.starts_with('&') || v.starts_with('!') {
        match v.find([' ', '\t']) {
            Some(sp) => v = v.get(sp..).unwrap_or("").trim_start(),
            None => return "",
        }
    }
    v
}

impl LineIndex {
    /// Indexes `text` (which the YAML library has already parsed).
    pub fn build(text: &str) -> LineIndex {
        let mut line_starts = vec![0usize];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(i + 1);
            }
        }
        let mut b = Builder {
            bytes: text.as_bytes(),
            offsets: HashMap::new(),
        };
        let mut stack: Vec<Frame> = Vec::new();
        let mut resume_at = 0usize;
        let mut skip_block_scalar: Option<usize> = None;

        for (n, &line_start) in line_starts.iter().enumerate() {
            // A byte order mark is not part of the first line's content.
            let start = if n == 0 && text.starts_with('\u{feff}') {
                '\u{feff}'.len_utf8()
            } else {
                line_start
            };
            let end = line_starts
                .get(n + 1)
                .map(|e| e.saturating_sub(1))
                .unwrap_or(text.len());
            if start < resume_at {
                continue;
            }
            let Some(line) = text.get(start..end) else {
                continue;
            };
            let line = line.strip_suffix('\r').unwrap_or(line);
            let ind = leading_spaces(line);
            let t = line.get(ind..).unwrap_or("");
            if let Some(block_indent) = skip_block_scalar {
                if t.is_empty() || ind > block_indent {
                    continue;
                }
                skip_block_scalar = None;
            }
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            if ind == 0 && (t.starts_with("---") || t.starts_with("...") || t.starts_with('%')) {
                continue;
            }
            let mut col = ind;
            let mut t = t;
            // Pop frames this line is not inside of.
            while let Some(top) = stack.last_mut() {
                match top.kind {
                    Kind::Pending => {
                        if ind > top.indent || (ind == top.indent && is_item(t)) {
                            top.kind = if is_item(t) { Kind::Seq(0) } else { Kind::Map };
                            top.indent = ind;
                            break;
                        }
                        stack.pop();
                    }
                    Kind::Map => {
                        if top.indent > ind {
                            stack.pop();
                        } else {
                            break;
                        }
                    }
                    Kind::Seq(_) => {
                        if top.indent > ind || (top.indent == ind && !is_item(t)) {
                            stack.pop();
                        } else {
                            break;
                        }
                    }
                }
            }
            if stack.is_empty() {
                if is_item(t) {
                    stack.push(Frame {
                        indent: ind,
                        path: String::new(),
                        kind: Kind::Seq(0),
                    });
                } else {
                    stack.push(Frame {
                        indent: ind,
                        path: String::new(),
                        kind: Kind::Map,
                    });
                }
            }
            // Compact nested items: "- - a" or "- key: v".
            while let Some(top) = stack.last_mut() {
                if is_item(t) {
                    let Kind::Seq(count) = &mut top.kind else {
                        break;
                    };
                    if top.indent != col {
                        break;
                    }
                    let item = join_index(&top.path, *count);
                    *count += 1;
                    b.record(item.clone(), start + col);
                    let rest = strip_props(t.get(1..).unwrap_or("").trim());
                    let rest_col = byte_col(col, t, rest);
                    if rest.is_empty() || rest.starts_with('#') {
                        stack.push(Frame {
                            indent: col,
                            path: item,
                            kind: Kind::Pending,
                        });
                        break;
                    }
                    if is_item(rest) {
                        stack.push(Frame {
                            indent: rest_col,
                            path: item,
                            kind: Kind::Seq(0),
                        });
                        col = rest_col;
                        t = rest;
                        continue;
                    }
                    if rest.starts_with('[') || rest.starts_with('{') {
                        if let Some(e) = b.flow_value(start + rest_col, &item, 0) {
                            resume_at = resume_at.max(e);
                        }
                        break;
                    }
                    if split_block_key(rest).is_some() {
                        stack.push(Frame {
                            indent: rest_col,
                            path: item,
                            kind: Kind::Map,
                        });
                        col = rest_col;
                        t = rest;
                        continue;
                    }
                    if rest.starts_with('"') || rest.starts_with('\'') {
                        if let Some(e) = b.quoted_end(start + rest_col) {
                            resume_at = resume_at.max(e);
                        }
                    }
                    break;
                }
                // A mapping key line.
                if !matches!(top.kind, Kind::Map) || top.indent != col {
                    break;
                }
                let Some((key, after)) = split_block_key(t) else {
                    break;
                };
                let key_path = join_key(&top.path, &key);
                let map_indent = top.indent;
                b.record(key_path.clone(), start + col);
                let value_raw = t.get(after..).unwrap_or("");
                let value = strip_props(value_raw.trim_start());
                let value_col = byte_col(col, t, value);
                if value.is_empty() || value.starts_with('#') {
                    stack.push(Frame {
                        indent: map_indent,
                        path: key_path,
                        kind: Kind::Pending,
                    });
                } else if value.starts_with('[') || value.starts_with('{') {
                    if let Some(e) = b.flow_value(start + value_col, &key_path, 0) {
                        resume_at = resume_at.max(e);
                    }
                } else if value.starts_with('|') || value.starts_with('>') {
                    skip_block_scalar = Some(map_indent);
                } else if value.starts_with('"') || value.starts_with('\'') {
                    // A quoted scalar may run over several lines.
                    if let Some(e) = b.quoted_end(start + value_col) {
                        resume_at = resume_at.max(e);
                    }
                }
                break;
            }
        }
        LineIndex {
            offsets: b.offsets,
            line_starts,
            text: text.to_string(),
        }
    }

    fn position(&self, offset: usize) -> (usize, usize) {
        let line = match self.line_starts.binary_search(&offset) {
            Ok(l) => l,
            Err(l) => l.saturating_sub(1),
        };
        let mut start = self.line_starts.get(line).copied().unwrap_or(0);
        if line == 0 && self.text.starts_with('\u{feff}') {
            start = '\u{feff}'.len_utf8().min(offset);
        }
        let col = self
            .text
            .get(start..offset)
            .map_or(0, |s| s.chars().count());
        (line + 1, col + 1)
    }

    /// The 1-based line and column of exactly `path`, if indexed.
    pub fn exact(&self, path: &str) -> Option<(usize, usize)> {
        self.offsets.get(path).map(|&o| self.position(o))
    }

    /// The 1-based line and column of `path`, or of its nearest indexed
    /// ancestor.
    pub fn lookup(&self, path: &str) -> Option<(usize, usize)> {
        let mut p = path;
        loop {
            if let Some(pos) = self.exact(p) {
                return Some(pos);
            }
            p = parent_path(p)?;
            if p.is_empty() {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DOC: &str = "\
# comment
name: demo   # trailing
timezone: \"Asia/Shanghai\"
home_nets: [10.0.0.0/8, 172.16.0.0/12]
zones:
  - id: internet
    default: true
  - id: dmz
    cidrs: [10.10.1.0/24,
            fd00:10::/64]   # two lines
    hosts:
      - {ip: 10.10.1.10, name: web, mac: \"02:10:01:00:00:0a\"}
      - ip: 10.10.1.20
        mac: '02:10:01:00:00:14'
    notes: |
      free text: with colons
      - and dashes
    level: 3
groups:
  offices: [a, b]
  'quoted key': [c]
allow:
- from: internet
  to: dmz
  services:
    - tcp/80
    - tcp/443
";

    #[test]
    fn indexes_block_and_flow() {
        let idx = LineIndex::build(DOC);
        assert_eq!(idx.exact("name"), Some((2, 1)));
        assert_eq!(idx.exact("timezone"), Some((3, 1)));
        assert_eq!(idx.exact("home_nets[1]"), Some((4, 25)));
        assert_eq!(idx.exact("zones[0]"), Some((6, 3)));
        assert_eq!(idx.exact("zones[0].id"), Some((6, 5)));
        assert_eq!(idx.exact("zones[0].default"), Some((7, 5)));
        assert_eq!(idx.exact("zones[1].cidrs[0]"), Some((9, 13)));
        assert_eq!(idx.exact("zones[1].cidrs[1]"), Some((10, 13)));
        assert_eq!(idx.exact("zones[1].hosts[0].mac"), Some((12, 37)));
        assert_eq!(idx.exact("zones[1].hosts[1].ip"), Some((13, 9)));
        assert_eq!(idx.exact("zones[1].hosts[1].mac"), Some((14, 9)));
        assert_eq!(idx.exact("zones[1].notes"), Some((15, 5)));
        assert_eq!(idx.exact("zones[1].level"), Some((18, 5)));
        assert_eq!(idx.exact("zones[1].and dashes"), None);
        assert_eq!(idx.exact("groups.offices[1]"), Some((20, 16)));
        assert_eq!(idx.exact("groups.quoted key[0]"), Some((21, 18)));
        assert_eq!(idx.exact("allow[0].from"), Some((23, 3)));
        assert_eq!(idx.exact("allow[0].services[1]"), Some((27, 5)));
    }

    #[test]
    fn multi_line_quoted_scalars_are_skipped() {
        let doc = "a:\n  why: \"one\n  b: two\"\n  c: 1\nlist:\n  - 'x\n  - y'\n  - z\n";
        let idx = LineIndex::build(doc);
        assert_eq!(idx.exact("a.why"), Some((2, 3)));
        assert_eq!(idx.exact("a.b"), None);
        assert_eq!(idx.exact("a.c"), Some((4, 3)));
        assert_eq!(idx.exact("list[0]"), Some((6, 3)));
        assert_eq!(idx.exact("list[1]"), Some((8, 3)));
        assert_eq!(idx.exact("list[2]"), None);
    }

    #[test]
    fn crlf_and_byte_order_mark() {
        let doc = "\u{feff}name: x\r\nzones:\r\n  - {id: a, cidrs: [10.0.0.0/8]}\r\n  - id: b\r\n";
        let idx = LineIndex::build(doc);
        assert_eq!(idx.exact("name"), Some((1, 1)));
        assert_eq!(idx.exact("zones[0].cidrs[0]"), Some((3, 21)));
        assert_eq!(idx.exact("zones[1].id"), Some((4, 5)));
    }

    #[test]
    fn lookup_falls_back_to_ancestor() {
        let idx = LineIndex::build(DOC);
        assert_eq!(idx.lookup("zones[1].hosts[1].role"), Some((13, 7)));
        assert_eq!(idx.lookup("nothing.here"), None);
        assert_eq!(parent_path("a.b[2]"), Some("a.b"));
        assert_eq!(parent_path("a.b"), Some("a"));
        assert_eq!(parent_path("a"), Some(""));
        assert_eq!(parent_path(""), None);
    }

    #[test]
    fn multibyte_columns_count_characters() {
        let doc = "zones:\n  - {name_zh: 门户网站区, cidrs: [10.0.0.0/33]}\n";
        let idx = LineIndex::build(doc);
        assert_eq!(idx.exact("zones[0].cidrs[0]"), Some((2, 30)));
    }

    fn value_strategy() -> impl Strategy<Value = serde_yaml_ng::Value> {
        use serde_yaml_ng::Value;
        let leaf = prop_oneof![
            "[a-z0-9 ./:-]{0,12}".prop_map(Value::from),
            any::<u16>().prop_map(|n| Value::from(u64::from(n))),
            any::<bool>().prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5)
                    .prop_map(serde_yaml_ng::Value::Sequence),
                proptest::collection::btree_map("[a-z][a-z_]{0,6}", inner, 0..5).prop_map(|m| {
                    serde_yaml_ng::Value::Mapping(
                        m.into_iter()
                            .map(|(k, v)| (serde_yaml_ng::Value::from(k), v))
                            .collect(),
                    )
                }),
            ]
        })
    }

    /// Every key and item path of a document, with the key text for keys.
    fn paths(v: &serde_yaml_ng::Value, path: &str, out: &mut Vec<(String, Option<String>)>) {
        match v {
            serde_yaml_ng::Value::Mapping(m) => {
                for (k, v) in m {
                    let k = k.as_str().unwrap_or_default().to_string();
                    let p = join_key(path, &k);
                    out.push((p.clone(), Some(k)));
                    paths(v, &p, out);
                }
            }
            serde_yaml_ng::Value::Sequence(items) => {
                for (i, v) in items.iter().enumerate() {
                    let p = join_index(path, i);
                    out.push((p.clone(), None));
                    paths(v, &p, out);
                }
            }
            _ => {}
        }
    }

    /// Writes `v` in flow style, with blanks and line breaks in varying
    /// places, to exercise the flow scanner.
    fn flow_text(
        v: &serde_yaml_ng::Value,
        breaks: &mut impl Iterator<Item = bool>,
        out: &mut String,
    ) {
        let sep = |out: &mut String, breaks: &mut dyn Iterator<Item = bool>| {
            if breaks.next().unwrap_or(false) {
                out.push_str("\n    ");
            } else {
                out.push(' ');
            }
        };
        match v {
            serde_yaml_ng::Value::Mapping(m) => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                        sep(out, breaks);
                    }
                    out.push_str(k.as_str().unwrap_or_default());
                    out.push_str(": ");
                    flow_text(v, breaks, out);
                }
                out.push('}');
            }
            serde_yaml_ng::Value::Sequence(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                        sep(out, breaks);
                    }
                    flow_text(v, breaks, out);
                }
                out.push(']');
            }
            serde_yaml_ng::Value::String(s) => {
                out.push('"');
                out.push_str(s);
                out.push('"');
            }
            serde_yaml_ng::Value::Number(n) => out.push_str(&n.to_string()),
            serde_yaml_ng::Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            _ => out.push_str("null"),
        }
    }

    proptest! {
        /// Flow-style documents (as written by hand in the shipped configs,
        /// over several lines too) index every key and item, and a key's
        /// position holds that key.
        #[test]
        fn indexes_flow_documents(
            doc in value_strategy(),
            breaks in proptest::collection::vec(any::<bool>(), 64),
        ) {
            let mut text = String::from("name: x\nroot: ");
            flow_text(&doc, &mut breaks.into_iter(), &mut text);
            text.push_str("\nafter: 1\n");
            let parsed: serde_yaml_ng::Value = match serde_yaml_ng::from_str(&text) {
                Ok(v) => v,
                Err(_) => return Ok(()), // keys like "null" or "true" collide; not our concern
            };
            let idx = LineIndex::build(&text);
            let mut all = Vec::new();
            paths(&parsed, "", &mut all);
            for (p, key) in all {
                let pos = idx.exact(&p);
                prop_assert!(pos.is_some(), "{} not indexed in\n{}", p, text);
                if let (Some((line, col)), Some(key)) = (pos, key) {
                    let l = text.lines().nth(line - 1).unwrap_or_default();
                    let at: String = l.chars().skip(col - 1).collect();
                    prop_assert!(at.starts_with(&key), "{} at {}:{} is {:?}\n{}", p, line, col, at, text);
                }
            }
        }

        /// On documents the YAML library writes (block style), every key
        /// and item is indexed, and a key's position holds that key.
        #[test]
        fn indexes_serialized_documents(doc in value_strategy()) {
            let root = serde_yaml_ng::Value::Mapping(
                [(serde_yaml_ng::Value::from("root"), doc)].into_iter().collect(),
            );
            let text = serde_yaml_ng::to_string(&root).unwrap_or_default();
            let idx = LineIndex::build(&text);
            let mut all = Vec::new();
            paths(&root, "", &mut all);
            for (p, key) in all {
                let pos = idx.exact(&p);
                prop_assert!(pos.is_some(), "{} not indexed in\n{}", p, text);
                if let (Some((line, col)), Some(key)) = (pos, key) {
                    let l = text.lines().nth(line - 1).unwrap_or_default();
                    let at: String = l.chars().skip(col - 1).collect();
                    prop_assert!(
                        at.starts_with(&key) || at.starts_with('\'') || at.starts_with('"'),
                        "{} at {}:{} is {:?}", p, line, col, at
                    );
                }
            }
        }

        #[test]
        fn never_panics(text in "[ a-z:\\-\\[\\]{},#'\"|\n]{0,200}") {
            let idx = LineIndex::build(&text);
            let _ = idx.lookup("a.b[0]");
        }
    }
}
