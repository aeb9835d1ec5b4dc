//! Rule variables (`$HOME_NET`, `$HTTP_PORTS`), in Suricata's syntax.

use std::collections::BTreeMap;

/// Address and port groups rules refer to as `$NAME`, as Suricata's
/// `vars.address-groups` and `vars.port-groups`. Values are kept in
/// Suricata syntax (`"[192.168.0.0/16,10.0.0.0/8]"`, `"!$HOME_NET"`,
/// `"[80,443]"`); the rule loader resolves them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vars {
    /// Address groups by name (`HOME_NET`, `EXTERNAL_NET`, ...).
    pub address_groups: BTreeMap<String, String>,
    /// Port groups by name (`HTTP_PORTS`, `SSH_PORTS`, ...).
    pub port_groups: BTreeMap<String, String>,
}

/// Suricata 8's default address groups (suricata.yaml, `vars.address-groups`).
const DEFAULT_ADDRESS_GROUPS: &[(&str, &str)] = &[
    ("HOME_NET", "[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]"),
    ("EXTERNAL_NET", "!$HOME_NET"),
    ("HTTP_SERVERS", "$HOME_NET"),
    ("SMTP_SERVERS", "$HOME_NET"),
    ("SQL_SERVERS", "$HOME_NET"),
    ("DNS_SERVERS", "$HOME_NET"),
    ("TELNET_SERVERS", "$HOME_NET"),
    ("AIM_SERVERS", "$EXTERNAL_NET"),
    ("DC_SERVERS", "$HOME_NET"),
    ("DNP3_SERVER", "$HOME_NET"),
    ("DNP3_CLIENT", "$HOME_NET"),
    ("MODBUS_CLIENT", "$HOME_NET"),
    ("MODBUS_SERVER", "$HOME_NET"),
    ("ENIP_CLIENT", "$HOME_NET"),
    ("ENIP_SERVER", "$HOME_NET"),
];

/// Suricata 8's default port groups (suricata.yaml, `vars.port-groups`).
const DEFAULT_PORT_GROUPS: &[(&str, &str)] = &[
    ("HTTP_PORTS", "80"),
    ("SHELLCODE_PORTS", "!80"),
    ("ORACLE_PORTS", "1521"),
    ("SSH_PORTS", "22"),
    ("DNP3_PORTS", "20000"),
    ("MODBUS_PORTS", "502"),
    ("FILE_DATA_PORTS", "[$HTTP_PORTS,110,143]"),
    ("FTP_PORTS", "21"),
    ("GENEVE_PORTS", "6081"),
    ("VXLAN_PORTS", "4789"),
    ("TEREDO_PORTS", "3544"),
    ("SIP_PORTS", "[5060, 5061]"),
];

impl Vars {
    /// Exactly the variables of Suricata 8's default suricata.yaml; what
    /// `replay` uses without `-c`.
    pub fn suricata_defaults() -> Vars {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect()
        };
        Vars {
            address_groups: map(DEFAULT_ADDRESS_GROUPS),
            port_groups: map(DEFAULT_PORT_GROUPS),
        }
    }

    /// Names referenced as `$NAME` in `value`.
    pub fn references(value: &str) -> impl Iterator<Item = &str> {
        value.split('$').skip(1).filter_map(|rest| {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            rest.get(..end).filter(|n| !n.is_empty())
        })
    }
}

impl Default for Vars {
    fn default() -> Self {
        Vars::suricata_defaults()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_suricata_8() {
        let v = Vars::suricata_defaults();
        assert_eq!(
            v.address_groups.get("HOME_NET").map(String::as_str),
            Some("[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]")
        );
        assert_eq!(
            v.address_groups.get("EXTERNAL_NET").map(String::as_str),
            Some("!$HOME_NET")
        );
        assert_eq!(v.address_groups.len(), 15);
        assert_eq!(v.port_groups.len(), 12);
        assert_eq!(
            v.port_groups.get("SHELLCODE_PORTS").map(String::as_str),
            Some("!80")
        );
    }

    #[test]
    fn finds_references() {
        let refs: Vec<_> = Vars::references("[$HTTP_PORTS,110,!$X_1]").collect();
        assert_eq!(refs, vec!["HTTP_PORTS", "X_1"]);
        assert_eq!(Vars::references("$").count(), 0);
        assert_eq!(Vars::references("80").count(), 0);
    }
}
