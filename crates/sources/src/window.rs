//! Paging by fixed windows, for venues that answer newest-first (OKX, Bybit, CryptoCompare),
//! and the rule every source shares: rows outside the request are dropped and counted, never
//! taken as coverage ([`drop_outside`]).
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

/// Keeps the rows opening inside `[start, end)` and returns how many were dropped. A row
/// outside the request says nothing about the request, and must never stretch its coverage:
/// taking the covered range from a stray row would record the rest of the request as answered
/// with no bars, for good. `expected` is false where the venue cannot be asked for a range
/// (CoinGecko answers the last day whatever is asked), so strays there are not worth a warning.
pub(crate) fn drop_outside<T>(
    rows: &mut Vec<T>,
    open_time: impl Fn(&T) -> i64,
    start: i64,
    end: i64,
    venue: &str,
    ranged: bool,
) -> u64 {
    let received = rows.len();
    rows.retain(|r| (start..end).contains(&open_time(r)));
    let dropped = (received - rows.len()) as u64;
    if dropped > 0 && ranged {
        tracing::warn!(
            venue,
            dropped,
            start,
            end,
            "{venue} answered {dropped} row(s) outside the requested range: dropped"
        );
    }
    dropped
}

/// First open time whose bar has not closed (with the grace) by `now`.
pub(crate) fn closed_before(tf: Timeframe, now: i64) -> i64 {
    tf.floor(now.saturating_sub(CLOSE_GRACE_MS + tf.millis())) + tf.millis()
}

/// Turns the rows of the window `[start, wend)` into a page of `[start, end)`: closed,
/// confirmed bars inside the window, ascending; the page covers the window up to the first bar
/// that is still open or unconfirmed. Rows outside the window are dropped and counted. The
/// answer is never a cut one ([`fitting`] refuses more rows than the window holds), so the
/// whole window is answered, but never more than the window (`wend <= end`).
pub(crate) fn window_page(
    mut rows: Vec<WindowRow>,
    tf: Timeframe,
    (start, wend, end): (i64, i64, i64),
    now: i64,
    venue: &str,
    ranged: bool,
) -> Page {
    let wend = wend.min(end);
    let dropped = drop_outside(&mut rows, |r| r.candle.open_time_ms, start, wend, venue, ranged);
    let closed_before = closed_before(tf, now);
    // Before deduplication: a bar sent twice, once unconfirmed, is not known to be final.
    let first_unconfirmed = rows
        .iter()
        .filter(|r| !r.confirmed)
        .map(|r| r.candle.open_time_ms)
        .min()
        .unwrap_or(i64::MAX);
    rows.sort_by_key(|r| r.candle.open_time_ms);
    rows.dedup_by_key(|r| r.candle.open_time_ms);
    let covered_until = wend.min(closed_before).min(first_unconfirmed).max(start);
    let candles = rows
        .into_iter()
        .map(|r| r.candle)
        .filter(|c| c.open_time_ms < covered_until)
        .collect();
    Page {
        candles,
        covered_until,
        exhausted: covered_until >= end || covered_until >= closed_before || covered_until < wend,
        points: Vec::new(),
        notes: Vec::new(),
        dropped_out_of_window: dropped,
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
        let p = window_page(rows, Timeframe::H1, (0, 5 * H, 50 * H), 1000 * H, "test", true);
        let opens: Vec<_> = p.candles.iter().map(|c| c.open_time_ms).collect();
        assert_eq!(opens, vec![0, H, 3 * H]);
        assert_eq!((p.covered_until, p.exhausted), (5 * H, false));
    }

    #[test]
    fn coverage_stops_at_the_open_or_unconfirmed_bar() {
        let rows = vec![row(8 * H, true), row(9 * H, false)];
        let p = window_page(rows, Timeframe::H1, (8 * H, 20 * H, 20 * H), 100 * H, "test", true);
        assert_eq!(p.candles.len(), 1);
        assert_eq!((p.covered_until, p.exhausted), (9 * H, true));
        // now = 10h30: the 10h bar is open whatever the venue says.
        let rows = vec![row(9 * H, true), row(10 * H, true)];
        let p = window_page(
            rows,
            Timeframe::H1,
            (8 * H, 20 * H, 20 * H),
            10 * H + H / 2,
            "test",
            true,
        );
        assert_eq!(p.candles.len(), 1);
        assert_eq!((p.covered_until, p.exhausted), (10 * H, true));
    }

    #[test]
    fn stray_rows_outside_the_window_are_dropped_and_counted() {
        // Before the fix a stray row past the window was silently filtered; now it is counted.
        let rows = vec![row(H, true), row(9 * H, true), row(-H, true)];
        let p = window_page(rows, Timeframe::H1, (0, 5 * H, 50 * H), 1000 * H, "test", true);
        assert_eq!(p.candles.len(), 1);
        assert_eq!((p.covered_until, p.dropped_out_of_window), (5 * H, 2));
    }

    #[test]
    fn a_bar_sent_twice_once_unconfirmed_is_not_final() {
        // Found by page_props: deduplication used to keep the confirmed copy and cover the bar.
        let rows = vec![row(2 * H, true), row(2 * H, false), row(H, true)];
        let p = window_page(rows, Timeframe::H1, (H, 5 * H, 50 * H), 1000 * H, "test", true);
        assert_eq!((p.candles.len(), p.covered_until), (1, 2 * H));
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
