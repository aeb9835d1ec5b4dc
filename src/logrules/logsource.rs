//! `logsource` to the lines a rule looks at, and what zoneguard does not
//! collect.

use serde_yaml_ng::Value;

use super::rule::{field_err, RuleError};

/// Which lines a detection rule looks at (from its `logsource`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every line (`product: linux` without service, `service: syslog`).
    All,
    /// Lines from these programs (lower-case program names).
    Programs(Vec<String>),
    /// Lines a firewall decoder recognised (`category: firewall`).
    Firewall,
}

/// Programs of `service: auth` (`/var/log/auth.log`, `secure`).
pub const AUTH_PROGRAMS: &[&str] = &[
    "sshd",
    "sudo",
    "su",
    "login",
    "passwd",
    "useradd",
    "userdel",
    "usermod",
    "groupadd",
    "groupdel",
    "gpasswd",
    "chage",
    "chpasswd",
    "unix_chkpwd",
    "systemd-logind",
    "polkitd",
    "pkexec",
    "cron",
    "crond",
];

pub(crate) fn scope(ls: &Value) -> Result<Scope, RuleError> {
    let get = |k: &str| -> Result<Option<String>, RuleError> {
        match ls.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.to_ascii_lowercase())),
            Some(_) => Err(field_err(&format!("logsource.{k}"), "not a string")),
        }
    };
    let (product, service, category) = (get("product")?, get("service")?, get("category")?);
    let desc = || {
        format!(
            "product={} service={} category={}",
            product.as_deref().unwrap_or("-"),
            service.as_deref().unwrap_or("-"),
            category.as_deref().unwrap_or("-")
        )
    };
    if let Some(c) = &category {
        return match c.as_str() {
            "firewall" if matches!(product.as_deref(), None | Some("linux")) => Ok(Scope::Firewall),
            _ => Err(RuleError::NotCollected(desc())),
        };
    }
    match product.as_deref() {
        Some("linux") | None => {}
        Some(_) => return Err(RuleError::NotCollected(desc())),
    }
    match service.as_deref() {
        None if product.is_none() => Err(field_err(
            "logsource",
            "names no product, service or category",
        )),
        None | Some("syslog") => Ok(Scope::All),
        Some("auth") => Ok(Scope::Programs(
            AUTH_PROGRAMS.iter().map(|s| (*s).to_owned()).collect(),
        )),
        // auditd's own records (type=SYSCALL ...) and the other structured
        // sources are not syslog lines zoneguard decodes.
        Some("auditd" | "sysmon" | "osquery" | "ebpf") => Err(RuleError::NotCollected(desc())),
        Some(s) => Ok(Scope::Programs(vec![s.to_owned()])),
    }
}
