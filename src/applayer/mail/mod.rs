//! POP3 and IMAP: cleartext logins (USER/PASS, APOP, LOGIN, AUTHENTICATE
//! PLAIN) and the server's verdict.

pub mod parser;

use super::buffer::StreamBuf;
use super::login::{for_each_line, LoginTracker};
use super::{AppConfig, AppCounters, AppEvent, AppProto, Direction};
use crate::time::Timestamp;
use parser::{ImapCommand, Pop3Command};

/// Which mail protocol a [`MailState`] parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailProto {
    /// POP3.
    Pop3,
    /// IMAP.
    Imap,
}

const MAX_LINE: usize = 8192;

/// Per-flow POP3/IMAP state.
#[derive(Debug)]
pub struct MailState {
    proto: MailProto,
    bufs: [StreamBuf; 2],
    login: LoginTracker,
    /// IMAP: tag of the LOGIN/AUTHENTICATE awaiting its status.
    tag: Vec<u8>,
    /// IMAP: the next client line is the AUTHENTICATE PLAIN response.
    expect_sasl: bool,
}

impl MailState {
    /// New state for `proto` with the bounds of `cfg`.
    pub fn new(proto: MailProto, cfg: &AppConfig) -> Self {
        let cap = cfg.stream_buf_cap.min(MAX_LINE * 2);
        let p = match proto {
            MailProto::Pop3 => AppProto::Pop3,
            MailProto::Imap => AppProto::Imap,
        };
        MailState {
            proto,
            bufs: [StreamBuf::new(cap), StreamBuf::new(cap)],
            login: LoginTracker::new(p),
            tag: Vec::new(),
            expect_sasl: false,
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
        let Some(buf) = self.bufs.get_mut(dir.index()) else {
            return;
        };
        let (login, tag, expect_sasl, proto) = (
            &mut self.login,
            &mut self.tag,
            &mut self.expect_sasl,
            self.proto,
        );
        for_each_line(buf, data, MAX_LINE, c, |line| match (proto, dir) {
            (MailProto::Pop3, Direction::ToServer) => match parser::parse_pop3_command(line) {
                Pop3Command::User(u) => login.user(u, out),
                Pop3Command::Pass => login.password(),
                Pop3Command::Apop(u) => {
                    login.user(u, out);
                    login.password();
                }
                Pop3Command::Other => {}
            },
            (MailProto::Pop3, Direction::ToClient) => {
                if let Some(ok) = parser::parse_pop3_status(line) {
                    if login.has_password() || (!ok && login.pending()) {
                        login.flush(Some(ok), out);
                    }
                }
            }
            (MailProto::Imap, Direction::ToServer) => {
                if *expect_sasl {
                    *expect_sasl = false;
                    if let Some((u, pw)) = parser::sasl_plain(line.trim_ascii()) {
                        login.user(&u, out);
                        if pw {
                            login.password();
                        }
                    }
                    return;
                }
                match parser::parse_imap_command(line) {
                    ImapCommand::Login {
                        tag: t,
                        user,
                        password,
                    } => {
                        login.user(&user, out);
                        if password {
                            login.password();
                        }
                        *tag = t.get(..t.len().min(64)).unwrap_or_default().to_vec();
                    }
                    ImapCommand::AuthPlain { tag: t, initial } => {
                        *tag = t.get(..t.len().min(64)).unwrap_or_default().to_vec();
                        match initial.and_then(parser::sasl_plain) {
                            Some((u, pw)) => {
                                login.user(&u, out);
                                if pw {
                                    login.password();
                                }
                            }
                            None => *expect_sasl = true,
                        }
                    }
                    ImapCommand::Other => {}
                }
            }
            (MailProto::Imap, Direction::ToClient) => {
                if let Some((t, ok)) = parser::parse_imap_tagged(line) {
                    if login.pending() && t == tag.as_slice() {
                        login.flush(Some(ok), out);
                    }
                }
            }
        });
    }

    /// A gap: drop partial lines.
    pub fn on_gap(&mut self, dir: Direction) {
        if let Some(b) = self.bufs.get_mut(dir.index()) {
            b.clear();
        }
    }

    /// Flushes an attempt that got no verdict.
    pub fn on_close(&mut self, _ts: Timestamp, out: &mut Vec<AppEvent>) {
        self.login.flush(None, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applayer::{AppState, Transport};

    fn run(proto: AppProto, conv: &[(Direction, &[u8])], split: usize) -> Vec<AppEvent> {
        let mut s = AppState::new(proto, Transport::Tcp, 0);
        let mut out = Vec::new();
        for (d, data) in conv {
            for p in data.chunks(split) {
                s.on_data(*d, p, Timestamp(0), &mut out);
            }
        }
        s.on_close(Timestamp(1), &mut out);
        out
    }

    fn one(out: &[AppEvent]) -> &crate::applayer::LoginInfo {
        let v: Vec<_> = out
            .iter()
            .filter_map(|e| match e {
                AppEvent::Credentials(l) => Some(l),
                _ => None,
            })
            .collect();
        assert_eq!(v.len(), 1, "{out:?}");
        v[0]
    }

    #[test]
    fn pop3_user_pass() {
        for split in [1, 4, 100] {
            let out = run(
                AppProto::Pop3,
                &[
                    (Direction::ToClient, b"+OK ready\r\n"),
                    (Direction::ToServer, b"USER carol\r\n"),
                    (Direction::ToClient, b"+OK\r\n"),
                    (Direction::ToServer, b"PASS pw\r\n"),
                    (Direction::ToClient, b"+OK maildrop\r\n"),
                ],
                split,
            );
            let l = one(&out);
            assert_eq!(
                (l.proto, l.user.as_str(), l.password_seen, l.success),
                (AppProto::Pop3, "carol", true, Some(true))
            );
        }
    }

    #[test]
    fn imap_login_and_auth_plain() {
        let out = run(
            AppProto::Imap,
            &[
                (Direction::ToClient, b"* OK IMAP4rev1\r\n"),
                (Direction::ToServer, b"a1 LOGIN dave hunter2\r\n"),
                (Direction::ToClient, b"a1 NO bad\r\n"),
            ],
            3,
        );
        let l = one(&out);
        assert_eq!((l.user.as_str(), l.success), ("dave", Some(false)));
        let out = run(
            AppProto::Imap,
            &[
                (Direction::ToServer, b"a2 AUTHENTICATE PLAIN\r\n"),
                (Direction::ToClient, b"+ \r\n"),
                (Direction::ToServer, b"AGJvYgBwdw==\r\n"),
                (Direction::ToClient, b"a2 OK done\r\n"),
            ],
            5,
        );
        let l = one(&out);
        assert_eq!(
            (l.user.as_str(), l.password_seen, l.success),
            ("bob", true, Some(true))
        );
    }
}
