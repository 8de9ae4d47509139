//! Per-series summaries and the content hash.

use candlekeep_core::{Instrument, Timeframe};
use rusqlite::Connection;
use sha2::{Digest, Sha256};

use crate::{SeriesStatus, StoreError};

pub(crate) fn series(conn: &Connection) -> Result<Vec<SeriesStatus>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT i.venue, i.market, i.symbol, s.timeframe, s.first, s.last, s.n, s.sources FROM \
           (SELECT instrument_id, timeframe, MIN(open_time) AS first, MAX(open_time) AS last, COUNT(*) AS n, \
                   GROUP_CONCAT(DISTINCT source_id) AS sources \
              FROM candles GROUP BY instrument_id, timeframe) s \
         JOIN instruments i ON i.id = s.instrument_id \
         ORDER BY i.venue, i.market, i.symbol, s.timeframe",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, i64>(6)?,
            r.get::<_, Option<String>>(7)?,
        ))
    })?;
    let names: std::collections::HashMap<String, String> = conn
        .prepare("SELECT id, name FROM sources")?
        .query_map([], |r| Ok((r.get::<_, i64>(0)?.to_string(), r.get::<_, String>(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for row in rows {
        let (venue, market, symbol, tf, first, last, count, sources) = row?;
        let corrupt = |what: &str| StoreError::Corrupt(format!("{what} in {venue}:{market}:{symbol} {tf}"));
        let instrument = Instrument::new(
            venue.parse().map_err(|_| corrupt("venue"))?,
            market.parse().map_err(|_| corrupt("market"))?,
            &symbol,
        )
        .map_err(|_| corrupt("symbol"))?;
        let timeframe: Timeframe = tf.parse().map_err(|_| corrupt("timeframe"))?;
        let mut sources: Vec<String> = sources
            .unwrap_or_default()
            .split(',')
            .filter_map(|id| names.get(id).cloned())
            .collect();
        sources.sort();
        out.push(SeriesStatus {
            instrument,
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

pub(crate) fn content_hash(conn: &Connection) -> Result<String, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT i.venue, i.market, i.symbol, c.timeframe, c.open_time, c.open, c.high, c.low, c.close, \
                c.volume, c.quote_volume, c.trades, s.name \
           FROM candles c JOIN instruments i ON i.id = c.instrument_id JOIN sources s ON s.id = c.source_id \
          ORDER BY i.venue, i.market, i.symbol, c.timeframe, c.open_time",
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
        hasher.update(r.get::<_, i64>(11)?.to_le_bytes());
    }
    Ok(hex::encode(hasher.finalize()))
}
