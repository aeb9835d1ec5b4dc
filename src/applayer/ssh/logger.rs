//! SSH EVE output with Suricata's field names.

use super::{SshInfo, SshSide};
use serde_json::{json, Map, Value};

fn side(s: &SshSide) -> Value {
    let mut m = Map::new();
    m.insert("proto_version".into(), s.proto_version.clone().into());
    m.insert("software_version".into(), s.software_version.clone().into());
    if let Some((string, hash)) = &s.hassh {
        m.insert("hassh".into(), json!({"hash": hash, "string": string}));
    }
    Value::Object(m)
}

impl SshInfo {
    /// Inserts `"ssh": {client: {proto_version, software_version, hassh?}, server: {...}}`.
    pub fn write_eve(&self, obj: &mut Map<String, Value>) {
        let mut m = Map::new();
        if let Some(c) = &self.client {
            m.insert("client".into(), side(c));
        }
        if let Some(s) = &self.server {
            m.insert("server".into(), side(s));
        }
        obj.insert("ssh".into(), Value::Object(m));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        let i = SshInfo {
            client: Some(SshSide {
                proto_version: "2.0".into(),
                software_version: "OpenSSH_8.9p1 Ubuntu-3".into(),
                hassh: Some(("a;b;c;d".into(), "0123".into())),
            }),
            server: None,
        };
        let mut o = Map::new();
        i.write_eve(&mut o);
        assert_eq!(
            o["ssh"],
            json!({"client": {"proto_version": "2.0", "software_version": "OpenSSH_8.9p1 Ubuntu-3",
                              "hassh": {"hash": "0123", "string": "a;b;c;d"}}})
        );
    }
}
