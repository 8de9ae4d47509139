//! Health samples and retention in SQLite (the statements and the rules: `model::retention`,
//! `model::health`).

use candlekeep_core::Timeframe;
use rusqlite::{Connection, TransactionBehavior};

use crate::model::health::{HealthRow, to_db};
use crate::model::retention::{EPOCH, HORIZONS_SQL, PRUNE_STATEMENTS, SERIES_BEFORE_SQL, SET_HORIZON_SQL};
use crate::model::{decode, statements};
use crate::{HealthSample, StoreError};

pub(crate) fn record_health(conn: &Connection, s: &HealthSample) -> Result<(), StoreError> {
    conn.prepare_cached(statements::RECORD_HEALTH_SQL)?
        .execute(rusqlite::params![
            s.at_ms,
            s.cpu_pct,
            to_db(s.mem_used_bytes),
            to_db(s.mem_total_bytes),
            to_db(s.disk_used_bytes),
            to_db(s.disk_total_bytes),
            to_db(s.rss_bytes),
            s.freshness_lag_ms,
            s.api_p99_ms,
            to_db(s.api_requests),
        ])?;
    Ok(())
}

pub(crate) fn health_history(
    conn: &Connection,
    from: i64,
    to: i64,
    limit: usize,
) -> Result<Vec<HealthSample>, StoreError> {
    let mut stmt = conn.prepare_cached(statements::HEALTH_HISTORY_SQL)?;
    let rows = stmt.query_map((from, to, i64::try_from(limit).unwrap_or(i64::MAX)), |r| {
        Ok(HealthRow {
            at_ms: r.get(0)?,
            cpu_pct: r.get(1)?,
            mem_used: r.get(2)?,
            mem_total: r.get(3)?,
            disk_used: r.get(4)?,
            disk_total: r.get(5)?,
            rss: r.get(6)?,
            freshness_lag_ms: r.get(7)?,
            api_p99_ms: r.get(8)?,
            api_requests: r.get(9)?,
        })
    })?;
    rows.map(|row| row?.sample()).collect()
}

pub(crate) fn set_horizon(conn: &Connection, tf: Timeframe, cutoff: i64) -> Result<(), StoreError> {
    conn.execute(SET_HORIZON_SQL, (tf.as_str(), cutoff))?;
    Ok(())
}

pub(crate) fn horizons(conn: &Connection) -> Result<Vec<(Timeframe, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(HORIZONS_SQL)?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    rows.map(|row| {
        let (tf, at) = row?;
        Ok((decode::timeframe(&tf)?, at))
    })
    .collect()
}

pub(crate) fn series_before(conn: &Connection, tf: Timeframe, cutoff: i64) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare_cached(SERIES_BEFORE_SQL)?;
    let rows = stmt.query_map((tf.as_str(), cutoff), |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One series' prune (see `model::retention`), in one write transaction.
pub(crate) fn prune_series(conn: &mut Connection, id: i64, tf: Timeframe, cutoff: i64) -> Result<u64, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut pruned = 0;
    for (k, sql) in PRUNE_STATEMENTS.iter().enumerate() {
        let n = tx.prepare_cached(sql)?.execute((cutoff, id, tf.as_str()))?;
        if k == 0 {
            pruned = n as u64;
        }
    }
    // The blocks that held the pruned bars: the in-memory copies of them are never used again
    // (a block's version is never reused).
    super::blocks::invalidate(&tx, id, tf, EPOCH, cutoff - 1)?;
    tx.commit()?;
    Ok(pruned)
}

/// The file's pages, plus the WAL file beside it (committed pages not yet copied back).
pub(crate) fn database_size(conn: &Connection, path: Option<&std::path::Path>) -> Result<Option<u64>, StoreError> {
    let pages: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
    let page_size: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
    let wal = path.map_or(0, |p| {
        let mut wal = p.as_os_str().to_owned();
        wal.push("-wal");
        // No WAL file (a checkpoint truncated it, or none was written yet) holds nothing.
        std::fs::metadata(wal).map_or(0, |m| m.len())
    });
    Ok(u64::try_from(pages.saturating_mul(page_size)).ok().map(|n| n + wal))
}
