//! Paging by fixed windows, for venues that answer newest-first (OKX, Bybit, CryptoCompare).
//!
//! Asked for `[start, end)`, such a source requests one window `[start, start + n bars)` with
//! `n` below the venue's row limit, so a whole window always fits in one answer whatever the
//! venue's boundary rules are; the answer then covers the window, and a bar missing from it is
//! missing at the venue.

use candlekeep_core::{Candle, Timeframe};

use crate::Page;

/// A bar counts as closed once its end is this far in the past.
pub(crate) const CLOSE_GRACE_MS: i64 = 1_000;

/// One parsed row of a windowed answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct WindowRow {
    pub candle: Candle,
    /// The venue says the bar is final (OKX `confirm`); `true` where it has no such flag.
    pub confirmed: bool,
}

/// The rows of an answer for a window of `window_bars` bars; more than the window can hold
/// (allowing one extra at an inclusive bound) means a cut or wrong answer, retried as malformed.
pub(crate) fn fitting(rows: Vec<WindowRow>, window_bars: i64) -> Result<Vec<WindowRow>, crate::http::BodyError> {
    if rows.len() as i64 > window_bars + 1 {
        return Err(crate::http::BodyError::Malformed(format!(
            "{} rows for a window of {window_bars} bars",
            rows.len()
        )));
    }
    Ok(rows)
}

/// The window a request for `[start, end)` asks for: at most `bars` bars, never past `end`.
pub(crate) fn window_end(tf: Timeframe, start: i64, end: i64, bars: i64) -> i64 {
    end.min(start + bars * tf.millis())
}

/// Turns the rows of the window `[start, wend)` into a page of `[start, end)`: closed,
/// confirmed bars inside the window, ascending; the page covers the window up to the first bar
/// that is still open or unconfirmed.
pub(crate) fn window_page(mut rows: Vec<WindowRow>, tf: Timeframe, start: i64, wend: i64, end: i64, now: i64) -> Page {
    rows.sort_by_key(|r| r.candle.open_time_ms);
    rows.dedup_by_key(|r| r.candle.open_time_ms);
    // First open time whose bar has not closed (with the grace) yet.
    let closed_before = tf.floor(now - CLOSE_GRACE_MS - tf.millis()) + tf.millis();
    let first_unconfirmed = rows
        .iter()
        .filter(|r| !r.confirmed && r.candle.open_time_ms >= start)
        .map(|r| r.candle.open_time_ms)
        .min()
        .unwrap_or(i64::MAX);
    let covered_until = wend.min(closed_before).min(first_unconfirmed).max(start);
    let candles = rows
        .into_iter()
        .map(|r| r.candle)
        .filter(|c| c.open_time_ms >= start && c.open_time_ms < covered_until)
        .collect();
    Page {
        candles,
        covered_until,
        exhausted: covered_until >= end || covered_until >= closed_before || covered_until < wend,
        points: Vec::new(),
        notes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn row(t: i64, confirmed: bool) -> WindowRow {
        WindowRow {
            candle: Candle {
                open_time_ms: t,
                open: 1.0,
                high: 1.0,
                low: 1.0,
                close: 1.0,
                volume: Some(1.0),
                quote_volume: Some(1.0),
                trades: None,
            },
            confirmed,
        }
    }

    #[test]
    fn a_window_covers_itself_even_where_bars_are_missing() {
        let rows = vec![row(3 * H, true), row(0, true), row(H, true)];
        let p = window_page(rows, Timeframe::H1, 0, 5 * H, 50 * H, 1000 * H);
        let opens: Vec<_> = p.candles.iter().map(|c| c.open_time_ms).collect();
        assert_eq!(opens, vec![0, H, 3 * H]);
        assert_eq!((p.covered_until, p.exhausted), (5 * H, false));
    }

    #[test]
    fn coverage_stops_at_the_open_or_unconfirmed_bar() {
        let rows = vec![row(8 * H, true), row(9 * H, false)];
        let p = window_page(rows, Timeframe::H1, 8 * H, 20 * H, 20 * H, 100 * H);
        assert_eq!(p.candles.len(), 1);
        assert_eq!((p.covered_until, p.exhausted), (9 * H, true));
        // now = 10h30: the 10h bar is open whatever the venue says.
        let rows = vec![row(9 * H, true), row(10 * H, true)];
        let p = window_page(rows, Timeframe::H1, 8 * H, 20 * H, 20 * H, 10 * H + H / 2);
        assert_eq!(p.candles.len(), 1);
        assert_eq!((p.covered_until, p.exhausted), (10 * H, true));
    }

    #[test]
    fn an_answer_larger_than_its_window_is_malformed() {
        let rows: Vec<WindowRow> = (0..5).map(|h| row(h * H, true)).collect();
        assert_eq!(
            fitting(rows.clone(), 4).unwrap().len(),
            5,
            "one extra at an inclusive bound"
        );
        assert!(matches!(fitting(rows, 3), Err(crate::http::BodyError::Malformed(_))));
    }
}
