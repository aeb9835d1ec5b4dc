//! FTP control-channel parsers (RFC 959): commands and reply codes.

/// A client command of interest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FtpCommand<'a> {
    /// `USER name`.
    User(&'a [u8]),
    /// `PASS secret` (the argument is not kept).
    Pass,
    /// Any other command.
    Other,
}

/// Classifies one command line.
pub fn parse_command(line: &[u8]) -> FtpCommand<'_> {
    if let Some(u) = crate::applayer::login::command(line, b"USER") {
        FtpCommand::User(u)
    } else if crate::applayer::login::command(line, b"PASS").is_some() {
        FtpCommand::Pass
    } else {
        FtpCommand::Other
    }
}

/// The 3-digit code of a final reply line (`230 ok`, not the `230-` continuation).
pub fn parse_reply(line: &[u8]) -> Option<u16> {
    match line {
        [a, b, c, rest @ ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            if rest.first() == Some(&b'-') {
                return None;
            }
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_replies() {
        assert_eq!(
            parse_command(b"USER anonymous"),
            FtpCommand::User(b"anonymous")
        );
        assert_eq!(parse_command(b"pass x"), FtpCommand::Pass);
        assert_eq!(parse_command(b"LIST"), FtpCommand::Other);
        assert_eq!(parse_reply(b"230 Login successful."), Some(230));
        assert_eq!(parse_reply(b"230-Welcome"), None);
        assert_eq!(parse_reply(b"ab"), None);
    }
}
