//! Per-series summaries and the content hash, read from SQLite; assembled by `model`.

use candlekeep_core::{Instrument, Timeframe};
use rusqlite::Connection;

use crate::model::decode::{instrument, timeframe};
use crate::model::hash::{CandleHasher, CandleRow};
use crate::model::summary::{self, SeriesKey};
use crate::{CrossCheckSummary, SeriesStatus, StoreError};

/// The (market, base, quote, timeframe) columns starting at column `at`, as text.
fn series_columns(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<SeriesKey> {
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

pub(crate) fn series(conn: &Connection) -> Result<Vec<SeriesStatus>, StoreError> {
    let rows = conn
        .prepare(crate::model::statements::SERIES_STATUS_SQL)?
        .query_map([], |r| Ok((series_columns(r, 0)?, r.get(4)?, r.get(5)?, r.get(6)?)))?
        .collect::<Result<_, _>>()?;
    let counts = conn
        .prepare(
            "SELECT i.market, i.base, i.quote, c.timeframe, s.name, COUNT(*) FROM candles c \
               JOIN instruments i ON i.id = c.instrument_id JOIN sources s ON s.id = c.source_id \
              GROUP BY c.instrument_id, c.timeframe, c.source_id",
        )?
        .query_map([], |r| Ok((series_columns(r, 0)?, r.get(4)?, r.get(5)?)))?
        .collect::<Result<_, _>>()?;
    summary::series_status(rows, counts)
}

pub(crate) fn cross_checks(conn: &Connection) -> Result<Vec<CrossCheckSummary>, StoreError> {
    let mut stmt = conn.prepare(crate::model::statements::CROSS_CHECKS_SQL)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((series_columns(r, 0)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    summary::cross_checks(rows)
}

pub(crate) fn content_hash(conn: &Connection) -> Result<String, StoreError> {
    let mut stmt = conn.prepare(crate::model::statements::HASHED_CANDLES_SQL)?;
    let mut hasher = CandleHasher::default();
    let mut rows = stmt.query([])?;
    let text = |r: &rusqlite::Row<'_>, col: usize| -> Result<String, StoreError> {
        Ok(r.get_ref(col)?
            .as_str()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?
            .to_owned())
    };
    while let Some(r) = rows.next()? {
        let (market, base, quote, tf, source) = (text(r, 0)?, text(r, 1)?, text(r, 2)?, text(r, 3)?, text(r, 12)?);
        hasher.add(&CandleRow {
            market: &market,
            base: &base,
            quote: &quote,
            timeframe: &tf,
            source: &source,
            open_time: r.get(4)?,
            open: r.get(5)?,
            high: r.get(6)?,
            low: r.get(7)?,
            close: r.get(8)?,
            volume: r.get(9)?,
            quote_volume: r.get(10)?,
            trades: r.get(11)?,
        });
    }
    Ok(hasher.finish())
}
