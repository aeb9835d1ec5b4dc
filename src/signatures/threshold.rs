//! `threshold` and `detection_filter` rule keywords, and Suricata's
//! threshold.config file (`suppress`, `threshold`, `event_filter`,
//! `rate_filter`).

use std::path::Path;

use thiserror::Error;

use super::addr::AddrSet;
use super::header::Action;
use super::rule::{DetectionFilter, Threshold, ThresholdKind, Track, UniqueOn};
use super::vars::ResolvedVars;

/// Largest threshold.config file read.
const MAX_FILE: u64 = 16 * 1024 * 1024;

/// Splits `key value, key value` into pairs; a pair without a value errors.
fn pairs(v: &str) -> Result<Vec<(&str, &str)>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut it = p.split_whitespace();
            match (it.next(), it.next(), it.next()) {
                (Some(k), Some(v), None) => Ok((k, v)),
                _ => Err(format!("expected 'name value', got '{p}'")),
            }
        })
        .collect()
}

fn number(key: &str, v: &str) -> Result<u32, String> {
    v.parse::<u32>()
        .ok()
        .ok_or_else(|| format!("{key} '{v}' is not a number"))
}

fn track(v: &str, allow_flow: bool) -> Result<Track, String> {
    Ok(match v {
        "by_src" => Track::BySrc,
        "by_dst" => Track::ByDst,
        "by_rule" => Track::ByRule,
        "by_both" => Track::ByBoth,
        "by_flow" if allow_flow => Track::ByFlow,
        other => return Err(format!("unknown track '{other}'")),
    })
}

fn set_once<T>(slot: &mut Option<T>, key: &str, v: T) -> Result<(), String> {
    if slot.replace(v).is_some() {
        return Err(format!("'{key}' given twice"));
    }
    Ok(())
}

/// Reads the fields of a threshold from pairs, ignoring the keys in `skip`.
fn threshold_fields(ps: &[(&str, &str)], skip: &[&str]) -> Result<Threshold, String> {
    let (mut kind, mut tr, mut count, mut seconds, mut mult) = (None, None, None, None, None);
    for &(k, v) in ps {
        match k {
            "type" => {
                let t = match v {
                    "limit" => ThresholdKind::Limit,
                    "threshold" => ThresholdKind::Threshold,
                    "both" => ThresholdKind::Both,
                    "backoff" => ThresholdKind::Backoff,
                    other => return Err(format!("unknown type '{other}'")),
                };
                set_once(&mut kind, k, t)?;
            }
            "track" => set_once(&mut tr, k, track(v, true)?)?,
            "count" => set_once(&mut count, k, number(k, v)?)?,
            "seconds" => set_once(&mut seconds, k, number(k, v)?)?,
            "multiplier" => set_once(&mut mult, k, number(k, v)?)?,
            k if skip.contains(&k) => {}
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    let kind = kind.ok_or("missing 'type'")?;
    let track = tr.ok_or("missing 'track'")?;
    let count = count.ok_or("missing 'count'")?;
    if count == 0 {
        return Err("count must be at least 1".to_string());
    }
    let (seconds, multiplier) = if kind == ThresholdKind::Backoff {
        if seconds.is_some() {
            return Err("backoff takes 'multiplier', not 'seconds'".to_string());
        }
        let m = mult.ok_or("backoff needs 'multiplier'")?;
        if m < 2 {
            return Err("multiplier must be at least 2".to_string());
        }
        (0, m)
    } else {
        if mult.is_some() {
            return Err("'multiplier' is only valid with type backoff".to_string());
        }
        (seconds.ok_or("missing 'seconds'")?, 0)
    };
    Ok(Threshold {
        kind,
        track,
        count,
        seconds,
        multiplier,
    })
}

/// Parses the value of the `threshold` rule keyword.
pub fn parse_threshold_value(v: &str) -> Result<Threshold, String> {
    threshold_fields(&pairs(v)?, &[])
}

/// Parses the value of the `detection_filter` rule keyword.
pub fn parse_detection_filter(v: &str) -> Result<DetectionFilter, String> {
    let (mut tr, mut count, mut seconds, mut unique) = (None, None, None, None);
    for (k, v) in pairs(v)? {
        match k {
            "track" => set_once(&mut tr, k, track(v, true)?)?,
            "count" => set_once(&mut count, k, number(k, v)?)?,
            "seconds" => set_once(&mut seconds, k, number(k, v)?)?,
            "unique_on" => {
                let u = match v {
                    "src_port" => UniqueOn::SrcPort,
                    "dst_port" => UniqueOn::DstPort,
                    other => return Err(format!("unknown unique_on '{other}'")),
                };
                set_once(&mut unique, k, u)?;
            }
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    let count = count.ok_or("missing 'count'")?;
    if count == 0 {
        return Err("count must be at least 1".to_string());
    }
    Ok(DetectionFilter {
        track: tr.ok_or("missing 'track'")?,
        count,
        seconds: seconds.ok_or("missing 'seconds'")?,
        unique_on: unique,
    })
}

/// Which address a `suppress` entry compares with `ip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuppressTrack {
    /// `track by_src`.
    BySrc,
    /// `track by_dst`.
    ByDst,
    /// `track by_either`.
    ByEither,
}

/// One entry of threshold.config. `gen_id`/`sig_id` 0 mean "all".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThresholdEntry {
    /// `suppress gen_id G, sig_id S[, track T, ip ADDR]`.
    Suppress {
        /// gid (0: all).
        gen_id: u32,
        /// sid (0: all).
        sig_id: u32,
        /// With `ip`: which side; without: every alert is suppressed.
        scope: Option<(SuppressTrack, AddrSet)>,
    },
    /// `threshold ...` or `event_filter ...`: overrides the rule's threshold.
    Threshold {
        /// gid (0: all).
        gen_id: u32,
        /// sid (0: all).
        sig_id: u32,
        /// The threshold.
        threshold: Threshold,
    },
    /// `rate_filter ...`: changes the action once a rate is exceeded.
    RateFilter {
        /// gid (0: all).
        gen_id: u32,
        /// sid (0: all).
        sig_id: u32,
        /// What is counted separately (by_src, by_dst, by_rule, by_both).
        track: Track,
        /// Matches allowed in `seconds`.
        count: u32,
        /// Window.
        seconds: u32,
        /// Action taken while the rate is exceeded.
        new_action: Action,
        /// How long the new action lasts.
        timeout: u32,
    },
}

/// A bad line of a threshold.config file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{file}:{line}: {reason}")]
pub struct ThresholdConfigError {
    /// The file.
    pub file: String,
    /// 1-based line (0: the file could not be read).
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// Parsed threshold.config: good entries with their line numbers, and the
/// errors of the lines skipped.
#[derive(Debug, Clone, Default)]
pub struct ThresholdConfig {
    /// (line, entry) in file order.
    pub entries: Vec<(usize, ThresholdEntry)>,
    /// Lines that were rejected.
    pub errors: Vec<ThresholdConfigError>,
}

impl ThresholdConfig {
    /// Reads a threshold.config file; an unreadable file is one error.
    pub fn from_file(path: &Path, vars: &ResolvedVars) -> Self {
        let file = path.display().to_string();
        let read = std::fs::metadata(path)
            .map_err(|e| format!("cannot read: {e}"))
            .and_then(|m| {
                if m.len() > MAX_FILE {
                    Err(format!("file larger than {MAX_FILE} bytes"))
                } else {
                    std::fs::read(path).map_err(|e| format!("cannot read: {e}"))
                }
            });
        match read {
            Ok(bytes) => Self::parse(&String::from_utf8_lossy(&bytes), &file, vars),
            Err(reason) => Self {
                entries: Vec::new(),
                errors: vec![ThresholdConfigError {
                    file,
                    line: 0,
                    reason,
                }],
            },
        }
    }

    /// Parses threshold.config text. Lines may continue with a trailing `\`.
    pub fn parse(text: &str, file: &str, vars: &ResolvedVars) -> Self {
        let mut out = Self::default();
        let mut pending = String::new();
        let mut start = 0;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_end();
            if pending.is_empty() {
                start = i + 1;
                let t = line.trim_start();
                if t.is_empty() || t.starts_with('#') {
                    continue;
                }
            }
            if let Some(cont) = line.strip_suffix('\\') {
                pending.push_str(cont);
                continue;
            }
            pending.push_str(line);
            match parse_entry(pending.trim(), vars) {
                Ok(e) => out.entries.push((start, e)),
                Err(reason) => out.errors.push(ThresholdConfigError {
                    file: file.to_string(),
                    line: start,
                    reason,
                }),
            }
            pending.clear();
        }
        if !pending.trim().is_empty() {
            out.errors.push(ThresholdConfigError {
                file: file.to_string(),
                line: start,
                reason: "file ends inside a continued line".to_string(),
            });
        }
        out
    }
}

fn ids(ps: &[(&str, &str)]) -> Result<(u32, u32), String> {
    let mut gen = None;
    let mut sig = None;
    for &(k, v) in ps {
        match k {
            "gen_id" => set_once(&mut gen, k, number(k, v)?)?,
            "sig_id" => set_once(&mut sig, k, number(k, v)?)?,
            _ => {}
        }
    }
    Ok((
        gen.ok_or("missing 'gen_id'")?,
        sig.ok_or("missing 'sig_id'")?,
    ))
}

fn parse_entry(line: &str, vars: &ResolvedVars) -> Result<ThresholdEntry, String> {
    let (kind, rest) = line
        .split_once(char::is_whitespace)
        .ok_or("expected 'suppress', 'threshold', 'event_filter' or 'rate_filter' with options")?;
    match kind {
        "suppress" => {
            // The ip value may be a list with commas: split it off first.
            let (head, ip) = match rest.find(" ip ").or_else(|| rest.find(",ip ")) {
                Some(at) => (
                    rest.get(..at).unwrap_or(""),
                    Some(rest.get(at + 4..).unwrap_or("").trim()),
                ),
                None => (rest, None),
            };
            let ps = pairs(head.trim().trim_end_matches(','))?;
            let (gen_id, sig_id) = ids(&ps)?;
            let mut tr = None;
            for &(k, v) in &ps {
                match k {
                    "gen_id" | "sig_id" => {}
                    "track" => {
                        let t = match v {
                            "by_src" => SuppressTrack::BySrc,
                            "by_dst" => SuppressTrack::ByDst,
                            "by_either" => SuppressTrack::ByEither,
                            other => return Err(format!("unknown track '{other}'")),
                        };
                        set_once(&mut tr, k, t)?;
                    }
                    other => return Err(format!("unknown option '{other}'")),
                }
            }
            let scope = match (tr, ip) {
                (None, None) => None,
                (Some(t), Some(ip)) => {
                    let set = vars
                        .address(ip)
                        .map_err(|e| format!("invalid ip '{ip}': {e}"))?;
                    Some((t, set))
                }
                (Some(_), None) => return Err("'track' needs 'ip'".to_string()),
                (None, Some(_)) => return Err("'ip' needs 'track'".to_string()),
            };
            Ok(ThresholdEntry::Suppress {
                gen_id,
                sig_id,
                scope,
            })
        }
        "threshold" | "event_filter" => {
            let ps = pairs(rest)?;
            let (gen_id, sig_id) = ids(&ps)?;
            let threshold = threshold_fields(&ps, &["gen_id", "sig_id"])?;
            Ok(ThresholdEntry::Threshold {
                gen_id,
                sig_id,
                threshold,
            })
        }
        "rate_filter" => {
            let ps = pairs(rest)?;
            let (gen_id, sig_id) = ids(&ps)?;
            let (mut tr, mut count, mut seconds, mut action, mut timeout) =
                (None, None, None, None, None);
            for &(k, v) in &ps {
                match k {
                    "gen_id" | "sig_id" => {}
                    "track" => set_once(&mut tr, k, track(v, false)?)?,
                    "count" => set_once(&mut count, k, number(k, v)?)?,
                    "seconds" => set_once(&mut seconds, k, number(k, v)?)?,
                    "timeout" => set_once(&mut timeout, k, number(k, v)?)?,
                    "new_action" => {
                        let a = match v {
                            "alert" => Action::Alert,
                            "drop" => Action::Drop,
                            "pass" => Action::Pass,
                            "reject" => Action::Reject,
                            other => return Err(format!("unsupported new_action '{other}'")),
                        };
                        set_once(&mut action, k, a)?;
                    }
                    other => return Err(format!("unknown option '{other}'")),
                }
            }
            Ok(ThresholdEntry::RateFilter {
                gen_id,
                sig_id,
                track: tr.ok_or("missing 'track'")?,
                count: count.ok_or("missing 'count'")?,
                seconds: seconds.ok_or("missing 'seconds'")?,
                new_action: action.ok_or("missing 'new_action'")?,
                timeout: timeout.ok_or("missing 'timeout'")?,
            })
        }
        other => Err(format!("unknown entry type '{other}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::vars::Vars;
    use super::*;

    #[test]
    fn rule_keywords() {
        let t = parse_threshold_value("type limit, track by_src, seconds 60, count 1").unwrap();
        assert_eq!(
            (t.kind, t.track, t.count, t.seconds),
            (ThresholdKind::Limit, Track::BySrc, 1, 60)
        );
        let b =
            parse_threshold_value("type backoff, track by_flow, count 1, multiplier 10").unwrap();
        assert_eq!((b.kind, b.multiplier), (ThresholdKind::Backoff, 10));
        assert!(parse_threshold_value("type limit, track by_src, count 1").is_err());
        assert!(parse_threshold_value("type often, track by_src, count 1, seconds 1").is_err());
        assert!(
            parse_threshold_value("type limit, track by_src, count 1, seconds 1, count 2").is_err()
        );
        let d = parse_detection_filter("track by_dst, count 10, seconds 60, unique_on dst_port")
            .unwrap();
        assert_eq!(d.unique_on, Some(UniqueOn::DstPort));
        assert!(parse_detection_filter("track by_dst, count 10").is_err());
    }

    #[test]
    fn config_file() {
        let vars = Vars::suricata_defaults().resolve();
        let text = "# comment\n\
            suppress gen_id 1, sig_id 2002087, track by_src, ip 10.1.1.0/24\n\
            suppress gen_id 1, sig_id 2003614, track by_dst, ip [10.0.0.1, $HOME_NET]\n\
            suppress gen_id 1, sig_id 2000\n\
            threshold gen_id 1, sig_id 10, type limit, track by_src, \\\n  count 1, seconds 60\n\
            event_filter gen_id 0, sig_id 0, type both, track by_dst, count 5, seconds 30\n\
            rate_filter gen_id 1, sig_id 1000, track by_rule, count 100, seconds 60, new_action drop, timeout 30\n\
            suppress gen_id 1, sig_id 5, track by_src\n\
            threshold gen_id 1, sig_id 10, type limit\n\
            bogus x 1\n";
        let c = ThresholdConfig::parse(text, "threshold.config", &vars);
        assert_eq!(c.entries.len(), 6, "{:?}", c.errors);
        assert_eq!(c.entries[3].0, 5);
        assert!(matches!(
            c.entries[1].1,
            ThresholdEntry::Suppress { scope: Some(_), .. }
        ));
        let lines: Vec<usize> = c.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![9, 10, 11]);
        assert!(c.errors[0].to_string().starts_with("threshold.config:9:"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,120}") {
            let vars = ResolvedVars::default();
            let _ = ThresholdConfig::parse(&s, "f", &vars);
            let _ = parse_threshold_value(&s);
            let _ = parse_detection_filter(&s);
        }
    }
}
