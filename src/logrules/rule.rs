//! The Sigma rule loader: YAML documents to compiled detection and
//! correlation rules.
//!
//! Every document is judged alone: a rule that cannot be loaded is rejected
//! with its file, document index, id and reason (a [`RuleError`]), and the
//! rest of the file still loads. [`LoadReport`] counts both.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use ipnet::IpNet;
use serde::Deserialize;
use serde_yaml_ng::Value;

use super::condition::{self, Cond, Quant};
use super::pattern::{escape, Pattern};
use crate::taxonomy::Taxonomy;

/// Tag prefix that carries a rule's taxonomy id:
/// `zoneguard.taxonomy.<category>.<subcategory>`.
pub const TAXONOMY_TAG: &str = "zoneguard.taxonomy.";

/// Taxonomy of rules that carry no `zoneguard.taxonomy.*` tag (most SigmaHQ
/// rules).
pub const DEFAULT_TAXONOMY: &str = "anomaly/other";

/// Base of the signature ids derived for rules without a `sid` attribute:
/// `3_000_000 + fnv1a64(id) % 1_000_000`.
pub const DERIVED_SID_BASE: u32 = 3_000_000;

/// Most values one field test may list (hostile input bound).
const MAX_VALUES: usize = 4096;
/// Most search identifiers per rule.
const MAX_SEARCHES: usize = 256;
/// Longest condition text accepted.
const MAX_CONDITION: usize = 8192;

/// Sigma `level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// informational
    Informational,
    /// low
    Low,
    /// medium
    Medium,
    /// high
    High,
    /// critical
    Critical,
}

impl Level {
    fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "informational" => Level::Informational,
            "low" => Level::Low,
            "medium" => Level::Medium,
            "high" => Level::High,
            "critical" => Level::Critical,
            _ => return None,
        })
    }

    /// The Sigma spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }

    /// EVE `alert.severity`: critical/high 1, medium 2, low/informational 3.
    pub fn severity(self) -> u8 {
        match self {
            Level::Critical | Level::High => 1,
            Level::Medium => 2,
            Level::Low | Level::Informational => 3,
        }
    }
}

/// Why a rule was rejected. Each variant names the field or value at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// The YAML does not parse.
    #[error("YAML: {0}")]
    Yaml(String),
    /// The document is not a mapping or misses a required field.
    #[error("field `{field}`: {reason}")]
    Field {
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The logsource names data zoneguard never collects.
    #[error("logsource not collected: {0}")]
    NotCollected(String),
    /// A field modifier zoneguard does not implement.
    #[error("unsupported modifier {0}")]
    UnsupportedModifier(String),
    /// A detection field that no decoder produces.
    #[error("field not produced by zoneguard decoders: {0}")]
    UnknownField(String),
    /// The condition does not parse or names an unknown identifier.
    #[error("condition: {0}")]
    Condition(String),
    /// A `%name%` placeholder with no value list.
    #[error("unknown placeholder %{0}%")]
    Placeholder(String),
    /// A correlation rule refers to a rule that is not loaded.
    #[error("correlation refers to unknown or rejected rule `{0}`")]
    UnknownReference(String),
    /// The taxonomy tag names no taxonomy id.
    #[error("taxonomy tag `{0}` is not in the taxonomy")]
    Taxonomy(String),
    /// A legacy or otherwise unsupported Sigma construct.
    #[error("unsupported: {0}")]
    Unsupported(String),
}

impl RuleError {
    /// A short key grouping rejections by reason (for the report table).
    pub fn reason_key(&self) -> String {
        match self {
            RuleError::Yaml(_) => "yaml syntax".into(),
            RuleError::Field { field, .. } => format!("bad field `{field}`"),
            RuleError::NotCollected(s) => format!("logsource not collected: {s}"),
            RuleError::UnsupportedModifier(m) => format!("unsupported modifier {m}"),
            RuleError::UnknownField(_) => "field not produced by decoders".into(),
            RuleError::Condition(_) => "condition".into(),
            RuleError::Placeholder(p) => format!("unknown placeholder %{p}%"),
            RuleError::UnknownReference(_) => "correlation: unknown rule".into(),
            RuleError::Taxonomy(_) => "bad taxonomy tag".into(),
            RuleError::Unsupported(s) => format!("unsupported: {s}"),
        }
    }
}

fn field_err(field: &str, reason: impl Into<String>) -> RuleError {
    RuleError::Field {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// Options of a load: placeholder values for the `expand` modifier.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// `%name%` → values. `admins` comes from [`crate::config::Config::admins`].
    pub placeholders: HashMap<String, Vec<String>>,
}

impl LoadOptions {
    /// Placeholders from a config: `%admins%` = `Config::admins`.
    pub fn from_config(cfg: &crate::config::Config) -> Self {
        let mut placeholders = HashMap::new();
        placeholders.insert("admins".to_owned(), cfg.admins.clone());
        LoadOptions { placeholders }
    }
}

/// What a rule is about, shared by detection and correlation rules.
#[derive(Clone, Debug)]
pub struct RuleMeta {
    /// `title` (the alert signature).
    pub title: Arc<str>,
    /// `id` (UUID in SigmaHQ).
    pub id: Option<String>,
    /// `name` (used by correlation references).
    pub name: Option<String>,
    /// `level`.
    pub level: Level,
    /// `status`.
    pub status: Option<String>,
    /// All tags.
    pub tags: Vec<String>,
    /// Taxonomy id (`category/subcategory`).
    pub taxonomy: Arc<str>,
    /// Signature id: the `sid` attribute or derived from the id.
    pub sid: u32,
    /// The file it came from.
    pub file: Arc<str>,
    /// 0-based YAML document index in the file.
    pub doc: usize,
    /// 1-based line where the document starts.
    pub line: usize,
}

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

/// Where a field's value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FieldRef {
    /// A decoded field, by any name [`crate::syslog::decode::LogEvent::field`] answers.
    Event(Arc<str>),
    /// The message text.
    Message,
    /// The host name.
    Host,
    /// The program (decoded, or the APP-NAME).
    Program,
    /// PROCID.
    Pid,
    /// MSGID.
    MsgId,
    /// Facility number.
    Facility,
    /// Severity number.
    Severity,
    /// Firewall verdict: `allow` / `deny` (Sigma's network `action`).
    Action,
}

/// Names [`crate::syslog::decode::LogEvent::field`] answers (kept in step with it; see docs/syslog.md).
const EVENT_FIELDS: &[&str] = &[
    "event",
    "kind",
    "EventType",
    "user",
    "User",
    "UserName",
    "SubjectUserName",
    "username",
    "target_user",
    "TargetUser",
    "TargetUserName",
    "src_ip",
    "SourceIp",
    "src",
    "source_ip",
    "IpAddress",
    "src_port",
    "SourcePort",
    "spt",
    "IpPort",
    "dst_ip",
    "DestinationIp",
    "dst",
    "destination_ip",
    "dst_port",
    "DestinationPort",
    "dpt",
    "proto",
    "Protocol",
    "protocol",
    "command",
    "CommandLine",
    "cmd",
    "Image",
    "image",
    "group",
    "Group",
    "GroupName",
    "TargetGroup",
    "method",
    "AuthenticationMethod",
    "auth_method",
    "unit",
    "Unit",
    "ServiceName",
    "tty",
    "Tty",
    "terminal",
    "pwd",
    "CurrentDirectory",
    "rule",
    "RuleName",
    "prefix",
    "in_interface",
    "InInterface",
    "out_interface",
    "OutInterface",
    "rhost",
    "WorkstationName",
    "detail",
    "Reason",
    "count",
    "Count",
    "invalid_user",
];

/// The [`FieldRef`] of a field name, for the engine (group-by fields).
pub(crate) fn field_ref_pub(name: &str) -> Option<FieldRef> {
    field_ref(name)
}

fn field_ref(name: &str) -> Option<FieldRef> {
    Some(match name {
        "message" | "msg" | "Message" | "MESSAGE" => FieldRef::Message,
        "host" | "hostname" | "Hostname" | "Computer" | "ComputerName" | "HOSTNAME" => {
            FieldRef::Host
        }
        "SourceIP" | "SourceAddress" | "source.ip" => FieldRef::Event(Arc::from("src_ip")),
        "DestinationIP" | "DestinationAddress" | "destination.ip" => {
            FieldRef::Event(Arc::from("dst_ip"))
        }
        "program" | "ProcessName" | "app_name" | "SYSLOG_IDENTIFIER" => FieldRef::Program,
        "pid" | "procid" | "ProcessId" => FieldRef::Pid,
        "msgid" => FieldRef::MsgId,
        "facility" => FieldRef::Facility,
        "severity" => FieldRef::Severity,
        "action" => FieldRef::Action,
        // sudo's own key for the target user (`USER=root`).
        "USER" => FieldRef::Event(Arc::from("target_user")),
        n if EVENT_FIELDS.contains(&n) => FieldRef::Event(Arc::from(n)),
        _ => return None,
    })
}

/// A numeric comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// >
    Gt,
    /// >=
    Gte,
    /// <
    Lt,
    /// <=
    Lte,
    /// ==
    Eq,
    /// !=
    Neq,
}

impl CmpOp {
    fn parse(s: &str) -> Option<CmpOp> {
        Some(match s {
            "gt" => CmpOp::Gt,
            "gte" => CmpOp::Gte,
            "lt" => CmpOp::Lt,
            "lte" => CmpOp::Lte,
            "eq" => CmpOp::Eq,
            "neq" => CmpOp::Neq,
            _ => return None,
        })
    }

    /// `a op b`.
    pub fn eval<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Gt => a > b,
            CmpOp::Gte => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Lte => a <= b,
            CmpOp::Eq => a == b,
            CmpOp::Neq => a != b,
        }
    }
}

/// One value test.
#[derive(Clone, Debug)]
pub(crate) enum Matcher {
    Str(Pattern),
    Cidr(IpNet),
    Num(CmpOp, f64),
}

impl Matcher {
    pub(crate) fn matches(&self, v: &str) -> bool {
        match self {
            Matcher::Str(p) => p.matches(v),
            Matcher::Cidr(n) => v
                .trim()
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| n.contains(&ip)),
            Matcher::Num(op, n) => v.trim().parse::<f64>().is_ok_and(|x| op.eval(x, *n)),
        }
    }
}

/// The test one `field|modifiers: values` entry makes.
#[derive(Clone, Debug)]
pub(crate) enum ValueTest {
    /// Any of the values matches.
    Any(Vec<Matcher>),
    /// All of them match (`all` modifier).
    All(Vec<Matcher>),
    /// `exists: true/false`.
    Exists(bool),
    /// `null`: the field is absent or empty.
    Null,
}

/// One field entry of a selection map.
#[derive(Clone, Debug)]
pub(crate) struct FieldTest {
    pub(crate) field: FieldRef,
    pub(crate) test: ValueTest,
}

/// A named search of `detection`.
#[derive(Clone, Debug)]
pub(crate) enum Search {
    /// OR over maps, each map an AND over its fields.
    Maps(Vec<Vec<FieldTest>>),
    /// Keywords: any (or with `|all`, all) of them appears in the message.
    Keywords(ValueTest),
}

/// A condition with identifiers resolved to search indices.
#[derive(Clone, Debug)]
pub(crate) enum CCond {
    Search(usize),
    Of(Quant, Vec<usize>),
    Not(Box<CCond>),
    And(Vec<CCond>),
    Or(Vec<CCond>),
}

/// A compiled Sigma detection rule.
#[derive(Clone, Debug)]
pub struct DetectionRule {
    /// Title, id, level, tags, sid.
    pub meta: RuleMeta,
    /// Which lines it looks at.
    pub scope: Scope,
    pub(crate) searches: Vec<Search>,
    pub(crate) cond: CCond,
}

/// Correlation type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorrelationKind {
    /// `event_count`: events per group within the timespan.
    EventCount,
    /// `value_count`: distinct values of `field` per group.
    ValueCount(String),
    /// `temporal`: all referenced rules matched within the timespan.
    Temporal,
    /// `temporal_ordered`: ... in the listed order.
    TemporalOrdered,
}

/// A compiled Sigma correlation rule.
#[derive(Clone, Debug)]
pub struct CorrelationRule {
    /// Title, id, level, tags, sid.
    pub meta: RuleMeta,
    /// Which correlation.
    pub kind: CorrelationKind,
    /// Referenced rules (`name` or `id`), in order.
    pub rules: Vec<String>,
    /// Group-by fields.
    pub group_by: Vec<String>,
    /// Timespan in seconds (log time).
    pub timespan: i64,
    /// Count conditions, all of which must hold.
    pub condition: Vec<(CmpOp, u64)>,
    /// Whether the referenced rules also raise their own alerts.
    pub generate: bool,
}

/// A loaded rule.
#[derive(Clone, Debug)]
pub enum Rule {
    /// A detection rule.
    Detection(DetectionRule),
    /// A correlation rule.
    Correlation(CorrelationRule),
}

impl Rule {
    /// Its metadata.
    pub fn meta(&self) -> &RuleMeta {
        match self {
            Rule::Detection(d) => &d.meta,
            Rule::Correlation(c) => &c.meta,
        }
    }
}

/// One rejected rule.
#[derive(Clone, Debug)]
pub struct Rejected {
    /// File it came from.
    pub file: String,
    /// 0-based YAML document index in the file.
    pub doc: usize,
    /// 1-based line where that document starts.
    pub line: usize,
    /// Its `id`, if it had one.
    pub id: Option<String>,
    /// Its `title`, if it had one.
    pub title: Option<String>,
    /// Its signature id, when it got as far as having one.
    pub sid: Option<u32>,
    /// Why.
    pub error: RuleError,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} (document {}, id {}): {}",
            self.file,
            self.line,
            self.doc,
            self.id.as_deref().unwrap_or("-"),
            self.error
        )
    }
}

/// Counts and reasons of a load.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Files read.
    pub files: usize,
    /// Rules loaded (detection and correlation).
    pub loaded: usize,
    /// Rules rejected, each with its reason.
    pub rejected: Vec<Rejected>,
}

impl LoadReport {
    /// Rejections grouped by [`RuleError::reason_key`], most frequent first.
    pub fn by_reason(&self) -> Vec<(String, usize)> {
        let mut m: HashMap<String, usize> = HashMap::new();
        for r in &self.rejected {
            *m.entry(r.error.reason_key()).or_default() += 1;
        }
        let mut v: Vec<_> = m.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
}

/// Rules loaded so far plus the report.
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    /// Loaded rules, in load order.
    pub rules: Vec<Rule>,
    /// Counts and rejections.
    pub report: LoadReport,
}

/// Error reading rule files (I/O); rule content errors are rejections.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct LoadIoError {
    /// The path.
    pub path: String,
    /// The I/O error.
    pub source: std::io::Error,
}

impl RuleSet {
    /// An empty set.
    pub fn new() -> Self {
        RuleSet::default()
    }

    /// Load every YAML document of `text` (named `file` in reports).
    pub fn load_str(&mut self, text: &str, file: &str, opts: &LoadOptions) {
        self.report.files += 1;
        let file_arc: Arc<str> = Arc::from(file);
        let starts = doc_start_lines(text);
        for (doc, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
            let line = starts.get(doc).copied().unwrap_or(1);
            let value = match Value::deserialize(de) {
                Ok(v) => v,
                Err(e) => {
                    self.report.rejected.push(Rejected {
                        file: file.to_owned(),
                        doc,
                        line,
                        id: None,
                        title: None,
                        sid: None,
                        error: RuleError::Yaml(e.to_string()),
                    });
                    // The stream cannot be resynchronised after a syntax error.
                    break;
                }
            };
            if value.is_null() {
                continue;
            }
            match compile(&value, &file_arc, (doc, line), opts) {
                Ok(r) => {
                    self.report.loaded += 1;
                    self.rules.push(r);
                }
                Err(error) => self.report.rejected.push(Rejected {
                    file: file.to_owned(),
                    doc,
                    line,
                    id: str_at(&value, "id").map(str::to_owned),
                    title: str_at(&value, "title").map(str::to_owned),
                    sid: None,
                    error,
                }),
            }
        }
    }

    /// Load a file, or every `.yml`/`.yaml` file under a directory (sorted,
    /// recursively, so loads are deterministic).
    pub fn load_path(&mut self, path: &Path, opts: &LoadOptions) -> Result<(), LoadIoError> {
        let io = |e| LoadIoError {
            path: path.display().to_string(),
            source: e,
        };
        if path.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(path)
                .map_err(io)?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .collect();
            entries.sort();
            for p in entries {
                let is_yaml = p.extension().is_some_and(|e| e == "yml" || e == "yaml");
                if p.is_dir() || is_yaml {
                    self.load_path(&p, opts)?;
                }
            }
            Ok(())
        } else {
            let bytes = std::fs::read(path).map_err(io)?;
            let text = String::from_utf8_lossy(&bytes);
            self.load_str(&text, &path.display().to_string(), opts);
            Ok(())
        }
    }
}

/// 1-based first line of each YAML document: documents are separated by
/// `---` lines; a leading `---` opens the first one.
fn doc_start_lines(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim_end();
        if t == "---" || t.starts_with("--- ") {
            starts.push(i + 2);
        } else if starts.is_empty() && !t.is_empty() && !t.starts_with('#') {
            starts.push(i + 1);
        }
    }
    if starts.is_empty() {
        starts.push(1);
    }
    starts
}

fn str_at<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

/// Scalar YAML value as text (numbers and booleans as Sigma writes them).
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// FNV-1a 64-bit: a stable hash (std's hasher is not stable across builds).
pub fn fnv1a64(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The sid of a rule without a `sid` attribute.
pub fn derived_sid(id: &str) -> u32 {
    // The remainder is below 1_000_000, so it fits in u32.
    DERIVED_SID_BASE + u32::try_from(fnv1a64(id) % 1_000_000).unwrap_or(0)
}

fn meta(v: &Value, file: &Arc<str>, (doc, line): (usize, usize)) -> Result<RuleMeta, RuleError> {
    if v.as_mapping().is_none() {
        return Err(field_err("(document)", "a rule must be a YAML mapping"));
    }
    if str_at(v, "action").is_some() {
        return Err(RuleError::Unsupported(
            "Sigma 1 rule collections (`action:`)".into(),
        ));
    }
    let title = str_at(v, "title").ok_or_else(|| field_err("title", "missing or not a string"))?;
    let id = match v.get("id") {
        None => None,
        Some(x) => Some(
            x.as_str()
                .ok_or_else(|| field_err("id", "not a string"))?
                .to_owned(),
        ),
    };
    let level = match v.get("level") {
        None => Level::Medium,
        Some(x) => x
            .as_str()
            .and_then(Level::parse)
            .ok_or_else(|| field_err("level", "expected informational/low/medium/high/critical"))?,
    };
    let mut tags = Vec::new();
    if let Some(t) = v.get("tags") {
        let seq = t
            .as_sequence()
            .ok_or_else(|| field_err("tags", "expected a list"))?;
        for x in seq {
            tags.push(
                x.as_str()
                    .ok_or_else(|| field_err("tags", "tags must be strings"))?
                    .to_owned(),
            );
        }
    }
    let mut taxonomy: Arc<str> = Arc::from(DEFAULT_TAXONOMY);
    for t in &tags {
        if let Some(rest) = t.strip_prefix(TAXONOMY_TAG) {
            let tax = rest.replacen('.', "/", 1);
            if !Taxonomy::builtin().is_valid(&tax) {
                return Err(RuleError::Taxonomy(t.clone()));
            }
            taxonomy = Arc::from(tax);
        }
    }
    let sid = match v.get("sid") {
        Some(x) => x
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| field_err("sid", "expected a positive 32-bit integer"))?,
        None => derived_sid(id.as_deref().unwrap_or(title)),
    };
    Ok(RuleMeta {
        title: Arc::from(title),
        id,
        name: str_at(v, "name").map(str::to_owned),
        level,
        status: str_at(v, "status").map(str::to_owned),
        tags,
        taxonomy,
        sid,
        file: file.clone(),
        doc,
        line,
    })
}

fn compile(
    v: &Value,
    file: &Arc<str>,
    at: (usize, usize),
    opts: &LoadOptions,
) -> Result<Rule, RuleError> {
    let meta = meta(v, file, at)?;
    if let Some(c) = v.get("correlation") {
        return correlation(meta, c).map(Rule::Correlation);
    }
    let ls = v
        .get("logsource")
        .ok_or_else(|| field_err("logsource", "missing"))?;
    let scope = scope(ls)?;
    let det = v
        .get("detection")
        .and_then(Value::as_mapping)
        .ok_or_else(|| field_err("detection", "missing or not a mapping"))?;
    let mut names: Vec<String> = Vec::new();
    let mut searches = Vec::new();
    let mut cond_text: Option<String> = None;
    for (k, val) in det {
        let key = k
            .as_str()
            .ok_or_else(|| field_err("detection", "search identifiers must be strings"))?;
        match key {
            "condition" => {
                cond_text = Some(match val {
                    Value::String(s) => s.clone(),
                    Value::Sequence(seq) => {
                        // Several conditions (Sigma 1): any of them.
                        let parts: Option<Vec<String>> = seq
                            .iter()
                            .map(|x| x.as_str().map(|s| format!("({s})")))
                            .collect();
                        parts
                            .ok_or_else(|| field_err("detection.condition", "not a string"))?
                            .join(" or ")
                    }
                    _ => return Err(field_err("detection.condition", "not a string")),
                })
            }
            "timeframe" => {
                return Err(RuleError::Unsupported(
                    "`timeframe` (Sigma 1 aggregation); use a correlation rule".into(),
                ))
            }
            _ => {
                if searches.len() >= MAX_SEARCHES {
                    return Err(field_err("detection", "too many search identifiers"));
                }
                searches.push(search(key, val, opts)?);
                names.push(key.to_owned());
            }
        }
    }
    let text = cond_text.ok_or_else(|| field_err("detection.condition", "missing"))?;
    if text.len() > MAX_CONDITION {
        return Err(RuleError::Condition("condition too long".into()));
    }
    let parsed = condition::parse(&text).map_err(|e| RuleError::Condition(e.to_string()))?;
    let cond = resolve(&parsed, &names)?;
    Ok(Rule::Detection(DetectionRule {
        meta,
        scope,
        searches,
        cond,
    }))
}

fn scope(ls: &Value) -> Result<Scope, RuleError> {
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

/// Apply value-transforming modifiers and the match-type modifiers to one
/// field entry.
fn search(name: &str, val: &Value, opts: &LoadOptions) -> Result<Search, RuleError> {
    let at = format!("detection.{name}");
    match val {
        Value::Mapping(_) => Ok(Search::Maps(vec![field_map(&at, val, opts)?])),
        Value::Sequence(seq) if seq.iter().all(Value::is_mapping) && !seq.is_empty() => {
            let maps: Result<Vec<_>, _> = seq.iter().map(|m| field_map(&at, m, opts)).collect();
            Ok(Search::Maps(maps?))
        }
        Value::Sequence(_) | Value::String(_) | Value::Number(_) => {
            Ok(Search::Keywords(values(&at, &[], val, opts, true)?))
        }
        _ => Err(field_err(&at, "expected a map, a list of maps or keywords")),
    }
}

fn field_map(at: &str, m: &Value, opts: &LoadOptions) -> Result<Vec<FieldTest>, RuleError> {
    let map = m
        .as_mapping()
        .ok_or_else(|| field_err(at, "expected a map"))?;
    let mut out = Vec::with_capacity(map.len());
    for (k, v) in map {
        let key = k
            .as_str()
            .ok_or_else(|| field_err(at, "field names must be strings"))?;
        let mut parts = key.split('|');
        let fname = parts.next().unwrap_or("");
        let mods: Vec<&str> = parts.collect();
        if fname.is_empty() {
            // `'|all': [..]`: keywords (searched in the message) with modifiers.
            let test = values(at, &mods, v, opts, true)?;
            out.push(FieldTest {
                field: FieldRef::Message,
                test,
            });
            continue;
        }
        let field = field_ref(fname).ok_or_else(|| RuleError::UnknownField(fname.to_owned()))?;
        let test = values(&format!("{at}.{fname}"), &mods, v, opts, false)?;
        out.push(FieldTest { field, test });
    }
    Ok(out)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Plain,
    Contains,
    Starts,
    Ends,
}

fn values(
    at: &str,
    mods: &[&str],
    v: &Value,
    opts: &LoadOptions,
    keyword: bool,
) -> Result<ValueTest, RuleError> {
    let mut shape = if keyword {
        Shape::Contains
    } else {
        Shape::Plain
    };
    let (mut all, mut cased, mut cidr, mut exists) = (false, false, false, false);
    let mut num: Option<CmpOp> = None;
    let mut transforms: Vec<&str> = Vec::new();
    for &m in mods {
        match m {
            "contains" => shape = Shape::Contains,
            "startswith" => shape = Shape::Starts,
            "endswith" => shape = Shape::Ends,
            "all" => all = true,
            "cased" => cased = true,
            "cidr" => cidr = true,
            "exists" => exists = true,
            "gt" | "gte" | "lt" | "lte" => num = CmpOp::parse(m),
            "base64" | "base64offset" | "windash" | "expand" => transforms.push(m),
            _ => return Err(RuleError::UnsupportedModifier(m.to_owned())),
        }
    }
    // Collect raw values.
    let raw: Vec<Option<String>> = match v {
        Value::Sequence(seq) => {
            if seq.len() > MAX_VALUES {
                return Err(field_err(at, "too many values"));
            }
            seq.iter()
                .map(|x| match x {
                    Value::Null => Ok(None),
                    _ => scalar_text(x)
                        .map(Some)
                        .ok_or_else(|| field_err(at, "values must be scalars")),
                })
                .collect::<Result<_, _>>()?
        }
        Value::Null => vec![None],
        _ => vec![Some(
            scalar_text(v).ok_or_else(|| field_err(at, "values must be scalars"))?,
        )],
    };
    if exists {
        return match v {
            Value::Bool(b) => Ok(ValueTest::Exists(*b)),
            _ => Err(field_err(at, "`exists` takes true or false")),
        };
    }
    if raw.len() == 1 && raw.first() == Some(&None) {
        return Ok(ValueTest::Null);
    }
    let mut texts: Vec<String> = Vec::with_capacity(raw.len());
    for r in raw {
        match r {
            Some(s) => texts.push(s),
            None => {
                return Err(RuleError::Unsupported(format!(
                    "{at}: null inside a value list"
                )))
            }
        }
    }
    // base64 and friends produce literal text; `expand` yields plain values.
    let mut literal = false;
    for t in transforms {
        texts = match t {
            "expand" => expand(&texts, opts)?,
            "windash" => windash(&texts),
            "base64" => {
                literal = true;
                texts.iter().map(|s| base64(s.as_bytes())).collect()
            }
            "base64offset" => {
                literal = true;
                texts
                    .iter()
                    .flat_map(|s| base64_offsets(s.as_bytes()))
                    .collect()
            }
            _ => texts,
        };
        if texts.len() > MAX_VALUES {
            return Err(field_err(at, "too many values after expansion"));
        }
    }
    let mut ms = Vec::with_capacity(texts.len());
    for s in texts {
        let m = if let Some(op) = num {
            let n: f64 = s
                .trim()
                .parse()
                .map_err(|_| field_err(at, format!("`{s}` is not a number")))?;
            Matcher::Num(op, n)
        } else if cidr {
            Matcher::Cidr(
                s.trim()
                    .parse()
                    .map_err(|_| field_err(at, format!("`{s}` is not a CIDR")))?,
            )
        } else {
            let body = if literal { escape(&s) } else { s };
            let text = match shape {
                Shape::Plain => body,
                Shape::Contains => format!("*{body}*"),
                Shape::Starts => format!("{body}*"),
                Shape::Ends => format!("*{body}"),
            };
            Matcher::Str(Pattern::new(&text, cased))
        };
        ms.push(m);
    }
    Ok(if all {
        ValueTest::All(ms)
    } else {
        ValueTest::Any(ms)
    })
}

/// `%name%` placeholders (Sigma `expand`) to the configured lists.
fn expand(texts: &[String], opts: &LoadOptions) -> Result<Vec<String>, RuleError> {
    let mut out = Vec::new();
    for t in texts {
        let trimmed = t.trim();
        if let Some(name) = trimmed
            .strip_prefix('%')
            .and_then(|r| r.strip_suffix('%'))
            .filter(|n| !n.is_empty() && !n.contains('%'))
        {
            let vals = opts
                .placeholders
                .get(name)
                .ok_or_else(|| RuleError::Placeholder(name.to_owned()))?;
            out.extend(vals.iter().map(|v| escape(v)));
        } else {
            out.push(t.clone());
        }
    }
    Ok(out)
}

/// Sigma `windash`: every `-` that starts a word also as `/`, en dash, em
/// dash and horizontal bar (all dashes of a value replaced together).
fn windash(texts: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(texts.len() * 5);
    for t in texts {
        out.push(t.clone());
        for alt in ['/', '\u{2013}', '\u{2014}', '\u{2015}'] {
            let mut s = String::with_capacity(t.len());
            let mut prev_space = true;
            for c in t.chars() {
                if c == '-' && prev_space {
                    s.push(alt);
                } else {
                    s.push(c);
                }
                prev_space = c == ' ';
            }
            if s != *t {
                out.push(s);
            }
        }
    }
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = ((n >> (18 - 6 * i)) & 63) as usize;
                s.push(char::from(B64.get(idx).copied().unwrap_or(b'A')));
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// The three `base64offset` variants: the encoding of the value at byte
/// offsets 0, 1, 2 of a longer text, trimmed to the characters that do not
/// depend on the unknown neighbours.
fn base64_offsets(v: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    const END_TRIM: [usize; 3] = [0, 3, 2];
    let mut out = Vec::with_capacity(3);
    for i in 0..3usize {
        let mut buf = vec![b' '; i];
        buf.extend_from_slice(v);
        let enc = base64(&buf);
        let end_trim = END_TRIM.get((v.len() + i) % 3).copied().unwrap_or(0);
        let start = START.get(i).copied().unwrap_or(0);
        let end = enc.len().saturating_sub(end_trim);
        if let Some(s) = enc.get(start..end) {
            if !s.is_empty() {
                out.push(s.to_owned());
            }
        }
    }
    out
}

fn resolve(c: &Cond, names: &[String]) -> Result<CCond, RuleError> {
    Ok(match c {
        Cond::Ident(n) => CCond::Search(
            names
                .iter()
                .position(|x| x == n)
                .ok_or_else(|| RuleError::Condition(format!("unknown search identifier `{n}`")))?,
        ),
        Cond::Of(q, target) => {
            let idx: Vec<usize> = match target {
                None => (0..names.len())
                    .filter(|&i| names.get(i).is_some_and(|n| !n.starts_with('_')))
                    .collect(),
                Some(p) => {
                    let pat = Pattern::new(p, true);
                    (0..names.len())
                        .filter(|&i| names.get(i).is_some_and(|n| pat.matches(n)))
                        .collect()
                }
            };
            if idx.is_empty() {
                return Err(RuleError::Condition(format!(
                    "`{}` matches no search identifier",
                    target.as_deref().unwrap_or("them")
                )));
            }
            CCond::Of(*q, idx)
        }
        Cond::Not(x) => CCond::Not(Box::new(resolve(x, names)?)),
        Cond::And(v) => CCond::And(
            v.iter()
                .map(|x| resolve(x, names))
                .collect::<Result<_, _>>()?,
        ),
        Cond::Or(v) => CCond::Or(
            v.iter()
                .map(|x| resolve(x, names))
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// `60s`, `5m`, `1h`, `2d`, `1w` to seconds.
pub fn parse_timespan(s: &str) -> Option<i64> {
    let s = s.trim();
    let unit_at = s.len().checked_sub(1)?;
    let (num, unit) = (s.get(..unit_at)?, s.get(unit_at..)?);
    let n: i64 = num.parse().ok().filter(|&n| n > 0)?;
    let mul = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    n.checked_mul(mul)
}

fn correlation(meta: RuleMeta, c: &Value) -> Result<CorrelationRule, RuleError> {
    let at = "correlation";
    let ty = str_at(c, "type").ok_or_else(|| field_err("correlation.type", "missing"))?;
    if c.get("aliases").is_some() {
        return Err(RuleError::Unsupported("correlation aliases".into()));
    }
    let rules: Vec<String> = match c.get("rules") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Sequence(seq)) if !seq.is_empty() => seq
            .iter()
            .map(|x| x.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| field_err("correlation.rules", "names must be strings"))?,
        _ => return Err(field_err("correlation.rules", "missing or empty")),
    };
    let group_by: Vec<String> = match c.get("group-by") {
        None => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Sequence(seq)) => seq
            .iter()
            .map(|x| x.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| field_err("correlation.group-by", "fields must be strings"))?,
        Some(_) => return Err(field_err("correlation.group-by", "expected a list")),
    };
    for g in &group_by {
        if field_ref(g).is_none() {
            return Err(RuleError::UnknownField(g.clone()));
        }
    }
    let timespan = str_at(c, "timespan")
        .and_then(parse_timespan)
        .ok_or_else(|| field_err("correlation.timespan", "expected e.g. 60s, 5m, 1h, 1d"))?;
    let generate = match c.get("generate") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(field_err("correlation.generate", "expected true or false")),
    };
    let mut condition = Vec::new();
    let mut value_field = None;
    match c.get("condition") {
        Some(Value::Mapping(m)) => {
            for (k, v) in m {
                let k = k.as_str().unwrap_or("");
                if k == "field" {
                    value_field = Some(
                        v.as_str()
                            .ok_or_else(|| {
                                field_err("correlation.condition.field", "not a string")
                            })?
                            .to_owned(),
                    );
                    continue;
                }
                let op = CmpOp::parse(k).ok_or_else(|| {
                    field_err("correlation.condition", format!("unknown operator `{k}`"))
                })?;
                let n = v.as_u64().ok_or_else(|| {
                    field_err("correlation.condition", "expected a non-negative integer")
                })?;
                condition.push((op, n));
            }
        }
        None if ty.starts_with("temporal") => {}
        _ => {
            return Err(field_err(
                "correlation.condition",
                "missing or not a mapping",
            ))
        }
    }
    let kind = match ty {
        "event_count" => CorrelationKind::EventCount,
        "value_count" => {
            let f = value_field.ok_or_else(|| {
                field_err("correlation.condition.field", "value_count needs a field")
            })?;
            if field_ref(&f).is_none() {
                return Err(RuleError::UnknownField(f));
            }
            CorrelationKind::ValueCount(f)
        }
        "temporal" => CorrelationKind::Temporal,
        "temporal_ordered" => CorrelationKind::TemporalOrdered,
        "value_sum" | "value_avg" | "value_percentile" | "value_median" => {
            return Err(RuleError::Unsupported(format!("correlation type {ty}")))
        }
        other => return Err(field_err(at, format!("unknown type `{other}`"))),
    };
    if matches!(
        kind,
        CorrelationKind::EventCount | CorrelationKind::ValueCount(_)
    ) && condition.is_empty()
    {
        return Err(field_err("correlation.condition", "needs gt/gte/lt/lte/eq"));
    }
    Ok(CorrelationRule {
        meta,
        kind,
        rules,
        group_by,
        timespan,
        condition,
        generate,
    })
}
