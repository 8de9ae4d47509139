//! Reads: candles (a prepared statement per connection), coverage, summaries and the content
//! hash, assembled by the backend-neutral `model`.

use candlekeep_core::{Candle, Instrument, MarketPoint, SourceId, Timeframe};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{GenericClient, Row};

use super::{Conn, PgStore, Statements};
use crate::model::decode::{self, instrument, timeframe};
use crate::model::hash::{CandleHasher, CandleRow};
use crate::model::summary::{self, SeriesKey};
use crate::{CrossCheckSummary, SeriesStatus, StoreError, subtract_ranges};

pub(crate) const SELECT_CANDLES: &str = crate::model::statements::CANDLES_SQL;

pub(crate) fn candle(r: &Row) -> Candle {
    Candle {
        open_time_ms: r.get(0),
        open: r.get(1),
        high: r.get(2),
        low: r.get(3),
        close: r.get(4),
        volume: r.get(5),
        quote_volume: r.get(6),
        trades: r.get::<_, Option<i64>>(7).map(|t| t.max(0) as u64),
    }
}

pub(crate) fn candles(
    conn: &mut Conn,
    statements: &mut Statements,
    id: i64,
    tf: Timeframe,
    from: i64,
    to: i64,
) -> Result<Vec<Candle>, StoreError> {
    let stmt = statements.get(&mut **conn, SELECT_CANDLES)?;
    // Rows are decoded as they arrive, while the server is still sending the rest.
    let params: [&(dyn ToSql + Sync); 4] = [&id, &tf.as_str(), &from, &to];
    let mut rows = conn.query_raw(&stmt, params)?;
    let mut out = Vec::with_capacity(usize::try_from(tf.bars_between(from, to)).unwrap_or(0).min(1 << 20));
    while let Some(row) = rows.next()? {
        out.push(candle(&row));
    }
    Ok(out)
}

/// The same read inside a write's transaction.
pub(crate) fn candles_in(
    client: &mut impl GenericClient,
    id: i64,
    tf: Timeframe,
    from: i64,
    to: i64,
) -> Result<Vec<Candle>, StoreError> {
    Ok(client
        .query(SELECT_CANDLES, &[&id, &tf.as_str(), &from, &to])?
        .iter()
        .map(candle)
        .collect())
}

pub(crate) fn uncovered(
    store: &mut PgStore,
    id: i64,
    tf: Timeframe,
    source: SourceId,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let stmt = store
        .statements
        .get(&mut **store.conn, crate::model::statements::COVERED_OVERLAPPING_SQL)?;
    let covered: Vec<(i64, i64)> = store
        .conn
        .query(&stmt, &[&id, &tf.as_str(), &source.as_str(), &from, &to])?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    Ok(subtract_ranges(from, to, &covered))
}

pub(crate) fn stored_sources(
    store: &mut PgStore,
    id: i64,
    tf: Timeframe,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, SourceId)>, StoreError> {
    let names = store.source_names()?;
    let stmt = store
        .statements
        .get(&mut **store.conn, crate::model::statements::STORED_SOURCES_SQL)?;
    let rows = store.conn.query(&stmt, &[&id, &tf.as_str(), &from, &to])?;
    rows.iter()
        .map(|r| {
            let t: i64 = r.get(0);
            Ok((t, decode::source(&names, r.get(1), t)?))
        })
        .collect()
}

pub(crate) fn latest_covered(store: &mut PgStore, id: i64, tf: Timeframe) -> Result<Option<i64>, StoreError> {
    let stmt = store
        .statements
        .get(&mut **store.conn, crate::model::statements::LATEST_COVERED_SQL)?;
    Ok(store.conn.query_one(&stmt, &[&id, &tf.as_str()])?.get(0))
}

pub(crate) fn points(
    conn: &mut Conn,
    statements: &mut Statements,
    id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<MarketPoint>, StoreError> {
    let stmt = statements.get(&mut **conn, crate::model::statements::POINTS_SQL)?;
    Ok(conn
        .query(&stmt, &[&id, &from, &to])?
        .iter()
        .map(|r| MarketPoint {
            at_ms: r.get(0),
            price: r.get(1),
            market_cap: r.get(2),
            volume_24h: r.get(3),
        })
        .collect())
}

fn series_key(r: &Row, at: usize) -> SeriesKey {
    (r.get(at), r.get(at + 1), r.get(at + 2), r.get(at + 3))
}

pub(crate) fn freshness(conn: &mut Conn) -> Result<Vec<(Instrument, Timeframe, i64)>, StoreError> {
    let rows = conn.query(
        "SELECT i.market, i.base, i.quote, r.timeframe, MAX(r.end_ms) FROM stored_ranges r \
           JOIN instruments i ON i.id = r.instrument_id GROUP BY i.market, i.base, i.quote, r.timeframe \
          ORDER BY i.market, i.base, i.quote, r.timeframe",
        &[],
    )?;
    rows.iter()
        .map(|r| {
            let (market, base, quote, tf) = series_key(r, 0);
            Ok((instrument(&market, &base, &quote)?, timeframe(&tf)?, r.get(4)))
        })
        .collect()
}

pub(crate) fn series_status(conn: &mut Conn) -> Result<Vec<SeriesStatus>, StoreError> {
    let rows = conn
        .query(crate::model::statements::SERIES_STATUS_SQL, &[])?
        .iter()
        .map(|r| (series_key(r, 0), r.get(4), r.get(5), r.get(6)))
        .collect();
    let counts = conn
        .query(
            "SELECT i.market, i.base, i.quote, c.timeframe, s.name, COUNT(*) FROM candles c \
               JOIN instruments i ON i.id = c.instrument_id JOIN sources s ON s.id = c.source_id \
              GROUP BY i.market, i.base, i.quote, c.timeframe, s.name",
            &[],
        )?
        .iter()
        .map(|r| (series_key(r, 0), r.get(4), r.get(5)))
        .collect();
    summary::series_status(rows, counts)
}

pub(crate) fn cross_checks(conn: &mut Conn) -> Result<Vec<CrossCheckSummary>, StoreError> {
    let rows = conn.query(crate::model::statements::CROSS_CHECKS_SQL, &[])?;
    summary::cross_checks(
        rows.iter()
            .map(|r| (series_key(r, 0), r.get(4), r.get(5), r.get(6), r.get(7))),
    )
}

pub(crate) fn content_hash(conn: &mut Conn) -> Result<String, StoreError> {
    let mut hasher = CandleHasher::default();
    let mut tx = conn.transaction()?;
    // A cursor keeps memory flat over millions of candles.
    let portal = tx.bind(crate::model::statements::HASHED_CANDLES_SQL, &[])?;
    loop {
        let rows = tx.query_portal(&portal, 50_000)?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            hasher.add(&CandleRow {
                market: r.get(0),
                base: r.get(1),
                quote: r.get(2),
                timeframe: r.get(3),
                source: r.get(12),
                open_time: r.get(4),
                open: r.get(5),
                high: r.get(6),
                low: r.get(7),
                close: r.get(8),
                volume: r.get(9),
                quote_volume: r.get(10),
                trades: r.get(11),
            });
        }
    }
    tx.commit()?;
    Ok(hasher.finish())
}
