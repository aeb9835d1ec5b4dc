#![no_main]
//! Cleartext-login parsers (FTP, Telnet, POP3, IMAP, rexec, rlogin) and SMB
//! negotiate; the first byte picks the protocol and the chunk size.
use libfuzzer_sys::fuzz_target;
use zoneguard::applayer::{AppProto, AppState, Direction, Transport};
use zoneguard::time::Timestamp;

const PROTOS: [AppProto; 8] = [
    AppProto::Ftp,
    AppProto::Telnet,
    AppProto::Pop3,
    AppProto::Imap,
    AppProto::Rexec,
    AppProto::Rlogin,
    AppProto::Smb,
    AppProto::Unknown,
];

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let proto = PROTOS[usize::from(ctl) % PROTOS.len()];
    let split = usize::from(ctl >> 3).max(1);
    let mut s = AppState::new(proto, Transport::Tcp, 0);
    let mut out = Vec::new();
    for (k, c) in rest.chunks(split).enumerate() {
        let dir = if k % 3 == 2 {
            Direction::ToClient
        } else {
            Direction::ToServer
        };
        s.on_data(dir, c, Timestamp(0), &mut out);
    }
    s.on_close(Timestamp(1), &mut out);
    for e in &out {
        let _ = e.eve_object();
    }
});
