//! The incident taxonomy (GB/T 20986-2023 categories) and grades.
//!
//! The data lives in `src/taxonomy.yaml` (a copy of the project's shared
//! taxonomy), embedded in the binary; [`Taxonomy::builtin`] parses it once.
//! Ids are `"<category>/<subcategory>"`, as alerts carry them in
//! `alert.metadata.taxonomy` and incidents in `category`.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;

/// The embedded taxonomy document.
pub const TAXONOMY_YAML: &str = include_str!("taxonomy.yaml");

/// A subcategory (`botnet` of `malware`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subcategory {
    /// Id within its category.
    pub id: String,
    /// Chinese name.
    pub zh: String,
    /// English name.
    pub en: String,
}

/// A top-level category of GB/T 20986-2023.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    /// Id (`malware`).
    pub id: String,
    /// Chinese name.
    pub zh: String,
    /// English name.
    pub en: String,
    /// Subcategories.
    pub sub: Vec<Subcategory>,
}

/// An incident grade (I 特别重大 ... IV 一般).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grade {
    /// `I`, `II`, `III` or `IV`.
    pub id: String,
    /// Chinese name.
    pub zh: String,
    /// English name.
    pub en: String,
    /// Warning colour (`red`, `orange`, `yellow`, `blue`).
    pub colour: String,
    /// Reporting deadline, if the grade must be reported.
    pub report_within: Option<Duration>,
}

/// Detection severity of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Critical.
    Critical,
    /// High.
    High,
    /// Medium.
    Medium,
    /// Low.
    Low,
}

/// The whole taxonomy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taxonomy {
    /// Categories in document order.
    pub categories: Vec<Category>,
    /// Grades, most serious first.
    pub grades: Vec<Grade>,
    /// Severity of each zone policy kind (`isolated_breach` -> critical).
    pub policy_severity: BTreeMap<String, Severity>,
    /// Default preliminary grade ids per severity, for protection levels
    /// 1-2, 3, and 4+ (or isolated).
    pub default_grade_matrix: BTreeMap<Severity, [String; 3]>,
    /// Categories whose grade is fixed (`violation/isolation_breach` -> II).
    pub fixed: BTreeMap<String, String>,
}

/// Why a taxonomy document was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TaxonomyError {
    /// The YAML does not have the taxonomy's shape.
    #[error("taxonomy: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    /// A value is inconsistent (unknown grade, malformed duration, ...).
    #[error("taxonomy: {field}: {message}")]
    Invalid {
        /// Where.
        field: String,
        /// What.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrade {
    id: String,
    zh: String,
    en: String,
    colour: String,
    report_within: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTaxonomy {
    categories: Vec<Category>,
    grades: Vec<RawGrade>,
    policy_severity: BTreeMap<String, Severity>,
    default_grade_matrix: BTreeMap<Severity, Vec<String>>,
    #[serde(default)]
    fixed: BTreeMap<String, String>,
}

/// Parses `4h`, `30m`, `90s`, `2d`.
fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let unit = t.chars().last()?;
    let num: u64 = t.get(..t.len() - unit.len_utf8())?.trim().parse().ok()?;
    let secs = match unit {
        's' => num,
        'm' => num.checked_mul(60)?,
        'h' => num.checked_mul(3600)?,
        'd' => num.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

impl Taxonomy {
    /// Parses and checks a taxonomy document.
    pub fn from_yaml_str(text: &str) -> Result<Taxonomy, TaxonomyError> {
        let raw: RawTaxonomy = serde_yaml_ng::from_str(text)?;
        let invalid = |field: String, message: String| TaxonomyError::Invalid { field, message };
        let mut grades = Vec::with_capacity(raw.grades.len());
        for (i, g) in raw.grades.into_iter().enumerate() {
            let report_within = match g.report_within.as_deref() {
                None => None,
                Some(s) => Some(parse_duration(s).ok_or_else(|| {
                    invalid(
                        format!("grades[{i}].report_within"),
                        format!("malformed duration '{s}'"),
                    )
                })?),
            };
            grades.push(Grade {
                id: g.id,
                zh: g.zh,
                en: g.en,
                colour: g.colour,
                report_within,
            });
        }
        let grade_known = |id: &str| grades.iter().any(|g| g.id == id);
        let mut matrix = BTreeMap::new();
        for (sev, row) in raw.default_grade_matrix {
            let cells: [String; 3] = row.try_into().map_err(|_| {
                invalid(
                    format!("default_grade_matrix.{sev:?}"),
                    "needs exactly 3 grades".into(),
                )
            })?;
            if let Some(bad) = cells.iter().find(|c| !grade_known(c)) {
                return Err(invalid(
                    format!("default_grade_matrix.{sev:?}"),
                    format!("unknown grade '{bad}'"),
                ));
            }
            matrix.insert(sev, cells);
        }
        let tax = Taxonomy {
            categories: raw.categories,
            grades,
            policy_severity: raw.policy_severity,
            default_grade_matrix: matrix,
            fixed: raw.fixed,
        };
        for (cat, grade) in &tax.fixed {
            if !tax.is_valid(cat) {
                return Err(invalid(format!("fixed.{cat}"), "unknown category".into()));
            }
            if !tax.grades.iter().any(|g| &g.id == grade) {
                return Err(invalid(
                    format!("fixed.{cat}"),
                    format!("unknown grade '{grade}'"),
                ));
            }
        }
        Ok(tax)
    }

    /// The embedded taxonomy, parsed once. The embedded copy is checked by
    /// the tests; were it ever unparseable, an empty taxonomy is returned
    /// (every category then fails validation loudly) rather than a panic.
    pub fn builtin() -> &'static Taxonomy {
        static TAX: OnceLock<Taxonomy> = OnceLock::new();
        TAX.get_or_init(|| match Taxonomy::from_yaml_str(TAXONOMY_YAML) {
            Ok(t) => t,
            Err(err) => {
                tracing::error!("embedded taxonomy is invalid: {err}");
                Taxonomy {
                    categories: Vec::new(),
                    grades: Vec::new(),
                    policy_severity: BTreeMap::new(),
                    default_grade_matrix: BTreeMap::new(),
                    fixed: BTreeMap::new(),
                }
            }
        })
    }

    fn lookup(&self, id: &str) -> Option<(&Category, Option<&Subcategory>)> {
        let (cat, sub) = match id.split_once('/') {
            Some((c, s)) => (c, Some(s)),
            None => (id, None),
        };
        let c = self.categories.iter().find(|c| c.id == cat)?;
        match sub {
            None => Some((c, None)),
            Some(s) => c.sub.iter().find(|x| x.id == s).map(|x| (c, Some(x))),
        }
    }

    /// Whether `id` is a `category/subcategory` of the taxonomy.
    pub fn is_valid(&self, id: &str) -> bool {
        matches!(self.lookup(id), Some((_, Some(_))))
    }

    /// Chinese and English names of a `category/subcategory` or a bare
    /// category id.
    pub fn names(&self, id: &str) -> Option<(&str, &str)> {
        match self.lookup(id)? {
            (_, Some(s)) => Some((s.zh.as_str(), s.en.as_str())),
            (c, None) => Some((c.zh.as_str(), c.en.as_str())),
        }
    }

    /// A grade by id (`III`).
    pub fn grade(&self, id: &str) -> Option<&Grade> {
        self.grades.iter().find(|g| g.id == id)
    }

    /// The default preliminary grade for a detection of `severity` touching
    /// protection `level` (isolated zones count as level 4+), honouring
    /// `fixed` grades of `category`.
    pub fn default_grade(
        &self,
        category: &str,
        severity: Severity,
        level: u8,
        isolated: bool,
    ) -> Option<&Grade> {
        if let Some(g) = self.fixed.get(category) {
            return self.grade(g);
        }
        let row = self.default_grade_matrix.get(&severity)?;
        let col = if isolated || level >= 4 {
            2
        } else if level == 3 {
            1
        } else {
            0
        };
        self.grade(row.get(col)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_parses() {
        let t = Taxonomy::from_yaml_str(TAXONOMY_YAML).expect("embedded taxonomy parses");
        assert_eq!(t.categories.len(), 10);
        assert_eq!(t.grades.len(), 4);
        assert_eq!(&t, Taxonomy::builtin());
    }

    #[test]
    fn validity_and_names() {
        let t = Taxonomy::builtin();
        assert!(t.is_valid("malware/botnet"));
        assert!(t.is_valid("violation/rogue_device"));
        assert!(!t.is_valid("malware"));
        assert!(!t.is_valid("malware/"));
        assert!(!t.is_valid("malware/nope"));
        assert!(!t.is_valid("nope/botnet"));
        assert_eq!(
            t.names("violation/unauthorized_outbound"),
            Some(("违规外联", "Unauthorized outbound connection"))
        );
        assert_eq!(
            t.names("malware"),
            Some(("恶意程序事件", "Malicious program"))
        );
        assert_eq!(t.names("x/y"), None);
    }

    #[test]
    fn grades_and_matrix() {
        let t = Taxonomy::builtin();
        let g = t.grade("III").expect("grade III");
        assert_eq!(g.report_within, Some(Duration::from_secs(4 * 3600)));
        assert_eq!(t.grade("IV").and_then(|g| g.report_within), None);
        assert_eq!(
            t.policy_severity.get("isolated_breach"),
            Some(&Severity::Critical)
        );
        let grade = |c, s, l, i| t.default_grade(c, s, l, i).map(|g| g.id.as_str());
        assert_eq!(
            grade("malware/botnet", Severity::High, 3, false),
            Some("III")
        );
        assert_eq!(
            grade("malware/botnet", Severity::High, 2, false),
            Some("IV")
        );
        assert_eq!(
            grade("malware/botnet", Severity::Medium, 2, true),
            Some("III")
        );
        assert_eq!(
            grade("violation/isolation_breach", Severity::Low, 1, false),
            Some("II")
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("4h"), Some(Duration::from_secs(14_400)));
        assert_eq!(parse_duration("30m"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("4x"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("99999999999999999999d"), None);
    }

    #[test]
    fn rejects_bad_documents() {
        assert!(Taxonomy::from_yaml_str(
            "categories: []\ngrades: []\npolicy_severity: {}\ndefault_grade_matrix: {high: [I]}\n"
        )
        .is_err());
        assert!(Taxonomy::from_yaml_str("bogus: 1").is_err());
    }
}
