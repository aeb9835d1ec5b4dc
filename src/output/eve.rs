//! The EVE JSON writer: Suricata-compatible records, one per line.
//!
//! Workers format records into their own [`EveBuf`] and hand whole chunks
//! of complete lines to the shared [`EveWriter`], so the file lock is taken
//! once per chunk, not once per record, and lines from different workers
//! never interleave. A write error (disk full) is counted and reported, and
//! detection goes on.

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::json::{mac_str, proto_name, Obj};
use crate::alert::Alert;
use crate::time::{EveClock, Timestamp};

/// EVE record types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum EventType {
    /// `alert`
    Alert = 0,
    /// `flow`
    Flow = 1,
    /// `anomaly`
    Anomaly = 2,
    /// `stats`
    Stats = 3,
    /// `dns`
    Dns = 4,
    /// `http`
    Http = 5,
    /// `tls`
    Tls = 6,
    /// `ssh`
    Ssh = 7,
}

impl EventType {
    /// Every type.
    pub const ALL: [EventType; 8] = [
        EventType::Alert,
        EventType::Flow,
        EventType::Anomaly,
        EventType::Stats,
        EventType::Dns,
        EventType::Http,
        EventType::Tls,
        EventType::Ssh,
    ];

    /// The `event_type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Alert => "alert",
            EventType::Flow => "flow",
            EventType::Anomaly => "anomaly",
            EventType::Stats => "stats",
            EventType::Dns => "dns",
            EventType::Http => "http",
            EventType::Tls => "tls",
            EventType::Ssh => "ssh",
        }
    }

    /// Parses an `event_type` name.
    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A set of enabled record types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventTypes(u16);

impl Default for EventTypes {
    fn default() -> Self {
        EventTypes::all()
    }
}

impl EventTypes {
    /// Every type enabled.
    pub fn all() -> Self {
        EventTypes(u16::MAX)
    }

    /// Parses a comma-separated list (`alert,flow`), naming the first
    /// unknown type in the error.
    pub fn parse_list(s: &str) -> Result<Self, String> {
        let mut bits = 0u16;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match EventType::parse(part) {
                Some(t) => bits |= 1 << (t as u8),
                None => {
                    return Err(format!(
                        "unknown EVE record type '{part}' (known: alert, flow, anomaly, stats, dns, http, tls, ssh)"
                    ))
                }
            }
        }
        Ok(EventTypes(bits))
    }

    /// True if `t` is enabled.
    pub fn has(self, t: EventType) -> bool {
        self.0 & (1 << (t as u8)) != 0
    }
}

/// The shared EVE sink (a file, or any writer in tests).
pub struct EveWriter {
    out: Mutex<Box<dyn Write + Send>>,
    types: EventTypes,
    records: AtomicU64,
    write_errors: AtomicU64,
    lost_records: AtomicU64,
}

impl std::fmt::Debug for EveWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EveWriter")
            .field("types", &self.types)
            .field("records", &self.records)
            .finish()
    }
}

impl EveWriter {
    /// Creates (truncates) `path`.
    pub fn create(path: &Path, types: EventTypes) -> std::io::Result<Self> {
        let f = std::fs::File::create(path)?;
        Ok(Self::from_writer(
            Box::new(std::io::BufWriter::with_capacity(1 << 20, f)),
            types,
        ))
    }

    /// Opens `path` for appending with rotation (the daemon's writer); the
    /// returned control asks it to reopen after logrotate.
    pub fn open_rotating(
        path: &Path,
        types: EventTypes,
        policy: super::rotate::RotatePolicy,
    ) -> std::io::Result<(Self, std::sync::Arc<super::rotate::RotateControl>)> {
        let (f, ctl) = super::rotate::RotatingFile::open(path, policy)?;
        Ok((Self::from_writer(Box::new(f), types), ctl))
    }

    /// Wraps any writer.
    pub fn from_writer(w: Box<dyn Write + Send>, types: EventTypes) -> Self {
        EveWriter {
            out: Mutex::new(w),
            types,
            records: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
            lost_records: AtomicU64::new(0),
        }
    }

    /// Enabled record types.
    pub fn types(&self) -> EventTypes {
        self.types
    }

    /// Writes a chunk of complete lines holding `records` records.
    pub fn write_chunk(&self, chunk: &[u8], records: u64) {
        if chunk.is_empty() {
            return;
        }
        let res = match self.out.lock() {
            Ok(mut w) => w.write_all(chunk),
            Err(poisoned) => poisoned.into_inner().write_all(chunk),
        };
        match res {
            Ok(()) => {
                self.records.fetch_add(records, Ordering::Relaxed);
            }
            Err(e) => {
                let n = self.write_errors.fetch_add(1, Ordering::Relaxed);
                self.lost_records.fetch_add(records, Ordering::Relaxed);
                if n.is_power_of_two() {
                    tracing::error!("eve.json write failed ({} failures so far): {e}", n + 1);
                }
            }
        }
    }

    /// Flushes buffered output to the file.
    pub fn flush(&self) -> std::io::Result<()> {
        match self.out.lock() {
            Ok(mut w) => w.flush(),
            Err(p) => p.into_inner().flush(),
        }
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    /// Records that could not be written (disk full, I/O error).
    pub fn lost_records(&self) -> u64 {
        self.lost_records.load(Ordering::Relaxed)
    }
}

/// The end-of-flow facts a `flow` record carries.
#[derive(Clone, Debug)]
pub struct FlowRecord<'a> {
    /// Flow id.
    pub flow_id: u64,
    /// Client address.
    pub src_ip: IpAddr,
    /// Client port.
    pub src_port: u16,
    /// Server address.
    pub dest_ip: IpAddr,
    /// Server port.
    pub dest_port: u16,
    /// IP protocol.
    pub proto: u8,
    /// VLAN id (0: none).
    pub vlan: u16,
    /// Application protocol.
    pub app_proto: Option<&'a str>,
    /// Packets client → server.
    pub pkts_toserver: u64,
    /// Packets server → client.
    pub pkts_toclient: u64,
    /// Bytes client → server.
    pub bytes_toserver: u64,
    /// Bytes server → client.
    pub bytes_toclient: u64,
    /// First packet time.
    pub start: Timestamp,
    /// Last packet time.
    pub end: Timestamp,
    /// `new`, `established` or `closed`.
    pub state: &'a str,
    /// `timeout`, `forced` or `shutdown`.
    pub reason: &'a str,
    /// An alert was raised on the flow.
    pub alerted: bool,
    /// TCP: flags to server, flags to client, state.
    pub tcp: Option<(u8, u8, &'a str)>,
}

/// A worker's EVE buffer: formats records and flushes them in chunks.
pub struct EveBuf<'w> {
    writer: &'w EveWriter,
    buf: Vec<u8>,
    pending: u64,
    clock: EveClock,
    ts_scratch: String,
}

const CHUNK: usize = 256 * 1024;

impl<'w> EveBuf<'w> {
    /// A buffer feeding `writer`, printing times in `tz`.
    pub fn new(writer: &'w EveWriter, tz: chrono_tz::Tz) -> Self {
        EveBuf {
            writer,
            buf: Vec::with_capacity(CHUNK + 4096),
            pending: 0,
            clock: EveClock::new(tz),
            ts_scratch: String::with_capacity(40),
        }
    }

    /// True if records of type `t` are written.
    pub fn wants(&self, t: EventType) -> bool {
        self.writer.types.has(t)
    }

    fn finish_record(&mut self) {
        self.buf.push(b'\n');
        self.pending += 1;
        if self.buf.len() >= CHUNK {
            self.flush();
        }
    }

    /// Hands the buffered lines to the writer.
    pub fn flush(&mut self) {
        self.writer.write_chunk(&self.buf, self.pending);
        self.buf.clear();
        self.pending = 0;
    }

    fn ts(&mut self, ts: Timestamp) -> &str {
        self.ts_scratch.clear();
        self.clock.write(ts, &mut self.ts_scratch);
        &self.ts_scratch
    }

    /// Formats a timestamp as EVE does.
    pub fn format_ts(&mut self, ts: Timestamp) -> String {
        self.ts(ts).to_string()
    }

    /// Writes an `alert` record.
    pub fn alert(&mut self, a: &Alert) {
        if !self.wants(EventType::Alert) {
            return;
        }
        let ts = self.format_ts(a.ts);
        let mut o = Obj::new(&mut self.buf);
        o.str("timestamp", &ts);
        if let Some(id) = a.flow_id {
            o.u64("flow_id", id);
        }
        if let Some(c) = a.pcap_cnt {
            o.u64("pcap_cnt", c);
        }
        o.str("event_type", "alert");
        if let Some(v) = a.vlans.first() {
            let _ = v;
            o.raw(
                "vlan",
                &format!(
                    "[{}]",
                    a.vlans
                        .iter()
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            );
        }
        if let Some(ip) = a.addrs.src_ip {
            o.ip("src_ip", ip);
        }
        let ported = matches!(a.addrs.proto, Some(6) | Some(17) | Some(132));
        if ported {
            o.u64("src_port", u64::from(a.addrs.src_port));
        }
        if let Some(ip) = a.addrs.dest_ip {
            o.ip("dest_ip", ip);
        }
        if ported {
            o.u64("dest_port", u64::from(a.addrs.dest_port));
        }
        if let Some(p) = a.addrs.proto {
            o.str("proto", &proto_name(p));
        }
        if let Some((s, d)) = &a.ether {
            let mut e = o.obj("ether");
            e.str("src_mac", &mac_str(s)).str("dest_mac", &mac_str(d));
            e.end();
        }
        {
            let mut al = o.obj("alert");
            al.str("action", a.action.as_str())
                .u64("gid", u64::from(a.gid))
                .u64("signature_id", u64::from(a.sid))
                .u64("rev", u64::from(a.rev))
                .str("signature", &a.signature)
                .str("category", &a.category)
                .u64("severity", u64::from(a.severity));
            if !a.metadata.is_empty() {
                let mut m = al.obj("metadata");
                for (k, vals) in &a.metadata {
                    m.str_array(k, vals.iter().map(|v| &**v));
                }
                m.end();
            }
            al.end();
        }
        if let Some(p) = &a.policy {
            let mut po = o.obj("policy");
            po.str("kind", p.kind.as_str())
                .str("src_zone", &p.src_zone)
                .str("dest_zone", &p.dest_zone)
                .u64("level", u64::from(p.level))
                .str_or_null("unit", p.unit.as_deref());
            po.opt_str("contact", p.contact.as_deref());
            po.opt_str("app", p.app);
            if let Some(u) = &p.user {
                po.str("user", u).str("password", "[redacted]");
            }
            po.end();
        }
        if let Some(ap) = a.app_proto {
            o.str("app_proto", ap);
        }
        if let Some(l) = &a.log {
            let mut lo = o.obj("log");
            lo.str_or_null("host", l.host.as_deref())
                .str_or_null("program", l.program.as_deref())
                .str("message", &l.message);
            lo.end();
        }
        o.end();
        self.finish_record();
    }

    /// Writes a `flow` record.
    pub fn flow(&mut self, f: &FlowRecord<'_>) {
        if !self.wants(EventType::Flow) {
            return;
        }
        let ts = self.format_ts(f.start);
        let start = ts.clone();
        let end = self.format_ts(f.end);
        let mut o = Obj::new(&mut self.buf);
        o.str("timestamp", &ts)
            .u64("flow_id", f.flow_id)
            .str("event_type", "flow");
        if f.vlan != 0 {
            o.raw("vlan", &format!("[{}]", f.vlan));
        }
        o.ip("src_ip", f.src_ip);
        let ported = matches!(f.proto, 6 | 17 | 132);
        if ported {
            o.u64("src_port", u64::from(f.src_port));
        }
        o.ip("dest_ip", f.dest_ip);
        if ported {
            o.u64("dest_port", u64::from(f.dest_port));
        }
        o.str("proto", &proto_name(f.proto));
        if let Some(ap) = f.app_proto {
            o.str("app_proto", ap);
        }
        {
            let mut fl = o.obj("flow");
            fl.u64("pkts_toserver", f.pkts_toserver)
                .u64("pkts_toclient", f.pkts_toclient)
                .u64("bytes_toserver", f.bytes_toserver)
                .u64("bytes_toclient", f.bytes_toclient)
                .str("start", &start)
                .str("end", &end)
                .i64("age", f.end.secs() - f.start.secs())
                .str("state", f.state)
                .str("reason", f.reason)
                .bool("alerted", f.alerted);
            fl.end();
        }
        if let Some((ts_flags, tc_flags, state)) = f.tcp {
            let all = ts_flags | tc_flags;
            let mut t = o.obj("tcp");
            t.str("tcp_flags", &format!("{all:02x}"))
                .str("tcp_flags_ts", &format!("{ts_flags:02x}"))
                .str("tcp_flags_tc", &format!("{tc_flags:02x}"));
            for (bit, name) in [
                (0x01u8, "fin"),
                (0x02, "syn"),
                (0x04, "rst"),
                (0x08, "psh"),
                (0x10, "ack"),
                (0x20, "urg"),
                (0x40, "ecn"),
                (0x80, "cwr"),
            ] {
                if all & bit != 0 {
                    t.bool(name, true);
                }
            }
            t.str("state", state);
            t.end();
        }
        o.end();
        self.finish_record();
    }

    /// Writes an `anomaly` record for a decoder event.
    #[allow(clippy::too_many_arguments)]
    pub fn anomaly(
        &mut self,
        ts: Timestamp,
        pcap_cnt: Option<u64>,
        src: Option<IpAddr>,
        dst: Option<IpAddr>,
        proto: Option<u8>,
        event: &str,
        layer: &str,
    ) {
        if !self.wants(EventType::Anomaly) {
            return;
        }
        let t = self.format_ts(ts);
        let mut o = Obj::new(&mut self.buf);
        o.str("timestamp", &t);
        if let Some(c) = pcap_cnt {
            o.u64("pcap_cnt", c);
        }
        o.str("event_type", "anomaly");
        if let Some(s) = src {
            o.ip("src_ip", s);
        }
        if let Some(d) = dst {
            o.ip("dest_ip", d);
        }
        if let Some(p) = proto {
            o.str("proto", &proto_name(p));
        }
        let mut a = o.obj("anomaly");
        a.str("type", "decode")
            .str("event", event)
            .str("layer", layer);
        a.end();
        o.end();
        self.finish_record();
    }

    /// Writes a record whose body the caller builds (application-layer
    /// records: `dns`, `http`, `tls`, `ssh`), with the common envelope.
    #[allow(clippy::too_many_arguments)]
    pub fn app_record(
        &mut self,
        t: EventType,
        ts: Timestamp,
        flow_id: u64,
        pcap_cnt: Option<u64>,
        src: (IpAddr, u16),
        dst: (IpAddr, u16),
        proto: u8,
        body: &serde_json::Map<String, serde_json::Value>,
    ) {
        if !self.wants(t) {
            return;
        }
        let tstr = self.format_ts(ts);
        let mut o = Obj::new(&mut self.buf);
        o.str("timestamp", &tstr).u64("flow_id", flow_id);
        if let Some(c) = pcap_cnt {
            o.u64("pcap_cnt", c);
        }
        o.str("event_type", t.as_str())
            .ip("src_ip", src.0)
            .u64("src_port", u64::from(src.1))
            .ip("dest_ip", dst.0)
            .u64("dest_port", u64::from(dst.1))
            .str("proto", &proto_name(proto));
        for (k, v) in body {
            o.value(k, v);
        }
        o.end();
        self.finish_record();
    }

    /// Writes a `stats` record with the given body.
    pub fn stats(&mut self, ts: Timestamp, body: &serde_json::Value) {
        if !self.wants(EventType::Stats) {
            return;
        }
        let t = self.format_ts(ts);
        let mut o = Obj::new(&mut self.buf);
        o.str("timestamp", &t)
            .str("event_type", "stats")
            .value("stats", body);
        o.end();
        self.finish_record();
    }
}

impl Drop for EveBuf<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}
