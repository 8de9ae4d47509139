//! Health samples and retention in PostgreSQL (the statements and the rules: `model::retention`,
//! `model::health`).

use candlekeep_core::Timeframe;

use super::{Conn, blocks};
use crate::model::health::{HealthRow, to_db};
use crate::model::retention::{EPOCH, HORIZONS_SQL, PRUNE_STATEMENTS, SERIES_BEFORE_SQL, SET_HORIZON_SQL};
use crate::model::{decode, statements};
use crate::{HealthSample, StoreError};

pub(crate) async fn record_health(conn: &Conn, s: &HealthSample) -> Result<(), StoreError> {
    conn.execute(
        statements::RECORD_HEALTH_SQL,
        &[
            &s.at_ms,
            &s.cpu_pct,
            &to_db(s.mem_used_bytes),
            &to_db(s.mem_total_bytes),
            &to_db(s.disk_used_bytes),
            &to_db(s.disk_total_bytes),
            &to_db(s.rss_bytes),
            &s.freshness_lag_ms,
            &s.api_p99_ms,
            &to_db(s.api_requests),
        ],
    )
    .await?;
    Ok(())
}

pub(crate) async fn health_history(
    conn: &Conn,
    from: i64,
    to: i64,
    limit: usize,
) -> Result<Vec<HealthSample>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = conn
        .query(statements::HEALTH_HISTORY_SQL, &[&from, &to, &limit])
        .await?;
    rows.iter()
        .map(|r| {
            HealthRow {
                at_ms: r.get(0),
                cpu_pct: r.get(1),
                mem_used: r.get(2),
                mem_total: r.get(3),
                disk_used: r.get(4),
                disk_total: r.get(5),
                rss: r.get(6),
                freshness_lag_ms: r.get(7),
                api_p99_ms: r.get(8),
                api_requests: r.get(9),
            }
            .sample()
        })
        .collect()
}

pub(crate) async fn set_horizon(conn: &Conn, tf: Timeframe, cutoff: i64) -> Result<(), StoreError> {
    conn.execute(SET_HORIZON_SQL, &[&tf.as_str(), &cutoff]).await?;
    Ok(())
}

pub(crate) async fn horizons(conn: &Conn) -> Result<Vec<(Timeframe, i64)>, StoreError> {
    conn.query(HORIZONS_SQL, &[])
        .await?
        .iter()
        .map(|r| Ok((decode::timeframe(r.get(0))?, r.get(1))))
        .collect()
}

pub(crate) async fn series_before(conn: &Conn, tf: Timeframe, cutoff: i64) -> Result<Vec<i64>, StoreError> {
    Ok(conn
        .query(SERIES_BEFORE_SQL, &[&tf.as_str(), &cutoff])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// One series' prune (see `model::retention`), in one transaction holding the instrument's row
/// `FOR UPDATE` as a write does, so no block of it is packed between the rows deleted and the
/// blocks dropped (see `blocks`).
pub(crate) async fn prune_series(conn: &mut Conn, id: i64, tf: Timeframe, cutoff: i64) -> Result<u64, StoreError> {
    let tx = conn.transaction().await?;
    tx.query("SELECT id FROM instruments WHERE id = $1 FOR UPDATE", &[&id])
        .await?;
    let mut pruned = 0;
    for (k, sql) in PRUNE_STATEMENTS.iter().enumerate() {
        let n = tx.execute(*sql, &[&cutoff, &id, &tf.as_str()]).await?;
        if k == 0 {
            pruned = n;
        }
    }
    blocks::invalidate(&tx, &[(id, tf, EPOCH, cutoff - 1)]).await?;
    tx.commit().await?;
    Ok(pruned)
}

pub(crate) async fn database_size(conn: &Conn) -> Result<Option<u64>, StoreError> {
    let size: i64 = conn
        .query_one("SELECT pg_database_size(current_database())", &[])
        .await?
        .get(0);
    Ok(u64::try_from(size).ok())
}
