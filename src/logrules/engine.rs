//! The log-rule engine: detection rules indexed by logsource, correlation
//! state bounded and kept in log time.
//!
//! For each line the engine picks the candidate rules (those of the line's
//! program, the firewall rules when a firewall decoder recognised it, and
//! the rules that look at every line), evaluates them in rule order, feeds
//! matches into the correlations that reference them, and appends alerts.
//! Results depend only on the input lines, never on the wall clock.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

use super::condition::Quant;
use super::rule::{
    CCond, CorrelationKind, CorrelationRule, DetectionRule, FieldRef, LoadReport, Rejected, Rule,
    RuleError, RuleMeta, RuleSet, Scope, Search, ValueTest,
};
use crate::alert::{Action, Alert, AlertAddrs, AlertSource, LogInfo};
use crate::syslog::decode::{LogEvent, LogKind};
use crate::syslog::SyslogMessage;
use crate::taxonomy::Taxonomy;
use crate::time::Timestamp;

/// Most group keys one correlation keeps; more are dropped and counted.
pub const MAX_GROUPS: usize = 65_536;
/// Most events (or values) one group keeps within its timespan.
pub const MAX_EVENTS_PER_GROUP: usize = 4_096;
/// Longest message copied into an alert's `log.message` (bytes).
pub const MAX_ALERT_MESSAGE: usize = 4_096;
/// Sweep expired groups at least every this many correlation inputs.
const SWEEP_EVERY: u64 = 8_192;
/// Correlations of correlations deeper than this are not followed.
const MAX_CHAIN: usize = 8;

/// What the engine knows about a line besides the message.
#[derive(Clone, Debug)]
pub struct LineContext<'a> {
    /// When the line was received; the log time when the message has no
    /// time stamp.
    pub received: Timestamp,
    /// The logging host's address (from the config's host names, or the
    /// sender).
    pub host_ip: Option<IpAddr>,
    /// The zone of that address, if known.
    pub zone: Option<&'a str>,
}

/// Engine counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Lines seen.
    pub lines: u64,
    /// Detection rule evaluations.
    pub evaluations: u64,
    /// Detection matches.
    pub matches: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// Correlation inputs dropped because a correlation had [`MAX_GROUPS`] groups.
    pub groups_capped: u64,
    /// Events forgotten because a group held [`MAX_EVENTS_PER_GROUP`].
    pub events_capped: u64,
    /// Correlation inputs ignored because a group-by field was absent.
    pub missing_group_field: u64,
}

/// Per-rule alert template.
#[derive(Clone, Debug)]
struct Template {
    sid: u32,
    signature: Arc<str>,
    category: Arc<str>,
    severity: u8,
    metadata: Vec<(Arc<str>, Vec<Arc<str>>)>,
}

impl Template {
    fn new(meta: &RuleMeta, correlation: Option<&str>) -> Self {
        let tax = &*meta.taxonomy;
        let category: Arc<str> = match Taxonomy::builtin().names(tax) {
            Some((zh, en)) => Arc::from(format!("{en} ({zh})")),
            None => Arc::from(tax),
        };
        let mut metadata: Vec<(Arc<str>, Vec<Arc<str>>)> =
            vec![(Arc::from("taxonomy"), vec![meta.taxonomy.clone()])];
        if let Some(id) = &meta.id {
            metadata.push((Arc::from("sigma_id"), vec![Arc::from(id.as_str())]));
        }
        metadata.push((
            Arc::from("sigma_level"),
            vec![Arc::from(meta.level.as_str())],
        ));
        let mitre: Vec<Arc<str>> = meta
            .tags
            .iter()
            .filter(|t| t.starts_with("attack."))
            .map(|t| Arc::from(t.as_str()))
            .collect();
        if !mitre.is_empty() {
            metadata.push((Arc::from("mitre"), mitre));
        }
        if let Some(c) = correlation {
            metadata.push((Arc::from("sigma_correlation"), vec![Arc::from(c)]));
        }
        Template {
            sid: meta.sid,
            signature: meta.title.clone(),
            category,
            severity: meta.level.severity(),
            metadata,
        }
    }
}

/// Correlation state of one group.
#[derive(Debug)]
enum Group {
    /// Times of the counted events.
    Count(VecDeque<i64>),
    /// (time, value) of the counted values.
    Values(VecDeque<(i64, String)>),
    /// Per referenced rule: latest time seen (temporal) or start time of
    /// the ordered chain reaching it (temporal_ordered).
    Temporal(Vec<Option<i64>>),
}

#[derive(Debug)]
struct GroupEntry {
    last: i64,
    /// Inputs up to this log time are absorbed by the last alert's window.
    quiet_until: Option<i64>,
    state: Group,
}

#[derive(Debug)]
struct Corr {
    rule: CorrelationRule,
    template: Template,
    emit: bool,
    groups: HashMap<String, GroupEntry>,
    inputs: u64,
    /// Group-by fields, resolved once.
    group_refs: Vec<FieldRef>,
    /// The counted field of `value_count`.
    value_ref: Option<FieldRef>,
}

/// A referenced rule: a detection or a correlation, by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Node {
    Det(usize),
    Corr(usize),
}

/// One line as the rules see it.
struct Line<'l, 'm> {
    msg: &'l SyslogMessage<'m>,
    ev: Option<&'l LogEvent>,
    prog: &'l str,
}

impl Line<'_, '_> {
    fn text(&self) -> &str {
        self.msg.msg.trim_start_matches('\u{feff}')
    }

    fn field(&self, f: &FieldRef) -> Option<Cow<'_, str>> {
        match f {
            FieldRef::Event(n) => self.ev.and_then(|e| e.field(n)),
            FieldRef::Message => Some(Cow::Borrowed(self.text())),
            FieldRef::Host => self.msg.hostname.as_deref().map(Cow::Borrowed),
            FieldRef::Program => self
                .ev
                .and_then(|e| e.program.as_deref())
                .or(self.msg.app_name.as_deref())
                .map(Cow::Borrowed),
            FieldRef::Pid => self.msg.procid.as_deref().map(Cow::Borrowed),
            FieldRef::MsgId => self.msg.msgid.as_deref().map(Cow::Borrowed),
            FieldRef::Facility => self.msg.facility.map(|x| Cow::Owned(x.to_string())),
            FieldRef::Severity => self.msg.severity.map(|x| Cow::Owned(x.to_string())),
            FieldRef::Action => match self.ev.map(|e| e.kind) {
                Some(LogKind::FirewallDeny) => Some(Cow::Borrowed("deny")),
                Some(LogKind::FirewallAllow) => Some(Cow::Borrowed("allow")),
                _ => None,
            },
        }
    }
}

/// `sshd(pam_unix)` → `sshd`, `/usr/sbin/sshd` → `sshd`.
fn program_name(app: &str) -> &str {
    let a = app.rsplit('/').next().unwrap_or(app);
    a.split(['(', '[']).next().unwrap_or(a)
}

fn test_value(t: &ValueTest, v: Option<Cow<'_, str>>) -> bool {
    match t {
        ValueTest::Any(ms) => v.is_some_and(|v| ms.iter().any(|m| m.matches(&v))),
        ValueTest::All(ms) => v.is_some_and(|v| ms.iter().all(|m| m.matches(&v))),
        ValueTest::Exists(b) => v.is_some() == *b,
        ValueTest::Null => v.is_none_or(|v| v.is_empty()),
    }
}

fn eval_search(s: &Search, line: &Line<'_, '_>) -> bool {
    match s {
        Search::Maps(maps) => maps.iter().any(|m| {
            m.iter()
                .all(|ft| test_value(&ft.test, line.field(&ft.field)))
        }),
        Search::Keywords(t) => test_value(t, Some(Cow::Borrowed(line.text()))),
    }
}

fn eval(c: &CCond, searches: &[Search], line: &Line<'_, '_>) -> bool {
    let one = |i: &usize| searches.get(*i).is_some_and(|s| eval_search(s, line));
    match c {
        CCond::Search(i) => one(i),
        CCond::Of(Quant::All, v) => v.iter().all(one),
        CCond::Of(Quant::AtLeast(n), v) => v.iter().filter(|i| one(i)).take(*n).count() >= *n,
        CCond::Not(x) => !eval(x, searches, line),
        CCond::And(v) => v.iter().all(|x| eval(x, searches, line)),
        CCond::Or(v) => v.iter().any(|x| eval(x, searches, line)),
    }
}

/// Compiled rules and correlation state.
#[derive(Debug)]
pub struct Engine {
    dets: Vec<(DetectionRule, Template, bool)>,
    corrs: Vec<Corr>,
    /// Correlations fed by each detection: (correlation, position in its `rules`).
    det_feeds: Vec<Vec<(usize, usize)>>,
    /// Correlations fed by each correlation.
    corr_feeds: Vec<Vec<(usize, usize)>>,
    all: Vec<usize>,
    firewall: Vec<usize>,
    by_prog: HashMap<String, Vec<usize>>,
    scratch: Vec<usize>,
    report: LoadReport,
    stats: EngineStats,
}

impl Engine {
    /// Build the engine from a loaded rule set. Correlation references are
    /// resolved here (by `name`, then `id`); a correlation naming an
    /// unknown rule is rejected and added to the report.
    pub fn new(set: RuleSet) -> Engine {
        let RuleSet { rules, mut report } = set;
        let mut dets = Vec::new();
        let mut corr_rules = Vec::new();
        for r in rules {
            match r {
                Rule::Detection(d) => dets.push(d),
                Rule::Correlation(c) => corr_rules.push(c),
            }
        }
        // Resolve references; drop correlations that cannot be resolved
        // (repeat: dropping one may orphan another).
        let mut refs: Vec<Option<Vec<Node>>>;
        loop {
            let lookup = |name: &str| -> Option<Node> {
                let hit =
                    |m: &RuleMeta| m.name.as_deref() == Some(name) || m.id.as_deref() == Some(name);
                dets.iter()
                    .position(|d| hit(&d.meta))
                    .map(Node::Det)
                    .or_else(|| {
                        corr_rules
                            .iter()
                            .position(|c: &CorrelationRule| hit(&c.meta))
                            .map(Node::Corr)
                    })
            };
            refs = corr_rules
                .iter()
                .map(|c| {
                    c.rules
                        .iter()
                        .map(|n| lookup(n))
                        .collect::<Option<Vec<_>>>()
                })
                .collect();
            let bad: Vec<usize> = refs
                .iter()
                .enumerate()
                .filter(|(_, r)| r.is_none())
                .map(|(i, _)| i)
                .collect();
            if bad.is_empty() {
                break;
            }
            for &i in bad.iter().rev() {
                let c = corr_rules.remove(i);
                let missing = c
                    .rules
                    .iter()
                    .find(|n| {
                        !dets.iter().any(|d| {
                            d.meta.name.as_deref() == Some(n.as_str())
                                || d.meta.id.as_deref() == Some(n.as_str())
                        }) && !corr_rules.iter().any(|o| {
                            o.meta.name.as_deref() == Some(n.as_str())
                                || o.meta.id.as_deref() == Some(n.as_str())
                        })
                    })
                    .cloned()
                    .unwrap_or_default();
                report.loaded = report.loaded.saturating_sub(1);
                report.rejected.push(Rejected {
                    file: c.meta.file.to_string(),
                    doc: c.meta.doc,
                    line: c.meta.line,
                    id: c.meta.id.clone(),
                    title: Some(c.meta.title.to_string()),
                    sid: Some(c.meta.sid),
                    error: RuleError::UnknownReference(missing),
                });
            }
        }
        let mut det_feeds = vec![Vec::new(); dets.len()];
        let mut corr_feeds = vec![Vec::new(); corr_rules.len()];
        let mut det_emit = vec![true; dets.len()];
        let mut corr_emit = vec![true; corr_rules.len()];
        for (ci, r) in refs.iter().enumerate() {
            let generate = corr_rules.get(ci).is_some_and(|c| c.generate);
            for (pos, node) in r.iter().flatten().enumerate() {
                match *node {
                    Node::Det(d) => {
                        if let Some(v) = det_feeds.get_mut(d) {
                            v.push((ci, pos));
                        }
                        if !generate {
                            if let Some(e) = det_emit.get_mut(d) {
                                *e = false;
                            }
                        }
                    }
                    Node::Corr(c) => {
                        if let Some(v) = corr_feeds.get_mut(c) {
                            v.push((ci, pos));
                        }
                        if !generate {
                            if let Some(e) = corr_emit.get_mut(c) {
                                *e = false;
                            }
                        }
                    }
                }
            }
        }
        let mut all = Vec::new();
        let mut firewall = Vec::new();
        let mut by_prog: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, d) in dets.iter().enumerate() {
            match &d.scope {
                Scope::All => all.push(i),
                Scope::Firewall => firewall.push(i),
                Scope::Programs(ps) => {
                    for p in ps {
                        by_prog.entry(p.to_ascii_lowercase()).or_default().push(i);
                    }
                }
            }
        }
        let dets = dets
            .into_iter()
            .zip(det_emit)
            .map(|(d, e)| {
                let t = Template::new(&d.meta, None);
                (d, t, e)
            })
            .collect();
        let corrs = corr_rules
            .into_iter()
            .zip(corr_emit)
            .map(|(rule, emit)| {
                let ty = match &rule.kind {
                    CorrelationKind::EventCount => "event_count",
                    CorrelationKind::ValueCount(_) => "value_count",
                    CorrelationKind::Temporal => "temporal",
                    CorrelationKind::TemporalOrdered => "temporal_ordered",
                };
                let group_refs = rule
                    .group_by
                    .iter()
                    .filter_map(|g| super::fields::field_ref(g))
                    .collect();
                let value_ref = match &rule.kind {
                    CorrelationKind::ValueCount(f) => super::fields::field_ref(f),
                    _ => None,
                };
                Corr {
                    group_refs,
                    value_ref,
                    template: Template::new(&rule.meta, Some(ty)),
                    rule,
                    emit,
                    groups: HashMap::new(),
                    inputs: 0,
                }
            })
            .collect();
        Engine {
            dets,
            corrs,
            det_feeds,
            corr_feeds,
            all,
            firewall,
            by_prog,
            scratch: Vec::new(),
            report,
            stats: EngineStats::default(),
        }
    }

    /// The load report (including correlations rejected at resolution).
    pub fn report(&self) -> &LoadReport {
        &self.report
    }

    /// Counters.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// Number of detection and correlation rules in use.
    pub fn rule_count(&self) -> usize {
        self.dets.len() + self.corrs.len()
    }

    /// Correlation groups currently held (all correlations).
    pub fn groups_held(&self) -> usize {
        self.corrs.iter().map(|c| c.groups.len()).sum()
    }

    /// Run the rules over one parsed line; alerts are appended to `out`.
    pub fn on_line(
        &mut self,
        msg: &SyslogMessage<'_>,
        ev: Option<&LogEvent>,
        ctx: &LineContext<'_>,
        out: &mut Vec<Alert>,
    ) {
        self.stats.lines += 1;
        let raw_prog = ev
            .and_then(|e| e.program.as_deref())
            .or(msg.app_name.as_deref())
            .map(program_name)
            .unwrap_or("");
        let lowered;
        let prog: &str = if raw_prog.bytes().any(|b| b.is_ascii_uppercase()) {
            lowered = raw_prog.to_ascii_lowercase();
            &lowered
        } else {
            raw_prog
        };
        let is_fw = ev.is_some_and(|e| {
            matches!(
                e.kind,
                LogKind::FirewallDeny | LogKind::FirewallAllow | LogKind::FirewallLog
            )
        });
        let mut cand = std::mem::take(&mut self.scratch);
        cand.clear();
        cand.extend_from_slice(&self.all);
        if let Some(v) = self.by_prog.get(prog) {
            cand.extend_from_slice(v);
        }
        if is_fw {
            cand.extend_from_slice(&self.firewall);
        }
        cand.sort_unstable();
        cand.dedup();
        let line = Line { msg, ev, prog };
        let t = msg
            .timestamp
            .as_ref()
            .map(Timestamp::from_chrono)
            .unwrap_or(ctx.received);
        for &i in &cand {
            let Some((d, tpl, emit)) = self.dets.get(i) else {
                continue;
            };
            self.stats.evaluations += 1;
            if !eval(&d.cond, &d.searches, &line) {
                continue;
            }
            self.stats.matches += 1;
            if *emit {
                out.push(make_alert(tpl, &line, ctx, t));
                self.stats.alerts += 1;
            }
            let n_feeds = self.det_feeds.get(i).map_or(0, Vec::len);
            for k in 0..n_feeds {
                if let Some(&(ci, pos)) = self.det_feeds.get(i).and_then(|v| v.get(k)) {
                    self.feed(ci, pos, &line, ctx, t, out, 0);
                }
            }
        }
        self.scratch = cand;
    }

    #[allow(clippy::too_many_arguments)]
    fn feed(
        &mut self,
        ci: usize,
        pos: usize,
        line: &Line<'_, '_>,
        ctx: &LineContext<'_>,
        t: Timestamp,
        out: &mut Vec<Alert>,
        depth: usize,
    ) {
        if depth > MAX_CHAIN {
            return;
        }
        let Some(c) = self.corrs.get_mut(ci) else {
            return;
        };
        let secs = t.secs();
        // Group key: the group-by values joined by U+001F.
        let mut key = String::new();
        for (k, g) in c.group_refs.iter().enumerate() {
            match line.field(g) {
                Some(v) => {
                    if k > 0 {
                        key.push('\u{1f}');
                    }
                    key.push_str(&v);
                }
                None => {
                    self.stats.missing_group_field += 1;
                    return;
                }
            }
        }
        c.inputs += 1;
        let span = c.rule.timespan;
        if c.inputs % SWEEP_EVERY == 0
            || (c.groups.len() >= MAX_GROUPS && !c.groups.contains_key(&key))
        {
            c.groups.retain(|_, g| secs.saturating_sub(g.last) <= span);
        }
        if c.groups.len() >= MAX_GROUPS && !c.groups.contains_key(&key) {
            self.stats.groups_capped += 1;
            return;
        }
        let n_rules = c.rule.rules.len();
        let kind = &c.rule.kind;
        let cond = &c.rule.condition;
        let entry = c.groups.entry(key).or_insert_with(|| GroupEntry {
            last: secs,
            quiet_until: None,
            state: match kind {
                CorrelationKind::EventCount => Group::Count(VecDeque::new()),
                CorrelationKind::ValueCount(_) => Group::Values(VecDeque::new()),
                _ => Group::Temporal(vec![None; n_rules]),
            },
        });
        entry.last = secs;
        // After an alert the group is quiet until the timespan that started
        // with the alert's first event is over: one alert per window, as
        // GROUND_TRUTH.md counts "non-overlapping" alerts.
        if entry.quiet_until.is_some_and(|q| secs <= q) {
            return;
        }
        entry.quiet_until = None;
        let fired: Option<i64> = match (&mut entry.state, kind) {
            (Group::Count(q), _) => {
                q.push_back(secs);
                while q.front().is_some_and(|&x| secs.saturating_sub(x) > span) {
                    q.pop_front();
                }
                if q.len() > MAX_EVENTS_PER_GROUP {
                    q.pop_front();
                    self.stats.events_capped += 1;
                }
                let n = q.len() as u64;
                let start = q.front().copied();
                if cond.iter().all(|(op, v)| op.eval(n, *v)) {
                    q.clear();
                    start
                } else {
                    None
                }
            }
            (Group::Values(q), CorrelationKind::ValueCount(_)) => {
                let Some(v) = c.value_ref.as_ref().and_then(|f| line.field(f)) else {
                    return;
                };
                q.retain(|(_, x)| *x != *v);
                q.push_back((secs, v.into_owned()));
                while q
                    .front()
                    .is_some_and(|&(x, _)| secs.saturating_sub(x) > span)
                {
                    q.pop_front();
                }
                if q.len() > MAX_EVENTS_PER_GROUP {
                    q.pop_front();
                    self.stats.events_capped += 1;
                }
                let n = q.len() as u64;
                let start = q.iter().map(|&(x, _)| x).min();
                if cond.iter().all(|(op, v)| op.eval(n, *v)) {
                    q.clear();
                    start
                } else {
                    None
                }
            }
            (Group::Temporal(seen), CorrelationKind::TemporalOrdered) => {
                for s in seen.iter_mut() {
                    if s.is_some_and(|x| secs.saturating_sub(x) > span) {
                        *s = None;
                    }
                }
                let start = if pos == 0 {
                    Some(secs)
                } else {
                    seen.get(pos - 1).copied().flatten()
                };
                if let (Some(st), Some(slot)) = (start, seen.get_mut(pos)) {
                    *slot = Some(st);
                }
                let done = seen.last().copied().flatten();
                if done.is_some() {
                    seen.iter_mut().for_each(|s| *s = None);
                }
                done
            }
            (Group::Temporal(seen), _) => {
                if let Some(slot) = seen.get_mut(pos) {
                    *slot = Some(secs);
                }
                for s in seen.iter_mut() {
                    if s.is_some_and(|x| secs.saturating_sub(x) > span) {
                        *s = None;
                    }
                }
                let start = seen.iter().copied().flatten().min();
                if seen.iter().all(Option::is_some)
                    && cond.iter().all(|(op, v)| op.eval(n_rules as u64, *v))
                {
                    seen.iter_mut().for_each(|s| *s = None);
                    start
                } else {
                    None
                }
            }
            (Group::Values(_), _) => None,
        };
        let Some(start) = fired else {
            return;
        };
        entry.quiet_until = Some(start.saturating_add(span));
        if c.emit {
            out.push(make_alert(&c.template, line, ctx, t));
            self.stats.alerts += 1;
        }
        let n_feeds = self.corr_feeds.get(ci).map_or(0, Vec::len);
        for k in 0..n_feeds {
            if let Some(&(cj, p)) = self.corr_feeds.get(ci).and_then(|v| v.get(k)) {
                self.feed(cj, p, line, ctx, t, out, depth + 1);
            }
        }
    }
}

fn proto_number(ev: &LogEvent) -> Option<u8> {
    match ev.proto.as_deref() {
        Some("tcp") => Some(6),
        Some("udp") => Some(17),
        Some("icmp") => Some(1),
        Some("icmpv6" | "ipv6-icmp") => Some(58),
        Some(p) => p.parse().ok(),
        None => matches!(
            ev.kind,
            LogKind::SshAccepted
                | LogKind::SshFailed
                | LogKind::SshInvalidUser
                | LogKind::SshDisconnect
                | LogKind::SshMaxAuthAttempts
                | LogKind::SshConnectionClosed
        )
        .then_some(6),
    }
}

fn make_alert(tpl: &Template, line: &Line<'_, '_>, ctx: &LineContext<'_>, t: Timestamp) -> Alert {
    let ev = line.ev;
    let addrs = AlertAddrs {
        src_ip: ev.and_then(|e| e.src_ip),
        src_port: ev.and_then(|e| e.src_port).unwrap_or(0),
        dest_ip: ev.and_then(|e| e.dst_ip).or(ctx.host_ip),
        dest_port: ev.and_then(|e| e.dst_port).unwrap_or(0),
        proto: ev.and_then(proto_number),
    };
    let text = line.text();
    let mut cut = text.len().min(MAX_ALERT_MESSAGE);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut metadata = tpl.metadata.clone();
    if let Some(z) = ctx.zone {
        metadata.push((Arc::from("zone"), vec![Arc::from(z)]));
    }
    Alert {
        ts: t,
        source: AlertSource::Log,
        flow_id: None,
        pcap_cnt: None,
        addrs,
        ether: None,
        vlans: Vec::new(),
        action: Action::Allowed,
        gid: 1,
        sid: tpl.sid,
        rev: 1,
        signature: tpl.signature.clone(),
        category: tpl.category.clone(),
        severity: tpl.severity,
        metadata,
        policy: None,
        app_proto: None,
        log: Some(LogInfo {
            host: line.msg.hostname.as_deref().map(str::to_owned),
            program: if line.prog.is_empty() {
                None
            } else {
                Some(line.prog.to_owned())
            },
            message: text.get(..cut).unwrap_or_default().to_owned(),
        }),
    }
}
