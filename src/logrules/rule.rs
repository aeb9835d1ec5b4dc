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

use serde::Deserialize;
use serde_yaml_ng::Value;

use super::condition::{self, Cond, Quant};
use super::correlation::correlation;
pub use super::correlation::{parse_timespan, CorrelationKind, CorrelationRule};
use super::fields::field_ref;
pub(crate) use super::fields::FieldRef;
use super::logsource::scope;
pub use super::logsource::{Scope, AUTH_PROGRAMS};
use super::modifiers::values;
pub(crate) use super::modifiers::ValueTest;
pub use super::modifiers::{base64, CmpOp};
use super::pattern::Pattern;
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

pub(crate) fn field_err(field: &str, reason: impl Into<String>) -> RuleError {
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

pub(crate) fn str_at<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

/// Scalar YAML value as text (numbers and booleans as Sigma writes them).
pub(crate) fn scalar_text(v: &Value) -> Option<String> {
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
