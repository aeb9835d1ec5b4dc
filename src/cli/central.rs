//! `zoneguard central` (the NATS consumer of many sensors) and the NATS
//! side of `replay` with `queue.backend: nats`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use zoneguard::alert::Alert;
use zoneguard::config::Config;
use zoneguard::queue::nats::{run_central, AlertPublisher};

/// Arguments of `central`.
#[derive(Debug, Args)]
pub struct CentralArgs {
    /// Config file (YAML) with the `queue.nats` section and the zones.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: PathBuf,
    /// The central's incident store (created if missing).
    #[arg(long = "db", value_name = "PATH", default_value = "incidents.db")]
    pub db: PathBuf,
    /// Print nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

async fn signalled() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs the central until SIGTERM or SIGINT.
pub fn run(a: CentralArgs) -> anyhow::Result<ExitCode> {
    let cfg = super::load_config(Some(&a.config))?;
    let rt = runtime()?;
    if !a.quiet {
        println!(
            "zoneguard central: stream {} on {}, durable {}, store {} / 汇聚节点启动",
            cfg.queue.nats.stream,
            cfg.queue.nats.urls.join(","),
            cfg.queue.nats.durable,
            a.db.display()
        );
    }
    let summary = rt
        .block_on(run_central(&cfg, &a.db, signalled()))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !a.quiet {
        print!("{}", summary.render());
    }
    Ok(ExitCode::SUCCESS)
}

/// Publishes a replay's alerts to NATS (`queue.backend: nats`), waits for
/// their acknowledgements and prints the counters. Returns false when an
/// alert did not reach the stream (it is then in the spool, if one is
/// configured, or counted as dropped).
pub fn publish_replay(cfg: &Config, alerts: &[Alert], quiet: bool) -> anyhow::Result<bool> {
    let rt = runtime()?;
    rt.block_on(async {
        let publisher = AlertPublisher::connect(&cfg.queue)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut encode_failed = 0u64;
        for a in alerts {
            if publisher.publish(a).await.is_err() {
                encode_failed += 1;
            }
        }
        let flushed = publisher.flush().await;
        let st = publisher.close().await;
        if !quiet {
            println!(
                "nats {} sensor {}: published {} acknowledged {} duplicates {} retries {} spooled {} dropped {} / 已发布、已确认、重复、重试、缓存、丢弃",
                cfg.queue.nats.stream,
                cfg.queue.sensor_id,
                st.published,
                st.acked,
                st.duplicates,
                st.retries,
                st.spooled,
                st.dropped
            );
        }
        let mut ok = true;
        if let Err(e) = flushed {
            eprintln!("zoneguard: error / 错误: nats: {e}");
            ok = false;
        }
        if st.dropped > 0 || encode_failed > 0 {
            eprintln!(
                "zoneguard: error / 错误: nats: {} alerts lost, {} too large to send / 条告警丢失",
                st.dropped, encode_failed
            );
            ok = false;
        }
        Ok(ok)
    })
}
