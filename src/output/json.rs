//! A small streaming JSON object writer for EVE records.
//!
//! EVE records have fixed shapes, so they are written field by field into a
//! reused byte buffer instead of being built as `serde_json::Value` trees:
//! no allocation per record beyond the buffer's growth. Strings are escaped
//! by serde_json, so the output is always valid JSON whatever bytes a packet
//! or log line carried.

use std::net::IpAddr;

/// Writes one JSON object into a buffer. Call [`Obj::end`] to close it.
pub struct Obj<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    /// Opens an object at the end of `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, first: true }
    }

    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        write_str(self.out, k);
        self.out.push(b':');
    }

    /// A string field.
    pub fn str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        write_str(self.out, v);
        self
    }

    /// A string field, or nothing when `None`.
    pub fn opt_str(&mut self, k: &str, v: Option<&str>) -> &mut Self {
        if let Some(v) = v {
            self.str(k, v);
        }
        self
    }

    /// A string field that is `null` when `None`.
    pub fn str_or_null(&mut self, k: &str, v: Option<&str>) -> &mut Self {
        match v {
            Some(v) => self.str(k, v),
            None => self.raw(k, "null"),
        }
    }

    /// An unsigned integer field.
    pub fn u64(&mut self, k: &str, v: u64) -> &mut Self {
        self.key(k);
        let mut b = itoa_buf(v);
        self.out.append(&mut b);
        self
    }

    /// A signed integer field.
    pub fn i64(&mut self, k: &str, v: i64) -> &mut Self {
        self.key(k);
        if v < 0 {
            self.out.push(b'-');
        }
        let mut b = itoa_buf(v.unsigned_abs());
        self.out.append(&mut b);
        self
    }

    /// A float field (non-finite values are written as null).
    pub fn f64(&mut self, k: &str, v: f64) -> &mut Self {
        self.key(k);
        if v.is_finite() {
            self.out.extend_from_slice(format!("{v}").as_bytes());
        } else {
            self.out.extend_from_slice(b"null");
        }
        self
    }

    /// A boolean field.
    pub fn bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.key(k);
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        self
    }

    /// An IP address as a string field.
    pub fn ip(&mut self, k: &str, v: IpAddr) -> &mut Self {
        self.key(k);
        self.out.push(b'"');
        use std::io::Write;
        let _ = write!(self.out, "{v}");
        self.out.push(b'"');
        self
    }

    /// A field whose value is already JSON text.
    pub fn raw(&mut self, k: &str, json: &str) -> &mut Self {
        self.key(k);
        self.out.extend_from_slice(json.as_bytes());
        self
    }

    /// A field whose value is a `serde_json::Value`.
    pub fn value(&mut self, k: &str, v: &serde_json::Value) -> &mut Self {
        self.key(k);
        // Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *self.out, v);
        self
    }

    /// A string array field.
    pub fn str_array<'s>(
        &mut self,
        k: &str,
        items: impl IntoIterator<Item = &'s str>,
    ) -> &mut Self {
        self.key(k);
        self.out.push(b'[');
        for (i, s) in items.into_iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            write_str(self.out, s);
        }
        self.out.push(b']');
        self
    }

    /// A nested object field; close it with [`Obj::end`] before writing to
    /// the parent again.
    pub fn obj(&mut self, k: &str) -> Obj<'_> {
        self.key(k);
        Obj::new(self.out)
    }

    /// Closes the object.
    pub fn end(self) {
        self.out.push(b'}');
    }
}

/// Appends `s` as a JSON string literal.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x7f)
    {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

fn itoa_buf(mut v: u64) -> Vec<u8> {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    tmp[i..].to_vec()
}

/// Formats a MAC address as Suricata does (`02:10:01:00:00:0a`).
pub fn mac_str(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// EVE `proto` value of an IP protocol number.
pub fn proto_name(p: u8) -> std::borrow::Cow<'static, str> {
    match p {
        6 => "TCP".into(),
        17 => "UDP".into(),
        1 => "ICMP".into(),
        58 => "IPv6-ICMP".into(),
        47 => "GRE".into(),
        132 => "SCTP".into(),
        other => other.to_string().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_valid_json() {
        let mut b = Vec::new();
        let mut o = Obj::new(&mut b);
        o.str("a", "x\"y\n\u{1}é")
            .u64("n", 0)
            .i64("m", -42)
            .bool("t", true);
        o.ip("ip", "10.0.0.1".parse().unwrap());
        {
            let mut inner = o.obj("in");
            inner
                .u64("z", 18_446_744_073_709_551_615)
                .str_array("l", ["p", "q"]);
            inner.end();
        }
        o.str_or_null("nul", None)
            .f64("f", 1.5)
            .f64("nan", f64::NAN);
        o.end();
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["a"], "x\"y\n\u{1}é");
        assert_eq!(v["m"], -42);
        assert_eq!(v["in"]["z"], 18_446_744_073_709_551_615u64);
        assert_eq!(v["in"]["l"][1], "q");
        assert!(v["nul"].is_null() && v["nan"].is_null());
    }

    #[test]
    fn names() {
        assert_eq!(proto_name(58), "IPv6-ICMP");
        assert_eq!(proto_name(99), "99");
        assert_eq!(mac_str(&[2, 0x10, 1, 0, 0, 0xa]), "02:10:01:00:00:0a");
    }
}
