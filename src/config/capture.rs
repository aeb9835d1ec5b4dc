//! The `capture:` section: the interfaces the daemon captures on live
//! (AF_PACKET), with their worker count, promiscuous mode, receive buffer,
//! BPF filter and silence alarm.
//!
//! ```yaml
//! capture:
//!   interfaces:
//!     - name: eth1                 # SPAN port of the data centre
//!       workers: 2                 # default: the number of cores
//!       promiscuous: true          # default true
//!       buffer_bytes: 67108864     # default 64 MiB per worker socket
//!       bpf_filter: "not port 22"  # pcap-filter syntax; default none
//!       silence_secs: 300          # facility_fault after this long without packets
//! ```
//!
//! Read by hand like the rest of the config: unknown keys, wrong types and
//! out-of-range values are reported with their path (`capture.interfaces[0].workers`),
//! all at once. A BPF filter is compiled (for Ethernet) while the config is
//! checked, so `zoneguard check` catches a bad expression.

use std::num::NonZeroUsize;

use serde_yaml_ng::Value;

use super::error::ErrorKind;
use crate::capture::live::{
    compile_filter, default_fanout_group, valid_interface_name, LiveOptions, DEFAULT_BUFFER_BYTES,
    DEFAULT_READ_TIMEOUT, MAX_BUFFER_BYTES, MAX_IFNAME_LEN, MIN_BUFFER_BYTES,
};
use crate::capture::LinkType;

/// Default time without packets after which an interface counts as silent
/// (seconds).
pub const DEFAULT_SILENCE_SECS: u64 = 300;

/// Most capture interfaces.
pub const MAX_INTERFACES: usize = 64;

/// Most workers (sockets) per interface.
pub const MAX_WORKERS: u64 = 256;

/// Shortest silence alarm accepted (seconds).
pub const MIN_SILENCE_SECS: u64 = 10;

/// Longest silence alarm accepted (seconds): one week.
pub const MAX_SILENCE_SECS: u64 = 7 * 86_400;

/// The `capture:` section.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CaptureConfig {
    /// Interfaces captured on; empty (the default) means no live capture.
    pub interfaces: Vec<CaptureInterface>,
}

/// One capture interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureInterface {
    /// Interface name (`eth1`).
    pub name: String,
    /// Worker threads, one socket each; `None`: one per core.
    pub workers: Option<NonZeroUsize>,
    /// Promiscuous mode (default true).
    pub promiscuous: bool,
    /// Receive buffer per socket, bytes (default 64 MiB).
    pub buffer_bytes: usize,
    /// pcap-filter expression applied in the kernel.
    pub bpf_filter: Option<String>,
    /// Seconds without a packet after which the daemon raises a
    /// `facility_fault` incident (default 300).
    pub silence_secs: u64,
}

impl CaptureInterface {
    /// An interface with every default.
    pub fn new(name: &str) -> CaptureInterface {
        CaptureInterface {
            name: name.to_string(),
            workers: None,
            promiscuous: true,
            buffer_bytes: DEFAULT_BUFFER_BYTES,
            bpf_filter: None,
            silence_secs: DEFAULT_SILENCE_SECS,
        }
    }

    /// Worker threads: as configured, or the number of cores.
    pub fn worker_count(&self) -> usize {
        self.workers.map_or_else(
            || std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
            NonZeroUsize::get,
        )
    }

    /// Socket options for the workers of this interface, the `index`-th of
    /// the section (all workers of one interface share one fanout group).
    pub fn live_options(&self, index: usize) -> LiveOptions {
        LiveOptions {
            interface: self.name.clone(),
            fanout_group: default_fanout_group(index),
            promiscuous: self.promiscuous,
            buffer_bytes: self.buffer_bytes,
            bpf_filter: self.bpf_filter.clone(),
            read_timeout: DEFAULT_READ_TIMEOUT,
        }
    }
}

/// Where errors go: (kind, YAML path, message).
type Push<'a> = &'a mut dyn FnMut(ErrorKind, String, String);

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

/// The mapping at `path`, with its unknown keys reported.
fn mapping<'v>(
    v: &'v Value,
    path: &str,
    known: &[&str],
    push: Push<'_>,
) -> Option<&'v serde_yaml_ng::Mapping> {
    let Value::Mapping(map) = v else {
        push(
            ErrorKind::WrongType,
            path.to_string(),
            format!("expected a mapping, found {}", type_name(v)),
        );
        return None;
    };
    for (k, _) in map {
        match k.as_str() {
            Some(s) if known.contains(&s) => {}
            Some(s) => push(
                ErrorKind::UnknownKey,
                format!("{path}.{s}"),
                format!("unknown key '{s}' (expected one of: {})", known.join(", ")),
            ),
            None => push(
                ErrorKind::WrongType,
                path.to_string(),
                format!("mapping key is {}, expected a string", type_name(k)),
            ),
        }
    }
    Some(map)
}

/// The value of `key`; an explicit null counts as absent.
fn get<'v>(map: &'v serde_yaml_ng::Mapping, key: &str) -> Option<&'v Value> {
    map.get(key).filter(|v| !v.is_null())
}

fn uint(v: &Value, path: &str, min: u64, max: u64, push: Push<'_>) -> Option<u64> {
    let Some(n) = v.as_u64() else {
        push(
            ErrorKind::WrongType,
            path.to_string(),
            format!("expected a whole number, found {}", type_name(v)),
        );
        return None;
    };
    if !(min..=max).contains(&n) {
        push(
            ErrorKind::InvalidValue,
            path.to_string(),
            format!("{n} is out of range (allowed {min}-{max})"),
        );
        return None;
    }
    Some(n)
}

fn string(v: &Value, path: &str, push: Push<'_>) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        other => {
            push(
                ErrorKind::WrongType,
                path.to_string(),
                format!("expected a string, found {}", type_name(other)),
            );
            None
        }
    }
}

const INTERFACE_KEYS: &[&str] = &[
    "name",
    "workers",
    "promiscuous",
    "buffer_bytes",
    "bpf_filter",
    "silence_secs",
];

fn read_interface(v: &Value, path: &str, push: Push<'_>) -> Option<CaptureInterface> {
    let map = mapping(v, path, INTERFACE_KEYS, push)?;
    let name = match get(map, "name") {
        None => {
            push(
                ErrorKind::MissingKey,
                path.to_string(),
                "missing required key 'name'".to_string(),
            );
            None
        }
        Some(n) => string(n, &format!("{path}.name"), push),
    };
    let name = name.and_then(|n| {
        if valid_interface_name(&n) {
            Some(n)
        } else {
            push(
                ErrorKind::InvalidValue,
                format!("{path}.name"),
                format!(
                    "'{}' is not an interface name (1-{MAX_IFNAME_LEN} characters, no '/', ':' or blanks)",
                    n.chars().take(40).collect::<String>().escape_debug()
                ),
            );
            None
        }
    });
    let mut ifc = CaptureInterface::new(name.as_deref().unwrap_or(""));
    if let Some(w) = get(map, "workers") {
        ifc.workers = uint(w, &format!("{path}.workers"), 1, MAX_WORKERS, push)
            .and_then(|n| usize::try_from(n).ok())
            .and_then(NonZeroUsize::new);
    }
    if let Some(p) = get(map, "promiscuous") {
        match p {
            Value::Bool(b) => ifc.promiscuous = *b,
            other => push(
                ErrorKind::WrongType,
                format!("{path}.promiscuous"),
                format!("expected true or false, found {}", type_name(other)),
            ),
        }
    }
    if let Some(b) = get(map, "buffer_bytes") {
        if let Some(n) = uint(
            b,
            &format!("{path}.buffer_bytes"),
            MIN_BUFFER_BYTES as u64,
            MAX_BUFFER_BYTES as u64,
            push,
        ) {
            ifc.buffer_bytes = usize::try_from(n).unwrap_or(DEFAULT_BUFFER_BYTES);
        }
    }
    if let Some(f) = get(map, "bpf_filter") {
        let fpath = format!("{path}.bpf_filter");
        if let Some(expr) = string(f, &fpath, push) {
            match compile_filter(&expr, LinkType::Ethernet) {
                Ok(_) => ifc.bpf_filter = Some(expr.trim().to_string()),
                Err(e) => push(ErrorKind::InvalidValue, fpath, e.to_string()),
            }
        }
    }
    if let Some(s) = get(map, "silence_secs") {
        if let Some(n) = uint(
            s,
            &format!("{path}.silence_secs"),
            MIN_SILENCE_SECS,
            MAX_SILENCE_SECS,
            push,
        ) {
            ifc.silence_secs = n;
        }
    }
    name.map(|_| ifc)
}

/// Reads the `capture:` section (absent: no live capture), reporting every
/// problem through `push`.
pub(super) fn read(v: Option<&Value>, push: Push<'_>) -> CaptureConfig {
    let mut cfg = CaptureConfig::default();
    let Some(v) = v else { return cfg };
    let Some(map) = mapping(v, "capture", &["interfaces"], push) else {
        return cfg;
    };
    let items: &[Value] = match get(map, "interfaces") {
        None => &[],
        Some(Value::Sequence(s)) => s,
        Some(other) => {
            push(
                ErrorKind::WrongType,
                "capture.interfaces".to_string(),
                format!("expected a list, found {}", type_name(other)),
            );
            &[]
        }
    };
    if items.len() > MAX_INTERFACES {
        push(
            ErrorKind::InvalidValue,
            "capture.interfaces".to_string(),
            format!(
                "{} items; at most {MAX_INTERFACES} are allowed here",
                items.len()
            ),
        );
    }
    for (i, item) in items.iter().take(MAX_INTERFACES).enumerate() {
        let path = format!("capture.interfaces[{i}]");
        if let Some(ifc) = read_interface(item, &path, push) {
            if cfg.interfaces.iter().any(|o| o.name == ifc.name) {
                push(
                    ErrorKind::DuplicateId,
                    format!("{path}.name"),
                    format!("interface '{}' listed twice", ifc.name),
                );
            } else {
                cfg.interfaces.push(ifc);
            }
        }
    }
    cfg
}

#[cfg(test)]
mod tests {
    use super::super::{Config, ConfigError, ConfigErrors};
    use super::*;
    use proptest::prelude::*;
    use std::path::Path;

    fn parse(yaml: &str) -> Result<Config, ConfigErrors> {
        Config::validate_at(
            yaml,
            "t.yaml",
            Path::new("/etc/zoneguard"),
            chrono::Utc::now(),
        )
    }

    fn errs(yaml: &str) -> Vec<ConfigError> {
        parse(yaml).expect_err("errors expected").errors
    }

    #[test]
    fn absent_section_means_no_capture() {
        let c = parse("name: t\n").unwrap();
        assert!(c.capture.interfaces.is_empty());
        assert_eq!(Config::builtin_default().capture, CaptureConfig::default());
    }

    #[test]
    fn defaults_and_values() {
        let c = parse(
            "name: t\ncapture:\n  interfaces:\n    - name: eth1\n    - name: eth2\n      workers: 3\n      promiscuous: false\n      buffer_bytes: 1048576\n      bpf_filter: ' not port 22 '\n      silence_secs: 60\n",
        )
        .unwrap();
        let i = &c.capture.interfaces;
        assert_eq!(i[0], CaptureInterface::new("eth1"));
        assert!(i[0].worker_count() >= 1);
        assert_eq!(i[0].silence_secs, 300);
        assert_eq!(i[1].workers.map(NonZeroUsize::get), Some(3));
        assert_eq!(i[1].worker_count(), 3);
        assert!(!i[1].promiscuous);
        assert_eq!(i[1].buffer_bytes, 1 << 20);
        assert_eq!(i[1].bpf_filter.as_deref(), Some("not port 22"));
        assert_eq!(i[1].silence_secs, 60);
        let o = i[1].live_options(1);
        assert_eq!(o.interface, "eth2");
        assert_eq!(o.fanout_group, default_fanout_group(1));
        assert!(!o.promiscuous);
        assert_eq!(o.bpf_filter.as_deref(), Some("not port 22"));
    }

    #[test]
    fn every_problem_with_its_path_and_line() {
        let e = errs(
            "name: t\ncapture:\n  interfaces:\n    - name: eth1\n      workers: 0\n      speed: 10\n    - workers: 2\n    - name: 'eth/9'\n      promiscuous: 'yes'\n      buffer_bytes: 12\n      bpf_filter: 'port fifty'\n      silence_secs: 1\n    - name: eth1\n",
        );
        let at = |p: &str, k: ErrorKind| {
            e.iter()
                .find(|x| x.path == p && x.kind == k)
                .unwrap_or_else(|| panic!("no {k:?} at {p}: {e:#?}"))
        };
        assert!(at("capture.interfaces[0].workers", ErrorKind::InvalidValue)
            .message
            .contains("out of range (allowed 1-256)"));
        let unknown = at("capture.interfaces[0].speed", ErrorKind::UnknownKey);
        assert_eq!(unknown.line, Some(6));
        at("capture.interfaces[1]", ErrorKind::MissingKey);
        at("capture.interfaces[2].name", ErrorKind::InvalidValue);
        at("capture.interfaces[2].promiscuous", ErrorKind::WrongType);
        at(
            "capture.interfaces[2].buffer_bytes",
            ErrorKind::InvalidValue,
        );
        let f = at("capture.interfaces[2].bpf_filter", ErrorKind::InvalidValue);
        assert!(f.message.contains("does not compile"), "{}", f.message);
        at(
            "capture.interfaces[2].silence_secs",
            ErrorKind::InvalidValue,
        );
        at("capture.interfaces[3].name", ErrorKind::DuplicateId);
    }

    #[test]
    fn wrong_shapes() {
        let e = errs("name: t\ncapture: [eth0]\n");
        assert_eq!(e[0].path, "capture");
        let e = errs("name: t\ncapture:\n  interfaces: eth0\n");
        assert_eq!(e[0].path, "capture.interfaces");
        let e = errs("name: t\ncapture:\n  interface: []\n");
        assert_eq!(e[0].kind, ErrorKind::UnknownKey);
        let many: String = (0..70).map(|i| format!("    - name: e{i}\n")).collect();
        let e = errs(&format!("name: t\ncapture:\n  interfaces:\n{many}"));
        assert!(e
            .iter()
            .any(|x| x.path == "capture.interfaces" && x.message.contains("at most 64")));
    }

    proptest! {
        #[test]
        fn hostile_sections_never_panic(name in "\\PC{0,20}", w in any::<i64>(), f in "[a-z0-9 ]{0,20}") {
            let yaml = format!(
                "name: t\ncapture:\n  interfaces:\n    - name: {name:?}\n      workers: {w}\n      bpf_filter: {f:?}\n"
            );
            let _ = parse(&yaml);
        }
    }
}
