//! Packet and log time.
//!
//! zoneguard never reads the wall clock on the detection path: flow timeouts,
//! thresholds and aggregation windows run on the time of the packet or log
//! line, so a replay gives the same answer every time.

use std::fmt;

/// A point in time as nanoseconds since the Unix epoch (UTC).
///
/// Covers the years 1678 to 2262, which is every capture anyone will replay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Nanoseconds in one second.
    pub const NANOS_PER_SEC: i64 = 1_000_000_000;

    /// From whole seconds and a sub-second part in nanoseconds.
    pub fn from_secs_nanos(secs: i64, nanos: u32) -> Self {
        Timestamp(
            secs.saturating_mul(Self::NANOS_PER_SEC)
                .saturating_add(i64::from(nanos)),
        )
    }

    /// From whole seconds and a sub-second part in microseconds.
    pub fn from_secs_micros(secs: i64, micros: u32) -> Self {
        Self::from_secs_nanos(secs, micros.saturating_mul(1000))
    }

    /// Whole seconds since the epoch (floor).
    pub fn secs(self) -> i64 {
        self.0.div_euclid(Self::NANOS_PER_SEC)
    }

    /// Sub-second part in nanoseconds.
    pub fn subsec_nanos(self) -> u32 {
        // rem_euclid of a positive divisor is always in 0..1e9, so it fits.
        self.0.rem_euclid(Self::NANOS_PER_SEC) as u32
    }

    /// Sub-second part in microseconds (truncated, as Suricata prints it).
    pub fn subsec_micros(self) -> u32 {
        self.subsec_nanos() / 1000
    }

    /// This time plus a number of seconds (saturating).
    pub fn add_secs(self, secs: i64) -> Self {
        Timestamp(
            self.0
                .saturating_add(secs.saturating_mul(Self::NANOS_PER_SEC)),
        )
    }

    /// Seconds elapsed from `earlier` to `self` (negative if `earlier` is later).
    pub fn secs_since(self, earlier: Timestamp) -> f64 {
        (self.0.saturating_sub(earlier.0)) as f64 / Self::NANOS_PER_SEC as f64
    }

    /// As a chrono UTC date-time.
    pub fn to_chrono(self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(self.secs(), self.subsec_nanos()).unwrap_or_default()
    }

    /// From a chrono date-time in any zone.
    pub fn from_chrono<Tz: chrono::TimeZone>(dt: &chrono::DateTime<Tz>) -> Self {
        Self::from_secs_nanos(dt.timestamp(), dt.timestamp_subsec_nanos())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_chrono().format("%Y-%m-%dT%H:%M:%S%.6fZ"))
    }
}

/// Formats timestamps the way Suricata's EVE output does
/// (`2026-11-02T09:00:35.022134+0800`) in one configured time zone.
///
/// The UTC offset is cached per hour of time, so formatting a record costs
/// one offset lookup per hour of traffic rather than one per record.
#[derive(Clone, Debug)]
pub struct EveClock {
    tz: chrono_tz::Tz,
    cached_hour: i64,
    cached_offset_secs: i32,
}

impl EveClock {
    /// A clock printing in `tz`.
    pub fn new(tz: chrono_tz::Tz) -> Self {
        EveClock {
            tz,
            cached_hour: i64::MIN,
            cached_offset_secs: 0,
        }
    }

    /// The time zone this clock prints in.
    pub fn tz(&self) -> chrono_tz::Tz {
        self.tz
    }

    fn offset_secs(&mut self, ts: Timestamp) -> i32 {
        use chrono::Offset;
        let hour = ts.secs().div_euclid(3600);
        if hour != self.cached_hour {
            let utc = ts.to_chrono();
            let off = utc.with_timezone(&self.tz).offset().fix().local_minus_utc();
            self.cached_hour = hour;
            self.cached_offset_secs = off;
        }
        self.cached_offset_secs
    }

    /// Appends `ts` in EVE form to `out`.
    pub fn write(&mut self, ts: Timestamp, out: &mut String) {
        use std::fmt::Write;
        let off = self.offset_secs(ts);
        let local = ts.secs().saturating_add(i64::from(off));
        let micros = ts.subsec_micros();
        let (y, mo, d, h, mi, s) = civil_from_unix(local);
        let sign = if off < 0 { '-' } else { '+' };
        let aoff = off.unsigned_abs();
        let _ = write!(
            out,
            "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{micros:06}{sign}{:02}{:02}",
            aoff / 3600,
            (aoff % 3600) / 60
        );
    }

    /// `ts` in EVE form.
    pub fn format(&mut self, ts: Timestamp) -> String {
        let mut s = String::with_capacity(32);
        self.write(ts, &mut s);
        s
    }
}

/// Splits seconds since the epoch into a proleptic Gregorian civil date and
/// time (Howard Hinnant's days-from-civil inverse).
fn civil_from_unix(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        m,
        d,
        (sod / 3600) as u32,
        ((sod % 3600) / 60) as u32,
        (sod % 60) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eve_format_shanghai() {
        let mut c = EveClock::new(chrono_tz::Asia::Shanghai);
        // 2026-11-02T01:00:35.022134Z
        let ts = Timestamp::from_secs_micros(1_793_581_235, 22_134);
        assert_eq!(c.format(ts), "2026-11-02T09:00:35.022134+0800");
    }

    #[test]
    fn eve_format_utc_and_negative() {
        let mut c = EveClock::new(chrono_tz::UTC);
        assert_eq!(
            c.format(Timestamp::from_secs_micros(0, 1)),
            "1970-01-01T00:00:00.000001+0000"
        );
        assert_eq!(c.format(Timestamp(-1)), "1969-12-31T23:59:59.999999+0000");
    }

    #[test]
    fn eve_format_dst_zone() {
        let mut c = EveClock::new(chrono_tz::America::New_York);
        // 2026-07-01T12:00:00Z is EDT (-0400); 2026-01-01T12:00:00Z is EST.
        assert_eq!(
            c.format(Timestamp::from_secs_micros(1_782_907_200, 0)),
            "2026-07-01T08:00:00.000000-0400"
        );
        assert_eq!(
            c.format(Timestamp::from_secs_micros(1_767_268_800, 0)),
            "2026-01-01T07:00:00.000000-0500"
        );
    }

    #[test]
    fn civil_matches_chrono() {
        for secs in [0i64, 951_782_400, 1_793_581_235, 4_102_444_800, -86_401] {
            let dt = chrono::DateTime::from_timestamp(secs, 0).unwrap();
            let (y, mo, d, h, mi, s) = civil_from_unix(secs);
            assert_eq!(
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}"),
                dt.format("%Y-%m-%dT%H:%M:%S").to_string()
            );
        }
    }
}
