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

/// The stored bars just before `$3` and just after `$4` of one series, as `(open_time, close)`:
/// what a page's first and last bars are judged against ([`screen_moves`]). Written once for
/// both backends (SQLite numbers `$n` parameters in order of appearance).
pub(crate) const NEIGHBOURS_SQL: &str = "SELECT open_time, close FROM (SELECT open_time, close FROM candles \
     WHERE instrument_id = $1 AND timeframe = $2 AND open_time < $3 ORDER BY open_time DESC LIMIT 1) AS before_page \
     UNION ALL SELECT open_time, close FROM (SELECT open_time, close FROM candles \
     WHERE instrument_id = $1 AND timeframe = $2 AND open_time > $4 ORDER BY open_time LIMIT 1) AS after_page";

/// The open-time span `[lo, hi]` of a page's bars, if it has any.
pub(crate) fn span(candles: &[Candle]) -> Option<(i64, i64)> {
    let lo = candles.iter().map(|c| c.open_time_ms).min()?;
    let hi = candles.iter().map(|c| c.open_time_ms).max()?;
    Some((lo, hi))
}

/// Moves the bars of `valid` whose prices are beyond any plausible move from their neighbours
/// (the stored bars `neighbours` returned by [`NEIGHBOURS_SQL`] for the page's span, and each
/// other) into `rejected`.
pub(crate) fn screen_moves<'a>(
    valid: Cow<'a, [Candle]>,
    neighbours: &[(i64, f64)],
    max_ratio: f64,
    rejected: &mut Vec<(Candle, Reject)>,
) -> Cow<'a, [Candle]> {
    let Some((lo, hi)) = span(&valid) else {
        return valid;
    };
    let as_bar = |&(t, close): &(i64, f64)| Candle {
        open_time_ms: t,
        open: close,
        high: close,
        low: close,
        close,
        volume: None,
        quote_volume: None,
        trades: None,
    };
    let prev = neighbours.iter().find(|(t, _)| *t < lo).map(as_bar);
    let next = neighbours.iter().find(|(t, _)| *t > hi).map(as_bar);
    // Pages come ascending; only an unordered one is judged through a sorted copy.
    let sorted = valid.windows(2).all(|w| w[0].open_time_ms <= w[1].open_time_ms);
    let (bad, any) = if sorted {
        let bad = validate::implausible(prev.as_ref(), &valid, next.as_ref(), max_ratio);
        let any = bad.contains(&true);
        (bad, any)
    } else {
        let mut order: Vec<usize> = (0..valid.len()).collect();
        order.sort_by_key(|&i| valid[i].open_time_ms);
        let ascending: Vec<Candle> = order.iter().map(|&i| valid[i]).collect();
        let verdicts = validate::implausible(prev.as_ref(), &ascending, next.as_ref(), max_ratio);
        let mut bad = vec![false; valid.len()];
        for (&i, verdict) in order.iter().zip(verdicts) {
            bad[i] = verdict;
        }
        let any = bad.contains(&true);
        (bad, any)
    };
    if !any {
        return valid;
    }
    let mut kept = Vec::with_capacity(valid.len());
    for (c, bad) in valid.iter().zip(bad) {
        if bad {
            rejected.push((*c, Reject::ImplausibleMove));
        } else {
            kept.push(*c);
        }
    }
    Cow::Owned(kept)
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

#[cfg(test)]
mod screen_tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn bar(h: i64, price: f64) -> Candle {
        Candle {
            open_time_ms: 1_700_000_000_000 / H * H + h * H,
            open: price,
            high: price,
            low: price,
            close: price,
            volume: Some(1.0),
            quote_volume: None,
            trades: None,
        }
    }

    #[test]
    fn an_unordered_page_is_judged_as_the_same_page_in_order() {
        let page: Vec<Candle> = [100.0, 1e300, 101.0, 99.0, 1e-9, 98.0]
            .iter()
            .enumerate()
            .map(|(h, &p)| bar(h as i64, p))
            .collect();
        let judge = |candles: Vec<Candle>| {
            let mut rejected = Vec::new();
            let kept = screen_moves(Cow::Owned(candles), &[], 100.0, &mut rejected).into_owned();
            let mut kept: Vec<i64> = kept.iter().map(|c| c.open_time_ms).collect();
            let mut out: Vec<i64> = rejected.iter().map(|(c, _)| c.open_time_ms).collect();
            kept.sort_unstable();
            out.sort_unstable();
            (kept, out)
        };
        let in_order = judge(page.clone());
        assert_eq!(in_order.1, vec![page[1].open_time_ms, page[4].open_time_ms]);
        let mut reversed = page;
        reversed.reverse();
        assert_eq!(judge(reversed), in_order);
    }
}
