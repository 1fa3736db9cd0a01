//! Gregorian calendar arithmetic: days since 1970-01-01 to a date and
//! back, for the fixed-width timestamps written and parsed on every
//! request (SigV4's dates, the audit record's time). Pure; depends on
//! nothing.

/// Days since 1970-01-01 for a proleptic Gregorian date (year >= 1970).
pub fn days_from_civil(year: u32, month: u32, day: u32) -> u64 {
    // Howard Hinnant's algorithm, shifted so March is month 0 and leap days
    // fall at the end of the (shifted) year.
    let y = u64::from(if month <= 2 { year - 1 } else { year });
    let era = y / 400;
    let yoe = y - era * 400;
    let m = u64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + u64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `days` after 1970-01-01: the inverse of
/// [`days_from_civil`] (Howard Hinnant's algorithm again).
pub fn civil_from_days(days: u64) -> (u32, u32, u32) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    // year <= 9999, month <= 12, day <= 31: the casts cannot truncate.
    (year as u32, month as u32, day as u32)
}
