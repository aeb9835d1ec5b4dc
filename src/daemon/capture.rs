//! Starting and stopping the capture workers of the config's interfaces.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::workers::{self, PacketSource, ToConsumer, WorkerSlot};
use super::{DaemonError, Shared};
use crate::capture::live::{
    check_capture_permission, default_fanout_group, LiveCapture, LiveOptions,
};
use crate::capture::LinkType;
use crate::time::Timestamp;

/// The running capture workers.
#[derive(Debug)]
pub struct Capture {
    /// One slot per worker (interface name, published counters).
    pub slots: Vec<Arc<WorkerSlot>>,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl Capture {
    /// Waits for the workers to flush and end (until `deadline`); returns
    /// the packets they processed.
    pub fn join(self, deadline: Instant) -> u64 {
        for h in self.handles {
            while !h.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        }
        self.slots
            .iter()
            .filter_map(|s| s.published.lock().ok().map(|p| p.stats.packets))
            .sum()
    }
}

/// Starts workers over the given sources: `(interface, sources)`; the
/// sources of one interface share a fanout group.
pub fn start_sources(
    shared: &Arc<Shared>,
    tx: &Sender<ToConsumer>,
    sources: Vec<(String, Vec<Box<dyn PacketSource>>)>,
) -> Result<Capture, DaemonError> {
    let total: usize = sources.iter().map(|(_, s)| s.len()).sum();
    let mut slots = Vec::with_capacity(total);
    let mut handles = Vec::with_capacity(total);
    let mut id = 0usize;
    for (iface, srcs) in sources {
        for src in srcs {
            let slot = Arc::new(WorkerSlot::new(&iface));
            slots.push(Arc::clone(&slot));
            let sh = Arc::clone(shared);
            let tx = tx.clone();
            let my_id = id;
            let h = std::thread::Builder::new()
                .name(format!("zg-cap-{iface}-{my_id}"))
                .spawn(move || workers::run_worker(my_id, total, src, &sh, &slot, &tx))
                .map_err(|source| DaemonError::Thread {
                    what: "capture worker",
                    source,
                });
            match h {
                Ok(h) => handles.push(h),
                Err(e) => {
                    shared.stop.store(true, Ordering::Release);
                    return Err(e);
                }
            }
            id += 1;
        }
    }
    Ok(Capture { slots, handles })
}

/// An AF_PACKET socket as a worker's packet source.
struct Live(LiveCapture);

impl PacketSource for Live {
    fn next_packet(&mut self) -> Result<Option<(Timestamp, &[u8])>, String> {
        match self.0.next_packet() {
            Ok(Some(p)) => Ok(Some((p.ts, p.data))),
            Ok(None) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
    fn linktype(&self) -> LinkType {
        self.0.linktype()
    }
    fn kernel_stats(&mut self) -> Option<(u64, u64)> {
        self.0.kernel_stats().ok().map(|k| (k.packets, k.drops))
    }
}

/// How long a worker waits for a packet before it looks at its flags.
const READ_TIMEOUT: Duration = Duration::from_millis(100);

/// Opens the config's capture interfaces (every socket first, so a
/// missing interface or capability stops the start before any worker
/// runs) and starts their workers.
pub fn start(shared: &Arc<Shared>, tx: &Sender<ToConsumer>) -> Result<Capture, DaemonError> {
    let cfg = Arc::clone(&shared.snapshot.load().config);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut sources: Vec<(String, Vec<Box<dyn PacketSource>>)> = Vec::new();
    for (idx, iface) in cfg.capture.interfaces.iter().enumerate() {
        check_capture_permission(&iface.name).map_err(|e| DaemonError::Capture(e.to_string()))?;
        let n = iface.workers.map_or(cores, |w| w.get());
        let opts = LiveOptions {
            interface: iface.name.clone(),
            fanout_group: default_fanout_group(idx),
            promiscuous: iface.promiscuous,
            buffer_bytes: iface.buffer_bytes,
            bpf_filter: iface.bpf_filter.clone(),
            read_timeout: READ_TIMEOUT,
        };
        let mut socks: Vec<Box<dyn PacketSource>> = Vec::with_capacity(n);
        for _ in 0..n {
            let cap = LiveCapture::open(&opts).map_err(|e| DaemonError::Capture(e.to_string()))?;
            socks.push(Box::new(Live(cap)));
        }
        tracing::info!(
            "capturing on {} with {n} worker(s) / 在 {} 上抓包，{n} 个工作线程",
            iface.name,
            iface.name
        );
        sources.push((iface.name.clone(), socks));
    }
    start_sources(shared, tx, sources)
}
