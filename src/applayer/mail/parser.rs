//! POP3 (RFC 1939) and IMAP (RFC 9051) command and response parsers, as far
//! as logins go.

use nom::branch::alt;
use nom::bytes::complete::{escaped_transform, is_not, tag, take_while1};
use nom::character::complete::{char, space1};
use nom::combinator::value;
use nom::sequence::delimited;
use nom::IResult;

/// A POP3 client command of interest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pop3Command<'a> {
    /// `USER name`.
    User(&'a [u8]),
    /// `PASS secret` (not kept).
    Pass,
    /// `APOP name digest`: the digest stands in for the password.
    Apop(&'a [u8]),
    /// Anything else.
    Other,
}

/// Classifies a POP3 command line.
pub fn parse_pop3_command(line: &[u8]) -> Pop3Command<'_> {
    use crate::applayer::login::command;
    if let Some(u) = command(line, b"USER") {
        Pop3Command::User(u)
    } else if command(line, b"PASS").is_some() {
        Pop3Command::Pass
    } else if let Some(a) = command(line, b"APOP") {
        let name = a.split(|c| *c == b' ').next().unwrap_or_default();
        Pop3Command::Apop(name)
    } else {
        Pop3Command::Other
    }
}

/// `+OK` → Some(true), `-ERR` → Some(false).
pub fn parse_pop3_status(line: &[u8]) -> Option<bool> {
    if line.starts_with(b"+OK") {
        Some(true)
    } else if line.starts_with(b"-ERR") {
        Some(false)
    } else {
        None
    }
}

/// An IMAP client command of interest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImapCommand<'a> {
    /// `tag LOGIN user password`.
    Login {
        /// Command tag.
        tag: &'a [u8],
        /// User (astring, unquoted).
        user: Vec<u8>,
        /// True when a non-empty password followed.
        password: bool,
    },
    /// `tag AUTHENTICATE PLAIN [initial-response]`.
    AuthPlain {
        /// Command tag.
        tag: &'a [u8],
        /// The base64 initial response, if on the same line.
        initial: Option<&'a [u8]>,
    },
    /// Anything else.
    Other,
}

fn is_atom(c: u8) -> bool {
    c > b' ' && c < 0x7f && !b"(){%*\"\\]".contains(&c)
}

/// An IMAP astring: atom or quoted string (escapes `\"` and `\\`).
fn astring(i: &[u8]) -> IResult<&[u8], Vec<u8>> {
    alt((
        delimited(
            char('"'),
            alt((
                escaped_transform(
                    is_not("\\\""),
                    '\\',
                    alt((value(&b"\\"[..], tag("\\")), value(&b"\""[..], tag("\"")))),
                ),
                value(Vec::new(), tag("")),
            )),
            char('"'),
        ),
        |i| take_while1(is_atom)(i).map(|(r, a): (&[u8], &[u8])| (r, a.to_vec())),
    ))(i)
}

/// Classifies an IMAP command line.
pub fn parse_imap_command(line: &[u8]) -> ImapCommand<'_> {
    let r: IResult<&[u8], (&[u8], &[u8])> = (|i| {
        let (i, t) = take_while1(is_atom)(i)?;
        let (i, _) = space1(i)?;
        let (i, cmd) = take_while1(|c: u8| c.is_ascii_alphabetic())(i)?;
        Ok((i, (t, cmd)))
    })(line);
    let Ok((rest, (tag_, cmd))) = r else {
        return ImapCommand::Other;
    };
    if cmd.eq_ignore_ascii_case(b"LOGIN") {
        let r: IResult<&[u8], (Vec<u8>, Vec<u8>)> = (|i| {
            let (i, _) = space1(i)?;
            let (i, u) = astring(i)?;
            let (i, _) = space1(i)?;
            let (i, p) = astring(i)?;
            Ok((i, (u, p)))
        })(rest);
        match r {
            Ok((_, (user, pass))) => ImapCommand::Login {
                tag: tag_,
                user,
                password: !pass.is_empty(),
            },
            Err(_) => ImapCommand::Other,
        }
    } else if cmd.eq_ignore_ascii_case(b"AUTHENTICATE") {
        let args = rest.trim_ascii();
        let mut it = args.split(|c| *c == b' ');
        let mech = it.next().unwrap_or_default();
        if !mech.eq_ignore_ascii_case(b"PLAIN") {
            return ImapCommand::Other;
        }
        ImapCommand::AuthPlain {
            tag: tag_,
            initial: it.next().filter(|s| !s.is_empty() && *s != b"="),
        }
    } else {
        ImapCommand::Other
    }
}

/// A tagged status response: (tag, ok?) for `tag OK|NO|BAD ...`.
pub fn parse_imap_tagged(line: &[u8]) -> Option<(&[u8], bool)> {
    let mut it = line.splitn(3, |c| *c == b' ');
    let t = it.next()?;
    if t == b"*" || t == b"+" || t.is_empty() {
        return None;
    }
    let st = it.next()?;
    if st.eq_ignore_ascii_case(b"OK") {
        Some((t, true))
    } else if st.eq_ignore_ascii_case(b"NO") || st.eq_ignore_ascii_case(b"BAD") {
        Some((t, false))
    } else {
        None
    }
}

/// Decodes a SASL PLAIN response (`authzid \0 authcid \0 passwd`) to
/// (user, password present); the password is not returned.
pub fn sasl_plain(b64: &[u8]) -> Option<(Vec<u8>, bool)> {
    let raw = crate::applayer::http::parser::base64_decode(b64)?;
    let mut parts = raw.split(|c| *c == 0);
    let _authz = parts.next()?;
    let user = parts.next()?.to_vec();
    let pass = parts.next().is_some_and(|p| !p.is_empty());
    Some((user, pass))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pop3() {
        assert_eq!(parse_pop3_command(b"USER bob"), Pop3Command::User(b"bob"));
        assert_eq!(parse_pop3_command(b"PASS x"), Pop3Command::Pass);
        assert_eq!(
            parse_pop3_command(b"APOP mrose c4c9334bac560ecc979e58001b3e22fb"),
            Pop3Command::Apop(b"mrose")
        );
        assert_eq!(parse_pop3_status(b"-ERR no"), Some(false));
    }

    #[test]
    fn imap() {
        assert_eq!(
            parse_imap_command(b"a001 LOGIN \"j smith\" \"p\\\"w\""),
            ImapCommand::Login {
                tag: b"a001",
                user: b"j smith".to_vec(),
                password: true
            }
        );
        assert_eq!(
            parse_imap_command(b"a1 login bob secret"),
            ImapCommand::Login {
                tag: b"a1",
                user: b"bob".to_vec(),
                password: true
            }
        );
        assert_eq!(parse_imap_command(b"a2 SELECT INBOX"), ImapCommand::Other);
        assert_eq!(
            parse_imap_tagged(b"a1 NO [AUTHENTICATIONFAILED] x"),
            Some((&b"a1"[..], false))
        );
        assert_eq!(parse_imap_tagged(b"* OK ready"), None);
        // "\0bob\0pw"
        assert_eq!(sasl_plain(b"AGJvYgBwdw=="), Some((b"bob".to_vec(), true)));
    }

    proptest::proptest! {
        #[test]
        fn never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse_pop3_command(&data);
            let _ = parse_imap_command(&data);
            let _ = parse_imap_tagged(&data);
            let _ = sasl_plain(&data);
        }
    }
}
