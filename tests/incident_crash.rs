//! Crash safety: 20 trials of `kill -9` at random moments of a child
//! process writing incidents (this test binary re-invoked as the child).
//! After every kill the store opens, `PRAGMA integrity_check` is ok, the
//! audit chain verifies, and every incident the child reported as stored
//! (printed after `sync()` returned) is present with at least the alert
//! count it had then.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use zoneguard::alert::{Action as Act, Alert, AlertAddrs, AlertSource};
use zoneguard::incident::{Action, CorrelatorConfig, Manager, Status};
use zoneguard::policy::{ZoneInfo, ZoneMap, ZonePolicy};
use zoneguard::queue::{self, audit, StoreConfig};
use zoneguard::time::Timestamp;

const CHILD_ENV: &str = "ZONEGUARD_CRASH_CHILD_DB";
const TRIALS: u64 = 20;

fn policy() -> Arc<ZonePolicy> {
    let z = |id: &str, level: u8, unit: Option<&str>, default: bool| ZoneInfo {
        id: Arc::from(id),
        name_zh: None,
        name_en: None,
        level,
        isolated: false,
        is_default: default,
        strict: false,
        unit: unit.map(Arc::from),
        contact: None,
    };
    Arc::new(ZonePolicy {
        zones: vec![
            z("internet", 0, None, true),
            z("datacenter", 3, Some("州大数据中心"), false),
        ],
        map: ZoneMap::new([("10.10.0.0/16".parse().unwrap(), 1u16)], Some(0)),
        ..Default::default()
    })
}

fn alert(secs: i64, src: IpAddr, dst: IpAddr, sid: u32) -> Alert {
    Alert {
        ts: Timestamp::from_secs_nanos(1_793_000_000 + secs, 0),
        source: AlertSource::Signature,
        flow_id: Some(u64::from(sid)),
        pcap_cnt: Some(secs as u64),
        addrs: AlertAddrs {
            src_ip: Some(src),
            src_port: 1234,
            dest_ip: Some(dst),
            dest_port: 80,
            proto: Some(6),
        },
        ether: None,
        vlans: Vec::new(),
        action: Act::Allowed,
        gid: 1,
        sid,
        rev: 1,
        signature: Arc::from("ET crash test"),
        category: Arc::from("test"),
        severity: 1 + (sid % 3) as u8,
        metadata: vec![(
            Arc::from("taxonomy"),
            vec![Arc::from("network_attack/exploit")],
        )],
        policy: None,
        app_proto: None,
        log: None,
    }
}

/// The child: writes incidents until killed; after each `sync()` prints
/// `STORED id count` for every incident it touched.
fn child(db: &Path) {
    let mut m = Manager::open(
        db,
        policy(),
        CorrelatorConfig::default(),
        StoreConfig::default(),
    )
    .unwrap();
    let mut conn = queue::open_db(db).unwrap();
    let out = std::io::stdout();
    let mut touched: BTreeMap<i64, u64> = BTreeMap::new();
    let base = std::process::id() as i64 * 10_000;
    for i in 0..2_000_000i64 {
        let src = IpAddr::from([47, 0, (i % 7) as u8, (i % 13) as u8]);
        let dst = IpAddr::from([10, 10, 1, (i % 3) as u8 + 1]);
        // Time moves 1 s per alert, windows of 15 min: incidents keep
        // opening as sources rotate and windows close.
        let id = m.on_alert(&alert(base + i, src, dst, (i % 5) as u32));
        *touched.entry(id).or_insert(0) += 1;
        if i % 64 == 63 {
            m.sync().unwrap();
            let mut o = out.lock();
            for id in touched.keys() {
                let count: i64 = conn
                    .query_row(
                        "SELECT alert_count FROM incidents WHERE id = ?1",
                        [id],
                        |r| r.get(0),
                    )
                    .unwrap();
                writeln!(o, "STORED {id} {count}").unwrap();
            }
            o.flush().unwrap();
            touched.clear();
        }
        if i % 500 == 250 {
            let last = queue::next_id(&conn).unwrap() - 1;
            if queue::apply_action(&mut conn, last, Action::Ack, "duty", None, Timestamp(0)).is_ok()
            {
                let mut o = out.lock();
                writeln!(o, "ACKED {last}").unwrap();
                o.flush().unwrap();
            }
        }
    }
}

/// Entry point of the child (a no-op unless the environment says so).
#[test]
fn crash_child_entry() {
    if let Ok(db) = std::env::var(CHILD_ENV) {
        child(Path::new(&db));
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn kill_dash_nine_twenty_times() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("incidents.db");
    let exe = std::env::current_exe().unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    let mut rng = Rng(seed);
    let mut stored: BTreeMap<i64, i64> = BTreeMap::new();
    let mut acked: Vec<i64> = Vec::new();
    for trial in 0..TRIALS {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child_entry",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &db)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for l in BufReader::new(stdout).lines() {
                match l {
                    Ok(l) => lines.push(l),
                    Err(_) => break,
                }
            }
            lines
        });
        let wait_ms = 30 + rng.next() % 700;
        std::thread::sleep(Duration::from_millis(wait_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let lines = reader.join().unwrap();
        let mut n = 0;
        for l in &lines {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                ["STORED", id, count] => {
                    let (id, count): (i64, i64) = (id.parse().unwrap(), count.parse().unwrap());
                    let e = stored.entry(id).or_insert(0);
                    *e = (*e).max(count);
                    n += 1;
                }
                ["ACKED", id] => acked.push(id.parse().unwrap()),
                _ => {}
            }
        }
        // After the kill: opens, integrity ok, chain verifies, nothing lost.
        let conn = queue::open_db(&db).unwrap_or_else(|e| panic!("trial {trial}: {e}"));
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok", "trial {trial} (killed after {wait_ms} ms)");
        let records = audit::verify(&conn).unwrap_or_else(|e| panic!("trial {trial}: {e}"));
        for (id, count) in &stored {
            let have: i64 = conn
                .query_row(
                    "SELECT alert_count FROM incidents WHERE id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .unwrap_or_else(|e| {
                    panic!("trial {trial}: incident {id} reported stored is missing: {e}")
                });
            assert!(
                have >= *count,
                "trial {trial}: incident {id} has {have} alerts, {count} were stored"
            );
        }
        for id in &acked {
            let st: String = conn
                .query_row("SELECT status FROM incidents WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(
                Status::parse(&st),
                Some(Status::Acknowledged),
                "trial {trial}: ack of {id} lost"
            );
        }
        eprintln!(
            "trial {trial}: killed after {wait_ms} ms, {n} stored reports, {} incidents known, {records} audit records",
            stored.len()
        );
    }
    assert!(
        !stored.is_empty(),
        "the child never reported anything stored"
    );
}
