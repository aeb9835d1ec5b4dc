//! SSH: per-flow state. Reads both identification banners and the
//! cleartext KEXINIT of each side (for HASSH), then stops parsing.

pub mod logger;
pub mod parser;

use super::buffer::StreamBuf;
use super::{bounded_string, bump, AppConfig, AppCounters, AppEvent, Direction};
use crate::time::Timestamp;

/// One side of an SSH connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SshSide {
    /// `2.0`.
    pub proto_version: String,
    /// `OpenSSH_8.9p1 Ubuntu-3`.
    pub software_version: String,
    /// HASSH (client) or HASSH-server: (string, md5 hex).
    pub hassh: Option<(String, String)>,
}

/// Banners of both sides.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SshInfo {
    /// Client side, if its banner was seen.
    pub client: Option<SshSide>,
    /// Server side, if its banner was seen.
    pub server: Option<SshSide>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Banner,
    Packets,
    Done,
}

/// Lines before the banner a server may send (RFC 4253 §4.2), bounded.
const MAX_PRE_LINES: u32 = 32;
/// The banner is at most 255 bytes.
const MAX_BANNER: usize = 255;

/// Per-flow SSH state.
#[derive(Debug)]
pub struct SshState {
    bufs: [StreamBuf; 2],
    phase: [Phase; 2],
    pre_lines: [u32; 2],
    info: SshInfo,
    logged: bool,
}

impl SshState {
    /// New state with the bounds of `cfg`.
    pub fn new(cfg: &AppConfig) -> Self {
        SshState {
            bufs: [
                StreamBuf::new(cfg.stream_buf_cap),
                StreamBuf::new(cfg.stream_buf_cap),
            ],
            phase: [Phase::Banner; 2],
            pre_lines: [0; 2],
            info: SshInfo::default(),
            logged: false,
        }
    }

    /// Feeds in-order bytes of one direction.
    pub fn on_data(
        &mut self,
        dir: Direction,
        data: &[u8],
        _ts: Timestamp,
        out: &mut Vec<AppEvent>,
        c: &mut AppCounters,
    ) {
        let i = dir.index();
        let (Some(buf), Some(phase), Some(pre)) = (
            self.bufs.get_mut(i),
            self.phase.get_mut(i),
            self.pre_lines.get_mut(i),
        ) else {
            return;
        };
        if *phase == Phase::Done {
            return;
        }
        let info = &mut self.info;
        let r = buf.feed(data, |d| {
            let mut off = 0;
            while let Some(rest) = d.get(off..) {
                match *phase {
                    Phase::Done => return d.len(),
                    Phase::Banner => {
                        let Some(nl) = memchr::memchr(b'\n', rest) else {
                            if rest.len() > MAX_BANNER {
                                out.push(AppEvent::Anomaly("ssh.invalid_banner"));
                                *phase = Phase::Done;
                                return d.len();
                            }
                            break;
                        };
                        let line = rest.get(..nl).unwrap_or_default();
                        let line = line.strip_suffix(b"\r").unwrap_or(line);
                        off += nl + 1;
                        match parser::parse_banner(line) {
                            Ok(b) => {
                                let side = SshSide {
                                    proto_version: bounded_string(b.proto_version, 32),
                                    software_version: bounded_string(
                                        b.software_version,
                                        MAX_BANNER,
                                    ),
                                    hassh: None,
                                };
                                match dir {
                                    Direction::ToServer => info.client = Some(side),
                                    Direction::ToClient => info.server = Some(side),
                                }
                                *phase = Phase::Packets;
                            }
                            Err(_) => {
                                *pre += 1;
                                if *pre > MAX_PRE_LINES || dir == Direction::ToServer {
                                    bump(&mut c.parse_errors);
                                    out.push(AppEvent::Anomaly("ssh.invalid_banner"));
                                    *phase = Phase::Done;
                                    return d.len();
                                }
                            }
                        }
                    }
                    Phase::Packets => {
                        let Some(len) = rest
                            .get(..4)
                            .and_then(|b| <[u8; 4]>::try_from(b).ok())
                            .map(u32::from_be_bytes)
                        else {
                            break;
                        };
                        if len > 35_000 {
                            // not a sane packet: encrypted or garbage
                            *phase = Phase::Done;
                            return d.len();
                        }
                        let Ok((_, payload)) = parser::parse_packet(rest) else {
                            break;
                        };
                        off += 4 + len as usize;
                        if payload.first() == Some(&20) {
                            if let Ok(k) = parser::parse_kexinit(payload) {
                                let (h, side) = match dir {
                                    Direction::ToServer => (k.hassh(), info.client.as_mut()),
                                    Direction::ToClient => (k.hassh_server(), info.server.as_mut()),
                                };
                                if let Some(s) = side {
                                    s.hassh = Some(h);
                                }
                            } else {
                                bump(&mut c.parse_errors);
                            }
                            *phase = Phase::Done;
                            return d.len();
                        }
                    }
                }
            }
            off
        });
        if r.is_err() {
            bump(&mut c.buffer_cap_hits);
            if let Some(p) = self.phase.get_mut(i) {
                *p = Phase::Done;
            }
        }
        if !self.logged && self.phase.iter().all(|p| *p == Phase::Done) {
            self.logged = true;
            out.push(AppEvent::Ssh(std::mem::take(&mut self.info)));
        }
    }

    /// A gap: stop parsing that direction.
    pub fn on_gap(&mut self, dir: Direction) {
        if let Some(p) = self.phase.get_mut(dir.index()) {
            *p = Phase::Done;
        }
    }

    /// Emits the banners seen if not logged yet.
    pub fn on_close(&mut self, _ts: Timestamp, out: &mut Vec<AppEvent>) {
        if !self.logged && (self.info.client.is_some() || self.info.server.is_some()) {
            self.logged = true;
            out.push(AppEvent::Ssh(std::mem::take(&mut self.info)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applayer::{AppProto, AppState, Transport};

    fn run(split: usize) -> Vec<AppEvent> {
        let mut s = AppState::new(AppProto::Ssh, Transport::Tcp, 22);
        let mut out = Vec::new();
        let mut cli = b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3\r\n".to_vec();
        cli.extend_from_slice(&parser::tests::kexinit_packet());
        let mut srv = b"Welcome\r\nSSH-2.0-OpenSSH_9.6\r\n".to_vec();
        srv.extend_from_slice(&parser::tests::kexinit_packet());
        for (a, b) in cli.chunks(split).zip(srv.chunks(split)) {
            s.on_data(Direction::ToServer, a, Timestamp(0), &mut out);
            s.on_data(Direction::ToClient, b, Timestamp(0), &mut out);
        }
        let n = cli.chunks(split).count().min(srv.chunks(split).count());
        for a in cli.chunks(split).skip(n) {
            s.on_data(Direction::ToServer, a, Timestamp(0), &mut out);
        }
        for b in srv.chunks(split).skip(n) {
            s.on_data(Direction::ToClient, b, Timestamp(0), &mut out);
        }
        s.on_close(Timestamp(1), &mut out);
        out
    }

    #[test]
    fn banners_and_hassh_any_split() {
        let whole = run(10_000);
        assert_eq!(whole.len(), 1);
        let AppEvent::Ssh(info) = &whole[0] else {
            panic!()
        };
        let c = info.client.as_ref().unwrap();
        assert_eq!(c.proto_version, "2.0");
        assert_eq!(c.software_version, "OpenSSH_8.9p1 Ubuntu-3");
        assert!(c.hassh.is_some());
        assert_eq!(
            info.server.as_ref().unwrap().software_version,
            "OpenSSH_9.6"
        );
        for split in [1, 2, 5, 33] {
            assert_eq!(format!("{:?}", run(split)), format!("{whole:?}"));
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..400), split in 1usize..40) {
            let mut s = SshState::new(&AppConfig::default());
            let mut c = AppCounters::default();
            let mut out = Vec::new();
            let mut stream = b"SSH-2.0-x\r\n".to_vec();
            stream.extend_from_slice(&data);
            for p in stream.chunks(split) {
                s.on_data(Direction::ToServer, p, Timestamp(0), &mut out, &mut c);
                s.on_data(Direction::ToClient, p, Timestamp(0), &mut out, &mut c);
            }
            s.on_close(Timestamp(0), &mut out);
        }
    }
}
