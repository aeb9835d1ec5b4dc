//! DNS EVE output in Suricata 8's version 3 format.

use super::parser::{rcode_name, rrtype_name, DnsRData, DnsRecord};
use super::{DnsTransaction, DnsTxType};
use serde_json::{json, Map, Value};
use std::net::Ipv6Addr;

/// Suricata prints IPv6 rdata in full, uncompressed form.
fn ipv6_full(a: &Ipv6Addr) -> String {
    let s = a.segments();
    format!(
        "{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}",
        s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
    )
}

/// Printable bytes kept, others as `\xNN`.
fn escape_bytes(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for &c in b {
        if c.is_ascii_graphic() || c == b' ' {
            s.push(c as char);
        } else {
            s.push_str(&format!("\\x{c:02x}"));
        }
    }
    s
}

/// The `rdata` string of a record, where Suricata logs one.
pub fn rdata_string(d: &DnsRData) -> Option<String> {
    Some(match d {
        DnsRData::A(a) => a.to_string(),
        DnsRData::Aaaa(a) => ipv6_full(a),
        DnsRData::Name(n) => n.clone(),
        DnsRData::Mx { exchange, .. } => exchange.clone(),
        DnsRData::Txt(v) => v.concat(),
        DnsRData::Caa { flags, tag, value } => format!("{flags} {tag} \"{value}\""),
        DnsRData::Raw(b) => escape_bytes(b),
        DnsRData::Soa { .. } | DnsRData::Srv { .. } | DnsRData::Opt(_) => return None,
    })
}

fn record_json(r: &DnsRecord) -> Value {
    let mut m = Map::new();
    m.insert("rrname".into(), r.name.clone().into());
    m.insert("rrtype".into(), rrtype_name(r.rrtype).into_owned().into());
    m.insert("ttl".into(), r.ttl.into());
    if let Some(s) = rdata_string(&r.data) {
        m.insert("rdata".into(), s.into());
    }
    match &r.data {
        DnsRData::Soa {
            mname,
            rname,
            serial,
            refresh,
            retry,
            expire,
            minimum,
        } => {
            m.insert(
                "soa".into(),
                json!({"mname": mname, "rname": rname, "serial": serial, "refresh": refresh,
                       "retry": retry, "expire": expire, "minimum": minimum}),
            );
        }
        DnsRData::Srv {
            priority,
            weight,
            port,
            target,
        } => {
            m.insert(
                "srv".into(),
                json!({"priority": priority, "weight": weight, "port": port, "name": target}),
            );
        }
        _ => {}
    }
    Value::Object(m)
}

impl DnsTransaction {
    /// Inserts `"dns": {...}` in Suricata 8's v3 shape.
    pub fn write_eve(&self, obj: &mut Map<String, Value>) {
        let h = &self.header;
        let mut m = Map::new();
        m.insert("version".into(), 3.into());
        let t = match self.tx_type {
            DnsTxType::Request => "request",
            DnsTxType::Response => "response",
        };
        m.insert("type".into(), t.into());
        m.insert("id".into(), h.id.into());
        m.insert("flags".into(), format!("{:x}", h.flags).into());
        let bits = [
            ("qr", 0x8000u16),
            ("aa", 0x0400),
            ("tc", 0x0200),
            ("rd", 0x0100),
            ("ra", 0x0080),
            ("z", 0x0040),
        ];
        for (name, bit) in bits {
            if h.flags & bit != 0 {
                m.insert(name.into(), true.into());
            }
        }
        m.insert("opcode".into(), h.opcode().into());
        if self.tx_type == DnsTxType::Response {
            m.insert("rcode".into(), rcode_name(h.rcode()).into_owned().into());
        }
        let queries: Vec<Value> = self
            .queries
            .iter()
            .map(|q| json!({"rrname": q.name, "rrtype": rrtype_name(q.rrtype)}))
            .collect();
        if !queries.is_empty() {
            m.insert("queries".into(), Value::Array(queries));
        }
        if self.tx_type == DnsTxType::Response {
            if !self.answers.is_empty() {
                m.insert(
                    "answers".into(),
                    Value::Array(self.answers.iter().map(record_json).collect()),
                );
                let mut grouped = Map::new();
                // Suricata groups address and name-like records only.
                for a in self
                    .answers
                    .iter()
                    .filter(|a| matches!(a.rrtype, 1 | 2 | 5 | 12 | 15 | 16 | 28))
                {
                    if let Some(s) = rdata_string(&a.data) {
                        let e = grouped
                            .entry(rrtype_name(a.rrtype).into_owned())
                            .or_insert_with(|| Value::Array(Vec::new()));
                        if let Value::Array(v) = e {
                            v.push(s.into());
                        }
                    }
                }
                if !grouped.is_empty() {
                    m.insert("grouped".into(), Value::Object(grouped));
                }
            }
            if !self.authorities.is_empty() {
                m.insert(
                    "authorities".into(),
                    Value::Array(self.authorities.iter().map(record_json).collect()),
                );
            }
        }
        obj.insert("dns".into(), Value::Object(m));
    }
}

#[cfg(test)]
mod tests {
    use super::super::parser::{self, tests as samples};
    use super::*;
    use crate::time::Timestamp;

    fn tx(msg: &[u8]) -> DnsTransaction {
        let m = parser::parse_message(msg, 64).unwrap();
        DnsTransaction {
            tx_type: if m.header.qr() {
                DnsTxType::Response
            } else {
                DnsTxType::Request
            },
            header: m.header,
            queries: m.queries,
            answers: m.answers,
            authorities: m.authorities,
            additionals: m.additionals,
            ts: Timestamp(0),
            request_ts: None,
        }
    }

    #[test]
    fn request_shape() {
        let mut o = Map::new();
        tx(samples::QUERY).write_eve(&mut o);
        assert_eq!(
            o["dns"],
            json!({"version": 3, "type": "request", "id": 0x1234, "flags": "100", "rd": true,
                   "opcode": 0, "queries": [{"rrname": "www.example.com", "rrtype": "A"}]})
        );
    }

    #[test]
    fn response_shape() {
        let mut o = Map::new();
        tx(&samples::response()).write_eve(&mut o);
        let d = &o["dns"];
        assert_eq!(d["type"], "response");
        assert_eq!(d["flags"], "8180");
        assert_eq!(d["qr"], true);
        assert_eq!(d["ra"], true);
        assert_eq!(d["rcode"], "NOERROR");
        assert_eq!(
            d["answers"][0],
            json!({"rrname": "www.example.com", "rrtype": "CNAME", "ttl": 3600, "rdata": "web.example.com"})
        );
        assert_eq!(d["answers"][1]["rdata"], "93.184.216.34");
        assert_eq!(d["grouped"]["A"], json!(["93.184.216.34"]));
        assert_eq!(d["authorities"][0]["soa"]["mname"], "ns.example.com");
    }

    /// One response carrying every common record type.
    fn all_types() -> Vec<u8> {
        let mut m = b"\xab\xcd\x85\x80\x00\x01\x00\x07\x00\x00\x00\x01".to_vec();
        m.extend_from_slice(b"\x07example\x03com\x00\x00\xff\x00\x01"); // ANY, name at 12
        let mut rr = |t: u16, rd: &[u8]| {
            m.extend_from_slice(b"\xc0\x0c");
            m.extend_from_slice(&t.to_be_bytes());
            m.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            m.extend_from_slice(&(rd.len() as u16).to_be_bytes());
            m.extend_from_slice(rd);
        };
        let mut aaaa = vec![0x20, 0x01, 0x0d, 0xb8];
        aaaa.extend_from_slice(&[0; 11]);
        aaaa.push(1);
        rr(28, &aaaa);
        rr(15, b"\x00\x0a\x02mx\xc0\x0c");
        rr(16, b"\x06v=spf1\x05 -all");
        rr(33, b"\x00\x01\x00\x02\x01\xbb\x03sip\xc0\x0c");
        rr(257, b"\x00\x05issueletsencrypt.org");
        rr(10, b"ab\x00");
        rr(65, b"\x00\x01\x00");
        // additional: OPT with one option
        m.extend_from_slice(
            b"\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x06\x00\x0a\x00\x02\xaa\xbb",
        );
        m
    }

    #[test]
    fn renders_all_common_types() {
        let t = tx(&all_types());
        assert_eq!(t.additionals.len(), 1);
        assert_eq!(
            t.additionals[0].data,
            DnsRData::Opt(vec![(10, vec![0xaa, 0xbb])])
        );
        let mut o = Map::new();
        t.write_eve(&mut o);
        let a = &o["dns"]["answers"];
        assert_eq!(o["dns"]["queries"][0]["rrtype"], "ANY");
        assert_eq!(o["dns"]["aa"], true);
        assert_eq!(a[0]["rdata"], "2001:0db8:0000:0000:0000:0000:0000:0001");
        assert_eq!(a[1]["rdata"], "mx.example.com");
        assert_eq!(a[2]["rdata"], "v=spf1 -all");
        assert_eq!(
            a[3]["srv"],
            json!({"priority": 1, "weight": 2, "port": 443, "name": "sip.example.com"})
        );
        assert_eq!(a[4]["rdata"], "0 issue \"letsencrypt.org\"");
        assert_eq!(a[5]["rrtype"], "NULL");
        assert_eq!(a[5]["rdata"], "ab\\x00");
        assert_eq!(a[6]["rrtype"], "HTTPS");
        assert_eq!(o["dns"]["grouped"]["MX"], json!(["mx.example.com"]));
        assert!(o["dns"]["grouped"].get("NULL").is_none());
    }

    #[test]
    fn ipv6_is_full_form() {
        let a: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(ipv6_full(&a), "2001:0db8:0000:0000:0000:0000:0000:0001");
    }
}
