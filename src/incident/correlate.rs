//! Correlation: alerts with one cause join one incident.
//!
//! The cause is the key `(category, source address, target)`, where the
//! target is the destination host, or for sweeping categories (scans,
//! floods) the destination zone. An incident stays open while alerts keep
//! coming: a gap longer than the window (default 15 minutes, in alert time,
//! never the wall clock) closes it and the next alert opens a new one. The
//! index of open incidents is capped; when full, the incident quiet the
//! longest is closed first and counted.
//!
//! Generic zone-policy findings about the same packets as a specific
//! detection (a port scan into another zone is also a series of
//! cross-zone violations; a bot calling out is also an unauthorized
//! outbound connection) are one cause: alerts of a *secondary* category
//! join an open incident of any category with the same source and target
//! (host or zone), and an incident opened by secondary alerts is refined to
//! the specific category when the specific detection fires — provided the
//! two findings are close in time (`cross_window_secs`): a cross-zone
//! connection at 10:02 and a brute force from the same host at 10:15 are
//! two causes.
//!
//! Some specific categories are the next stage of another (*escalations*):
//! a brute force followed by a successful login from the same source on the
//! same host is one abnormal-login incident, not two.
//!
//! A log alert that names no source (a journald vacuum line next to the
//! `history -c` that named the session's address) joins the open incident
//! of its category and target, and an incident opened by such an alert takes
//! the source of the next alert that names one. Floods, keyed without the
//! source, are told apart by their vector (IP protocol): a SYN flood and an
//! ICMP flood on one server are two incidents with two different remedies.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::alert::Alert;
use crate::policy::{ZoneInfo, ZonePolicy};
use crate::time::Timestamp;

use super::grade::{Categories, GradeMatrix};
use super::lifecycle::Status;
use super::route::{route, target_ip, Route};
use super::{Evidence, Incident, IncidentUpdate, TimelineEntry, MAX_IPS};

/// Upper bound of zones and units listed per incident.
const MAX_ZONES: usize = 16;
/// Upper bound of distinct categories interned (the taxonomy has ~45).
const MAX_CATEGORIES: usize = 1024;
/// Longest log line kept as evidence, in bytes.
const MAX_LOG_LINE: usize = 512;
/// Upper bound of (source, target) links per incident.
const MAX_LINKS: usize = 64;
/// Category used for alerts without a taxonomy id.
const OTHER: &str = "other/other";

/// Correlator settings.
#[derive(Clone, Debug)]
pub struct CorrelatorConfig {
    /// Quiet time after which an incident's window closes, in seconds.
    pub window_secs: i64,
    /// Upper bound of open incidents held in memory.
    pub max_open: usize,
    /// Alerts kept as evidence per incident (the first N).
    pub max_evidence: u64,
    /// Categories keyed by target zone instead of host.
    pub sweep_categories: Vec<String>,
    /// Categories keyed without the source (floods from spoofed or many
    /// sources are one cause: the target).
    pub sourceless_categories: Vec<String>,
    /// Generic categories that join (and yield to) a specific detection of
    /// the same source and target.
    pub secondary_categories: Vec<String>,
    /// Largest gap, in seconds of alert time, between a secondary finding
    /// and a specific detection for them to be one cause.
    pub cross_window_secs: i64,
    /// `(earlier stage, later stage)` category pairs: an open incident of
    /// the earlier stage is refined to the later one when it fires for the
    /// same source and target, and later alerts of the earlier stage join it.
    pub escalations: Vec<(String, String)>,
    /// Grading.
    pub matrix: GradeMatrix,
}

impl Default for CorrelatorConfig {
    fn default() -> Self {
        CorrelatorConfig {
            window_secs: 15 * 60,
            max_open: 65_536,
            max_evidence: 20,
            sweep_categories: vec!["network_attack/scan".into(), "network_attack/dos".into()],
            sourceless_categories: vec!["network_attack/dos".into()],
            secondary_categories: vec![
                "violation/boundary_access".into(),
                "violation/unauthorized_outbound".into(),
            ],
            cross_window_secs: 120,
            escalations: vec![(
                "network_attack/brute_force".into(),
                "anomaly/abnormal_login".into(),
            )],
            matrix: GradeMatrix::default(),
        }
    }
}

/// Counters of the correlator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CorrelatorStats {
    /// Alerts seen.
    pub alerts: u64,
    /// Incidents opened.
    pub opened: u64,
    /// Alerts joined to an open incident.
    pub joined: u64,
    /// Of those, alerts of a secondary category joined to an incident of
    /// another category, or incidents refined to a specific category.
    pub cross_joined: u64,
    /// Windows closed by quiet time.
    pub expired: u64,
    /// Windows closed early because the open index was full.
    pub evicted: u64,
    /// Addresses, zones, units or links not kept because a list was full.
    pub list_capped: u64,
    /// Alerts filed under `other/other` because the category table was
    /// full.
    pub category_capped: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Target {
    Host(IpAddr),
    Zone(u16),
    /// A threat-intelligence indicator and the channel it was seen on
    /// (hash of both): every leg of one lookup or connection (client →
    /// resolver → upstream, client → proxy → server) is one incident.
    Indicator(u64),
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    cat: u32,
    src: Option<IpAddr>,
    target: Target,
    /// IP protocol of a source-less category's alerts (flood vector);
    /// 0 for the others.
    vector: u8,
}

/// How an alert relates to an open incident of another category.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Relation {
    /// The alert joins the incident as it is.
    Join,
    /// The incident is refined to the alert's category.
    Refine,
}

type Link = (Option<IpAddr>, Target);

struct Open {
    inc: Incident,
    evidence: u64,
    links: Vec<Link>,
}

#[derive(Clone, Copy, Default)]
struct CatFlags {
    sweep: bool,
    sourceless: bool,
    secondary: bool,
}

/// The indicator an alert is about (its `indicator` metadata, with the
/// `indicator_channel`), as a stable hash.
fn indicator_of(a: &Alert) -> Option<u64> {
    let get = |key: &str| {
        a.metadata
            .iter()
            .find(|(k, _)| &**k == key)
            .and_then(|(_, v)| v.first())
    };
    let value = get("indicator")?;
    let channel = get("indicator_channel").map_or("", |c| &**c);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in value.bytes().chain([0u8]).chain(channel.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    Some(h)
}

/// What one alert did.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// True if the alert opened a new incident.
    pub opened: bool,
    /// The incident's new state and what was appended.
    pub update: IncidentUpdate,
}

/// A stored correlation window that could not be reopened.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("incident {incident}: correlation window not restored: {reason} / 关联窗口未恢复")]
pub struct RestoreError {
    /// The incident.
    pub incident: i64,
    /// Why.
    pub reason: String,
}

/// Groups alerts into incidents. Deterministic: the same alerts in the
/// same order give the same incidents.
pub struct Correlator {
    cfg: CorrelatorConfig,
    policy: Arc<ZonePolicy>,
    categories: Categories,
    interned: FxHashMap<String, u32>,
    names: Vec<(String, CatFlags)>,
    open: FxHashMap<Key, Open>,
    /// `(category, source)` → the key of its latest open incident, to place
    /// alerts whose target is unknown.
    by_src: FxHashMap<(u32, Option<IpAddr>), Key>,
    /// `(source, target host or zone)` → an open incident about it
    /// (specific categories take the link over secondary ones).
    links: FxHashMap<Link, Key>,
    /// `(category, target, vector)` → the key of its latest open incident,
    /// to place log alerts that name no source.
    by_target: FxHashMap<(u32, Target, u8), Key>,
    /// Interned `(earlier, later)` escalation pairs.
    escalations: Vec<(u32, u32)>,
    /// Open incidents by `(last_seen, id)`, oldest first.
    order: BTreeMap<(Timestamp, i64), Key>,
    next_id: i64,
    stats: CorrelatorStats,
}

fn push_capped<T: PartialEq>(v: &mut Vec<T>, x: T, cap: usize, capped: &mut u64) {
    if v.contains(&x) {
        return;
    }
    if v.len() >= cap {
        *capped += 1;
    } else {
        v.push(x);
    }
}

fn zone_names(z: Option<&ZoneInfo>) -> (String, String) {
    match z {
        Some(z) => (
            z.name_zh.as_deref().unwrap_or(&z.id).to_string(),
            z.name_en.as_deref().unwrap_or(&z.id).to_string(),
        ),
        None => (String::new(), String::new()),
    }
}

fn endpoint(zone: &str, ip: Option<IpAddr>, unknown: &str) -> String {
    match (zone.is_empty(), ip) {
        (true, Some(ip)) => ip.to_string(),
        (false, Some(ip)) => format!("{zone} {ip}"),
        (false, None) => zone.to_string(),
        (true, None) => unknown.to_string(),
    }
}

fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

impl Correlator {
    /// A correlator over a zone policy. Ids start at `first_id` (the
    /// store's next free id).
    pub fn new(cfg: CorrelatorConfig, policy: Arc<ZonePolicy>, first_id: i64) -> Self {
        Correlator {
            cfg,
            policy,
            categories: Categories,
            interned: FxHashMap::default(),
            names: Vec::new(),
            open: FxHashMap::default(),
            by_src: FxHashMap::default(),
            links: FxHashMap::default(),
            by_target: FxHashMap::default(),
            escalations: Vec::new(),
            order: BTreeMap::new(),
            next_id: first_id.max(1),
            stats: CorrelatorStats::default(),
        }
        .with_escalations()
    }

    fn with_escalations(mut self) -> Self {
        let pairs = self.cfg.escalations.clone();
        for (early, late) in pairs {
            let e = self.intern(&early);
            let l = self.intern(&late);
            if e != l {
                self.escalations.push((e, l));
            }
        }
        self
    }

    /// Counters so far.
    pub fn stats(&self) -> CorrelatorStats {
        self.stats
    }

    /// Incidents currently open (within their window).
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Replaces the zone policy (a reload); open incidents keep the zones
    /// and units they were given.
    pub fn set_policy(&mut self, policy: Arc<ZonePolicy>) {
        self.policy = policy;
    }

    /// The settings.
    pub fn config(&self) -> &CorrelatorConfig {
        &self.cfg
    }

    fn intern(&mut self, cat: &str) -> u32 {
        if let Some(&i) = self.interned.get(cat) {
            return i;
        }
        let cat = if self.names.len() >= MAX_CATEGORIES {
            self.stats.category_capped += 1;
            OTHER
        } else {
            cat
        };
        if let Some(&i) = self.interned.get(cat) {
            return i;
        }
        let i = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        let flags = CatFlags {
            sweep: self.cfg.sweep_categories.iter().any(|s| s == cat),
            sourceless: self.cfg.sourceless_categories.iter().any(|s| s == cat),
            secondary: self.cfg.secondary_categories.iter().any(|s| s == cat),
        };
        self.interned.insert(cat.to_string(), i);
        self.names.push((cat.to_string(), flags));
        i
    }

    fn name(&self, cat: u32) -> &str {
        self.names
            .get(cat as usize)
            .map_or(OTHER, |(n, _)| n.as_str())
    }

    fn flags(&self, cat: u32) -> CatFlags {
        self.names
            .get(cat as usize)
            .map(|(_, f)| *f)
            .unwrap_or_default()
    }

    fn close(&mut self, key: Key) {
        if let Some(o) = self.open.remove(&key) {
            self.order.remove(&(o.inc.last_seen, o.inc.id));
            let sk = (key.cat, key.src);
            if self.by_src.get(&sk) == Some(&key) {
                self.by_src.remove(&sk);
            }
            let tk = (key.cat, key.target, key.vector);
            if self.by_target.get(&tk) == Some(&key) {
                self.by_target.remove(&tk);
            }
            for l in &o.links {
                if self.links.get(l) == Some(&key) {
                    self.links.remove(l);
                }
            }
        }
    }

    fn expire(&mut self, now: Timestamp) {
        let cutoff = now.add_secs(-self.cfg.window_secs);
        while let Some((&(seen, _), &key)) = self.order.iter().next() {
            if seen >= cutoff {
                break;
            }
            self.close(key);
            self.stats.expired += 1;
        }
    }

    /// Closes every open window (end of a replay); returns how many.
    pub fn close_all(&mut self) -> usize {
        let n = self.open.len();
        self.open.clear();
        self.order.clear();
        self.by_src.clear();
        self.by_target.clear();
        self.links.clear();
        n
    }

    fn joinable(&self, key: &Key, ts: Timestamp) -> bool {
        self.joinable_within(key, ts, self.cfg.window_secs)
    }

    fn joinable_within(&self, key: &Key, ts: Timestamp, window: i64) -> bool {
        self.open.get(key).is_some_and(|o| {
            ts.0.saturating_sub(o.inc.last_seen.0).unsigned_abs()
                <= window
                    .saturating_mul(Timestamp::NANOS_PER_SEC)
                    .unsigned_abs()
        })
    }

    /// Records that `key` is about `(src, host)` and `(src, zone)`.
    fn link(&mut self, key: Key, src: Option<IpAddr>, host: Option<IpAddr>, zone: Option<u16>) {
        let specific = !self.flags(key.cat).secondary;
        let cap = self.cfg.max_open.max(1).saturating_mul(4);
        let targets = [host.map(Target::Host), zone.map(Target::Zone)];
        for t in targets.into_iter().flatten() {
            let l = (src, t);
            let take = match self.links.get(&l) {
                Some(k) if *k == key => false,
                Some(k) => specific && self.flags(k.cat).secondary,
                None => true,
            };
            if !take {
                continue;
            }
            let Some(o) = self.open.get_mut(&key) else {
                return;
            };
            if o.links.contains(&l) {
                self.links.insert(l, key);
            } else if o.links.len() >= MAX_LINKS || self.links.len() >= cap {
                self.stats.list_capped += 1;
            } else {
                o.links.push(l);
                self.links.insert(l, key);
            }
        }
    }

    /// An open incident of another category about the same source and
    /// target that this alert belongs to, if any.
    fn related(
        &self,
        key: &Key,
        src: Option<IpAddr>,
        dest: Option<IpAddr>,
        zone: Option<u16>,
        ts: Timestamp,
        proto: Option<u8>,
    ) -> Option<(Key, Relation)> {
        let targets = [dest.map(Target::Host), zone.map(Target::Zone)];
        let mine = self.flags(key.cat);
        // This source's incidents first, then source-less ones (floods).
        let srcs = [src, None];
        let mut links = srcs
            .into_iter()
            .flat_map(|s| targets.into_iter().flatten().map(move |t| (s, t)));
        links.find_map(|l| {
            let k = *self.links.get(&l)?;
            // a flood incident only takes findings of its own vector
            if k == *key || (k.vector != 0 && proto != Some(k.vector)) {
                return None;
            }
            let theirs = self.flags(k.cat);
            if mine.secondary || theirs.secondary {
                let near = self.joinable_within(&k, ts, self.cfg.cross_window_secs);
                let rel = if mine.secondary {
                    Relation::Join
                } else {
                    Relation::Refine
                };
                return near.then_some((k, rel));
            }
            // stages of one attack on one host, never a zone neighbour
            if !matches!(l.1, Target::Host(_)) {
                return None;
            }
            if self.escalations.contains(&(key.cat, k.cat)) {
                return self.joinable(&k, ts).then_some((k, Relation::Join));
            }
            if self.escalations.contains(&(k.cat, key.cat)) {
                return self.joinable(&k, ts).then_some((k, Relation::Refine));
            }
            None
        })
    }

    /// The open incident of the same category, target and vector that an
    /// alert belongs to although one of the two names no source: a log
    /// alert naming none joins the latest such incident; an alert naming
    /// one joins an incident opened without.
    fn same_target(&self, key: &Key, ts: Timestamp) -> Option<Key> {
        if matches!(key.target, Target::Unknown | Target::Indicator(_)) {
            return None;
        }
        let k = match key.src {
            None => *self.by_target.get(&(key.cat, key.target, key.vector))?,
            Some(_) => Key { src: None, ..*key },
        };
        (k != *key && self.joinable(&k, ts)).then_some(k)
    }

    /// Moves the incident at `old` to `new` and gives it `new`'s category.
    fn refine(&mut self, old: Key, new: Key, a: &Alert, r: &Route<'_>) -> Option<TimelineEntry> {
        let mut o = self.open.remove(&old)?;
        self.close(new);
        let from = std::mem::take(&mut o.inc.category);
        o.inc.category = self.name(new.cat).to_string();
        let (title, title_zh) = self.titles(new, a, r);
        o.inc.title = title;
        o.inc.title_zh = title_zh;
        self.order.insert((o.inc.last_seen, o.inc.id), new);
        if self.by_src.get(&(old.cat, old.src)) == Some(&old) {
            self.by_src.remove(&(old.cat, old.src));
        }
        let tk = (old.cat, old.target, old.vector);
        if self.by_target.get(&tk) == Some(&old) {
            self.by_target.remove(&tk);
        }
        for l in &o.links {
            if self.links.get(l) == Some(&old) {
                self.links.insert(*l, new);
            }
        }
        let entry = TimelineEntry {
            ts: a.ts,
            actor: "zoneguard".into(),
            action: "category_refined".into(),
            detail: format!("{from} -> {} (sid {})", o.inc.category, a.sid),
        };
        self.open.insert(new, o);
        Some(entry)
    }

    /// Joins an alert to its incident, opening one if needed.
    pub fn on_alert(&mut self, a: &Alert) -> Outcome {
        self.stats.alerts += 1;
        self.expire(a.ts);
        let cat_name = a.taxonomy().unwrap_or(OTHER);
        let cat = self.intern(cat_name);
        let policy = Arc::clone(&self.policy);
        let r = route(&policy, a);
        let flags = self.flags(cat);
        let dest = target_ip(a);
        let dest_zone = r.dest_zone.map(|(z, _)| z);
        let indicator = indicator_of(a);
        let target = match (indicator, flags.sweep, dest_zone, dest) {
            (Some(h), _, _, _) => Target::Indicator(h),
            (None, true, Some(z), _) => Target::Zone(z),
            (None, _, _, Some(ip)) => Target::Host(ip),
            (None, _, _, None) => Target::Unknown,
        };
        let mut key = Key {
            cat,
            src: if flags.sourceless || indicator.is_some() {
                None
            } else {
                a.addrs.src_ip
            },
            target,
            vector: if flags.sourceless {
                a.addrs.proto.unwrap_or(0)
            } else {
                0
            },
        };
        if target == Target::Unknown {
            if let Some(k) = self.by_src.get(&(cat, a.addrs.src_ip)) {
                key = *k;
            }
        }
        let mut extra = Vec::new();
        if !self.joinable(&key, a.ts) {
            if let Some(k) = self.same_target(&key, a.ts) {
                key = k;
            }
        }
        if !self.joinable(&key, a.ts) {
            // an indicator finding only absorbs findings about the same
            // connection (same hosts), never a neighbour in the same zone
            // a flood's own source, where it has one, finds the policy
            // findings its first packets raised
            let (src, zone) = match key.target {
                Target::Indicator(_) => (a.addrs.src_ip, None),
                _ if flags.sourceless => (a.addrs.src_ip, dest_zone),
                _ => (key.src, dest_zone),
            };
            match self.related(&key, src, dest, zone, a.ts, a.addrs.proto) {
                Some((k, Relation::Join)) => {
                    self.stats.cross_joined += 1;
                    key = k;
                }
                Some((k, Relation::Refine)) => {
                    self.stats.cross_joined += 1;
                    extra.extend(self.refine(k, key, a, &r));
                }
                None => {
                    self.close(key);
                    return self.open_new(key, a, &r);
                }
            }
        }
        self.join(key, a, &r, cat_name, extra)
    }

    fn target_json(&self, t: Target) -> serde_json::Value {
        use serde_json::json;
        match t {
            Target::Host(ip) => json!({ "host": ip.to_string() }),
            Target::Zone(z) => match self.policy.zone(z) {
                Some(zi) => json!({ "zone": zi.id.to_string() }),
                None => json!("unknown"),
            },
            Target::Indicator(h) => json!({ "indicator": format!("{h:016x}") }),
            Target::Unknown => json!("unknown"),
        }
    }

    fn target_from(&self, v: &serde_json::Value) -> Option<Target> {
        if v.as_str() == Some("unknown") {
            return Some(Target::Unknown);
        }
        if let Some(h) = v.get("host").and_then(|h| h.as_str()) {
            return h.parse().ok().map(Target::Host);
        }
        if let Some(z) = v.get("zone").and_then(|z| z.as_str()) {
            let i = self.policy.zones.iter().position(|zi| &*zi.id == z)?;
            return u16::try_from(i).ok().map(Target::Zone);
        }
        let h = v.get("indicator")?.as_str()?;
        u64::from_str_radix(h, 16).ok().map(Target::Indicator)
    }

    /// The window of the open incident at `key` as the store keeps it
    /// (JSON: category, source, target, vector, evidence count, links).
    fn window_state(&self, key: &Key) -> Option<String> {
        let o = self.open.get(key)?;
        let ip = |i: Option<IpAddr>| i.map(|a| a.to_string());
        let links: Vec<serde_json::Value> = o
            .links
            .iter()
            .map(|(s, t)| serde_json::json!([ip(*s), self.target_json(*t)]))
            .collect();
        Some(
            serde_json::json!({
                "v": 1,
                "category": self.name(key.cat),
                "src": ip(key.src),
                "target": self.target_json(key.target),
                "vector": key.vector,
                "evidence": o.evidence,
                "links": links,
            })
            .to_string(),
        )
    }

    /// Reopens the window of a stored incident (a restarted sensor or
    /// central), from the state [`IncidentUpdate::window`] carried. Alerts
    /// then join it as if the process had never stopped; it closes by
    /// quiet time like any other. A state that does not parse, or names a
    /// zone the current policy lacks, is refused and the incident stays
    /// closed.
    pub fn restore(&mut self, inc: Incident, state: &str) -> Result<(), RestoreError> {
        let bad = |what: &str| RestoreError {
            incident: inc.id,
            reason: what.to_string(),
        };
        let v: serde_json::Value =
            serde_json::from_str(state).map_err(|e| bad(&format!("not JSON: {e}")))?;
        if v.get("v").and_then(|x| x.as_u64()) != Some(1) {
            return Err(bad("unknown state version"));
        }
        let cat_name = v["category"].as_str().ok_or_else(|| bad("no category"))?;
        let ip = |x: &serde_json::Value| -> Result<Option<IpAddr>, RestoreError> {
            match x {
                serde_json::Value::Null => Ok(None),
                serde_json::Value::String(s) => s.parse().map(Some).map_err(|_| bad("bad address")),
                _ => Err(bad("bad address")),
            }
        };
        let src = ip(&v["src"])?;
        let target = self
            .target_from(&v["target"])
            .ok_or_else(|| bad("bad target"))?;
        let vector = v["vector"]
            .as_u64()
            .and_then(|x| u8::try_from(x).ok())
            .ok_or_else(|| bad("bad vector"))?;
        let mut links = Vec::new();
        for l in v["links"].as_array().ok_or_else(|| bad("no links"))? {
            let s = ip(&l[0])?;
            if let Some(t) = self.target_from(&l[1]) {
                links.push((s, t));
            }
        }
        links.truncate(MAX_LINKS);
        let cat = self.intern(cat_name);
        let key = Key {
            cat,
            src,
            target,
            vector,
        };
        if self.open.len() >= self.cfg.max_open.max(1) {
            return Err(bad("open index full"));
        }
        self.close(key);
        self.next_id = self.next_id.max(inc.id.saturating_add(1));
        let evidence = v["evidence"].as_u64().unwrap_or(self.cfg.max_evidence);
        self.order.insert((inc.last_seen, inc.id), key);
        self.by_src.insert((key.cat, key.src), key);
        self.by_target
            .insert((key.cat, key.target, key.vector), key);
        for l in &links {
            let take = match self.links.get(l) {
                Some(k) => self.flags(k.cat).secondary && !self.flags(cat).secondary,
                None => true,
            };
            if take {
                self.links.insert(*l, key);
            }
        }
        self.open.insert(
            key,
            Open {
                inc,
                evidence,
                links,
            },
        );
        Ok(())
    }

    fn join(
        &mut self,
        key: Key,
        a: &Alert,
        r: &Route<'_>,
        cat_name: &str,
        mut timeline: Vec<TimelineEntry>,
    ) -> Outcome {
        self.stats.joined += 1;
        let sev = self.cfg.matrix.severity_of(a);
        let grade = self.cfg.matrix.grade(cat_name, sev, r.band());
        let max_ev = self.cfg.max_evidence;
        let matrix = &self.cfg.matrix;
        let stats = &mut self.stats;
        let Some(o) = self.open.get_mut(&key) else {
            return self.open_new(key, a, r);
        };
        let old_order = (o.inc.last_seen, o.inc.id);
        let inc = &mut o.inc;
        inc.alert_count = inc.alert_count.saturating_add(1);
        inc.first_seen = inc.first_seen.min(a.ts);
        inc.last_seen = inc.last_seen.max(a.ts);
        inc.severity = inc.severity.max(sev);
        if grade.above(inc.grade) {
            timeline.push(TimelineEntry {
                ts: a.ts,
                actor: "zoneguard".into(),
                action: "grade_raised".into(),
                detail: format!("{} -> {} (sid {})", inc.grade, grade, a.sid),
            });
            inc.grade = grade;
            if let Some(w) = matrix.report_within(grade) {
                let due = inc.first_seen.add_secs(w);
                inc.report_due = Some(inc.report_due.map_or(due, |d| d.min(due)));
            }
        }
        let dest = target_ip(a);
        Self::add_lists(inc, a, r, dest, &mut stats.list_capped);
        let mut evidence = Vec::new();
        if o.evidence < max_ev {
            evidence.push(Self::evidence(o.evidence, a));
            o.evidence += 1;
        }
        let new_order = (o.inc.last_seen, o.inc.id);
        let mut update = IncidentUpdate {
            incident: o.inc.clone(),
            evidence,
            timeline,
            window: None,
        };
        if new_order != old_order {
            self.order.remove(&old_order);
            self.order.insert(new_order, key);
        }
        self.by_src.insert((key.cat, key.src), key);
        self.by_target
            .insert((key.cat, key.target, key.vector), key);
        if matches!(key.target, Target::Indicator(_)) {
            // an indicator incident is linked by the real hosts of each leg,
            // never by zone: only findings about the same connection join it
            self.link(key, a.addrs.src_ip, dest, None);
        } else {
            self.link(key, key.src, dest, r.dest_zone.map(|(z, _)| z));
        }
        update.window = self.window_state(&key);
        Outcome {
            opened: false,
            update,
        }
    }

    fn add_lists(
        inc: &mut Incident,
        a: &Alert,
        r: &Route<'_>,
        dest: Option<IpAddr>,
        capped: &mut u64,
    ) {
        if let Some(ip) = a.addrs.src_ip {
            push_capped(&mut inc.src_ips, ip, MAX_IPS, capped);
        }
        if let Some(ip) = dest {
            push_capped(&mut inc.dest_ips, ip, MAX_IPS, capped);
        }
        for z in r.zones() {
            push_capped(&mut inc.zones, z.id.to_string(), MAX_ZONES, capped);
            if let Some(u) = &z.unit {
                push_capped(&mut inc.units, u.to_string(), MAX_ZONES, capped);
            }
        }
        if inc.unit.is_none() {
            if let Some(z) = r.responsible() {
                inc.unit = z.unit.as_deref().map(str::to_string);
                inc.contact = z.contact.as_deref().map(str::to_string);
            }
        }
        if let Some(p) = &a.policy {
            if inc.unit.is_none() {
                inc.unit = p.unit.as_deref().map(str::to_string);
                inc.contact = p.contact.as_deref().map(str::to_string);
            }
        }
    }

    fn evidence(seq: u64, a: &Alert) -> Evidence {
        Evidence {
            seq,
            ts: a.ts,
            source: a.source,
            sid: a.sid,
            signature: truncate(&a.signature, MAX_LOG_LINE),
            flow_id: a.flow_id,
            pcap_cnt: a.pcap_cnt,
            log_line: a.log.as_ref().map(|l| truncate(&l.message, MAX_LOG_LINE)),
        }
    }

    /// English and Chinese titles of an incident keyed `key` opened by `a`.
    fn titles(&self, key: Key, a: &Alert, r: &Route<'_>) -> (String, String) {
        let (cat_zh, cat_en) = self.categories.names(self.name(key.cat));
        let (sz_zh, sz_en) = zone_names(r.src_zone.map(|(_, z)| z));
        let (dz_zh, dz_en) = zone_names(r.dest_zone.map(|(_, z)| z));
        let shown_dest = match key.target {
            Target::Zone(_) => None,
            _ => target_ip(a),
        };
        let title_zh = format!(
            "{cat_zh}：{} → {}",
            endpoint(&sz_zh, a.addrs.src_ip, "未知来源"),
            endpoint(&dz_zh, shown_dest, "未知目标")
        );
        let title = format!(
            "{cat_en}: {} → {}",
            endpoint(&sz_en, a.addrs.src_ip, "unknown source"),
            endpoint(&dz_en, shown_dest, "unknown target")
        );
        (title, title_zh)
    }

    fn open_new(&mut self, key: Key, a: &Alert, r: &Route<'_>) -> Outcome {
        if self.open.len() >= self.cfg.max_open.max(1) {
            if let Some((_, &oldest)) = self.order.iter().next() {
                self.close(oldest);
                self.stats.evicted += 1;
            }
        }
        self.stats.opened += 1;
        let cat_name = self.name(key.cat).to_string();
        let sev = self.cfg.matrix.severity_of(a);
        let grade = self.cfg.matrix.grade(&cat_name, sev, r.band());
        let (title, title_zh) = self.titles(key, a, r);
        let dest = target_ip(a);
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        let mut inc = Incident {
            id,
            status: Status::New,
            grade,
            severity: sev,
            category: cat_name,
            title,
            title_zh,
            zones: Vec::new(),
            units: Vec::new(),
            unit: None,
            contact: None,
            assignee: None,
            src_ips: Vec::new(),
            dest_ips: Vec::new(),
            first_seen: a.ts,
            last_seen: a.ts,
            alert_count: 1,
            report_due: self
                .cfg
                .matrix
                .report_within(grade)
                .map(|w| a.ts.add_secs(w)),
        };
        Self::add_lists(&mut inc, a, r, dest, &mut self.stats.list_capped);
        let timeline = vec![TimelineEntry {
            ts: a.ts,
            actor: "zoneguard".into(),
            action: "opened".into(),
            detail: format!(
                "grade {} severity {} sid {} {}",
                grade,
                sev.as_str(),
                a.sid,
                a.source.as_str()
            ),
        }];
        let evidence = if self.cfg.max_evidence > 0 {
            vec![Self::evidence(0, a)]
        } else {
            Vec::new()
        };
        let mut update = IncidentUpdate {
            incident: inc.clone(),
            evidence,
            timeline,
            window: None,
        };
        self.order.insert((inc.last_seen, id), key);
        self.by_src.insert((key.cat, key.src), key);
        self.by_target
            .insert((key.cat, key.target, key.vector), key);
        self.open.insert(
            key,
            Open {
                inc,
                evidence: self.cfg.max_evidence.min(1),
                links: Vec::new(),
            },
        );
        if matches!(key.target, Target::Indicator(_)) {
            // an indicator incident is linked by the real hosts of each leg,
            // never by zone: only findings about the same connection join it
            self.link(key, a.addrs.src_ip, dest, None);
        } else {
            self.link(key, key.src, dest, r.dest_zone.map(|(z, _)| z));
        }
        update.window = self.window_state(&key);
        Outcome {
            opened: true,
            update,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::alert::{Action, AlertAddrs, AlertSource, LogInfo, PolicyInfo, PolicyKind};
    use crate::incident::grade::Grade;
    use crate::incident::route::tests::policy;

    /// A signature alert at `secs` seconds.
    pub(crate) fn alert_at(secs: i64, tax: &str, src: &str, dst: &str, sid: u32, sev: u8) -> Alert {
        Alert {
            ts: Timestamp::from_secs_nanos(1_793_000_000 + secs, 0),
            source: AlertSource::Signature,
            flow_id: Some(42),
            pcap_cnt: Some(7),
            addrs: AlertAddrs {
                src_ip: src.parse().ok(),
                src_port: 40000,
                dest_ip: dst.parse().ok(),
                dest_port: 80,
                proto: Some(6),
            },
            ether: None,
            vlans: Vec::new(),
            action: Action::Allowed,
            gid: 1,
            sid,
            rev: 1,
            signature: Arc::from("ET WEB test"),
            category: Arc::from("Web Application Attack"),
            severity: sev,
            metadata: vec![(Arc::from("taxonomy"), vec![Arc::from(tax)])],
            policy: None,
            app_proto: Some("http"),
            log: None,
        }
    }

    fn corr() -> Correlator {
        Correlator::new(CorrelatorConfig::default(), Arc::new(policy()), 1)
    }

    fn indicator(secs: i64, src: &str, dst: &str, value: &str, channel: &str) -> Alert {
        let mut a = alert_at(secs, "malware/botnet", src, dst, 1_990_010, 1);
        a.metadata
            .push((Arc::from("indicator"), vec![Arc::from(value)]));
        a.metadata
            .push((Arc::from("indicator_channel"), vec![Arc::from(channel)]));
        a
    }

    #[test]
    fn indicator_legs_are_one_incident_and_do_not_absorb_neighbours() {
        let mut c = corr();
        // a policy finding from the same client to another host of the zone
        let pv = alert_at(
            0,
            "violation/boundary_access",
            "10.32.8.115",
            "10.10.1.20",
            1_990_004,
            2,
        );
        let pv_id = c.on_alert(&pv).update.incident.id;
        // the client's lookup, the resolver's recursion to two upstreams
        let legs = [
            indicator(60, "10.32.8.115", "10.10.1.53", "evil.example", "dns"),
            indicator(60, "10.10.1.53", "223.5.5.5", "evil.example", "dns"),
            indicator(61, "10.10.1.53", "114.114.114.114", "evil.example", "dns"),
        ];
        let ids: Vec<i64> = legs
            .iter()
            .map(|a| c.on_alert(a).update.incident.id)
            .collect();
        assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
        assert_ne!(ids[0], pv_id, "the zone neighbour keeps its own incident");
        // the same indicator in a connection is another incident
        let conn = indicator(
            120,
            "10.32.8.115",
            "10.10.1.80",
            "evil.example",
            "connection",
        );
        assert_ne!(c.on_alert(&conn).update.incident.id, ids[0]);
    }

    #[test]
    fn web_attack_five_rules_one_incident() {
        let mut c = corr();
        let mut ids = Vec::new();
        for i in 0..20 {
            let a = alert_at(
                i * 10,
                "network_attack/exploit",
                "47.100.23.45",
                "10.10.1.5",
                2_000_000 + (i % 5) as u32,
                1,
            );
            ids.push(c.on_alert(&a).update.incident.clone());
        }
        assert!(ids.iter().all(|i| i.id == 1));
        let last = ids.last().unwrap();
        assert_eq!(last.alert_count, 20);
        assert_eq!(last.last_seen.secs() - last.first_seen.secs(), 190);
        assert_eq!(c.stats().opened, 1);
        assert_eq!(c.stats().joined, 19);
        // high × level 3 → III, unit of the destination (source is internet).
        assert_eq!(last.grade, Grade::III);
        assert_eq!(last.unit.as_deref(), Some("州大数据中心"));
        assert!(last.report_due.is_some());
    }

    #[test]
    fn port_scan_of_1024_ports_one_incident() {
        let mut c = corr();
        let mut last = None;
        for port in 0..1024u16 {
            let host = format!("10.31.{}.{}", port / 200, port % 200 + 1);
            let mut a = alert_at(
                i64::from(port / 8),
                "network_attack/scan",
                "47.1.2.3",
                &host,
                2_010_000,
                2,
            );
            a.addrs.dest_port = port;
            last = Some(c.on_alert(&a));
        }
        let last = last.unwrap();
        assert_eq!(last.update.incident.id, 1);
        assert_eq!(last.update.incident.alert_count, 1024);
        assert_eq!(last.update.incident.dest_ips.len(), MAX_IPS);
        assert!(c.stats().list_capped > 0);
        assert!(
            last.update.incident.title.ends_with("→ county-mangshi"),
            "{}",
            last.update.incident.title
        );
    }

    #[test]
    fn brute_force_traffic_and_log_one_incident() {
        let mut c = corr();
        let t = alert_at(
            0,
            "network_attack/brute_force",
            "47.5.5.5",
            "10.10.3.3",
            2_001_219,
            2,
        );
        let mut l = alert_at(
            30,
            "network_attack/brute_force",
            "47.5.5.5",
            "",
            3_000_001,
            2,
        );
        l.source = AlertSource::Log;
        l.flow_id = None;
        l.pcap_cnt = None;
        l.log = Some(LogInfo {
            host: Some("10.10.3.3".into()),
            program: Some("sshd".into()),
            message: "Failed password for root from 47.5.5.5 port 4242 ssh2".into(),
        });
        let a = c.on_alert(&t);
        let b = c.on_alert(&l);
        assert!(a.opened && !b.opened);
        assert_eq!(b.update.incident.id, a.update.incident.id);
        assert_eq!(b.update.incident.alert_count, 2);
        assert_eq!(
            b.update.evidence[0]
                .log_line
                .as_deref()
                .map(|s| s.starts_with("Failed")),
            Some(true)
        );
        // A log alert with no target at all joins by category and source.
        let mut l2 = l.clone();
        l2.log = None;
        assert_eq!(c.on_alert(&l2).update.incident.id, a.update.incident.id);
    }

    #[test]
    fn different_sources_different_incidents() {
        let mut c = corr();
        let a = c.on_alert(&alert_at(
            0,
            "network_attack/exploit",
            "47.1.1.1",
            "10.10.1.5",
            1,
            1,
        ));
        let b = c.on_alert(&alert_at(
            1,
            "network_attack/exploit",
            "47.1.1.2",
            "10.10.1.5",
            1,
            1,
        ));
        let d = c.on_alert(&alert_at(
            2,
            "malware/trojan",
            "47.1.1.1",
            "10.10.1.5",
            1,
            1,
        ));
        assert_ne!(a.update.incident.id, b.update.incident.id);
        assert_ne!(a.update.incident.id, d.update.incident.id);
        assert_eq!(c.open_count(), 3);
    }

    #[test]
    fn window_expiry_opens_new_incident() {
        let mut c = corr();
        let a = c.on_alert(&alert_at(
            0,
            "network_attack/exploit",
            "47.1.1.1",
            "10.10.1.5",
            1,
            1,
        ));
        let b = c.on_alert(&alert_at(
            900,
            "network_attack/exploit",
            "47.1.1.1",
            "10.10.1.5",
            1,
            1,
        ));
        assert_eq!(
            a.update.incident.id, b.update.incident.id,
            "exactly the window joins"
        );
        let d = c.on_alert(&alert_at(
            1801,
            "network_attack/exploit",
            "47.1.1.1",
            "10.10.1.5",
            1,
            1,
        ));
        assert!(d.opened);
        assert_ne!(d.update.incident.id, a.update.incident.id);
        assert_eq!(c.stats().expired, 1);
    }

    #[test]
    fn open_index_is_capped_oldest_first() {
        let cfg = CorrelatorConfig {
            max_open: 4,
            ..Default::default()
        };
        let mut c = Correlator::new(cfg, Arc::new(policy()), 1);
        for i in 0..10 {
            c.on_alert(&alert_at(
                i,
                "network_attack/exploit",
                &format!("47.1.1.{i}"),
                "10.10.1.5",
                1,
                1,
            ));
        }
        assert_eq!(c.open_count(), 4);
        assert_eq!(c.stats().evicted, 6);
        // The newest is still open and joins.
        let o = c.on_alert(&alert_at(
            11,
            "network_attack/exploit",
            "47.1.1.9",
            "10.10.1.5",
            1,
            1,
        ));
        assert!(!o.opened);
    }

    #[test]
    fn policy_alert_title_grade_and_route() {
        let mut c = corr();
        let mut a = alert_at(
            0,
            "violation/unauthorized_outbound",
            "10.31.4.27",
            "47.100.23.45",
            1_990_002,
            1,
        );
        a.source = AlertSource::Policy;
        a.policy = Some(PolicyInfo {
            kind: PolicyKind::UnauthorizedOutbound,
            src_zone: Arc::from("county-mangshi"),
            dest_zone: Arc::from("internet"),
            level: 2,
            unit: Some(Arc::from("芒市大数据中心")),
            contact: None,
            app: None,
            user: None,
        });
        let inc = c.on_alert(&a).update.incident;
        assert_eq!(
            inc.title_zh,
            "违规外联：芒市政务外网 10.31.4.27 → 互联网 47.100.23.45"
        );
        assert_eq!(
            inc.title,
            "Unauthorized outbound connection: county-mangshi 10.31.4.27 → internet 47.100.23.45"
        );
        assert_eq!(inc.grade, Grade::IV); // high × level 2
        assert_eq!(inc.unit.as_deref(), Some("芒市大数据中心"));
        assert_eq!(
            inc.zones,
            vec!["county-mangshi".to_string(), "internet".to_string()]
        );
        assert_eq!(inc.report_due, None);
    }

    #[test]
    fn isolated_breach_is_ii_and_grade_only_rises() {
        let mut c = corr();
        let mut a = alert_at(
            0,
            "violation/isolation_breach",
            "10.99.0.5",
            "10.31.1.1",
            1_990_001,
            3,
        );
        a.policy = Some(PolicyInfo {
            kind: PolicyKind::IsolatedBreach,
            src_zone: Arc::from("classified"),
            dest_zone: Arc::from("county-mangshi"),
            level: 4,
            unit: None,
            contact: None,
            app: None,
            user: None,
        });
        let inc = c.on_alert(&a).update.incident;
        assert_eq!(inc.grade, Grade::II);
        assert_eq!(inc.unit.as_deref(), Some("州保密办"));
        // Low then high on a level-3 host: IV rises to III, never falls.
        let lo = c.on_alert(&alert_at(
            0,
            "network_attack/exploit",
            "47.9.9.9",
            "10.10.1.1",
            1,
            3,
        ));
        assert_eq!(lo.update.incident.grade, Grade::IV);
        assert_eq!(lo.update.incident.report_due, None);
        let hi = c.on_alert(&alert_at(
            5,
            "network_attack/exploit",
            "47.9.9.9",
            "10.10.1.1",
            2,
            1,
        ));
        assert_eq!(hi.update.incident.grade, Grade::III);
        assert_eq!(hi.update.timeline[0].action, "grade_raised");
        assert_eq!(
            hi.update.incident.report_due,
            Some(lo.update.incident.first_seen.add_secs(14_400))
        );
        let lo2 = c.on_alert(&alert_at(
            6,
            "network_attack/exploit",
            "47.9.9.9",
            "10.10.1.1",
            1,
            3,
        ));
        assert_eq!(lo2.update.incident.grade, Grade::III);
    }

    #[test]
    fn evidence_is_bounded() {
        let mut c = corr();
        let mut n = 0;
        for i in 0..100 {
            n += c
                .on_alert(&alert_at(
                    i,
                    "network_attack/exploit",
                    "47.1.1.1",
                    "10.10.1.5",
                    1,
                    1,
                ))
                .update
                .evidence
                .len();
        }
        assert_eq!(n, 20);
    }

    fn policy_alert(
        secs: i64,
        kind: PolicyKind,
        src: &str,
        dst: &str,
        sz: &str,
        dz: &str,
    ) -> Alert {
        let mut a = alert_at(
            secs,
            kind.taxonomy(),
            src,
            dst,
            kind.sid(),
            kind.eve_severity(),
        );
        a.source = AlertSource::Policy;
        a.policy = Some(PolicyInfo {
            kind,
            src_zone: Arc::from(sz),
            dest_zone: Arc::from(dz),
            level: 3,
            unit: None,
            contact: None,
            app: None,
            user: None,
        });
        a
    }

    #[test]
    fn scan_with_policy_violations_is_one_incident_either_order() {
        // Policy alerts first (flow start), then the scan detection.
        let mut c = corr();
        let mut ids = Vec::new();
        for port in 1..50u16 {
            let mut a = policy_alert(
                i64::from(port),
                PolicyKind::PolicyViolation,
                "10.31.5.66",
                "10.10.0.10",
                "county-mangshi",
                "datacenter",
            );
            a.addrs.dest_port = port;
            ids.push(c.on_alert(&a).update.incident.id);
        }
        let s = c.on_alert(&alert_at(
            60,
            "network_attack/scan",
            "10.31.5.66",
            "10.10.0.10",
            2_010_000,
            2,
        ));
        assert_eq!(s.update.incident.category, "network_attack/scan");
        assert_eq!(s.update.timeline[0].action, "category_refined");
        assert!(s.update.incident.title_zh.starts_with("网络扫描窃听"));
        for port in 50..80u16 {
            let mut a = policy_alert(
                60 + i64::from(port),
                PolicyKind::PolicyViolation,
                "10.31.5.66",
                "10.10.0.10",
                "county-mangshi",
                "datacenter",
            );
            a.addrs.dest_port = port;
            ids.push(c.on_alert(&a).update.incident.id);
        }
        ids.push(s.update.incident.id);
        assert!(ids.iter().all(|i| *i == 1), "{ids:?}");
        assert_eq!(c.stats().opened, 1);
        // Scan first, then policy alerts.
        let mut c = corr();
        let s = c.on_alert(&alert_at(
            0,
            "network_attack/scan",
            "10.31.5.66",
            "10.10.0.10",
            2_010_000,
            2,
        ));
        let p = c.on_alert(&policy_alert(
            1,
            PolicyKind::PolicyViolation,
            "10.31.5.66",
            "10.10.0.11",
            "county-mangshi",
            "datacenter",
        ));
        assert_eq!(p.update.incident.id, s.update.incident.id);
        assert_eq!(p.update.incident.category, "network_attack/scan");
        assert_eq!(p.update.incident.alert_count, 2);
    }

    #[test]
    fn bot_callout_absorbs_unauthorized_outbound() {
        let mut c = corr();
        let uo = c.on_alert(&policy_alert(
            0,
            PolicyKind::UnauthorizedOutbound,
            "10.31.4.27",
            "45.9.9.9",
            "county-mangshi",
            "internet",
        ));
        let bot = c.on_alert(&alert_at(
            1,
            "malware/botnet",
            "10.31.4.27",
            "45.9.9.9",
            2_500,
            1,
        ));
        assert_eq!(uo.update.incident.id, bot.update.incident.id);
        assert_eq!(bot.update.incident.category, "malware/botnet");
        // Cleartext login + the boundary violation of the same flow.
        let bv = c.on_alert(&policy_alert(
            2,
            PolicyKind::PolicyViolation,
            "10.31.4.27",
            "10.10.1.10",
            "county-mangshi",
            "datacenter",
        ));
        let ct = c.on_alert(&policy_alert(
            3,
            PolicyKind::CleartextCredentials,
            "10.31.4.27",
            "10.10.1.10",
            "county-mangshi",
            "datacenter",
        ));
        assert_eq!(bv.update.incident.id, ct.update.incident.id);
        assert_eq!(ct.update.incident.category, "hazard/cleartext_credentials");
    }

    #[test]
    fn specific_categories_do_not_merge_with_each_other() {
        let mut c = corr();
        let a = c.on_alert(&alert_at(
            0,
            "network_attack/exploit",
            "47.1.1.1",
            "10.10.1.5",
            1,
            1,
        ));
        let b = c.on_alert(&alert_at(
            1,
            "network_attack/brute_force",
            "47.1.1.1",
            "10.10.1.5",
            2,
            1,
        ));
        let d = c.on_alert(&alert_at(
            2,
            "violation/isolation_breach",
            "47.1.1.1",
            "10.10.1.5",
            3,
            1,
        ));
        assert_ne!(a.update.incident.id, b.update.incident.id);
        assert_ne!(b.update.incident.id, d.update.incident.id);
        assert_eq!(c.stats().cross_joined, 0);
    }

    #[test]
    fn flood_from_spoofed_sources_is_one_incident() {
        let mut c = corr();
        for i in 0..500u32 {
            let src = format!(
                "{}.{}.{}.{}",
                1 + i % 200,
                (i / 7) % 250,
                i % 13,
                1 + i % 250
            );
            let o = c.on_alert(&alert_at(
                i64::from(i / 50),
                "network_attack/dos",
                &src,
                "10.10.1.10",
                2_600,
                1,
            ));
            assert_eq!(o.update.incident.id, 1);
        }
        assert_eq!(c.stats().opened, 1);
        // A policy finding from one of the spoofed sources joins the flood.
        let mut p = alert_at(
            9,
            "violation/boundary_access",
            "1.2.3.4",
            "10.10.1.10",
            1_990_004,
            2,
        );
        p.addrs.dest_port = 7;
        assert_eq!(c.on_alert(&p).update.incident.id, 1);
    }

    proptest::proptest! {
        /// Any alert sequence: counts add up, memory stays bounded, no panic.
        #[test]
        fn counts_add_up(alerts in proptest::collection::vec((0i64..4000, 0u8..4, 0u8..6, 0u8..5, 0u8..6), 1..300)) {
            let cfg = CorrelatorConfig { max_open: 8, ..Default::default() };
            let mut c = Correlator::new(cfg, Arc::new(policy()), 1);
            let cats = ["network_attack/scan", "network_attack/exploit", "violation/isolation_breach", "bogus"];
            let mut t = 0;
            for (dt, cat, s, d, sev) in alerts {
                t += dt;
                let src = if s == 5 { String::new() } else { format!("47.0.0.{s}") };
                let dst = if d == 4 { String::new() } else { format!("10.31.0.{d}") };
                let a = alert_at(t, cats[usize::from(cat)], &src, &dst, 1, sev);
                let o = c.on_alert(&a);
                proptest::prop_assert!(o.update.incident.grade != Grade::I);
                proptest::prop_assert!(o.update.incident.first_seen <= o.update.incident.last_seen);
            }
            let s = c.stats();
            proptest::prop_assert_eq!(s.opened + s.joined, s.alerts);
            proptest::prop_assert!(c.open_count() <= 8);
        }

        /// Extreme times, arbitrary taxonomy strings and severities (the
        /// path of the `incident_correlate` fuzz target): no panic.
        #[test]
        fn hostile_fields_never_panic(items in proptest::collection::vec((proptest::num::i64::ANY, ".{0,40}", proptest::num::u8::ANY, 0u8..3), 1..100)) {
            let cfg = CorrelatorConfig { max_open: 4, ..Default::default() };
            let mut c = Correlator::new(cfg, Arc::new(policy()), 1);
            for (ts, tax, sev, src) in items {
                let mut a = alert_at(0, &tax, &format!("10.31.0.{src}"), "10.99.0.1", 1, sev);
                a.ts = Timestamp(ts);
                if src == 2 {
                    a.log = Some(LogInfo { host: Some(tax.clone()), program: None, message: tax.clone() });
                    a.addrs.dest_ip = None;
                }
                let o = c.on_alert(&a);
                proptest::prop_assert!(o.update.incident.first_seen <= o.update.incident.last_seen);
                let _ = o.update.incident.to_json(Timestamp(ts));
            }
            proptest::prop_assert!(c.open_count() <= 4);
        }
    }

    /// A log alert from `host` (no destination address of its own).
    fn log_alert(secs: i64, tax: &str, src: &str, host: &str, sid: u32) -> Alert {
        let mut l = alert_at(secs, tax, src, "", sid, 1);
        l.source = AlertSource::Log;
        l.flow_id = None;
        l.pcap_cnt = None;
        l.addrs.proto = None;
        l.log = Some(LogInfo {
            host: Some(host.into()),
            program: Some("sshd".into()),
            message: "test line".into(),
        });
        l
    }

    #[test]
    fn brute_force_then_login_is_one_abnormal_login_incident() {
        let mut c = corr();
        let bf = "network_attack/brute_force";
        let first = c.on_alert(&log_alert(0, bf, "10.32.8.115", "10.40.0.20", 3_000_001));
        assert!(first.opened);
        c.on_alert(&log_alert(20, bf, "10.32.8.115", "10.40.0.20", 3_000_001));
        let ok = c.on_alert(&log_alert(
            50,
            "anomaly/abnormal_login",
            "10.32.8.115",
            "10.40.0.20",
            3_000_002,
        ));
        assert!(!ok.opened);
        assert_eq!(ok.update.incident.id, first.update.incident.id);
        assert_eq!(ok.update.incident.category, "anomaly/abnormal_login");
        assert!(ok
            .update
            .timeline
            .iter()
            .any(|t| t.action == "category_refined"));
        // a late failure of the same attacker joins the refined incident
        let late = c.on_alert(&log_alert(70, bf, "10.32.8.115", "10.40.0.20", 3_000_001));
        assert_eq!(late.update.incident.id, first.update.incident.id);
        assert_eq!(late.update.incident.category, "anomaly/abnormal_login");
        // another target of the same source is another incident
        let other = c.on_alert(&log_alert(80, bf, "10.32.8.115", "10.40.0.21", 3_000_001));
        assert!(other.opened);
    }

    #[test]
    fn old_policy_finding_is_not_refined_by_a_later_attack() {
        let mut c = corr();
        let pv = c.on_alert(&policy_alert(
            0,
            PolicyKind::PolicyViolation,
            "10.32.8.115",
            "10.40.0.20",
            "county-ruili",
            "datacenter",
        ));
        // 13 minutes later: inside the 15-minute window, outside the
        // 2-minute window of "the same packets"
        let bf = c.on_alert(&alert_at(
            780,
            "network_attack/brute_force",
            "10.32.8.115",
            "10.40.0.20",
            2_001_219,
            1,
        ));
        assert!(bf.opened);
        assert_ne!(bf.update.incident.id, pv.update.incident.id);
        assert_eq!(bf.update.incident.category, "network_attack/brute_force");
        // a later finding of the pair opens nothing new
        let pv2 = c.on_alert(&policy_alert(
            790,
            PolicyKind::PolicyViolation,
            "10.32.8.115",
            "10.40.0.20",
            "county-ruili",
            "datacenter",
        ));
        assert!(!pv2.opened);
    }

    #[test]
    fn floods_of_two_vectors_are_two_incidents() {
        let mut c = corr();
        let dos = "network_attack/dos";
        let mut syn = alert_at(0, dos, "", "10.10.1.20", 1_990_040, 1);
        syn.addrs.src_ip = None;
        let syn_id = c.on_alert(&syn).update.incident.id;
        // the ICMP flood's source trips the zone policy first
        let mut pv = policy_alert(
            30,
            PolicyKind::PolicyViolation,
            "103.77.192.4",
            "10.10.1.20",
            "internet",
            "portal-dmz",
        );
        pv.addrs.proto = Some(1);
        let pv_id = c.on_alert(&pv).update.incident.id;
        assert_ne!(pv_id, syn_id, "an ICMP finding does not join a SYN flood");
        let mut icmp = alert_at(31, dos, "103.77.192.4", "10.10.1.20", 1_990_041, 1);
        icmp.addrs.proto = Some(1);
        let o = c.on_alert(&icmp);
        assert_eq!(
            o.update.incident.id, pv_id,
            "the flood refines its own finding"
        );
        assert_eq!(o.update.incident.category, dos);
        // more SYN-flood alerts stay with the SYN flood
        let mut syn2 = syn.clone();
        syn2.ts = Timestamp::from_secs_nanos(1_793_000_000 + 40, 0);
        assert_eq!(c.on_alert(&syn2).update.incident.id, syn_id);
    }

    #[test]
    fn log_alerts_without_source_join_the_session_that_named_one() {
        let mut c = corr();
        let lt = "anomaly/log_tampering";
        let first = c.on_alert(&log_alert(0, lt, "", "10.40.0.10", 1_995_050));
        assert!(first.opened && first.update.incident.src_ips.is_empty());
        let named = c.on_alert(&log_alert(5, lt, "10.50.0.9", "10.40.0.10", 1_995_050));
        assert_eq!(named.update.incident.id, first.update.incident.id);
        let ips: Vec<String> = named
            .update
            .incident
            .src_ips
            .iter()
            .map(|i| i.to_string())
            .collect();
        assert_eq!(ips, ["10.50.0.9"]);
        let after = c.on_alert(&log_alert(9, lt, "", "10.40.0.10", 1_995_050));
        assert_eq!(after.update.incident.id, first.update.incident.id);
        // another host is another incident
        assert!(
            c.on_alert(&log_alert(10, lt, "", "10.40.0.11", 1_995_050))
                .opened
        );
    }

    #[test]
    fn a_restored_window_goes_on_joining() {
        let mut c = corr();
        let scan = |secs, dst: &str| {
            policy_alert(
                secs,
                PolicyKind::PolicyViolation,
                "10.31.5.66",
                dst,
                "county-mangshi",
                "datacenter",
            )
        };
        let mut a = alert_at(
            0,
            "network_attack/scan",
            "10.31.5.66",
            "10.10.0.20",
            2_010_000,
            2,
        );
        a.addrs.dest_port = 22;
        let first = c.on_alert(&a);
        let pv = c.on_alert(&scan(1, "10.10.0.21"));
        assert_eq!(pv.update.incident.id, first.update.incident.id);
        let state = pv.update.window.clone().expect("window state");
        // a new process: the stored incident and its window
        let mut c2 = Correlator::new(CorrelatorConfig::default(), Arc::new(policy()), 2);
        c2.restore(pv.update.incident.clone(), &state).unwrap();
        assert_eq!(c2.open_count(), 1);
        let mut b = a.clone();
        b.ts = Timestamp::from_secs_nanos(1_793_000_000 + 60, 0);
        let o = c2.on_alert(&b);
        assert!(!o.opened);
        assert_eq!(o.update.incident.id, first.update.incident.id);
        assert_eq!(o.update.incident.alert_count, 3);
        // its secondary links came back too
        assert_eq!(c2.on_alert(&scan(61, "10.10.0.22")).update.incident.id, 1);
        // a new incident continues the id sequence
        let mut other = a.clone();
        other.addrs.src_ip = "10.31.5.67".parse().ok();
        assert_eq!(c2.on_alert(&other).update.incident.id, 2);
        // quiet time closes a restored window like any other
        let mut late = a.clone();
        late.ts = Timestamp::from_secs_nanos(1_793_000_000 + 5_000, 0);
        assert!(c2.on_alert(&late).opened);
        // hostile states are refused, never a panic
        for bad in ["", "{}", "[1]", "{\"v\":1}", "{\"v\":1,\"category\":\"x\",\"src\":5}",
            "{\"v\":1,\"category\":\"x\",\"src\":null,\"target\":{\"zone\":\"nowhere\"},\"vector\":0,\"links\":[]}"] {
            assert!(c2.restore(pv.update.incident.clone(), bad).is_err(), "{bad}");
        }
    }
}
