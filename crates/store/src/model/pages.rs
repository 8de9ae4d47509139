//! What a page write does before it reaches a backend: validation splits the page, and the
//! written open times become stored ranges.

use std::borrow::Cow;

use candlekeep_core::{
    Candle, Timeframe,
    validate::{self, Reject},
};

/// The page's valid candles (borrowed when all are) and the rejected ones with their reasons.
pub(crate) fn split(candles: &[Candle], tf: Timeframe, now_ms: i64) -> (Cow<'_, [Candle]>, Vec<(Candle, Reject)>) {
    if candles.iter().all(|c| validate::check(c, tf, now_ms).is_ok()) {
        return (Cow::Borrowed(candles), Vec::new());
    }
    let mut valid = Vec::with_capacity(candles.len());
    let mut rejected = Vec::new();
    for c in candles {
        match validate::check(c, tf, now_ms) {
            Ok(()) => valid.push(*c),
            Err(why) => rejected.push((*c, why)),
        }
    }
    (Cow::Owned(valid), rejected)
}

/// Runs of consecutive bars among `open_times` (ascending) as `[start, end)` ranges.
pub(crate) fn islands(tf: Timeframe, open_times: impl Iterator<Item = i64>) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for t in open_times {
        match out.last_mut() {
            Some((_, b)) if t == *b => *b += tf.millis(),
            _ => out.push((t, t + tf.millis())),
        }
    }
    out
}

/// A non-finite number cannot be stored as a real: NULL says "not a number" there.
pub(crate) fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}
