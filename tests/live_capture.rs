//! Live AF_PACKET capture on real veth pairs between network namespaces
//! made for each test (root only; CI runs as root, elsewhere the tests say
//! loudly that they skipped).
//!
//! Traffic comes from tcpreplay (the sample capture of the reference
//! network) and from a small sender of our own (an AF_PACKET socket in the
//! other namespace) where the test must know every flow.

#[path = "common/netns.rs"]
mod netns;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netns::{skip_unless_root, NetNs, Veth};
use zoneguard::capture::live::{LiveCapture, LiveError, LiveOptions};
use zoneguard::capture::LinkType;
use zoneguard::decode::{decode, DecodeOptions};

/// Marks our own test frames in the UDP payload.
const MAGIC: &[u8; 4] = b"ZGLT";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn opts(interface: &str, group: u16) -> LiveOptions {
    LiveOptions {
        interface: interface.to_string(),
        fanout_group: group,
        promiscuous: true,
        buffer_bytes: 8 << 20,
        bpf_filter: None,
        read_timeout: Duration::from_millis(50),
    }
}

/// One's-complement sum for the IPv4 header checksum.
fn ip_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet/IPv4/UDP frame of test flow `flow` (client 10.99.F.1:20000+F
/// to server 10.98.0.1:port), `reverse` swaps the direction. The payload
/// carries MAGIC, the flow, the sequence number and the direction.
fn frame(flow: u16, seq: u32, reverse: bool, dst_port: u16) -> Vec<u8> {
    let (mut src, mut dst) = ([10, 99, (flow >> 8) as u8, flow as u8], [10, 98, 0, 1]);
    let (mut sport, mut dport) = (20_000u16.wrapping_add(flow), dst_port);
    if reverse {
        std::mem::swap(&mut src, &mut dst);
        std::mem::swap(&mut sport, &mut dport);
    }
    let mut payload = Vec::new();
    payload.extend_from_slice(MAGIC);
    payload.extend_from_slice(&u32::from(flow).to_be_bytes());
    payload.extend_from_slice(&seq.to_be_bytes());
    payload.push(u8::from(reverse));
    let udp_len = 8 + payload.len() as u16;
    let ip_len = 20 + udp_len;
    let mut f = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00];
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = ip_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&udp_len.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&payload);
    f
}

/// (flow, seq, reverse) of one of our frames.
fn parse_ours(data: &[u8]) -> Option<(u16, u32, bool)> {
    let p = data.get(42..55)?;
    if &p[..4] != MAGIC {
        return None;
    }
    let flow = u32::from_be_bytes(p[4..8].try_into().ok()?);
    let seq = u32::from_be_bytes(p[8..12].try_into().ok()?);
    Some((u16::try_from(flow).ok()?, seq, p[12] == 1))
}

/// Sends `frames` from `interface` of the calling thread's namespace at
/// about `pps` packets per second (an AF_PACKET socket through pnet).
fn send_frames(interface: &str, frames: &[Vec<u8>], pps: u32) {
    let iface = pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.name == interface)
        .expect("sender interface");
    let cfg = pnet_datalink::Config {
        write_buffer_size: 2048,
        read_buffer_size: 2048,
        promiscuous: false,
        ..Default::default()
    };
    let Ok(pnet_datalink::Channel::Ethernet(mut tx, _rx)) = pnet_datalink::channel(&iface, cfg)
    else {
        panic!("sender channel on {interface}");
    };
    let start = Instant::now();
    for (i, f) in frames.iter().enumerate() {
        tx.send_to(f, None).expect("pnet send").expect("send frame");
        let due = start + Duration::from_secs_f64((i + 1) as f64 / f64::from(pps));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}

/// Reads `cap` until `stop` is set and a read then times out; calls `f`
/// for every frame.
fn drain(cap: &mut LiveCapture, stop: &AtomicBool, mut f: impl FnMut(&[u8])) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        match cap.next_packet() {
            Ok(Some(p)) => f(p.data),
            Ok(None) if stop.load(Ordering::Acquire) => return,
            Ok(None) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    panic!("reader did not finish");
}

/// Result of one capturing thread.
struct Seen {
    frames: Vec<(u16, u32, bool)>,
    others: usize,
    kernel_packets: u64,
    kernel_drops: u64,
    bytes: u64,
}

/// Opens captures on `veth.a` inside `ns_a` with `options` (one socket per
/// entry), sends with `send` (run inside `ns_b`), and returns what each
/// socket saw.
fn capture_while<S>(ns_a: &NetNs, ns_b: &NetNs, options: Vec<LiveOptions>, send: S) -> Vec<Seen>
where
    S: FnOnce() + Send + 'static,
{
    let caps: Vec<LiveCapture> = ns_a.run(move || {
        options
            .iter()
            .map(|o| LiveCapture::open(o).expect("open capture"))
            .collect()
    });
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = caps
        .into_iter()
        .map(|mut cap| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut seen = Seen {
                    frames: Vec::new(),
                    others: 0,
                    kernel_packets: 0,
                    kernel_drops: 0,
                    bytes: 0,
                };
                drain(&mut cap, &stop, |d| match parse_ours(d) {
                    Some(x) => seen.frames.push(x),
                    None => seen.others += 1,
                });
                let k = cap.kernel_stats().expect("kernel stats");
                seen.kernel_packets = k.packets;
                seen.kernel_drops = k.drops;
                seen.bytes = cap.counters().bytes;
                assert_eq!(cap.counters().truncated, 0);
                seen
            })
        })
        .collect();
    ns_b.run(send);
    // let the last frames cross the veth before the readers may stop
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Release);
    readers
        .into_iter()
        .map(|r| r.join().expect("reader"))
        .collect()
}

#[test]
fn one_socket_sees_every_frame_and_no_drops() {
    if skip_unless_root("one_socket_sees_every_frame_and_no_drops") {
        return;
    }
    let (na, nb) = (NetNs::new("a"), NetNs::new("b"));
    let veth = Veth::new(&na, &nb, 1500);
    let frames: Vec<Vec<u8>> = (0..2000u32)
        .map(|i| frame((i % 50) as u16, i, i % 3 == 0, 53))
        .collect();
    let n = frames.len();
    let sent_bytes: u64 = frames.iter().map(|f| f.len() as u64).sum();
    let b = veth.b.clone();
    let seen = capture_while(&na, &nb, vec![opts(&veth.a, 4242)], move || {
        send_frames(&b, &frames, 5000)
    });
    let s = &seen[0];
    assert_eq!(s.others, 0, "nothing but our frames on the link");
    assert_eq!(s.frames.len(), n);
    let seqs: BTreeSet<u32> = s.frames.iter().map(|f| f.1).collect();
    assert_eq!(seqs.len(), n, "every frame exactly once");
    assert_eq!(s.bytes, sent_bytes);
    assert_eq!(s.kernel_packets, n as u64, "kernel counted what was read");
    assert_eq!(s.kernel_drops, 0);
}

#[test]
fn fanout_keeps_each_flow_on_one_socket() {
    if skip_unless_root("fanout_keeps_each_flow_on_one_socket") {
        return;
    }
    let (na, nb) = (NetNs::new("a"), NetNs::new("b"));
    let veth = Veth::new(&na, &nb, 1500);
    const FLOWS: u16 = 64;
    const PER_FLOW: u32 = 20;
    // both directions of every flow, interleaved
    let mut frames = Vec::new();
    for seq in 0..PER_FLOW {
        for flow in 0..FLOWS {
            frames.push(frame(flow, seq, seq % 2 == 1, 443));
        }
    }
    let n = frames.len();
    let b = veth.b.clone();
    let seen = capture_while(
        &na,
        &nb,
        vec![opts(&veth.a, 4343), opts(&veth.a, 4343)],
        move || send_frames(&b, &frames, 5000),
    );
    let mut owner: BTreeMap<u16, usize> = BTreeMap::new();
    for (i, s) in seen.iter().enumerate() {
        assert_eq!(s.others, 0);
        assert_eq!(s.kernel_drops, 0);
        assert_eq!(s.kernel_packets, s.frames.len() as u64);
        assert!(!s.frames.is_empty(), "socket {i} got no traffic");
        for &(flow, _, _) in &s.frames {
            let prev = owner.insert(flow, i);
            assert!(
                prev.is_none() || prev == Some(i),
                "flow {flow} seen on two sockets"
            );
        }
    }
    assert_eq!(seen.iter().map(|s| s.frames.len()).sum::<usize>(), n);
    assert_eq!(owner.len(), usize::from(FLOWS));
    // both directions reached the same socket (checked above) and each
    // flow's packets all arrived
    for s in &seen {
        let mut per_flow: BTreeMap<u16, u32> = BTreeMap::new();
        for &(flow, _, _) in &s.frames {
            *per_flow.entry(flow).or_default() += 1;
        }
        assert!(per_flow.values().all(|&c| c == PER_FLOW));
    }
}

#[test]
fn bpf_filter_keeps_only_matching_frames() {
    if skip_unless_root("bpf_filter_keeps_only_matching_frames") {
        return;
    }
    let (na, nb) = (NetNs::new("a"), NetNs::new("b"));
    let veth = Veth::new(&na, &nb, 1500);
    let frames: Vec<Vec<u8>> = (0..600u32)
        .map(|i| frame((i % 10) as u16, i, false, [53, 123, 5353][(i % 3) as usize]))
        .collect();
    let b = veth.b.clone();
    let mut o = opts(&veth.a, 4444);
    o.bpf_filter = Some("udp dst port 5353 or udp dst port 123".into());
    let seen = capture_while(&na, &nb, vec![o], move || send_frames(&b, &frames, 5000));
    let s = &seen[0];
    assert_eq!(s.others, 0);
    assert_eq!(s.frames.len(), 400);
    assert!(
        s.frames.iter().all(|&(_, seq, _)| seq % 3 != 0),
        "port 53 filtered out"
    );
    assert_eq!(
        s.kernel_packets, 400,
        "the kernel counts only what passed the filter"
    );
    assert_eq!(s.kernel_drops, 0);

    // a filter that does not compile is refused with libpcap's reason
    let a = veth.a.clone();
    let err = na.run(move || {
        let mut o = opts(&a, 4445);
        o.bpf_filter = Some("udp port fifty".into());
        LiveCapture::open(&o).unwrap_err().to_string()
    });
    assert!(
        err.contains(&format!(
            "capture on {}: BPF filter 'udp port fifty' does not compile",
            veth.a
        )),
        "{err}"
    );
}

/// Packets of tcpreplay's "Successful packets:" line.
fn tcpreplay_sent(out: &str) -> Option<u64> {
    out.lines()
        .find_map(|l| l.trim().strip_prefix("Successful packets:"))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn tcpreplay_of_the_sample_is_captured_whole_and_decodes() {
    if skip_unless_root("tcpreplay_of_the_sample_is_captured_whole_and_decodes") {
        return;
    }
    if Command::new("tcpreplay").arg("--version").output().is_err() {
        panic!("tcpreplay is missing: apt-get install -y tcpreplay (.ci/run does)");
    }
    let (na, nb) = (NetNs::new("a"), NetNs::new("b"));
    // the generated capture holds frames up to the 1500-byte MTU plus
    // VLAN tags; a larger MTU lets tcpreplay send every frame
    let veth = Veth::new(&na, &nb, 9000);
    let pcap = repo().join("samples/dehong-sample.pcap");
    let limit = 6000;
    let cap = na.run({
        let a = veth.a.clone();
        move || LiveCapture::open(&opts(&a, 4646)).expect("open")
    });
    assert_eq!(cap.linktype(), LinkType::Ethernet);
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = Arc::clone(&stop);
        let mut cap = cap;
        std::thread::spawn(move || {
            let dopts = DecodeOptions::default();
            let (mut n, mut with_ip) = (0u64, 0u64);
            drain(&mut cap, &stop, |d| {
                n += 1;
                if decode(LinkType::Ethernet, d, &dopts).src_ip().is_some() {
                    with_ip += 1;
                }
            });
            (n, with_ip, cap.kernel_stats().expect("stats"))
        })
    };
    let out = nb.exec(&[
        "tcpreplay",
        "-i",
        &veth.b,
        "--pps=4000",
        &format!("--limit={limit}"),
        pcap.to_str().expect("path"),
    ]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "tcpreplay failed: {text}");
    let sent = tcpreplay_sent(&text).unwrap_or_else(|| panic!("no count in: {text}"));
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Release);
    let (n, with_ip, k) = reader.join().expect("reader");
    assert_eq!(sent, limit, "tcpreplay sent every packet: {text}");
    assert_eq!(n, sent, "captured == sent");
    assert_eq!(k.packets, sent);
    assert_eq!(k.drops, 0);
    assert!(
        with_ip * 10 >= n * 9,
        "{with_ip} of {n} frames decode to IP"
    );
}

#[test]
fn missing_and_down_interfaces_say_so() {
    if skip_unless_root("missing_and_down_interfaces_say_so") {
        return;
    }
    let (na, nb) = (NetNs::new("a"), NetNs::new("b"));
    let veth = Veth::new(&na, &nb, 1500);
    let err = na.run(|| LiveCapture::open(&opts("zg-nope0", 1)).unwrap_err());
    assert!(matches!(err, LiveError::NoSuchInterface { .. }));
    let msg = err.to_string();
    assert!(
        msg.starts_with("capture interface zg-nope0 does not exist (interfaces here: "),
        "{msg}"
    );
    assert!(
        msg.contains(&veth.a) && msg.contains("lo"),
        "lists what exists: {msg}"
    );
    assert!(msg.contains("抓包网卡 zg-nope0 不存在"), "{msg}");

    na.exec_ok(&["ip", "link", "set", &veth.a, "down"]);
    let a = veth.a.clone();
    let msg = na.run(move || LiveCapture::open(&opts(&a, 1)).unwrap_err().to_string());
    assert_eq!(
        msg,
        format!(
            "capture interface {0} is down (bring it up: ip link set {0} up) / 抓包网卡 {0} 未启用（请执行 ip link set {0} up）",
            veth.a
        )
    );
}

#[test]
fn interface_going_down_is_reported_once_and_capture_resumes() {
    if skip_unless_root("interface_going_down_is_reported_once_and_capture_resumes") {
        return;
    }
    let (na, nb) = (NetNs::new("a"), NetNs::new("b"));
    let veth = Veth::new(&na, &nb, 1500);
    let a = veth.a.clone();
    let mut cap = na.run(move || LiveCapture::open(&opts(&a, 4848)).expect("open"));
    assert!(cap.next_packet().expect("quiet link").is_none());
    na.exec_ok(&["ip", "link", "set", &veth.a, "down"]);
    let err = match cap.next_packet() {
        Err(e) => e,
        Ok(p) => panic!(
            "expected the link-down error, got {:?}",
            p.map(|p| p.data.len())
        ),
    };
    assert!(matches!(err, LiveError::Read { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("capture on {}: read failed", veth.a)),
        "{msg}"
    );
    assert!(msg.contains("Network is down"), "{msg}");
    // reported once: the next read waits again
    assert!(cap.next_packet().expect("error taken").is_none());
    na.exec_ok(&["ip", "link", "set", &veth.a, "up"]);
    let b = veth.b.clone();
    let frames: Vec<Vec<u8>> = (0..50u32).map(|i| frame(1, i, false, 53)).collect();
    nb.run(move || send_frames(&b, &frames, 2000));
    let mut got = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while got < 50 && Instant::now() < deadline {
        if let Some(p) = cap.next_packet().expect("read after up") {
            assert!(parse_ours(p.data).is_some());
            got += 1;
        }
    }
    assert_eq!(got, 50, "capture resumed when the link came back");
    assert_eq!(cap.kernel_stats().expect("stats").drops, 0);
}

/// A capture of our own binary run in a child with a reduced capability
/// bounding set: `(exit ok, stdout+stderr)`.
fn run_child(drop: &str, test: &str, env: &[(&str, &str)]) -> Option<(bool, String)> {
    let exe = std::env::current_exe().expect("test binary");
    let mut cmd = if Path::new("/usr/bin/setpriv").exists() || which("setpriv") {
        let mut c = Command::new("setpriv");
        c.args([
            &format!("--bounding-set=-{drop}"),
            &format!("--inh-caps=-{drop}"),
            "--",
        ]);
        c.arg(&exe);
        c
    } else if which("capsh") {
        let mut c = Command::new("capsh");
        c.arg(format!("--drop=cap_{drop}"))
            .arg("--")
            .arg("-c")
            .arg("exec \"$0\" \"$@\"")
            .arg(&exe);
        c
    } else {
        return None;
    };
    cmd.args([
        "--exact",
        test,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run child");
    Some((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

fn which(prog: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {prog}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn missing_cap_net_raw_gives_the_exact_message() {
    if skip_unless_root("missing_cap_net_raw_gives_the_exact_message") {
        return;
    }
    let Some((ok, out)) = run_child(
        "net_raw",
        "child_without_cap_net_raw",
        &[("ZG_LIVE_CHILD", "1")],
    ) else {
        panic!("neither setpriv nor capsh is installed (util-linux / libcap2-bin)");
    };
    assert!(ok, "child failed: {out}");
    assert!(out.contains(
        "capturing on lo needs CAP_NET_RAW (run as root or grant AmbientCapabilities=CAP_NET_RAW) / 在 lo 上抓包需要 CAP_NET_RAW 权限"
    ), "{out}");
}

/// Run by `missing_cap_net_raw_gives_the_exact_message` in a child whose
/// bounding set lacks CAP_NET_RAW.
#[test]
#[ignore = "run in a child without CAP_NET_RAW by missing_cap_net_raw_gives_the_exact_message"]
fn child_without_cap_net_raw() {
    assert_eq!(
        std::env::var("ZG_LIVE_CHILD").as_deref(),
        Ok("1"),
        "run only as a child"
    );
    let err = LiveCapture::open(&opts("lo", 7)).unwrap_err();
    assert!(matches!(err, LiveError::MissingCapability { .. }), "{err}");
    let direct = zoneguard::capture::live::check_capture_permission("lo").unwrap_err();
    assert_eq!(direct.to_string(), err.to_string());
    println!("{err}");
}

#[test]
fn promiscuous_mode_needs_no_cap_net_admin() {
    if skip_unless_root("promiscuous_mode_needs_no_cap_net_admin") {
        return;
    }
    let (na, nb) = (NetNs::new("a"), NetNs::new("b"));
    let veth = Veth::new(&na, &nb, 1500);
    assert!(na.link_details(&veth.a).contains("promiscuity 0"));
    let Some((ok, out)) = run_child(
        "net_admin",
        "child_without_cap_net_admin",
        &[
            ("ZG_LIVE_CHILD", "1"),
            ("ZG_LIVE_NS", na.name()),
            ("ZG_LIVE_IF", &veth.a),
        ],
    ) else {
        panic!("neither setpriv nor capsh is installed (util-linux / libcap2-bin)");
    };
    assert!(ok, "child failed: {out}");
    assert!(
        out.contains("promiscuity 1"),
        "the child saw its interface promiscuous: {out}"
    );
    // closed with the child: back to normal
    assert!(na.link_details(&veth.a).contains("promiscuity 0"));
}

/// Run by `promiscuous_mode_needs_no_cap_net_admin` in a child whose
/// bounding set lacks CAP_NET_ADMIN.
#[test]
#[ignore = "run in a child without CAP_NET_ADMIN by promiscuous_mode_needs_no_cap_net_admin"]
fn child_without_cap_net_admin() {
    assert_eq!(
        std::env::var("ZG_LIVE_CHILD").as_deref(),
        Ok("1"),
        "run only as a child"
    );
    let set = zoneguard::capture::live::effective_capabilities().expect("caps");
    assert!(!zoneguard::capture::live::has_cap(
        set,
        zoneguard::capture::live::CAP_NET_ADMIN
    ));
    let ns = std::env::var("ZG_LIVE_NS").expect("ns");
    let iface = std::env::var("ZG_LIVE_IF").expect("if");
    netns::enter_named(&ns).expect("setns");
    let mut o = opts(&iface, 9);
    // above rmem_max: without CAP_NET_ADMIN the buffer is capped, not refused
    o.buffer_bytes = 256 << 20;
    let cap = LiveCapture::open(&o).expect("open without CAP_NET_ADMIN");
    let rmem_max: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
        .expect("rmem_max")
        .trim()
        .parse()
        .expect("number");
    if rmem_max < 256 << 20 {
        assert!(
            cap.buffer_bytes() <= 2 * rmem_max,
            "capped by rmem_max {rmem_max}"
        );
    }
    let out = Command::new("ip")
        .args(["-d", "link", "show", &iface])
        .output()
        .expect("ip");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    drop(cap);
}

/// Rate and packets of tcpreplay's summary: (`Rated: … pps`, successful).
fn tcpreplay_rate(out: &str) -> (f64, u64) {
    let pps = out
        .lines()
        .find_map(|l| {
            let l = l.trim();
            l.strip_prefix("Rated:")?
                .split(',')
                .find_map(|p| p.trim().strip_suffix(" pps")?.trim().parse().ok())
        })
        .unwrap_or(0.0);
    (pps, tcpreplay_sent(out).unwrap_or(0))
}

/// The figures of docs/performance.md ("Live capture over veth"): replays
/// the sample at rising rates (and at top speed) into 1 or 2 capturing
/// sockets that decode every frame, and prints sent / captured / kernel
/// drops per step. Run by hand, in release mode:
/// `ZG_MEASURE_SOCKETS=2 cargo test --release --test live_capture -- --ignored measure_capture_rate --nocapture`
#[test]
#[ignore = "measurement, run by hand (see docs/performance.md)"]
fn measure_capture_rate() {
    if skip_unless_root("measure_capture_rate") {
        return;
    }
    let sockets: usize = std::env::var("ZG_MEASURE_SOCKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let steps: Vec<String> = std::env::var("ZG_MEASURE_STEPS")
        .unwrap_or_else(|_| "25000,50000,100000,150000,200000,300000,top".into())
        .split(',')
        .map(str::to_string)
        .collect();
    // a modest buffer, so a reader that falls behind shows up as drops
    // within a step instead of being hidden by a buffer larger than it
    let buffer: usize = std::env::var("ZG_MEASURE_BUFFER")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4 << 20);
    let loops = std::env::var("ZG_MEASURE_LOOPS").unwrap_or_else(|_| "10".into());
    let (na, nb) = (NetNs::new("a"), NetNs::new("b"));
    let veth = Veth::new(&na, &nb, 9000);
    let pcap = repo().join("samples/dehong-sample.pcap");
    let a = veth.a.clone();
    let caps: Vec<LiveCapture> = na.run(move || {
        (0..sockets)
            .map(|_| {
                let mut o = opts(&a, 4747);
                o.buffer_bytes = buffer;
                LiveCapture::open(&o).expect("open")
            })
            .collect()
    });
    println!(
        "sockets={sockets} buffer={} bytes (granted, per socket)",
        caps[0].buffer_bytes()
    );
    type Shared = Arc<std::sync::Mutex<Vec<(u64, u64)>>>;
    let totals: Shared = Arc::new(std::sync::Mutex::new(vec![(0, 0); sockets]));
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = caps
        .into_iter()
        .enumerate()
        .map(|(i, mut cap)| {
            let (stop, totals) = (Arc::clone(&stop), Arc::clone(&totals));
            std::thread::spawn(move || {
                let dopts = DecodeOptions::default();
                let mut n = 0u64;
                let mut last = Instant::now();
                let publish = |cap: &mut LiveCapture, n: u64| {
                    let k = cap.kernel_stats().expect("stats");
                    totals.lock().expect("lock")[i] = (n, k.drops);
                };
                loop {
                    match cap.next_packet() {
                        Ok(Some(p)) => {
                            let d = decode(LinkType::Ethernet, p.data, &dopts);
                            std::hint::black_box(d.src_port());
                            n += 1;
                        }
                        Ok(None) if stop.load(Ordering::Acquire) => break,
                        Ok(None) => {}
                        Err(e) => panic!("{e}"),
                    }
                    if last.elapsed() > Duration::from_millis(100) {
                        publish(&mut cap, n);
                        last = Instant::now();
                    }
                }
                publish(&mut cap, n);
            })
        })
        .collect();
    let snapshot = |t: &Shared| -> (u64, u64) {
        std::thread::sleep(Duration::from_millis(500));
        let v = t.lock().expect("lock");
        (v.iter().map(|x| x.0).sum(), v.iter().map(|x| x.1).sum())
    };
    println!("| requested | tcpreplay sent pps | sent | captured | kernel drops |");
    println!("| --- | --- | --- | --- | --- |");
    for step in steps {
        let (cap0, drop0) = snapshot(&totals);
        let rate = if step == "top" {
            "--topspeed".to_string()
        } else {
            format!("--pps={step}")
        };
        let out = nb.exec(&[
            "tcpreplay",
            "-i",
            &veth.b,
            &rate,
            &format!("--loop={loops}"),
            "--preload-pcap",
            pcap.to_str().expect("path"),
        ]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let (pps, sent) = tcpreplay_rate(&text);
        let (cap1, drop1) = snapshot(&totals);
        println!(
            "| {step} | {pps:.0} | {sent} | {} | {} |",
            cap1 - cap0,
            drop1 - drop0
        );
    }
    stop.store(true, Ordering::Release);
    for r in readers {
        r.join().expect("reader");
    }
}

/// PR_SET_MDWE / PR_GET_MDWE (Linux 6.3) and PR_MDWE_REFUSE_EXEC_GAIN:
/// what systemd's MemoryDenyWriteExecute=yes enforces (by seccomp, or by
/// this prctl from systemd 253 on).
const PR_SET_MDWE: libc::c_int = 65;
const PR_GET_MDWE: libc::c_int = 66;
const PR_MDWE_REFUSE_EXEC_GAIN: libc::c_ulong = 1;

/// The decision behind `MemoryDenyWriteExecute=` in systemd/zoneguard.service
/// (docs/systemd.md): under "memory deny write execute" PCRE2 cannot JIT,
/// and the engine's `jit_if_available` falls back to the interpreter, which
/// still matches.
#[test]
fn pcre2_jit_is_refused_under_memory_deny_write_execute() {
    // SAFETY: PR_GET_MDWE only reads this process's flags.
    let flags = unsafe { libc::prctl(PR_GET_MDWE, 0, 0, 0, 0) };
    if flags < 0 {
        eprintln!("!!!!! SKIPPED pcre2_jit_is_refused_under_memory_deny_write_execute: kernel without PR_SET_MDWE (< 6.3) !!!!!");
        return;
    }
    // without MDWE (this process) the JIT works
    let jit = pcre2::bytes::RegexBuilder::new()
        .jit(true)
        .build(r"^(?:GET|POST)\s+/[a-z]+\.php\?id=\d+")
        .expect("JIT outside MDWE");
    assert!(jit
        .is_match(b"GET /index.php?id=42 HTTP/1.1")
        .expect("match"));
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new(exe)
        .args([
            "--exact",
            "child_pcre2_under_mdwe",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ZG_LIVE_CHILD", "1")
        .output()
        .expect("run child");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child failed: {text}");
    assert!(text.contains("under MDWE: JIT refused"), "{text}");
    assert!(text.contains("under MDWE: interpreter matches"), "{text}");
}

/// Run by `pcre2_jit_is_refused_under_memory_deny_write_execute`: MDWE
/// cannot be switched off again, so it is set in a child, before any JIT
/// (PCRE2 keeps executable memory it mapped earlier and would reuse it).
#[test]
#[ignore = "run in a child by pcre2_jit_is_refused_under_memory_deny_write_execute"]
fn child_pcre2_under_mdwe() {
    use pcre2::bytes::RegexBuilder;
    assert_eq!(
        std::env::var("ZG_LIVE_CHILD").as_deref(),
        Ok("1"),
        "run only as a child"
    );
    let pattern = r"^(?:GET|POST)\s+/[a-z]+\.php\?id=\d+";
    let subject = b"GET /index.php?id=42 HTTP/1.1";
    // SAFETY: PR_SET_MDWE takes plain integer flags and only restricts
    // this (child) process's future mappings.
    let rc = unsafe { libc::prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) };
    assert_eq!(
        rc,
        0,
        "prctl(PR_SET_MDWE): {}",
        std::io::Error::last_os_error()
    );
    match RegexBuilder::new().jit(true).build(pattern) {
        Err(e) => println!("under MDWE: JIT refused: {e}"),
        Ok(_) => println!("under MDWE: JIT still compiles"),
    }
    let re = RegexBuilder::new()
        .jit_if_available(true)
        .build(pattern)
        .expect("interpreter");
    assert!(re.is_match(subject).expect("match"));
    assert!(!re.is_match(b"GET /index.php?id=x").expect("match"));
    println!("under MDWE: interpreter matches");
}
