//! The application layer inside the pipeline: per-flow stream reassembly
//! feeding the protocol parsers, EVE application records, and the detectors
//! that read them — cleartext logins (the fifth zone-policy kind) and
//! threat-intelligence indicators.

use std::net::IpAddr;
use std::sync::Arc;

use super::worker::{policy_alert, signature_alert, Out, SigWork};
use super::Engine;
use crate::alert::{Action, Alert, AlertAddrs, AlertSource, PolicyKind};
use crate::applayer::{AppEvent, AppProto, AppState};
use crate::flow::stream::Stream;
use crate::output::EventType;
use crate::policy::{IndicatorHit, Locality};
use crate::signatures::engine::apptx::TxView;
use crate::signatures::engine::state::FlowDetect;
use crate::time::Timestamp;

/// Most distinct alerts one flow raises from its application records (a
/// DNS tunnel of thousands of queries to a bad domain alerts once per
/// name, up to this many).
const MAX_FLOW_APP_ALERTS: usize = 32;

/// Application-layer state of one flow, allocated on its first payload.
#[derive(Debug)]
pub struct AppFlow {
    /// Reassembly of [to server, to client].
    pub streams: [Stream; 2],
    /// Protocol detection and parser.
    pub state: AppState,
    raised: Vec<(u32, Arc<str>)>,
}

impl AppFlow {
    /// New state; the protocol is detected from the first bytes.
    pub fn new(state: AppState) -> Self {
        AppFlow {
            streams: [Stream::default(), Stream::default()],
            state,
            raised: Vec::new(),
        }
    }

    /// `app_proto` for EVE, once detected.
    pub fn app_proto(&self) -> Option<&'static str> {
        match self.state.proto() {
            AppProto::Unknown => None,
            p => Some(p.name()),
        }
    }

    /// True the first time (sid, key) is raised on this flow.
    fn first(&mut self, sid: u32, key: &str) -> bool {
        if self.raised.iter().any(|(s, k)| *s == sid && &**k == key) {
            return false;
        }
        if self.raised.len() >= MAX_FLOW_APP_ALERTS {
            return false;
        }
        self.raised.push((sid, Arc::from(key)));
        true
    }
}

/// What the event handler needs to know about the flow.
#[derive(Clone, Debug)]
pub struct FlowFacts {
    /// Flow id.
    pub flow_id: u64,
    /// Client address and port.
    pub client: (IpAddr, u16),
    /// Server address and port.
    pub server: (IpAddr, u16),
    /// IP protocol.
    pub proto: u8,
    /// Zones of client and server.
    pub locs: (Locality, Locality),
    /// Ethernet addresses of the current frame, if any.
    pub ether: Option<(crate::decode::Mac, crate::decode::Mac)>,
    /// VLAN id of the flow (0: untagged).
    pub vlan: u16,
}

fn vlan_list(v: u16) -> Vec<u16> {
    if v == 0 {
        Vec::new()
    } else {
        vec![v]
    }
}

/// Where an indicator was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IndicatorSource {
    Dns,
    Tls,
    Http,
    Ip,
}

impl IndicatorSource {
    fn sid(self) -> u32 {
        match self {
            IndicatorSource::Dns => 1_990_010,
            IndicatorSource::Tls => 1_990_011,
            IndicatorSource::Http => 1_990_012,
            IndicatorSource::Ip => 1_990_013,
        }
    }

    /// DNS lookups and connections are separate incidents even for the
    /// same indicator: one is a lookup, the other traffic to the host.
    fn channel(self) -> &'static str {
        match self {
            IndicatorSource::Dns => "dns",
            _ => "connection",
        }
    }

    fn message(self) -> &'static str {
        match self {
            IndicatorSource::Dns => {
                "ZONEGUARD INDICATOR 威胁情报域名解析 DNS query or answer for a listed bad domain"
            }
            IndicatorSource::Tls => {
                "ZONEGUARD INDICATOR 威胁情报域名 TLS server name of a listed bad domain"
            }
            IndicatorSource::Http => {
                "ZONEGUARD INDICATOR 威胁情报主机 HTTP host or CONNECT target on the indicator list"
            }
            IndicatorSource::Ip => {
                "ZONEGUARD INDICATOR 威胁情报地址 connection with a listed bad address"
            }
        }
    }
}

fn indicator_alert(
    ts: Timestamp,
    pcap_cnt: Option<u64>,
    f: &FlowFacts,
    app_proto: Option<&'static str>,
    src: IndicatorSource,
    hit: &IndicatorHit,
) -> Alert {
    Alert {
        ts,
        source: AlertSource::Signature,
        flow_id: Some(f.flow_id),
        pcap_cnt,
        addrs: AlertAddrs {
            src_ip: Some(f.client.0),
            src_port: f.client.1,
            dest_ip: Some(f.server.0),
            dest_port: f.server.1,
            proto: Some(f.proto),
        },
        ether: f.ether,
        vlans: vlan_list(f.vlan),
        action: Action::Allowed,
        gid: 1,
        sid: src.sid(),
        rev: 1,
        signature: Arc::from(src.message()),
        category: Arc::from("Threat Intelligence Indicator"),
        severity: 1,
        metadata: vec![
            (Arc::from("taxonomy"), vec![hit.category.clone()]),
            (Arc::from("indicator"), vec![hit.value.clone()]),
            (
                Arc::from("indicator_channel"),
                vec![Arc::from(src.channel())],
            ),
            (Arc::from("zoneguard_severity"), vec![Arc::from("high")]),
        ],
        policy: None,
        app_proto,
        log: None,
    }
}

/// Raises an alert for an address indicator on a new flow, if either end
/// is listed.
pub fn check_flow_addresses(
    engine: &Engine,
    out: &mut Out<'_>,
    ts: Timestamp,
    pcap_cnt: u64,
    f: &FlowFacts,
) -> bool {
    if engine.indicators.is_empty() {
        return false;
    }
    let hit = engine
        .indicators
        .ip(f.server.0)
        .or_else(|| engine.indicators.ip(f.client.0));
    match hit {
        Some(h) => {
            let a = indicator_alert(ts, Some(pcap_cnt), f, None, IndicatorSource::Ip, h);
            out.emit(&a);
            true
        }
        None => false,
    }
}

/// Writes the records of `events` and raises the alerts they call for.
/// `datagram` is the UDP payload that produced the events, if any (rules
/// mixing payload content with application buffers inspect it).
/// Returns true if an alert was raised.
#[allow(clippy::too_many_arguments)]
pub fn handle_events(
    engine: &Engine,
    out: &mut Out<'_>,
    app: &mut AppFlow,
    detect: &mut Option<Box<FlowDetect>>,
    f: &FlowFacts,
    ts: Timestamp,
    pcap_cnt: Option<u64>,
    datagram: Option<&[u8]>,
) -> bool {
    let mut alerted = false;
    let events = std::mem::take(&mut out.events);
    let app_proto = app.app_proto();
    for ev in &events {
        // EVE application record
        let (t, reverse) = match ev {
            AppEvent::Dns(tx) => (
                Some(EventType::Dns),
                matches!(tx.tx_type, crate::applayer::dns::DnsTxType::Response),
            ),
            AppEvent::Http(_) => (Some(EventType::Http), false),
            AppEvent::Tls(_) => (Some(EventType::Tls), false),
            AppEvent::Ssh(_) => (Some(EventType::Ssh), false),
            _ => (None, false),
        };
        if let Some(t) = t {
            if out.eve.wants(t) {
                let body = ev.eve_object();
                let (s, d) = if reverse {
                    (f.server, f.client)
                } else {
                    (f.client, f.server)
                };
                out.eve
                    .app_record(t, ts, f.flow_id, pcap_cnt, s, d, f.proto, &body);
            }
            *out.stats.app_records.entry(t.as_str()).or_default() += 1;
        }
        // signatures on the transaction
        if !engine.rules.is_empty() {
            let tx = match ev {
                AppEvent::Http(t) => Some(TxView::Http(t)),
                AppEvent::Dns(t) => Some(TxView::Dns(t)),
                AppEvent::Tls(t) => Some(TxView::Tls(t)),
                AppEvent::Ssh(t) => Some(TxView::Ssh(t)),
                _ => None,
            };
            if let Some(tx) = tx {
                if match_tx(
                    engine, out, &tx, datagram, detect, f, ts, pcap_cnt, app_proto,
                ) {
                    alerted = true;
                }
            }
        }
        // detectors reading the record
        match ev {
            AppEvent::Dns(tx) => {
                let names = tx
                    .queries
                    .iter()
                    .map(|q| q.name.as_str())
                    .chain(tx.answers.iter().map(|r| r.name.as_str()));
                for name in names {
                    if let Some(h) = engine.indicators.domain(name) {
                        if app.first(IndicatorSource::Dns.sid(), &h.value) {
                            out.emit(&indicator_alert(
                                ts,
                                pcap_cnt,
                                f,
                                app_proto,
                                IndicatorSource::Dns,
                                h,
                            ));
                            alerted = true;
                        }
                    }
                }
            }
            AppEvent::Tls(info) => {
                if let Some(h) = info
                    .sni
                    .as_deref()
                    .and_then(|s| engine.indicators.domain(s))
                {
                    if app.first(IndicatorSource::Tls.sid(), &h.value) {
                        out.emit(&indicator_alert(
                            ts,
                            pcap_cnt,
                            f,
                            app_proto,
                            IndicatorSource::Tls,
                            h,
                        ));
                        alerted = true;
                    }
                }
            }
            AppEvent::Http(tx) => {
                let target = if tx.method.eq_ignore_ascii_case("CONNECT") {
                    Some(tx.uri_raw.as_str())
                } else {
                    tx.host.as_deref()
                };
                if let Some(h) = target.and_then(|t| engine.indicators.host(t)) {
                    if app.first(IndicatorSource::Http.sid(), &h.value) {
                        out.emit(&indicator_alert(
                            ts,
                            pcap_cnt,
                            f,
                            app_proto,
                            IndicatorSource::Http,
                            h,
                        ));
                        alerted = true;
                    }
                }
            }
            AppEvent::Credentials(login)
                if cleartext_applies(engine, login.proto, f)
                    && app.first(PolicyKind::CleartextCredentials.sid(), &login.user) =>
            {
                let zone = |l: Locality| match l {
                    Locality::Zone(z) => Some(z),
                    _ => None,
                };
                let (cz, sz) = (zone(f.locs.0), zone(f.locs.1));
                let zones = (cz.or(sz).unwrap_or(0), sz.or(cz).unwrap_or(0));
                let mut a = policy_alert(
                    engine,
                    ts,
                    pcap_cnt,
                    Some(f.flow_id),
                    f.ether,
                    vlan_list(f.vlan),
                    PolicyKind::CleartextCredentials,
                    zones,
                    AlertAddrs {
                        src_ip: Some(f.client.0),
                        src_port: f.client.1,
                        dest_ip: Some(f.server.0),
                        dest_port: f.server.1,
                        proto: Some(f.proto),
                    },
                );
                if let Some(p) = a.policy.as_mut() {
                    p.app = Some(login.proto.name());
                    p.user = Some(login.user.clone());
                }
                a.app_proto = Some(login.proto.name());
                out.emit(&a);
                alerted = true;
            }
            AppEvent::Anomaly(name) => {
                *out.stats.anomalies.entry(name).or_default() += 1;
            }
            _ => {}
        }
    }
    let mut events = events;
    events.clear();
    out.events = events;
    alerted
}

/// Runs the signatures on one transaction and writes their alerts.
#[allow(clippy::too_many_arguments)]
fn match_tx(
    engine: &Engine,
    out: &mut Out<'_>,
    tx: &TxView<'_>,
    datagram: Option<&[u8]>,
    detect: &mut Option<Box<FlowDetect>>,
    f: &FlowFacts,
    ts: Timestamp,
    pcap_cnt: Option<u64>,
    app_proto: Option<&'static str>,
) -> bool {
    let SigWork {
        state,
        scratch,
        hits,
    } = &mut out.sig;
    hits.clear();
    engine.rules.match_tx(
        tx, datagram, f.client, f.server, ts, detect, state, scratch, hits,
    );
    if hits.is_empty() {
        return false;
    }
    let hits = std::mem::take(&mut out.sig.hits);
    for h in &hits {
        let Some(r) = engine.rules.rule(h.rule) else {
            continue;
        };
        let (s, d) = if r.to_client() {
            (f.server, f.client)
        } else {
            (f.client, f.server)
        };
        let mut a = signature_alert(
            r,
            ts,
            pcap_cnt,
            Some(f.flow_id),
            f.ether,
            vlan_list(f.vlan),
            AlertAddrs {
                src_ip: Some(s.0),
                src_port: s.1,
                dest_ip: Some(d.0),
                dest_port: d.1,
                proto: Some(f.proto),
            },
            app_proto,
        );
        a.action = super::worker::hit_action(h);
        out.emit(&a);
    }
    out.sig.hits = hits;
    true
}

/// True if a login over `proto` on this flow breaks the cleartext ban.
fn cleartext_applies(engine: &Engine, proto: AppProto, f: &FlowFacts) -> bool {
    let p = &engine.policy;
    if !p.reports(PolicyKind::CleartextCredentials) || !p.cleartext_banned(f.locs.0, f.locs.1) {
        return false;
    }
    match proto {
        AppProto::Http => engine.cleartext_http_basic_auth,
        AppProto::Ftp
        | AppProto::Telnet
        | AppProto::Pop3
        | AppProto::Imap
        | AppProto::Rexec
        | AppProto::Rlogin => true,
        _ => false,
    }
}
