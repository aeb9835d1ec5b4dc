//! The `syslog:` section: the daemon's syslog listeners, the log service's
//! worker settings and the senders whose silence raises an alarm.
//!
//! ```yaml
//! syslog:
//!   listeners:                 # src/syslog/config.rs ListenerConfig
//!     - {name: udp514, protocol: udp, address: 0.0.0.0:514}
//!     - {name: tcp514, protocol: tcp, address: 0.0.0.0:514}
//!     - {name: pfsense, protocol: udp, address: 0.0.0.0:5140,
//!        expect_hostname: false, bad_hostname: "^%"}
//!   workers: 1                 # parse + rule threads (default 1)
//!   queue_messages: 65536      # messages waiting per worker (default)
//!   expected_senders:
//!     - {host: portal-web01, silence_secs: 3600}
//!     - {ip: 10.10.0.1, silence_secs: 600}
//! ```
//!
//! Every key is optional; without the section no listener runs. Unknown
//! keys are rejected with their path, like the rest of the config.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde_yaml_ng::Value;

use super::error::ErrorKind;
use crate::syslog::config::ListenerConfig;

/// Most listeners of one config.
pub const MAX_LISTENERS: usize = 64;
/// Most expected senders of one config.
pub const MAX_EXPECTED_SENDERS: usize = 65_536;
/// Most worker threads.
pub const MAX_WORKERS: u64 = 64;
/// Default silence before an expected sender is reported (one hour).
pub const DEFAULT_SILENCE_SECS: u64 = 3600;
/// Default messages waiting per worker.
pub const DEFAULT_QUEUE_MESSAGES: u64 = 65_536;

/// The `syslog:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogConfig {
    /// Listeners (UDP, TCP, TLS); none by default.
    pub listeners: Vec<ListenerConfig>,
    /// Threads that parse, decode and run the log rules (default 1; with
    /// more, messages are spread by sender address and correlations count
    /// per thread).
    pub workers: usize,
    /// Messages that may wait for each worker (default 65 536); beyond it
    /// UDP drops and counts, TCP/TLS senders wait.
    pub queue_messages: usize,
    /// Hosts that must keep sending; the daemon alarms on silence.
    pub expected_senders: Vec<ExpectedSender>,
}

impl Default for SyslogConfig {
    fn default() -> Self {
        SyslogConfig {
            listeners: Vec::new(),
            workers: 1,
            queue_messages: DEFAULT_QUEUE_MESSAGES as usize,
            expected_senders: Vec::new(),
        }
    }
}

/// Who an expected sender is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderId {
    /// A host name: matched against the HOSTNAME of its messages (ASCII
    /// case-insensitive) and, when the config's hosts name it, against its
    /// address.
    Host(String),
    /// An address: matched against the sender and the located host.
    Ip(IpAddr),
}

impl std::fmt::Display for SenderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SenderId::Host(h) => f.write_str(h),
            SenderId::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// One entry of `syslog.expected_senders`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedSender {
    /// The host (`host:`) or address (`ip:`).
    pub id: SenderId,
    /// Seconds without a message after which the sender counts as silent.
    pub silence_secs: u64,
}

const SECTION_KEYS: &[&str] = &["listeners", "workers", "queue_messages", "expected_senders"];
const SENDER_KEYS: &[&str] = &["host", "ip", "silence_secs"];

/// Reads the section; every problem goes to `err(kind, path, message)`.
pub(super) fn read(
    v: Option<&Value>,
    err: &mut dyn FnMut(ErrorKind, String, String),
) -> SyslogConfig {
    let mut out = SyslogConfig::default();
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return out;
    };
    let Some(map) = mapping(v, "syslog", SECTION_KEYS, err) else {
        return out;
    };
    let get = |k: &str| map.get(k).filter(|v| !v.is_null());
    if let Some(n) = uint(get("workers"), "syslog.workers", 1, MAX_WORKERS, err) {
        out.workers = n as usize;
    }
    if let Some(n) = uint(
        get("queue_messages"),
        "syslog.queue_messages",
        1024,
        16 * 1024 * 1024,
        err,
    ) {
        out.queue_messages = n as usize;
    }
    let mut names = BTreeSet::new();
    let mut binds = BTreeSet::new();
    for (i, item) in list(get("listeners"), "syslog.listeners", MAX_LISTENERS, err)
        .iter()
        .enumerate()
    {
        let path = format!("syslog.listeners[{i}]");
        // The parse options' types, checked here so the error names the key.
        let wrong = [
            ("expect_hostname", "true or false"),
            ("bad_hostname", "a PCRE2 pattern string"),
        ]
        .into_iter()
        .find(|(k, _)| match item.get(*k) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(_)) => *k != "expect_hostname",
            Some(Value::String(_)) => *k != "bad_hostname",
            Some(_) => true,
        });
        if let Some((k, want)) = wrong {
            let found = item.get(k).map(short).unwrap_or_default();
            err(
                ErrorKind::WrongType,
                format!("{path}.{k}"),
                format!("expected {want}, found {found}"),
            );
            continue;
        }
        let l = match serde_yaml_ng::from_value::<ListenerConfig>(item.clone()) {
            Ok(l) => l,
            Err(e) => {
                let kind = if e.to_string().contains("unknown field") {
                    ErrorKind::UnknownKey
                } else {
                    ErrorKind::InvalidValue
                };
                err(kind, path, e.to_string());
                continue;
            }
        };
        if let Err(e) = l.validate() {
            // A pattern that does not compile is named by its own key.
            let path = match e {
                crate::syslog::config::ConfigError::BadHostname { .. } => {
                    format!("{path}.{}", e.field())
                }
                _ => path,
            };
            err(ErrorKind::InvalidValue, path, e.to_string());
            continue;
        }
        if !names.insert(l.name.clone()) {
            err(
                ErrorKind::InvalidValue,
                format!("{path}.name"),
                format!("listener name '{}' used twice", l.name),
            );
            continue;
        }
        let stream = !matches!(l.protocol, crate::syslog::config::ListenerProtocol::Udp);
        if l.address.port() != 0 && !binds.insert((stream, l.address)) {
            err(
                ErrorKind::InvalidValue,
                format!("{path}.address"),
                format!(
                    "{} is already used by another {} listener",
                    l.address,
                    if stream { "TCP/TLS" } else { "UDP" }
                ),
            );
            continue;
        }
        out.listeners.push(l);
    }
    let mut seen = BTreeSet::new();
    for (i, item) in list(
        get("expected_senders"),
        "syslog.expected_senders",
        MAX_EXPECTED_SENDERS,
        err,
    )
    .iter()
    .enumerate()
    {
        let path = format!("syslog.expected_senders[{i}]");
        let Some(m) = mapping(item, &path, SENDER_KEYS, err) else {
            continue;
        };
        let host = m.get("host").filter(|v| !v.is_null());
        let ip = m.get("ip").filter(|v| !v.is_null());
        let id = match (host, ip) {
            (Some(Value::String(h)), None) if valid_host(h) => SenderId::Host(h.clone()),
            (Some(h), None) => {
                err(
                    ErrorKind::InvalidValue,
                    format!("{path}.host"),
                    format!("expected a host name, found {}", short(h)),
                );
                continue;
            }
            (None, Some(v)) => match v.as_str().map(|s| s.trim().parse::<IpAddr>()) {
                Some(Ok(ip)) => SenderId::Ip(ip),
                _ => {
                    err(
                        ErrorKind::InvalidValue,
                        format!("{path}.ip"),
                        format!("expected an IPv4 or IPv6 address, found {}", short(v)),
                    );
                    continue;
                }
            },
            (Some(_), Some(_)) => {
                err(
                    ErrorKind::InvalidValue,
                    path,
                    "give either 'host' or 'ip', not both".into(),
                );
                continue;
            }
            (None, None) => {
                err(
                    ErrorKind::MissingKey,
                    path,
                    "missing required key 'host' or 'ip'".into(),
                );
                continue;
            }
        };
        let silence_secs = uint(
            m.get("silence_secs").filter(|v| !v.is_null()),
            &format!("{path}.silence_secs"),
            1,
            30 * 86_400,
            err,
        )
        .unwrap_or(DEFAULT_SILENCE_SECS);
        let key = id.to_string().to_ascii_lowercase();
        if !seen.insert(key) {
            err(
                ErrorKind::InvalidValue,
                path,
                format!("expected sender '{id}' listed twice"),
            );
            continue;
        }
        out.expected_senders
            .push(ExpectedSender { id, silence_secs });
    }
    out
}

fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

fn short(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{}'", s.chars().take(64).collect::<String>()),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "nothing".into(),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(_) => "a tagged value".into(),
    }
}

fn mapping<'v>(
    v: &'v Value,
    path: &str,
    known: &[&str],
    err: &mut dyn FnMut(ErrorKind, String, String),
) -> Option<&'v serde_yaml_ng::Mapping> {
    let Value::Mapping(m) = v else {
        err(
            ErrorKind::WrongType,
            path.to_owned(),
            format!("expected a mapping, found {}", short(v)),
        );
        return None;
    };
    for (k, _) in m {
        match k.as_str() {
            Some(s) if known.contains(&s) => {}
            Some(s) => err(
                ErrorKind::UnknownKey,
                format!("{path}.{s}"),
                format!("unknown key '{s}' (expected one of: {})", known.join(", ")),
            ),
            None => err(
                ErrorKind::WrongType,
                path.to_owned(),
                format!("mapping key is {}, expected a string", short(k)),
            ),
        }
    }
    Some(m)
}

fn list<'v>(
    v: Option<&'v Value>,
    path: &str,
    max: usize,
    err: &mut dyn FnMut(ErrorKind, String, String),
) -> &'v [Value] {
    match v {
        None => &[],
        Some(Value::Sequence(s)) => {
            if s.len() > max {
                err(
                    ErrorKind::InvalidValue,
                    path.to_owned(),
                    format!("{} items; at most {max} are allowed here", s.len()),
                );
            }
            s.get(..max).unwrap_or(s)
        }
        Some(v) => {
            err(
                ErrorKind::WrongType,
                path.to_owned(),
                format!("expected a list, found {}", short(v)),
            );
            &[]
        }
    }
}

fn uint(
    v: Option<&Value>,
    path: &str,
    min: u64,
    max: u64,
    err: &mut dyn FnMut(ErrorKind, String, String),
) -> Option<u64> {
    let v = v?;
    let Some(n) = v.as_u64() else {
        err(
            ErrorKind::WrongType,
            path.to_owned(),
            format!("expected a whole number, found {}", short(v)),
        );
        return None;
    };
    if n < min || n > max {
        err(
            ErrorKind::InvalidValue,
            path.to_owned(),
            format!("{n} is out of range (allowed {min}-{max})"),
        );
        return None;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_str(y: &str) -> (SyslogConfig, Vec<(ErrorKind, String, String)>) {
        let v: Value = serde_yaml_ng::from_str(y).expect("yaml");
        let mut errs = Vec::new();
        let c = read(v.get("syslog"), &mut |k, p, m| errs.push((k, p, m)));
        (c, errs)
    }

    #[test]
    fn defaults_and_full_section() {
        let (c, e) = read_str("other: 1\n");
        assert!(e.is_empty());
        assert_eq!(c, SyslogConfig::default());
        let (c, e) = read_str(
            "syslog:\n  listeners:\n    - {name: u, protocol: udp, address: 127.0.0.1:5514}\n    - {name: t, protocol: tcp, address: 127.0.0.1:5514, max_message_size: 8192}\n  workers: 2\n  queue_messages: 4096\n  expected_senders:\n    - {host: portal-web01, silence_secs: 60}\n    - {ip: 10.0.0.1}\n",
        );
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(c.listeners.len(), 2);
        assert_eq!(c.listeners[1].max_message_size, 8192);
        assert_eq!((c.workers, c.queue_messages), (2, 4096));
        assert_eq!(
            c.expected_senders,
            vec![
                ExpectedSender {
                    id: SenderId::Host("portal-web01".into()),
                    silence_secs: 60
                },
                ExpectedSender {
                    id: SenderId::Ip("10.0.0.1".parse().unwrap()),
                    silence_secs: DEFAULT_SILENCE_SECS
                },
            ]
        );
    }

    #[test]
    fn errors_name_the_path() {
        let (_, e) = read_str(
            "syslog:\n  bogus: 1\n  workers: 0\n  listeners:\n    - {name: u, protocol: udp, address: 127.0.0.1:5514, nope: 1}\n    - {name: t, protocol: tls, address: 127.0.0.1:6514}\n    - {name: a, protocol: udp, address: 127.0.0.1:1}\n    - {name: a, protocol: udp, address: 127.0.0.1:2}\n    - {name: b, protocol: udp, address: 127.0.0.1:1}\n  expected_senders:\n    - {host: a, ip: 10.0.0.1}\n    - {silence_secs: 5}\n    - {ip: not-an-ip}\n    - {host: 'bad host'}\n    - {host: x, silence_secs: 0}\n    - {host: X}\n",
        );
        let paths: Vec<&str> = e.iter().map(|(_, p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "syslog.bogus",
                "syslog.workers",
                "syslog.listeners[0]",
                "syslog.listeners[1]",
                "syslog.listeners[3].name",
                "syslog.listeners[4].address",
                "syslog.expected_senders[0]",
                "syslog.expected_senders[1]",
                "syslog.expected_senders[2].ip",
                "syslog.expected_senders[3].host",
                "syslog.expected_senders[4].silence_secs",
                "syslog.expected_senders[5]",
            ],
            "{e:#?}"
        );
        assert_eq!(e[0].0, ErrorKind::UnknownKey);
        assert_eq!(e[2].0, ErrorKind::UnknownKey);
        let (_, e) = read_str("syslog: [1]\n");
        assert_eq!(e.len(), 1);
    }

    #[test]
    fn through_the_whole_config_with_lines() {
        let base = std::path::Path::new(".");
        let ok = crate::config::Config::from_yaml_str(
            "name: t\nsyslog:\n  listeners:\n    - {name: u, protocol: udp, address: 127.0.0.1:5514}\n",
            "t.yaml",
            base,
        )
        .expect("valid");
        assert_eq!(ok.syslog.listeners.len(), 1);
        let without =
            crate::config::Config::from_yaml_str("name: t\n", "t.yaml", base).expect("valid");
        assert_eq!(without.syslog, SyslogConfig::default());
        let err = crate::config::Config::from_yaml_str(
            "name: t\nsyslog:\n  workers: 1\n  listenrs: []\n",
            "t.yaml",
            base,
        )
        .expect_err("unknown key");
        let e = err.errors.first().expect("one error");
        assert_eq!((e.path.as_str(), e.line), ("syslog.listenrs", Some(4)));
    }

    #[test]
    fn parse_options_per_listener() {
        let (c, e) = read_str(
            "syslog:\n  listeners:\n    - {name: u, protocol: udp, address: 127.0.0.1:5514}\n    - {name: p, protocol: udp, address: 127.0.0.1:5515, expect_hostname: false, bad_hostname: '^ctld'}\n",
        );
        assert!(e.is_empty(), "{e:?}");
        assert!(c.listeners[0].expect_hostname);
        assert_eq!(c.listeners[0].bad_hostname, None);
        assert!(!c.listeners[1].expect_hostname);
        let o = c.listeners[1]
            .parse_options(crate::syslog::ParseOptions::default())
            .expect("compiles");
        assert!(!o.expect_hostname);
        assert_eq!(o.bad_hostname.as_ref().map(|b| b.pattern()), Some("^ctld"));
        // A pattern that does not compile, or a wrong type, is an error at
        // the key's path.
        let (_, e) = read_str(
            "syslog:\n  listeners:\n    - {name: u, protocol: udp, address: 127.0.0.1:5514, bad_hostname: '(unclosed'}\n    - {name: v, protocol: udp, address: 127.0.0.1:5515, expect_hostname: maybe}\n    - {name: w, protocol: udp, address: 127.0.0.1:5516, bad_hostname: ''}\n",
        );
        let paths: Vec<&str> = e.iter().map(|(_, p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "syslog.listeners[0].bad_hostname",
                "syslog.listeners[1].expect_hostname",
                "syslog.listeners[2].bad_hostname"
            ],
            "{e:#?}"
        );
        assert!(e[0].2.contains("offset 9"), "{e:?}");
        assert_eq!(e[1].0, ErrorKind::WrongType);
        let err = crate::config::Config::from_yaml_str(
            "name: t\nsyslog:\n  listeners:\n    - name: u\n      protocol: udp\n      address: 127.0.0.1:5514\n      bad_hostname: '[a-'\n",
            "t.yaml",
            std::path::Path::new("."),
        )
        .expect_err("bad regex");
        let e = err.errors.first().expect("one error");
        assert_eq!(e.path, "syslog.listeners[0].bad_hostname");
    }
}
