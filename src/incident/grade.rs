//! Detection severity × protection level → preliminary grade (I–IV).
//!
//! The default values are read from the taxonomy the crate embeds
//! (`src/taxonomy.yaml`, a copy of shared/taxonomy.yaml) by
//! [`GradeMatrix::from_taxonomy`], not restated here; every cell, the fixed
//! cases and the reporting deadlines can be overridden per deployment (the
//! `incidents:` config section, `crate::config::IncidentsConfig`).

use std::fmt;

use crate::alert::{Alert, AlertSource, PolicyKind};

/// Detection severity of one alert (taxonomy.yaml "Detection severity").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The taxonomy spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses the taxonomy spelling (also Sigma's `informational`, as low).
    pub fn parse(s: &str) -> Option<Severity> {
        match s.trim().to_ascii_lowercase().as_str() {
            "critical" => Some(Severity::Critical),
            "high" => Some(Severity::High),
            "medium" => Some(Severity::Medium),
            "low" | "informational" => Some(Severity::Low),
            _ => None,
        }
    }

    /// From an EVE `alert.severity` (1 high, 2 medium, 3 and 4 low).
    pub fn from_eve(sev: u8) -> Severity {
        match sev {
            0 | 1 => Severity::High,
            2 => Severity::Medium,
            _ => Severity::Low,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Grade of the National Cybersecurity Incident Emergency Plan. `I` is the
/// most serious; the derived order sorts `I` first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grade {
    /// 特别重大, extraordinarily serious (red).
    I,
    /// 重大, serious (orange).
    II,
    /// 较大, relatively serious (yellow).
    III,
    /// 一般, general (blue).
    IV,
}

impl Grade {
    /// Every grade, most serious first.
    pub const ALL: [Grade; 4] = [Grade::I, Grade::II, Grade::III, Grade::IV];

    /// `"I"` … `"IV"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::I => "I",
            Grade::II => "II",
            Grade::III => "III",
            Grade::IV => "IV",
        }
    }

    /// Parses `"I"` … `"IV"` (case-insensitive).
    pub fn parse(s: &str) -> Option<Grade> {
        match s.trim().to_ascii_uppercase().as_str() {
            "I" => Some(Grade::I),
            "II" => Some(Grade::II),
            "III" => Some(Grade::III),
            "IV" => Some(Grade::IV),
            _ => None,
        }
    }

    /// 1 for I … 4 for IV (the stored form).
    pub fn rank(self) -> u8 {
        match self {
            Grade::I => 1,
            Grade::II => 2,
            Grade::III => 3,
            Grade::IV => 4,
        }
    }

    /// Inverse of [`Grade::rank`].
    pub fn from_rank(r: i64) -> Option<Grade> {
        match r {
            1 => Some(Grade::I),
            2 => Some(Grade::II),
            3 => Some(Grade::III),
            4 => Some(Grade::IV),
            _ => None,
        }
    }

    /// True if `self` is more serious than `other`.
    pub fn above(self, other: Grade) -> bool {
        self < other
    }

    /// The warning colour.
    pub fn colour(self) -> Colour {
        match self {
            Grade::I => Colour::Red,
            Grade::II => Colour::Orange,
            Grade::III => Colour::Yellow,
            Grade::IV => Colour::Blue,
        }
    }

    /// Chinese and English names.
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            Grade::I => ("特别重大", "Extraordinarily serious"),
            Grade::II => ("重大", "Serious"),
            Grade::III => ("较大", "Relatively serious"),
            Grade::IV => ("一般", "General"),
        }
    }
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Warning colour of a grade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Colour {
    /// Grade I.
    Red,
    /// Grade II.
    Orange,
    /// Grade III.
    Yellow,
    /// Grade IV.
    Blue,
}

impl Colour {
    /// Lower-case English name.
    pub fn as_str(self) -> &'static str {
        match self {
            Colour::Red => "red",
            Colour::Orange => "orange",
            Colour::Yellow => "yellow",
            Colour::Blue => "blue",
        }
    }
}

/// Column of the matrix: the highest protection level touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LevelBand {
    /// Level 0 (internet), 1 or 2, or no zone known.
    Low,
    /// Level 3.
    Three,
    /// Level 4 or higher, or an isolated zone.
    FourOrIsolated,
}

impl LevelBand {
    /// The band of a protection level, `isolated` lifting it to the top.
    pub fn of(level: u8, isolated: bool) -> LevelBand {
        if isolated || level >= 4 {
            LevelBand::FourOrIsolated
        } else if level == 3 {
            LevelBand::Three
        } else {
            LevelBand::Low
        }
    }

    fn col(self) -> usize {
        match self {
            LevelBand::Low => 0,
            LevelBand::Three => 1,
            LevelBand::FourOrIsolated => 2,
        }
    }
}

/// The grading configuration: matrix, fixed cases, policy severities and
/// the reporting deadline.
#[derive(Clone, Debug, PartialEq)]
pub struct GradeMatrix {
    /// `cells[severity][band]`, severity in [`Severity::ALL`] order (low
    /// first), band in [`LevelBand`] order.
    pub cells: [[Grade; 3]; 4],
    /// Categories whose grade is fixed (taxonomy id → grade).
    pub fixed: Vec<(String, Grade)>,
    /// Severity of each zone-policy kind.
    pub policy_severity: [(PolicyKind, Severity); 5],
    /// Reporting deadline in seconds for grades III and above (per grade,
    /// I first); `None` means no deadline.
    pub report_within_secs: [Option<i64>; 4],
    /// Whether an automatic grade may be I (default false: grade I needs a
    /// person).
    pub allow_auto_grade_one: bool,
}

impl Default for GradeMatrix {
    /// The embedded taxonomy's matrix, fixed cases, policy severities and
    /// deadlines. Were the embedded taxonomy ever unusable (its tests
    /// prevent that), every cell is III and every deadline 4 h: too
    /// serious rather than too lax, and logged.
    fn default() -> Self {
        match GradeMatrix::from_taxonomy(crate::taxonomy::Taxonomy::builtin()) {
            Ok(m) => m,
            Err(err) => {
                tracing::error!("embedded taxonomy gives no grade matrix: {err}");
                GradeMatrix {
                    cells: [[Grade::III; 3]; 4],
                    fixed: Vec::new(),
                    policy_severity: PolicyKind::ALL.map(|k| (k, Severity::High)),
                    report_within_secs: [Some(4 * 3600); 4],
                    allow_auto_grade_one: false,
                }
            }
        }
    }
}

/// Why a taxonomy document cannot give a [`GradeMatrix`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MatrixError {
    /// A severity row of `default_grade_matrix` is missing.
    #[error("taxonomy: default_grade_matrix has no row for severity '{0}'")]
    MissingRow(&'static str),
    /// A grade id the matrix or `fixed` names is not I–IV.
    #[error("taxonomy: {field}: unknown grade '{grade}'")]
    UnknownGrade {
        /// Where.
        field: String,
        /// The id.
        grade: String,
    },
    /// A zone-policy kind has no severity.
    #[error("taxonomy: policy_severity has no entry for '{0}'")]
    MissingPolicySeverity(&'static str),
    /// A reporting deadline does not fit in seconds.
    #[error("taxonomy: grades.{0}.report_within is out of range")]
    Deadline(String),
}

impl GradeMatrix {
    /// The matrix, fixed cases, policy severities and reporting deadlines of
    /// a taxonomy document (grades it does not list have no deadline).
    pub fn from_taxonomy(t: &crate::taxonomy::Taxonomy) -> Result<GradeMatrix, MatrixError> {
        use crate::taxonomy::Severity as TaxSeverity;
        let grade = |field: &str, id: &str| {
            Grade::parse(id).ok_or_else(|| MatrixError::UnknownGrade {
                field: field.to_string(),
                grade: id.to_string(),
            })
        };
        let mut cells = [[Grade::IV; 3]; 4];
        for (row, sev) in cells.iter_mut().zip([
            TaxSeverity::Low,
            TaxSeverity::Medium,
            TaxSeverity::High,
            TaxSeverity::Critical,
        ]) {
            let name = tax_severity(sev).as_str();
            let ids = t
                .default_grade_matrix
                .get(&sev)
                .ok_or(MatrixError::MissingRow(name))?;
            for (cell, id) in row.iter_mut().zip(ids.iter()) {
                *cell = grade(&format!("default_grade_matrix.{name}"), id)?;
            }
        }
        let mut fixed = Vec::with_capacity(t.fixed.len());
        for (cat, id) in &t.fixed {
            fixed.push((cat.clone(), grade(&format!("fixed.{cat}"), id)?));
        }
        let mut policy_severity = PolicyKind::ALL.map(|k| (k, Severity::Low));
        for (kind, sev) in policy_severity.iter_mut() {
            let s = t
                .policy_severity
                .get(kind.as_str())
                .ok_or(MatrixError::MissingPolicySeverity(kind.as_str()))?;
            *sev = tax_severity(*s);
        }
        let mut report_within_secs = [None; 4];
        for g in &t.grades {
            let rank = grade("grades", &g.id)?;
            let secs = match g.report_within {
                None => None,
                Some(d) => Some(
                    i64::try_from(d.as_secs()).map_err(|_| MatrixError::Deadline(g.id.clone()))?,
                ),
            };
            if let Some(slot) =
                report_within_secs.get_mut(usize::from(rank.rank()).saturating_sub(1))
            {
                *slot = secs;
            }
        }
        Ok(GradeMatrix {
            cells,
            fixed,
            policy_severity,
            report_within_secs,
            allow_auto_grade_one: false,
        })
    }
}

/// The grading severity of a taxonomy severity.
fn tax_severity(s: crate::taxonomy::Severity) -> Severity {
    use crate::taxonomy::Severity as T;
    match s {
        T::Low => Severity::Low,
        T::Medium => Severity::Medium,
        T::High => Severity::High,
        T::Critical => Severity::Critical,
    }
}

impl GradeMatrix {
    /// The grade of one cell.
    pub fn cell(&self, sev: Severity, band: LevelBand) -> Grade {
        let row = match sev {
            Severity::Low => 0,
            Severity::Medium => 1,
            Severity::High => 2,
            Severity::Critical => 3,
        };
        self.cells
            .get(row)
            .and_then(|r| r.get(band.col()))
            .copied()
            .unwrap_or(Grade::IV)
    }

    /// Detection severity of an alert: the policy kind's, else a
    /// `zoneguard_severity` (or Sigma `level`) metadata value, else the EVE
    /// severity.
    pub fn severity_of(&self, a: &Alert) -> Severity {
        if let Some(p) = &a.policy {
            if let Some((_, s)) = self.policy_severity.iter().find(|(k, _)| *k == p.kind) {
                return *s;
            }
        }
        let meta = |key: &str| {
            a.metadata
                .iter()
                .find(|(k, _)| &**k == key)
                .and_then(|(_, v)| v.first())
                .and_then(|v| Severity::parse(v))
        };
        if let Some(s) = meta("zoneguard_severity") {
            return s;
        }
        if a.source == AlertSource::Log {
            if let Some(s) = meta("level") {
                return s;
            }
        }
        Severity::from_eve(a.severity)
    }

    /// The preliminary grade of `category` at `sev` touching `band`: the
    /// fixed case if any, else the matrix cell; never I unless allowed.
    pub fn grade(&self, category: &str, sev: Severity, band: LevelBand) -> Grade {
        let g = self
            .fixed
            .iter()
            .find(|(c, _)| c == category)
            .map(|(_, g)| *g)
            .unwrap_or_else(|| self.cell(sev, band));
        if g == Grade::I && !self.allow_auto_grade_one {
            Grade::II
        } else {
            g
        }
    }

    /// Reporting deadline of a grade in seconds, if it has one.
    pub fn report_within(&self, g: Grade) -> Option<i64> {
        self.report_within_secs
            .get(usize::from(g.rank()).saturating_sub(1))
            .copied()
            .flatten()
    }
}

/// Chinese and English names of taxonomy ids, for incident titles: read
/// from the taxonomy the crate embeds (`crate::taxonomy`), not copied.
#[derive(Clone, Copy, Debug, Default)]
pub struct Categories;

impl Categories {
    /// `(zh, en)` of a taxonomy id; the id itself for both when unknown.
    pub fn names<'a>(&self, id: &'a str) -> (&'a str, &'a str)
    where
        'static: 'a,
    {
        crate::taxonomy::Taxonomy::builtin()
            .names(id)
            .unwrap_or((id, id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_cell() {
        let m = GradeMatrix::default();
        use Grade::*;
        use LevelBand::*;
        let expect = [
            (Severity::Critical, [III, III, II]),
            (Severity::High, [IV, III, II]),
            (Severity::Medium, [IV, IV, III]),
            (Severity::Low, [IV, IV, IV]),
        ];
        for (sev, row) in expect {
            for (band, g) in [Low, Three, FourOrIsolated].into_iter().zip(row) {
                assert_eq!(
                    m.grade("network_attack/exploit", sev, band),
                    g,
                    "{sev} {band:?}"
                );
            }
        }
    }

    #[test]
    fn level_bands() {
        assert_eq!(LevelBand::of(0, false), LevelBand::Low);
        assert_eq!(LevelBand::of(2, false), LevelBand::Low);
        assert_eq!(LevelBand::of(3, false), LevelBand::Three);
        assert_eq!(LevelBand::of(4, false), LevelBand::FourOrIsolated);
        assert_eq!(LevelBand::of(1, true), LevelBand::FourOrIsolated);
    }

    #[test]
    fn isolation_breach_fixed_ii_and_never_i() {
        let m = GradeMatrix::default();
        for sev in Severity::ALL {
            for band in [LevelBand::Low, LevelBand::Three, LevelBand::FourOrIsolated] {
                assert_eq!(m.grade("violation/isolation_breach", sev, band), Grade::II);
            }
        }
        let mut all_i = GradeMatrix {
            cells: [[Grade::I; 3]; 4],
            ..Default::default()
        };
        for sev in Severity::ALL {
            assert_eq!(
                all_i.grade("x/y", sev, LevelBand::FourOrIsolated),
                Grade::II
            );
        }
        all_i.allow_auto_grade_one = true;
        assert_eq!(all_i.grade("x/y", Severity::Low, LevelBand::Low), Grade::I);
    }

    #[test]
    fn severities_and_deadlines() {
        assert_eq!(Severity::from_eve(1), Severity::High);
        assert_eq!(Severity::from_eve(2), Severity::Medium);
        assert_eq!(Severity::from_eve(3), Severity::Low);
        assert_eq!(Severity::from_eve(4), Severity::Low);
        assert_eq!(Severity::parse("Informational"), Some(Severity::Low));
        assert_eq!(Severity::parse("bogus"), None);
        let m = GradeMatrix::default();
        assert_eq!(m.report_within(Grade::III), Some(14_400));
        assert_eq!(m.report_within(Grade::IV), None);
        assert_eq!(Grade::II.colour(), Colour::Orange);
        assert!(Grade::II.above(Grade::III));
        for g in Grade::ALL {
            assert_eq!(Grade::parse(g.as_str()), Some(g));
            assert_eq!(Grade::from_rank(i64::from(g.rank())), Some(g));
        }
    }

    #[test]
    fn default_comes_from_the_embedded_taxonomy() {
        let m = GradeMatrix::default();
        let t = crate::taxonomy::Taxonomy::builtin();
        assert_eq!(GradeMatrix::from_taxonomy(t), Ok(m.clone()));
        for kind in PolicyKind::ALL {
            let (_, sev) = m
                .policy_severity
                .iter()
                .find(|(k, _)| *k == kind)
                .copied()
                .unwrap_or((kind, Severity::Low));
            assert_eq!(
                Some(sev.as_str()),
                t.policy_severity
                    .get(kind.as_str())
                    .map(|s| tax_severity(*s).as_str()),
                "{kind:?}"
            );
        }
        assert_eq!(
            m.fixed,
            vec![("violation/isolation_breach".to_string(), Grade::II)]
        );
        assert_eq!(
            m.report_within_secs,
            [Some(14_400), Some(14_400), Some(14_400), None]
        );
    }

    #[test]
    fn a_changed_taxonomy_changes_the_matrix() {
        let text = crate::taxonomy::TAXONOMY_YAML
            .replace("low:          [IV,        IV,       IV]", "low: [IV, III, II]")
            .replace(
                "{id: III, zh: 较大,     en: Relatively serious,      colour: yellow, report_within: 4h}",
                "{id: III, zh: 较大, en: Relatively serious, colour: yellow, report_within: 1h}",
            );
        let t = crate::taxonomy::Taxonomy::from_yaml_str(&text).unwrap();
        let m = GradeMatrix::from_taxonomy(&t).unwrap();
        assert_eq!(m.cell(Severity::Low, LevelBand::FourOrIsolated), Grade::II);
        assert_eq!(m.cell(Severity::Low, LevelBand::Three), Grade::III);
        assert_eq!(m.report_within(Grade::III), Some(3600));
        let no_row = crate::taxonomy::TAXONOMY_YAML
            .replace("  low:          [IV,        IV,       IV]\n", "");
        let t = crate::taxonomy::Taxonomy::from_yaml_str(&no_row).unwrap();
        assert_eq!(
            GradeMatrix::from_taxonomy(&t),
            Err(MatrixError::MissingRow("low"))
        );
    }

    #[test]
    fn category_names() {
        let c = Categories;
        assert_eq!(c.names("violation/unauthorized_outbound").0, "违规外联");
        assert_eq!(c.names("nope/x"), ("nope/x", "nope/x"));
    }
}
