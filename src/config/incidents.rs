//! The `incidents:` section: correlation window, grade matrix overrides,
//! reporting deadlines, retention and the daemon's store path.
//!
//! Every key is optional; an absent section gives the built-in behaviour
//! (the embedded taxonomy's matrix, 15 minutes of quiet, nothing pruned).
//! Matrix overrides are checked against the shape of the taxonomy
//! (`shared/taxonomy.yaml`): the severities it names, three protection-level
//! columns, grades I–IV, categories it knows. See docs/configuration.md
//! (`incidents`) and docs/incidents.md.
//!
//! The section readers here and in [`super::notify`] report problems into a
//! list of [`ConfigError`] with the document path, which `build` merges with
//! its own.

use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

use super::error::{ConfigError, ErrorKind};
use crate::incident::{CorrelatorConfig, Grade, GradeMatrix, Severity};
use crate::taxonomy::Taxonomy;

/// Shortest correlation window accepted (seconds).
const MIN_WINDOW_SECS: u64 = 1;
/// Longest correlation window accepted: one week.
const MAX_WINDOW_SECS: u64 = 7 * 86_400;
/// Legal minimum retention (the Cybersecurity Law's six months).
pub const MIN_RETENTION_DAYS: u64 = 180;
/// Longest reporting deadline accepted: 30 days.
const MAX_DEADLINE_SECS: u64 = 30 * 86_400;

/// The `incidents:` section.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentsConfig {
    /// Quiet time (seconds) after which an incident's window closes; default
    /// 900 (15 minutes).
    pub window_secs: u64,
    /// Grading: the embedded taxonomy's matrix with this config's overrides.
    pub matrix: GradeMatrix,
    /// Days alerts, incidents and audit records are kept; default 180, never
    /// less.
    pub retention_days: u64,
    /// Whether the daemon prunes data older than `retention_days` (default
    /// false: nothing is ever deleted unless asked).
    pub prune: bool,
    /// The daemon's incident store (resolved against the config's
    /// directory); `None` lets the daemon pick its state directory.
    pub store: Option<PathBuf>,
}

impl Default for IncidentsConfig {
    fn default() -> Self {
        IncidentsConfig {
            window_secs: 15 * 60,
            matrix: GradeMatrix::default(),
            retention_days: MIN_RETENTION_DAYS,
            prune: false,
            store: None,
        }
    }
}

impl IncidentsConfig {
    /// The correlator settings these keys give (other settings default).
    pub fn correlator_config(&self) -> CorrelatorConfig {
        CorrelatorConfig {
            window_secs: i64::try_from(self.window_secs).unwrap_or(i64::MAX),
            matrix: self.matrix.clone(),
            ..CorrelatorConfig::default()
        }
    }
}

/// Problems found while reading a section, with their document paths.
#[derive(Default)]
pub(super) struct Found {
    /// The problems.
    pub(super) errors: Vec<ConfigError>,
}

impl Found {
    pub(super) fn push(&mut self, kind: ErrorKind, path: &str, message: impl Into<String>) {
        // `build` caps the merged list; keep this one bounded as well.
        if self.errors.len() < super::MAX_ERRORS {
            self.errors.push(ConfigError::new(kind, path, message));
        }
    }
}

/// `parent.key`.
pub(super) fn at(parent: &str, key: &str) -> String {
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

/// A mapping whose keys are all in `known` (others are reported).
pub(super) fn mapping<'a>(
    v: &'a Value,
    path: &str,
    known: &[&str],
    f: &mut Found,
) -> Option<&'a Mapping> {
    let Value::Mapping(m) = v else {
        f.push(
            ErrorKind::WrongType,
            path,
            format!("expected a mapping, found {}", kind_of(v)),
        );
        return None;
    };
    for k in m.keys() {
        match k.as_str() {
            Some(s) if known.contains(&s) => {}
            Some(s) => f.push(
                ErrorKind::UnknownKey,
                &at(path, s),
                format!("unknown key '{s}' (expected one of: {})", known.join(", ")),
            ),
            None => f.push(
                ErrorKind::WrongType,
                path,
                format!("mapping key is {}, expected a string", kind_of(k)),
            ),
        }
    }
    Some(m)
}

/// The value of `key` (an explicit null counts as absent).
pub(super) fn get<'a>(m: &'a Mapping, key: &str) -> Option<&'a Value> {
    m.get(key).filter(|v| !v.is_null())
}

/// A string value.
pub(super) fn string(v: &Value, path: &str, f: &mut Found) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        other => {
            f.push(
                ErrorKind::WrongType,
                path,
                format!("expected a string, found {}", kind_of(other)),
            );
            None
        }
    }
}

/// A whole number in `min..=max`.
pub(super) fn uint(v: &Value, path: &str, min: u64, max: u64, f: &mut Found) -> Option<u64> {
    let Some(n) = v.as_u64() else {
        f.push(
            ErrorKind::WrongType,
            path,
            format!("expected a whole number, found {}", kind_of(v)),
        );
        return None;
    };
    if n < min || n > max {
        f.push(
            ErrorKind::InvalidValue,
            path,
            format!("{n} is out of range (allowed {min}-{max})"),
        );
        return None;
    }
    Some(n)
}

/// `true` or `false`.
pub(super) fn boolean(v: &Value, path: &str, f: &mut Found) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        other => {
            f.push(
                ErrorKind::WrongType,
                path,
                format!("expected true or false, found {}", kind_of(other)),
            );
            None
        }
    }
}

/// A list of at most `max` items.
pub(super) fn list<'a>(v: &'a Value, path: &str, max: usize, f: &mut Found) -> &'a [Value] {
    match v {
        Value::Sequence(s) if s.len() > max => {
            f.push(
                ErrorKind::InvalidValue,
                path,
                format!("{} items; at most {max} are allowed here", s.len()),
            );
            s.get(..max).unwrap_or(s)
        }
        Value::Sequence(s) => s,
        other => {
            f.push(
                ErrorKind::WrongType,
                path,
                format!("expected a list, found {}", kind_of(other)),
            );
            &[]
        }
    }
}

/// A duration: whole seconds, or a number with `s`, `m`, `h` or `d`.
pub(super) fn duration_secs(v: &Value, path: &str, max: u64, f: &mut Found) -> Option<u64> {
    let secs = match v {
        Value::Number(_) => return uint(v, path, 0, max, f),
        Value::String(s) => {
            let t = s.trim();
            let unit = t.chars().last().unwrap_or('?');
            let num = t
                .get(..t.len().saturating_sub(unit.len_utf8()))
                .and_then(|n| n.trim().parse::<u64>().ok());
            let mul = match unit {
                's' => Some(1),
                'm' => Some(60),
                'h' => Some(3600),
                'd' => Some(86_400),
                _ => None,
            };
            match (num, mul) {
                (Some(n), Some(m)) => n.checked_mul(m),
                _ => {
                    f.push(
                        ErrorKind::InvalidValue,
                        path,
                        format!(
                            "malformed duration '{}' (expected seconds or e.g. 30s, 15m, 4h, 2d)",
                            s.chars().take(40).collect::<String>()
                        ),
                    );
                    return None;
                }
            }
        }
        other => {
            f.push(
                ErrorKind::WrongType,
                path,
                format!(
                    "expected a duration (15m, 4h, seconds), found {}",
                    kind_of(other)
                ),
            );
            return None;
        }
    };
    match secs {
        Some(n) if n <= max => Some(n),
        _ => {
            f.push(
                ErrorKind::InvalidValue,
                path,
                format!("duration out of range (at most {max} seconds)"),
            );
            None
        }
    }
}

/// A grade `I`–`IV` named in the taxonomy.
fn grade(v: &Value, path: &str, f: &mut Found) -> Option<Grade> {
    let s = string(v, path, f)?;
    let known = Taxonomy::builtin().grade(s.trim()).is_some();
    match Grade::parse(&s) {
        Some(g) if known => Some(g),
        _ => {
            f.push(
                ErrorKind::InvalidValue,
                path,
                format!(
                    "unknown grade '{}' (expected I, II, III or IV)",
                    s.chars().take(40).collect::<String>()
                ),
            );
            None
        }
    }
}

const KEYS: &[&str] = &[
    "window",
    "grade_matrix",
    "fixed",
    "report_within",
    "allow_auto_grade_one",
    "retention_days",
    "prune",
    "store",
];

/// Reads the `incidents:` section (absent: defaults). Relative `store`
/// paths are resolved against `base`.
pub(super) fn read(v: Option<&Value>, base: &Path, f: &mut Found) -> IncidentsConfig {
    let mut c = IncidentsConfig::default();
    let Some(v) = v else { return c };
    let Some(m) = mapping(v, "incidents", KEYS, f) else {
        return c;
    };
    if let Some(w) = get(m, "window") {
        let p = "incidents.window";
        if let Some(secs) = duration_secs(w, p, MAX_WINDOW_SECS, f) {
            if secs < MIN_WINDOW_SECS {
                f.push(ErrorKind::InvalidValue, p, "the window must be at least 1s");
            } else {
                c.window_secs = secs;
            }
        }
    }
    if let Some(gm) = get(m, "grade_matrix") {
        read_matrix(gm, &mut c.matrix, f);
    }
    if let Some(fx) = get(m, "fixed") {
        read_fixed(fx, &mut c.matrix, f);
    }
    if let Some(rw) = get(m, "report_within") {
        read_deadlines(rw, &mut c.matrix, f);
    }
    if let Some(b) = get(m, "allow_auto_grade_one") {
        if let Some(b) = boolean(b, "incidents.allow_auto_grade_one", f) {
            c.matrix.allow_auto_grade_one = b;
        }
    }
    if let Some(d) = get(m, "retention_days") {
        let p = "incidents.retention_days";
        if let Some(n) = uint(d, p, 0, 100 * 366, f) {
            if n < MIN_RETENTION_DAYS {
                f.push(
                    ErrorKind::InvalidValue,
                    p,
                    format!("{n} days is below the legal minimum of {MIN_RETENTION_DAYS} days (six months)"),
                );
            } else {
                c.retention_days = n;
            }
        }
    }
    if let Some(b) = get(m, "prune") {
        if let Some(b) = boolean(b, "incidents.prune", f) {
            c.prune = b;
        }
    }
    if let Some(s) = get(m, "store") {
        if let Some(s) = string(s, "incidents.store", f) {
            if s.trim().is_empty() {
                f.push(ErrorKind::InvalidValue, "incidents.store", "empty path");
            } else {
                let p = Path::new(s.trim());
                c.store = Some(if p.is_absolute() {
                    p.to_path_buf()
                } else {
                    base.join(p)
                });
            }
        }
    }
    c
}

/// `grade_matrix: {critical: [III, III, II], ...}`: rows replace the
/// taxonomy's; severities not named keep theirs.
fn read_matrix(v: &Value, matrix: &mut GradeMatrix, f: &mut Found) {
    let path = "incidents.grade_matrix";
    let names: Vec<&str> = Severity::ALL.iter().map(|s| s.as_str()).collect();
    let Some(m) = mapping(v, path, &names, f) else {
        return;
    };
    for (row, sev) in Severity::ALL.iter().enumerate() {
        let Some(rv) = get(m, sev.as_str()) else {
            continue;
        };
        let p = at(path, sev.as_str());
        let items = list(rv, &p, 3, f);
        if items.len() != 3 {
            f.push(
                ErrorKind::InvalidValue,
                &p,
                "needs exactly 3 grades: protection level 1-2, level 3, level 4+ or isolated",
            );
            continue;
        }
        let mut cells = [Grade::IV; 3];
        let mut ok = true;
        for (i, (cell, item)) in cells.iter_mut().zip(items).enumerate() {
            match grade(item, &format!("{p}[{i}]"), f) {
                Some(g) => *cell = g,
                None => ok = false,
            }
        }
        if let (true, Some(slot)) = (ok, matrix.cells.get_mut(row)) {
            *slot = cells;
        }
    }
}

/// `fixed: {category: grade}`: added to (or replacing) the taxonomy's.
fn read_fixed(v: &Value, matrix: &mut GradeMatrix, f: &mut Found) {
    let path = "incidents.fixed";
    let Value::Mapping(m) = v else {
        f.push(
            ErrorKind::WrongType,
            path,
            format!(
                "expected a mapping of category: grade, found {}",
                kind_of(v)
            ),
        );
        return;
    };
    for (k, gv) in m.iter().take(1024) {
        let Some(cat) = k.as_str() else {
            f.push(ErrorKind::WrongType, path, "category keys must be strings");
            continue;
        };
        let p = at(path, cat);
        if !Taxonomy::builtin().is_valid(cat) {
            f.push(
                ErrorKind::UnknownCategory,
                &p,
                format!(
                    "'{}' is not a category/subcategory of the taxonomy",
                    cat.chars().take(80).collect::<String>()
                ),
            );
            continue;
        }
        if let Some(g) = grade(gv, &p, f) {
            match matrix.fixed.iter_mut().find(|(c, _)| c == cat) {
                Some(slot) => slot.1 = g,
                None => matrix.fixed.push((cat.to_string(), g)),
            }
        }
    }
}

/// `report_within: {I: 1h, II: 2h, III: 4h, IV: null}`.
fn read_deadlines(v: &Value, matrix: &mut GradeMatrix, f: &mut Found) {
    let path = "incidents.report_within";
    let Some(m) = mapping(v, path, &["I", "II", "III", "IV"], f) else {
        return;
    };
    for g in Grade::ALL {
        let Some(raw) = m.get(g.as_str()) else {
            continue;
        };
        let p = at(path, g.as_str());
        let secs = if raw.is_null() || raw.as_str().is_some_and(|s| s.trim() == "none") {
            None
        } else {
            match duration_secs(raw, &p, MAX_DEADLINE_SECS, f) {
                Some(0) => {
                    f.push(
                        ErrorKind::InvalidValue,
                        &p,
                        "a deadline must be positive (null or none for no deadline)",
                    );
                    continue;
                }
                Some(n) => i64::try_from(n).ok(),
                None => continue,
            }
        };
        if let Some(slot) = matrix
            .report_within_secs
            .get_mut(usize::from(g.rank()).saturating_sub(1))
        {
            *slot = secs;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::LevelBand;

    fn read_str(yaml: &str) -> (IncidentsConfig, Vec<ConfigError>) {
        let v: Value = serde_yaml_ng::from_str(yaml).unwrap();
        let mut f = Found::default();
        let c = read(v.get("incidents"), Path::new("/etc/zg"), &mut f);
        (c, f.errors)
    }

    #[test]
    fn absent_section_is_the_default() {
        let (c, e) = read_str("other: 1\n");
        assert!(e.is_empty());
        assert_eq!(c, IncidentsConfig::default());
        assert_eq!(c.window_secs, 900);
        assert_eq!(c.retention_days, 180);
        assert!(!c.prune);
        let (cc, d) = (c.correlator_config(), CorrelatorConfig::default());
        assert_eq!((cc.window_secs, cc.matrix), (d.window_secs, d.matrix));
    }

    #[test]
    fn every_key() {
        let (c, e) = read_str(
            "incidents:
  window: 30m
  grade_matrix:
    high: [III, III, II]
    low: [IV, IV, III]
  fixed:
    malware/ransomware: II
  report_within: {I: 1h, II: 2h, III: 7200, IV: 1d}
  allow_auto_grade_one: true
  retention_days: 365
  prune: true
  store: var/incidents.db
",
        );
        assert!(e.is_empty(), "{e:#?}");
        assert_eq!(c.window_secs, 1800);
        let m = &c.matrix;
        assert_eq!(m.cell(Severity::High, LevelBand::Low), Grade::III);
        assert_eq!(m.cell(Severity::Low, LevelBand::FourOrIsolated), Grade::III);
        // Untouched rows keep the taxonomy's.
        assert_eq!(
            m.cell(Severity::Medium, LevelBand::FourOrIsolated),
            Grade::III
        );
        assert_eq!(m.cell(Severity::Medium, LevelBand::Three), Grade::IV);
        assert_eq!(
            m.grade("malware/ransomware", Severity::Low, LevelBand::Low),
            Grade::II
        );
        assert_eq!(
            m.grade("violation/isolation_breach", Severity::Low, LevelBand::Low),
            Grade::II
        );
        assert_eq!(m.report_within(Grade::I), Some(3600));
        assert_eq!(m.report_within(Grade::II), Some(7200));
        assert_eq!(m.report_within(Grade::III), Some(7200));
        assert_eq!(m.report_within(Grade::IV), Some(86_400));
        assert!(m.allow_auto_grade_one);
        assert_eq!(c.retention_days, 365);
        assert!(c.prune);
        assert_eq!(c.store, Some(PathBuf::from("/etc/zg/var/incidents.db")));
        let cc = c.correlator_config();
        assert_eq!(cc.window_secs, 1800);
        assert_eq!(cc.matrix, c.matrix);
    }

    #[test]
    fn errors_carry_their_path() {
        let (c, e) = read_str(
            "incidents:
  window: 0
  windw: 5m
  grade_matrix:
    high: [III, II]
    medium: [IV, V, II]
    urgent: [I, I, I]
  fixed:
    malware/nope: II
    malware/botnet: 2
  report_within: {III: 0, V: 1h, II: soon}
  retention_days: 30
  prune: yes please
",
        );
        let has = |kind: ErrorKind, path: &str| {
            assert!(
                e.iter().any(|x| x.kind == kind && x.path == path),
                "no {kind:?} at {path}: {e:#?}"
            )
        };
        has(ErrorKind::InvalidValue, "incidents.window");
        has(ErrorKind::UnknownKey, "incidents.windw");
        has(ErrorKind::InvalidValue, "incidents.grade_matrix.high");
        has(ErrorKind::InvalidValue, "incidents.grade_matrix.medium[1]");
        has(ErrorKind::UnknownKey, "incidents.grade_matrix.urgent");
        has(ErrorKind::UnknownCategory, "incidents.fixed.malware/nope");
        has(ErrorKind::InvalidValue, "incidents.fixed.malware/botnet");
        has(ErrorKind::InvalidValue, "incidents.report_within.III");
        has(ErrorKind::UnknownKey, "incidents.report_within.V");
        has(ErrorKind::InvalidValue, "incidents.report_within.II");
        has(ErrorKind::InvalidValue, "incidents.retention_days");
        has(ErrorKind::WrongType, "incidents.prune");
        // Nothing half-applied: the bad rows keep the taxonomy's values.
        assert_eq!(c.matrix.cells, GradeMatrix::default().cells);
        assert_eq!(c.retention_days, 180);
    }

    #[test]
    fn through_the_whole_config() {
        let now = chrono::Utc::now();
        let ok = crate::config::Config::validate_at(
            "name: t\nincidents:\n  window: 10m\nnotify:\n  queue: 10\n",
            "t.yaml",
            Path::new("/etc/zg"),
            now,
        )
        .expect("valid");
        assert_eq!(ok.incidents.window_secs, 600);
        assert_eq!(ok.notify.queue, 10);
        let errs = crate::config::Config::validate_at(
            "name: t\nincidents:\n  window: 10m\n  retention_days: 7\n",
            "t.yaml",
            Path::new("/etc/zg"),
            now,
        )
        .expect_err("invalid");
        let e = &errs.errors[0];
        assert_eq!(e.path, "incidents.retention_days");
        assert_eq!(e.line, Some(4));
        // Existing configs without the sections stay valid.
        let plain = crate::config::Config::validate_at("name: t\n", "t.yaml", Path::new("."), now)
            .expect("valid");
        assert_eq!(plain.incidents, IncidentsConfig::default());
    }

    #[test]
    fn null_deadline_removes_it() {
        let (c, e) = read_str("incidents:\n  report_within: {III: null, II: none}\n");
        assert!(e.is_empty(), "{e:#?}");
        assert_eq!(c.matrix.report_within(Grade::III), None);
        assert_eq!(c.matrix.report_within(Grade::II), None);
        assert_eq!(c.matrix.report_within(Grade::I), Some(14_400));
    }
}
