//! Loading rule files: lines, continuations, comments, per-rule rejection
//! with file/line/sid/reason, duplicate sids, and the `check --json` view.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;

use super::classification::Classification;
use super::compile::{compile_rule, CompileCtx, MAX_RULE_LEN};
use super::error::RuleError;
use super::header::Action;
use super::rule::Rule;
use super::vars::ResolvedVars;

/// Largest rule file read (bigger files are refused as a whole).
pub const MAX_RULE_FILE: u64 = 256 * 1024 * 1024;

/// A rule that was not loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The file.
    pub file: Arc<str>,
    /// 1-based line the rule starts on (0: the file itself).
    pub line: usize,
    /// The sid, when it could be read.
    pub sid: Option<u32>,
    /// Why, naming the keyword.
    pub reason: String,
    /// The keyword (or `<pseudo keyword>`) the rejection is about.
    pub keyword: String,
}

/// The result of loading rule files.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    /// The accepted rules, in file order.
    pub rules: Vec<Rule>,
    /// The rejected rules.
    pub rejected: Vec<Rejected>,
    /// Files read.
    pub files: usize,
    /// Commented-out rules (`# alert ...`), not counted as active.
    pub disabled: usize,
}

impl LoadResult {
    /// Active rules seen: loaded plus rejected.
    pub fn active(&self) -> usize {
        self.rules.len() + self.rejected.len()
    }

    /// Rejections counted per keyword, most frequent first.
    pub fn rejections_by_keyword(&self) -> Vec<(String, usize)> {
        let mut m: HashMap<&str, usize> = HashMap::new();
        for r in &self.rejected {
            *m.entry(r.keyword.as_str()).or_default() += 1;
        }
        let mut v: Vec<(String, usize)> = m.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
}

/// Loads several rule files. A file that cannot be read is one rejection
/// with line 0; a bad rule is rejected alone; a later duplicate gid:sid is
/// rejected naming the first.
pub fn load_rule_files(
    paths: &[PathBuf],
    vars: &ResolvedVars,
    classification: &Classification,
) -> LoadResult {
    let mut res = LoadResult::default();
    let mut seen: HashMap<(u32, u32), (Arc<str>, usize)> = HashMap::new();
    let ctx = CompileCtx {
        vars,
        classification,
    };
    for path in paths {
        let file: Arc<str> = Arc::from(path.display().to_string());
        let text = match read_file(path) {
            Ok(t) => t,
            Err(reason) => {
                res.rejected.push(Rejected {
                    file,
                    line: 0,
                    sid: None,
                    reason,
                    keyword: "<file>".to_string(),
                });
                continue;
            }
        };
        res.files += 1;
        load_text(&text, &file, ctx, &mut seen, &mut res);
    }
    res
}

/// Loads rules from text (as if it were the file `file`).
pub fn load_rules_str(
    text: &str,
    file: &str,
    vars: &ResolvedVars,
    classification: &Classification,
) -> LoadResult {
    let mut res = LoadResult::default();
    let mut seen = HashMap::new();
    let ctx = CompileCtx {
        vars,
        classification,
    };
    load_text(text, &Arc::from(file), ctx, &mut seen, &mut res);
    res.files = 1;
    res
}

fn read_file(path: &std::path::Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read rule file: {e}"))?;
    if meta.len() > MAX_RULE_FILE {
        return Err(format!("rule file larger than {MAX_RULE_FILE} bytes"));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read rule file: {e}"))?;
    // Rule files are UTF-8; stray bytes (old files) are replaced, not fatal.
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// True when a comment line holds a disabled rule (`# alert ...`).
fn is_disabled_rule(comment: &str) -> bool {
    let t = comment.trim_start_matches('#').trim_start();
    t.split_whitespace()
        .next()
        .and_then(Action::from_name)
        .is_some()
        && t.contains('(')
}

fn load_text(
    text: &str,
    file: &Arc<str>,
    ctx: CompileCtx<'_>,
    seen: &mut HashMap<(u32, u32), (Arc<str>, usize)>,
    res: &mut LoadResult,
) {
    let mut pending = String::new();
    let mut start = 0;
    let mut too_long = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        if pending.is_empty() && !too_long {
            start = i + 1;
            let t = line.trim_start();
            if t.is_empty() {
                continue;
            }
            if t.starts_with('#') {
                if is_disabled_rule(t) {
                    res.disabled += 1;
                }
                continue;
            }
        }
        let (part, continues) = match line.strip_suffix('\\') {
            Some(p) => (p, true),
            None => (line, false),
        };
        if pending.len() + part.len() > MAX_RULE_LEN {
            too_long = true;
        } else {
            pending.push_str(part);
        }
        if continues {
            continue;
        }
        finish_rule(&pending, too_long, file, start, ctx, seen, res);
        pending.clear();
        too_long = false;
    }
    if !pending.is_empty() || too_long {
        finish_rule(&pending, too_long, file, start, ctx, seen, res);
    }
}

fn finish_rule(
    text: &str,
    too_long: bool,
    file: &Arc<str>,
    line: usize,
    ctx: CompileCtx<'_>,
    seen: &mut HashMap<(u32, u32), (Arc<str>, usize)>,
    res: &mut LoadResult,
) {
    let text = text.trim();
    let result = if too_long {
        Err(RuleError::TooLong(MAX_RULE_LEN))
    } else {
        compile_rule(text, Arc::clone(file), line, ctx)
    };
    // A rule the engine cannot run is rejected too, naming the keyword.
    let result = result.and_then(|rule| match super::engine::support::check(&rule) {
        Ok(_) => Ok(rule),
        Err(e) => Err(RuleError::NotRun {
            keyword: e.keyword,
            reason: e.reason,
        }),
    });
    let result = result.and_then(|rule| match seen.get(&(rule.gid, rule.sid)) {
        Some((f, l)) => Err(RuleError::DuplicateSid {
            sid: rule.sid,
            gid: rule.gid,
            first: format!("{f}:{l}"),
        }),
        None => {
            seen.insert((rule.gid, rule.sid), (Arc::clone(file), line));
            Ok(rule)
        }
    });
    match result {
        Ok(rule) => res.rules.push(rule),
        Err(e) => res.rejected.push(Rejected {
            file: Arc::clone(file),
            line,
            sid: find_sid(text),
            reason: e.to_string(),
            keyword: e.keyword().to_string(),
        }),
    }
}

/// Best-effort sid of a rule that failed to parse.
pub fn find_sid(text: &str) -> Option<u32> {
    let mut rest = text;
    while let Some(at) = rest.find("sid") {
        let before = rest.get(..at).and_then(|b| b.chars().last());
        let after = rest.get(at + 3..).unwrap_or("");
        rest = after;
        if before.is_some_and(|c| !(c == ';' || c == '(' || c.is_whitespace())) {
            continue;
        }
        let Some(v) = after.trim_start().strip_prefix(':') else {
            continue;
        };
        let digits: String = v
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(n) = digits.parse() {
            return Some(n);
        }
    }
    None
}

/// CONTRACT.md's `check --json` shape (the caller adds `config_errors`).
pub fn check_json(res: &LoadResult) -> serde_json::Value {
    let rejected: Vec<serde_json::Value> = res
        .rejected
        .iter()
        .map(|r| {
            json!({
                "file": &*r.file,
                "line": r.line,
                "sid": r.sid,
                "reason": r.reason,
            })
        })
        .collect();
    json!({
        "rules_loaded": res.rules.len(),
        "rules_rejected": res.rejected.len(),
        "rejected": rejected,
    })
}

/// One line per rejection for people: `file:line: sid N: reason` /
/// `文件:行: 规则 N 被拒绝: 原因`.
pub fn format_rejection(r: &Rejected) -> String {
    let sid = r.sid.map_or_else(|| "-".to_string(), |s| s.to_string());
    format!(
        "{}:{}: sid {sid}: rejected: {} / 规则被拒绝: {}",
        r.file, r.line, r.reason, r.reason
    )
}
