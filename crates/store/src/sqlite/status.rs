//! Per-series summaries and the content hash.

use candlekeep_core::{Instrument, Timeframe};
use std::collections::HashMap;

use rusqlite::Connection;
use sha2::{Digest, Sha256};

use crate::{CrossCheckSummary, SeriesStatus, StoreError};

/// (market, base, quote, timeframe) as stored.
type SeriesKey = (String, String, String, String);

/// One series and pair of sources in `cross_checks`, with the absolute close differences and
/// the volume ratios of its rows.
struct PairRows {
    key: (SeriesKey, String, String),
    abs_bps: Vec<f64>,
    ratios: Vec<f64>,
}

/// The instrument of a stored (market, base, quote) row; an unreadable one means a damaged file.
pub(crate) fn instrument(market: &str, base: &str, quote: &str) -> Result<Instrument, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("{what} of instrument {market}:{base}{quote}"));
    Instrument::new(market.parse().map_err(|_| corrupt("market"))?, base, quote).map_err(|_| corrupt("symbol"))
}

/// The (market, base, quote, timeframe) columns starting at column `at`, as text.
fn series_columns(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<(String, String, String, String)> {
    Ok((r.get(at)?, r.get(at + 1)?, r.get(at + 2)?, r.get(at + 3)?))
}

/// Per series, the close time of its newest stored bar, from the stored ranges.
pub(crate) fn freshness(conn: &Connection) -> Result<Vec<(Instrument, Timeframe, i64)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT i.market, i.base, i.quote, r.timeframe, MAX(r.end_ms) FROM stored_ranges r \
           JOIN instruments i ON i.id = r.instrument_id GROUP BY r.instrument_id, r.timeframe \
          ORDER BY i.market, i.base, i.quote, r.timeframe",
    )?;
    let rows = stmt.query_map([], |r| Ok((series_columns(r, 0)?, r.get::<_, i64>(4)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let ((market, base, quote, tf), end) = row?;
        out.push((instrument(&market, &base, &quote)?, timeframe(&tf)?, end));
    }
    Ok(out)
}

/// The timeframe of a stored row.
pub(crate) fn timeframe(tf: &str) -> Result<Timeframe, StoreError> {
    tf.parse()
        .map_err(|_| StoreError::Corrupt(format!("unknown timeframe {tf:?}")))
}

pub(crate) fn series(conn: &Connection) -> Result<Vec<SeriesStatus>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT i.market, i.base, i.quote, s.timeframe, s.first, s.last, s.n FROM \
           (SELECT instrument_id, timeframe, MIN(open_time) AS first, MAX(open_time) AS last, COUNT(*) AS n \
              FROM candles GROUP BY instrument_id, timeframe) s \
         JOIN instruments i ON i.id = s.instrument_id \
         ORDER BY i.market, i.base, i.quote, s.timeframe",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            series_columns(r, 0)?,
            r.get::<_, i64>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, i64>(6)?,
        ))
    })?;
    let mut per_source: HashMap<SeriesKey, Vec<(String, i64)>> = HashMap::new();
    let mut by_source = conn.prepare(
        "SELECT i.market, i.base, i.quote, c.timeframe, s.name, COUNT(*) FROM candles c \
           JOIN instruments i ON i.id = c.instrument_id JOIN sources s ON s.id = c.source_id \
          GROUP BY c.instrument_id, c.timeframe, c.source_id",
    )?;
    let counts = by_source.query_map([], |r| {
        Ok((
            (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?),
            (r.get::<_, String>(4)?, r.get::<_, i64>(5)?),
        ))
    })?;
    for row in counts {
        let (key, count) = row?;
        per_source.entry(key).or_default().push(count);
    }
    let mut out = Vec::new();
    for row in rows {
        let ((market, base, quote, tf), first, last, count) = row?;
        let mut sources = per_source
            .remove(&(market.clone(), base.clone(), quote.clone(), tf.clone()))
            .unwrap_or_default();
        sources.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
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

pub(crate) fn cross_checks(conn: &Connection) -> Result<Vec<CrossCheckSummary>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT i.market, i.base, i.quote, x.timeframe, k.name, o.name, x.close_diff_bps, x.volume_ratio \
           FROM cross_checks x JOIN instruments i ON i.id = x.instrument_id \
           JOIN sources k ON k.id = x.kept_source_id JOIN sources o ON o.id = x.other_source_id \
          ORDER BY i.market, i.base, i.quote, x.timeframe, k.name, o.name",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            (series_columns(r, 0)?, r.get::<_, String>(4)?, r.get::<_, String>(5)?),
            r.get::<_, f64>(6)?,
            r.get::<_, Option<f64>>(7)?,
        ))
    })?;
    let mut groups: Vec<PairRows> = Vec::new();
    for row in rows {
        let (key, bps, ratio) = row?;
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

pub(crate) fn content_hash(conn: &Connection) -> Result<String, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT i.market, i.base, i.quote, c.timeframe, c.open_time, c.open, c.high, c.low, c.close, \
                c.volume, c.quote_volume, c.trades, s.name \
           FROM candles c JOIN instruments i ON i.id = c.instrument_id JOIN sources s ON s.id = c.source_id \
          ORDER BY i.market, i.base, i.quote, c.timeframe, c.open_time",
    )?;
    let mut hasher = Sha256::new();
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        for col in [0, 1, 2, 3, 12] {
            hasher.update(
                r.get_ref(col)?
                    .as_str()
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            );
            hasher.update([0]);
        }
        hasher.update(r.get::<_, i64>(4)?.to_le_bytes());
        for col in 5..=10 {
            hasher.update(r.get::<_, f64>(col)?.to_bits().to_le_bytes());
        }
        hasher.update(r.get::<_, Option<i64>>(11)?.unwrap_or(-1).to_le_bytes());
    }
    Ok(hex::encode(hasher.finalize()))
}
