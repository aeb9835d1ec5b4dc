//! SMB: enough of the negotiation to name the protocol version and dialect.

pub mod parser;

use super::buffer::StreamBuf;
use super::{bump, AppConfig, AppCounters, AppEvent, Direction};
use crate::time::Timestamp;
use parser::Negotiate;
use serde_json::{json, Map, Value};

/// What the negotiation showed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SmbInfo {
    /// 1 or 2 (SMB2 and SMB3 share version 2's header).
    pub version: u8,
    /// Dialects the client offered (SMB1 strings or SMB2 revision names).
    pub client_dialects: Vec<String>,
    /// The dialect the server chose, if seen.
    pub dialect: Option<String>,
}

impl SmbInfo {
    /// Inserts `"smb": {"command", "dialect", "client_dialects"}`.
    pub fn write_eve(&self, obj: &mut Map<String, Value>) {
        let command = if self.version == 1 {
            "SMB1_COMMAND_NEGOTIATE_PROTOCOL"
        } else {
            "SMB2_COMMAND_NEGOTIATE_PROTOCOL"
        };
        let mut m = Map::new();
        m.insert("command".into(), command.into());
        m.insert(
            "dialect".into(),
            self.dialect
                .clone()
                .unwrap_or_else(|| "unknown".into())
                .into(),
        );
        if !self.client_dialects.is_empty() {
            m.insert("client_dialects".into(), json!(self.client_dialects));
        }
        obj.insert("smb".into(), Value::Object(m));
    }
}

/// Per-flow SMB state.
#[derive(Debug)]
pub struct SmbState {
    bufs: [StreamBuf; 2],
    info: SmbInfo,
    seen_request: bool,
    done: bool,
}

impl SmbState {
    /// New state with the bounds of `cfg`.
    pub fn new(cfg: &AppConfig) -> Self {
        // NetBIOS messages can be 16 MiB; only negotiate (small) is parsed,
        // larger messages are skipped by the buffer cap.
        SmbState {
            bufs: [
                StreamBuf::new(cfg.stream_buf_cap),
                StreamBuf::new(cfg.stream_buf_cap),
            ],
            info: SmbInfo::default(),
            seen_request: false,
            done: false,
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
        if self.done {
            return;
        }
        let Some(buf) = self.bufs.get_mut(dir.index()) else {
            return;
        };
        let (info, seen_request, done) = (&mut self.info, &mut self.seen_request, &mut self.done);
        let r = buf.feed(data, |d| {
            let mut off = 0;
            while let Some(rest) = d.get(off..) {
                let Ok((left, (typ, msg))) = parser::parse_nbss(rest) else {
                    break;
                };
                off = d.len() - left.len();
                if typ != 0 {
                    continue; // session request/keepalive
                }
                match parser::parse_smb(msg).map(|(_, n)| n) {
                    Ok(Negotiate::Smb1Request(v)) if !*seen_request => {
                        *seen_request = true;
                        info.version = 1;
                        info.client_dialects = v;
                    }
                    Ok(Negotiate::Smb2Request(v)) if !*seen_request => {
                        *seen_request = true;
                        info.version = 2;
                        info.client_dialects =
                            v.into_iter().map(parser::smb2_dialect_name).collect();
                    }
                    Ok(Negotiate::Smb1Response(idx)) => {
                        info.version = 1;
                        info.dialect = Some(
                            info.client_dialects
                                .get(usize::from(idx))
                                .cloned()
                                .unwrap_or_else(|| idx.to_string()),
                        );
                    }
                    Ok(Negotiate::Smb2Response(d2)) => {
                        info.version = 2;
                        info.dialect = Some(parser::smb2_dialect_name(d2));
                    }
                    Ok(_) => {}
                    Err(_) => {
                        bump(&mut c.parse_errors);
                        out.push(AppEvent::Anomaly("smb.malformed_negotiate"));
                    }
                }
                if info.dialect.as_deref() == Some("2.??") {
                    // SMB1 negotiate answered with the SMB2 wildcard: the
                    // client negotiates again in SMB2; wait for that round.
                    info.dialect = None;
                    *seen_request = false;
                    continue;
                }
                if info.dialect.is_some() {
                    *done = true;
                    out.push(AppEvent::Smb(std::mem::take(info)));
                    return d.len();
                }
            }
            off
        });
        if r.is_err() {
            bump(&mut c.buffer_cap_hits);
        }
    }

    /// A gap: drop the partial message.
    pub fn on_gap(&mut self, dir: Direction) {
        if let Some(b) = self.bufs.get_mut(dir.index()) {
            b.clear();
        }
    }

    /// Emits a negotiate request that got no response.
    pub fn on_close(&mut self, _ts: Timestamp, out: &mut Vec<AppEvent>) {
        if !self.done && self.seen_request {
            self.done = true;
            out.push(AppEvent::Smb(std::mem::take(&mut self.info)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applayer::{AppProto, AppState, Transport};

    #[test]
    fn smb1_to_smb2_upgrade_names_final_dialect() {
        let mut s = SmbState::new(&AppConfig::default());
        let mut c = AppCounters::default();
        let mut out = Vec::new();
        let mut m = b"\xffSMB\x72".to_vec();
        m.extend_from_slice(&[0; 27]);
        m.push(0);
        let d = b"\x02NT LM 0.12\x00\x02SMB 2.???\x00";
        m.extend_from_slice(&(d.len() as u16).to_le_bytes());
        m.extend_from_slice(d);
        let mut nb = vec![0u8];
        nb.extend_from_slice(&(m.len() as u32).to_be_bytes()[1..]);
        nb.extend_from_slice(&m);
        s.on_data(Direction::ToServer, &nb, Timestamp(0), &mut out, &mut c);
        let mut wild = parser::tests::smb2_negotiate_response();
        // dialect revision at 4 (nbss) + 64 (header) + 4
        wild[72] = 0xff;
        wild[73] = 0x02;
        s.on_data(Direction::ToClient, &wild, Timestamp(0), &mut out, &mut c);
        assert!(out.is_empty());
        s.on_data(
            Direction::ToServer,
            &parser::tests::smb2_negotiate_request(),
            Timestamp(0),
            &mut out,
            &mut c,
        );
        s.on_data(
            Direction::ToClient,
            &parser::tests::smb2_negotiate_response(),
            Timestamp(0),
            &mut out,
            &mut c,
        );
        let AppEvent::Smb(i) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(i.dialect.as_deref(), Some("3.11"));
    }

    #[test]
    fn smb2_negotiation_any_split() {
        for split in [1, 7, 1000] {
            let mut s = AppState::new(AppProto::Smb, Transport::Tcp, 445);
            let mut out = Vec::new();
            for p in parser::tests::smb2_negotiate_request().chunks(split) {
                s.on_data(Direction::ToServer, p, Timestamp(0), &mut out);
            }
            for p in parser::tests::smb2_negotiate_response().chunks(split) {
                s.on_data(Direction::ToClient, p, Timestamp(0), &mut out);
            }
            let AppEvent::Smb(i) = &out[0] else {
                panic!("{out:?}")
            };
            assert_eq!(i.dialect.as_deref(), Some("3.11"));
            assert_eq!(i.client_dialects, ["2.02", "3.00", "3.11"]);
            let mut o = Map::new();
            i.write_eve(&mut o);
            assert_eq!(o["smb"]["dialect"], "3.11");
        }
    }
}
