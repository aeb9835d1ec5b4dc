//! Starting and stopping the capture workers of the config's interfaces.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::workers::{self, PacketSource, ToConsumer, WorkerSlot};
use super::{DaemonError, Shared};

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

/// Opens the config's capture interfaces and starts their workers.
pub fn start(shared: &Arc<Shared>, tx: &Sender<ToConsumer>) -> Result<Capture, DaemonError> {
    start_sources(shared, tx, Vec::new())
}
