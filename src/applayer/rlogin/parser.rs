//! BSD rexec (port 512) and rlogin (port 513) connection set-up parsers.
//!
//! rexec: `port\0user\0password\0command\0`; rlogin:
//! `\0client-user\0server-user\0terminal/speed\0`.

use nom::bytes::streaming::tag;
use nom::bytes::streaming::take_until;
use nom::IResult;

/// Longest field accepted (the command may be long, the rest are short).
pub const MAX_FIELD: usize = 4096;

/// A NUL-terminated field; `Incomplete` while the NUL has not arrived.
fn field(i: &[u8]) -> IResult<&[u8], &[u8]> {
    let (i, f) = take_until(&b"\0"[..])(i)?;
    let (i, _) = tag(&b"\0"[..])(i)?;
    Ok((i, f))
}

/// Parsed rexec set-up; the password is reduced to "was one sent".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rexec<'a> {
    /// stderr port (ASCII digits, may be empty).
    pub port: &'a [u8],
    /// User.
    pub user: &'a [u8],
    /// True when the password field was non-empty.
    pub password: bool,
    /// Command line.
    pub command: &'a [u8],
}

/// Parses the rexec set-up; `Err(Incomplete)` until all four fields arrived.
pub fn parse_rexec(i: &[u8]) -> IResult<&[u8], Rexec<'_>> {
    let (i, port) = field(i)?;
    let (i, user) = field(i)?;
    let (i, pw) = field(i)?;
    let (i, command) = field(i)?;
    Ok((
        i,
        Rexec {
            port,
            user,
            password: !pw.is_empty(),
            command,
        },
    ))
}

/// Parsed rlogin set-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rlogin<'a> {
    /// Local user on the client.
    pub client_user: &'a [u8],
    /// Account asked for on the server.
    pub server_user: &'a [u8],
    /// `xterm/38400`.
    pub terminal: &'a [u8],
}

/// Parses the rlogin set-up; `Err(Incomplete)` until all fields arrived.
pub fn parse_rlogin(i: &[u8]) -> IResult<&[u8], Rlogin<'_>> {
    let (i, _) = tag(&b"\0"[..])(i)?;
    let (i, client_user) = field(i)?;
    let (i, server_user) = field(i)?;
    let (i, terminal) = field(i)?;
    Ok((
        i,
        Rlogin {
            client_user,
            server_user,
            terminal,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rexec() {
        let (_, r) = parse_rexec(b"0\0alice\0pw\0ls -l\0").unwrap();
        assert_eq!(
            (r.user, r.password, r.command),
            (&b"alice"[..], true, &b"ls -l"[..])
        );
        assert!(matches!(
            parse_rexec(b"0\0alice\0p"),
            Err(nom::Err::Incomplete(_))
        ));
    }

    #[test]
    fn rlogin() {
        let (_, r) = parse_rlogin(b"\0bob\0root\0xterm/38400\0").unwrap();
        assert_eq!((r.client_user, r.server_user), (&b"bob"[..], &b"root"[..]));
        assert!(parse_rlogin(b"xbob\0").is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse_rexec(&data);
            let _ = parse_rlogin(&data);
        }
    }
}
