//! `classification.config` (classtype → description, priority) and
//! `reference.config` (reference system → URL prefix), in Suricata's format.

use std::collections::HashMap;
use std::path::Path;

use thiserror::Error;

/// Suricata's default classification.config, shipped in `rules/`.
pub const DEFAULT_CLASSIFICATION: &str = include_str!("../../rules/classification.config");
/// Suricata's default reference.config, shipped in `rules/`.
pub const DEFAULT_REFERENCE: &str = include_str!("../../rules/reference.config");

/// A malformed line of a classification or reference file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{file}:{line}: {reason}")]
pub struct ConfigFileError {
    /// The file (or `<builtin>`).
    pub file: String,
    /// 1-based line number (0 when the file cannot be read).
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// One classtype.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassType {
    /// Short description: `alert.category` in EVE.
    pub description: String,
    /// Priority: `alert.severity` unless the rule sets `priority`.
    pub priority: u8,
}

/// Classtypes by short name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Classification {
    classes: HashMap<String, ClassType>,
}

impl Classification {
    /// The classtypes of Suricata's default classification.config.
    pub fn suricata_default() -> Self {
        // The embedded file is tested to parse; fall back to empty, never panic.
        Self::parse(DEFAULT_CLASSIFICATION, "<builtin>").unwrap_or_default()
    }

    /// Reads a classification.config file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigFileError> {
        let file = path.display().to_string();
        let text = read_capped(path).map_err(|reason| ConfigFileError {
            file: file.clone(),
            line: 0,
            reason,
        })?;
        Self::parse(&text, &file)
    }

    /// Parses `config classification: name,description,priority` lines.
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigFileError> {
        let mut classes = HashMap::new();
        for (idx, rest) in config_lines(text, "classification") {
            let err = |reason: &str| ConfigFileError {
                file: file.to_string(),
                line: idx,
                reason: reason.to_string(),
            };
            let rest = rest.map_err(|e| ConfigFileError {
                file: file.to_string(),
                ..e
            })?;
            let mut parts = rest.splitn(3, ',');
            let name = parts.next().unwrap_or("").trim();
            let desc = parts
                .next()
                .map(str::trim)
                .ok_or_else(|| err("missing description"))?;
            let prio = parts
                .next()
                .map(str::trim)
                .ok_or_else(|| err("missing priority"))?;
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(err("invalid classtype name"));
            }
            let priority: u8 = prio
                .parse()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| err("priority must be a number from 1 to 255"))?;
            classes.insert(
                name.to_ascii_lowercase(),
                ClassType {
                    description: desc.to_string(),
                    priority,
                },
            );
        }
        Ok(Self { classes })
    }

    /// Looks a classtype up (case-insensitively, as Suricata does).
    pub fn get(&self, name: &str) -> Option<&ClassType> {
        if let Some(c) = self.classes.get(name) {
            return Some(c);
        }
        self.classes.get(&name.to_ascii_lowercase())
    }

    /// Number of classtypes.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// True when no classtype is defined.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }
}

/// Reference systems by name (lower case) → URL prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct References {
    systems: HashMap<String, String>,
}

impl References {
    /// The systems of Suricata's default reference.config.
    pub fn suricata_default() -> Self {
        Self::parse(DEFAULT_REFERENCE, "<builtin>").unwrap_or_default()
    }

    /// Reads a reference.config file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigFileError> {
        let file = path.display().to_string();
        let text = read_capped(path).map_err(|reason| ConfigFileError {
            file: file.clone(),
            line: 0,
            reason,
        })?;
        Self::parse(&text, &file)
    }

    /// Parses `config reference: system url` lines.
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigFileError> {
        let mut systems = HashMap::new();
        for (idx, rest) in config_lines(text, "reference") {
            let rest = rest.map_err(|e| ConfigFileError {
                file: file.to_string(),
                ..e
            })?;
            let mut it = rest.split_whitespace();
            let (Some(name), Some(url), None) = (it.next(), it.next(), it.next()) else {
                return Err(ConfigFileError {
                    file: file.to_string(),
                    line: idx,
                    reason: "expected 'config reference: system url'".to_string(),
                });
            };
            systems.insert(name.to_ascii_lowercase(), url.to_string());
        }
        Ok(Self { systems })
    }

    /// The URL for a rule's `reference:system,id`, if the system is known.
    pub fn url(&self, system: &str, id: &str) -> Option<String> {
        let prefix = self.systems.get(&system.to_ascii_lowercase())?;
        Some(format!("{prefix}{id}"))
    }
}

/// Maximum size of a classification or reference file.
const MAX_CONFIG_FILE: u64 = 4 * 1024 * 1024;

fn read_capped(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.len() > MAX_CONFIG_FILE {
        return Err(format!("file larger than {MAX_CONFIG_FILE} bytes"));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    String::from_utf8(bytes)
        .map_err(|e| format!("not UTF-8 at byte {}", e.utf8_error().valid_up_to()))
}

/// The non-comment lines `config <what>: rest` with 1-based line numbers;
/// a non-comment line of another shape yields an error.
fn config_lines<'a>(
    text: &'a str,
    what: &'static str,
) -> impl Iterator<Item = (usize, Result<&'a str, ConfigFileError>)> + 'a {
    text.lines().enumerate().filter_map(move |(i, line)| {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            return None;
        }
        let rest = t
            .strip_prefix("config")
            .map(str::trim_start)
            .and_then(|r| r.strip_prefix(what))
            .map(str::trim_start)
            .and_then(|r| r.strip_prefix(':'))
            .map(str::trim);
        Some((
            i + 1,
            rest.ok_or_else(|| ConfigFileError {
                file: String::new(),
                line: i + 1,
                reason: format!("expected 'config {what}: ...'"),
            }),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_files_parse() {
        let c = Classification::parse(DEFAULT_CLASSIFICATION, "x").unwrap();
        assert_eq!(c.len(), 43);
        let t = c.get("trojan-activity").unwrap();
        assert_eq!(t.description, "A Network Trojan was detected");
        assert_eq!(t.priority, 1);
        assert_eq!(c.get("bad-unknown").unwrap().priority, 2);
        assert_eq!(c.get("Misc-Activity").unwrap().priority, 3);
        let r = References::parse(DEFAULT_REFERENCE, "x").unwrap();
        assert_eq!(
            r.url("CVE", "2021-44228").unwrap(),
            "https://cve.mitre.org/cgi-bin/cvename.cgi?name=2021-44228"
        );
        assert!(r.url("arachnids", "1").is_some());
    }

    #[test]
    fn errors_name_the_line() {
        let e =
            Classification::parse("# c\n\nconfig classification: a,b\n", "f.config").unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("f.config", 3));
        assert!(Classification::parse("config classification: a,b,0", "f").is_err());
        assert!(Classification::parse("bogus", "f").is_err());
        assert!(References::parse("config reference: x", "f").is_err());
    }
}
