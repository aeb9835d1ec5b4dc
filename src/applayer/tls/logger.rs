//! TLS EVE output with Suricata's field names.

use super::parser::version_name;
use super::TlsInfo;
use serde_json::{json, Map, Value};

impl TlsInfo {
    /// Inserts `"tls": {subject, issuerdn, serial, sni, version, notbefore,
    /// notafter, ja3, ja3s, ja4, client_alpns, server_alpns}` (absent values
    /// left out), with the certificate's `fingerprint` (SHA-1) when one was
    /// seen.
    pub fn write_eve(&self, obj: &mut Map<String, Value>) {
        let mut m = Map::new();
        if let Some(c) = &self.cert {
            m.insert("subject".into(), c.subject.clone().into());
            m.insert("issuerdn".into(), c.issuer.clone().into());
            m.insert("serial".into(), c.serial.clone().into());
            m.insert("fingerprint".into(), c.fingerprint.clone().into());
        }
        if let Some(s) = &self.sni {
            m.insert("sni".into(), s.clone().into());
        }
        m.insert(
            "version".into(),
            version_name(self.version.unwrap_or(0)).into(),
        );
        if let Some(c) = &self.cert {
            m.insert("notbefore".into(), c.not_before.clone().into());
            m.insert("notafter".into(), c.not_after.clone().into());
        }
        if let Some(j) = &self.ja3 {
            m.insert("ja3".into(), json!({"hash": j.hash, "string": j.string}));
        }
        if let Some(j) = &self.ja3s {
            m.insert("ja3s".into(), json!({"hash": j.hash, "string": j.string}));
        }
        if let Some(j) = &self.ja4 {
            m.insert("ja4".into(), j.clone().into());
        }
        if !self.client_alpns.is_empty() {
            m.insert("client_alpns".into(), json!(self.client_alpns));
        }
        if !self.server_alpns.is_empty() {
            m.insert("server_alpns".into(), json!(self.server_alpns));
        }
        obj.insert("tls".into(), Value::Object(m));
    }
}

#[cfg(test)]
mod tests {
    use super::super::x509::CertInfo;
    use super::*;

    #[test]
    fn suricata_shape() {
        let t = TlsInfo {
            version: Some(0x0303),
            sni: Some("www.google.com".into()),
            client_alpns: vec!["h2".into()],
            cert: Some(CertInfo {
                subject: "C=US, CN=www.google.com".into(),
                issuer: "C=US, O=Google Trust Services, CN=WR2".into(),
                serial: "01:AB".into(),
                not_before: "2024-01-02T00:00:00".into(),
                not_after: "2024-04-01T00:00:00".into(),
                sans: vec![],
                fingerprint: "00:11".into(),
            }),
            ..TlsInfo::default()
        };
        let mut o = Map::new();
        t.write_eve(&mut o);
        assert_eq!(
            o["tls"],
            json!({"subject": "C=US, CN=www.google.com", "issuerdn": "C=US, O=Google Trust Services, CN=WR2",
                   "serial": "01:AB", "fingerprint": "00:11", "sni": "www.google.com", "version": "TLS 1.2",
                   "notbefore": "2024-01-02T00:00:00", "notafter": "2024-04-01T00:00:00",
                   "client_alpns": ["h2"]})
        );
    }
}
