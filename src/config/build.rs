//! Turning YAML text into a validated [`Config`], collecting every problem.
//!
//! The text is parsed once into a `serde_yaml_ng::Value` (syntax errors carry
//! the library's line and column); each section is then read by hand so that
//! every unknown key, wrong type and bad value is reported with its document
//! path, not just the first. Cross-references (zones, groups, the
//! allow-list, inventory) are checked last. Lines for those errors come from
//! [`LineIndex`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ipnet::IpNet;
use serde_yaml_ng::{Mapping, Value};

use super::error::{ConfigError, ConfigErrors, ErrorKind};
use super::lines::LineIndex;
use super::DaemonConfig;
use super::{
    AllowRule, AssetsMode, Config, DefragSettings, EveOutput, FlowConfig, FlowTimeouts, Host,
    Indicator, Indicators, IpIndicator, Outputs, PolicyKinds, PolicySettings, ProtoTimeouts,
    RulesConfig, Service, Vars, Zone, EVE_TYPES, MAX_CONFIG_BYTES, MAX_ERRORS,
};
use crate::taxonomy::Taxonomy;

#[path = "detect.rs"]
pub(super) mod detect;

/// Highest protection level of MLPS 2.0.
const MAX_LEVEL: u64 = 5;
/// Largest flow table accepted (entries).
const MAX_FLOWS_LIMIT: u64 = 64 * 1024 * 1024;
/// Longest timeout accepted (seconds): one day.
const MAX_TIMEOUT_SECS: u64 = 86_400;
/// Largest defrag memory accepted (bytes): 4 GiB.
const MAX_DEFRAG_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// Most defrag trackers accepted.
const MAX_DEFRAG_TRACKERS: u64 = 16 * 1024 * 1024;
/// Longest list accepted where no other limit is given (zones, groups,
/// group members, hosts of an allow entry, services, admins, ...). These
/// bounds keep validation time and memory bounded on hostile input.
const MAX_LIST: usize = 4096;
/// Most CIDRs of one zone.
const MAX_ZONE_CIDRS: usize = 256;
/// Most inventory hosts of one zone.
const MAX_ZONE_HOSTS: usize = 65_536;
/// Most allow-list entries.
const MAX_ALLOW: usize = 65_536;
/// Most indicators of each kind.
const MAX_INDICATORS: usize = 1_000_000;

/// Collected errors, capped at [`MAX_ERRORS`].
#[derive(Default)]
struct Errs {
    list: Vec<ConfigError>,
    dropped: usize,
}

impl Errs {
    fn push(&mut self, kind: ErrorKind, path: impl Into<String>, message: impl Into<String>) {
        if self.list.len() >= MAX_ERRORS {
            self.dropped += 1;
            return;
        }
        self.list.push(ConfigError::new(kind, path, message));
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn idx(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
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

/// A mapping whose keys have been checked against the known set.
struct Obj<'a> {
    map: &'a Mapping,
    path: String,
}

fn obj<'a>(v: &'a Value, path: &str, known: &[&str], e: &mut Errs) -> Option<Obj<'a>> {
    let Value::Mapping(map) = v else {
        e.push(
            ErrorKind::WrongType,
            path,
            format!("expected a mapping, found {}", type_name(v)),
        );
        return None;
    };
    for (k, _) in map {
        match k.as_str() {
            Some(s) if known.contains(&s) => {}
            Some(s) => e.push(
                ErrorKind::UnknownKey,
                join(path, s),
                format!("unknown key '{s}' (expected one of: {})", known.join(", ")),
            ),
            None => e.push(
                ErrorKind::WrongType,
                path,
                format!("mapping key is {}, expected a string", type_name(k)),
            ),
        }
    }
    Some(Obj {
        map,
        path: path.to_string(),
    })
}

impl<'a> Obj<'a> {
    /// The value of `key`; an explicit null counts as absent.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn at(&self, key: &str) -> String {
        join(&self.path, key)
    }

    fn opt_string(&self, key: &str, e: &mut Errs) -> Option<String> {
        let v = self.get(key)?;
        scalar_string(v, &self.at(key), e)
    }

    fn string(&self, key: &str, e: &mut Errs) -> Option<String> {
        if self.get(key).is_none() {
            e.push(
                ErrorKind::MissingKey,
                self.path.clone(),
                format!("missing required key '{key}'"),
            );
            return None;
        }
        self.opt_string(key, e)
    }

    fn bool(&self, key: &str, default: bool, e: &mut Errs) -> bool {
        match self.get(key) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(v) => {
                e.push(
                    ErrorKind::WrongType,
                    self.at(key),
                    format!("expected true or false, found {}", type_name(v)),
                );
                default
            }
        }
    }

    /// An unsigned integer in `min..=max`.
    fn uint(&self, key: &str, min: u64, max: u64, e: &mut Errs) -> Option<u64> {
        let v = self.get(key)?;
        let Some(n) = v.as_u64() else {
            e.push(
                ErrorKind::WrongType,
                self.at(key),
                format!("expected a whole number, found {}", describe(v)),
            );
            return None;
        };
        if n < min || n > max {
            e.push(
                ErrorKind::InvalidValue,
                self.at(key),
                format!("{n} is out of range (allowed {min}-{max})"),
            );
            return None;
        }
        Some(n)
    }

    /// A list of at most [`MAX_LIST`] items.
    fn list(&self, key: &str, e: &mut Errs) -> &'a [Value] {
        self.list_max(key, MAX_LIST, e)
    }

    /// A list of at most `max` items; longer lists are reported and cut.
    fn list_max(&self, key: &str, max: usize, e: &mut Errs) -> &'a [Value] {
        match self.get(key) {
            None => &[],
            Some(Value::Sequence(s)) => capped(s, max, &self.at(key), e),
            Some(v) => {
                e.push(
                    ErrorKind::WrongType,
                    self.at(key),
                    format!("expected a list, found {}", type_name(v)),
                );
                &[]
            }
        }
    }

    /// A string or a list of strings, each with its path.
    fn string_or_list(&self, key: &str, e: &mut Errs) -> Vec<(String, String)> {
        let path = self.at(key);
        match self.get(key) {
            None => Vec::new(),
            Some(Value::String(s)) => vec![(s.clone(), path)],
            Some(Value::Sequence(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    let p = idx(&path, i);
                    scalar_string(v, &p, e).map(|s| (s, p))
                })
                .collect(),
            Some(v) => {
                e.push(
                    ErrorKind::WrongType,
                    path,
                    format!("expected a name or a list of names, found {}", type_name(v)),
                );
                Vec::new()
            }
        }
    }
}

/// At most `max` items of `items`, reporting the cut.
fn capped<'v>(items: &'v [Value], max: usize, path: &str, e: &mut Errs) -> &'v [Value] {
    if items.len() > max {
        e.push(
            ErrorKind::InvalidValue,
            path,
            format!("{} items; at most {max} are allowed here", items.len()),
        );
    }
    items.get(..max).unwrap_or(items)
}

/// A short rendering of a scalar for messages.
fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{}'", truncate(s)),
        Value::Number(n) => format!("{n}"),
        Value::Bool(b) => format!("{b}"),
        other => type_name(other).to_string(),
    }
}

fn truncate(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}...")
    }
}

/// A string (numbers are accepted and written out, as for ticket numbers).
fn scalar_string(v: &Value, path: &str, e: &mut Errs) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        other => {
            e.push(
                ErrorKind::WrongType,
                path,
                format!("expected a string, found {}", type_name(other)),
            );
            None
        }
    }
}

/// A list of strings at `path`.
fn string_items(items: &[Value], path: &str, e: &mut Errs) -> Vec<(String, String)> {
    items
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let p = idx(path, i);
            scalar_string(v, &p, e).map(|s| (s, p))
        })
        .collect()
}

/// A network written as a CIDR; host bits must be clear.
fn parse_cidr(text: &str, path: &str, e: &mut Errs) -> Option<IpNet> {
    let t = text.trim();
    match IpNet::from_str(t) {
        Ok(net) => {
            if net.trunc() != net {
                e.push(
                    ErrorKind::MalformedCidr,
                    path,
                    format!(
                        "malformed CIDR '{}': host bits set (did you mean {}?)",
                        truncate(t),
                        net.trunc()
                    ),
                );
                return None;
            }
            Some(net)
        }
        Err(_) => {
            let why = if t.parse::<IpAddr>().is_ok() {
                "a bare address where a network with /prefix is required"
            } else {
                "expected ADDRESS/PREFIX, e.g. 10.0.0.0/8 or fd00::/64, with the prefix within 0-32 (IPv4) or 0-128 (IPv6)"
            };
            e.push(
                ErrorKind::MalformedCidr,
                path,
                format!("malformed CIDR '{}': {why}", truncate(t)),
            );
            None
        }
    }
}

/// An address or a network (a bare address is a /32 or /128).
fn parse_host_net(text: &str, path: &str, e: &mut Errs) -> Option<IpNet> {
    let t = text.trim();
    if t.contains('/') {
        parse_cidr(t, path, e)
    } else {
        match t.parse::<IpAddr>() {
            Ok(ip) => Some(IpNet::from(ip)),
            Err(_) => {
                e.push(
                    ErrorKind::MalformedIp,
                    path,
                    format!("malformed IP address '{}'", truncate(t)),
                );
                None
            }
        }
    }
}

/// Parses `02:10:01:00:00:0a` (also `-` separated, any case).
pub(crate) fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let t = text.trim();
    if t.len() != 17 {
        return None;
    }
    let sep = *t.as_bytes().get(2)?;
    if sep != b':' && sep != b'-' {
        return None;
    }
    let mut mac = [0u8; 6];
    let mut parts = t.split(sep as char);
    for slot in mac.iter_mut() {
        let part = parts.next()?;
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *slot = u8::from_str_radix(part, 16).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(mac)
}

fn fmt_mac(mac: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
    )
}

/// Whether an id is usable: non-empty, no blanks or control characters.
fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Reads a config file, refusing anything over [`MAX_CONFIG_BYTES`] or not
/// UTF-8.
pub(super) fn read_capped(path: &Path, origin: &str) -> Result<String, ConfigErrors> {
    let io_err =
        |msg: String| ConfigErrors::single(origin, ConfigError::new(ErrorKind::Io, "", msg));
    let file = std::fs::File::open(path).map_err(|err| io_err(format!("cannot open: {err}")))?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| io_err(format!("cannot read: {err}")))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(io_err(format!(
            "file larger than {MAX_CONFIG_BYTES} bytes; refusing to read it"
        )));
    }
    String::from_utf8(bytes).map_err(|err| {
        io_err(format!(
            "not UTF-8 text (invalid byte at offset {})",
            err.utf8_error().valid_up_to()
        ))
    })
}

/// The library's message without its own " at line N column M" suffix.
fn strip_location(msg: &str) -> &str {
    match msg.rfind(" at line ") {
        Some(pos) => msg.get(..pos).unwrap_or(msg),
        None => msg,
    }
}

const TOP_KEYS: &[&str] = &[
    "name",
    "timezone",
    "home_nets",
    "vars",
    "zones",
    "groups",
    "allow",
    "cleartext_banned_min_level",
    "cleartext_services",
    "cleartext_http_basic_auth",
    "indicators",
    "admins",
    "rules",
    "flow",
    "defrag",
    "policy",
    "outputs",
    "daemon",
    "capture",
    "syslog",
    "api",
    "detect",
    "queue",
    "incidents",
    "notify",
];

/// Parses and validates; see [`Config::validate_at`].
pub(super) fn build(
    text: &str,
    origin: &str,
    base_dir: &Path,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Config, ConfigErrors> {
    let doc: Value = match serde_yaml_ng::from_str(text) {
        Ok(v) => v,
        Err(err) => {
            let msg = err.to_string();
            let mut ce = ConfigError::new(ErrorKind::Syntax, "", strip_location(&msg).to_string());
            if let Some(loc) = err.location() {
                ce.line = Some(loc.line());
                ce.column = Some(loc.column());
            }
            return Err(ConfigErrors::single(origin, ce));
        }
    };
    if doc.is_null() {
        return Err(ConfigErrors::single(
            origin,
            ConfigError::new(ErrorKind::MissingKey, "", "the config document is empty"),
        ));
    }
    let mut e = Errs::default();
    let cfg = read_document(&doc, base_dir, now, &mut e);
    match cfg {
        Some(cfg) if e.list.is_empty() => Ok(cfg),
        _ => Err(finish(text, origin, e)),
    }
}

/// Attaches lines and columns, sorts by position, and notes dropped errors.
fn finish(text: &str, origin: &str, mut e: Errs) -> ConfigErrors {
    let index = LineIndex::build(text);
    for err in &mut e.list {
        if err.line.is_none() {
            if let Some((l, c)) = index.lookup(&err.path) {
                err.line = Some(l);
                err.column = Some(c);
            }
        }
    }
    e.list
        .sort_by_key(|err| (err.line.unwrap_or(usize::MAX), err.column.unwrap_or(0)));
    if e.list.is_empty() {
        e.list.push(ConfigError::new(
            ErrorKind::WrongType,
            "",
            "the config document must be a mapping",
        ));
    }
    if e.dropped > 0 {
        e.list.push(ConfigError::new(
            ErrorKind::TooManyErrors,
            "",
            format!("{} more error(s) not shown", e.dropped),
        ));
    }
    ConfigErrors {
        file: origin.to_string(),
        errors: e.list,
    }
}

fn read_document(
    doc: &Value,
    base_dir: &Path,
    now: chrono::DateTime<chrono::Utc>,
    e: &mut Errs,
) -> Option<Config> {
    let top = obj(doc, "", TOP_KEYS, e)?;
    let mut cfg = Config::builtin_default();

    match top.string("name", e) {
        Some(n) if n.trim().is_empty() => {
            e.push(ErrorKind::InvalidValue, "name", "name must not be empty")
        }
        Some(n) => cfg.name = n,
        None => {}
    }
    if let Some(tz) = top.opt_string("timezone", e) {
        match chrono_tz::Tz::from_str(tz.trim()) {
            Ok(tz) => cfg.timezone = tz,
            Err(_) => e.push(
                ErrorKind::MalformedTimezone,
                "timezone",
                format!(
                    "unknown timezone '{}' (expected an IANA name such as Asia/Shanghai or UTC)",
                    truncate(&tz)
                ),
            ),
        }
    }
    for (s, p) in string_items(top.list("home_nets", e), "home_nets", e) {
        if let Some(net) = parse_cidr(&s, &p, e) {
            cfg.home_nets.push(net);
        }
    }
    cfg.vars = read_vars(top.get("vars"), &cfg.home_nets, e);
    cfg.zones = read_zones(top.list("zones", e), e);
    cfg.groups = read_groups(top.get("groups"), e);
    let allow_values = top.list_max("allow", MAX_ALLOW, e);
    let allow_read: Vec<(usize, AllowRule)> = allow_values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| read_allow(v, &idx("allow", i), e).map(|a| (i, a)))
        .collect();
    cfg.allow = allow_read.iter().map(|(_, a)| a.clone()).collect();

    if let Some(l) = top.get("cleartext_banned_min_level") {
        match l.as_u64() {
            Some(n) if n <= MAX_LEVEL => cfg.cleartext_banned_min_level = u8::try_from(n).ok(),
            Some(n) => e.push(
                ErrorKind::LevelOutOfRange,
                "cleartext_banned_min_level",
                format!("level {n} is out of range (protection levels are 0-5)"),
            ),
            None => e.push(
                ErrorKind::WrongType,
                "cleartext_banned_min_level",
                format!("expected a level 0-5, found {}", describe(l)),
            ),
        }
    }
    cfg.cleartext_services =
        read_services(top.list("cleartext_services", e), "cleartext_services", e);
    cfg.cleartext_http_basic_auth = top.bool("cleartext_http_basic_auth", false, e);
    cfg.indicators = read_indicators(top.get("indicators"), e);
    let mut seen_admins = BTreeSet::new();
    for (s, p) in string_items(top.list("admins", e), "admins", e) {
        if !valid_id(&s) {
            e.push(
                ErrorKind::InvalidValue,
                p,
                format!("'{}' is not an account name", truncate(&s)),
            );
        } else if !seen_admins.insert(s.clone()) {
            e.push(
                ErrorKind::InvalidValue,
                p,
                format!("admin '{s}' listed twice"),
            );
        } else {
            cfg.admins.push(s);
        }
    }
    cfg.rules = read_rules(top.get("rules"), base_dir, e);
    cfg.flow = read_flow(top.get("flow"), e);
    cfg.defrag = read_defrag(top.get("defrag"), e);
    cfg.policy = read_policy(top.get("policy"), e);
    cfg.outputs = read_outputs(top.get("outputs"), e);
    cfg.daemon = read_daemon(top.get("daemon"), base_dir, e);
    cfg.capture = super::capture::read(top.get("capture"), &mut |k, p, m| e.push(k, p, m));
    cfg.syslog = super::syslog::read(top.get("syslog"), &mut |k, p, m| e.push(k, p, m));
    cfg.api = super::api::read(top.get("api"), base_dir, &cfg.zones, &mut |k, p, m| {
        e.push(k, p, m)
    });
    cfg.detect = detect::read_detect(top.get("detect"), e);
    cfg.queue = super::queue::read(top.get("queue"), base_dir, &mut |k, p, m| e.push(k, p, m));
    let mut found = super::incidents::Found::default();
    cfg.incidents = super::incidents::read(top.get("incidents"), base_dir, &mut found);
    cfg.notify = super::notify::read(top.get("notify"), base_dir, &mut found);
    for err in found.errors {
        e.push(err.kind, err.path, err.message);
    }

    check_zones(&cfg.zones, e);
    check_groups(&cfg, e);
    check_allow(&cfg, &allow_read, now, e);
    Some(cfg)
}

fn read_vars(v: Option<&Value>, home_nets: &[IpNet], e: &mut Errs) -> Vars {
    let mut vars = Vars::suricata_defaults();
    let mut explicit_home = false;
    // Where each user-given variable was written: (canonical section, name) -> path.
    let mut written: HashMap<(&str, String), String> = HashMap::new();
    if let Some(v) = v {
        const KNOWN: &[&str] = &[
            "address-groups",
            "port-groups",
            "address_groups",
            "port_groups",
        ];
        if let Some(o) = obj(v, "vars", KNOWN, e) {
            for (key, is_addr) in [
                ("address-groups", true),
                ("address_groups", true),
                ("port-groups", false),
                ("port_groups", false),
            ] {
                let Some(section) = o.get(key) else { continue };
                let path = o.at(key);
                let Value::Mapping(map) = section else {
                    e.push(
                        ErrorKind::WrongType,
                        path,
                        format!(
                            "expected a mapping of NAME: value, found {}",
                            type_name(section)
                        ),
                    );
                    continue;
                };
                for (k, val) in map {
                    let Some(name) = k.as_str() else {
                        e.push(
                            ErrorKind::WrongType,
                            path.clone(),
                            "variable names must be strings",
                        );
                        continue;
                    };
                    let p = join(&path, name);
                    if name.is_empty()
                        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    {
                        e.push(
                            ErrorKind::InvalidValue,
                            p,
                            format!(
                                "variable name '{}' may hold only letters, digits and _",
                                truncate(name)
                            ),
                        );
                        continue;
                    }
                    let Some(text) = scalar_string(val, &p, e) else {
                        continue;
                    };
                    if text.trim().is_empty() {
                        e.push(
                            ErrorKind::InvalidValue,
                            p,
                            format!("variable {name} is empty"),
                        );
                        continue;
                    }
                    let canonical = if is_addr {
                        "address-groups"
                    } else {
                        "port-groups"
                    };
                    written.insert((canonical, name.to_string()), p.clone());
                    if is_addr {
                        if name == "HOME_NET" {
                            explicit_home = true;
                        }
                        vars.address_groups.insert(name.to_string(), text);
                    } else {
                        vars.port_groups.insert(name.to_string(), text);
                    }
                }
            }
        }
    }
    if !explicit_home && !home_nets.is_empty() {
        let list: Vec<String> = home_nets.iter().map(IpNet::to_string).collect();
        vars.address_groups
            .insert("HOME_NET".to_string(), format!("[{}]", list.join(",")));
    }
    // Every $NAME must be defined in the same kind of group, and brackets
    // must balance.
    for (groups, kind, key) in [
        (&vars.address_groups, "address", "address-groups"),
        (&vars.port_groups, "port", "port-groups"),
    ] {
        for (name, value) in groups {
            let path = || {
                written
                    .get(&(key, name.clone()))
                    .cloned()
                    .unwrap_or_else(|| format!("vars.{key}.{name}"))
            };
            for r in Vars::references(value) {
                if !groups.contains_key(r) {
                    e.push(
                        ErrorKind::UnknownReference,
                        path(),
                        format!("${r} is not a defined {kind} group"),
                    );
                }
            }
            if !brackets_balance(value) {
                e.push(
                    ErrorKind::InvalidValue,
                    path(),
                    format!("unbalanced brackets in '{}'", truncate(value)),
                );
            }
        }
    }
    vars
}

/// Whether `[` and `]` nest properly.
fn brackets_balance(value: &str) -> bool {
    let mut depth = 0usize;
    for c in value.chars() {
        match c {
            '[' => depth += 1,
            ']' => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            _ => {}
        }
    }
    depth == 0
}

const ZONE_KEYS: &[&str] = &[
    "id", "name_zh", "name_en", "level", "default", "isolated", "cidrs", "unit", "contact",
    "assets", "vlan", "vlans", "hosts",
];
const HOST_KEYS: &[&str] = &["ip", "name", "mac", "role", "gateway"];

fn read_vlan(v: &Value, path: &str, e: &mut Errs) -> Option<u16> {
    match v.as_u64() {
        Some(n) if (1..=4094).contains(&n) => u16::try_from(n).ok(),
        Some(n) => {
            e.push(
                ErrorKind::InvalidValue,
                path,
                format!("VLAN id {n} is out of range (1-4094)"),
            );
            None
        }
        None => {
            e.push(
                ErrorKind::WrongType,
                path,
                format!("expected a VLAN id 1-4094, found {}", describe(v)),
            );
            None
        }
    }
}

fn read_zones(items: &[Value], e: &mut Errs) -> Vec<Zone> {
    let mut zones = Vec::with_capacity(items.len().min(4096));
    for (i, v) in items.iter().enumerate() {
        let path = idx("zones", i);
        let Some(o) = obj(v, &path, ZONE_KEYS, e) else {
            // Keep indices aligned with the document for later messages.
            zones.push(placeholder_zone(i));
            continue;
        };
        let mut z = placeholder_zone(i);
        if let Some(id) = o.string("id", e) {
            if valid_id(&id) {
                z.id = id;
            } else {
                e.push(
                    ErrorKind::InvalidValue,
                    o.at("id"),
                    format!(
                        "zone id '{}' must be non-empty and without blanks",
                        truncate(&id)
                    ),
                );
            }
        }
        z.name_zh = o.opt_string("name_zh", e);
        z.name_en = o.opt_string("name_en", e);
        z.default = o.bool("default", false, e);
        z.isolated = o.bool("isolated", false, e);
        match o.get("level") {
            None if z.default => z.level = 0,
            None => e.push(
                ErrorKind::MissingKey,
                path.clone(),
                "missing required key 'level'",
            ),
            Some(l) => match (l.as_u64(), l.as_i64()) {
                (Some(n), _) if n <= MAX_LEVEL => z.level = u8::try_from(n).unwrap_or(0),
                (Some(_), _) | (None, Some(_)) => e.push(
                    ErrorKind::LevelOutOfRange,
                    o.at("level"),
                    format!("protection level {} is out of range (0-5)", describe(l)),
                ),
                _ => e.push(
                    ErrorKind::WrongType,
                    o.at("level"),
                    format!("expected a protection level 0-5, found {}", describe(l)),
                ),
            },
        }
        for (s, p) in string_items(o.list_max("cidrs", MAX_ZONE_CIDRS, e), &o.at("cidrs"), e) {
            if let Some(net) = parse_cidr(&s, &p, e) {
                z.cidrs.push(net);
            }
        }
        let no_cidrs = match o.get("cidrs") {
            None => true,
            Some(Value::Sequence(v)) => v.is_empty(),
            Some(_) => false,
        };
        if !z.default && no_cidrs {
            e.push(
                ErrorKind::MissingKey,
                path.clone(),
                format!(
                    "zone '{}' has no cidrs, so no address can ever be in it",
                    z.id
                ),
            );
        }
        z.unit = o.opt_string("unit", e);
        z.contact = o.opt_string("contact", e);
        if let Some(a) = o.opt_string("assets", e) {
            match a.as_str() {
                "strict" => z.assets = AssetsMode::Strict,
                "open" => z.assets = AssetsMode::Open,
                other => e.push(
                    ErrorKind::InvalidValue,
                    o.at("assets"),
                    format!(
                        "assets must be 'strict' or 'open', not '{}'",
                        truncate(other)
                    ),
                ),
            }
        }
        if o.get("vlan").is_some() && o.get("vlans").is_some() {
            e.push(
                ErrorKind::InvalidValue,
                o.at("vlans"),
                "give either 'vlan' or 'vlans', not both",
            );
        }
        if let Some(v) = o.get("vlan") {
            if let Some(id) = read_vlan(v, &o.at("vlan"), e) {
                z.vlans.push(id);
            }
        }
        for (j, v) in o.list("vlans", e).iter().enumerate() {
            if let Some(id) = read_vlan(v, &idx(&o.at("vlans"), j), e) {
                z.vlans.push(id);
            }
        }
        for (j, hv) in o.list_max("hosts", MAX_ZONE_HOSTS, e).iter().enumerate() {
            let hp = idx(&o.at("hosts"), j);
            let Some(h) = obj(hv, &hp, HOST_KEYS, e) else {
                continue;
            };
            let ip = h
                .string("ip", e)
                .and_then(|s| match s.trim().parse::<IpAddr>() {
                    Ok(ip) => Some(ip),
                    Err(_) => {
                        e.push(
                            ErrorKind::MalformedIp,
                            h.at("ip"),
                            format!("malformed IP address '{}'", truncate(&s)),
                        );
                        None
                    }
                });
            let mac = h.opt_string("mac", e).and_then(|s| match parse_mac(&s) {
                Some(m) => Some(m),
                None => {
                    e.push(
                        ErrorKind::MalformedMac,
                        h.at("mac"),
                        format!(
                            "malformed MAC address '{}' (expected six hex pairs like 02:10:01:00:00:0a)",
                            truncate(&s)
                        ),
                    );
                    None
                }
            });
            let host = Host {
                ip: ip.unwrap_or(IpAddr::from([0, 0, 0, 0])),
                name: h.opt_string("name", e),
                mac,
                role: h.opt_string("role", e),
                gateway: h.bool("gateway", false, e),
            };
            if ip.is_some() {
                z.hosts.push(host);
            }
        }
        zones.push(z);
    }
    zones
}

/// A zone standing in for one that could not be read, so indices stay
/// aligned; its id cannot collide with a real one (ids have no blanks).
fn placeholder_zone(i: usize) -> Zone {
    Zone {
        id: format!("<zone {i}>"),
        name_zh: None,
        name_en: None,
        level: 0,
        default: false,
        isolated: false,
        cidrs: Vec::new(),
        unit: None,
        contact: None,
        assets: AssetsMode::Open,
        vlans: Vec::new(),
        hosts: Vec::new(),
    }
}

/// Orderable key of an address: IPv4 before IPv6, then numerically.
type IpKey = (bool, u128);

fn ip_key(ip: IpAddr) -> IpKey {
    match ip {
        IpAddr::V4(a) => (false, u128::from(u32::from(a))),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

fn check_zones(zones: &[Zone], e: &mut Errs) {
    let placeholder = |z: &Zone| z.id.starts_with('<');
    // Default zone: exactly one when zones are given.
    let defaults: Vec<usize> = (0..zones.len())
        .filter(|&i| zones.get(i).is_some_and(|z| z.default))
        .collect();
    if !zones.is_empty() && defaults.is_empty() {
        e.push(
            ErrorKind::DefaultZone,
            "zones",
            "no default zone: mark the zone for every address outside the others (internet) with 'default: true'",
        );
    }
    if defaults.len() > 1 {
        for &i in defaults.iter().skip(1) {
            e.push(
                ErrorKind::DefaultZone,
                format!("zones[{i}].default"),
                format!(
                    "several default zones (zones[{}] is already the default); only one may be",
                    defaults.first().copied().unwrap_or(0)
                ),
            );
        }
    }
    let mut ids: HashMap<&str, usize> = HashMap::new();
    let mut vlans: HashMap<u16, (usize, usize)> = HashMap::new();
    let mut ips: HashMap<IpAddr, String> = HashMap::new();
    for (i, z) in zones.iter().enumerate() {
        if !placeholder(z) {
            if let Some(first) = ids.insert(z.id.as_str(), i) {
                ids.insert(z.id.as_str(), first);
                e.push(
                    ErrorKind::DuplicateId,
                    format!("zones[{i}].id"),
                    format!("duplicate zone id '{}' (also zones[{first}])", z.id),
                );
            }
        }
        if z.default && !z.cidrs.is_empty() {
            e.push(
                ErrorKind::InvalidValue,
                format!("zones[{i}].cidrs"),
                "the default zone takes every address outside the other zones and lists no cidrs",
            );
        }
        if z.default && !z.hosts.is_empty() {
            e.push(
                ErrorKind::InvalidValue,
                format!("zones[{i}].hosts"),
                "the default zone has no inventory",
            );
        }
        for (j, &v) in z.vlans.iter().enumerate() {
            let path = if z.vlans.len() == 1 {
                format!("zones[{i}].vlan")
            } else {
                format!("zones[{i}].vlans[{j}]")
            };
            match vlans.get(&v) {
                Some(&(oi, _)) => {
                    let other = zones.get(oi).map_or("?", |z| z.id.as_str());
                    e.push(
                        ErrorKind::DuplicateVlan,
                        path,
                        format!("VLAN {v} is already used by zone '{other}' (zones[{oi}])"),
                    );
                }
                None => {
                    vlans.insert(v, (i, j));
                }
            }
        }
        let mut macs: HashMap<[u8; 6], usize> = HashMap::new();
        for (j, h) in z.hosts.iter().enumerate() {
            let hp = format!("zones[{i}].hosts[{j}]");
            match ips.get(&h.ip) {
                Some(first) => e.push(
                    ErrorKind::DuplicateAddress,
                    format!("{hp}.ip"),
                    format!("inventory IP {} is already listed at {first}", h.ip),
                ),
                None => {
                    ips.insert(h.ip, hp.clone());
                }
            }
            if let Some(mac) = h.mac {
                if let Some(first) = macs.insert(mac, j) {
                    macs.insert(mac, first);
                    e.push(
                        ErrorKind::DuplicateAddress,
                        format!("{hp}.mac"),
                        format!(
                            "MAC {} is already listed in this zone at zones[{i}].hosts[{first}]",
                            fmt_mac(&mac)
                        ),
                    );
                }
            } else if z.assets == AssetsMode::Strict {
                e.push(
                    ErrorKind::MissingMac,
                    hp.clone(),
                    format!(
                        "host {} has no 'mac' but zone '{}' is assets: strict (its MAC/IP pairs are the inventory)",
                        h.ip, z.id
                    ),
                );
            }
            if !z.default && !z.cidrs.is_empty() && !z.contains(h.ip) {
                e.push(
                    ErrorKind::HostOutsideZone,
                    format!("{hp}.ip"),
                    format!(
                        "host {} is outside zone '{}' ({})",
                        h.ip,
                        z.id,
                        cidr_list(&z.cidrs)
                    ),
                );
            }
        }
    }
    check_overlaps(zones, e);
}

fn cidr_list(cidrs: &[IpNet]) -> String {
    let list: Vec<String> = cidrs.iter().take(8).map(IpNet::to_string).collect();
    let more = if cidrs.len() > 8 { ", ..." } else { "" };
    format!("{}{more}", list.join(", "))
}

/// Overlapping CIDRs of non-default zones, in O(n log n): sorted by start,
/// a network overlaps an earlier one exactly when it starts before the
/// furthest end seen so far (prefixes nest or are disjoint).
fn check_overlaps(zones: &[Zone], e: &mut Errs) {
    /// (start key, prefix length, zone index, cidr index, network)
    type SortedNet = (IpKey, u8, usize, usize, IpNet);
    let mut nets: Vec<SortedNet> = Vec::new();
    for (i, z) in zones.iter().enumerate().filter(|(_, z)| !z.default) {
        for (j, n) in z.cidrs.iter().enumerate() {
            nets.push((ip_key(n.network()), n.prefix_len(), i, j, *n));
        }
    }
    nets.sort_by_key(|&(k, p, i, j, _)| (k, p, i, j));
    let mut cover: Option<((bool, u128), usize, usize, IpNet)> = None;
    for &(start, _, i, j, n) in &nets {
        let end = ip_key(n.broadcast());
        if let Some((cend, ci, cj, cn)) = cover {
            if cend.0 == start.0 && start <= cend {
                let other = zones.get(ci).map_or("?", |z| z.id.as_str());
                let msg = if ci == i {
                    format!("{n} overlaps {cn} of the same zone (zones[{ci}].cidrs[{cj}])")
                } else {
                    format!("{n} overlaps {cn} of zone '{other}' (zones[{ci}].cidrs[{cj}]); an address must belong to one zone")
                };
                e.push(
                    ErrorKind::OverlappingZones,
                    format!("zones[{i}].cidrs[{j}]"),
                    msg,
                );
                if end > cend {
                    cover = Some((end, i, j, n));
                }
                continue;
            }
        }
        cover = Some((end, i, j, n));
    }
}

fn read_groups(v: Option<&Value>, e: &mut Errs) -> BTreeMap<String, Vec<String>> {
    let mut groups = BTreeMap::new();
    let Some(v) = v else { return groups };
    let Value::Mapping(map) = v else {
        e.push(
            ErrorKind::WrongType,
            "groups",
            format!(
                "expected a mapping of group: [zones], found {}",
                type_name(v)
            ),
        );
        return groups;
    };
    if map.len() > MAX_LIST {
        e.push(
            ErrorKind::InvalidValue,
            "groups",
            format!("{} groups; at most {MAX_LIST} are allowed", map.len()),
        );
    }
    for (k, members) in map.iter().take(MAX_LIST) {
        let Some(name) = k.as_str() else {
            e.push(
                ErrorKind::WrongType,
                "groups",
                "group names must be strings",
            );
            continue;
        };
        let path = join("groups", name);
        if !valid_id(name) {
            e.push(
                ErrorKind::InvalidValue,
                path,
                format!(
                    "group name '{}' must be non-empty and without blanks",
                    truncate(name)
                ),
            );
            continue;
        }
        let list = match members {
            Value::String(s) => vec![s.clone()],
            Value::Sequence(items) => string_items(capped(items, MAX_LIST, &path, e), &path, e)
                .into_iter()
                .map(|(s, _)| s)
                .collect(),
            other => {
                e.push(
                    ErrorKind::WrongType,
                    path,
                    format!(
                        "expected a list of zones or groups, found {}",
                        type_name(other)
                    ),
                );
                continue;
            }
        };
        groups.insert(name.to_string(), list);
    }
    groups
}

/// Zone ids to indices, built once per validation pass.
fn zone_ids(zones: &[Zone]) -> HashMap<&str, usize> {
    let mut ids = HashMap::with_capacity(zones.len());
    for (i, z) in zones.iter().enumerate() {
        ids.entry(z.id.as_str()).or_insert(i);
    }
    ids
}

fn check_groups(cfg: &Config, e: &mut Errs) {
    let ids = zone_ids(&cfg.zones);
    for (name, members) in &cfg.groups {
        let path = join("groups", name);
        if ids.contains_key(name.as_str()) {
            e.push(
                ErrorKind::DuplicateId,
                path.clone(),
                format!("group '{name}' has the same name as a zone"),
            );
        }
        if members.is_empty() {
            e.push(
                ErrorKind::InvalidValue,
                path.clone(),
                format!("group '{name}' is empty"),
            );
        }
        for (j, m) in members.iter().enumerate() {
            if !ids.contains_key(m.as_str()) && !cfg.groups.contains_key(m) {
                e.push(
                    ErrorKind::UnknownReference,
                    idx(&path, j),
                    format!("'{}' is neither a zone nor a group", truncate(m)),
                );
            }
        }
    }
    // Cycles, by iterative depth-first search (0 white, 1 grey, 2 black).
    let mut colour: HashMap<&str, u8> = HashMap::new();
    for root in cfg.groups.keys() {
        if colour.get(root.as_str()).copied().unwrap_or(0) != 0 {
            continue;
        }
        let mut stack: Vec<(&str, usize)> = vec![(root.as_str(), 0)];
        colour.insert(root.as_str(), 1);
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let members = cfg.groups.get(node).map(Vec::as_slice).unwrap_or(&[]);
            let Some(m) = members.get(*next) else {
                colour.insert(node, 2);
                stack.pop();
                continue;
            };
            *next += 1;
            let m = m.as_str();
            if ids.contains_key(m) || !cfg.groups.contains_key(m) {
                continue;
            }
            match colour.get(m).copied().unwrap_or(0) {
                0 => {
                    colour.insert(m, 1);
                    stack.push((m, 0));
                }
                1 => {
                    let from = stack.iter().position(|(n, _)| *n == m).unwrap_or(0);
                    let mut cycle: Vec<&str> = stack.iter().skip(from).map(|(n, _)| *n).collect();
                    cycle.push(m);
                    e.push(
                        ErrorKind::GroupCycle,
                        join("groups", node),
                        format!("group cycle: {}", cycle.join(" -> ")),
                    );
                }
                _ => {}
            }
        }
    }
}

/// Zone indices of a zone id or (nested) group; see [`Config::expand_group`].
pub(super) fn expand(
    zones: &[Zone],
    groups: &BTreeMap<String, Vec<String>>,
    name: &str,
) -> Vec<usize> {
    let ids = zone_ids(zones);
    expand_with(&ids, groups, name)
}

fn expand_with(
    ids: &HashMap<&str, usize>,
    groups: &BTreeMap<String, Vec<String>>,
    name: &str,
) -> Vec<usize> {
    let mut out = BTreeSet::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut todo: Vec<&str> = vec![name];
    while let Some(n) = todo.pop() {
        if let Some(&i) = ids.get(n) {
            out.insert(i);
        } else if let Some(members) = groups.get(n) {
            if seen.insert(n) {
                todo.extend(members.iter().map(String::as_str));
            }
        }
    }
    out.into_iter().collect()
}

const ALLOW_KEYS: &[&str] = &[
    "from",
    "to",
    "src_hosts",
    "dst_hosts",
    "services",
    "expires",
    "ticket",
    "why",
];

fn read_services(items: &[Value], path: &str, e: &mut Errs) -> Vec<Service> {
    let mut out = Vec::new();
    for (s, p) in string_items(items, path, e) {
        match s.parse::<Service>() {
            Ok(svc) => out.push(svc),
            Err(err) => e.push(
                ErrorKind::MalformedService,
                p,
                format!("malformed service '{}': {err}", truncate(&s)),
            ),
        }
    }
    out
}

fn read_allow(v: &Value, path: &str, e: &mut Errs) -> Option<AllowRule> {
    let o = obj(v, path, ALLOW_KEYS, e)?;
    let mut rule = AllowRule {
        from: Vec::new(),
        to: Vec::new(),
        src_hosts: Vec::new(),
        dst_hosts: Vec::new(),
        services: Vec::new(),
        expires: None,
        ticket: o.opt_string("ticket", e),
        why: o.opt_string("why", e),
    };
    for (key, target) in [("from", &mut rule.from), ("to", &mut rule.to)] {
        if o.get(key).is_none() {
            e.push(
                ErrorKind::MissingKey,
                path,
                format!("missing required key '{key}'"),
            );
        }
        *target = o
            .string_or_list(key, e)
            .into_iter()
            .map(|(s, _)| s)
            .collect();
    }
    for (key, target) in [
        ("src_hosts", &mut rule.src_hosts),
        ("dst_hosts", &mut rule.dst_hosts),
    ] {
        for (s, p) in string_items(o.list(key, e), &o.at(key), e) {
            if let Some(n) = parse_host_net(&s, &p, e) {
                target.push(n);
            }
        }
    }
    if o.get("services").is_none() {
        e.push(
            ErrorKind::MissingKey,
            path,
            "missing required key 'services' (write [any] to allow everything)",
        );
    }
    let listed = o.list("services", e);
    rule.services = read_services(listed, &o.at("services"), e);
    if matches!(o.get("services"), Some(Value::Sequence(v)) if v.is_empty()) {
        e.push(
            ErrorKind::NeverMatches,
            o.at("services"),
            "no services: the entry can never match (write [any] to allow everything)",
        );
    }
    if let Some(x) = o.opt_string("expires", e) {
        match chrono::DateTime::parse_from_rfc3339(x.trim()) {
            Ok(t) => rule.expires = Some(t),
            Err(err) => e.push(
                ErrorKind::MalformedExpires,
                o.at("expires"),
                format!(
                    "malformed expiry time '{}': {err} (expected RFC 3339, e.g. 2027-12-31T23:59:59+08:00)",
                    truncate(&x)
                ),
            ),
        }
    }
    Some(rule)
}

/// Work allowed for checking allow-entry hosts against zone CIDRs; past
/// it the remaining host checks are skipped (never reported falsely).
const HOST_CHECK_BUDGET: u64 = 50_000_000;

/// Answers "can this network hold an address of that zone" for the
/// allow-list checks.
struct ZoneNets<'a> {
    zones: &'a [Zone],
    /// Non-default CIDRs as (start, end, zone index), sorted; meaningful
    /// only when they do not overlap.
    sorted: Vec<(IpKey, IpKey, usize)>,
    /// Whether any CIDRs overlap (then the checks are skipped: the overlap
    /// is already an error and answers would be unreliable).
    overlapping: bool,
}

impl<'a> ZoneNets<'a> {
    fn new(zones: &'a [Zone]) -> Self {
        let mut sorted: Vec<_> = zones
            .iter()
            .enumerate()
            .filter(|(_, z)| !z.default)
            .flat_map(|(i, z)| z.cidrs.iter().map(move |c| (i, c)))
            .map(|(i, c)| (ip_key(c.network()), ip_key(c.broadcast()), i))
            .collect();
        sorted.sort_unstable();
        let overlapping = sorted
            .windows(2)
            .any(|w| matches!(w, [a, b] if b.0 .0 == a.1 .0 && b.0 <= a.1));
        ZoneNets {
            zones,
            sorted,
            overlapping,
        }
    }

    /// Whether `net` can hold an address of one of the zones `side`
    /// (sorted), spending `budget`; `None` when unknown (budget spent or
    /// CIDRs overlap). The default zone holds whatever no single zone CIDR
    /// covers entirely.
    fn reachable(&self, net: &IpNet, side: &[usize], budget: &mut u64) -> Option<bool> {
        if self.overlapping {
            return None;
        }
        let (s, e) = (ip_key(net.network()), ip_key(net.broadcast()));
        let has_default = side
            .iter()
            .any(|&zi| self.zones.get(zi).is_some_and(|z| z.default));
        if has_default {
            let pp = self.sorted.partition_point(|x| x.0 <= s);
            let covered = pp
                .checked_sub(1)
                .and_then(|i| self.sorted.get(i))
                .is_some_and(|c| c.0 .0 == s.0 && c.1 >= e);
            if !covered {
                return Some(true);
            }
        }
        // Without overlaps, starts and ends are both sorted: the CIDRs
        // touching [s, e] are one contiguous run.
        let lo = self.sorted.partition_point(|x| x.1 < s);
        let hi = self.sorted.partition_point(|x| x.0 <= e);
        let run = self.sorted.get(lo..hi).unwrap_or(&[]);
        let cost = run.len() as u64 + 1;
        if *budget < cost {
            *budget = 0;
            return None;
        }
        *budget -= cost;
        Some(run.iter().any(|x| side.binary_search(&x.2).is_ok()))
    }
}

/// Cross-checks the allow-list; `rules` pairs each readable entry with its
/// index in the document.
fn check_allow(
    cfg: &Config,
    rules: &[(usize, AllowRule)],
    now: chrono::DateTime<chrono::Utc>,
    e: &mut Errs,
) {
    let ids = zone_ids(&cfg.zones);
    let nets = ZoneNets::new(&cfg.zones);
    let mut budget = HOST_CHECK_BUDGET;
    let mut expansions: HashMap<&str, Vec<usize>> = HashMap::new();
    let known = |n: &str| ids.contains_key(n) || cfg.groups.contains_key(n);
    for (i, rule) in rules {
        let path = idx("allow", *i);
        let mut resolvable = true;
        let mut sides: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
        for (k, (key, names)) in [("from", &rule.from), ("to", &rule.to)]
            .into_iter()
            .enumerate()
        {
            for (j, n) in names.iter().enumerate() {
                let p = if names.len() == 1 {
                    join(&path, key)
                } else {
                    idx(&join(&path, key), j)
                };
                if !known(n) {
                    resolvable = false;
                    e.push(
                        ErrorKind::UnknownReference,
                        p,
                        format!("'{}' is neither a zone nor a group", truncate(n)),
                    );
                } else if let Some(side) = sides.get_mut(k) {
                    let zs = expansions
                        .entry(n.as_str())
                        .or_insert_with(|| expand_with(&ids, &cfg.groups, n));
                    side.extend(zs.iter().copied());
                }
            }
        }
        for side in &mut sides {
            side.sort_unstable();
            side.dedup();
        }
        if let Some(t) = rule.expires {
            if t < now {
                e.push(
                    ErrorKind::Expired,
                    join(&path, "expires"),
                    format!(
                        "expired at {} (ticket {}); the exception no longer allows anything — remove it or renew the approval",
                        t.to_rfc3339(),
                        rule.ticket.as_deref().unwrap_or("none")
                    ),
                );
            }
        }
        if !resolvable || rule.from.is_empty() || rule.to.is_empty() {
            continue;
        }
        let [from, to] = &sides;
        if from.is_empty() || to.is_empty() {
            e.push(
                ErrorKind::NeverMatches,
                path.clone(),
                "from or to names no zone at all (empty group)",
            );
            continue;
        }
        if from.len() == 1 && from == to {
            let zi = from.first().copied().unwrap_or(0);
            let zone = cfg.zones.get(zi);
            let msg = if zone.is_some_and(|z| z.default) {
                "internet to internet: traffic between two outside addresses never crosses a zone boundary, the entry can never match".to_string()
            } else {
                format!(
                    "from and to are the same zone '{}': traffic inside a zone is always allowed, the entry can never match",
                    zone.map_or("?", |z| z.id.as_str())
                )
            };
            e.push(ErrorKind::NeverMatches, path.clone(), msg);
            continue;
        }
        let isolated = |side: &[usize]| {
            side.iter()
                .all(|&zi| cfg.zones.get(zi).is_some_and(|z| z.isolated))
        };
        if isolated(from) || isolated(to) {
            let side = if isolated(from) { from } else { to };
            let names: Vec<&str> = side
                .iter()
                .filter_map(|&zi| cfg.zones.get(zi).map(|z| z.id.as_str()))
                .collect();
            e.push(
                ErrorKind::NeverMatches,
                path.clone(),
                format!(
                    "{} is isolated: no packet may cross its boundary, so the entry can never allow anything",
                    names.join(", ")
                ),
            );
            continue;
        }
        for (key, hosts, side) in [
            ("src_hosts", &rule.src_hosts, from),
            ("dst_hosts", &rule.dst_hosts, to),
        ] {
            let role = if key == "src_hosts" { "from" } else { "to" };
            for (j, n) in hosts.iter().enumerate() {
                let answer = nets.reachable(n, side, &mut budget);
                if answer == Some(false) {
                    let names: Vec<&str> = side
                        .iter()
                        .filter_map(|&zi| cfg.zones.get(zi).map(|z| z.id.as_str()))
                        .collect();
                    e.push(
                        ErrorKind::NeverMatches,
                        idx(&join(&path, key), j),
                        format!(
                            "{n} is outside every '{role}' zone ({}); the entry can never match it",
                            names.join(", ")
                        ),
                    );
                }
            }
        }
    }
}

const DOMAIN_KEYS: &[&str] = &["value", "category"];

fn read_category(o: &Obj<'_>, e: &mut Errs) -> Option<String> {
    let cat = o.string("category", e)?;
    if Taxonomy::builtin().is_valid(&cat) {
        Some(cat)
    } else {
        e.push(
            ErrorKind::UnknownCategory,
            o.at("category"),
            format!(
                "'{}' is not a category/subcategory of the incident taxonomy (e.g. malware/botnet)",
                truncate(&cat)
            ),
        );
        None
    }
}

fn normalize_domain(s: &str) -> Option<String> {
    let d = s.trim().trim_end_matches('.').to_ascii_lowercase();
    if d.is_empty() || d.len() > 253 {
        return None;
    }
    let ok = d.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    ok.then_some(d)
}

fn read_indicators(v: Option<&Value>, e: &mut Errs) -> Indicators {
    let mut out = Indicators::default();
    let Some(v) = v else { return out };
    let Some(o) = obj(v, "indicators", &["domains", "ips"], e) else {
        return out;
    };
    let mut seen_domains: HashMap<String, String> = HashMap::new();
    for (i, dv) in o.list_max("domains", MAX_INDICATORS, e).iter().enumerate() {
        let p = idx(&o.at("domains"), i);
        let Some(d) = obj(dv, &p, DOMAIN_KEYS, e) else {
            continue;
        };
        let value = d.string("value", e);
        let category = read_category(&d, e);
        let Some(value) = value else { continue };
        let Some(norm) = normalize_domain(&value) else {
            e.push(
                ErrorKind::InvalidValue,
                d.at("value"),
                format!("'{}' is not a domain name", truncate(&value)),
            );
            continue;
        };
        if let Some(first) = seen_domains.get(&norm) {
            e.push(
                ErrorKind::DuplicateIndicator,
                d.at("value"),
                format!("domain {norm} is already listed at {first}"),
            );
            continue;
        }
        seen_domains.insert(norm.clone(), p.clone());
        if let Some(category) = category {
            out.domains.push(Indicator {
                value: norm,
                category,
            });
        }
    }
    let mut seen_ips: HashMap<IpNet, String> = HashMap::new();
    for (i, iv) in o.list_max("ips", MAX_INDICATORS, e).iter().enumerate() {
        let p = idx(&o.at("ips"), i);
        let Some(d) = obj(iv, &p, DOMAIN_KEYS, e) else {
            continue;
        };
        let value = d
            .string("value", e)
            .and_then(|s| parse_host_net(&s, &d.at("value"), e));
        let category = read_category(&d, e);
        let Some(value) = value else { continue };
        if let Some(first) = seen_ips.get(&value) {
            e.push(
                ErrorKind::DuplicateIndicator,
                d.at("value"),
                format!("address {value} is already listed at {first}"),
            );
            continue;
        }
        seen_ips.insert(value, p.clone());
        if let Some(category) = category {
            out.ips.push(IpIndicator { value, category });
        }
    }
    out
}

const RULES_KEYS: &[&str] = &[
    "directories",
    "files",
    "classification_file",
    "threshold_file",
    "sigma_directories",
];

fn resolve(base: &Path, p: &str) -> PathBuf {
    let path = Path::new(p);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

fn read_rules(v: Option<&Value>, base: &Path, e: &mut Errs) -> RulesConfig {
    let mut r = RulesConfig::default();
    r.directories = r.directories.iter().map(|d| base.join(d)).collect();
    let Some(v) = v else { return r };
    let Some(o) = obj(v, "rules", RULES_KEYS, e) else {
        return r;
    };
    let paths = |key: &str, e: &mut Errs| -> Option<Vec<PathBuf>> {
        o.get(key)?;
        let mut out = Vec::new();
        for (s, p) in string_items(o.list(key, e), &o.at(key), e) {
            if s.trim().is_empty() {
                e.push(ErrorKind::InvalidValue, p, "empty path");
            } else {
                out.push(resolve(base, s.trim()));
            }
        }
        Some(out)
    };
    if let Some(d) = paths("directories", e) {
        r.directories = d;
    }
    if let Some(f) = paths("files", e) {
        r.files = f;
    }
    if let Some(s) = paths("sigma_directories", e) {
        r.sigma_directories = s;
    }
    for (key, slot) in [
        ("classification_file", &mut r.classification_file),
        ("threshold_file", &mut r.threshold_file),
    ] {
        if let Some(s) = o.opt_string(key, e) {
            if s.trim().is_empty() {
                e.push(ErrorKind::InvalidValue, o.at(key), "empty path");
            } else {
                *slot = Some(resolve(base, s.trim()));
            }
        }
    }
    r
}

const TIMEOUT_KEYS: &[&str] = &[
    "new",
    "established",
    "closed",
    "emergency_new",
    "emergency_established",
    "emergency_closed",
];

fn read_proto_timeouts(
    o: &Obj<'_>,
    key: &str,
    mut t: ProtoTimeouts,
    e: &mut Errs,
) -> ProtoTimeouts {
    let Some(v) = o.get(key) else { return t };
    let Some(p) = obj(v, &o.at(key), TIMEOUT_KEYS, e) else {
        return t;
    };
    for (k, slot) in [
        ("new", &mut t.new),
        ("established", &mut t.established),
        ("closed", &mut t.closed),
        ("emergency_new", &mut t.emergency_new),
        ("emergency_established", &mut t.emergency_established),
        ("emergency_closed", &mut t.emergency_closed),
    ] {
        if let Some(n) = p.uint(k, 0, MAX_TIMEOUT_SECS, e) {
            *slot = n;
        }
    }
    t
}

fn read_flow(v: Option<&Value>, e: &mut Errs) -> FlowConfig {
    let mut f = FlowConfig::default();
    let Some(v) = v else { return f };
    let Some(o) = obj(
        v,
        "flow",
        &["max_flows", "timeouts", "emergency_recovery_percent"],
        e,
    ) else {
        return f;
    };
    if let Some(n) = o.uint("max_flows", 1, MAX_FLOWS_LIMIT, e) {
        f.max_flows = usize::try_from(n).unwrap_or(f.max_flows);
    }
    if let Some(n) = o.uint("emergency_recovery_percent", 1, 100, e) {
        f.emergency_recovery_percent = u8::try_from(n).unwrap_or(30);
    }
    if let Some(tv) = o.get("timeouts") {
        if let Some(t) = obj(tv, &o.at("timeouts"), &["tcp", "udp", "icmp", "other"], e) {
            let d = FlowTimeouts::default();
            f.timeouts = FlowTimeouts {
                tcp: read_proto_timeouts(&t, "tcp", d.tcp, e),
                udp: read_proto_timeouts(&t, "udp", d.udp, e),
                icmp: read_proto_timeouts(&t, "icmp", d.icmp, e),
                other: read_proto_timeouts(&t, "other", d.other, e),
            };
        }
    }
    f
}

fn read_defrag(v: Option<&Value>, e: &mut Errs) -> DefragSettings {
    let mut d = DefragSettings::default();
    let Some(v) = v else { return d };
    let Some(o) = obj(
        v,
        "defrag",
        &["max_bytes", "max_trackers", "timeout_secs"],
        e,
    ) else {
        return d;
    };
    if let Some(n) = o.uint("max_bytes", 65_536, MAX_DEFRAG_BYTES, e) {
        d.max_bytes = usize::try_from(n).unwrap_or(d.max_bytes);
    }
    if let Some(n) = o.uint("max_trackers", 1, MAX_DEFRAG_TRACKERS, e) {
        d.max_trackers = usize::try_from(n).unwrap_or(d.max_trackers);
    }
    if let Some(n) = o.uint("timeout_secs", 1, 3600, e) {
        d.timeout_secs = n;
    }
    d
}

const KIND_KEYS: &[&str] = &[
    "unauthorized_outbound",
    "isolated_breach",
    "rogue_device",
    "policy_violation",
    "cleartext_credentials",
];

fn read_policy(v: Option<&Value>, e: &mut Errs) -> PolicySettings {
    let mut p = PolicySettings::default();
    let Some(v) = v else { return p };
    let Some(o) = obj(v, "policy", &["rogue_alert_interval_secs", "enabled"], e) else {
        return p;
    };
    if let Some(n) = o.uint("rogue_alert_interval_secs", 0, 30 * 86_400, e) {
        p.rogue_alert_interval_secs = n;
    }
    if let Some(ev) = o.get("enabled") {
        if let Some(k) = obj(ev, &o.at("enabled"), KIND_KEYS, e) {
            let d = PolicyKinds::default();
            p.enabled = PolicyKinds {
                unauthorized_outbound: k.bool("unauthorized_outbound", d.unauthorized_outbound, e),
                isolated_breach: k.bool("isolated_breach", d.isolated_breach, e),
                rogue_device: k.bool("rogue_device", d.rogue_device, e),
                policy_violation: k.bool("policy_violation", d.policy_violation, e),
                cleartext_credentials: k.bool("cleartext_credentials", d.cleartext_credentials, e),
            };
        }
    }
    p
}

fn read_outputs(v: Option<&Value>, e: &mut Errs) -> Outputs {
    let mut out = Outputs::default();
    let Some(v) = v else { return out };
    let Some(o) = obj(v, "outputs", &["eve"], e) else {
        return out;
    };
    let Some(ev) = o.get("eve") else { return out };
    let Some(eve) = obj(ev, "outputs.eve", &["types", "filename"], e) else {
        return out;
    };
    let mut d = EveOutput::default();
    if eve.get("types").is_some() {
        let mut types = Vec::new();
        for (s, p) in string_items(eve.list("types", e), &eve.at("types"), e) {
            if !EVE_TYPES.contains(&s.as_str()) {
                e.push(
                    ErrorKind::InvalidValue,
                    p,
                    format!(
                        "unknown EVE type '{}' (known: {})",
                        truncate(&s),
                        EVE_TYPES.join(", ")
                    ),
                );
            } else if types.contains(&s) {
                e.push(
                    ErrorKind::InvalidValue,
                    p,
                    format!("EVE type '{s}' listed twice"),
                );
            } else {
                types.push(s);
            }
        }
        d.types = types;
    }
    if let Some(f) = eve.opt_string("filename", e) {
        if f.trim().is_empty() {
            e.push(
                ErrorKind::InvalidValue,
                eve.at("filename"),
                "empty file name",
            );
        } else {
            d.filename = f;
        }
    }
    out.eve = d;
    out
}

fn read_daemon(v: Option<&Value>, base: &Path, e: &mut Errs) -> DaemonConfig {
    let mut d = DaemonConfig::default();
    let Some(v) = v else { return d };
    let Some(o) = obj(v, "daemon", super::daemon::DAEMON_KEYS, e) else {
        return d;
    };
    for (key, slot) in [("state_dir", &mut d.state_dir), ("log_dir", &mut d.log_dir)] {
        if let Some(s) = o.opt_string(key, e) {
            if s.trim().is_empty() {
                e.push(ErrorKind::InvalidValue, o.at(key), "empty path");
            } else {
                *slot = base.join(s);
            }
        }
    }
    if let Some(n) = o.uint("stats_interval_secs", 0, 86_400, e) {
        d.stats_interval_secs = n;
    }
    if let Some(n) = o.uint("eve_rotate_bytes", 0, u64::MAX, e) {
        d.eve_rotate_bytes = n;
    }
    if let Some(n) = o.uint("eve_rotate_secs", 0, 366 * 86_400, e) {
        d.eve_rotate_secs = n;
    }
    if let Some(n) = o.uint("eve_keep", 0, 10_000, e) {
        d.eve_keep = u32::try_from(n).unwrap_or(u32::MAX);
    }
    if let Some(n) = o.uint("shutdown_timeout_secs", 1, 3600, e) {
        d.shutdown_timeout_secs = n;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        assert_eq!(
            parse_mac("02:10:01:00:00:0a"),
            Some([2, 0x10, 1, 0, 0, 0x0a])
        );
        assert_eq!(
            parse_mac("02-10-01-00-00-0A"),
            Some([2, 0x10, 1, 0, 0, 0x0a])
        );
        assert_eq!(parse_mac("02:10:01:00:00"), None);
        assert_eq!(parse_mac("02:10:01:00:00:0g"), None);
        assert_eq!(parse_mac("02:10-01:00:00:0a"), None);
        assert_eq!(parse_mac("0210.0100.000a.."), None);
        assert_eq!(parse_mac("é2:10:01:00:00:0"), None);
    }

    #[test]
    fn domains() {
        assert_eq!(
            normalize_domain("Evil.Example."),
            Some("evil.example".into())
        );
        assert_eq!(normalize_domain("a..b"), None);
        assert_eq!(normalize_domain("a b"), None);
        assert_eq!(normalize_domain(""), None);
    }

    #[test]
    fn location_suffix_is_stripped() {
        assert_eq!(strip_location("bad thing at line 3 column 4"), "bad thing");
        assert_eq!(strip_location("plain"), "plain");
    }
}
