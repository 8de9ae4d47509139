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

#[derive(Debug, Clone, thiserror::Error)]
#[error("bad date {0:?}: expected YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS][Z] or epoch milliseconds")]
pub struct ParseDateError(pub String);

/// Parses a user-supplied UTC date or instant into epoch milliseconds.
pub fn parse_date_ms(s: &str) -> Result<i64, ParseDateError> {
    let t = s.trim().trim_end_matches('Z');
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|dt| dt.and_utc().timestamp_millis())
            .ok_or_else(|| ParseDateError(s.to_owned()));
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
        return t.parse().map_err(|_| ParseDateError(s.to_owned()));
    }
    Err(ParseDateError(s.to_owned()))
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
        assert_eq!(date_ms(1970, 1, 1), Some(0));
        assert_eq!(date_ms(2023, 2, 29), None);
        assert_eq!(month_ms(2024, 12), Some((1_733_011_200_000, 1_735_689_600_000)));
    }
}
