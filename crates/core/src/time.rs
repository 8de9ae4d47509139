//! UTC time helpers on epoch milliseconds.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// Current wall-clock time in epoch milliseconds.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// `2024-01-02T03:00:00Z` for an epoch-ms instant (or the raw number if out of range).
pub fn format_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// Epoch ms of 00:00 UTC on a calendar date, or `None` for a date that does not exist.
pub fn date_ms(year: i32, month: u32, day: u32) -> Option<i64> {
    NaiveDate::from_ymd_opt(year, month, day)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc().timestamp_millis())
}

/// Epoch ms of the first instant of a month and of the next month.
pub fn month_ms(year: i32, month: u32) -> Option<(i64, i64)> {
    let (ny, nm) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    Some((date_ms(year, month, 1)?, date_ms(ny, nm, 1)?))
}

/// Epoch ms of 2009-01-03T00:00Z, the first day of Bitcoin: no market had a candle before it,
/// and an earlier date is a typo that venues answer with nonsense or errors.
/// One hour and one day in milliseconds: the units of every open time.
pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

pub const EARLIEST_MS: i64 = 1_230_940_800_000;
/// Epoch ms of 2101-01-01T00:00Z: dates beyond 2100 are typos, and keeping instants this small
/// keeps every time computation far from overflowing.
pub const LATEST_MS: i64 = 4_133_980_800_000;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ParseDateError {
    #[error("bad date {0:?}: expected YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS][Z] or epoch milliseconds")]
    Shape(String),
    #[error("date {0:?} is out of range: dates from 2009-01-03 (the first bitcoin block) to 2100-12-31 are accepted")]
    OutOfRange(String),
}

/// Parses a user-supplied UTC date or instant into epoch milliseconds, between
/// [`EARLIEST_MS`] and [`LATEST_MS`].
pub fn parse_date_ms(s: &str) -> Result<i64, ParseDateError> {
    let ms = parse_any_date_ms(s)?;
    if !(EARLIEST_MS..LATEST_MS).contains(&ms) {
        return Err(ParseDateError::OutOfRange(s.to_owned()));
    }
    Ok(ms)
}

fn parse_any_date_ms(s: &str) -> Result<i64, ParseDateError> {
    let shape = || ParseDateError::Shape(s.to_owned());
    let t = s.trim().trim_end_matches('Z');
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|dt| dt.and_utc().timestamp_millis())
            .ok_or_else(shape);
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(dt.and_utc().timestamp_millis());
        }
    }
    if t.len() >= 12 && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().map_err(|_| shape());
    }
    Err(shape())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dates_and_instants() {
        assert_eq!(parse_date_ms("2020-01-01").unwrap(), 1_577_836_800_000);
        assert_eq!(parse_date_ms("2020-01-01T01:00Z").unwrap(), 1_577_840_400_000);
        assert_eq!(parse_date_ms("1577836800000").unwrap(), 1_577_836_800_000);
        assert!(parse_date_ms("2020-13-01").is_err());
        assert!(parse_date_ms("yesterday").is_err());
        assert_eq!(format_ms(1_577_840_400_000), "2020-01-01T01:00:00Z");
        assert_eq!(parse_date_ms("2009-01-03").unwrap(), EARLIEST_MS);
        assert_eq!(date_ms(2101, 1, 1), Some(LATEST_MS));
        for early_or_late in [
            "2009-01-02T23:00",
            "1999-01-01",
            "2101-01-01",
            "9999-12-31",
            "99999999999999",
        ] {
            assert!(
                matches!(parse_date_ms(early_or_late), Err(ParseDateError::OutOfRange(_))),
                "{early_or_late}"
            );
        }
        assert_eq!(date_ms(1970, 1, 1), Some(0));
        assert_eq!(date_ms(2023, 2, 29), None);
        assert_eq!(month_ms(2024, 12), Some((1_733_011_200_000, 1_735_689_600_000)));
    }
}
