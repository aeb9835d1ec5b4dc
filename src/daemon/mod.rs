//! `zoneguard run`: the live daemon.
//!
//! Threads (see docs/daemon.md):
//!
//! ```text
//! capture workers (std threads, one per AF_PACKET socket in a fanout group)
//!     └─ alerts ─┐ bounded
//! log service ───┼──────────► alert consumer thread ─► incident Manager ─► SQLite writer thread
//! sensor checks ─┘
//! tokio runtime: signals, reload, /metrics + API, syslog listeners, watchdog, silence checks
//! ```
//!
//! The detection snapshot ([`snapshot::Snapshot`]) sits in an `ArcSwap`; a
//! reload builds a new one on a blocking thread while the workers run on
//! the old one, swaps it and bumps a generation counter that each worker
//! reads about every 100 ms. The old snapshot is freed when the last
//! worker lets go of it, so memory peaks at old + new ruleset and no
//! packet waits for the reload.

pub mod consumer;
pub mod sdnotify;
pub mod snapshot;
pub mod workers;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::alert::{Action, Alert, AlertAddrs, AlertSource};
use crate::config::QueueBackend;
use crate::incident::{Manager, Summary};
use crate::metrics::{InterfaceCounters, ListenerCounters, Metrics};
use crate::output::rotate::{RotateControl, RotatePolicy};
use crate::output::{EveWriter, EventTypes};
use crate::queue::nats::publisher::AlertPublisher;
use crate::queue::StoreConfig;
use crate::syslog::service::LogService;
use crate::time::Timestamp;

pub use snapshot::{Snapshot, SnapshotError};
pub use workers::PacketSource;

/// Errors that stop the daemon from starting (or end it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// The config or rules could not be loaded.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// A file or directory could not be created or opened.
    #[error("{what} {path}: {source}")]
    Io {
        /// What it is for.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The incident store could not be opened.
    #[error("incident store / 事件库 {path}: {source}")]
    Store {
        /// The store file.
        path: PathBuf,
        /// Why.
        source: crate::queue::StoreError,
    },
    /// A capture interface could not be opened.
    #[error("{0}")]
    Capture(String),
    /// The HTTP listener (metrics, API) could not be bound.
    #[error("cannot listen on {addr} (metrics/API): {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The notifier could not be set up (a CA or key file of a destination).
    #[error("notifications / 通知: {0}")]
    Notify(String),
    /// The NATS publisher could not be set up.
    #[error("NATS: {0}")]
    Nats(String),
    /// The API could not be set up (store, TLS certificates).
    #[error("API: {0}")]
    Api(String),
    /// A syslog listener could not be started.
    #[error("syslog: {0}")]
    Syslog(String),
    /// A thread or the runtime could not be started.
    #[error("cannot start {what}: {source}")]
    Thread {
        /// Which.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// Shutdown did not finish in time.
    #[error("shutdown took longer than {0} s; exiting with records possibly unflushed")]
    ShutdownTimeout(u64),
}

/// State shared by the daemon's threads.
pub struct Shared {
    /// The running snapshot.
    pub snapshot: ArcSwap<Snapshot>,
    /// Bumped by every successful reload.
    pub generation: AtomicU64,
    /// Set at shutdown.
    pub stop: AtomicBool,
    /// The metrics.
    pub metrics: Metrics,
    /// The EVE writer.
    pub eve: Arc<EveWriter>,
    /// Its rotation/reopen control.
    pub eve_control: Arc<RotateControl>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// Options of `zoneguard run`.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The config file.
    pub config: PathBuf,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct RunSummary {
    /// Packets processed.
    pub packets: u64,
    /// Alerts handed to the incident layer.
    pub alerts: u64,
    /// Reloads that succeeded / failed.
    pub reloads: (u64, u64),
    /// The incident layer's summary.
    pub incidents: Option<Summary>,
    /// EVE records written and lost.
    pub eve: (u64, u64),
}

/// The address of the HTTP listener (metrics and API).
pub fn http_listen(cfg: &crate::config::Config) -> SocketAddr {
    cfg.api.listen
}

fn mkdir(what: &'static str, p: &Path) -> Result<(), DaemonError> {
    std::fs::create_dir_all(p).map_err(|source| DaemonError::Io {
        what,
        path: p.to_path_buf(),
        source,
    })
}

/// Interval of the metrics refresh (counters published by the workers).
const METRICS_EVERY: Duration = Duration::from_secs(1);
/// Interval of the store-derived gauges (incident counts).
const STORE_GAUGES_EVERY: Duration = Duration::from_secs(10);

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(opts: &RunOptions) -> Result<RunSummary, DaemonError> {
    let notifier = sdnotify::Notifier::from_env();
    let snap = Snapshot::load(&opts.config)?;
    for m in snap.counts.messages.iter().take(20) {
        tracing::warn!("rule not loaded / 规则未加载: {m}");
    }
    let cfg = Arc::clone(&snap.config);
    let d = &cfg.daemon;
    mkdir("state directory / 状态目录", &d.state_dir)?;
    mkdir("log directory / 日志目录", &d.log_dir)?;
    let types = EventTypes::parse_list(&cfg.outputs.eve.types.join(","))
        .unwrap_or_else(|_| EventTypes::all());
    let eve_path = d.log_dir.join(&cfg.outputs.eve.filename);
    let (eve, eve_control) = EveWriter::open_rotating(
        &eve_path,
        types,
        RotatePolicy {
            max_bytes: d.eve_rotate_bytes,
            max_age: Duration::from_secs(d.eve_rotate_secs),
            keep: d.eve_keep,
        },
    )
    .map_err(|source| DaemonError::Io {
        what: "EVE output / EVE 输出",
        path: eve_path.clone(),
        source,
    })?;
    let metrics = Metrics::new().map_err(|e| DaemonError::Thread {
        what: "metrics",
        source: std::io::Error::other(e.to_string()),
    })?;
    metrics.started();
    metrics.set_rules(
        "signature",
        snap.counts.signatures,
        snap.counts.signatures_rejected,
    );
    metrics.set_rules("log", snap.counts.log_rules, snap.counts.log_rules_rejected);
    let db = cfg
        .incidents
        .store
        .clone()
        .unwrap_or_else(|| d.state_dir.join("incidents.db"));
    let mut mgr = Manager::open(
        &db,
        Arc::new(snap.engine.policy.clone()),
        cfg.incidents.correlator_config(),
        StoreConfig::default(),
    )
    .map_err(|source| DaemonError::Store {
        path: db.clone(),
        source,
    })?;
    let shared = Arc::new(Shared {
        snapshot: ArcSwap::from_pointee(snap),
        generation: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        metrics,
        eve: Arc::new(eve),
        eve_control,
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("zg-async")
        .enable_all()
        .build()
        .map_err(|source| DaemonError::Thread {
            what: "async runtime",
            source,
        })?;
    // notifications (webhooks, syslog to a SIEM) of opened and raised incidents
    let outbound = if cfg.notify.webhooks.is_empty() && cfg.notify.syslog.is_empty() {
        None
    } else {
        let (tx, rx) = tokio::sync::mpsc::channel(4096);
        mgr.set_notifier(tx);
        let _guard = rt.enter();
        Some(
            crate::notify::spawn(&cfg.notify, db.clone(), rx)
                .map_err(|e| DaemonError::Notify(e.to_string()))?,
        )
    };
    let (wtx, wrx) = crossbeam_channel::bounded::<workers::ToConsumer>(1024);
    let (stx, srx) = crossbeam_channel::bounded::<Alert>(65_536);
    let consumer_stats = Arc::new(consumer::ConsumerStats::default());
    // many sensors, one queue: alerts also go to NATS JetStream
    let (publish_tx, publisher) = if cfg.queue.backend == QueueBackend::Nats {
        let mut qc = cfg.queue.clone();
        if qc.nats.spool.is_none() {
            // nothing acknowledged is lost while NATS is away
            qc.nats.spool = Some(d.state_dir.join("nats-spool.db"));
        }
        let publisher = rt
            .block_on(AlertPublisher::connect(&qc))
            .map_err(|e| DaemonError::Nats(e.to_string()))?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Alert>(65_536);
        (Some(tx), Some((Arc::new(publisher), rx)))
    } else {
        (None, None)
    };
    let consumer = {
        let shared = Arc::clone(&shared);
        let st = Arc::clone(&consumer_stats);
        std::thread::Builder::new()
            .name("zg-alerts".into())
            .spawn(move || consumer::run(&shared, mgr, wrx, srx, &st, publish_tx))
            .map_err(|source| DaemonError::Thread {
                what: "alert consumer",
                source,
            })?
    };
    // capture workers
    let capture = match capture::start(&shared, &wtx) {
        Ok(c) => c,
        Err(e) => {
            shared.stop.store(true, Ordering::Release);
            drop((wtx, stx));
            let _ = consumer.join();
            return Err(e);
        }
    };
    drop(wtx);
    let log = match LogService::start(
        rt.handle(),
        &cfg,
        Arc::clone(&shared.snapshot.load().log_rules),
        stx.clone(),
        Arc::clone(&shared.eve),
    ) {
        Ok(l) => l,
        Err(e) => {
            shared.stop.store(true, Ordering::Release);
            drop(stx);
            let _ = capture.join(Instant::now() + Duration::from_secs(5));
            let _ = consumer.join();
            return Err(DaemonError::Syslog(e.to_string()));
        }
    };
    for (name, addr) in log.local_addrs() {
        tracing::info!("syslog listener {name} on {addr} / syslog 接收端口");
    }
    let listen = http_listen(&cfg);
    let (reload_tx, reload_rx) = tokio::sync::mpsc::channel(4);
    let api = crate::api::ApiState::new(&cfg.api, db.clone(), Some(reload_tx))
        .and_then(|a| crate::api::tls_config(&cfg.api).map(|t| (a, t)));
    let (api, tls) = match api {
        Ok(v) => v,
        Err(e) => {
            shared.stop.store(true, Ordering::Release);
            drop(stx);
            rt.block_on(log.shutdown());
            let _ = capture.join(Instant::now() + Duration::from_secs(5));
            let _ = consumer.join();
            return Err(DaemonError::Api(e.to_string()));
        }
    };
    let publish_task = publisher.map(|(p, mut rx)| {
        let task_p = Arc::clone(&p);
        let task = rt.spawn(async move {
            while let Some(a) = rx.recv().await {
                if let Err(e) = task_p.publish(&a).await {
                    tracing::warn!("NATS publish / NATS 发布: {e}");
                }
            }
        });
        (p, task)
    });
    let res = rt.block_on(async_main(
        Arc::clone(&shared),
        &notifier,
        Http {
            listen,
            tls,
            api,
            reload_rx,
        },
        db.clone(),
        capture.slots.clone(),
        log,
        stx,
    ));
    // stop capture: workers flush their flows and hand over their alerts
    notifier.stopping();
    shared.stop.store(true, Ordering::Release);
    let deadline = Instant::now() + Duration::from_secs(cfg.daemon.shutdown_timeout_secs);
    let packets = capture.join(deadline);
    let incidents = join_until(consumer, deadline);
    if let Some(n) = outbound {
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = rt.block_on(async { tokio::time::timeout(left, n.shutdown()).await });
    }
    if let Some((p, task)) = publish_task {
        // the consumer has ended: its sender is gone, the task drains
        let left = deadline.saturating_duration_since(Instant::now());
        let st = rt.block_on(async {
            let _ = tokio::time::timeout(left, task).await;
            p.close().await
        });
        tracing::info!(
            "NATS: {} published, {} acknowledged, {} spooled, {} dropped / 已发布、已确认、已暂存、丢弃",
            st.published,
            st.acked,
            st.spooled,
            st.dropped
        );
    }
    let _ = shared.eve.flush();
    rt.shutdown_timeout(Duration::from_millis(500));
    let (reloads_ok, reloads_failed) = res?;
    let timed_out = incidents.is_none();
    let summary = RunSummary {
        packets,
        alerts: consumer_stats.alerts.load(Ordering::Relaxed),
        reloads: (reloads_ok, reloads_failed),
        incidents,
        eve: (shared.eve.records(), shared.eve.lost_records()),
    };
    if timed_out {
        return Err(DaemonError::ShutdownTimeout(
            cfg.daemon.shutdown_timeout_secs,
        ));
    }
    Ok(summary)
}

fn join_until<T>(h: std::thread::JoinHandle<T>, deadline: Instant) -> Option<T> {
    while !h.is_finished() {
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    h.join().ok()
}

/// The async side: HTTP, signals, reload, watchdog, metrics refresh,
/// silence checks. Returns (reloads ok, failed) when asked to stop.
/// What the HTTP listener needs.
struct Http {
    listen: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    api: Arc<crate::api::ApiState>,
    reload_rx: tokio::sync::mpsc::Receiver<tokio::sync::oneshot::Sender<Result<String, String>>>,
}

async fn async_main(
    shared: Arc<Shared>,
    notifier: &sdnotify::Notifier,
    http: Http,
    db: PathBuf,
    slots: Vec<Arc<workers::WorkerSlot>>,
    log: LogService,
    sensor_alerts: crossbeam_channel::Sender<Alert>,
) -> Result<(u64, u64), DaemonError> {
    use tokio::signal::unix::{signal, SignalKind};
    let sig = |k| {
        signal(k).map_err(|source| DaemonError::Thread {
            what: "signal handler",
            source,
        })
    };
    let mut hup = sig(SignalKind::hangup())?;
    let mut term = sig(SignalKind::terminate())?;
    let mut int = sig(SignalKind::interrupt())?;
    let (stop_http_tx, stop_http_rx) = tokio::sync::oneshot::channel::<()>();
    let Http {
        listen,
        tls,
        api,
        mut reload_rx,
    } = http;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| DaemonError::Listen {
            addr: listen,
            source,
        })?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let http = tokio::spawn(http::serve(
        listener,
        tls,
        Arc::clone(&shared),
        api,
        async {
            let _ = stop_http_rx.await;
        },
    ));
    let status = format!(
        "running: {} signature rules, {} log rules, {} capture workers, metrics on {scheme}://{listen}/metrics",
        shared.snapshot.load().counts.signatures,
        shared.snapshot.load().counts.log_rules,
        slots.len()
    );
    tracing::info!("{status}");
    notifier.ready(&status);
    let mut watchdog = tokio::time::interval(
        notifier
            .watchdog_interval()
            .unwrap_or(Duration::from_secs(3600)),
    );
    let mut refresh = tokio::time::interval(METRICS_EVERY);
    let mut silence = silence::Monitor::new(&shared.snapshot.load().config);
    let mut last_store = Instant::now() - STORE_GAUGES_EVERY;
    let mut last_stats = Instant::now();
    let (mut ok, mut failed) = (0u64, 0u64);
    loop {
        tokio::select! {
            _ = hup.recv() => {
                let r = reload(&shared, notifier, &log).await;
                if r.is_ok() { ok += 1 } else { failed += 1 }
            }
            Some(reply) = reload_rx.recv() => {
                let r = reload(&shared, notifier, &log).await;
                if r.is_ok() { ok += 1 } else { failed += 1 }
                let _ = reply.send(r);
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = watchdog.tick() => notifier.watchdog(),
            _ = refresh.tick() => {
                refresh_metrics(&shared, &slots);
                refresh_log_metrics(&shared, &log);
                let every = shared.snapshot.load().config.daemon.stats_interval_secs;
                if every > 0 && last_stats.elapsed() >= Duration::from_secs(every) {
                    last_stats = Instant::now();
                    write_stats(&shared, &slots);
                }
                if last_store.elapsed() >= STORE_GAUGES_EVERY {
                    last_store = Instant::now();
                    let db = db.clone();
                    let sh = Arc::clone(&shared);
                    let _ = tokio::task::spawn_blocking(move || store_gauges(&sh, &db)).await;
                }
                let quiet = log.silent_senders(std::time::SystemTime::now());
                for a in silence.check(&shared, &slots, &log.last_seen(), &quiet) {
                    if sensor_alerts.try_send(a).is_err() {
                        tracing::warn!("alert queue full: silence alarm not queued / 告警队列已满");
                    }
                }
            }
        }
    }
    tracing::info!("stopping / 正在停止");
    let _ = stop_http_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(2), http).await;
    // stop listening, process what was received, flush its EVE records;
    // its alert senders go with it
    refresh_log_metrics(&shared, &log);
    log.shutdown().await;
    refresh_metrics(&shared, &slots);
    Ok((ok, failed))
}

/// Reloads config and rules; keeps the old snapshot on any error.
async fn reload(
    shared: &Arc<Shared>,
    notifier: &sdnotify::Notifier,
    log: &LogService,
) -> Result<String, String> {
    notifier.reloading();
    let t0 = Instant::now();
    let old = shared.snapshot.load_full();
    // logrotate sends SIGHUP too: reopen eve.json whatever the outcome
    shared.eve_control.request_reopen();
    let built = tokio::task::spawn_blocking(move || Snapshot::reload(&old.path, &old)).await;
    let secs = t0.elapsed().as_secs_f64();
    let res = match built {
        Ok(Ok(snap)) => {
            let msg = format!(
                "reloaded / 已重新加载: {} signature rules ({} rejected), {} log rules ({} rejected), {:.3} s",
                snap.counts.signatures,
                snap.counts.signatures_rejected,
                snap.counts.log_rules,
                snap.counts.log_rules_rejected,
                secs
            );
            for m in snap.counts.messages.iter().take(20) {
                tracing::warn!("rule not loaded / 规则未加载: {m}");
            }
            shared.metrics.set_rules(
                "signature",
                snap.counts.signatures,
                snap.counts.signatures_rejected,
            );
            shared
                .metrics
                .set_rules("log", snap.counts.log_rules, snap.counts.log_rules_rejected);
            if !log.reload(&snap.config, Arc::clone(&snap.log_rules)) {
                tracing::warn!(
                    "syslog listeners changed: they change at the next restart / syslog 接收端口的变更需重启后生效"
                );
            }
            let old = shared.snapshot.swap(Arc::new(snap));
            if old.config.flow != shared.snapshot.load().config.flow {
                tracing::warn!(
                    "flow table settings change at the next restart / 流表设置需重启后生效"
                );
            }
            drop(old);
            shared.generation.fetch_add(1, Ordering::AcqRel);
            tracing::info!("{msg}");
            Ok(msg)
        }
        Ok(Err(e)) => {
            let msg = format!(
                "reload failed, the running config stays / 重新加载失败，继续使用原配置: {e}"
            );
            tracing::error!("{msg}");
            Err(msg)
        }
        Err(e) => {
            let msg = format!("reload failed / 重新加载失败: {e}");
            tracing::error!("{msg}");
            Err(msg)
        }
    };
    shared.metrics.reload(res.is_ok(), secs);
    notifier.ready("running");
    res
}

fn refresh_metrics(shared: &Shared, slots: &[Arc<workers::WorkerSlot>]) {
    let (total, flows) = workers::sum(slots);
    shared.metrics.update_workers(&total, flows);
    let mut by_iface: std::collections::BTreeMap<&str, InterfaceCounters> = Default::default();
    for s in slots {
        if let Ok(p) = s.published.lock() {
            let c = by_iface.entry(s.interface.as_str()).or_default();
            c.packets += p.stats.packets;
            c.bytes += p.stats.bytes;
            c.kernel_drops += p.kernel.1;
        }
    }
    for (name, c) in by_iface {
        shared.metrics.update_interface(name, &c);
    }
    let dropped: u64 = slots
        .iter()
        .map(|s| s.alerts_dropped.load(Ordering::Relaxed))
        .sum();
    shared.metrics.set_queue("worker_alerts", 0, dropped);
    let obs: u64 = slots
        .iter()
        .map(|s| s.observations_dropped.load(Ordering::Relaxed))
        .sum();
    shared.metrics.set_queue("detector_observations", 0, obs);
    let rogue: u64 = slots
        .iter()
        .map(|s| s.rogue_dropped.load(Ordering::Relaxed))
        .sum();
    shared.metrics.set_queue("rogue_batches", 0, rogue);
    shared
        .metrics
        .update_eve(shared.eve.records(), shared.eve.lost_records());
}

/// Writes an EVE `stats` record (Suricata writes one every few seconds;
/// EveBox and Elastic dashboards read them).
fn write_stats(shared: &Shared, slots: &[Arc<workers::WorkerSlot>]) {
    let (total, _) = workers::sum(slots);
    let summary = crate::pipeline::ReplaySummary {
        packets_read: total.packets,
        stats: total,
        ..Default::default()
    };
    let body = crate::pipeline::replay::stats_json(&summary);
    let mut buf = crate::output::EveBuf::new(&shared.eve, shared.snapshot.load().engine.tz);
    buf.stats(Timestamp::from_chrono(&chrono::Utc::now()), &body);
    buf.flush();
}

fn refresh_log_metrics(shared: &Shared, log: &LogService) {
    let ls: Vec<ListenerCounters> = log
        .stats()
        .into_iter()
        .map(|l| ListenerCounters {
            name: l.name,
            received: l.received,
            dropped: l.dropped,
            unparseable: l.unparseable,
            empty_connections: l.empty_connections,
        })
        .collect();
    shared.metrics.update_listeners(&ls);
    let st = log.service_stats();
    shared.metrics.set_queue("log_alerts", 0, st.alerts_dropped);
}

fn store_gauges(shared: &Shared, db: &Path) {
    let res = (|| {
        let conn = crate::queue::open_db(db)?;
        let open = crate::queue::db::open_by_grade_unit(&conn)?;
        let by_status = crate::queue::db::count_by_grade_status(&conn)?;
        let overdue =
            crate::queue::db::overdue_count(&conn, Timestamp::from_chrono(&chrono::Utc::now()))?;
        Ok::<_, crate::queue::StoreError>((open, by_status, overdue))
    })();
    match res {
        Ok((open, by_status, overdue)) => {
            shared.metrics.update_incidents(&open, &by_status, overdue)
        }
        Err(e) => tracing::warn!("incident gauges: {e}"),
    }
}

/// Builds a sensor alert (`facility_fault`) about the sensor itself.
pub fn sensor_alert(sid: u32, taxonomy: &str, msg: &str, severity: &str) -> Alert {
    Alert {
        ts: Timestamp::from_chrono(&chrono::Utc::now()),
        source: AlertSource::Sensor,
        flow_id: None,
        pcap_cnt: None,
        addrs: AlertAddrs::default(),
        ether: None,
        vlans: Vec::new(),
        action: Action::Allowed,
        gid: 1,
        sid,
        rev: 1,
        signature: Arc::from(msg),
        category: Arc::from("Sensor health"),
        severity: 2,
        metadata: vec![
            (Arc::from("taxonomy"), vec![Arc::from(taxonomy)]),
            (Arc::from("zoneguard_severity"), vec![Arc::from(severity)]),
        ],
        policy: None,
        app_proto: None,
        log: None,
    }
}

pub mod capture;
pub mod http;
pub mod silence;

#[cfg(test)]
mod tests;
