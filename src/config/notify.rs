//! The `notify:` section: where incidents are sent (HTTPS webhooks, RFC 5424
//! syslog over TLS to a SIEM), which ones (grade and unit), how fast (a
//! token bucket per destination) and how failed deliveries are retried.
//!
//! Absent, nothing is sent. See docs/configuration.md (`notify`) and
//! [`crate::notify`].

use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

use super::error::ErrorKind;
use super::incidents::{at, duration_secs, get, list, mapping, string, uint, Found};
use crate::incident::Grade;

/// Most destinations of each kind.
const MAX_DESTINATIONS: usize = 64;
/// Most units listed per destination.
const MAX_UNITS: usize = 1024;

/// The SD-ID of the structured data zoneguard puts in its RFC 5424
/// messages by default. 32473 is the private enterprise number RFC 5612
/// reserves for documentation; a deployment with its own PEN sets `sd_id`.
pub const DEFAULT_SD_ID: &str = "zoneguard@32473";

/// Which incidents a destination gets and how many per minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Only incidents of this grade or more serious (default IV: all).
    pub min_grade: Grade,
    /// Only incidents whose responsible or touched units include one of
    /// these; empty means every unit.
    pub units: Vec<String>,
    /// Messages per minute (token bucket, burst of the same size); the
    /// excess is summarized in one digest message. Default 60.
    pub rate_per_min: u32,
}

impl Default for Route {
    fn default() -> Self {
        Route {
            min_grade: Grade::IV,
            units: Vec::new(),
            rate_per_min: 60,
        }
    }
}

/// One HTTPS webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Name in counters, logs and dead letters.
    pub name: String,
    /// `https://host[:port]/path`.
    pub url: String,
    /// HMAC-SHA256 key for the `X-Zoneguard-Signature` header.
    pub secret: Option<String>,
    /// CA certificates (PEM) the receiver's certificate is checked against;
    /// default the system store `/etc/ssl/certs/ca-certificates.crt`.
    pub ca: Option<PathBuf>,
    /// Routing and rate.
    pub route: Route,
    /// Time one delivery attempt may take, in milliseconds; default 10 000.
    pub timeout_ms: u64,
}

/// TLS settings of a syslog destination (RFC 5425).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogTls {
    /// CA certificates (PEM) the collector's certificate is checked against.
    pub ca: PathBuf,
    /// Client certificate chain (PEM), for collectors that require one.
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub key: Option<PathBuf>,
    /// Name the collector's certificate must carry; default the host of
    /// `address`.
    pub server_name: Option<String>,
}

/// One RFC 5424 syslog destination over TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogForwardConfig {
    /// Name in counters and logs.
    pub name: String,
    /// `host:port` of the collector (6514 is the RFC 5425 port).
    pub address: String,
    /// TLS settings.
    pub tls: SyslogTls,
    /// Routing and rate.
    pub route: Route,
    /// Facility 0–23; default 13 (log audit).
    pub facility: u8,
    /// SD-ID of the incident's structured data; default [`DEFAULT_SD_ID`].
    pub sd_id: String,
    /// HOSTNAME of the messages; default the machine's host name.
    pub hostname: Option<String>,
}

/// How failed webhook deliveries are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all before a dead letter; default 8.
    pub max_attempts: u32,
    /// Delay before the first retry, in milliseconds; default 1000. Each
    /// retry doubles it (with jitter) up to `max_backoff_ms`.
    pub initial_backoff_ms: u64,
    /// Longest delay between attempts; default 300 000 (5 minutes).
    pub max_backoff_ms: u64,
    /// Deliveries waiting for a retry per destination; when full, the
    /// oldest becomes a dead letter at once. Default 1024.
    pub queue: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            initial_backoff_ms: 1000,
            max_backoff_ms: 300_000,
            queue: 1024,
        }
    }
}

/// The `notify:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// HTTPS webhooks.
    pub webhooks: Vec<WebhookConfig>,
    /// Syslog destinations.
    pub syslog: Vec<SyslogForwardConfig>,
    /// Retry policy of the webhooks.
    pub retry: RetryPolicy,
    /// Messages waiting per destination (bounded); default 1024.
    pub queue: usize,
    /// Seconds between scans for incidents past their reporting deadline;
    /// default 60.
    pub overdue_scan_secs: u64,
    /// Time `shutdown` gives pending deliveries, in milliseconds; default
    /// 5000. Webhook deliveries still pending then become dead letters.
    pub flush_timeout_ms: u64,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            webhooks: Vec::new(),
            syslog: Vec::new(),
            retry: RetryPolicy::default(),
            queue: 1024,
            overdue_scan_secs: 60,
            flush_timeout_ms: 5000,
        }
    }
}

impl NotifyConfig {
    /// Whether any destination is configured.
    pub fn is_enabled(&self) -> bool {
        !self.webhooks.is_empty() || !self.syslog.is_empty()
    }
}

const KEYS: &[&str] = &[
    "webhooks",
    "syslog",
    "retry",
    "queue",
    "overdue_scan",
    "flush_timeout",
];

/// Reads the `notify:` section (absent: nothing is sent). Relative paths
/// are resolved against `base`.
pub(super) fn read(v: Option<&Value>, base: &Path, f: &mut Found) -> NotifyConfig {
    let mut c = NotifyConfig::default();
    let Some(v) = v else { return c };
    let Some(m) = mapping(v, "notify", KEYS, f) else {
        return c;
    };
    let mut names: Vec<String> = Vec::new();
    let mut unique = |name: &str, path: &str, f: &mut Found| {
        if names.iter().any(|n| n == name) {
            f.push(
                ErrorKind::DuplicateId,
                path,
                format!("destination name '{name}' used twice"),
            );
        } else {
            names.push(name.to_string());
        }
    };
    if let Some(w) = get(m, "webhooks") {
        for (i, item) in list(w, "notify.webhooks", MAX_DESTINATIONS, f)
            .iter()
            .enumerate()
        {
            let p = format!("notify.webhooks[{i}]");
            if let Some(h) = read_webhook(item, &p, base, f) {
                unique(&h.name, &at(&p, "name"), f);
                c.webhooks.push(h);
            }
        }
    }
    if let Some(s) = get(m, "syslog") {
        for (i, item) in list(s, "notify.syslog", MAX_DESTINATIONS, f)
            .iter()
            .enumerate()
        {
            let p = format!("notify.syslog[{i}]");
            if let Some(d) = read_syslog(item, &p, base, f) {
                unique(&d.name, &at(&p, "name"), f);
                c.syslog.push(d);
            }
        }
    }
    if let Some(r) = get(m, "retry") {
        c.retry = read_retry(r, f);
    }
    if let Some(q) = get(m, "queue") {
        if let Some(n) = uint(q, "notify.queue", 1, 1_000_000, f) {
            c.queue = usize::try_from(n).unwrap_or(1024);
        }
    }
    if let Some(d) = get(m, "overdue_scan") {
        let p = "notify.overdue_scan";
        match duration_secs(d, p, 86_400, f) {
            Some(0) => f.push(ErrorKind::InvalidValue, p, "must be at least 1s"),
            Some(n) => c.overdue_scan_secs = n,
            None => {}
        }
    }
    if let Some(d) = get(m, "flush_timeout") {
        if let Some(n) = duration_secs(d, "notify.flush_timeout", 3600, f) {
            c.flush_timeout_ms = n.saturating_mul(1000);
        }
    }
    c
}

fn name(m: &serde_yaml_ng::Mapping, path: &str, f: &mut Found) -> Option<String> {
    let Some(v) = get(m, "name") else {
        f.push(ErrorKind::MissingKey, path, "missing required key 'name'");
        return None;
    };
    let s = string(v, &at(path, "name"), f)?;
    if s.is_empty() || s.len() > 64 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        f.push(
            ErrorKind::InvalidValue,
            &at(path, "name"),
            "a destination name is 1-64 characters without blanks",
        );
        return None;
    }
    Some(s)
}

fn path_value(
    m: &serde_yaml_ng::Mapping,
    key: &str,
    path: &str,
    base: &Path,
    f: &mut Found,
) -> Option<PathBuf> {
    let p = at(path, key);
    let s = string(get(m, key)?, &p, f)?;
    if s.trim().is_empty() {
        f.push(ErrorKind::InvalidValue, &p, "empty path");
        return None;
    }
    let pb = Path::new(s.trim());
    Some(if pb.is_absolute() {
        pb.to_path_buf()
    } else {
        base.join(pb)
    })
}

fn read_route(m: &serde_yaml_ng::Mapping, path: &str, f: &mut Found) -> Route {
    let mut r = Route::default();
    if let Some(g) = get(m, "min_grade") {
        let p = at(path, "min_grade");
        if let Some(s) = string(g, &p, f) {
            match Grade::parse(&s) {
                Some(g) => r.min_grade = g,
                None => f.push(
                    ErrorKind::InvalidValue,
                    &p,
                    "unknown grade (expected I, II, III or IV)",
                ),
            }
        }
    }
    if let Some(u) = get(m, "units") {
        let p = at(path, "units");
        for (i, item) in list(u, &p, MAX_UNITS, f).iter().enumerate() {
            if let Some(s) = string(item, &format!("{p}[{i}]"), f) {
                if s.trim().is_empty() {
                    f.push(ErrorKind::InvalidValue, &format!("{p}[{i}]"), "empty unit");
                } else {
                    r.units.push(s.trim().to_string());
                }
            }
        }
    }
    if let Some(n) = get(m, "rate_per_min") {
        if let Some(n) = uint(n, &at(path, "rate_per_min"), 1, 100_000, f) {
            r.rate_per_min = u32::try_from(n).unwrap_or(60);
        }
    }
    r
}

const WEBHOOK_KEYS: &[&str] = &[
    "name",
    "url",
    "secret",
    "ca",
    "min_grade",
    "units",
    "rate_per_min",
    "timeout",
];

fn read_webhook(v: &Value, path: &str, base: &Path, f: &mut Found) -> Option<WebhookConfig> {
    let m = mapping(v, path, WEBHOOK_KEYS, f)?;
    let name = name(m, path, f);
    let url = match get(m, "url") {
        None => {
            f.push(ErrorKind::MissingKey, path, "missing required key 'url'");
            None
        }
        Some(u) => string(u, &at(path, "url"), f).and_then(|u| {
            match crate::notify::webhook::parse_url(&u) {
                Ok(_) => Some(u),
                Err(why) => {
                    f.push(ErrorKind::InvalidValue, &at(path, "url"), why.to_string());
                    None
                }
            }
        }),
    };
    let secret = get(m, "secret").and_then(|s| string(s, &at(path, "secret"), f));
    if secret.as_deref().is_some_and(str::is_empty) {
        f.push(ErrorKind::InvalidValue, &at(path, "secret"), "empty secret");
    }
    let ca = path_value(m, "ca", path, base, f);
    let route = read_route(m, path, f);
    let mut timeout_ms = 10_000;
    if let Some(t) = get(m, "timeout") {
        match duration_secs(t, &at(path, "timeout"), 600, f) {
            Some(0) => f.push(
                ErrorKind::InvalidValue,
                &at(path, "timeout"),
                "must be at least 1s",
            ),
            Some(n) => timeout_ms = n.saturating_mul(1000),
            None => {}
        }
    }
    Some(WebhookConfig {
        name: name?,
        url: url?,
        secret: secret.filter(|s| !s.is_empty()),
        ca,
        route,
        timeout_ms,
    })
}

const SYSLOG_KEYS: &[&str] = &[
    "name",
    "address",
    "tls",
    "min_grade",
    "units",
    "rate_per_min",
    "facility",
    "sd_id",
    "hostname",
];

/// Whether `s` is a valid RFC 5424 SD-ID with an `@` (1–32 printable
/// ASCII characters, none of `= ] "` or space).
fn valid_sd_id(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.contains('@')
        && s.bytes()
            .all(|b| (33..=126).contains(&b) && !b"=]\"".contains(&b))
}

fn read_syslog(v: &Value, path: &str, base: &Path, f: &mut Found) -> Option<SyslogForwardConfig> {
    let m = mapping(v, path, SYSLOG_KEYS, f)?;
    let name = name(m, path, f);
    let address = match get(m, "address") {
        None => {
            f.push(
                ErrorKind::MissingKey,
                path,
                "missing required key 'address'",
            );
            None
        }
        Some(a) => string(a, &at(path, "address"), f).and_then(|a| {
            let ok = a
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if ok {
                Some(a)
            } else {
                f.push(
                    ErrorKind::InvalidValue,
                    &at(path, "address"),
                    "expected HOST:PORT, e.g. siem.example:6514 or 127.0.0.1:6514",
                );
                None
            }
        }),
    };
    let tls = match get(m, "tls") {
        None => {
            f.push(
                ErrorKind::MissingKey,
                path,
                "missing required key 'tls' (RFC 5425: syslog to a SIEM goes over TLS)",
            );
            None
        }
        Some(t) => read_tls(t, &at(path, "tls"), base, f),
    };
    let route = read_route(m, path, f);
    let facility = get(m, "facility")
        .and_then(|x| uint(x, &at(path, "facility"), 0, 23, f))
        .and_then(|x| u8::try_from(x).ok())
        .unwrap_or(13);
    let mut sd_id = DEFAULT_SD_ID.to_string();
    if let Some(s) = get(m, "sd_id").and_then(|s| string(s, &at(path, "sd_id"), f)) {
        if valid_sd_id(&s) {
            sd_id = s;
        } else {
            f.push(
                ErrorKind::InvalidValue,
                &at(path, "sd_id"),
                "an SD-ID is NAME@PEN: 1-32 printable ASCII characters without = ] \" or space",
            );
        }
    }
    let hostname = get(m, "hostname").and_then(|h| string(h, &at(path, "hostname"), f));
    if hostname.as_deref().is_some_and(|h| {
        h.is_empty() || h.len() > 255 || !h.bytes().all(|b| (33..=126).contains(&b))
    }) {
        f.push(
            ErrorKind::InvalidValue,
            &at(path, "hostname"),
            "a HOSTNAME is 1-255 printable ASCII characters",
        );
    }
    Some(SyslogForwardConfig {
        name: name?,
        address: address?,
        tls: tls?,
        route,
        facility,
        sd_id,
        hostname,
    })
}

fn read_tls(v: &Value, path: &str, base: &Path, f: &mut Found) -> Option<SyslogTls> {
    let m = mapping(v, path, &["ca", "cert", "key", "server_name"], f)?;
    let ca = path_value(m, "ca", path, base, f);
    if get(m, "ca").is_none() {
        f.push(ErrorKind::MissingKey, path, "missing required key 'ca'");
    }
    let cert = path_value(m, "cert", path, base, f);
    let key = path_value(m, "key", path, base, f);
    if cert.is_some() != key.is_some() {
        f.push(
            ErrorKind::MissingKey,
            path,
            "'cert' and 'key' go together (client certificate)",
        );
    }
    let server_name = get(m, "server_name").and_then(|s| string(s, &at(path, "server_name"), f));
    if let Some(s) = &server_name {
        if rustls::pki_types::ServerName::try_from(s.as_str()).is_err() {
            f.push(
                ErrorKind::InvalidValue,
                &at(path, "server_name"),
                "not a DNS name or IP address",
            );
        }
    }
    Some(SyslogTls {
        ca: ca?,
        cert,
        key,
        server_name,
    })
}

fn read_retry(v: &Value, f: &mut Found) -> RetryPolicy {
    let path = "notify.retry";
    let mut r = RetryPolicy::default();
    let Some(m) = mapping(
        v,
        path,
        &["max_attempts", "initial_backoff", "max_backoff", "queue"],
        f,
    ) else {
        return r;
    };
    if let Some(n) =
        get(m, "max_attempts").and_then(|x| uint(x, &at(path, "max_attempts"), 1, 100, f))
    {
        r.max_attempts = u32::try_from(n).unwrap_or(8);
    }
    let ms = |key: &str, f: &mut Found| -> Option<u64> {
        let v = get(m, key)?;
        let p = at(path, key);
        // Milliseconds as `250ms`, else a duration.
        if let Some(s) = v.as_str().and_then(|s| s.trim().strip_suffix("ms")) {
            return match s.trim().parse::<u64>() {
                Ok(n) if (1..=86_400_000).contains(&n) => Some(n),
                _ => {
                    f.push(ErrorKind::InvalidValue, &p, "expected 1-86400000ms");
                    None
                }
            };
        }
        match duration_secs(v, &p, 86_400, f) {
            Some(0) => {
                f.push(ErrorKind::InvalidValue, &p, "must be positive");
                None
            }
            other => other.map(|s| s.saturating_mul(1000)),
        }
    };
    if let Some(n) = ms("initial_backoff", f) {
        r.initial_backoff_ms = n;
    }
    if let Some(n) = ms("max_backoff", f) {
        r.max_backoff_ms = n;
    }
    if r.max_backoff_ms < r.initial_backoff_ms {
        f.push(
            ErrorKind::InvalidValue,
            &at(path, "max_backoff"),
            "shorter than initial_backoff",
        );
    }
    if let Some(n) = get(m, "queue").and_then(|x| uint(x, &at(path, "queue"), 1, 1_000_000, f)) {
        r.queue = usize::try_from(n).unwrap_or(1024);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigError;

    fn read_str(yaml: &str) -> (NotifyConfig, Vec<ConfigError>) {
        let v: Value = serde_yaml_ng::from_str(yaml).unwrap();
        let mut f = Found::default();
        let c = read(v.get("notify"), Path::new("/etc/zg"), &mut f);
        (c, f.errors)
    }

    #[test]
    fn absent_is_disabled() {
        let (c, e) = read_str("x: 1\n");
        assert!(e.is_empty());
        assert!(!c.is_enabled());
        assert_eq!(c, NotifyConfig::default());
    }

    #[test]
    fn full_section() {
        let (c, e) = read_str(
            "notify:
  webhooks:
    - name: soc
      url: https://soc.example:8443/hook?x=1
      secret: s3cret
      ca: certs/soc-ca.pem
      min_grade: III
      units: [州大数据中心, 芒市]
      rate_per_min: 10
      timeout: 5s
  syslog:
    - name: siem
      address: 127.0.0.1:6514
      tls: {ca: /etc/zg/siem-ca.pem, cert: c.pem, key: k.pem, server_name: siem.example}
      min_grade: II
      facility: 4
      sd_id: zoneguard@99999
      hostname: sensor-1
  retry: {max_attempts: 3, initial_backoff: 50ms, max_backoff: 2s, queue: 16}
  queue: 100
  overdue_scan: 30s
  flush_timeout: 2s
",
        );
        assert!(e.is_empty(), "{e:#?}");
        let w = &c.webhooks[0];
        assert_eq!(w.name, "soc");
        assert_eq!(w.secret.as_deref(), Some("s3cret"));
        assert_eq!(w.ca, Some(PathBuf::from("/etc/zg/certs/soc-ca.pem")));
        assert_eq!(w.route.min_grade, Grade::III);
        assert_eq!(w.route.units, vec!["州大数据中心", "芒市"]);
        assert_eq!(w.route.rate_per_min, 10);
        assert_eq!(w.timeout_ms, 5000);
        let s = &c.syslog[0];
        assert_eq!(s.tls.cert, Some(PathBuf::from("/etc/zg/c.pem")));
        assert_eq!(s.tls.server_name.as_deref(), Some("siem.example"));
        assert_eq!(s.facility, 4);
        assert_eq!(s.sd_id, "zoneguard@99999");
        assert_eq!(s.route.rate_per_min, 60);
        assert_eq!(
            c.retry,
            RetryPolicy {
                max_attempts: 3,
                initial_backoff_ms: 50,
                max_backoff_ms: 2000,
                queue: 16
            }
        );
        assert_eq!(c.queue, 100);
        assert_eq!(c.overdue_scan_secs, 30);
        assert_eq!(c.flush_timeout_ms, 2000);
        assert!(c.is_enabled());
    }

    #[test]
    fn errors_carry_their_path() {
        let (c, e) = read_str(
            "notify:
  webhooks:
    - name: a
      url: https://ok.example/
    - name: a
      url: https://ok.example/
      min_grade: V
      rate_per_min: 0
      colour: red
    - url: https://x.example/
    - name: b
      url: http://plain.example/hook
  syslog:
    - name: s
      address: nohost
      tls: {cert: c.pem}
      facility: 24
      sd_id: 'bad id'
  retry: {initial_backoff: 10s, max_backoff: 1s}
  bogus: 1
",
        );
        let has = |kind: ErrorKind, path: &str| {
            assert!(
                e.iter().any(|x| x.kind == kind && x.path == path),
                "no {kind:?} at {path}: {e:#?}"
            )
        };
        has(ErrorKind::InvalidValue, "notify.webhooks[3].url");
        has(ErrorKind::DuplicateId, "notify.webhooks[1].name");
        has(ErrorKind::InvalidValue, "notify.webhooks[1].min_grade");
        has(ErrorKind::InvalidValue, "notify.webhooks[1].rate_per_min");
        has(ErrorKind::UnknownKey, "notify.webhooks[1].colour");
        has(ErrorKind::MissingKey, "notify.webhooks[2]");
        has(ErrorKind::InvalidValue, "notify.syslog[0].address");
        has(ErrorKind::MissingKey, "notify.syslog[0].tls");
        has(ErrorKind::InvalidValue, "notify.syslog[0].facility");
        has(ErrorKind::InvalidValue, "notify.syslog[0].sd_id");
        has(ErrorKind::InvalidValue, "notify.retry.max_backoff");
        has(ErrorKind::UnknownKey, "notify.bogus");
        assert!(c.syslog.is_empty());
    }
}
