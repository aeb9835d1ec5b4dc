//! Shared pieces of the cleartext-login parsers: a bounded line splitter and
//! a tracker that turns "user, then password, then verdict" into exactly one
//! [`LoginInfo`] per attempt. The password itself is never stored.

use super::buffer::StreamBuf;
use super::{bounded_string, bump, AppCounters, AppEvent, AppProto, LoginInfo};

/// Longest user name kept.
pub const MAX_USER: usize = 256;

/// Calls `f` with every complete line (without CR LF) of the stream; a line
/// longer than `max_line` is dropped whole and counted.
pub fn for_each_line<F>(
    buf: &mut StreamBuf,
    data: &[u8],
    max_line: usize,
    c: &mut AppCounters,
    mut f: F,
) where
    F: FnMut(&[u8]),
{
    let mut overlong = false;
    let r = buf.feed(data, |d| {
        let mut off = 0;
        while let Some(rest) = d.get(off..) {
            let Some(nl) = memchr::memchr(b'\n', rest) else {
                if rest.len() > max_line {
                    overlong = true;
                    return d.len();
                }
                break;
            };
            let line = rest.get(..nl).unwrap_or_default();
            f(line.strip_suffix(b"\r").unwrap_or(line));
            off += nl + 1;
        }
        off
    });
    if overlong || r.is_err() {
        bump(&mut c.buffer_cap_hits);
    }
}

/// One login attempt in progress.
#[derive(Debug, Clone)]
pub struct LoginTracker {
    proto: AppProto,
    user: Option<String>,
    password_seen: bool,
}

impl LoginTracker {
    /// A tracker for `proto`.
    pub fn new(proto: AppProto) -> Self {
        LoginTracker {
            proto,
            user: None,
            password_seen: false,
        }
    }

    /// A user name was sent (starts a new attempt; a pending one is flushed).
    pub fn user(&mut self, user: &[u8], out: &mut Vec<AppEvent>) {
        if self.user.is_some() {
            self.flush(None, out);
        }
        self.user = Some(bounded_string(user, MAX_USER));
        self.password_seen = false;
    }

    /// A password was sent (its value is not looked at).
    pub fn password(&mut self) {
        self.password_seen = true;
        if self.user.is_none() {
            self.user = Some(String::new());
        }
    }

    /// True while an attempt waits for its verdict.
    pub fn pending(&self) -> bool {
        self.user.is_some()
    }

    /// True once the pending attempt carries a password.
    pub fn has_password(&self) -> bool {
        self.password_seen
    }

    /// Emits the pending attempt with the server's verdict, if any.
    pub fn flush(&mut self, success: Option<bool>, out: &mut Vec<AppEvent>) {
        if let Some(user) = self.user.take() {
            out.push(AppEvent::Credentials(LoginInfo {
                proto: self.proto,
                user,
                password_seen: self.password_seen,
                success,
            }));
        }
        self.password_seen = false;
    }
}

/// Case-insensitive "starts with word" for commands (`USER`, `pass`).
pub fn command<'a>(line: &'a [u8], cmd: &[u8]) -> Option<&'a [u8]> {
    let head = line.get(..cmd.len())?;
    if !head.eq_ignore_ascii_case(cmd) {
        return None;
    }
    match line.get(cmd.len()) {
        None => Some(&[]),
        Some(b' ') => Some(line.get(cmd.len() + 1..).unwrap_or_default().trim_ascii()),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_commands() {
        let mut b = StreamBuf::new(64);
        let mut c = AppCounters::default();
        let mut got = Vec::new();
        for part in [&b"USER al"[..], b"ice\r\nPA", b"SS x\r\n"] {
            for_each_line(&mut b, part, 32, &mut c, |l| got.push(l.to_vec()));
        }
        assert_eq!(got, [b"USER alice".to_vec(), b"PASS x".to_vec()]);
        assert_eq!(command(b"user bob", b"USER"), Some(&b"bob"[..]));
        assert_eq!(command(b"USERS", b"USER"), None);
        for_each_line(&mut b, &[b'a'; 40], 32, &mut c, |_| {});
        assert_eq!(c.buffer_cap_hits, 1);
    }

    #[test]
    fn tracker_emits_once_without_password() {
        let mut t = LoginTracker::new(AppProto::Ftp);
        let mut out = Vec::new();
        t.user(b"alice", &mut out);
        t.password();
        t.flush(Some(true), &mut out);
        t.flush(Some(true), &mut out);
        assert_eq!(out.len(), 1);
        let AppEvent::Credentials(l) = &out[0] else {
            panic!()
        };
        assert_eq!(
            (l.user.as_str(), l.password_seen, l.success),
            ("alice", true, Some(true))
        );
    }
}
