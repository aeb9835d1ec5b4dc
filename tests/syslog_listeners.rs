//! Loopback tests of the syslog listeners with real sockets on 127.0.0.1.
//! Every test is bounded in time.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use zoneguard::syslog::config::{ListenerConfig, ListenerProtocol, TlsConfig};
use zoneguard::syslog::listener::{spawn_listener, ListenerStats, Received};

const LIMIT: Duration = Duration::from_secs(120);

async fn start(
    cfg: ListenerConfig,
    capacity: usize,
) -> (SocketAddr, mpsc::Receiver<Received>, Arc<ListenerStats>) {
    let (tx, rx) = mpsc::channel(capacity);
    let stats = Arc::new(ListenerStats::default());
    let h = spawn_listener(cfg, tx, stats.clone())
        .await
        .expect("listener starts");
    (h.local_addr, rx, stats)
}

fn local(protocol: ListenerProtocol) -> ListenerConfig {
    ListenerConfig::new("test", protocol, "127.0.0.1:0".parse().unwrap())
}

/// The sequence number at the end of `... seq=<n>`.
fn seq(bytes: &[u8]) -> u64 {
    let s = std::str::from_utf8(bytes).unwrap();
    s.rsplit('=').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_100k_at_50k_per_second_loses_nothing() {
    const N: u64 = 100_000;
    let (addr, mut rx, stats) = start(local(ListenerProtocol::Udp), 65_536).await;
    let consumer = tokio::spawn(async move {
        let mut n = 0u64;
        while let Some(m) = rx.recv().await {
            assert!(m.bytes.starts_with(b"<13>1 "));
            n += 1;
            if n == N {
                break;
            }
        }
        n
    });
    let sender = std::thread::spawn(move || {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let start = Instant::now();
        for i in 0..N {
            let line = format!("<13>1 - host app - - - udp test seq={i}");
            sock.send_to(line.as_bytes(), addr).unwrap();
            if i % 250 == 249 {
                // Pace to 50 000 messages per second.
                let due = Duration::from_micros((i + 1) * 20);
                if let Some(wait) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
    });
    tokio::task::spawn_blocking(move || sender.join().unwrap())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = stats.snapshot();
        if s.received + s.dropped >= N || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let s = stats.snapshot();
    assert_eq!(s.received + s.dropped, N, "{s:?}");
    assert_eq!(s.dropped, 0);
    let got = tokio::time::timeout(LIMIT, consumer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, N);
    let senders = stats.senders();
    assert_eq!(senders.len(), 1);
    assert_eq!(senders[0].0, std::net::IpAddr::from([127, 0, 0, 1]));
    assert_eq!(senders[0].1.received, N);
}

fn tcp_sender(addr: SocketAddr, n: u64, octet: bool) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let s = std::net::TcpStream::connect(addr).unwrap();
        let mut w = std::io::BufWriter::with_capacity(256 * 1024, s);
        let mut line = Vec::with_capacity(128);
        for i in 0..n {
            line.clear();
            write!(
                line,
                "<13>1 2026-11-27T22:00:00Z host app - - - tcp seq={i}"
            )
            .unwrap();
            if octet {
                write!(w, "{} ", line.len()).unwrap();
                w.write_all(&line).unwrap();
            } else {
                w.write_all(&line).unwrap();
                w.write_all(b"\n").unwrap();
            }
        }
        w.flush().unwrap();
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_million_messages_each_framing_in_order() {
    const N: u64 = 1_000_000;
    let (addr, mut rx, stats) = start(local(ListenerProtocol::Tcp), 16_384).await;
    let octet = tcp_sender(addr, N, true);
    let lf = tcp_sender(addr, N, false);
    let check = async move {
        let mut next: HashMap<SocketAddr, u64> = HashMap::new();
        let mut total = 0;
        while total < 2 * N {
            let m = rx.recv().await.expect("channel open");
            let want = next.entry(m.peer).or_insert(0);
            assert_eq!(seq(&m.bytes), *want, "order on {}", m.peer);
            *want += 1;
            total += 1;
        }
        next
    };
    let next = tokio::time::timeout(LIMIT, check).await.expect("in time");
    assert_eq!(next.len(), 2);
    assert!(next.values().all(|n| *n == N));
    octet.join().unwrap();
    lf.join().unwrap();
    let s = stats.snapshot();
    assert_eq!((s.received, s.dropped, s.truncated), (2 * N, 0, 0));
    wait_for(|| stats.senders().first().map(|s| s.1.received) == Some(2 * N)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_leaves_the_listener_serving() {
    let (addr, mut rx, stats) = start(local(ListenerProtocol::Tcp), 1024).await;
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    let big = vec![b'a'; 10 * 1024 * 1024];
    let writer = tokio::spawn(async move {
        c.write_all(&big).await.unwrap();
        c.write_all(b"\n").await.unwrap();
        let junk: Vec<u8> = (0..70_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        c.write_all(&junk).await.unwrap();
        c.write_all(b"\n<13>\xff\xfe\xc0 invalid utf-8\n<13>ok\n")
            .await
            .unwrap();
        c.shutdown().await.unwrap();
    });
    let first = tokio::time::timeout(LIMIT, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(first.truncated);
    assert_eq!(first.bytes.len(), 65_536);
    let found = tokio::time::timeout(LIMIT, async {
        while let Some(m) = rx.recv().await {
            if m.bytes == b"<13>ok" {
                return true;
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(found);
    writer.await.unwrap();
    assert!(stats.snapshot().truncated >= 1);
    // Still serving: a new connection is heard.
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(b"9 <13>again").await.unwrap();
    let m = tokio::time::timeout(LIMIT, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.bytes, b"<13>again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_and_idle_timeout() {
    let mut cfg = local(ListenerProtocol::Tcp);
    cfg.max_connections = 2;
    cfg.idle_timeout_secs = 1;
    let (addr, _rx, stats) = start(cfg, 16).await;
    let _a = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _b = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(n, Ok(0) | Err(_)), "third connection is closed");
    assert_eq!(stats.snapshot().rejected_connections, 1);
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert_eq!(stats.snapshot().idle_timeouts, 2);
}

// ------------------------------------------------------------------ TLS

struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::Certificate,
    client_cert: rcgen::Certificate,
    client_key: rcgen::KeyPair,
    rogue_cert: rcgen::Certificate,
    rogue_key: rcgen::KeyPair,
}

fn make_ca(name: &str) -> (rcgen::Certificate, rcgen::KeyPair) {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    let k = rcgen::KeyPair::generate().unwrap();
    (p.self_signed(&k).unwrap(), k)
}

fn leaf(
    name: &str,
    issuer: &rcgen::Certificate,
    issuer_key: &rcgen::KeyPair,
) -> (rcgen::Certificate, rcgen::KeyPair) {
    let p = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
    let k = rcgen::KeyPair::generate().unwrap();
    (p.signed_by(&k, issuer, issuer_key).unwrap(), k)
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let (ca, ca_key) = make_ca("zoneguard test CA");
    let (server, server_key) = leaf("localhost", &ca, &ca_key);
    let (client_cert, client_key) = leaf("client.example", &ca, &ca_key);
    let (rogue_ca, rogue_ca_key) = make_ca("rogue CA");
    let (rogue_cert, rogue_key) = leaf("client.example", &rogue_ca, &rogue_ca_key);
    std::fs::write(dir.path().join("server.crt"), server.pem()).unwrap();
    std::fs::write(dir.path().join("server.key"), server_key.serialize_pem()).unwrap();
    std::fs::write(dir.path().join("ca.crt"), ca.pem()).unwrap();
    Pki {
        dir,
        ca,
        client_cert,
        client_key,
        rogue_cert,
        rogue_key,
    }
}

fn client_config(
    pki: &Pki,
    cert: &rcgen::Certificate,
    key: &rcgen::KeyPair,
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.der().clone()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![cert.der().clone()], key)
        .unwrap()
}

async fn tls_send(
    addr: SocketAddr,
    cfg: rustls::ClientConfig,
    frame: &[u8],
) -> std::io::Result<()> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await?;
    tls.write_all(frame).await?;
    tls.flush().await?;
    // Wait for the server to close (or reject) the session.
    let mut buf = [0u8; 64];
    let _ = tokio::time::timeout(Duration::from_millis(500), tls.read(&mut buf)).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_mutual_authentication() {
    let pki = pki();
    let mut cfg = local(ListenerProtocol::Tls);
    cfg.tls = Some(TlsConfig {
        cert: pki.dir.path().join("server.crt"),
        key: pki.dir.path().join("server.key"),
        client_ca: Some(pki.dir.path().join("ca.crt")),
        require_client_cert: true,
    });
    let (addr, mut rx, stats) = start(cfg, 64).await;

    // A plaintext client is refused.
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"<13>1 - - - - - - plaintext\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read(&mut buf)).await;
    wait_for(|| stats.snapshot().tls_failures >= 1).await;

    // An untrusted client certificate is refused.
    let rogue = client_config(&pki, &pki.rogue_cert, &pki.rogue_key);
    let _ = tls_send(addr, rogue, b"19 <13>1 - - - - - - x").await;
    wait_for(|| stats.snapshot().tls_failures >= 2).await;
    assert!(rx.try_recv().is_err(), "nothing from refused clients");

    // A trusted one is heard.
    let good = client_config(&pki, &pki.client_cert, &pki.client_key);
    let frame = b"<13>1 - host app - - - mutual tls ok";
    let mut msg = format!("{} ", frame.len()).into_bytes();
    msg.extend_from_slice(frame);
    tls_send(addr, good, &msg).await.unwrap();
    let m = tokio::time::timeout(LIMIT, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.bytes, frame);
    assert_eq!(stats.snapshot().tls_failures, 2);
}

async fn wait_for(mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "condition not reached in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
