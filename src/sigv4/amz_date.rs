//! The signature's timestamp: `X-Amz-Date` (`20130524T000000Z`, ISO 8601
//! basic, always UTC) or, when absent, the HTTP `Date` header (RFC 1123).
//! Whatever the source, the string to sign uses the ISO 8601 basic form.
//!
//! Hand-parsed: the formats are fixed-width, and this runs on every request.
//!
//! Spec: <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html>

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::calendar::{civil_from_days, days_from_civil};

/// A validated signing timestamp.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AmzDate {
    /// `YYYYMMDDTHHMMSSZ`, ASCII.
    iso: [u8; 16],
    unix: u64,
}

impl std::fmt::Debug for AmzDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AmzDate {
    /// Parses `YYYYMMDDTHHMMSSZ`.
    pub fn parse_iso(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
            return None;
        }
        let year = digits(&b[0..4])?;
        let month = digits(&b[4..6])?;
        let day = digits(&b[6..8])?;
        let hour = digits(&b[9..11])?;
        let minute = digits(&b[11..13])?;
        let second = digits(&b[13..15])?;
        Self::from_parts(year, month, day, hour, minute, second)
    }

    /// Parses the RFC 1123 form of the HTTP `Date` header,
    /// `Fri, 24 May 2013 00:00:00 GMT`.
    pub fn parse_http_date(s: &str) -> Option<Self> {
        let b = s.trim().as_bytes();
        // "Www, DD Mmm YYYY HH:MM:SS GMT" is exactly 29 bytes.
        if b.len() != 29 || &b[3..5] != b", " || &b[25..] != b" GMT" {
            return None;
        }
        if b[7] != b' ' || b[11] != b' ' || b[16] != b' ' || b[19] != b':' || b[22] != b':' {
            return None;
        }
        let day = digits(&b[5..7])?;
        let month = month_number(&b[8..11])?;
        let year = digits(&b[12..16])?;
        let hour = digits(&b[17..19])?;
        let minute = digits(&b[20..22])?;
        let second = digits(&b[23..25])?;
        Self::from_parts(year, month, day, hour, minute, second)
    }

    fn from_parts(year: u32, month: u32, day: u32, hour: u32, min: u32, sec: u32) -> Option<Self> {
        if !(1970..=9999).contains(&year)
            || !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || min > 59
            || sec > 59
        {
            return None;
        }
        let days = days_from_civil(year, month, day);
        let unix = days * 86_400 + u64::from(hour * 3600 + min * 60 + sec);
        Some(Self::assemble([year, month, day, hour, min, sec], unix))
    }

    /// From valid parts (year, month, day, hour, minute, second) and the
    /// Unix time they stand for.
    fn assemble(parts: [u32; 6], unix: u64) -> Self {
        let [year, month, day, hour, min, sec] = parts;
        let mut iso = [0u8; 16];
        put_digits(&mut iso[0..4], year);
        put_digits(&mut iso[4..6], month);
        put_digits(&mut iso[6..8], day);
        iso[8] = b'T';
        put_digits(&mut iso[9..11], hour);
        put_digits(&mut iso[11..13], min);
        put_digits(&mut iso[13..15], sec);
        iso[15] = b'Z';
        Self { iso, unix }
    }

    /// The timestamp of `t`, to the second (for signing; before 1970 or
    /// after 9999, a clock gone wrong, reads as the nearest end).
    pub fn from_system_time(t: SystemTime) -> Self {
        const LAST: u64 = 253_402_300_799; // 9999-12-31T23:59:59Z
        let unix = t
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .min(LAST);
        let (year, month, day) = civil_from_days(unix / 86_400);
        // Each is below 86 400, so the casts cannot truncate.
        let secs = (unix % 86_400) as u32;
        Self::assemble(
            [year, month, day, secs / 3600, secs / 60 % 60, secs % 60],
            unix,
        )
    }

    /// `YYYYMMDDTHHMMSSZ`.
    pub fn as_str(&self) -> &str {
        // Built only from ASCII digits, 'T' and 'Z'.
        std::str::from_utf8(&self.iso).unwrap_or("00000000T000000Z")
    }

    /// `YYYYMMDD`: what the credential scope's date must equal.
    pub fn date(&self) -> &str {
        &self.as_str()[..8]
    }

    pub fn system_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.unix)
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> u64 {
        self.unix
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut n = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u32::from(c - b'0');
    }
    Some(n)
}

fn put_digits(out: &mut [u8], mut n: u32) {
    for slot in out.iter_mut().rev() {
        // `n % 10` is below 10, so the cast cannot truncate.
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

fn month_number(b: &[u8]) -> Option<u32> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let pos = MONTHS.iter().position(|m| m.as_slice() == b)?;
    u32::try_from(pos + 1).ok()
}

fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;

    #[test]
    fn system_time_formats_as_the_iso_form_it_parses_from() {
        for s in [
            "19700101T000000Z",
            "20130524T000000Z",
            "20240229T235959Z",
            "20261205T083407Z",
            "21000301T120000Z",
            "99991231T235959Z",
        ] {
            let parsed = AmzDate::parse_iso(s).unwrap();
            let again = AmzDate::from_system_time(parsed.system_time());
            assert_eq!(again.as_str(), s);
            assert_eq!(again, parsed);
        }
        // Every day of four years, across a leap day and a century.
        for day in (0..4 * 366).map(|d| 10_957 + d * 25) {
            let t = UNIX_EPOCH + Duration::from_secs(day * 86_400 + 3_723);
            let d = AmzDate::from_system_time(t);
            assert_eq!(AmzDate::parse_iso(d.as_str()).unwrap().system_time(), t);
        }
    }

    #[test]
    fn iso_date_parses_to_the_unix_time() {
        let d = AmzDate::parse_iso("20130524T000000Z").unwrap();
        assert_eq!(
            d.system_time(),
            UNIX_EPOCH + Duration::from_secs(1_369_353_600)
        );
        assert_eq!(d.date(), "20130524");
        assert_eq!(d.as_str(), "20130524T000000Z");
        let leap = AmzDate::parse_iso("20240229T235959Z").unwrap();
        assert_eq!(
            leap.system_time(),
            UNIX_EPOCH + Duration::from_secs(1_709_251_199)
        );
    }

    #[test]
    fn http_date_is_rendered_in_iso_form() {
        let d = AmzDate::parse_http_date("Fri, 24 May 2013 00:00:00 GMT").unwrap();
        assert_eq!(d.as_str(), "20130524T000000Z");
    }

    #[test]
    fn malformed_dates_are_refused() {
        for bad in [
            "",
            "20130524T000000",
            "20130524 000000Z",
            "20130230T000000Z",
            "20131324T000000Z",
            "20130524T240000Z",
            "2013052AT000000Z",
            "+0130524T000000Z",
        ] {
            assert!(AmzDate::parse_iso(bad).is_none(), "{bad}");
        }
        assert!(AmzDate::parse_http_date("Fri, 24 Foo 2013 00:00:00 GMT").is_none());
        assert!(AmzDate::parse_http_date("Fri, 24 May 2013 00:00:00 UTC").is_none());
    }
}
