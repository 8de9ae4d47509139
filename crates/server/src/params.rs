//! Reading request inputs: times in any of the accepted shapes, series from the path,
//! timeframes and limits, each refusal naming its field. Times go out in both shapes.

use candlekeep_core::time::{format_ms, parse_date_ms};
use candlekeep_core::{Instrument, Market, Timeframe};

use crate::problem::ApiError;

/// An instant as UTC ISO-8601 (`2024-01-02T03:00:00Z`); every one goes out beside its epoch ms.
pub fn iso(ms: i64) -> String {
    format_ms(ms)
}

/// A time from a query: YYYY-MM-DD, an RFC 3339 instant (any offset) or epoch milliseconds.
pub fn time(field: &str, raw: &str) -> Result<i64, ApiError> {
    if let Ok(ms) = parse_date_ms(raw) {
        return Ok(ms);
    }
    let with_offset = chrono::DateTime::parse_from_rfc3339(raw.trim())
        .or_else(|_| chrono::DateTime::parse_from_str(raw.trim(), "%Y-%m-%dT%H:%M%:z"));
    if let Ok(t) = with_offset {
        // Through parse_date_ms again, for its range check.
        let ms = t.timestamp_millis();
        return parse_date_ms(&ms.to_string()).map_err(|e| ApiError::bad(field, e));
    }
    match parse_date_ms(raw) {
        Ok(ms) => Ok(ms),
        Err(e) => Err(ApiError::bad(
            field,
            format!("{e} (RFC 3339 such as 2024-01-02T03:00:00+00:00 is accepted too)"),
        )),
    }
}

pub fn opt_time(field: &str, raw: Option<&str>) -> Result<Option<i64>, ApiError> {
    raw.filter(|s| !s.is_empty()).map(|s| time(field, s)).transpose()
}

/// The series of `/{market}/{symbol}`: an unknown market or a malformed symbol is a 400; whether
/// it is stored is the caller's to check (404).
pub fn instrument(market: &str, symbol: &str) -> Result<Instrument, ApiError> {
    let market: Market = market.parse().map_err(|e| ApiError::bad("market", e))?;
    Instrument::from_symbol(market, &symbol.to_ascii_uppercase()).map_err(|e| ApiError::bad("symbol", e))
}

pub fn timeframe(raw: Option<&str>, default: Timeframe) -> Result<Timeframe, ApiError> {
    match raw {
        None => Ok(default),
        Some(s) => s.parse().map_err(|e| ApiError::bad("timeframe", e)),
    }
}

/// A count between 1 and `max`, `default` when absent.
pub fn limit(field: &str, raw: Option<&str>, default: usize, max: usize) -> Result<usize, ApiError> {
    match raw {
        None => Ok(default),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::bad(
                field,
                format!("expected a whole number from 1 to {max}, got {s:?}"),
            )),
        },
    }
}

/// Whether `wanted` (BTC, BTCUSDT or spot:BTCUSDT, any case) names `instrument`.
pub fn names(wanted: &str, instrument: &Instrument) -> bool {
    let w = wanted.trim().to_ascii_uppercase();
    w == instrument.base || w == instrument.symbol() || wanted.eq_ignore_ascii_case(&instrument.to_string())
}
