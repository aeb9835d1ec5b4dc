//! rexec and rlogin: the user of the connection set-up, and whether a
//! password crossed the wire (rexec always sends one; rlogin only when the
//! server falls back to a `Password:` prompt).

pub mod parser;

use super::buffer::Opaque;
use super::login::{LoginTracker, MAX_USER};
use super::{bump, AppConfig, AppCounters, AppEvent, AppProto, Direction};
use crate::time::Timestamp;

/// rexec or rlogin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RKind {
    /// rexec (512).
    Rexec,
    /// rlogin (513).
    Rlogin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Setup,
    /// rlogin: set-up parsed, waiting to see whether the server asks for a password.
    AwaitServer,
    /// rlogin: the server prompted; the next client line is the password.
    AwaitPassword,
    Done,
}

/// Per-flow rexec/rlogin state.
#[derive(Debug)]
pub struct RloginState {
    kind: RKind,
    setup: Opaque,
    cap: usize,
    phase: Phase,
    login: LoginTracker,
}

impl RloginState {
    /// New state for `kind`.
    pub fn new(kind: RKind, cfg: &AppConfig) -> Self {
        let proto = match kind {
            RKind::Rexec => AppProto::Rexec,
            RKind::Rlogin => AppProto::Rlogin,
        };
        RloginState {
            kind,
            setup: Opaque::default(),
            cap: cfg.stream_buf_cap.min(4 * parser::MAX_FIELD),
            phase: Phase::Setup,
            login: LoginTracker::new(proto),
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
        match (self.phase, dir) {
            (Phase::Setup, Direction::ToServer) => {
                if self.setup.len().saturating_add(data.len()) > self.cap {
                    bump(&mut c.buffer_cap_hits);
                    out.push(AppEvent::Anomaly("rlogin.setup_too_long"));
                    self.setup = Opaque::default();
                    self.phase = Phase::Done;
                    return;
                }
                self.setup.extend_from_slice(data);
                match self.kind {
                    RKind::Rexec => match parser::parse_rexec(&self.setup) {
                        Ok((_, r)) => {
                            let (user, pw) = (
                                r.user
                                    .get(..r.user.len().min(MAX_USER))
                                    .unwrap_or_default()
                                    .to_vec(),
                                r.password,
                            );
                            self.login.user(&user, out);
                            if pw {
                                self.login.password();
                            }
                            self.login.flush(None, out);
                            self.phase = Phase::Done;
                        }
                        Err(nom::Err::Incomplete(_)) => {}
                        Err(_) => self.fail(out, c),
                    },
                    RKind::Rlogin => match parser::parse_rlogin(&self.setup) {
                        Ok((_, r)) => {
                            let user = r
                                .server_user
                                .get(..r.server_user.len().min(MAX_USER))
                                .unwrap_or_default()
                                .to_vec();
                            self.login.user(&user, out);
                            self.phase = Phase::AwaitServer;
                        }
                        Err(nom::Err::Incomplete(_)) => {}
                        Err(_) => self.fail(out, c),
                    },
                }
                if self.phase != Phase::Setup {
                    self.setup = Opaque::default();
                }
            }
            (Phase::AwaitServer, Direction::ToClient) => {
                // the server acknowledges with one NUL byte, then either
                // prompts for a password or starts the session
                let text = data.strip_prefix(b"\0").unwrap_or(data);
                if text.is_empty() {
                    return;
                }
                let lower = text.to_ascii_lowercase();
                if lower.windows(9).any(|w| w == b"password:") {
                    self.phase = Phase::AwaitPassword;
                } else {
                    self.login.flush(Some(true), out);
                    self.phase = Phase::Done;
                }
            }
            (Phase::AwaitPassword, Direction::ToServer)
                if data.iter().any(|b| *b == b'\r' || *b == b'\n') =>
            {
                self.login.password();
                self.login.flush(None, out);
                self.phase = Phase::Done;
            }
            _ => {}
        }
    }

    fn fail(&mut self, out: &mut Vec<AppEvent>, c: &mut AppCounters) {
        bump(&mut c.parse_errors);
        out.push(AppEvent::Anomaly("rlogin.malformed_setup"));
        self.phase = Phase::Done;
    }

    /// A gap: the set-up can no longer be read.
    pub fn on_gap(&mut self, dir: Direction) {
        if dir == Direction::ToServer && self.phase == Phase::Setup {
            self.setup = Opaque::default();
            self.phase = Phase::Done;
        }
    }

    /// Flushes a pending login.
    pub fn on_close(&mut self, _ts: Timestamp, out: &mut Vec<AppEvent>) {
        self.login.flush(None, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applayer::{AppState, Transport};

    fn logins(out: &[AppEvent]) -> Vec<crate::applayer::LoginInfo> {
        out.iter()
            .filter_map(|e| match e {
                AppEvent::Credentials(l) => Some(l.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn rexec_any_split() {
        for split in [1, 4, 100] {
            let mut s = AppState::new(AppProto::Rexec, Transport::Tcp, 512);
            let mut out = Vec::new();
            for p in b"0\0alice\0s3cret\0cat /etc/shadow\0".chunks(split) {
                s.on_data(Direction::ToServer, p, Timestamp(0), &mut out);
            }
            s.on_close(Timestamp(0), &mut out);
            let l = logins(&out);
            assert_eq!(l.len(), 1);
            assert_eq!(
                (l[0].proto, l[0].user.as_str(), l[0].password_seen),
                (AppProto::Rexec, "alice", true)
            );
            assert!(!format!("{out:?}{s:?}").contains("s3cret"));
        }
    }

    #[test]
    fn rlogin_trusted_and_prompted() {
        let mut s = AppState::new(AppProto::Rlogin, Transport::Tcp, 513);
        let mut out = Vec::new();
        s.on_data(
            Direction::ToServer,
            b"\0bob\0root\0xterm/38400\0",
            Timestamp(0),
            &mut out,
        );
        s.on_data(Direction::ToClient, b"\0", Timestamp(0), &mut out);
        s.on_data(Direction::ToClient, b"Password: ", Timestamp(0), &mut out);
        s.on_data(Direction::ToServer, b"pw\r", Timestamp(0), &mut out);
        let l = logins(&out);
        assert_eq!((l[0].user.as_str(), l[0].password_seen), ("root", true));

        let mut s = AppState::new(AppProto::Rlogin, Transport::Tcp, 513);
        let mut out = Vec::new();
        s.on_data(
            Direction::ToServer,
            b"\0bob\0root\0xterm/38400\0",
            Timestamp(0),
            &mut out,
        );
        s.on_data(
            Direction::ToClient,
            b"\0Last login: today\r\n# ",
            Timestamp(0),
            &mut out,
        );
        let l = logins(&out);
        assert_eq!((l[0].user.as_str(), l[0].password_seen), ("root", false));
    }

    #[test]
    fn setup_is_bounded() {
        let mut s = RloginState::new(RKind::Rexec, &AppConfig::default());
        let mut c = AppCounters::default();
        let mut out = Vec::new();
        let junk = vec![b'x'; 1024];
        for _ in 0..100 {
            s.on_data(Direction::ToServer, &junk, Timestamp(0), &mut out, &mut c);
        }
        assert!(s.setup.len() <= s.cap);
        assert_eq!(c.buffer_cap_hits, 1);
    }
}
