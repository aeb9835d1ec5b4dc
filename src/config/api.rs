//! The `api:` section: where the REST API listens, its TLS certificates,
//! the bearer tokens (stored as SHA-256 hashes) and client certificates it
//! accepts, with their roles and unit scopes, and its limits.
//!
//! Read by hand like the rest of the config so that every unknown key,
//! wrong type and bad value is reported with its YAML path. See
//! `docs/configuration.md` (`api`) and `docs/api.md`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

use super::error::ErrorKind;
use super::Zone;

/// Default listen address of the API (and of `/metrics` beside it).
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:9750";

/// Most tokens or client entries accepted.
const MAX_PRINCIPALS: usize = 1024;
/// Most units in one scope.
const MAX_SCOPE_UNITS: usize = 256;
/// Longest name, subject or unit accepted (characters).
const MAX_NAME_CHARS: usize = 256;

/// What an API user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ApiRole {
    /// Reads incidents, their timelines and the summary.
    Viewer,
    /// A viewer who also acknowledges, assigns, resolves and comments.
    Responder,
    /// A responder who also reloads the daemon's configuration.
    Admin,
}

impl ApiRole {
    /// Config and JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiRole::Viewer => "viewer",
            ApiRole::Responder => "responder",
            ApiRole::Admin => "admin",
        }
    }

    /// Parses the config spelling.
    pub fn parse(s: &str) -> Option<ApiRole> {
        [ApiRole::Viewer, ApiRole::Responder, ApiRole::Admin]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// A bearer token: only its SHA-256 is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Who holds it; the actor of its actions in the timeline and audit log.
    pub name: String,
    /// SHA-256 of the token text.
    pub sha256: [u8; 32],
    /// Role.
    pub role: ApiRole,
    /// Units it is limited to; empty means every unit.
    pub units: Vec<String>,
}

/// A client certificate accepted in place of a token (TLS with
/// `client_ca` only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClient {
    /// The certificate's subject CN, a dNSName SAN, or the whole subject DN
    /// as `C=CN, O=…, CN=…`.
    pub subject: String,
    /// Actor name in the audit log; default `cert:SUBJECT`.
    pub name: String,
    /// Role.
    pub role: ApiRole,
    /// Units it is limited to; empty means every unit.
    pub units: Vec<String>,
}

/// TLS of the API listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTls {
    /// PEM certificate chain of the server.
    pub cert: PathBuf,
    /// PEM private key of the server.
    pub key: PathBuf,
    /// PEM CA certificates that client certificates must chain to; enables
    /// client certificates.
    pub client_ca: Option<PathBuf>,
    /// Refuse connections without a valid client certificate (needs
    /// `client_ca`).
    pub require_client_cert: bool,
}

/// Limits of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiLimits {
    /// Largest request body (bytes); larger is refused with 413.
    pub max_body_bytes: usize,
    /// Whole-request time limit (seconds).
    pub request_timeout_secs: u64,
    /// Time allowed to send the request headers (seconds).
    pub header_timeout_secs: u64,
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// SQLite connections (and so blocking threads) used for the store.
    pub db_connections: usize,
    /// How long a store access waits for SQLite's write lock (ms).
    pub busy_timeout_ms: u64,
    /// Failed authentications written to the audit log per minute; the rest
    /// are counted and the count is written with the next one recorded.
    pub failed_auth_audit_per_minute: u32,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            max_body_bytes: 64 * 1024,
            request_timeout_secs: 30,
            header_timeout_secs: 10,
            max_connections: 256,
            db_connections: 4,
            busy_timeout_ms: 5_000,
            failed_auth_audit_per_minute: 600,
        }
    }
}

/// The `api:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// Listen address (default 127.0.0.1:9750); `/metrics` is served here
    /// too, without authentication.
    pub listen: SocketAddr,
    /// TLS, when certificates are configured.
    pub tls: Option<ApiTls>,
    /// Bearer tokens.
    pub tokens: Vec<ApiToken>,
    /// Client certificates mapped to users.
    pub clients: Vec<ApiClient>,
    /// Limits.
    pub limits: ApiLimits,
    /// Also write reads (list, get, summary) to the audit log.
    pub audit_reads: bool,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9750)),
            tls: None,
            tokens: Vec::new(),
            clients: Vec::new(),
            limits: ApiLimits::default(),
            audit_reads: false,
        }
    }
}

/// Where problems go: (kind, YAML path, message).
pub(super) type Report<'r> = &'r mut dyn FnMut(ErrorKind, String, String);

fn at(parent: &str, key: &str) -> String {
    format!("{parent}.{key}")
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// The mapping at `path` with its keys checked against `known`.
fn mapping<'v>(v: &'v Value, path: &str, known: &[&str], r: Report<'_>) -> Option<&'v Mapping> {
    let Value::Mapping(m) = v else {
        r(
            ErrorKind::WrongType,
            path.to_string(),
            format!("expected a mapping, found {}", kind_of(v)),
        );
        return None;
    };
    for (k, _) in m {
        match k.as_str() {
            Some(s) if known.contains(&s) => {}
            Some(s) => r(
                ErrorKind::UnknownKey,
                at(path, s),
                format!("unknown key '{s}' (expected one of: {})", known.join(", ")),
            ),
            None => r(
                ErrorKind::WrongType,
                path.to_string(),
                format!("mapping key is {}, expected a string", kind_of(k)),
            ),
        }
    }
    Some(m)
}

fn get<'v>(m: &'v Mapping, key: &str) -> Option<&'v Value> {
    m.get(key).filter(|v| !v.is_null())
}

fn string(m: &Mapping, key: &str, path: &str, r: Report<'_>) -> Option<String> {
    let v = get(m, key)?;
    match v {
        Value::String(s)
            if s.chars().count() <= MAX_NAME_CHARS && !s.contains(char::is_control) =>
        {
            Some(s.clone())
        }
        Value::String(_) => {
            r(
                ErrorKind::InvalidValue,
                at(path, key),
                format!("longer than {MAX_NAME_CHARS} characters or contains control characters"),
            );
            None
        }
        other => {
            r(
                ErrorKind::WrongType,
                at(path, key),
                format!("expected a string, found {}", kind_of(other)),
            );
            None
        }
    }
}

fn required(m: &Mapping, key: &str, path: &str, r: Report<'_>) -> Option<String> {
    if get(m, key).is_none() {
        r(
            ErrorKind::MissingKey,
            path.to_string(),
            format!("missing required key '{key}'"),
        );
        return None;
    }
    match string(m, key, path, r) {
        Some(s) if s.trim().is_empty() => {
            r(
                ErrorKind::InvalidValue,
                at(path, key),
                format!("'{key}' must not be empty"),
            );
            None
        }
        s => s,
    }
}

fn number(m: &Mapping, key: &str, path: &str, lo: u64, hi: u64, r: Report<'_>) -> Option<u64> {
    let v = get(m, key)?;
    match v.as_u64() {
        Some(n) if (lo..=hi).contains(&n) => Some(n),
        Some(n) => {
            r(
                ErrorKind::InvalidValue,
                at(path, key),
                format!("{n} is out of range ({lo}-{hi})"),
            );
            None
        }
        None => {
            r(
                ErrorKind::WrongType,
                at(path, key),
                format!("expected a whole number {lo}-{hi}, found {}", kind_of(v)),
            );
            None
        }
    }
}

fn boolean(m: &Mapping, key: &str, path: &str, r: Report<'_>) -> Option<bool> {
    let v = get(m, key)?;
    match v {
        Value::Bool(b) => Some(*b),
        other => {
            r(
                ErrorKind::WrongType,
                at(path, key),
                format!("expected true or false, found {}", kind_of(other)),
            );
            None
        }
    }
}

fn sequence<'v>(m: &'v Mapping, key: &str, path: &str, max: usize, r: Report<'_>) -> &'v [Value] {
    match get(m, key) {
        None => &[],
        Some(Value::Sequence(s)) if s.len() <= max => s,
        Some(Value::Sequence(_)) => {
            r(
                ErrorKind::InvalidValue,
                at(path, key),
                format!("more than {max} items"),
            );
            &[]
        }
        Some(other) => {
            r(
                ErrorKind::WrongType,
                at(path, key),
                format!("expected a list, found {}", kind_of(other)),
            );
            &[]
        }
    }
}

fn path_of(s: String, base_dir: &Path) -> PathBuf {
    let p = PathBuf::from(s);
    if p.is_absolute() {
        p
    } else {
        base_dir.join(p)
    }
}

fn role(m: &Mapping, path: &str, r: Report<'_>) -> Option<ApiRole> {
    let s = required(m, "role", path, r)?;
    let role = ApiRole::parse(s.trim());
    if role.is_none() {
        r(
            ErrorKind::InvalidValue,
            at(path, "role"),
            format!("unknown role '{s}' (expected viewer, responder or admin)"),
        );
    }
    role
}

fn units(m: &Mapping, path: &str, known: &BTreeSet<&str>, r: Report<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let p = at(path, "units");
    for (i, v) in sequence(m, "units", path, MAX_SCOPE_UNITS, r)
        .iter()
        .enumerate()
    {
        let ip = format!("{p}[{i}]");
        let Value::String(s) = v else {
            r(
                ErrorKind::WrongType,
                ip,
                format!("expected a unit name, found {}", kind_of(v)),
            );
            continue;
        };
        if s.trim().is_empty() || s.chars().count() > MAX_NAME_CHARS {
            r(
                ErrorKind::InvalidValue,
                ip,
                "unit names are 1-256 characters".to_string(),
            );
        } else if !known.is_empty() && !known.contains(s.as_str()) {
            r(
                ErrorKind::InvalidValue,
                ip,
                format!("'{s}' is not the unit of any zone"),
            );
        } else if out.contains(s) {
            r(
                ErrorKind::InvalidValue,
                ip,
                format!("unit '{s}' listed twice"),
            );
        } else {
            out.push(s.clone());
        }
    }
    out
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let hi = (*pair.first()? as char).to_digit(16)?;
        let lo = (*pair.get(1)? as char).to_digit(16)?;
        *o = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

fn read_tls(v: &Value, base_dir: &Path, r: Report<'_>) -> Option<ApiTls> {
    const KNOWN: &[&str] = &["cert", "key", "client_ca", "require_client_cert"];
    let path = "api.tls";
    let m = mapping(v, path, KNOWN, r)?;
    let cert = required(m, "cert", path, r);
    let key = required(m, "key", path, r);
    let client_ca = string(m, "client_ca", path, r).map(|s| path_of(s, base_dir));
    let require_client_cert = boolean(m, "require_client_cert", path, r).unwrap_or(false);
    if require_client_cert && client_ca.is_none() {
        r(
            ErrorKind::InvalidValue,
            at(path, "require_client_cert"),
            "require_client_cert needs client_ca".to_string(),
        );
    }
    Some(ApiTls {
        cert: path_of(cert?, base_dir),
        key: path_of(key?, base_dir),
        client_ca,
        require_client_cert,
    })
}

fn read_limits(v: &Value, r: Report<'_>) -> ApiLimits {
    const KNOWN: &[&str] = &[
        "max_body_bytes",
        "request_timeout_secs",
        "header_timeout_secs",
        "max_connections",
        "db_connections",
        "busy_timeout_ms",
        "failed_auth_audit_per_minute",
    ];
    let path = "api.limits";
    let mut l = ApiLimits::default();
    let Some(m) = mapping(v, path, KNOWN, r) else {
        return l;
    };
    let us = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    if let Some(n) = number(m, "max_body_bytes", path, 256, 16 * 1024 * 1024, r) {
        l.max_body_bytes = us(n);
    }
    if let Some(n) = number(m, "request_timeout_secs", path, 1, 3600, r) {
        l.request_timeout_secs = n;
    }
    if let Some(n) = number(m, "header_timeout_secs", path, 1, 600, r) {
        l.header_timeout_secs = n;
    }
    if let Some(n) = number(m, "max_connections", path, 1, 65_536, r) {
        l.max_connections = us(n);
    }
    if let Some(n) = number(m, "db_connections", path, 1, 64, r) {
        l.db_connections = us(n);
    }
    if let Some(n) = number(m, "busy_timeout_ms", path, 0, 600_000, r) {
        l.busy_timeout_ms = n;
    }
    if let Some(n) = number(m, "failed_auth_audit_per_minute", path, 0, 1_000_000, r) {
        l.failed_auth_audit_per_minute = u32::try_from(n).unwrap_or(u32::MAX);
    }
    l
}

/// Reads `api:` (absent: the defaults). `zones` are the config's zones: a
/// scope must name units that some zone has (when zones are given).
pub(super) fn read(v: Option<&Value>, base_dir: &Path, zones: &[Zone], r: Report<'_>) -> ApiConfig {
    const KNOWN: &[&str] = &[
        "listen",
        "tls",
        "tokens",
        "clients",
        "limits",
        "audit_reads",
    ];
    let mut cfg = ApiConfig::default();
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return cfg;
    };
    let Some(m) = mapping(v, "api", KNOWN, r) else {
        return cfg;
    };
    if let Some(s) = string(m, "listen", "api", r) {
        match s.trim().parse::<SocketAddr>() {
            Ok(a) => cfg.listen = a,
            Err(_) => r(
                ErrorKind::InvalidValue,
                "api.listen".to_string(),
                format!("'{s}' is not an address:port (e.g. {DEFAULT_API_LISTEN} or [::1]:9750)"),
            ),
        }
    }
    if let Some(t) = get(m, "tls") {
        cfg.tls = read_tls(t, base_dir, r);
    }
    if let Some(l) = get(m, "limits") {
        cfg.limits = read_limits(l, r);
    }
    cfg.audit_reads = boolean(m, "audit_reads", "api", r).unwrap_or(false);
    let known_units: BTreeSet<&str> = zones.iter().filter_map(|z| z.unit.as_deref()).collect();
    let mut names = BTreeSet::new();
    let mut hashes = BTreeSet::new();
    for (i, t) in sequence(m, "tokens", "api", MAX_PRINCIPALS, r)
        .iter()
        .enumerate()
    {
        let path = format!("api.tokens[{i}]");
        let Some(tm) = mapping(t, &path, &["name", "sha256", "role", "units"], r) else {
            continue;
        };
        let name = required(tm, "name", &path, r);
        let hash = required(tm, "sha256", &path, r).and_then(|h| {
            let parsed = hex32(&h.trim().to_ascii_lowercase());
            if parsed.is_none() {
                r(
                    ErrorKind::InvalidValue,
                    at(&path, "sha256"),
                    "expected 64 hex digits (the SHA-256 of the token; `zoneguard api token` prints it)"
                        .to_string(),
                );
            }
            parsed
        });
        let role = role(tm, &path, r);
        let units = units(tm, &path, &known_units, r);
        if let Some(n) = &name {
            if !names.insert(n.clone()) {
                r(
                    ErrorKind::DuplicateId,
                    at(&path, "name"),
                    format!("token name '{n}' used twice"),
                );
            }
        }
        if let Some(h) = hash {
            if !hashes.insert(h) {
                r(
                    ErrorKind::DuplicateId,
                    at(&path, "sha256"),
                    "the same token hash is listed twice".to_string(),
                );
            }
        }
        if let (Some(name), Some(sha256), Some(role)) = (name, hash, role) {
            cfg.tokens.push(ApiToken {
                name,
                sha256,
                role,
                units,
            });
        }
    }
    let mut subjects = BTreeSet::new();
    for (i, c) in sequence(m, "clients", "api", MAX_PRINCIPALS, r)
        .iter()
        .enumerate()
    {
        let path = format!("api.clients[{i}]");
        let Some(cm) = mapping(c, &path, &["subject", "name", "role", "units"], r) else {
            continue;
        };
        let subject = required(cm, "subject", &path, r);
        let name = string(cm, "name", &path, r);
        let role = role(cm, &path, r);
        let units = units(cm, &path, &known_units, r);
        if let Some(s) = &subject {
            if !subjects.insert(s.clone()) {
                r(
                    ErrorKind::DuplicateId,
                    at(&path, "subject"),
                    format!("client subject '{s}' listed twice"),
                );
            }
        }
        if let (Some(subject), Some(role)) = (subject, role) {
            cfg.clients.push(ApiClient {
                name: name.unwrap_or_else(|| format!("cert:{subject}")),
                subject,
                role,
                units,
            });
        }
    }
    if !cfg.clients.is_empty() && cfg.tls.as_ref().is_none_or(|t| t.client_ca.is_none()) {
        r(
            ErrorKind::InvalidValue,
            "api.clients".to_string(),
            "client certificates need api.tls.client_ca".to_string(),
        );
    }
    cfg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(yaml: &str) -> (ApiConfig, Vec<(ErrorKind, String, String)>) {
        let v: Value = serde_yaml_ng::from_str(yaml).unwrap();
        let mut errs = Vec::new();
        let cfg = read(
            v.get("api"),
            Path::new("/etc/zoneguard"),
            &[],
            &mut |k, p, m| errs.push((k, p, m)),
        );
        (cfg, errs)
    }

    #[test]
    fn absent_section_gives_defaults() {
        let (cfg, errs) = run("name: x");
        assert!(errs.is_empty());
        assert_eq!(cfg, ApiConfig::default());
        assert_eq!(cfg.listen.to_string(), DEFAULT_API_LISTEN);
    }

    #[test]
    fn full_section_reads() {
        let (cfg, errs) = run(
            "api:
  listen: '[::1]:9999'
  audit_reads: true
  tls: {cert: tls/api.crt, key: /k.pem, client_ca: ca.pem, require_client_cert: true}
  tokens:
    - {name: duty, sha256: 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08, role: responder, units: [盈江县]}
  clients:
    - {subject: console.example, role: viewer}
  limits: {max_body_bytes: 1024, db_connections: 2}
",
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(cfg.listen.to_string(), "[::1]:9999");
        let tls = cfg.tls.unwrap();
        assert_eq!(tls.cert, PathBuf::from("/etc/zoneguard/tls/api.crt"));
        assert_eq!(tls.key, PathBuf::from("/k.pem"));
        assert!(tls.require_client_cert);
        assert_eq!(cfg.tokens[0].role, ApiRole::Responder);
        assert_eq!(cfg.tokens[0].sha256[0], 0x9f);
        assert_eq!(cfg.tokens[0].units, vec!["盈江县".to_string()]);
        assert_eq!(cfg.clients[0].name, "cert:console.example");
        assert_eq!(cfg.limits.max_body_bytes, 1024);
        assert_eq!(cfg.limits.db_connections, 2);
        assert_eq!(cfg.limits.request_timeout_secs, 30);
        assert!(cfg.audit_reads);
    }

    #[test]
    fn every_problem_is_named_with_its_path() {
        let (_, errs) = run("api:
  listen: nowhere
  colour: red
  tokens:
    - {name: a, sha256: abc, role: boss}
    - {name: a, role: viewer, extra: 1}
  clients: [{subject: x, role: admin}]
  limits: {max_body_bytes: 1}
");
        let paths: Vec<&str> = errs.iter().map(|e| e.1.as_str()).collect();
        for p in [
            "api.listen",
            "api.colour",
            "api.tokens[0].sha256",
            "api.tokens[0].role",
            "api.tokens[1].extra",
            "api.tokens[1]",
            "api.tokens[1].name",
            "api.clients",
            "api.limits.max_body_bytes",
        ] {
            assert!(paths.contains(&p), "{p} not in {errs:?}");
        }
    }

    #[test]
    fn scope_units_must_exist_when_zones_are_given() {
        let v: Value = serde_yaml_ng::from_str(
            "api: {tokens: [{name: a, sha256: '0000000000000000000000000000000000000000000000000000000000000000', role: viewer, units: [nowhere]}]}",
        )
        .unwrap();
        let zone = Zone {
            id: "z".into(),
            name_zh: None,
            name_en: None,
            level: 2,
            default: false,
            isolated: false,
            cidrs: vec![],
            unit: Some("盈江县".into()),
            contact: None,
            assets: Default::default(),
            vlans: vec![],
            hosts: vec![],
        };
        let mut errs = Vec::new();
        read(v.get("api"), Path::new("."), &[zone], &mut |k, p, m| {
            errs.push((k, p, m))
        });
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].1, "api.tokens[0].units[0]");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(yaml in "api:\\n  [a-z_]{1,12}: [ -~]{0,30}") {
            if let Ok(v) = serde_yaml_ng::from_str::<Value>(&yaml) {
                let _ = read(v.get("api"), Path::new("."), &[], &mut |_, _, _| {});
            }
        }
    }
}
