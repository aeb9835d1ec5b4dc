//! Sigma correlation rules: `event_count`, `value_count`, `temporal`,
//! `temporal_ordered` (the engine keeps their state).

use serde_yaml_ng::Value;

use super::fields::field_ref;
use super::modifiers::CmpOp;
use super::rule::{field_err, str_at, RuleError, RuleMeta};

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

pub(crate) fn correlation(meta: RuleMeta, c: &Value) -> Result<CorrelationRule, RuleError> {
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
