//! The log service the daemon runs: syslog listeners from the config's
//! `syslog:` section → batches through bounded per-worker queues → worker
//! threads that parse (lenient; the sender fills a missing host name, the
//! receive time gives a missing year), decode and run the Sigma rules →
//! alerts to the daemon's channel and to `eve.json`.
//!
//! ```text
//! UDP/TCP/TLS listeners (tokio tasks)
//!     --Batch (≤512 messages)--> bounded queue per worker (by sender)
//!         --> worker thread: parse, decode, logrules::Engine
//!             --> crossbeam Sender<Alert> (try_send; full = counted)
//!             --> EveWriter (alert records with the `log` object)
//! ```
//!
//! Parsing and rules never run on the tokio reactor. Messages of one
//! sender go to one worker, in order, so correlations grouped by anything
//! that stays within one sender are exact for any number of workers; with
//! one worker (the default) every correlation is exact.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustc_hash::FxHashMap;
use tokio::sync::{mpsc, watch};

use super::config::{ListenerConfig, ListenerProtocol};
use super::decode::decode;
use super::ingest::{Batch, BatchPool, BoundListener, IngestContext, Shards, BATCH_MAX_FRAMES};
use super::listener::{ListenerError, ListenerStats};
use super::{parse, ParseOptions};
use crate::alert::Alert;
use crate::config::{Config, SenderId};
use crate::logrules::rule::LoadIoError;
use crate::logrules::{Engine, HostMap, LineContext, LoadOptions, RuleSet};
use crate::output::{EveBuf, EveWriter};
use crate::time::Timestamp;

/// `last_seen` value meaning "never".
const NEVER: i64 = i64::MIN;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// A listener could not be set up (bind, TLS files, limits).
    #[error(transparent)]
    Listener(#[from] ListenerError),
    /// The bound address could not be read back.
    #[error("syslog listener `{listener}`: {source}")]
    LocalAddr {
        /// Listener name.
        listener: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A listener's parse options are unusable (`bad_hostname`).
    #[error(transparent)]
    ListenerConfig(#[from] super::config::ConfigError),
    /// A worker thread could not be started.
    #[error("cannot start log worker thread: {0}")]
    Thread(std::io::Error),
}

/// Counters of one listener, for metrics
/// (`zoneguard_syslog_messages_total{listener, outcome}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerCounters {
    /// The listener's name.
    pub name: String,
    /// Its transport.
    pub protocol: ListenerProtocol,
    /// The bound address.
    pub local_addr: SocketAddr,
    /// Messages accepted into a worker queue.
    pub received: u64,
    /// Messages dropped (UDP with the worker queue full).
    pub dropped: u64,
    /// Messages cut at `max_message_size` (still processed).
    pub truncated: u64,
    /// Messages processed that did not parse (empty messages).
    pub unparseable: u64,
    /// Messages parsed and run through the rules.
    pub parsed: u64,
    /// Alerts raised on this listener's messages.
    pub alerts: u64,
    /// TCP/TLS connections accepted.
    pub connections: u64,
    /// TCP/TLS connections refused at `max_connections`.
    pub rejected_connections: u64,
    /// Failed TLS handshakes.
    pub tls_failures: u64,
    /// Connections that ended inside a frame.
    pub framing_errors: u64,
    /// Connections closed without sending a byte (health checks): no error.
    pub empty_connections: u64,
}

/// Counters of the whole service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServiceCounters {
    /// Alerts handed to the daemon's channel.
    pub alerts_sent: u64,
    /// Alerts the daemon's channel had no room for (still in `eve.json`).
    pub alerts_dropped: u64,
    /// Rule sets installed by [`LogService::reload`].
    pub reloads: u64,
    /// `re` matches abandoned at the PCRE2 limits (process-wide).
    pub regex_limit_hits: u64,
}

#[derive(Debug, Default)]
struct ProcCounters {
    parsed: AtomicU64,
    unparseable: AtomicU64,
    alerts: AtomicU64,
}

#[derive(Debug)]
struct ListenerEntry {
    cfg: ListenerConfig,
    local_addr: SocketAddr,
    stats: Arc<ListenerStats>,
    proc: Arc<ProcCounters>,
    task: tokio::task::JoinHandle<()>,
}

/// Expected senders and when each was last heard from.
#[derive(Debug)]
struct Expected {
    names: Vec<String>,
    last_ms: Vec<AtomicI64>,
    by_ip: FxHashMap<IpAddr, Vec<usize>>,
    by_host: FxHashMap<String, usize>,
    silence: Vec<u64>,
}

impl Expected {
    fn build(cfg: &Config, hosts: &HostMap, old: Option<&Expected>) -> Expected {
        let mut e = Expected {
            names: Vec::new(),
            last_ms: Vec::new(),
            by_ip: FxHashMap::default(),
            by_host: FxHashMap::default(),
            silence: Vec::new(),
        };
        for (i, s) in cfg.syslog.expected_senders.iter().enumerate() {
            let name = s.id.to_string();
            let prev = old
                .and_then(|o| o.names.iter().position(|n| *n == name))
                .and_then(|j| old.and_then(|o| o.last_ms.get(j)))
                .map_or(NEVER, |a| a.load(Ordering::Relaxed));
            match &s.id {
                SenderId::Ip(ip) => e.by_ip.entry(*ip).or_default().push(i),
                SenderId::Host(h) => {
                    e.by_host.insert(h.to_ascii_lowercase(), i);
                    if let Some((ip, _)) = hosts.locate(h) {
                        e.by_ip.entry(ip).or_default().push(i);
                    }
                }
            }
            e.names.push(name);
            e.last_ms.push(AtomicI64::new(prev));
            e.silence.push(s.silence_secs);
        }
        e
    }
}

/// What workers read on every batch; replaced whole on reload.
#[derive(Debug)]
struct Settings {
    generation: u64,
    rules: Arc<RuleSet>,
    tz: chrono_tz::Tz,
    hosts: HostMap,
    expected: Arc<Expected>,
}

#[derive(Debug)]
struct Shared {
    settings: Mutex<Arc<Settings>>,
    /// Each listener's `expect_hostname` and `bad_hostname`, by index.
    parse: Vec<ParseOptions>,
    generation: AtomicU64,
    procs: Vec<Arc<ProcCounters>>,
    alerts_sent: AtomicU64,
    alerts_dropped: AtomicU64,
    reloads: AtomicU64,
}

impl Shared {
    fn settings(&self) -> Arc<Settings> {
        match self.settings.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

/// The running log service.
#[derive(Debug)]
pub struct LogService {
    listeners: Vec<ListenerEntry>,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
    started: SystemTime,
}

/// Loads the Sigma rules the config names (`rules.sigma_directories`,
/// with the config's placeholders such as `admins`); bad rules are
/// rejected one by one in the set's report, only I/O errors fail.
pub fn load_rules(cfg: &Config) -> Result<RuleSet, LoadIoError> {
    let mut set = RuleSet::new();
    let opts = LoadOptions::from_config(cfg);
    for dir in &cfg.rules.sigma_directories {
        set.load_path(dir, &opts)?;
    }
    Ok(set)
}

impl LogService {
    /// Binds every listener of `cfg.syslog`, starts `cfg.syslog.workers`
    /// worker threads and begins receiving. Binds synchronously inside
    /// `rt`'s context and never blocks on it, so it may be called from
    /// inside or outside the runtime. Alerts go to `alerts` (never
    /// blocking: a full channel drops and counts) and to `eve`.
    pub fn start(
        rt: &tokio::runtime::Handle,
        cfg: &Config,
        rules: Arc<RuleSet>,
        alerts: crossbeam_channel::Sender<Alert>,
        eve: Arc<EveWriter>,
    ) -> Result<LogService, ServiceError> {
        let _guard = rt.enter();
        let n_workers = cfg.syslog.workers.max(1);
        let per_worker_batches = (cfg.syslog.queue_messages / BATCH_MAX_FRAMES).max(4);
        let hosts = HostMap::from_config(cfg);
        let expected = Arc::new(Expected::build(cfg, &hosts, None));
        let mut bound = Vec::new();
        for l in &cfg.syslog.listeners {
            let b = BoundListener::bind(l)?;
            let local_addr = b.local_addr().map_err(|source| ServiceError::LocalAddr {
                listener: l.name.clone(),
                source,
            })?;
            bound.push((l.clone(), b, local_addr));
        }
        let mut parse = Vec::with_capacity(bound.len());
        for (l, _, _) in &bound {
            parse.push(l.parse_options(ParseOptions::default())?);
        }
        let procs: Vec<Arc<ProcCounters>> = bound
            .iter()
            .map(|_| Arc::new(ProcCounters::default()))
            .collect();
        let shared = Arc::new(Shared {
            settings: Mutex::new(Arc::new(Settings {
                generation: 0,
                rules,
                tz: cfg.timezone,
                hosts,
                expected,
            })),
            generation: AtomicU64::new(0),
            parse,
            procs: procs.clone(),
            alerts_sent: AtomicU64::new(0),
            alerts_dropped: AtomicU64::new(0),
            reloads: AtomicU64::new(0),
        });
        let pool = BatchPool::new(n_workers * per_worker_batches + 16 * bound.len().max(1));
        let mut txs = Vec::new();
        let mut workers = Vec::new();
        for i in 0..n_workers {
            let (tx, rx) = mpsc::channel::<Batch>(per_worker_batches);
            txs.push(tx);
            let w = Worker {
                rx,
                pool: pool.clone(),
                shared: shared.clone(),
                alerts: alerts.clone(),
                eve: eve.clone(),
            };
            let h = std::thread::Builder::new()
                .name(format!("zg-log-{i}"))
                .spawn(move || w.run())
                .map_err(ServiceError::Thread)?;
            workers.push(h);
        }
        let shards = Shards::new(txs);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut listeners = Vec::new();
        for (i, ((cfg, b, local_addr), proc)) in bound.into_iter().zip(procs).enumerate() {
            let stats = Arc::new(ListenerStats::default());
            let cx = IngestContext {
                listener: i,
                shards: shards.clone(),
                pool: pool.clone(),
                stats: stats.clone(),
                shutdown: shutdown_rx.clone(),
            };
            let task = rt.spawn(b.run(cfg.clone(), cx));
            listeners.push(ListenerEntry {
                cfg,
                local_addr,
                stats,
                proc,
                task,
            });
        }
        // The listeners hold the only queue senders now: when they end,
        // the workers drain their queues and stop.
        drop(shards);
        Ok(LogService {
            listeners,
            shared,
            shutdown,
            workers,
            started: SystemTime::now(),
        })
    }

    /// Installs new rules and the config's time zone, host names and
    /// expected senders (last-seen times of senders still listed are
    /// kept). Each worker rebuilds its engine before its next batch, so
    /// correlation windows start afresh. Listeners are not changed:
    /// returns `false` when `cfg.syslog.listeners` differs from the
    /// running ones (a restart is needed for that).
    pub fn reload(&self, cfg: &Config, rules: Arc<RuleSet>) -> bool {
        let hosts = HostMap::from_config(cfg);
        let mut guard = match self.shared.settings.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let expected = Arc::new(Expected::build(cfg, &hosts, Some(&guard.expected)));
        let generation = guard.generation + 1;
        *guard = Arc::new(Settings {
            generation,
            rules,
            tz: cfg.timezone,
            hosts,
            expected,
        });
        drop(guard);
        self.shared.generation.store(generation, Ordering::Release);
        self.shared.reloads.fetch_add(1, Ordering::Relaxed);
        let running: Vec<&ListenerConfig> = self.listeners.iter().map(|l| &l.cfg).collect();
        running.len() == cfg.syslog.listeners.len()
            && running
                .iter()
                .zip(&cfg.syslog.listeners)
                .all(|(a, b)| **a == *b)
    }

    /// The bound address of each listener, by name (port 0 in the config
    /// gives a free port).
    pub fn local_addrs(&self) -> Vec<(String, SocketAddr)> {
        self.listeners
            .iter()
            .map(|l| (l.cfg.name.clone(), l.local_addr))
            .collect()
    }

    /// Counters per listener.
    pub fn stats(&self) -> Vec<ListenerCounters> {
        self.listeners
            .iter()
            .map(|l| {
                let s = l.stats.snapshot();
                let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
                ListenerCounters {
                    name: l.cfg.name.clone(),
                    protocol: l.cfg.protocol,
                    local_addr: l.local_addr,
                    received: s.received,
                    dropped: s.dropped,
                    truncated: s.truncated,
                    unparseable: r(&l.proc.unparseable),
                    parsed: r(&l.proc.parsed),
                    alerts: r(&l.proc.alerts),
                    connections: s.connections,
                    rejected_connections: s.rejected_connections,
                    tls_failures: s.tls_failures,
                    framing_errors: s.framing_errors,
                    empty_connections: s.empty_connections,
                }
            })
            .collect()
    }

    /// Per-sender counters of each listener (busiest first; at most
    /// [`super::listener::MAX_SENDERS`] per listener).
    pub fn senders(&self) -> Vec<(String, Vec<(IpAddr, super::listener::SenderCounts)>)> {
        self.listeners
            .iter()
            .map(|l| (l.cfg.name.clone(), l.stats.senders()))
            .collect()
    }

    /// Service-wide counters.
    pub fn service_stats(&self) -> ServiceCounters {
        ServiceCounters {
            alerts_sent: self.shared.alerts_sent.load(Ordering::Relaxed),
            alerts_dropped: self.shared.alerts_dropped.load(Ordering::Relaxed),
            reloads: self.shared.reloads.load(Ordering::Relaxed),
            regex_limit_hits: crate::logrules::modifiers::regex_limit_hits(),
        }
    }

    /// Each expected sender (`host` or `ip` as configured) and when a
    /// message of it was last processed (`None`: not since start).
    pub fn last_seen(&self) -> Vec<(String, Option<SystemTime>)> {
        let s = self.shared.settings();
        s.expected
            .names
            .iter()
            .zip(&s.expected.last_ms)
            .map(|(n, t)| (n.clone(), from_ms(t.load(Ordering::Relaxed))))
            .collect()
    }

    /// Expected senders silent for longer than their `silence_secs` at
    /// `now` (counting from the service start for one never heard), with
    /// their last-seen time: what the daemon's silence alarm reports.
    pub fn silent_senders(&self, now: SystemTime) -> Vec<(String, Option<SystemTime>)> {
        let s = self.shared.settings();
        let e = &s.expected;
        let mut out = Vec::new();
        for ((name, t), silence) in e.names.iter().zip(&e.last_ms).zip(&e.silence) {
            let last = from_ms(t.load(Ordering::Relaxed));
            let since = last.unwrap_or(self.started).max(self.started.min(now));
            let quiet = now.duration_since(since).unwrap_or(Duration::ZERO);
            if quiet > Duration::from_secs(*silence) {
                out.push((name.clone(), last));
            }
        }
        out
    }

    /// Stops listening (connections end after the data already read),
    /// lets the workers process everything queued, flushes `eve.json`
    /// and returns when all is done.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    /// [`LogService::shutdown`] keeping the service, so that its final
    /// counters can still be read; calling it again does nothing.
    pub async fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        for l in &mut self.listeners {
            // The accept/receive task ends at once; connection tasks end
            // after handing on what they read, and hold queue senders until
            // then, so the workers below see every batch.
            let _ = (&mut l.task).await;
        }
        let workers = std::mem::take(&mut self.workers);
        if workers.is_empty() {
            return;
        }
        let _ = tokio::task::spawn_blocking(move || {
            for w in workers {
                let _ = w.join();
            }
        })
        .await;
    }
}

impl Drop for LogService {
    /// Dropped without [`LogService::shutdown`]: the listeners stop and the
    /// workers finish their queues in the background.
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

fn from_ms(ms: i64) -> Option<SystemTime> {
    if ms == NEVER {
        return None;
    }
    let d = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    }
}

struct Worker {
    rx: mpsc::Receiver<Batch>,
    pool: BatchPool,
    shared: Arc<Shared>,
    alerts: crossbeam_channel::Sender<Alert>,
    eve: Arc<EveWriter>,
}

impl Worker {
    fn run(mut self) {
        let mut settings = self.shared.settings();
        let mut engine = Engine::new((*settings.rules).clone());
        let eve = self.eve.clone();
        let mut buf = EveBuf::new(&eve, settings.tz);
        let mut out: Vec<Alert> = Vec::new();
        let mut touched: Vec<usize> = Vec::new();
        while let Some(batch) = self.rx.blocking_recv() {
            if self.shared.generation.load(Ordering::Acquire) != settings.generation {
                settings = self.shared.settings();
                engine = Engine::new((*settings.rules).clone());
                buf.flush();
                buf = EveBuf::new(&eve, settings.tz);
            }
            self.process(&batch, &settings, &mut engine, &mut out, &mut touched);
            if !out.is_empty() {
                if let Some(p) = self.shared.procs.get(batch.listener) {
                    p.alerts.fetch_add(out.len() as u64, Ordering::Relaxed);
                }
                for a in out.drain(..) {
                    buf.alert(&a);
                    match self.alerts.try_send(a) {
                        Ok(()) => self.shared.alerts_sent.fetch_add(1, Ordering::Relaxed),
                        Err(_) => self.shared.alerts_dropped.fetch_add(1, Ordering::Relaxed),
                    };
                }
                buf.flush();
            }
            self.pool.put(batch);
        }
        buf.flush();
        let _ = eve.flush();
    }

    fn process(
        &self,
        batch: &Batch,
        settings: &Settings,
        engine: &mut Engine,
        out: &mut Vec<Alert>,
        touched: &mut Vec<usize>,
    ) {
        let listener = self.shared.parse.get(batch.listener);
        let mut opts = ParseOptions {
            strict: false,
            tz: settings.tz,
            received: batch.received,
            sender: None,
            expect_hostname: listener.is_none_or(|o| o.expect_hostname),
            bad_hostname: listener.and_then(|o| o.bad_hostname.clone()),
        };
        let received = Timestamp::from_chrono(&batch.received);
        let expected = &settings.expected;
        let track = !expected.names.is_empty();
        touched.clear();
        let (mut parsed, mut unparseable) = (0u64, 0u64);
        for (bytes, f) in batch.messages() {
            let sender = f.peer.ip();
            opts.sender = Some(sender);
            let Ok(msg) = parse(bytes, &opts) else {
                unparseable += 1;
                continue;
            };
            parsed += 1;
            let ev = decode(&msg);
            // The host the line names (config host names or an address),
            // else the sender.
            let located = msg
                .hostname
                .as_deref()
                .and_then(|h| settings.hosts.locate(h));
            let (host_ip, zone) = match located {
                Some((ip, z)) => (ip, z),
                None => (sender, settings.hosts.zone_of(sender)),
            };
            if track {
                mark(expected, sender, host_ip, msg.hostname.as_deref(), touched);
            }
            let ctx = LineContext {
                received,
                host_ip: Some(host_ip),
                zone,
            };
            engine.on_line(&msg, ev.as_ref(), &ctx, out);
        }
        if let Some(p) = self.shared.procs.get(batch.listener) {
            p.parsed.fetch_add(parsed, Ordering::Relaxed);
            p.unparseable.fetch_add(unparseable, Ordering::Relaxed);
        }
        if !touched.is_empty() {
            let ms = batch.received.timestamp_millis();
            for &i in touched.iter() {
                if let Some(a) = expected.last_ms.get(i) {
                    a.fetch_max(ms, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Notes which expected senders a message comes from.
fn mark(
    e: &Expected,
    sender: IpAddr,
    host_ip: IpAddr,
    hostname: Option<&str>,
    touched: &mut Vec<usize>,
) {
    let mut add = |i: usize| {
        if !touched.contains(&i) {
            touched.push(i);
        }
    };
    for ip in [sender, host_ip] {
        if let Some(v) = e.by_ip.get(&ip) {
            v.iter().for_each(|&i| add(i));
        }
    }
    if let Some(h) = hostname {
        if !e.by_host.is_empty() {
            let hit = if h.bytes().any(|b| b.is_ascii_uppercase()) {
                e.by_host.get(&h.to_ascii_lowercase())
            } else {
                e.by_host.get(h)
            };
            if let Some(&i) = hit {
                add(i);
            }
        }
    }
}
