//! `zoneguard incidents …` and the per-unit review, as library functions
//! the binary wires into clap. Each returns the text to print: a table for
//! terminals (bilingual headers) or JSON.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{json, Value};

use crate::queue::{self, Filter, StoreError};
use crate::time::Timestamp;

use super::{Action, Incident};

/// Parses a time for `--since`/`--until`: RFC 3339
/// (`2026-11-02T09:00:00+08:00`) or a date (`2026-11-02`, midnight UTC).
pub fn parse_time(s: &str) -> Result<Timestamp, StoreError> {
    let s = s.trim();
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(Timestamp::from_chrono(&dt));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(dt) = d.and_hms_opt(0, 0, 0) {
            return Ok(Timestamp::from_chrono(&dt.and_utc()));
        }
    }
    Err(StoreError::BadArgument(format!(
        "bad time {s:?}: expected RFC 3339 or YYYY-MM-DD / 时间格式错误"
    )))
}

/// Output format of `export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// A JSON array with evidence and timeline.
    Json,
    /// CSV, one incident per line (RFC 4180 quoting).
    Csv,
}

impl ExportFormat {
    /// Parses `json` or `csv`.
    pub fn parse(s: &str) -> Option<ExportFormat> {
        match s {
            "json" => Some(ExportFormat::Json),
            "csv" => Some(ExportFormat::Csv),
            _ => None,
        }
    }
}

fn width(s: &str) -> usize {
    // CJK characters take two terminal columns.
    s.chars()
        .map(|c| if (c as u32) >= 0x1100 { 2 } else { 1 })
        .sum()
}

fn pad(out: &mut String, s: &str, w: usize) {
    out.push_str(s);
    for _ in width(s)..w {
        out.push(' ');
    }
    out.push_str("  ");
}

fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(width(c));
        }
    }
    let mut out = String::new();
    for (h, w) in headers.iter().zip(&widths) {
        pad(&mut out, h, *w);
    }
    out = out.trim_end().to_string();
    out.push('\n');
    for r in rows {
        let mut line = String::new();
        for (c, w) in r.iter().zip(&widths) {
            pad(&mut line, c, *w);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `incidents list`: the incidents matching `filter`; with `json`, the
/// CONTRACT.md array.
pub fn list(db: &Path, filter: &Filter, json: bool, now: Timestamp) -> Result<String, StoreError> {
    let conn = queue::open_db(db)?;
    let incs = queue::list(&conn, filter)?;
    if json {
        let arr: Vec<Value> = incs.iter().map(|i| i.to_json(now)).collect();
        return Ok(Value::Array(arr).to_string());
    }
    let rows: Vec<Vec<String>> = incs
        .iter()
        .map(|i| {
            vec![
                i.id.to_string(),
                format!("{} {}", i.grade, i.grade.names().0),
                format!("{} {}", i.status, i.status.zh()),
                i.unit.clone().unwrap_or_else(|| "-".into()),
                i.alert_count.to_string(),
                i.last_seen.to_string(),
                if i.overdue(now) {
                    "OVERDUE 超时".into()
                } else {
                    String::new()
                },
                i.title_zh.clone(),
            ]
        })
        .collect();
    Ok(table(
        &[
            "ID",
            "等级 grade",
            "状态 status",
            "责任单位 unit",
            "告警 alerts",
            "最近 last seen",
            "上报 report",
            "标题 title",
        ],
        &rows,
    ))
}

/// One incident as JSON with its `evidence` and `timeline` (`show --json`,
/// `export`, and the API's `GET /api/v1/incidents/{id}`).
pub fn detail_json(
    conn: &rusqlite::Connection,
    i: &Incident,
    now: Timestamp,
) -> Result<Value, StoreError> {
    let mut v = i.to_json(now);
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "evidence".into(),
            Value::Array(
                queue::evidence(conn, i.id)?
                    .iter()
                    .map(|e| e.to_json())
                    .collect(),
            ),
        );
        o.insert(
            "timeline".into(),
            Value::Array(
                queue::timeline(conn, i.id)?
                    .iter()
                    .map(|t| t.to_json())
                    .collect(),
            ),
        );
    }
    Ok(v)
}

/// `incidents show ID`: everything about one incident.
pub fn show(db: &Path, id: i64, json: bool, now: Timestamp) -> Result<String, StoreError> {
    let conn = queue::open_db(db)?;
    let i = queue::load(&conn, id)?;
    if json {
        return Ok(detail_json(&conn, &i, now)?.to_string());
    }
    let mut out = String::new();
    let (gzh, gen) = i.grade.names();
    let _ = writeln!(
        out,
        "事件 Incident #{}  [{} {} / {}, {}]",
        i.id,
        i.grade,
        gzh,
        gen,
        i.colour().as_str()
    );
    let _ = writeln!(
        out,
        "标题 Title:      {}\n                 {}",
        i.title_zh, i.title
    );
    let _ = writeln!(
        out,
        "类别 Category:   {}  严重度 severity: {}",
        i.category, i.severity
    );
    let _ = writeln!(
        out,
        "状态 Status:     {} {}  处置人 assignee: {}",
        i.status,
        i.status.zh(),
        i.assignee.as_deref().unwrap_or("-")
    );
    let _ = writeln!(
        out,
        "责任单位 Unit:   {}  联系人 contact: {}",
        i.unit.as_deref().unwrap_or("-"),
        i.contact.as_deref().unwrap_or("-")
    );
    let _ = writeln!(out, "区域 Zones:      {}", i.zones.join(", "));
    let _ = writeln!(out, "单位 Units:      {}", i.units.join(", "));
    let ips = |v: &[std::net::IpAddr]| {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(out, "源 Sources:      {}", ips(&i.src_ips));
    let _ = writeln!(out, "目的 Targets:    {}", ips(&i.dest_ips));
    let _ = writeln!(
        out,
        "时间 Seen:       {} … {}  ({} alerts / 条告警)",
        i.first_seen, i.last_seen, i.alert_count
    );
    if let Some(d) = i.report_due {
        let _ = writeln!(
            out,
            "上报期限 Report due: {}{}",
            d,
            if i.overdue(now) {
                "  已超时 OVERDUE"
            } else {
                ""
            }
        );
    }
    let _ = writeln!(out, "\n证据 Evidence:");
    for e in queue::evidence(&conn, id)? {
        let _ = writeln!(
            out,
            "  {} {} sid {} {}{}{}",
            e.ts,
            e.source.as_str(),
            e.sid,
            e.signature,
            e.pcap_cnt
                .map(|c| format!(" pcap_cnt {c}"))
                .unwrap_or_default(),
            e.log_line.map(|l| format!(" | {l}")).unwrap_or_default()
        );
    }
    let _ = writeln!(out, "\n时间线 Timeline:");
    for t in queue::timeline(&conn, id)? {
        let _ = writeln!(out, "  {} {} {} {}", t.ts, t.actor, t.action, t.detail);
    }
    Ok(out)
}

/// `incidents ack|assign|start|resolve|false-positive|reopen|comment ID`:
/// performs the action as `actor` at `now`; returns a bilingual
/// confirmation (or the incident as JSON).
pub fn transition(
    db: &Path,
    id: i64,
    action: Action,
    actor: &str,
    arg: Option<&str>,
    json: bool,
    now: Timestamp,
) -> Result<String, StoreError> {
    let mut conn = queue::open_db(db)?;
    let i = queue::apply_action(&mut conn, id, action, actor, arg, now)?;
    if json {
        return Ok(i.to_json(now).to_string());
    }
    Ok(format!(
        "incident {} {}: status {} / 事件 {} 已{}，状态 {}\n",
        id,
        action.as_str(),
        i.status,
        id,
        match action {
            Action::Comment => "添加备注",
            Action::Assign => "指派",
            _ => "更新",
        },
        i.status.zh()
    ))
}

fn csv_field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// `incidents export --format json|csv`: every incident matching `filter`.
pub fn export(
    db: &Path,
    filter: &Filter,
    format: ExportFormat,
    now: Timestamp,
) -> Result<String, StoreError> {
    let conn = queue::open_db(db)?;
    let incs = queue::list(&conn, filter)?;
    match format {
        ExportFormat::Json => {
            let mut arr = Vec::with_capacity(incs.len());
            for i in &incs {
                arr.push(detail_json(&conn, i, now)?);
            }
            Ok(Value::Array(arr).to_string())
        }
        ExportFormat::Csv => {
            let mut out = String::from(
                "id,status,grade,colour,severity,category,title,title_zh,zones,units,unit,contact,assignee,src_ips,dest_ips,first_seen,last_seen,alert_count,report_due,overdue\n",
            );
            for i in &incs {
                let ips = |v: &[std::net::IpAddr]| {
                    v.iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                let fields = [
                    i.id.to_string(),
                    i.status.to_string(),
                    i.grade.to_string(),
                    i.colour().as_str().to_string(),
                    i.severity.to_string(),
                    i.category.clone(),
                    i.title.clone(),
                    i.title_zh.clone(),
                    i.zones.join(" "),
                    i.units.join(" "),
                    i.unit.clone().unwrap_or_default(),
                    i.contact.clone().unwrap_or_default(),
                    i.assignee.clone().unwrap_or_default(),
                    ips(&i.src_ips),
                    ips(&i.dest_ips),
                    i.first_seen.to_string(),
                    i.last_seen.to_string(),
                    i.alert_count.to_string(),
                    i.report_due.map(|t| t.to_string()).unwrap_or_default(),
                    i.overdue(now).to_string(),
                ];
                for (n, f) in fields.iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    csv_field(&mut out, f);
                }
                out.push('\n');
            }
            Ok(out)
        }
    }
}

/// `incidents summary`: per-unit open, overdue, mean time to acknowledge
/// and to resolve.
pub fn summary(db: &Path, json: bool, now: Timestamp) -> Result<String, StoreError> {
    let conn = queue::open_db(db)?;
    let s = queue::unit_summary(&conn, now)?;
    if json {
        let arr: Vec<Value> = s
            .iter()
            .map(|u| {
                json!({"unit": u.unit, "open": u.open, "overdue": u.overdue,
                       "mean_ack_secs": u.mean_ack_secs, "mean_resolve_secs": u.mean_resolve_secs})
            })
            .collect();
        return Ok(Value::Array(arr).to_string());
    }
    let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{:.0}", v));
    let rows: Vec<Vec<String>> = s
        .iter()
        .map(|u| {
            vec![
                u.unit.clone(),
                u.open.to_string(),
                u.overdue.to_string(),
                f(u.mean_ack_secs),
                f(u.mean_resolve_secs),
            ]
        })
        .collect();
    Ok(table(
        &[
            "责任单位 unit",
            "未关闭 open",
            "超时 overdue",
            "平均确认秒 MTTA s",
            "平均解决秒 MTTR s",
        ],
        &rows,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_or_name_the_input() {
        assert_eq!(
            parse_time("2026-11-02T09:00:00+08:00").unwrap(),
            Timestamp::from_secs_nanos(1_793_581_200, 0)
        );
        assert_eq!(
            parse_time("2026-11-02").unwrap(),
            Timestamp::from_secs_nanos(1_793_577_600, 0)
        );
        let e = parse_time("yesterday").unwrap_err().to_string();
        assert!(e.contains("\"yesterday\""), "{e}");
    }

    #[test]
    fn table_pads_cjk_by_display_width() {
        let t = table(
            &["ID", "标题 title"],
            &[
                vec!["1".into(), "违规外联".into()],
                vec!["22".into(), "x".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[1], "1   违规外联");
        assert_eq!(lines[2], "22  x");
        let mut out = String::new();
        csv_field(&mut out, "a,\"b\"");
        assert_eq!(out, "\"a,\"\"b\"\"\"");
    }
}
