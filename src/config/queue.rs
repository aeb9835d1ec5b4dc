//! The `queue:` section: where alerts go after correlation on this host.
//!
//! `backend: sqlite` (the default) keeps everything in the local store, as
//! `replay` always did. `backend: nats` additionally publishes every alert
//! to a NATS JetStream stream, from which a central `zoneguard central`
//! correlates the alerts of many sensors into one incident queue
//! (docs/scale-out.md).
//!
//! ```yaml
//! queue:
//!   backend: nats
//!   sensor_id: dehong-dc-1
//!   nats:
//!     urls: [nats://127.0.0.1:4222]
//!     stream: ZONEGUARD_ALERTS
//!     subject: zoneguard.alerts
//!     durable: zoneguard-central
//!     tls: {ca: /etc/zoneguard/nats-ca.pem, cert: sensor.pem, key: sensor.key}
//!     credentials: /etc/zoneguard/sensor.creds
//!     max_in_flight: 256
//!     buffer: 65536
//! ```

use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

use super::error::{ConfigError, ErrorKind};

/// Where alerts are queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueBackend {
    /// Only the local SQLite store.
    #[default]
    Sqlite,
    /// The local store and a NATS JetStream stream read by a central.
    Nats,
}

impl QueueBackend {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueBackend::Sqlite => "sqlite",
            QueueBackend::Nats => "nats",
        }
    }
}

/// TLS to the NATS server (rustls; PEM files).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NatsTls {
    /// CA certificates that sign the server's certificate.
    pub ca: Option<PathBuf>,
    /// Client certificate chain (mutual TLS), with `key`.
    pub cert: Option<PathBuf>,
    /// Private key of `cert`.
    pub key: Option<PathBuf>,
}

/// The `queue.nats` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsConfig {
    /// Server URLs (`nats://host:4222`, `tls://host:4222`).
    pub urls: Vec<String>,
    /// JetStream stream name.
    pub stream: String,
    /// Subject prefix: sensors publish on `SUBJECT.SENSOR_ID`, the stream
    /// holds `SUBJECT.>`.
    pub subject: String,
    /// Durable consumer name of the central.
    pub durable: String,
    /// TLS, when configured.
    pub tls: Option<NatsTls>,
    /// NATS credentials file (JWT + NKey seed).
    pub credentials: Option<PathBuf>,
    /// Publishes awaiting their JetStream acknowledgement at once.
    pub max_in_flight: usize,
    /// Alerts held in memory while NATS is slow or unreachable; beyond it
    /// they go to the spool (or are counted as dropped without one).
    pub buffer: usize,
    /// SQLite file where alerts that do not fit `buffer` (or are still
    /// unacknowledged at shutdown) wait for the next connection.
    pub spool: Option<PathBuf>,
    /// Messages the central fetches and commits per transaction.
    pub batch: usize,
    /// JetStream's duplicate window (seconds) for `Nats-Msg-Id`.
    pub duplicate_window_secs: u64,
    /// How long the stream keeps alerts (seconds).
    pub max_age_secs: u64,
    /// Seconds [`crate::queue::nats::AlertPublisher::flush`] waits for
    /// acknowledgements before spooling what is left.
    pub flush_timeout_secs: u64,
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            urls: vec!["nats://127.0.0.1:4222".to_string()],
            stream: "ZONEGUARD_ALERTS".to_string(),
            subject: "zoneguard.alerts".to_string(),
            durable: "zoneguard-central".to_string(),
            tls: None,
            credentials: None,
            max_in_flight: 256,
            buffer: 65_536,
            spool: None,
            batch: 256,
            duplicate_window_secs: 120,
            max_age_secs: 7 * 86_400,
            flush_timeout_secs: 30,
        }
    }
}

/// The `queue:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    /// Where alerts go.
    pub backend: QueueBackend,
    /// This sensor's name in the central's records (and its subject).
    pub sensor_id: String,
    /// NATS settings (used when `backend` is `nats`, and by the central).
    pub nats: NatsConfig,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            backend: QueueBackend::Sqlite,
            sensor_id: "sensor".to_string(),
            nats: NatsConfig::default(),
        }
    }
}

/// Largest in-flight window accepted.
const MAX_IN_FLIGHT: u64 = 65_536;
/// Largest memory buffer accepted (alerts).
const MAX_BUFFER: u64 = 16 * 1024 * 1024;
/// Largest central batch.
const MAX_BATCH: u64 = 65_536;
/// Most server URLs.
const MAX_URLS: usize = 64;
/// Longest name (stream, subject, durable, sensor id).
const MAX_NAME: usize = 128;

const QUEUE_KEYS: &[&str] = &["backend", "sensor_id", "nats"];
const NATS_KEYS: &[&str] = &[
    "url",
    "urls",
    "stream",
    "subject",
    "durable",
    "tls",
    "credentials",
    "max_in_flight",
    "buffer",
    "spool",
    "batch",
    "duplicate_window_secs",
    "max_age_secs",
    "flush_timeout_secs",
];
const TLS_KEYS: &[&str] = &["ca", "cert", "key"];

/// A token NATS accepts in a stream or consumer name and in one subject
/// level: printable ASCII without spaces, `.`, `*`, `>`, `/`, `\`.
pub fn valid_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'.' | b'*' | b'>' | b'/' | b'\\'))
}

fn valid_subject(s: &str) -> bool {
    s.len() <= MAX_NAME && s.split('.').all(valid_token)
}

struct Reader<'a> {
    errs: &'a mut Vec<ConfigError>,
    base_dir: &'a Path,
}

fn type_name(v: &Value) -> &'static str {
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

impl Reader<'_> {
    fn push(&mut self, kind: ErrorKind, path: String, message: String) {
        self.errs.push(ConfigError::new(kind, path, message));
    }

    /// The mapping at `path`, its unknown keys reported.
    fn mapping<'v>(
        &mut self,
        v: &'v Value,
        path: &str,
        known: &[&str],
    ) -> Option<&'v serde_yaml_ng::Mapping> {
        let Value::Mapping(m) = v else {
            self.push(
                ErrorKind::WrongType,
                path.to_string(),
                format!("expected a mapping, found {}", type_name(v)),
            );
            return None;
        };
        for (k, _) in m {
            match k.as_str() {
                Some(s) if known.contains(&s) => {}
                Some(s) => self.push(
                    ErrorKind::UnknownKey,
                    format!("{path}.{s}"),
                    format!("unknown key '{s}' (expected one of: {})", known.join(", ")),
                ),
                None => self.push(
                    ErrorKind::WrongType,
                    path.to_string(),
                    format!("mapping key is {}, expected a string", type_name(k)),
                ),
            }
        }
        Some(m)
    }

    fn string(&mut self, v: &Value, path: &str) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            other => {
                self.push(
                    ErrorKind::WrongType,
                    path.to_string(),
                    format!("expected a string, found {}", type_name(other)),
                );
                None
            }
        }
    }

    fn name(&mut self, v: &Value, path: &str, subject: bool) -> Option<String> {
        let s = self.string(v, path)?;
        let ok = if subject {
            valid_subject(&s)
        } else {
            valid_token(&s)
        };
        if ok {
            Some(s)
        } else {
            let what = if subject {
                "a NATS subject (tokens of printable ASCII separated by '.', no wildcards)"
            } else {
                "a NATS name (printable ASCII without spaces, '.', '*', '>', '/')"
            };
            self.push(
                ErrorKind::InvalidValue,
                path.to_string(),
                format!("'{}' is not {what}, at most {MAX_NAME} bytes", cut(&s)),
            );
            None
        }
    }

    fn uint(&mut self, v: &Value, path: &str, min: u64, max: u64) -> Option<u64> {
        let Some(n) = v.as_u64() else {
            self.push(
                ErrorKind::WrongType,
                path.to_string(),
                format!("expected a whole number, found {}", type_name(v)),
            );
            return None;
        };
        if n < min || n > max {
            self.push(
                ErrorKind::InvalidValue,
                path.to_string(),
                format!("{n} is out of range (allowed {min}-{max})"),
            );
            return None;
        }
        Some(n)
    }

    fn path(&mut self, v: &Value, path: &str) -> Option<PathBuf> {
        let s = self.string(v, path)?;
        if s.trim().is_empty() {
            self.push(
                ErrorKind::InvalidValue,
                path.to_string(),
                "the file name must not be empty".to_string(),
            );
            return None;
        }
        let p = PathBuf::from(s);
        Some(if p.is_absolute() {
            p
        } else {
            self.base_dir.join(p)
        })
    }

    fn url(&mut self, v: &Value, path: &str) -> Option<String> {
        let s = self.string(v, path)?;
        let t = s.trim();
        let rest = ["nats://", "tls://", "ws://", "wss://"]
            .iter()
            .find_map(|p| t.strip_prefix(p))
            .unwrap_or(t);
        if t.is_empty() || t.len() > 2048 || rest.is_empty() || t.chars().any(char::is_whitespace) {
            self.push(
                ErrorKind::InvalidValue,
                path.to_string(),
                format!(
                    "'{}' is not a NATS server URL (expected nats://HOST:PORT or tls://HOST:PORT)",
                    cut(t)
                ),
            );
            return None;
        }
        Some(t.to_string())
    }
}

fn cut(s: &str) -> String {
    s.chars().take(80).collect()
}

fn get<'v>(m: &'v serde_yaml_ng::Mapping, key: &str) -> Option<&'v Value> {
    m.get(key).filter(|v| !v.is_null())
}

/// Reads the `queue:` section (absent or null: the defaults). Relative
/// file names are resolved against `base_dir` (the config's directory).
/// Every problem goes to `push` (kind, document path, message), as the
/// other sections report theirs.
pub(super) fn read(
    v: Option<&Value>,
    base_dir: &Path,
    push: &mut dyn FnMut(ErrorKind, String, String),
) -> QueueConfig {
    let (cfg, errs) = read_all(v, base_dir);
    for e in errs {
        push(e.kind, e.path, e.message);
    }
    cfg
}

fn read_all(v: Option<&Value>, base_dir: &Path) -> (QueueConfig, Vec<ConfigError>) {
    let mut errs = Vec::new();
    let mut cfg = QueueConfig::default();
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return (cfg, errs);
    };
    let mut r = Reader {
        errs: &mut errs,
        base_dir,
    };
    let Some(q) = r.mapping(v, "queue", QUEUE_KEYS) else {
        return (cfg, errs);
    };
    if let Some(b) = get(q, "backend") {
        if let Some(s) = r.string(b, "queue.backend") {
            match s.trim() {
                "sqlite" => cfg.backend = QueueBackend::Sqlite,
                "nats" => cfg.backend = QueueBackend::Nats,
                other => r.push(
                    ErrorKind::InvalidValue,
                    "queue.backend".into(),
                    format!("unknown backend '{}' (expected sqlite or nats)", cut(other)),
                ),
            }
        }
    }
    if let Some(s) = get(q, "sensor_id").and_then(|s| r.name(s, "queue.sensor_id", false)) {
        cfg.sensor_id = s;
    }
    if let Some(n) = get(q, "nats") {
        read_nats(&mut r, n, &mut cfg.nats);
    }
    (cfg, errs)
}

fn read_nats(r: &mut Reader<'_>, v: &Value, n: &mut NatsConfig) {
    let Some(m) = r.mapping(v, "queue.nats", NATS_KEYS) else {
        return;
    };
    let mut urls = Vec::new();
    if let Some(u) = get(m, "url") {
        urls.extend(r.url(u, "queue.nats.url"));
    }
    match get(m, "urls") {
        None => {}
        Some(Value::Sequence(items)) => {
            if items.len() > MAX_URLS {
                r.push(
                    ErrorKind::InvalidValue,
                    "queue.nats.urls".into(),
                    format!("{} URLs; at most {MAX_URLS} are allowed", items.len()),
                );
            }
            for (i, u) in items.iter().take(MAX_URLS).enumerate() {
                urls.extend(r.url(u, &format!("queue.nats.urls[{i}]")));
            }
        }
        Some(other) => {
            urls.extend(r.url(other, "queue.nats.urls"));
        }
    }
    if !urls.is_empty() {
        n.urls = urls;
    }
    if let Some(s) = get(m, "stream").and_then(|s| r.name(s, "queue.nats.stream", false)) {
        n.stream = s;
    }
    if let Some(s) = get(m, "subject").and_then(|s| r.name(s, "queue.nats.subject", true)) {
        n.subject = s;
    }
    if let Some(s) = get(m, "durable").and_then(|s| r.name(s, "queue.nats.durable", false)) {
        n.durable = s;
    }
    if let Some(t) = get(m, "tls") {
        if let Some(tm) = r.mapping(t, "queue.nats.tls", TLS_KEYS) {
            let mut tls = NatsTls::default();
            for (key, slot) in [
                ("ca", &mut tls.ca),
                ("cert", &mut tls.cert),
                ("key", &mut tls.key),
            ] {
                if let Some(p) = get(tm, key) {
                    *slot = r.path(p, &format!("queue.nats.tls.{key}"));
                }
            }
            if tls.cert.is_some() != tls.key.is_some() {
                r.push(
                    ErrorKind::MissingKey,
                    "queue.nats.tls".into(),
                    "a client certificate needs both 'cert' and 'key'".into(),
                );
            }
            n.tls = Some(tls);
        }
    }
    if let Some(p) = get(m, "credentials") {
        n.credentials = r.path(p, "queue.nats.credentials");
    }
    if let Some(p) = get(m, "spool") {
        n.spool = r.path(p, "queue.nats.spool");
    }
    let uints: [(&str, u64, u64, &mut usize); 3] = [
        ("max_in_flight", 1, MAX_IN_FLIGHT, &mut n.max_in_flight),
        ("buffer", 1, MAX_BUFFER, &mut n.buffer),
        ("batch", 1, MAX_BATCH, &mut n.batch),
    ];
    for (key, lo, hi, slot) in uints {
        if let Some(x) = get(m, key) {
            if let Some(x) = r.uint(x, &format!("queue.nats.{key}"), lo, hi) {
                *slot = usize::try_from(x).unwrap_or(usize::MAX);
            }
        }
    }
    let secs: [(&str, u64, u64, &mut u64); 3] = [
        (
            "duplicate_window_secs",
            1,
            7 * 86_400,
            &mut n.duplicate_window_secs,
        ),
        ("max_age_secs", 60, 10 * 365 * 86_400, &mut n.max_age_secs),
        ("flush_timeout_secs", 0, 86_400, &mut n.flush_timeout_secs),
    ];
    for (key, lo, hi, slot) in secs {
        if let Some(x) = get(m, key) {
            if let Some(x) = r.uint(x, &format!("queue.nats.{key}"), lo, hi) {
                *slot = x;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (QueueConfig, Vec<ConfigError>) {
        let v: Value = serde_yaml_ng::from_str(text).unwrap();
        read_all(v.get("queue"), Path::new("/etc/zg"))
    }

    #[test]
    fn absent_is_sqlite() {
        let (c, e) = parse("name: x\n");
        assert!(e.is_empty());
        assert_eq!(c, QueueConfig::default());
        assert_eq!(c.backend, QueueBackend::Sqlite);
    }

    #[test]
    fn full_section() {
        let (c, e) = parse(
            "queue:\n  backend: nats\n  sensor_id: dc-1\n  nats:\n    urls: [nats://127.0.0.1:4222, tls://127.0.0.1:4333]\n    stream: S\n    subject: a.b\n    durable: d\n    tls: {ca: ca.pem, cert: c.pem, key: /k.pem}\n    credentials: x.creds\n    max_in_flight: 8\n    buffer: 100\n    spool: spool.db\n    batch: 10\n",
        );
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(c.backend, QueueBackend::Nats);
        assert_eq!(c.sensor_id, "dc-1");
        assert_eq!(c.nats.urls.len(), 2);
        assert_eq!(c.nats.subject, "a.b");
        let tls = c.nats.tls.unwrap();
        assert_eq!(tls.ca.unwrap(), PathBuf::from("/etc/zg/ca.pem"));
        assert_eq!(tls.key.unwrap(), PathBuf::from("/k.pem"));
        assert_eq!(c.nats.max_in_flight, 8);
        assert_eq!(c.nats.buffer, 100);
        assert_eq!(c.nats.batch, 10);
        assert_eq!(c.nats.spool.unwrap(), PathBuf::from("/etc/zg/spool.db"));
    }

    #[test]
    fn every_error_with_its_path() {
        let (_, e) = parse(
            "queue:\n  backend: kafka\n  sensor_id: 'a b'\n  colour: red\n  nats:\n    urls: [' ']\n    subject: 'a.>'\n    max_in_flight: 0\n    tls: {cert: c.pem}\n    buffer: x\n",
        );
        let paths: Vec<&str> = e.iter().map(|x| x.path.as_str()).collect();
        for p in [
            "queue.backend",
            "queue.sensor_id",
            "queue.colour",
            "queue.nats.urls[0]",
            "queue.nats.subject",
            "queue.nats.max_in_flight",
            "queue.nats.tls",
            "queue.nats.buffer",
        ] {
            assert!(paths.contains(&p), "{p} missing from {paths:?}");
        }
    }

    #[test]
    fn tokens() {
        assert!(valid_token("ZONEGUARD_ALERTS"));
        assert!(!valid_token("a.b"));
        assert!(!valid_token(""));
        assert!(!valid_token("a b"));
        assert!(valid_subject("zoneguard.alerts"));
        assert!(!valid_subject("zoneguard..alerts"));
        assert!(!valid_subject("zoneguard.*"));
    }
}
