//! A rule's optional conditions: the client's address, the time, and
//! whether the login used a second factor. All must hold for the rule to
//! apply (to a grant: it allows only then; to a deny: it denies only then).
//!
//! Pure: the client address and the time are passed in.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::principal::Identity;

/// An address block, `10.0.0.0/8` or `2001:db8::/32`; a bare address is a
/// block of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let bad = || format!("`{text}` is not an address block such as 10.0.0.0/8");
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
        };
        if prefix > max {
            return Err(format!("`{text}`: the prefix length is at most {max}"));
        }
        let cidr = Cidr { addr, prefix };
        if cidr.network() != addr {
            return Err(format!(
                "`{text}` has bits set after the prefix (did you mean {}/{prefix}?)",
                cidr.network()
            ));
        }
        Ok(cidr)
    }

    fn network(&self) -> IpAddr {
        mask(self.addr, self.prefix)
    }

    /// Whether `ip` is in the block. An IPv4 address seen as IPv4-mapped
    /// IPv6 (`::ffff:10.1.2.3`, from a dual-stack listener) is its IPv4 self.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & m).into())
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A daily window in UTC, `08:00-18:00`; a window whose end is before its
/// start spans midnight (`22:00-06:00`). The end minute is excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyWindow {
    start_min: u32,
    end_min: u32,
}

impl DailyWindow {
    pub fn parse(text: &str) -> Result<DailyWindow, String> {
        let bad = || format!("`{text}` is not a daily window such as 08:00-18:00 (UTC)");
        let (a, b) = text.split_once('-').ok_or_else(bad)?;
        let minutes = |s: &str| -> Option<u32> {
            let (h, m) = s.trim().split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            // 24:00 is allowed as an end.
            (h < 24 && m < 60 || h == 24 && m == 0).then_some(h * 60 + m)
        };
        let (start_min, end_min) = (minutes(a).ok_or_else(bad)?, minutes(b).ok_or_else(bad)?);
        if start_min == end_min {
            return Err(format!("`{text}` is an empty window"));
        }
        Ok(DailyWindow { start_min, end_min })
    }

    pub fn contains(&self, now: SystemTime) -> bool {
        let secs = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        let minute = u32::try_from((secs % 86_400) / 60).unwrap_or(0);
        if self.start_min < self.end_min {
            (self.start_min..self.end_min).contains(&minute)
        } else {
            minute >= self.start_min || minute < self.end_min
        }
    }
}

/// Parses an RFC 3339 time (`2026-12-01T00:00:00Z`) to Unix seconds.
pub fn parse_rfc3339(text: &str) -> Result<i64, String> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(time::OffsetDateTime::unix_timestamp)
        .map_err(|_| format!("`{text}` is not an RFC 3339 time such as 2026-12-01T00:00:00Z"))
}

/// Every condition of a rule; the default holds always.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    /// The client address is in one of these blocks.
    pub source_cidr: Vec<Cidr>,
    /// The client address is in none of these blocks.
    pub not_source_cidr: Vec<Cidr>,
    /// Unix seconds, inclusive.
    pub not_before: Option<i64>,
    /// Unix seconds, exclusive.
    pub not_after: Option<i64>,
    pub daily_utc: Option<DailyWindow>,
    /// The identity's MFA status (unknown counts as false) equals this.
    pub mfa: Option<bool>,
}

impl Conditions {
    pub fn is_empty(&self) -> bool {
        *self == Conditions::default()
    }

    /// Whether they may hold for one request of a session and not for the
    /// next: any but `mfa`, which is the session's own, names the client's
    /// address or the time. (Spelled as "anything besides `mfa`", so a
    /// condition added later counts until it is shown not to.)
    pub fn depend_on_the_request(&self) -> bool {
        *self
            != Conditions {
                mfa: self.mfa,
                ..Conditions::default()
            }
    }

    /// Whether all conditions hold. Without a known client address, an
    /// address condition does not hold (so a grant needing one does not
    /// allow, and a deny needing one does not deny — pair a
    /// `not_source_cidr` deny with grants that need `source_cidr`).
    pub fn hold(&self, identity: &Identity, client: Option<IpAddr>, now: SystemTime) -> bool {
        if !self.source_cidr.is_empty()
            && !client.is_some_and(|ip| self.source_cidr.iter().any(|c| c.contains(ip)))
        {
            return false;
        }
        if !self.not_source_cidr.is_empty()
            && client.is_none_or(|ip| self.not_source_cidr.iter().any(|c| c.contains(ip)))
        {
            return false;
        }
        let secs = match now.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(_) => 0,
        };
        if self.not_before.is_some_and(|t| secs < t) || self.not_after.is_some_and(|t| secs >= t) {
            return false;
        }
        if self.daily_utc.is_some_and(|w| !w.contains(now)) {
            return false;
        }
        if let Some(want) = self.mfa
            && identity.mfa.unwrap_or(false) != want
        {
            return false;
        }
        true
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, reason = "a test panics on a broken fixture")]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect(s)
    }

    #[test]
    fn cidr_blocks() {
        let c = Cidr::parse("10.0.0.0/8").expect("cidr");
        assert!(c.contains(ip("10.1.2.3")));
        assert!(c.contains(ip("::ffff:10.1.2.3")));
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(!c.contains(ip("::1")));
        let one = Cidr::parse("127.0.0.1").expect("one");
        assert!(one.contains(ip("127.0.0.1")));
        assert!(!one.contains(ip("127.0.0.2")));
        let all = Cidr::parse("0.0.0.0/0").expect("all");
        assert!(all.contains(ip("8.8.8.8")));
        let v6 = Cidr::parse("2001:db8::/32").expect("v6");
        assert!(v6.contains(ip("2001:db8::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        for bad in [
            "10.0.0.0/33",
            "10.0.0.1/8",
            "10/8",
            "x",
            "10.0.0.0/",
            "10.0.0.0/+8",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_condition_but_mfa_depends_on_the_request() {
        let cidr = || vec![Cidr::parse("10.0.0.0/8").expect("cidr")];
        let day = DailyWindow::parse("08:00-18:00").expect("day");
        let none = Conditions::default();
        for (what, conditions) in [
            (
                "source_cidr",
                Conditions {
                    source_cidr: cidr(),
                    ..none.clone()
                },
            ),
            (
                "not_source_cidr",
                Conditions {
                    not_source_cidr: cidr(),
                    ..none.clone()
                },
            ),
            (
                "not_before",
                Conditions {
                    not_before: Some(0),
                    ..none.clone()
                },
            ),
            (
                "not_after",
                Conditions {
                    not_after: Some(0),
                    ..none.clone()
                },
            ),
            (
                "daily_utc",
                Conditions {
                    daily_utc: Some(day),
                    ..none.clone()
                },
            ),
        ] {
            assert!(conditions.depend_on_the_request(), "{what}");
            let with_mfa = Conditions {
                mfa: Some(true),
                ..conditions
            };
            assert!(with_mfa.depend_on_the_request(), "{what} and mfa");
        }
        assert!(!none.depend_on_the_request());
        for mfa in [true, false] {
            let only_mfa = Conditions {
                mfa: Some(mfa),
                ..none.clone()
            };
            assert!(!only_mfa.depend_on_the_request(), "mfa = {mfa}");
        }
    }

    #[test]
    fn daily_windows_including_midnight() {
        let at =
            |h: u64, m: u64| UNIX_EPOCH + Duration::from_secs(86_400 * 20_000 + h * 3600 + m * 60);
        let day = DailyWindow::parse("08:00-18:00").expect("day");
        assert!(day.contains(at(8, 0)));
        assert!(day.contains(at(17, 59)));
        assert!(!day.contains(at(18, 0)));
        assert!(!day.contains(at(7, 59)));
        let night = DailyWindow::parse("22:00-06:00").expect("night");
        assert!(night.contains(at(23, 0)));
        assert!(night.contains(at(5, 59)));
        assert!(!night.contains(at(12, 0)));
        for bad in [
            "8:00-18:00",
            "08:00",
            "08:00-08:00",
            "25:00-26:00",
            "08:60-09:00",
        ] {
            assert!(DailyWindow::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn all_conditions_must_hold() {
        let t0 = parse_rfc3339("2026-12-01T00:00:00Z").expect("t0");
        let c = Conditions {
            source_cidr: vec![Cidr::parse("10.0.0.0/8").expect("cidr")],
            not_before: Some(t0),
            mfa: Some(true),
            ..Default::default()
        };
        let mut id = Identity::new("oidc", "s");
        let when = |secs: i64| UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs());
        assert!(!c.hold(&id, Some(ip("10.0.0.1")), when(t0)), "no MFA");
        id.mfa = Some(true);
        assert!(c.hold(&id, Some(ip("10.0.0.1")), when(t0)));
        assert!(
            !c.hold(&id, Some(ip("10.0.0.1")), when(t0 - 1)),
            "too early"
        );
        assert!(!c.hold(&id, Some(ip("192.168.0.1")), when(t0)), "outside");
        assert!(!c.hold(&id, None, when(t0)), "unknown address");
        let outside = Conditions {
            not_source_cidr: vec![Cidr::parse("10.0.0.0/8").expect("cidr")],
            ..Default::default()
        };
        assert!(outside.hold(&id, Some(ip("192.168.0.1")), when(t0)));
        assert!(!outside.hold(&id, Some(ip("10.2.0.1")), when(t0)));
        assert!(Conditions::default().hold(&id, None, when(0)));
    }
}
