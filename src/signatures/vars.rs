//! Address and port group variables (`$HOME_NET`, `$HTTP_PORTS`), resolved
//! once per load with cycle detection so rule headers only do map lookups.

use std::collections::{BTreeMap, HashMap};

use super::addr::{parse_expr, AddrSet, ExprError, PortSet, SetExpr, MAX_EXPR_DEPTH};

/// The variable definitions a rule set is loaded with: names without `$`,
/// values in rule-header syntax (`[10.0.0.0/8,!10.1.0.0/16]`, `!$HOME_NET`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars {
    /// `vars.address-groups` of the configuration.
    pub address_groups: BTreeMap<String, String>,
    /// `vars.port-groups` of the configuration.
    pub port_groups: BTreeMap<String, String>,
}

impl Vars {
    /// Builds the variables from the two maps of the configuration.
    pub fn from_maps(
        address_groups: &BTreeMap<String, String>,
        port_groups: &BTreeMap<String, String>,
    ) -> Self {
        Self {
            address_groups: address_groups.clone(),
            port_groups: port_groups.clone(),
        }
    }

    /// The address and port groups of Suricata 8's default suricata.yaml
    /// (the one table lives in [`crate::config::Vars::suricata_defaults`]).
    pub fn suricata_defaults() -> Self {
        let d = crate::config::Vars::suricata_defaults();
        Self {
            address_groups: d.address_groups,
            port_groups: d.port_groups,
        }
    }

    /// Resolves every variable. A variable that cannot be resolved is kept
    /// with its error, so only the rules that use it are rejected.
    pub fn resolve(&self) -> ResolvedVars {
        ResolvedVars {
            addrs: resolve_all::<AddrSet>(&self.address_groups),
            ports: resolve_all::<PortSet>(&self.port_groups),
        }
    }
}

/// Variables resolved into sets (or the reason they cannot be).
#[derive(Debug, Clone, Default)]
pub struct ResolvedVars {
    addrs: HashMap<String, Result<AddrSet, ExprError>>,
    ports: HashMap<String, Result<PortSet, ExprError>>,
}

impl ResolvedVars {
    /// Parses an address expression of a rule header.
    pub fn address(&self, expr: &str) -> Result<AddrSet, ExprError> {
        parse_expr(expr, &mut |name| lookup(&self.addrs, name))
    }

    /// The variables that cannot be resolved, for the configuration
    /// report: (`address` or `port`, name, reason), sorted by name.
    pub fn errors(&self) -> Vec<(&'static str, String, String)> {
        let mut out: Vec<(&'static str, String, String)> =
            self.addrs
                .iter()
                .filter_map(|(k, v)| {
                    v.as_ref()
                        .err()
                        .map(|e| ("address", k.clone(), e.to_string()))
                })
                .chain(self.ports.iter().filter_map(|(k, v)| {
                    v.as_ref().err().map(|e| ("port", k.clone(), e.to_string()))
                }))
                .collect();
        out.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(b.0)));
        out
    }

    /// Parses a port expression of a rule header.
    pub fn ports(&self, expr: &str) -> Result<PortSet, ExprError> {
        parse_expr(expr, &mut |name| lookup(&self.ports, name))
    }
}

fn lookup<S: Clone>(
    map: &HashMap<String, Result<S, ExprError>>,
    name: &str,
) -> Result<S, ExprError> {
    match map.get(name) {
        None => Err(ExprError::UnknownVariable(name.to_string())),
        Some(Ok(s)) => Ok(s.clone()),
        Some(Err(e)) => Err(ExprError::BadVariable {
            name: name.to_string(),
            reason: e.to_string(),
        }),
    }
}

fn resolve_all<S: SetExpr>(
    defs: &BTreeMap<String, String>,
) -> HashMap<String, Result<S, ExprError>> {
    let mut done: HashMap<String, Result<S, ExprError>> = HashMap::new();
    for name in defs.keys() {
        let mut stack = Vec::new();
        let _ = resolve_one(defs, name, &mut stack, &mut done);
    }
    done
}

fn resolve_one<S: SetExpr>(
    defs: &BTreeMap<String, String>,
    name: &str,
    stack: &mut Vec<String>,
    done: &mut HashMap<String, Result<S, ExprError>>,
) -> Result<S, ExprError> {
    if let Some(r) = done.get(name) {
        return r.clone();
    }
    if stack.iter().any(|n| n == name) {
        return Err(ExprError::Cycle(name.to_string()));
    }
    if stack.len() >= MAX_EXPR_DEPTH {
        return Err(ExprError::TooDeep);
    }
    let Some(value) = defs.get(name) else {
        return Err(ExprError::UnknownVariable(name.to_string()));
    };
    stack.push(name.to_string());
    let r = parse_expr(value, &mut |inner| resolve_one(defs, inner, stack, done));
    stack.pop();
    // Memoised whatever the outcome: a variable that reaches a cycle is part
    // of it, and without memoising a lattice of references is exponential.
    done.insert(name.to_string(), r.clone());
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn defaults_resolve() {
        let r = Vars::suricata_defaults().resolve();
        let ext = r.address("$EXTERNAL_NET").unwrap();
        assert!(ext.contains(ip("8.8.8.8")));
        assert!(!ext.contains(ip("10.1.1.1")));
        let home = r.address("!$EXTERNAL_NET").unwrap();
        assert!(home.contains(ip("192.168.1.1")));
        let fd = r.ports("$FILE_DATA_PORTS").unwrap();
        assert!(fd.contains(80) && fd.contains(143) && !fd.contains(443));
        assert!(r.ports("$SHELLCODE_PORTS").unwrap().contains(81));
        assert!(matches!(
            r.address("$NOPE"),
            Err(ExprError::UnknownVariable(_))
        ));
    }

    #[test]
    fn cycles_are_reported() {
        let mut v = Vars::default();
        v.address_groups.insert("A".into(), "[$B,1.1.1.1]".into());
        v.address_groups.insert("B".into(), "!$A".into());
        v.address_groups.insert("C".into(), "$C".into());
        v.address_groups.insert("D".into(), "10.0.0.0/8".into());
        let r = v.resolve();
        assert!(matches!(
            r.address("$A"),
            Err(ExprError::BadVariable { .. })
        ));
        assert!(matches!(
            r.address("$C"),
            Err(ExprError::BadVariable { .. })
        ));
        assert!(r.address("$D").is_ok());
        let errs = r.errors();
        let names: Vec<&str> = errs.iter().map(|e| e.1.as_str()).collect();
        assert_eq!(names, vec!["A", "B", "C"]);
        assert!(errs[2].2.contains("cycle"));
        assert!(Vars::suricata_defaults().resolve().errors().is_empty());
    }

    #[test]
    fn from_config_maps() {
        let mut a = BTreeMap::new();
        a.insert("HOME_NET".to_string(), "[10.20.0.0/16]".to_string());
        a.insert("EXTERNAL_NET".to_string(), "!$HOME_NET".to_string());
        let mut p = BTreeMap::new();
        p.insert("HTTP_PORTS".to_string(), "[80,8080]".to_string());
        let r = Vars::from_maps(&a, &p).resolve();
        assert!(r.address("$HOME_NET").unwrap().contains(ip("10.20.1.1")));
        assert!(!r.address("$HOME_NET").unwrap().contains(ip("10.21.1.1")));
        assert!(r.ports("$HTTP_PORTS").unwrap().contains(8080));
        assert!(matches!(
            r.ports("$SSH_PORTS"),
            Err(ExprError::UnknownVariable(_))
        ));
    }

    #[test]
    fn long_chain_is_bounded() {
        let mut v = Vars::default();
        for i in 0..200 {
            v.port_groups
                .insert(format!("P{i}"), format!("$P{}", i + 1));
        }
        v.port_groups.insert("P200".into(), "80".into());
        let r = v.resolve();
        // Resolved from the end of the chain backwards or bounded: never a hang.
        let _ = r.ports("$P0");
    }
}
