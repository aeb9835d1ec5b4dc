//! Syslog time stamps: RFC 3339 (RFC 5424 §6.2.3, strict and lenient) and
//! the BSD `Mmm dd hh:mm:ss` form of RFC 3164 with the variants devices send
//! (a year before or after the time, fractions, a trailing colon).

use chrono::{
    DateTime, Datelike, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Utc,
};
use chrono_tz::Tz;

/// A time stamp as read from the line, before zone resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// Local date and time as written.
    pub naive: NaiveDateTime,
    /// The offset written in the stamp, if any.
    pub offset: Option<FixedOffset>,
}

/// A BSD time stamp; the year is often missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BsdStamp {
    pub month: u32,
    pub day: u32,
    pub time: NaiveTime,
    pub year: Option<i32>,
}

fn digits(input: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = input.get(at..at.checked_add(n)?)?;
    let mut v: u32 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(b - b'0');
    }
    Some(v)
}

/// Error position (relative to the stamp start) and reason.
pub(crate) type StampError = (usize, &'static str);

/// Parse an RFC 3339 stamp at the start of `input`. Strict follows RFC 5424
/// exactly (upper-case `T`/`Z`, 1-6 fraction digits, an offset required);
/// lenient accepts lower case, any number of fraction digits and a missing
/// offset. Returns the stamp and the bytes consumed.
pub(crate) fn parse_rfc3339(input: &[u8], strict: bool) -> Result<(Stamp, usize), StampError> {
    let year = digits(input, 0, 4).ok_or((0, "expected a 4-digit year"))?;
    if input.get(4) != Some(&b'-') {
        return Err((4, "expected '-' after the year"));
    }
    let month = digits(input, 5, 2).ok_or((5, "expected a 2-digit month"))?;
    if !(1..=12).contains(&month) {
        return Err((5, "month out of range"));
    }
    if input.get(7) != Some(&b'-') {
        return Err((7, "expected '-' after the month"));
    }
    let day = digits(input, 8, 2).ok_or((8, "expected a 2-digit day"))?;
    let date = NaiveDate::from_ymd_opt(year as i32, month, day).ok_or((8, "day out of range"))?;
    match input.get(10) {
        Some(b'T') => {}
        Some(b't') if !strict => {}
        _ => return Err((10, "expected 'T' between date and time")),
    }
    let hour = digits(input, 11, 2).ok_or((11, "expected a 2-digit hour"))?;
    if input.get(13) != Some(&b':') {
        return Err((13, "expected ':' after the hour"));
    }
    let minute = digits(input, 14, 2).ok_or((14, "expected 2-digit minutes"))?;
    if input.get(16) != Some(&b':') {
        return Err((16, "expected ':' after the minutes"));
    }
    let second = digits(input, 17, 2).ok_or((17, "expected 2-digit seconds"))?;
    let mut pos = 19;
    let mut nanos: u32 = 0;
    if input.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        let mut scale: u32 = 100_000_000;
        while let Some(&b) = input.get(pos) {
            if !b.is_ascii_digit() {
                break;
            }
            nanos += u32::from(b - b'0') * scale;
            scale /= 10;
            pos += 1;
        }
        let n = pos - start;
        if n == 0 {
            return Err((pos, "expected fraction digits after '.'"));
        }
        if strict && n > 6 {
            return Err((start + 6, "more than 6 fraction digits"));
        }
        // Syslog time has microsecond resolution (RFC 5424 §6.2.3.1);
        // rsyslog and syslog-ng truncate finer fractions the same way.
        nanos -= nanos % 1000;
    }
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)
        .filter(|_| second < 60)
        .ok_or((11, "time out of range"))?;
    let naive = NaiveDateTime::new(date, time);
    let offset = match input.get(pos) {
        Some(b'Z') => {
            pos += 1;
            FixedOffset::east_opt(0)
        }
        Some(b'z') if !strict => {
            pos += 1;
            FixedOffset::east_opt(0)
        }
        Some(&sign @ (b'+' | b'-')) => {
            let h = digits(input, pos + 1, 2).ok_or((pos + 1, "expected 2-digit offset hours"))?;
            if h > 23 {
                return Err((pos + 1, "offset hours out of range"));
            }
            if input.get(pos + 3) != Some(&b':') {
                return Err((pos + 3, "expected ':' in the offset"));
            }
            let m =
                digits(input, pos + 4, 2).ok_or((pos + 4, "expected 2-digit offset minutes"))?;
            if m > 59 {
                return Err((pos + 4, "offset minutes out of range"));
            }
            pos += 6;
            let secs = (h * 3600 + m * 60) as i32;
            FixedOffset::east_opt(if sign == b'-' { -secs } else { secs })
        }
        _ if strict => return Err((pos, "expected 'Z' or a +hh:mm offset")),
        _ => None,
    };
    Ok((Stamp { naive, offset }, pos))
}

const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

fn month(input: &[u8]) -> Option<u32> {
    let m = input.get(..3)?;
    MONTHS
        .iter()
        .position(|name| name.eq_ignore_ascii_case(m))
        .map(|i| i as u32 + 1)
}

fn hms(input: &[u8], at: usize) -> Option<(NaiveTime, usize)> {
    let h = digits(input, at, 2)?;
    if input.get(at + 2) != Some(&b':') {
        return None;
    }
    let m = digits(input, at + 3, 2)?;
    if input.get(at + 5) != Some(&b':') {
        return None;
    }
    let s = digits(input, at + 6, 2)?;
    let mut pos = at + 8;
    let mut nanos = 0u32;
    if input.get(pos) == Some(&b'.') {
        pos += 1;
        let mut scale: u32 = 100_000_000;
        while let Some(&b) = input.get(pos) {
            if !b.is_ascii_digit() {
                break;
            }
            nanos += u32::from(b - b'0') * scale;
            scale /= 10;
            pos += 1;
        }
    }
    if s >= 60 {
        return None;
    }
    Some((NaiveTime::from_hms_nano_opt(h, m, s, nanos)?, pos))
}

/// Parse `Mmm dd [yyyy ]hh:mm:ss[.frac][ yyyy][:]` at the start of `input`
/// (month case-insensitive, day space- or zero-padded or one digit).
/// Returns the stamp and the bytes consumed (trailing colon included, the
/// following space not).
pub(crate) fn parse_bsd(input: &[u8]) -> Option<(BsdStamp, usize)> {
    let month = month(input)?;
    if input.get(3) != Some(&b' ') {
        return None;
    }
    let mut pos = 4;
    if input.get(pos) == Some(&b' ') {
        pos += 1;
    }
    let day = if let Some(d) = digits(input, pos, 2) {
        pos += 2;
        d
    } else {
        let d = digits(input, pos, 1)?;
        pos += 1;
        d
    };
    if !(1..=31).contains(&day) || input.get(pos) != Some(&b' ') {
        return None;
    }
    pos += 1;
    let mut year = None;
    // Cisco: `Mmm dd yyyy hh:mm:ss`.
    if let (Some(y), Some(b' ')) = (digits(input, pos, 4), input.get(pos + 4)) {
        year = Some(y as i32);
        pos += 5;
    }
    let (time, mut end) = hms(input, pos)?;
    // `hh:mm:ss yyyy host` (Linksys and others): a year followed by exactly
    // one space and more text.
    if year.is_none() && input.get(end) == Some(&b' ') {
        if let (Some(y), Some(b' ')) = (digits(input, end + 1, 4), input.get(end + 5)) {
            if input.get(end + 6).is_some_and(|b| *b != b' ') {
                year = Some(y as i32);
                end += 5;
            }
        }
    }
    if input.get(end) == Some(&b':') {
        end += 1;
    }
    Some((
        BsdStamp {
            month,
            day,
            time,
            year,
        },
        end,
    ))
}

/// Resolve a wall-clock time in `tz`: ambiguous times (DST fall-back) take
/// the earlier instant, times in a DST gap the offset before the gap.
pub(crate) fn resolve_local(naive: NaiveDateTime, tz: Tz) -> Option<DateTime<FixedOffset>> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.fixed_offset()),
        LocalResult::Ambiguous(a, _) => Some(a.fixed_offset()),
        LocalResult::None => {
            let before = naive.checked_sub_signed(chrono::Duration::hours(3))?;
            let offset = *tz.from_local_datetime(&before).earliest()?.offset();
            let fixed: FixedOffset = chrono::Offset::fix(&offset);
            fixed.from_local_datetime(&naive).single()
        }
    }
}

/// Resolve a parsed RFC 3339 stamp.
pub(crate) fn resolve_stamp(stamp: Stamp, tz: Tz) -> Option<DateTime<FixedOffset>> {
    match stamp.offset {
        Some(off) => off.from_local_datetime(&stamp.naive).single(),
        None => resolve_local(stamp.naive, tz),
    }
}

/// Resolve a BSD stamp. A missing year is the receive year in `tz`, except
/// across New Year: a December stamp received in January belongs to the
/// year before, a January stamp received in December to the year after (the
/// rule rsyslog and syslog-ng apply).
pub(crate) fn resolve_bsd(
    stamp: BsdStamp,
    tz: Tz,
    received: DateTime<Utc>,
) -> Option<DateTime<FixedOffset>> {
    let year = match stamp.year {
        Some(y) => y,
        None => {
            let now = received.with_timezone(&tz);
            let y = now.year();
            match (stamp.month, now.month()) {
                (12, 1) => y - 1,
                (1, 12) => y + 1,
                _ => y,
            }
        }
    };
    let date = NaiveDate::from_ymd_opt(year, stamp.month, stamp.day)?;
    resolve_local(NaiveDateTime::new(date, stamp.time), tz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_strict_and_lenient() {
        let (s, n) = parse_rfc3339(b"2003-10-11T22:14:15.003Z rest", true).unwrap();
        assert_eq!(n, 24);
        assert_eq!(s.offset, FixedOffset::east_opt(0));
        assert_eq!(s.naive.and_utc().timestamp_subsec_millis(), 3);
        assert!(parse_rfc3339(b"2003-10-11t22:14:15Z", true).is_err());
        assert!(parse_rfc3339(b"2003-10-11t22:14:15Z", false).is_ok());
        assert!(parse_rfc3339(b"2003-09-31T22:14:15Z", false).is_err());
        assert!(parse_rfc3339(b"2003-09-29T22:09:01.000000000009Z", true).is_err());
        assert!(parse_rfc3339(b"2003-08-24T05:14:15.000003-24:00", true).is_err());
        let (s, _) = parse_rfc3339(b"2009-10-16T11:51:56 host", false).unwrap();
        assert_eq!(s.offset, None);
    }

    #[test]
    fn bsd_forms() {
        let (s, n) = parse_bsd(b"Mar  7 19:06:53 host").unwrap();
        assert_eq!((s.month, s.day, s.year, n), (3, 7, None, 15));
        let (s, n) = parse_bsd(b"Mar 7 2008 19:06:53: host").unwrap();
        assert_eq!((s.day, s.year, n), (7, Some(2008), 20));
        let (s, _) = parse_bsd(b"Apr 15 21:28:13 2007 linksys app: msg").unwrap();
        assert_eq!(s.year, Some(2007));
        let (s, _) = parse_bsd(b"AUG 10 22:18:24 2009  netips").unwrap();
        assert_eq!(s.year, None);
        assert!(parse_bsd(b"Foo 10 22:18:24").is_none());
        assert!(parse_bsd(b"Aug 10 22:18").is_none());
    }

    #[test]
    fn year_inference_across_new_year() {
        let tz = Tz::Asia__Shanghai;
        let jan = Utc.with_ymd_and_hms(2027, 1, 1, 0, 30, 0).unwrap();
        let (s, _) = parse_bsd(b"Dec 31 23:59:59").unwrap();
        assert_eq!(resolve_bsd(s, tz, jan).unwrap().year(), 2026);
        let dec = Utc.with_ymd_and_hms(2026, 12, 31, 15, 59, 0).unwrap();
        let (s, _) = parse_bsd(b"Jan  1 00:00:01").unwrap();
        assert_eq!(resolve_bsd(s, tz, dec).unwrap().year(), 2027);
        let (s, _) = parse_bsd(b"Jun  1 00:00:01").unwrap();
        let t = resolve_bsd(s, tz, dec).unwrap();
        assert_eq!((t.year(), t.offset().local_minus_utc()), (2026, 8 * 3600));
    }
}
