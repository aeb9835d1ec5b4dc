//! FTP control channel: USER/PASS and the 230/530 verdict.

pub mod parser;

use super::buffer::StreamBuf;
use super::login::{for_each_line, LoginTracker};
use super::{AppConfig, AppCounters, AppEvent, AppProto, Direction};
use crate::time::Timestamp;
use parser::FtpCommand;

/// Longest control line accepted.
const MAX_LINE: usize = 4096;

/// Per-flow FTP state.
#[derive(Debug)]
pub struct FtpState {
    bufs: [StreamBuf; 2],
    login: LoginTracker,
}

impl FtpState {
    /// New state with the bounds of `cfg`.
    pub fn new(cfg: &AppConfig) -> Self {
        let cap = cfg.stream_buf_cap.min(MAX_LINE * 2);
        FtpState {
            bufs: [StreamBuf::new(cap), StreamBuf::new(cap)],
            login: LoginTracker::new(AppProto::Ftp),
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
        let login = &mut self.login;
        for_each_line(buf, data, MAX_LINE, c, |line| match dir {
            Direction::ToServer => match parser::parse_command(line) {
                FtpCommand::User(u) => login.user(u, out),
                FtpCommand::Pass => login.password(),
                FtpCommand::Other => {}
            },
            Direction::ToClient => match parser::parse_reply(line) {
                Some(230) if login.pending() => login.flush(Some(true), out),
                Some(530) if login.pending() && login.has_password() => {
                    login.flush(Some(false), out)
                }
                Some(530) if login.pending() => login.flush(Some(false), out),
                _ => {}
            },
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
    use crate::applayer::{AppState, LoginInfo, Transport};

    pub(crate) fn logins(out: &[AppEvent]) -> Vec<&LoginInfo> {
        out.iter()
            .filter_map(|e| match e {
                AppEvent::Credentials(l) => Some(l),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn partial_password_line_not_in_debug() {
        let mut s = AppState::new(AppProto::Ftp, Transport::Tcp, 21);
        let mut out = Vec::new();
        s.on_data(
            Direction::ToServer,
            b"USER a\r\nPASS s3cr",
            Timestamp(0),
            &mut out,
        );
        assert!(!format!("{s:?}").contains("s3cr"));
    }

    #[test]
    fn user_pass_verdicts_any_split() {
        for split in [1, 3, 1000] {
            let mut s = AppState::new(AppProto::Ftp, Transport::Tcp, 21);
            let mut out = Vec::new();
            let conv: [(Direction, &[u8]); 7] = [
                (Direction::ToClient, b"220 FTP ready\r\n"),
                (Direction::ToServer, b"USER alice\r\n"),
                (Direction::ToClient, b"331 Password please\r\n"),
                (Direction::ToServer, b"PASS wrong\r\n"),
                (Direction::ToClient, b"530 Login incorrect.\r\n"),
                (Direction::ToServer, b"USER bob\r\nPASS s3cret\r\n"),
                (Direction::ToClient, b"230-Hi\r\n230 Login successful.\r\n"),
            ];
            for (d, data) in conv {
                for p in data.chunks(split) {
                    s.on_data(d, p, Timestamp(0), &mut out);
                }
            }
            s.on_close(Timestamp(1), &mut out);
            let l = logins(&out);
            assert_eq!(l.len(), 2);
            assert_eq!((l[0].user.as_str(), l[0].success), ("alice", Some(false)));
            assert_eq!(
                (l[1].user.as_str(), l[1].password_seen, l[1].success),
                ("bob", true, Some(true))
            );
            assert!(!format!("{out:?}").contains("s3cret"));
        }
    }
}
