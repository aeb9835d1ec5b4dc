//! The daemon's worker loop against the replay driver: the same capture
//! through `run_worker` gives the same alerts and records.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::workers::{run_worker, PacketSource, ToConsumer, WorkerSlot};
use super::{Shared, Snapshot};
use crate::capture::{CaptureReader, LinkType};
use crate::metrics::Metrics;
use crate::output::rotate::RotatePolicy;
use crate::output::{EveWriter, EventTypes};
use crate::time::Timestamp;

/// A capture file as a packet source; ends the run at the end of the file.
struct FileSource {
    reader: CaptureReader,
    buf: Vec<u8>,
    linktype: LinkType,
    stop: Arc<AtomicBool>,
}

impl PacketSource for FileSource {
    fn next_packet(&mut self) -> Result<Option<(Timestamp, &[u8])>, String> {
        match self.reader.next_packet() {
            Ok(Some(p)) => {
                self.linktype = p.linktype;
                self.buf.clear();
                self.buf.extend_from_slice(p.data);
                Ok(Some((p.ts, &self.buf)))
            }
            Ok(None) => {
                self.stop.store(true, Ordering::Release);
                Ok(None)
            }
            Err(e) => Err(e.to_string()),
        }
    }
    fn linktype(&self) -> LinkType {
        self.linktype
    }
    fn kernel_stats(&mut self) -> Option<(u64, u64)> {
        None
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shared(dir: &Path) -> Arc<Shared> {
    let snap = Snapshot::load(&repo().join("config/dehong-egov.yaml")).unwrap();
    let (eve, ctl) = EveWriter::open_rotating(
        &dir.join("eve.json"),
        EventTypes::all(),
        RotatePolicy::default(),
    )
    .unwrap();
    Arc::new(Shared {
        snapshot: ArcSwap::from_pointee(snap),
        generation: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        metrics: Metrics::new().unwrap(),
        eve: Arc::new(eve),
        eve_control: ctl,
    })
}

#[test]
fn worker_loop_matches_replay() {
    let pcap = repo().join("samples/dehong-sample.pcap");
    let dir = tempfile::tempdir().unwrap();
    let sh = shared(dir.path());
    // the first packet's link type
    let linktype = {
        let mut r = CaptureReader::open(&pcap).unwrap();
        r.next_packet().unwrap().unwrap().linktype
    };
    let stop = Arc::new(AtomicBool::new(false));
    let src = FileSource {
        reader: CaptureReader::open(&pcap).unwrap(),
        buf: Vec::new(),
        linktype,
        stop: Arc::clone(&stop),
    };
    let slot = WorkerSlot::new("test0");
    let (tx, rx) = crossbeam_channel::bounded(1 << 16);
    let sh2 = Arc::clone(&sh);
    let watcher = std::thread::spawn(move || {
        while !stop.load(Ordering::Acquire) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        sh2.stop.store(true, Ordering::Release);
    });
    run_worker(0, 1, Box::new(src), &sh, &slot, &tx);
    watcher.join().unwrap();
    drop(tx);
    let mut alerts = 0usize;
    // the consumer runs the cross-flow detectors over the observations
    let snap = sh.snapshot.load();
    let mut cross = snap
        .engine
        .detect
        .as_ref()
        .map(|c| crate::detect::CrossFlow::new(c, Arc::new(snap.engine.policy.clone())));
    let mut found = Vec::new();
    for m in rx {
        match m {
            ToConsumer::Alerts(v) => alerts += v.len(),
            ToConsumer::Observations(v) => {
                if let Some(cf) = cross.as_mut() {
                    for o in &v {
                        cf.observe(o, &mut found);
                        cf.advance(o.ts, &mut found);
                    }
                }
            }
            ToConsumer::Rogue(_) => {}
        }
    }
    alerts += found.len();
    sh.eve.flush().unwrap();

    // the replay of the same file
    let out = tempfile::tempdir().unwrap();
    let eve = EveWriter::create(&out.path().join("eve.json"), EventTypes::all()).unwrap();
    let snap = sh.snapshot.load();
    let summary = crate::pipeline::replay(
        Arc::clone(&snap.engine),
        &eve,
        &crate::pipeline::ReplayOptions {
            pcaps: vec![pcap],
            workers: 1,
            progress: false,
            incidents_db: None,
            extra_alerts: Vec::new(),
            correlator: Default::default(),
            notify: None,
            profile_rules: false,
        },
    )
    .unwrap();
    eve.flush().unwrap();
    let count = |p: &Path, t: &str| {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .filter(|l| l.contains(&format!("\"event_type\":\"{t}\"")))
            .count()
    };
    let published = slot.published.lock().unwrap();
    assert_eq!(published.stats.packets, summary.packets_read);
    assert!(summary.packets_read > 1000);
    // flows and app records identical; alerts identical except the rogue
    // devices, which the daemon's consumer merges (here: not running)
    for t in ["flow", "dns", "http", "tls", "ssh"] {
        assert_eq!(
            count(&dir.path().join("eve.json"), t),
            count(&out.path().join("eve.json"), t),
            "{t} records"
        );
    }
    let replay_alerts = count(&out.path().join("eve.json"), "alert");
    let rogue = std::fs::read_to_string(out.path().join("eve.json"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"rogue_device\""))
        .count();
    assert!(replay_alerts > 0);
    assert_eq!(alerts, replay_alerts - rogue);
}
