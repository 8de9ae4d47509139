//! The gap ledger and daily quality in PostgreSQL; the rules are in `model`.

use std::collections::HashMap;

use candlekeep_core::{GapCause, Instrument, Timeframe};
use deadpool_postgres::Transaction;

use super::Conn;
use crate::model::decode;
use crate::model::gaps::{self, CurrentGap, Facts, LedgerChange, LedgerRow, RangeRow, Series, group_series};
use crate::model::quality::{DayCounts, days, first_day};
use crate::{Gap, GapRefresh, GapStatus, QualityDay, StoreError};

async fn series(tx: &Transaction<'_>) -> Result<Vec<Series>, StoreError> {
    let rows = tx.query(gaps::SERIES_SQL, &[]).await?;
    group_series(rows.iter().map(|r| RangeRow {
        id: r.get(0),
        tf: r.get(1),
        range: (r.get(2), r.get(3)),
        listed_at: r.get(4),
        delisted_at: r.get(5),
        horizon: r.get(6),
    }))
}

/// The series' entries that are not repaired (`LedgerRows::ledger`).
async fn ledger(tx: &Transaction<'_>, id: i64, tf: Timeframe) -> Result<Vec<LedgerRow>, StoreError> {
    Ok(tx
        .query(gaps::LEDGER_SQL, &[&id, &tf.as_str()])
        .await?
        .iter()
        .map(|r| {
            let status: &str = r.get(2);
            (
                r.get(0),
                r.get(1),
                GapStatus::parse(status).unwrap_or(GapStatus::Open),
                r.get(3),
                r.get(4),
            )
        })
        .collect())
}

async fn facts(tx: &Transaction<'_>, id: i64, tf: Timeframe) -> Result<Facts, StoreError> {
    let covered = tx
        .query(gaps::COVERED_SQL, &[&id, &tf.as_str()])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let notes = tx
        .query(gaps::NOTES_SQL, &[&id, &tf.as_str()])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    Ok(Facts { covered, notes })
}

/// Makes one change a refresh planned (see `gaps::plan_series`).
async fn apply(
    tx: &Transaction<'_>,
    id: i64,
    tf: Timeframe,
    change: LedgerChange,
    now_ms: i64,
) -> Result<(), StoreError> {
    let tf = tf.as_str();
    match change {
        LedgerChange::MarkRepaired((a, b)) => {
            tx.execute(gaps::MARK_REPAIRED_SQL, &[&id, &tf, &a, &b, &now_ms])
                .await?;
        }
        LedgerChange::CopyEntry {
            entry: (a, b),
            part: (x, y),
        } => {
            tx.execute(
                "INSERT INTO gaps (instrument_id, timeframe, start_ms, end_ms, cause, status, attempts, first_seen, updated_at) \
                 SELECT instrument_id, timeframe, $5, $6, cause, status, attempts, first_seen, updated_at FROM gaps \
                  WHERE instrument_id = $1 AND timeframe = $2 AND start_ms = $3 AND end_ms = $4 \
                 ON CONFLICT (instrument_id, timeframe, start_ms, end_ms) DO NOTHING",
                &[&id, &tf, &a, &b, &x, &y],
            )
            .await?;
        }
        LedgerChange::DropEntry((a, b)) => {
            tx.execute(gaps::DROP_ENTRY_SQL, &[&id, &tf, &a, &b]).await?;
        }
        LedgerChange::PutGap(g, cause) => put_gap(tx, id, tf, &g, cause, now_ms).await?,
    }
    Ok(())
}

async fn put_gap(
    tx: &Transaction<'_>,
    id: i64,
    tf: &str,
    g: &CurrentGap,
    cause: GapCause,
    now_ms: i64,
) -> Result<(), StoreError> {
    tx.execute(
        gaps::PUT_GAP_SQL,
        &[
            &id,
            &tf,
            &g.range.0,
            &g.range.1,
            &cause.as_str(),
            &g.status.as_str(),
            &g.attempts,
            &g.first_seen,
            &now_ms,
        ],
    )
    .await?;
    Ok(())
}

/// Brings the ledger up to date in one transaction: per series, the reads the rules need
/// (`gaps::plan_series`), then its changes in order, as `gaps::refresh` does for SQLite.
pub(crate) async fn refresh_gaps(conn: &mut Conn, now_ms: i64) -> Result<GapRefresh, StoreError> {
    let tx = conn.transaction().await?;
    let all = series(&tx).await?;
    let mut summary = GapRefresh {
        series: all.len() as u64,
        ..GapRefresh::default()
    };
    for s in &all {
        let (id, tf) = (s.id, s.tf);
        let current = s.gaps(now_ms);
        let facts = if current.is_empty() {
            Facts::default()
        } else {
            facts(&tx, id, tf).await?
        };
        let rows = ledger(&tx, id, tf).await?;
        for change in gaps::plan_series(s, &current, &facts, rows, now_ms, &mut summary) {
            apply(&tx, id, tf, change, now_ms).await?;
        }
    }
    tx.commit().await?;
    Ok(summary)
}

pub(crate) async fn list(conn: &Conn, status: Option<GapStatus>, since_ms: i64) -> Result<Vec<Gap>, StoreError> {
    let rows = conn
        .query(
            "SELECT i.market, i.base, i.quote, g.timeframe, g.start_ms, g.end_ms, g.cause, g.status, g.attempts, \
                g.repaired_by, g.first_seen \
           FROM gaps g JOIN instruments i ON i.id = g.instrument_id \
          WHERE ($1::text IS NULL OR g.status = $1) AND g.end_ms > $2 \
          ORDER BY i.market, i.base, i.quote, g.timeframe, g.start_ms",
            &[&status.map(GapStatus::as_str), &since_ms],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let (market, base, quote, tf): (&str, &str, &str, &str) = (r.get(0), r.get(1), r.get(2), r.get(3));
            let status: &str = r.get(7);
            Ok(Gap {
                instrument: decode::instrument(market, base, quote)?,
                timeframe: decode::timeframe(tf)?,
                start_ms: r.get(4),
                end_ms: r.get(5),
                cause: decode::gap_cause(r.get(6))?,
                status: GapStatus::parse(status).ok_or_else(|| {
                    StoreError::Corrupt(format!("gap status {status:?} in {market}:{base}{quote} {tf}"))
                })?,
                attempts: r.get(8),
                repaired_by: r.get(9),
                first_seen_ms: r.get(10),
            })
        })
        .collect()
}

pub(crate) async fn attempted(conn: &Conn, id: i64, gap: &Gap, unrepairable: bool) -> Result<(), StoreError> {
    conn.execute(
        crate::model::statements::GAP_ATTEMPTED_SQL,
        &[
            &unrepairable,
            &candlekeep_core::time::now_ms(),
            &id,
            &gap.timeframe.as_str(),
            &gap.start_ms,
            &gap.end_ms,
        ],
    )
    .await?;
    Ok(())
}

async fn day_counts(
    tx: &Transaction<'_>,
    table: &str,
    since: i64,
) -> Result<HashMap<(i64, String, i64), i64>, StoreError> {
    let sql = format!(
        "SELECT instrument_id, timeframe, open_time / 86400000 * 86400000, COUNT(*) FROM {table} \
         WHERE open_time >= $1 GROUP BY 1, 2, 3"
    );
    Ok(tx
        .query(&sql, &[&since])
        .await?
        .iter()
        .map(|r| ((r.get(0), r.get(1), r.get(2)), r.get(3)))
        .collect())
}

pub(crate) async fn refresh_quality(
    conn: &mut Conn,
    since_ms: i64,
    now_ms: i64,
) -> Result<Vec<QualityDay>, StoreError> {
    let since = first_day(since_ms);
    let tx = conn.transaction().await?;
    let series = series(&tx).await?;
    let mut counts = DayCounts::default();
    for r in tx
        .query(crate::model::statements::DAILY_SOURCE_COUNTS_SQL, &[&since])
        .await?
    {
        counts.add_stored((r.get(0), r.get(1), r.get(2)), r.get(3), r.get(4));
    }
    counts.rejected = day_counts(&tx, "rejects", since).await?;
    counts.flagged = day_counts(&tx, "flags", since).await?;
    counts.divergence = tx
        .query(crate::model::statements::DAILY_DIVERGENCE_SQL, &[&since])
        .await?
        .iter()
        .map(|r| ((r.get(0), r.get(1), r.get(2)), r.get(3)))
        .collect();
    let mut names: HashMap<i64, Instrument> = HashMap::new();
    for r in tx.query("SELECT id, market, base, quote FROM instruments", &[]).await? {
        names.insert(r.get(0), decode::instrument(r.get(1), r.get(2), r.get(3))?);
    }
    let rows = days(&series, &names, &counts, since, now_ms);
    let stmt = tx.prepare_cached(
        "INSERT INTO quality (instrument_id, timeframe, day, expected, stored, missing, rejected, flagged, \
         divergence_bps, fallback_share, score, computed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (instrument_id, timeframe, day) DO UPDATE SET expected = excluded.expected, \
         stored = excluded.stored, missing = excluded.missing, rejected = excluded.rejected, \
         flagged = excluded.flagged, divergence_bps = excluded.divergence_bps, \
         fallback_share = excluded.fallback_share, score = excluded.score, computed_at = excluded.computed_at",
    )
    .await?;
    for (id, row) in &rows {
        tx.execute(
            &stmt,
            &[
                id,
                &row.timeframe.as_str(),
                &row.day_ms,
                &row.expected,
                &row.stored,
                &row.missing,
                &row.rejected,
                &row.flagged,
                &row.divergence_bps,
                &row.fallback_share,
                &row.score,
                &now_ms,
            ],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(rows.into_iter().map(|(_, row)| row).collect())
}

/// Recomputes the stored ranges from the candles; with `repair`, rebuilds the drifted series'.
/// Writers are held off meanwhile (they merge into `stored_ranges` in their own transactions).
pub(crate) async fn verify(conn: &mut Conn, repair: bool) -> Result<Vec<crate::RangeDrift>, StoreError> {
    use crate::model::verify::{CLEAR_SQL, INSERT_SQL, ISLANDS_SQL, IslandRow, RECORDED_SQL, drift};
    let tx = conn.transaction().await?;
    if repair {
        tx.batch_execute("LOCK TABLE stored_ranges IN SHARE ROW EXCLUSIVE MODE")
            .await?;
    } else {
        tx.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await?;
    }
    async fn read(tx: &Transaction<'_>, sql: &str) -> Result<Vec<IslandRow>, StoreError> {
        Ok(tx
            .query(sql, &[])
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6)))
            .collect())
    }
    let islands = read(&tx, ISLANDS_SQL).await?;
    let recorded = read(&tx, RECORDED_SQL).await?;
    let found = drift(islands, recorded)?;
    if repair {
        // Rows changed behind the store's back also leave its packed read cache stale.
        let series: Vec<(i64, candlekeep_core::Timeframe, i64, i64)> = found
            .iter()
            .map(|d| (d.instrument_id, d.timeframe, 0, i64::MAX))
            .collect();
        super::blocks::invalidate(&tx, &series).await?;
        for d in &found {
            tx.execute(CLEAR_SQL, &[&d.instrument_id, &d.timeframe.as_str()])
                .await?;
            for (a, b) in &d.actual {
                tx.execute(INSERT_SQL, &[&d.instrument_id, &d.timeframe.as_str(), a, b])
                    .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(found)
}

/// The stored daily quality rows from `since_ms`'s day on.
pub(crate) async fn quality_days(conn: &Conn, since_ms: i64) -> Result<Vec<QualityDay>, StoreError> {
    let stmt = conn.prepare_cached(crate::model::statements::QUALITY_DAYS_SQL).await?;
    let mut out = Vec::new();
    for r in conn.query(&stmt, &[&first_day(since_ms)]).await? {
        out.push(QualityDay {
            instrument: decode::instrument(r.get(0), r.get(1), r.get(2))?,
            timeframe: decode::timeframe(r.get(3))?,
            day_ms: r.get(4),
            expected: r.get(5),
            stored: r.get(6),
            missing: r.get(7),
            rejected: r.get(8),
            flagged: r.get(9),
            divergence_bps: r.get(10),
            fallback_share: r.get(11),
            score: r.get(12),
        });
    }
    Ok(out)
}
