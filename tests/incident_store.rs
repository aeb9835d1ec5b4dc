//! The incident store against real SQLite files: the manager writes, the
//! CLI functions read and act, the audit chain verifies and detects
//! tampering, retention is enforced, a full channel loses nothing
//! acknowledged.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use zoneguard::alert::{Action as Act, Alert, AlertAddrs, AlertSource, LogInfo};
use zoneguard::incident::{cli, Action, CorrelatorConfig, Grade, Manager, Status};
use zoneguard::policy::{ZoneInfo, ZoneMap, ZonePolicy};
use zoneguard::queue::{self, audit, Filter, Store, StoreConfig, StoreError, Submitted};
use zoneguard::time::Timestamp;

const T0: i64 = 1_793_000_000;

fn zone(
    id: &str,
    zh: &str,
    level: u8,
    unit: Option<&str>,
    isolated: bool,
    default: bool,
) -> ZoneInfo {
    ZoneInfo {
        id: Arc::from(id),
        name_zh: Some(Arc::from(zh)),
        name_en: None,
        level,
        isolated,
        is_default: default,
        strict: false,
        unit: unit.map(Arc::from),
        contact: unit.map(|u| Arc::from(format!("值班 {u} 0692-1234567"))),
    }
}

fn policy() -> Arc<ZonePolicy> {
    Arc::new(ZonePolicy {
        zones: vec![
            zone("internet", "互联网", 0, None, false, true),
            zone(
                "county-mangshi",
                "芒市政务外网",
                2,
                Some("芒市大数据中心"),
                false,
                false,
            ),
            zone(
                "datacenter",
                "州政务数据中心",
                3,
                Some("州大数据中心"),
                false,
                false,
            ),
            zone("classified", "涉密内网", 4, Some("州保密办"), true, false),
        ],
        map: ZoneMap::new(
            [
                ("10.31.0.0/16".parse().unwrap(), 1u16),
                ("10.10.0.0/16".parse().unwrap(), 2),
                ("10.99.0.0/16".parse().unwrap(), 3),
            ],
            Some(0),
        ),
        ..Default::default()
    })
}

fn alert(secs: i64, tax: &str, src: &str, dst: &str, sid: u32, sev: u8) -> Alert {
    Alert {
        ts: Timestamp::from_secs_nanos(T0 + secs, 0),
        source: AlertSource::Signature,
        flow_id: Some(1000 + u64::from(sid)),
        pcap_cnt: Some(secs as u64 + 1),
        addrs: AlertAddrs {
            src_ip: src.parse::<IpAddr>().ok(),
            src_port: 50000,
            dest_ip: dst.parse::<IpAddr>().ok(),
            dest_port: 443,
            proto: Some(6),
        },
        ether: None,
        vlans: Vec::new(),
        action: Act::Allowed,
        gid: 1,
        sid,
        rev: 1,
        signature: Arc::from(format!("ET TEST rule {sid}")),
        category: Arc::from("Attempted Administrator Privilege Gain"),
        severity: sev,
        metadata: vec![(Arc::from("taxonomy"), vec![Arc::from(tax)])],
        policy: None,
        app_proto: None,
        log: None,
    }
}

/// Writes a small mixed scenario; returns the db path's incident count.
fn scenario(db: &Path) -> zoneguard::incident::Summary {
    let mut m = Manager::open(
        db,
        policy(),
        CorrelatorConfig::default(),
        StoreConfig::default(),
    )
    .unwrap();
    // 20 web attacks, 5 rules, one source/target → 1 incident (high × L3 → III).
    for i in 0..20 {
        m.on_alert(&alert(
            i,
            "network_attack/exploit",
            "47.100.23.45",
            "10.10.1.5",
            2_100 + (i % 5) as u32,
            1,
        ));
    }
    // A scan of 300 hosts of one zone → 1 incident.
    for i in 0..300 {
        let dst = format!("10.31.{}.{}", i / 100, i % 100 + 1);
        m.on_alert(&alert(
            100 + i / 10,
            "network_attack/scan",
            "47.8.8.8",
            &dst,
            2_200,
            2,
        ));
    }
    // Brute force: traffic + sshd log → 1 incident.
    m.on_alert(&alert(
        200,
        "network_attack/brute_force",
        "47.5.5.5",
        "10.10.3.3",
        2_300,
        2,
    ));
    let mut log = alert(
        230,
        "network_attack/brute_force",
        "47.5.5.5",
        "",
        3_000_001,
        2,
    );
    log.source = AlertSource::Log;
    log.flow_id = None;
    log.pcap_cnt = None;
    log.log = Some(LogInfo {
        host: Some("10.10.3.3".into()),
        program: Some("sshd".into()),
        message: "Failed password for root from 47.5.5.5 port 4242 ssh2".into(),
    });
    m.on_alert(&log);
    // Isolated zone touched: high × isolated → II.
    m.on_alert(&alert(
        300,
        "malware/botnet",
        "10.99.0.7",
        "47.66.66.66",
        2_400,
        1,
    ));
    m.finish()
}

fn list_json(db: &Path, f: &Filter) -> Vec<Value> {
    let s = cli::list(db, f, true, Timestamp::from_secs_nanos(T0 + 600, 0)).unwrap();
    serde_json::from_str::<Value>(&s)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn replay_scenario_lists_per_contract() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("incidents.db");
    let s = scenario(&db);
    assert_eq!(s.opened, 4, "{}", s.render());
    assert_eq!(s.updated, 323 - 4);
    assert_eq!(s.dropped, 0);
    assert_eq!(s.by_grade.get(&Grade::II), Some(&1));
    assert!(s.render().contains("口令暴力破解"));

    let all = list_json(&db, &Filter::default());
    assert_eq!(all.len(), 4);
    for inc in &all {
        for k in [
            "id",
            "status",
            "grade",
            "category",
            "title",
            "title_zh",
            "zones",
            "units",
            "src_ips",
            "dest_ips",
            "first_seen",
            "last_seen",
            "alert_count",
        ] {
            assert!(inc.get(k).is_some(), "missing {k} in {inc}");
        }
        assert_eq!(inc["status"], "new");
    }
    let by_cat = |c: &str| all.iter().find(|i| i["category"] == c).unwrap().clone();
    let web = by_cat("network_attack/exploit");
    assert_eq!(web["alert_count"], 20);
    assert_eq!(web["grade"], "III");
    assert_eq!(web["unit"], "州大数据中心");
    assert!(web["report_due"].is_string());
    let scan = by_cat("network_attack/scan");
    assert_eq!(scan["alert_count"], 300);
    assert_eq!(
        scan["zones"],
        serde_json::json!(["internet", "county-mangshi"])
    );
    let bf = by_cat("network_attack/brute_force");
    assert_eq!(bf["alert_count"], 2);
    let bot = by_cat("malware/botnet");
    assert_eq!(bot["grade"], "II");
    assert_eq!(bot["colour"], "orange");
    assert_eq!(bot["unit"], "州保密办");

    // Filters.
    assert_eq!(
        list_json(
            &db,
            &Filter {
                min_grade: Some(Grade::III),
                ..Default::default()
            }
        )
        .len(),
        2
    );
    assert_eq!(
        list_json(
            &db,
            &Filter {
                unit: Some("芒市大数据中心".into()),
                ..Default::default()
            }
        )
        .len(),
        1
    );
    assert_eq!(
        list_json(
            &db,
            &Filter {
                zone: Some("classified".into()),
                ..Default::default()
            }
        )
        .len(),
        1
    );
    assert_eq!(
        list_json(
            &db,
            &Filter {
                since: Some(Timestamp::from_secs_nanos(T0 + 250, 0)),
                ..Default::default()
            }
        )
        .len(),
        1
    );
    // Evidence of the brute force holds the log line; show renders it.
    let id = bf["id"].as_i64().unwrap();
    let shown: Value =
        serde_json::from_str(&cli::show(&db, id, true, Timestamp(0)).unwrap()).unwrap();
    assert_eq!(shown["evidence"].as_array().unwrap().len(), 2);
    assert!(shown["evidence"][1]["log"]
        .as_str()
        .unwrap()
        .contains("Failed password"));
    assert_eq!(shown["timeline"][0]["action"], "opened");
    let text = cli::show(&db, id, false, Timestamp(0)).unwrap();
    assert!(text.contains("证据 Evidence") && text.contains("Failed password"));
    let table = cli::list(&db, &Filter::default(), false, Timestamp(0)).unwrap();
    assert!(table.starts_with("ID") && table.lines().count() == 5);
    // The audit chain has one record per timeline entry.
    assert_eq!(audit::verify(&queue::open_db(&db).unwrap()), Ok(4));
    assert!(audit::verify_cli(&db).unwrap().contains("audit chain ok"));
    // Integrity.
    let conn = queue::open_db(&db).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(
        queue::schema::version(&conn).unwrap(),
        queue::schema::CURRENT_VERSION
    );
}

#[test]
fn lifecycle_through_the_cli_with_timeline_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("incidents.db");
    scenario(&db);
    let now = Timestamp::from_secs_nanos(T0 + 3600, 0);
    let t = |a: Action, arg: Option<&str>| cli::transition(&db, 1, a, "zhang.san", arg, false, now);
    assert!(matches!(
        t(Action::Start, None),
        Err(StoreError::Transition(_))
    ));
    assert!(matches!(
        t(Action::Resolve, None),
        Err(StoreError::Transition(_))
    ));
    assert!(matches!(
        t(Action::Reopen, None),
        Err(StoreError::Transition(_))
    ));
    assert!(t(Action::Ack, None).unwrap().contains("acknowledged"));
    assert!(matches!(
        t(Action::Assign, None),
        Err(StoreError::BadArgument(_))
    ));
    t(Action::Assign, Some("li.si")).unwrap();
    t(Action::Start, None).unwrap();
    t(Action::Comment, Some("已封禁源地址 47.100.23.45")).unwrap();
    t(Action::Resolve, Some("blocked at the boundary")).unwrap();
    assert!(matches!(
        t(Action::Start, None),
        Err(StoreError::Transition(_))
    ));
    t(Action::Reopen, Some("new")).unwrap();
    t(Action::FalsePositive, None).unwrap();
    t(Action::Reopen, None).unwrap();
    assert!(matches!(
        cli::transition(&db, 999, Action::Ack, "x", None, false, now),
        Err(StoreError::NotFound(999))
    ));
    assert!(matches!(
        cli::transition(&db, 1, Action::Comment, " ", Some("x"), false, now),
        Err(StoreError::BadArgument(_))
    ));
    let j: Value = serde_json::from_str(&cli::show(&db, 1, true, now).unwrap()).unwrap();
    assert_eq!(j["status"], "acknowledged");
    assert_eq!(j["assignee"], "li.si");
    let actions: Vec<&str> = j["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "opened",
            "ack",
            "assign",
            "start",
            "comment",
            "resolve",
            "reopen",
            "false-positive",
            "reopen"
        ]
    );
    assert!(j["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .all(|e| e["actor"] == "zhang.san"));
    let conn = queue::open_db(&db).unwrap();
    assert_eq!(audit::verify(&conn), Ok(4 + 8));
    // A later correlator update of the same incident does not undo
    // people's work (status and assignee belong to people).
    {
        let mut inc = queue::load(&conn, 1).unwrap();
        inc.status = Status::New;
        inc.assignee = None;
        inc.alert_count += 1;
        let mut store = Store::open(&db, StoreConfig::default()).unwrap();
        store.submit(zoneguard::incident::IncidentUpdate {
            incident: inc,
            evidence: vec![],
            timeline: vec![],
            window: None,
        });
        store.close().unwrap();
        let after = queue::load(&conn, 1).unwrap();
        assert_eq!(after.status, Status::Acknowledged);
        assert_eq!(after.assignee.as_deref(), Some("li.si"));
        assert_eq!(after.alert_count, 21);
    }
    let mut m = Manager::open(
        &db,
        policy(),
        CorrelatorConfig::default(),
        StoreConfig::default(),
    )
    .unwrap();
    // incident 1 is open again and its window was restored: the same
    // attacker joins it; a new attacker gets the next id
    let id = m.on_alert(&alert(
        400,
        "network_attack/exploit",
        "47.100.23.45",
        "10.10.1.5",
        2_100,
        1,
    ));
    assert_eq!(id, 1, "the restored window goes on");
    let id = m.on_alert(&alert(
        401,
        "network_attack/exploit",
        "47.100.23.99",
        "10.10.1.5",
        2_100,
        1,
    ));
    assert_eq!(id, 5, "ids continue after the stored ones");
    m.finish();
    // Per-unit summary.
    let s: Value = serde_json::from_str(&cli::summary(&db, true, now).unwrap()).unwrap();
    let dc = s
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["unit"] == "州大数据中心")
        .unwrap();
    assert_eq!(dc["open"], 3);
    assert!(dc["mean_ack_secs"].as_f64().unwrap() > 3000.0);
    assert!(cli::summary(&db, false, now).unwrap().contains("MTTA"));
    // Overdue: grade III web attack, due 4 h after first seen.
    let late = Timestamp::from_secs_nanos(T0 + 5 * 3600, 0);
    let rows: Vec<Value> =
        serde_json::from_str(&cli::list(&db, &Filter::default(), true, late).unwrap()).unwrap();
    assert!(rows.iter().any(|r| r["overdue"] == true));
    // Export.
    let csv = cli::export(&db, &Filter::default(), cli::ExportFormat::Csv, now).unwrap();
    assert_eq!(csv.lines().count(), 6);
    let ej: Value = serde_json::from_str(
        &cli::export(&db, &Filter::default(), cli::ExportFormat::Json, now).unwrap(),
    )
    .unwrap();
    assert_eq!(ej.as_array().unwrap().len(), 5);
}

#[test]
fn tampering_with_raw_sql_is_detected() {
    for (sql, bad) in [
        ("UPDATE audit SET actor = 'nobody' WHERE id = 3", 3),
        ("DELETE FROM audit WHERE id = 2", 2),
        ("UPDATE audit SET id = -1 WHERE id = 1; UPDATE audit SET id = 1 WHERE id = 2; UPDATE audit SET id = 2 WHERE id = -1", 1),
        ("DELETE FROM audit WHERE id = 4", 4),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("incidents.db");
        scenario(&db);
        let conn = rusqlite_open(&db);
        conn.execute_batch(sql).unwrap();
        drop(conn);
        let e = audit::verify_cli(&db).unwrap_err();
        match e {
            audit::VerifyCliError::Broken(a) => assert_eq!(a.record, bad, "{sql}: {a}"),
            other => panic!("{other}"),
        }
    }
}

fn rusqlite_open(db: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(db).unwrap()
}

#[test]
fn retention_is_enforced_and_pruning_keeps_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("incidents.db");
    scenario(&db);
    let mut conn = queue::open_db(&db).unwrap();
    let now = Timestamp::from_secs_nanos(T0 + 200 * 86_400, 0);
    assert!(matches!(
        queue::prune(&mut conn, 30, now, false, "admin"),
        Err(StoreError::Retention {
            min_days: 180,
            asked_days: 30
        })
    ));
    // Close two incidents; open ones are never pruned.
    let t = |s| Timestamp::from_secs_nanos(T0 + s, 0);
    queue::apply_action(&mut conn, 1, Action::FalsePositive, "admin", None, t(900)).unwrap();
    queue::apply_action(&mut conn, 2, Action::Ack, "admin", None, t(900)).unwrap();
    queue::apply_action(&mut conn, 2, Action::Resolve, "admin", None, t(901)).unwrap();
    // 180 days before `now` is after all the data.
    let (inc, aud) = queue::prune(&mut conn, 180, now, false, "admin").unwrap();
    assert_eq!((inc, aud), (2, 7));
    let left: i64 = conn
        .query_row("SELECT count(*) FROM incidents", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 2);
    let ev: i64 = conn
        .query_row(
            "SELECT count(*) FROM incident_alerts WHERE incident_id IN (1, 2)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(ev, 0);
    assert_eq!(audit::verify(&conn), Ok(1), "only the prune record remains");
    assert!(audit::verify_cli_json(&db).unwrap().contains("\"ok\":true"));
    // Forced pruning below 180 days is possible, and audited.
    let (inc, _) = queue::prune(&mut conn, 1, now, true, "admin").unwrap();
    assert_eq!(inc, 0);
    assert_eq!(audit::verify(&conn), Ok(2));
    let by = queue::open_by_grade_unit(&conn).unwrap();
    assert_eq!(by.iter().map(|(_, _, n)| n).sum::<u64>(), 2);
}

#[test]
fn full_channel_coalesces_and_loses_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("incidents.db");
    let cfg = StoreConfig {
        channel_capacity: 1,
        max_dirty: 5,
        batch_max: 1,
    };
    let mut store = Store::open(&db, cfg).unwrap();
    let mut corr = zoneguard::incident::Correlator::new(CorrelatorConfig::default(), policy(), 1);
    let mut outcomes = Vec::new();
    for i in 0..2000 {
        let src = format!("47.0.{}.{}", (i % 5) / 250, i % 5 + 1);
        let o = corr.on_alert(&alert(i, "network_attack/exploit", &src, "10.10.1.5", 1, 1));
        outcomes.push(store.submit(o.update.clone()));
    }
    store.sync().unwrap();
    let st = store.stats();
    use std::sync::atomic::Ordering::Relaxed;
    let queued = st.queued.load(Relaxed);
    let coalesced = st.coalesced.load(Relaxed);
    let dropped = st.dropped.load(Relaxed);
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Submitted::Dropped)
            .count() as u64,
        dropped
    );
    assert!(coalesced > 0, "the tiny channel must have filled");
    assert_eq!(dropped, 0, "5 incidents fit in the 5 dirty slots");
    assert!(queued <= 2000);
    drop(store);
    let conn = queue::open_db(&db).unwrap();
    let total: i64 = conn
        .query_row("SELECT sum(alert_count) FROM incidents", [], |r| r.get(0))
        .unwrap();
    assert_eq!(total, 2000, "the latest state of every incident is stored");
    assert_eq!(audit::verify(&conn), Ok(5));
    let st: String = conn
        .query_row("SELECT status FROM incidents WHERE id = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(Status::parse(&st), Some(Status::New));
}

#[test]
fn dirty_cap_counts_drops() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("incidents.db");
    let mut store = Store::open(
        &db,
        StoreConfig {
            channel_capacity: 1,
            max_dirty: 1,
            batch_max: 1,
        },
    )
    .unwrap();
    let mut corr = zoneguard::incident::Correlator::new(CorrelatorConfig::default(), policy(), 1);
    let mut dropped = 0;
    for i in 0..5000 {
        let src = format!("47.1.{}.{}", i / 250, i % 250 + 1);
        let o = corr.on_alert(&alert(
            i / 100,
            "network_attack/exploit",
            &src,
            "10.10.1.5",
            1,
            1,
        ));
        if store.submit(o.update) == Submitted::Dropped {
            dropped += 1;
        }
    }
    store.sync().unwrap();
    assert_eq!(
        store
            .stats()
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        dropped
    );
    let conn = queue::open_db(&db).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM incidents", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        n as u64 + dropped,
        5000,
        "every incident is either stored or counted as dropped"
    );
}

#[test]
fn malformed_store_values_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("incidents.db");
    scenario(&db);
    let conn = rusqlite_open(&db);
    conn.execute("UPDATE incidents SET grade = 9 WHERE id = 1", [])
        .unwrap();
    conn.execute("UPDATE incidents SET src_ips = 'not json' WHERE id = 2", [])
        .unwrap();
    drop(conn);
    let e = cli::show(&db, 1, true, Timestamp(0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("incident 1") && e.contains("grade"), "{e}");
    let e = cli::show(&db, 2, false, Timestamp(0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("src_ips"), "{e}");
    // Not a database at all.
    let junk = dir.path().join("junk.db");
    std::fs::write(
        &junk,
        b"this is not sqlite, it is just text that is long enough to fill a header....",
    )
    .unwrap();
    assert!(cli::list(&junk, &Filter::default(), true, Timestamp(0)).is_err());
    // A newer schema is refused.
    let newer = dir.path().join("newer.db");
    drop(queue::open_db(&newer).unwrap());
    rusqlite_open(&newer)
        .execute("INSERT INTO schema_version VALUES (99)", [])
        .unwrap();
    assert!(matches!(queue::open_db(&newer), Err(StoreError::Schema(_))));
}

#[test]
fn refined_category_is_stored() {
    use zoneguard::alert::{PolicyInfo, PolicyKind};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("incidents.db");
    let mut m = Manager::open(
        &db,
        policy(),
        CorrelatorConfig::default(),
        StoreConfig::default(),
    )
    .unwrap();
    let mut p = alert(
        0,
        "violation/boundary_access",
        "10.31.5.66",
        "10.10.0.10",
        1_990_004,
        2,
    );
    p.source = AlertSource::Policy;
    p.policy = Some(PolicyInfo {
        kind: PolicyKind::PolicyViolation,
        src_zone: Arc::from("county-mangshi"),
        dest_zone: Arc::from("datacenter"),
        level: 3,
        unit: Some(Arc::from("芒市大数据中心")),
        contact: None,
        app: None,
        user: None,
    });
    m.on_alert(&p);
    m.sync().unwrap();
    m.on_alert(&alert(
        5,
        "network_attack/scan",
        "10.31.5.66",
        "10.10.0.10",
        2_010_000,
        2,
    ));
    let s = m.finish();
    assert_eq!(s.opened, 1);
    let rows = list_json(&db, &Filter::default());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["category"], "network_attack/scan");
    assert_eq!(rows[0]["alert_count"], 2);
    assert!(rows[0]["title_zh"]
        .as_str()
        .unwrap()
        .starts_with("网络扫描窃听"));
    assert_eq!(rows[0]["unit"], "芒市大数据中心");
    let shown: Value =
        serde_json::from_str(&cli::show(&db, 1, true, Timestamp(0)).unwrap()).unwrap();
    let actions: Vec<&str> = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["opened", "category_refined"]);
}
