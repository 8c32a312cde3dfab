//! The `#open` / `#close` stamps: Zeek writes local time as `%Y-%m-%d-%H-%M-%S`.
//!
//! A component has no time zone database, so the host passes seconds since the epoch already
//! shifted by its local UTC offset; breaking them down as UTC then gives the local wall-clock
//! time. The calendar arithmetic is Howard Hinnant's `civil_from_days` (proleptic Gregorian).

use std::io::Write as _;

const SECONDS_PER_DAY: i64 = 86_400;

/// Appends `seconds` (local time as seconds since the epoch; the fraction is dropped, rounding
/// down) as `YYYY-MM-DD-HH-MM-SS`. A non-finite value is taken as 0 (1970-01-01-00-00-00).
pub fn write_zeek_stamp(out: &mut Vec<u8>, seconds: f64) {
    // `as` saturates, so a huge value cannot overflow below.
    let whole = if seconds.is_finite() {
        seconds.floor() as i64
    } else {
        0
    };
    let whole = whole.clamp(-(1 << 50), 1 << 50);
    let (year, month, day) = civil_from_days(whole.div_euclid(SECONDS_PER_DAY));
    let of_day = whole.rem_euclid(SECONDS_PER_DAY);
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}-{:02}-{:02}-{:02}",
        year,
        month,
        day,
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    );
}

/// The (year, month 1-12, day 1-31) of the day `days` after 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097); // [0, 146096]
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153; // [0, 11], March = 0
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
