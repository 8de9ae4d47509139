//! Per-series summaries assembled from rows: provenance counts and cross-check agreement, and
//! the comparison of two sources' bars that a cross-check records.

use std::collections::HashMap;

use candlekeep_core::Candle;

use super::decode::{instrument, timeframe};
use crate::{CrossCheckSummary, SeriesStatus, StoreError};

/// (market, base, quote, timeframe) as stored.
pub(crate) type SeriesKey = (String, String, String, String);

/// Series rows `(key, first, last, count)` and per-source counts `(key, source, count)` into
/// status lines, sources most first.
pub(crate) fn series_status(
    rows: Vec<(SeriesKey, i64, i64, i64)>,
    counts: Vec<(SeriesKey, String, i64)>,
) -> Result<Vec<SeriesStatus>, StoreError> {
    let mut per_source: HashMap<SeriesKey, Vec<(String, i64)>> = HashMap::new();
    for (key, source, n) in counts {
        per_source.entry(key).or_default().push((source, n));
    }
    let mut out = Vec::with_capacity(rows.len());
    for (key, first, last, count) in rows {
        let mut sources = per_source.remove(&key).unwrap_or_default();
        sources.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let (market, base, quote, tf) = key;
        let timeframe = timeframe(&tf)?;
        out.push(SeriesStatus {
            instrument: instrument(&market, &base, &quote)?,
            timeframe,
            first_open_ms: first,
            last_open_ms: last,
            count,
            expected: (last - first) / timeframe.millis() + 1,
            sources,
        });
    }
    Ok(out)
}

/// One cross-check row: series, kept and other source names, close difference, volume ratio.
pub(crate) type CrossRow = (SeriesKey, String, String, f64, Option<f64>);

/// Rows ordered by series and pair into one summary per series and pair.
pub(crate) fn cross_checks(rows: impl IntoIterator<Item = CrossRow>) -> Result<Vec<CrossCheckSummary>, StoreError> {
    struct PairRows {
        key: (SeriesKey, String, String),
        abs_bps: Vec<f64>,
        ratios: Vec<f64>,
    }
    let mut groups: Vec<PairRows> = Vec::new();
    for (series, kept, other, bps, ratio) in rows {
        let key = (series, kept, other);
        if groups.last().is_none_or(|g| g.key != key) {
            groups.push(PairRows {
                key,
                abs_bps: Vec::new(),
                ratios: Vec::new(),
            });
        }
        if let Some(g) = groups.last_mut() {
            g.abs_bps.push(bps.abs());
            g.ratios.extend(ratio);
        }
    }
    let mut out = Vec::with_capacity(groups.len());
    for g in groups {
        let ((market, base, quote, tf), kept, other) = g.key;
        let (bps, mut ratios) = (g.abs_bps, g.ratios);
        ratios.sort_by(f64::total_cmp);
        out.push(CrossCheckSummary {
            instrument: instrument(&market, &base, &quote)?,
            timeframe: timeframe(&tf)?,
            kept_source: kept,
            other_source: other,
            bars: bps.len() as i64,
            mean_abs_close_diff_bps: bps.iter().sum::<f64>() / bps.len().max(1) as f64,
            max_abs_close_diff_bps: bps.iter().copied().fold(0.0, f64::max),
            median_volume_ratio: ratios.get(ratios.len() / 2).copied(),
        });
    }
    Ok(out)
}

/// A stored bar another source delivered too: (source id, close, volume).
pub(crate) type StoredBar = (i64, f64, Option<f64>);

/// The cross-check of an incoming bar against the stored one: (kept source id, other source id,
/// close difference of the other in bp, other volume / kept volume). The incoming bar is the
/// kept one when it replaces the stored bar.
pub(crate) fn compare(
    incoming_source: i64,
    incoming: &Candle,
    stored: StoredBar,
    replaces: bool,
) -> (i64, i64, f64, Option<f64>) {
    let mine = (incoming_source, incoming.close, incoming.volume);
    let (kept, other) = if replaces { (mine, stored) } else { (stored, mine) };
    let diff_bps = if kept.1 == 0.0 {
        0.0
    } else {
        (other.1 - kept.1) / kept.1 * 10_000.0
    };
    let volume_ratio = match (kept.2, other.2) {
        (Some(k), Some(o)) if k != 0.0 => Some(o / k),
        _ => None,
    };
    (kept.0, other.0, diff_bps, volume_ratio)
}

/// Whether a write with `mask` may replace a bar stored by source id `stored_source`.
pub(crate) fn may_replace(mask: i64, stored_source: i64) -> bool {
    (mask >> stored_source) & 1 == 1
}
