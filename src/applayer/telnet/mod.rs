//! Telnet: the login and password typed after the server's `login:` and
//! `Password:` prompts, one character per packet or all at once. Option
//! negotiation is stripped; the typed line is bounded, so a login sent in
//! 100 000 fragments stays within the cap.

pub mod parser;

use super::login::{LoginTracker, MAX_USER};
use super::{bump, AppConfig, AppCounters, AppEvent, AppProto, Direction};
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Nothing,
    User,
    Password,
}

/// Last bytes of server text kept to spot prompts split across segments.
const TAIL: usize = 32;

/// Per-flow Telnet state.
#[derive(Debug)]
pub struct TelnetState {
    strip: [parser::Stripper; 2],
    /// Recent server text, lowercased.
    tail: Vec<u8>,
    expect: Expect,
    /// The line being typed (bounded; never holds a password).
    line: Vec<u8>,
    line_overflow: bool,
    /// Characters typed on the password line (counted, not kept).
    pw_chars: u32,
    /// A prompt was just seen and the client has not typed since: more
    /// server text means it was not a prompt ("Last login: Mon …").
    prompt_open: bool,
    login: LoginTracker,
}

impl TelnetState {
    /// New state.
    pub fn new(_cfg: &AppConfig) -> Self {
        TelnetState {
            strip: [parser::Stripper::default(), parser::Stripper::default()],
            tail: Vec::with_capacity(TAIL * 2),
            expect: Expect::Nothing,
            line: Vec::new(),
            line_overflow: false,
            pw_chars: 0,
            prompt_open: false,
            login: LoginTracker::new(AppProto::Telnet),
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
        match dir {
            Direction::ToClient => {
                let Some(st) = self.strip.get_mut(1) else {
                    return;
                };
                let tail = &mut self.tail;
                let expect = &mut self.expect;
                let open = &mut self.prompt_open;
                st.feed(data, |b| {
                    tail.push(b.to_ascii_lowercase());
                    if tail.len() >= TAIL * 2 {
                        tail.drain(..TAIL);
                    }
                    if b == b':' {
                        if tail.ends_with(b"login:")
                            || tail.ends_with(b"username:")
                            || tail.ends_with(b"user name:")
                        {
                            *expect = Expect::User;
                            *open = true;
                        } else if tail.ends_with(b"password:") || tail.ends_with(b"passcode:") {
                            *expect = Expect::Password;
                            *open = true;
                        }
                    } else if *open && !b.is_ascii_whitespace() {
                        // text after the colon: a message, not a prompt
                        *expect = Expect::Nothing;
                        *open = false;
                    }
                });
            }
            Direction::ToServer => {
                let Some(st) = self.strip.get_mut(0) else {
                    return;
                };
                // Lines completed in this chunk: (what was expected, user text, overflowed).
                let mut done: Vec<(Expect, Vec<u8>, bool)> = Vec::new();
                let (line, over, pw, expect) = (
                    &mut self.line,
                    &mut self.line_overflow,
                    &mut self.pw_chars,
                    &mut self.expect,
                );
                if !data.is_empty() {
                    self.prompt_open = false;
                }
                st.feed(data, |b| match b {
                    b'\r' | b'\n' | 0 => {
                        if !line.is_empty() || *pw > 0 {
                            done.push((*expect, std::mem::take(line), std::mem::take(over)));
                            *pw = 0;
                            *expect = Expect::Nothing;
                        }
                    }
                    0x08 | 0x7f => {
                        if *expect == Expect::Password {
                            *pw = pw.saturating_sub(1);
                        } else {
                            line.pop();
                        }
                    }
                    _ => {
                        if *expect == Expect::Password {
                            *pw = pw.saturating_add(1);
                        } else if *expect == Expect::Nothing {
                            // typed outside a login prompt: not a credential
                        } else if line.len() < MAX_USER {
                            line.push(b);
                        } else {
                            *over = true;
                        }
                    }
                });
                for (exp, l, overflow) in done {
                    if overflow {
                        bump(&mut c.item_cap_hits);
                    }
                    match exp {
                        Expect::User => self.login.user(&l, out),
                        Expect::Password => {
                            self.login.password();
                            self.login.flush(None, out);
                        }
                        Expect::Nothing => {}
                    }
                }
            }
        }
    }

    /// A gap: forget the line being typed.
    pub fn on_gap(&mut self, dir: Direction) {
        if dir == Direction::ToServer {
            self.line.clear();
            self.pw_chars = 0;
        } else {
            self.tail.clear();
        }
    }

    /// Flushes a user that typed no password.
    pub fn on_close(&mut self, _ts: Timestamp, out: &mut Vec<AppEvent>) {
        self.login.flush(None, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applayer::{AppState, Transport};

    fn logins(out: &[AppEvent]) -> Vec<&crate::applayer::LoginInfo> {
        out.iter()
            .filter_map(|e| match e {
                AppEvent::Credentials(l) => Some(l),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn char_per_packet_login() {
        let mut s = AppState::new(AppProto::Telnet, Transport::Tcp, 23);
        let mut out = Vec::new();
        let t = Timestamp(0);
        s.on_data(
            Direction::ToServer,
            b"\xff\xfd\x01\xff\xfb\x18",
            t,
            &mut out,
        );
        s.on_data(
            Direction::ToClient,
            b"\xff\xfb\x01Ubuntu 22.04\r\nhost lo",
            t,
            &mut out,
        );
        s.on_data(Direction::ToClient, b"gin: ", t, &mut out);
        for ch in b"root\r\n" {
            s.on_data(Direction::ToServer, &[*ch], t, &mut out);
            s.on_data(Direction::ToClient, &[*ch], t, &mut out); // echo
        }
        s.on_data(Direction::ToClient, b"Password: ", t, &mut out);
        for ch in b"toor\r\n" {
            s.on_data(Direction::ToServer, &[*ch], t, &mut out);
        }
        s.on_close(t, &mut out);
        let l = logins(&out);
        assert_eq!(l.len(), 1, "{out:?}");
        assert_eq!((l[0].user.as_str(), l[0].password_seen), ("root", true));
        assert!(!format!("{s:?}").contains("toor"));
    }

    #[test]
    fn last_login_banner_is_not_a_prompt() {
        let mut s = AppState::new(AppProto::Telnet, Transport::Tcp, 23);
        let mut out = Vec::new();
        let t = Timestamp(0);
        s.on_data(Direction::ToClient, b"login: ", t, &mut out);
        s.on_data(Direction::ToServer, b"backupadm\r\n", t, &mut out);
        s.on_data(Direction::ToClient, b"Password: ", t, &mut out);
        s.on_data(Direction::ToServer, b"secret\r\n", t, &mut out);
        s.on_data(
            Direction::ToClient,
            b"Last login: Mon Nov  2 09:00:01 from 10.50.0.9\r\n$ ",
            t,
            &mut out,
        );
        for ch in b"id\r\n" {
            s.on_data(Direction::ToServer, &[*ch], t, &mut out);
            s.on_data(Direction::ToClient, &[*ch], t, &mut out);
        }
        s.on_close(t, &mut out);
        let l = logins(&out);
        assert_eq!(l.len(), 1, "{out:?}");
        assert_eq!(l[0].user, "backupadm");
    }

    #[test]
    fn hundred_thousand_fragments_stay_bounded() {
        let mut s = TelnetState::new(&AppConfig::default());
        let mut c = AppCounters::default();
        let mut out = Vec::new();
        s.on_data(
            Direction::ToClient,
            b"login: ",
            Timestamp(0),
            &mut out,
            &mut c,
        );
        for _ in 0..100_000 {
            s.on_data(Direction::ToServer, b"a", Timestamp(0), &mut out, &mut c);
            assert!(s.line.len() <= MAX_USER);
        }
        s.on_data(Direction::ToServer, b"\r\n", Timestamp(0), &mut out, &mut c);
        s.on_data(
            Direction::ToClient,
            b"Password: ",
            Timestamp(0),
            &mut out,
            &mut c,
        );
        s.on_data(
            Direction::ToServer,
            b"x\r\n",
            Timestamp(0),
            &mut out,
            &mut c,
        );
        assert_eq!(c.item_cap_hits, 1);
        let l = logins(&out);
        assert_eq!(l[0].user.len(), MAX_USER);
    }
}
