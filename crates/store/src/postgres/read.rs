//! Reads: candles (a prepared statement per connection), coverage, summaries and the content
//! hash, assembled by the backend-neutral `model`.

use std::collections::HashMap;

use candlekeep_core::{Candle, Instrument, MarketPoint, SourceId, Timeframe};
use deadpool_postgres::GenericClient;
use futures::TryStreamExt;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::Conn;
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

pub(crate) async fn candles(
    conn: &Conn,
    id: i64,
    tf: Timeframe,
    from: i64,
    to: i64,
) -> Result<Vec<Candle>, StoreError> {
    let stmt = conn.prepare_cached(SELECT_CANDLES).await?;
    // Rows are decoded as they arrive, while the server is still sending the rest.
    let params: [&(dyn ToSql + Sync); 4] = [&id, &tf.as_str(), &from, &to];
    let rows = conn.query_raw(&stmt, params).await?;
    let mut rows = std::pin::pin!(rows);
    let mut out = Vec::with_capacity(usize::try_from(tf.bars_between(from, to)).unwrap_or(0).min(1 << 20));
    while let Some(row) = rows.try_next().await? {
        out.push(candle(&row));
    }
    Ok(out)
}

/// The same read inside a write's transaction.
pub(crate) async fn candles_in(
    client: &impl GenericClient,
    id: i64,
    tf: Timeframe,
    from: i64,
    to: i64,
) -> Result<Vec<Candle>, StoreError> {
    Ok(client
        .query(SELECT_CANDLES, &[&id, &tf.as_str(), &from, &to])
        .await?
        .iter()
        .map(candle)
        .collect())
}

pub(crate) async fn uncovered(
    conn: &Conn,
    id: i64,
    tf: Timeframe,
    source: SourceId,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let stmt = conn
        .prepare_cached(crate::model::statements::COVERED_OVERLAPPING_SQL)
        .await?;
    let covered: Vec<(i64, i64)> = conn
        .query(&stmt, &[&id, &tf.as_str(), &source.as_str(), &from, &to])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    Ok(subtract_ranges(from, to, &covered))
}

pub(crate) async fn stored_sources(
    conn: &Conn,
    names: &HashMap<i64, SourceId>,
    id: i64,
    tf: Timeframe,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, SourceId)>, StoreError> {
    let stmt = conn
        .prepare_cached(crate::model::statements::STORED_SOURCES_SQL)
        .await?;
    let rows = conn.query(&stmt, &[&id, &tf.as_str(), &from, &to]).await?;
    rows.iter()
        .map(|r| {
            let t: i64 = r.get(0);
            Ok((t, decode::source(names, r.get(1), t)?))
        })
        .collect()
}

pub(crate) async fn latest_covered(conn: &Conn, id: i64, tf: Timeframe) -> Result<Option<i64>, StoreError> {
    let stmt = conn
        .prepare_cached(crate::model::statements::LATEST_COVERED_SQL)
        .await?;
    Ok(conn.query_one(&stmt, &[&id, &tf.as_str()]).await?.get(0))
}

pub(crate) async fn points(conn: &Conn, id: i64, from: i64, to: i64) -> Result<Vec<MarketPoint>, StoreError> {
    let stmt = conn.prepare_cached(crate::model::statements::POINTS_SQL).await?;
    Ok(conn
        .query(&stmt, &[&id, &from, &to])
        .await?
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

pub(crate) async fn freshness(conn: &Conn) -> Result<Vec<(Instrument, Timeframe, i64)>, StoreError> {
    let rows = conn
        .query(
            "SELECT i.market, i.base, i.quote, r.timeframe, MAX(r.end_ms) FROM stored_ranges r \
               JOIN instruments i ON i.id = r.instrument_id GROUP BY i.market, i.base, i.quote, r.timeframe \
              ORDER BY i.market, i.base, i.quote, r.timeframe",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let (market, base, quote, tf) = series_key(r, 0);
            Ok((instrument(&market, &base, &quote)?, timeframe(&tf)?, r.get(4)))
        })
        .collect()
}

pub(crate) async fn series_status(conn: &Conn) -> Result<Vec<SeriesStatus>, StoreError> {
    let rows = conn
        .query(crate::model::statements::SERIES_STATUS_SQL, &[])
        .await?
        .iter()
        .map(|r| (series_key(r, 0), r.get(4), r.get(5), r.get(6)))
        .collect();
    let counts = conn
        .query(
            "SELECT i.market, i.base, i.quote, c.timeframe, s.name, COUNT(*) FROM candles c \
               JOIN instruments i ON i.id = c.instrument_id JOIN sources s ON s.id = c.source_id \
              GROUP BY i.market, i.base, i.quote, c.timeframe, s.name",
            &[],
        )
        .await?
        .iter()
        .map(|r| (series_key(r, 0), r.get(4), r.get(5)))
        .collect();
    summary::series_status(rows, counts)
}

pub(crate) async fn cross_checks(conn: &Conn) -> Result<Vec<CrossCheckSummary>, StoreError> {
    let rows = conn.query(crate::model::statements::CROSS_CHECKS_SQL, &[]).await?;
    summary::cross_checks(
        rows.iter()
            .map(|r| (series_key(r, 0), r.get(4), r.get(5), r.get(6), r.get(7))),
    )
}

pub(crate) async fn content_hash(conn: &Conn) -> Result<String, StoreError> {
    let mut hasher = CandleHasher::default();
    // Rows are hashed as they arrive (one statement, one snapshot): memory stays flat over
    // millions of candles.
    let rows = conn
        .query_raw(crate::model::statements::HASHED_CANDLES_SQL, std::iter::empty::<i64>())
        .await?;
    let mut rows = std::pin::pin!(rows);
    while let Some(r) = rows.try_next().await? {
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
    Ok(hasher.finish())
}
