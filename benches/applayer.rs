//! Per-parser throughput of the application layer: DNS query and response
//! (UDP), an HTTP request and response, and a TLS ClientHello, each through
//! a fresh `AppState` as the flow stage would drive it.
//!
//! Needs `[[bench]] name = "applayer" harness = false` in Cargo.toml.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use zoneguard::applayer::{AppProto, AppState, Direction, Transport};
use zoneguard::time::Timestamp;

fn dns_query() -> Vec<u8> {
    b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01\x03www\x07example\x03com\x00\x00\x01\x00\x01\
\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00"
        .to_vec()
}

fn dns_response() -> Vec<u8> {
    let mut m = b"\x12\x34\x81\x80\x00\x01\x00\x03\x00\x00\x00\x00".to_vec();
    m.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
    m.extend_from_slice(b"\xc0\x0c\x00\x05\x00\x01\x00\x00\x0e\x10\x00\x06\x03web\xc0\x10");
    m.extend_from_slice(b"\xc0\x2d\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04\x5d\xb8\xd8\x22");
    m.extend_from_slice(b"\xc0\x2d\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04\x5d\xb8\xd8\x23");
    m
}

const HTTP_REQ: &[u8] = b"GET /portal/index.jsp?id=42&lang=zh HTTP/1.1\r\nHost: www.dh.gov.cn\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0\r\nAccept: text/html,application/xhtml+xml\r\nAccept-Language: zh-CN,zh;q=0.9\r\nCookie: JSESSIONID=0123456789ABCDEF\r\nConnection: keep-alive\r\n\r\n";

fn http_resp() -> Vec<u8> {
    let body = vec![b'x'; 2048];
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(&body);
    r
}

fn client_hello() -> Vec<u8> {
    let mut b = vec![0x03, 0x03];
    b.extend_from_slice(&[0x11; 32]);
    b.push(32);
    b.extend_from_slice(&[0x22; 32]);
    let ciphers: [u16; 16] = [
        0x1a1a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
        0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
    ];
    b.extend_from_slice(&((ciphers.len() * 2) as u16).to_be_bytes());
    for c in ciphers {
        b.extend_from_slice(&c.to_be_bytes());
    }
    b.extend_from_slice(&[1, 0]);
    let mut ext = Vec::new();
    let mut add = |t: u16, d: &[u8]| {
        ext.extend_from_slice(&t.to_be_bytes());
        ext.extend_from_slice(&(d.len() as u16).to_be_bytes());
        ext.extend_from_slice(d);
    };
    let name = b"www.dh.gov.cn";
    let mut sni = ((name.len() + 3) as u16).to_be_bytes().to_vec();
    sni.push(0);
    sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni.extend_from_slice(name);
    add(0, &sni);
    add(23, &[]);
    add(0xff01, &[0]);
    add(10, &[0, 8, 0x2a, 0x2a, 0, 0x1d, 0, 0x17, 0, 0x18]);
    add(11, &[1, 0]);
    add(35, &[]);
    add(
        16,
        &[
            0, 12, 2, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1',
        ],
    );
    add(5, &[1, 0, 0, 0, 0]);
    add(13, &[0, 8, 4, 3, 8, 4, 4, 1, 5, 3]);
    add(18, &[]);
    add(
        51,
        &[
            0, 38, 0, 0x1d, 0, 32, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
            19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
        ],
    );
    add(45, &[1, 1]);
    add(43, &[6, 0x3a, 0x3a, 3, 4, 3, 3]);
    add(27, &[2, 0, 2]);
    b.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    b.extend_from_slice(&ext);
    let mut hs = vec![1u8];
    hs.extend_from_slice(&(b.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&b);
    let mut r = vec![22, 3, 1];
    r.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    r.extend_from_slice(&hs);
    r
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("applayer");
    let (q, r) = (dns_query(), dns_response());
    g.throughput(Throughput::Elements(2));
    g.bench_function("dns_query_response_udp", |b| {
        let mut out = Vec::with_capacity(4);
        b.iter(|| {
            let mut s = AppState::new(AppProto::Dns, Transport::Udp, 53);
            s.on_data(Direction::ToServer, black_box(&q), Timestamp(0), &mut out);
            s.on_data(Direction::ToClient, black_box(&r), Timestamp(1), &mut out);
            out.clear();
        })
    });
    let resp = http_resp();
    g.throughput(Throughput::Bytes((HTTP_REQ.len() + resp.len()) as u64));
    g.bench_function("http_request_response", |b| {
        let mut out = Vec::with_capacity(4);
        b.iter(|| {
            let mut s = AppState::new(AppProto::Http, Transport::Tcp, 80);
            s.on_data(
                Direction::ToServer,
                black_box(HTTP_REQ),
                Timestamp(0),
                &mut out,
            );
            s.on_data(
                Direction::ToClient,
                black_box(&resp),
                Timestamp(1),
                &mut out,
            );
            out.clear();
        })
    });
    let ch = client_hello();
    g.throughput(Throughput::Bytes(ch.len() as u64));
    g.bench_function("tls_client_hello_ja3_ja4", |b| {
        let mut out = Vec::with_capacity(4);
        b.iter(|| {
            let mut s = AppState::new(AppProto::Tls, Transport::Tcp, 443);
            s.on_data(Direction::ToServer, black_box(&ch), Timestamp(0), &mut out);
            s.on_close(Timestamp(1), &mut out);
            out.clear();
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
