//! HTTP EVE output with Suricata's field names.

use super::HttpTransaction;
use serde_json::{json, Map, Value};

impl HttpTransaction {
    /// Inserts `"http": {hostname, http_port?, url, http_user_agent,
    /// http_content_type, http_refer, http_method, protocol, status, redirect,
    /// length}`; absent values are left out, as Suricata does.
    pub fn write_eve(&self, obj: &mut Map<String, Value>) {
        let mut m = Map::new();
        if let Some(h) = &self.host {
            m.insert("hostname".into(), h.clone().into());
        }
        if let Some(p) = self.host_port {
            m.insert("http_port".into(), p.into());
        }
        if !self.uri_raw.is_empty() {
            m.insert("url".into(), self.uri_raw.clone().into());
        }
        if let Some(v) = &self.user_agent {
            m.insert("http_user_agent".into(), v.clone().into());
        }
        if let Some(v) = &self.content_type {
            m.insert("http_content_type".into(), v.clone().into());
        }
        if let Some(v) = &self.referer {
            m.insert("http_refer".into(), v.clone().into());
        }
        if !self.method.is_empty() {
            m.insert("http_method".into(), self.method.clone().into());
        }
        if !self.protocol.is_empty() {
            m.insert("protocol".into(), self.protocol.clone().into());
        } else if let Some(p) = &self.response_protocol {
            m.insert("protocol".into(), p.clone().into());
        }
        if let Some(s) = self.status {
            m.insert("status".into(), s.into());
        }
        if let Some(v) = &self.location {
            m.insert("redirect".into(), v.clone().into());
        }
        m.insert("length".into(), self.response_body_len.into());
        obj.insert("http".into(), Value::Object(m));
    }
}

fn header_list(h: &[(String, String)]) -> Value {
    Value::Array(
        h.iter()
            .map(|(n, v)| json!({"name": n, "value": v}))
            .collect(),
    )
}

impl HttpTransaction {
    /// As [`HttpTransaction::write_eve`], plus `request_headers` and
    /// `response_headers` as `[{name, value}]` lists (Suricata's
    /// `dump-all-headers: both`). Credentials in `Authorization` headers are
    /// already redacted.
    pub fn write_eve_with_headers(&self, obj: &mut Map<String, Value>) {
        self.write_eve(obj);
        if let Some(Value::Object(m)) = obj.get_mut("http") {
            m.insert("request_headers".into(), header_list(&self.request_headers));
            m.insert(
                "response_headers".into(),
                header_list(&self.response_headers),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suricata_shape() {
        let t = HttpTransaction {
            method: "GET".into(),
            uri_raw: "/blah/".into(),
            uri: "/blah/".into(),
            protocol: "HTTP/1.0".into(),
            host: Some("www.google.com".into()),
            user_agent: Some("Wget/1.11.4".into()),
            status: Some(404),
            content_type: Some("text/html".into()),
            response_body_len: 1194,
            ..HttpTransaction::default()
        };
        let mut o = Map::new();
        t.write_eve(&mut o);
        // the expectation of suricata-verify bug-78-http-uri
        let mut full = Map::new();
        t.write_eve_with_headers(&mut full);
        assert_eq!(full["http"]["request_headers"], json!([]));
        assert_eq!(
            o["http"],
            json!({"hostname": "www.google.com", "http_content_type": "text/html",
                   "http_method": "GET", "http_user_agent": "Wget/1.11.4", "length": 1194,
                   "protocol": "HTTP/1.0", "status": 404, "url": "/blah/"})
        );
    }
}
