//! The central: one durable pull consumer on the alert stream, the same
//! correlation as a sensor ([`Manager`]), incidents in the central's own
//! SQLite store.
//!
//! Exactly once: each fetched batch is applied, then
//! [`Manager::sync`] waits until the writer thread has committed it, and
//! only then are the messages acknowledged. Every applied message's id is
//! written to the [`ledger`] in the same transaction as the incident update
//! it caused, so a message delivered again (the central was killed after
//! the commit and before the acknowledgement) is recognised, acknowledged
//! and counted as a duplicate.

use std::collections::HashSet;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::AckKind;
use futures_util::StreamExt;

use super::ledger::{self, Entry};
use super::{connect_client, ensure_stream, wire, NatsError};
use crate::config::Config;
use crate::incident::{CorrelatorConfig, Manager, Summary};
use crate::policy::ZonePolicy;
use crate::queue::{self, StoreConfig};

/// What a central run did.
#[derive(Clone, Debug, Default)]
pub struct CentralSummary {
    /// Messages received (including re-deliveries).
    pub received: u64,
    /// Alerts applied to incidents (each exactly once).
    pub applied: u64,
    /// Messages already in the ledger (re-deliveries, re-sent copies),
    /// acknowledged without applying.
    pub duplicates: u64,
    /// Messages that are not a valid alert: logged with their stream
    /// sequence, terminated (never re-delivered), counted here; they stay
    /// in the stream for inspection until it ages out.
    pub malformed: u64,
    /// Batches committed.
    pub batches: u64,
    /// Messages in the ledger after the run (every run of this store).
    pub ledger_total: u64,
    /// Ledger messages per sensor.
    pub per_sensor: Vec<(String, u64)>,
    /// The incident layer's summary (incidents opened in this run).
    pub incidents: Summary,
}

impl CentralSummary {
    /// Bilingual summary for the `central` command.
    pub fn render(&self) -> String {
        let mut out = String::from("zoneguard central summary / 汇聚节点摘要\n");
        out.push_str(&format!(
            "  received / 收到消息      {}\n  applied / 已处理告警     {}\n  duplicates / 重复(已忽略) {}\n  malformed / 格式错误     {}\n  batches / 提交批次       {}\n  ledger / 累计处理告警    {}\n",
            self.received, self.applied, self.duplicates, self.malformed, self.batches, self.ledger_total
        ));
        for (s, n) in &self.per_sensor {
            out.push_str(&format!("    sensor / 传感器 {s}: {n}\n"));
        }
        out.push_str(&self.incidents.render());
        out
    }
}

/// Runs a blocking store operation without stalling the runtime's other
/// tasks (the NATS client) where the runtime allows it.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// The message id of a delivery: its `Nats-Msg-Id`, else its stream
/// sequence (still unique, so re-deliveries of it are recognised).
fn msg_id(m: &async_nats::jetstream::Message, stream_seq: u64) -> String {
    m.headers
        .as_ref()
        .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
        .map(|v| v.as_str().to_string())
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .unwrap_or_else(|| format!("stream.{stream_seq}"))
}

/// Consumes the alert stream of `cfg.queue.nats` into the incident store
/// `db` until `shutdown` resolves; returns what it did. Creates the stream
/// and the durable consumer when missing; keeps retrying while NATS is
/// unreachable.
pub async fn run_central(
    cfg: &Config,
    db: &Path,
    shutdown: impl Future<Output = ()>,
) -> Result<CentralSummary, NatsError> {
    let n = &cfg.queue.nats;
    let ro = queue::open_db(db)?;
    ledger::ensure(&ro)?;
    let mut mgr = Manager::open(
        db,
        Arc::new(ZonePolicy::from_config(cfg)),
        CorrelatorConfig::default(),
        StoreConfig::default(),
    )?;
    let mut sum = CentralSummary::default();
    tokio::pin!(shutdown);

    let client = connect_client(n, "zoneguard-central", false).await?;
    let js = async_nats::jetstream::new(client);
    let batch = n.batch.max(1);
    let consumer_cfg = pull::Config {
        durable_name: Some(n.durable.clone()),
        ack_policy: AckPolicy::Explicit,
        deliver_policy: DeliverPolicy::All,
        ack_wait: Duration::from_secs(30),
        max_ack_pending: i64::try_from(batch.saturating_mul(4)).unwrap_or(i64::MAX),
        filter_subject: format!("{}.>", n.subject),
        ..Default::default()
    };
    let mut delay = Duration::from_millis(100);
    let consumer: async_nats::jetstream::consumer::PullConsumer = loop {
        let attempt = async {
            let stream = ensure_stream(&js, n).await?;
            stream
                .get_or_create_consumer(&n.durable, consumer_cfg.clone())
                .await
                .map_err(|e| super::js_err("consumer", e))
        };
        tokio::select! {
            _ = &mut shutdown => {
                sum.incidents = blocking(|| mgr.finish());
                return Ok(sum);
            }
            r = attempt => match r {
                Ok(c) => break c,
                Err(e) => {
                    tracing::warn!(error = %e, "NATS not ready; retrying / NATS 未就绪，重试");
                    tokio::select! {
                        _ = &mut shutdown => {
                            sum.incidents = blocking(|| mgr.finish());
                            return Ok(sum);
                        }
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    };

    let mut pending_ids: HashSet<String> = HashSet::with_capacity(batch);
    let mut to_ack = Vec::with_capacity(batch);
    let mut to_term = Vec::new();
    let mut result = Ok(());
    loop {
        let fetch = async {
            let mut msgs = Vec::with_capacity(batch);
            let mut s = consumer
                .batch()
                .max_messages(batch)
                .expires(Duration::from_millis(500))
                .messages()
                .await
                .map_err(|e| super::js_err("fetch", e))?;
            while let Some(m) = s.next().await {
                match m {
                    Ok(m) => msgs.push(m),
                    Err(e) => {
                        tracing::debug!(error = %e, "NATS fetch ended");
                        break;
                    }
                }
            }
            Ok::<_, NatsError>(msgs)
        };
        let msgs = tokio::select! {
            _ = &mut shutdown => break,
            r = fetch => r,
        };
        let msgs = match msgs {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "NATS fetch failed; retrying");
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
                continue;
            }
        };
        if msgs.is_empty() {
            continue;
        }
        let applied = blocking(|| -> Result<u64, NatsError> {
            let mut applied = 0;
            for m in msgs {
                sum.received += 1;
                let stream_seq = m.info().map_or(0, |i| i.stream_sequence);
                let id = msg_id(&m, stream_seq);
                if pending_ids.contains(&id) || ledger::contains(&ro, &id)? {
                    sum.duplicates += 1;
                    to_ack.push(m);
                    continue;
                }
                match wire::decode(&m.payload) {
                    Ok(rec) => {
                        let now = crate::incident::wall_now().0;
                        let entry = |incident_id| -> Box<dyn queue::CommitHook> {
                            Box::new(Entry {
                                msg_id: id.clone(),
                                sensor: rec.sensor.clone(),
                                sensor_seq: rec.seq,
                                stream_seq,
                                incident_id,
                                applied_at: now,
                            })
                        };
                        mgr.on_alert_with(&rec.alert, entry)?;
                        pending_ids.insert(id);
                        applied += 1;
                        to_ack.push(m);
                    }
                    Err(e) => {
                        sum.malformed += 1;
                        tracing::warn!(stream_seq, subject = %m.subject, error = %e,
                            "malformed alert message dropped (kept in the stream) / 告警消息格式错误");
                        to_term.push(m);
                    }
                }
            }
            mgr.sync()?;
            Ok(applied)
        });
        match applied {
            Ok(a) => {
                sum.applied += a;
                sum.batches += 1;
            }
            Err(e) => {
                // Nothing of this batch is acknowledged: NATS re-delivers it
                // to the next run, whose ledger tells what was committed.
                tracing::error!(error = %e, "central: batch not committed; stopping / 批次未能提交");
                result = Err(e);
                break;
            }
        }
        pending_ids.clear();
        for m in to_ack.drain(..) {
            if let Err(e) = m.ack().await {
                // Re-delivered later and recognised by the ledger.
                tracing::debug!(error = %e, "ack failed");
            }
        }
        for m in to_term.drain(..) {
            if let Err(e) = m.ack_with(AckKind::Term).await {
                tracing::debug!(error = %e, "term failed");
            }
        }
    }
    sum.incidents = blocking(|| mgr.finish());
    if let Some(e) = &sum.incidents.sync_error {
        if result.is_ok() {
            result = Err(NatsError::Store(queue::StoreError::WriterGone(e.clone())));
        }
    }
    sum.ledger_total = ledger::count(&ro)?;
    sum.per_sensor = ledger::per_sensor(&ro)?;
    result.map(|()| sum)
}
