//! Replaying a syslog file through parse, decode and the log rules, as the
//! daemon does (`zoneguard replay --syslog FILE`).

use std::io::Read;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use super::engine::{Engine, LineContext};
use crate::alert::Alert;
use crate::config::Config;
use crate::syslog::decode::decode;
use crate::syslog::framing::{FrameDecoder, DEFAULT_MAX_MESSAGE_SIZE};
use crate::syslog::{parse, ParseOptions};
use crate::time::Timestamp;

/// Host names and addresses of the config, to give a log line its host's
/// address and zone.
#[derive(Clone, Debug, Default)]
pub struct HostMap {
    /// lower-case host name → (address, zone id); Fx hash: looked up for
    /// every message of the log service.
    by_name: rustc_hash::FxHashMap<String, (IpAddr, Arc<str>)>,
    /// zone id and its networks, in config order
    zones: Vec<(Arc<str>, Vec<ipnet::IpNet>)>,
}

impl HostMap {
    /// From the `zones[].hosts[]` of a config.
    pub fn from_config(cfg: &Config) -> Self {
        let mut m = HostMap::default();
        for z in &cfg.zones {
            let id: Arc<str> = Arc::from(z.id.as_str());
            m.zones.push((id.clone(), z.cidrs.clone()));
            for h in &z.hosts {
                if let Some(n) = &h.name {
                    m.by_name
                        .entry(n.to_ascii_lowercase())
                        .or_insert((h.ip, id.clone()));
                }
            }
        }
        m
    }

    /// The zone of an address (first zone whose networks contain it).
    pub fn zone_of(&self, ip: IpAddr) -> Option<&str> {
        self.zones
            .iter()
            .find(|(_, nets)| nets.iter().any(|n| n.contains(&ip)))
            .map(|(id, _)| &**id)
    }

    /// Address and zone of a host name (or of an address literal).
    pub fn locate(&self, host: &str) -> Option<(IpAddr, Option<&str>)> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Some((ip, self.zone_of(ip)));
        }
        let key;
        let name = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            key = host.to_ascii_lowercase();
            key.as_str()
        } else {
            host
        };
        // Also try the short name of an FQDN.
        let found = self.by_name.get(name).or_else(|| {
            name.split('.')
                .next()
                .filter(|s| s.len() < name.len())
                .and_then(|s| self.by_name.get(s))
        });
        found.map(|(ip, z)| (*ip, Some(&**z)))
    }
}

/// Replay settings.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Parse options: time zone and the receive time (gives the year of
    /// year-less time stamps; fix it for reproducible runs).
    pub parse: ParseOptions,
    /// Host names of the config.
    pub hosts: HostMap,
    /// Longest message; longer ones are cut and counted.
    pub max_message_size: usize,
}

impl ReplayOptions {
    /// Options from a config: its time zone and host names; receive time
    /// `received_unix` (seconds).
    pub fn from_config(cfg: &Config, received_unix: i64) -> Self {
        let parse = ParseOptions {
            tz: cfg.timezone,
            ..ParseOptions::default()
        }
        .received_at_unix(received_unix);
        ReplayOptions {
            parse,
            hosts: HostMap::from_config(cfg),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        }
    }
}

/// Counters of a replay.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Messages (lines or octet-counted frames), blank lines excluded.
    pub lines: u64,
    /// Messages that parsed.
    pub parsed: u64,
    /// Messages that did not parse (counted, skipped).
    pub unparseable: u64,
    /// Parsed messages a decoder recognised.
    pub decoded: u64,
    /// Messages cut at the maximum size.
    pub truncated: u64,
    /// A partial frame at the end of the input.
    pub incomplete: u64,
}

/// Replay failure (I/O only; bad lines are counted, never fatal).
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct ReplayError {
    /// The file.
    pub path: String,
    /// The I/O error.
    pub source: std::io::Error,
}

/// Run one message through parse, decode and the engine.
pub fn replay_message(
    data: &[u8],
    engine: &mut Engine,
    opts: &ReplayOptions,
    stats: &mut ReplayStats,
    out: &mut Vec<Alert>,
) {
    if data.iter().all(|b| b.is_ascii_whitespace()) {
        return;
    }
    stats.lines += 1;
    let Ok(msg) = parse(data, &opts.parse) else {
        stats.unparseable += 1;
        return;
    };
    stats.parsed += 1;
    let ev = decode(&msg);
    if ev.is_some() {
        stats.decoded += 1;
    }
    let located = msg.hostname.as_deref().and_then(|h| opts.hosts.locate(h));
    let ctx = LineContext {
        received: Timestamp::from_chrono(&opts.parse.received),
        host_ip: located.map(|(ip, _)| ip),
        zone: located.and_then(|(_, z)| z),
    };
    engine.on_line(&msg, ev.as_ref(), &ctx, out);
}

/// Replay a stream: one message per line (LF) or RFC 6587 octet-counted
/// frames, detected per frame.
pub fn replay_reader<R: Read>(
    mut r: R,
    engine: &mut Engine,
    opts: &ReplayOptions,
) -> std::io::Result<(Vec<Alert>, ReplayStats)> {
    let mut dec = FrameDecoder::new(opts.max_message_size);
    let mut stats = ReplayStats::default();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut last_was_lf = true;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => {
                // A last line without its LF is still a message.
                if !last_was_lf {
                    dec.push(b"\n");
                }
                dec.finish();
                0
            }
            Ok(n) => {
                last_was_lf = buf.get(n - 1) == Some(&b'\n');
                n
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Some(chunk) = buf.get(..n) {
            dec.push(chunk);
        }
        while let Some(f) = dec.next_frame() {
            match f {
                Ok(frame) => replay_message(frame.data, engine, opts, &mut stats, &mut out),
                Err(_) => stats.incomplete += 1,
            }
        }
        if n == 0 {
            break;
        }
    }
    stats.truncated = dec.truncated_count();
    Ok((out, stats))
}

/// Replay a file; the alerts come back in line order.
pub fn replay_log_file(
    path: &Path,
    engine: &mut Engine,
    opts: &ReplayOptions,
) -> Result<(Vec<Alert>, ReplayStats), ReplayError> {
    let err = |source| ReplayError {
        path: path.display().to_string(),
        source,
    };
    let f = std::fs::File::open(path).map_err(err)?;
    replay_reader(f, engine, opts).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logrules::{LoadOptions, RuleSet};

    fn engine() -> Engine {
        let mut set = RuleSet::new();
        set.load_str(
            "title: failed\nlevel: low\nlogsource: {product: linux, service: sshd}\ndetection: {sel: {event: ssh_failed}, condition: sel}\n",
            "t.yml",
            &LoadOptions::default(),
        );
        Engine::new(set)
    }

    fn opts() -> ReplayOptions {
        ReplayOptions {
            parse: ParseOptions::default().received_at_unix(1_793_584_800),
            hosts: HostMap::default(),
            max_message_size: 200,
        }
    }

    const L: &str = "<38>1 2026-11-02T09:00:00Z h sshd 1 - - Failed password for root from 192.0.2.1 port 1 ssh2";

    #[test]
    fn lines_and_octet_counting_and_no_final_newline() {
        let mut e = engine();
        let input = format!("{L}\n\n{} {L}{L}", L.len());
        let (alerts, stats) = replay_reader(input.as_bytes(), &mut e, &opts()).expect("replay");
        assert_eq!(alerts.len(), 3);
        assert_eq!((stats.lines, stats.parsed, stats.unparseable), (3, 3, 0));
    }

    #[test]
    fn junk_is_counted_not_fatal() {
        let mut e = engine();
        let mut input = Vec::new();
        input.extend_from_slice(b"\xff\xfe\x00garbage\n");
        input.extend_from_slice(&[b'x'; 1000]);
        input.push(b'\n');
        input.extend_from_slice(L.as_bytes());
        input.push(b'\n');
        let (alerts, stats) = replay_reader(&input[..], &mut e, &opts()).expect("replay");
        assert_eq!(alerts.len(), 1);
        assert_eq!(stats.truncated, 1);
        assert!(stats.lines >= 3);
    }

    #[test]
    fn host_names_map_to_address_and_zone() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/dehong-egov.yaml");
        let Ok(cfg) = Config::load(&path) else {
            return;
        };
        let m = HostMap::from_config(&cfg);
        let (ip, zone) = m.locate("portal-web01").expect("known host");
        assert_eq!(ip, IpAddr::from([10, 10, 1, 10]));
        assert!(zone.is_some());
        assert_eq!(m.locate("PORTAL-WEB01.example.gov").map(|x| x.0), Some(ip));
        assert_eq!(m.locate("10.10.1.10").map(|x| x.0), Some(ip));
        assert!(m.locate("no-such-host").is_none());
    }
}
