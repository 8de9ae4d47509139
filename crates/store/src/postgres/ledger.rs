//! The gap ledger and daily quality in PostgreSQL; the rules are in `model`.

use std::collections::HashMap;

use candlekeep_core::{GapCause, Instrument, Timeframe};
use postgres::Transaction;

use super::Conn;
use crate::model::decode;
use crate::model::gaps::{self, CurrentGap, Facts, LedgerRow, LedgerRows, RangeRow, Series, group_series};
use crate::model::quality::{DayCounts, days, first_day};
use crate::{Gap, GapRefresh, GapStatus, QualityDay, StoreError};

fn series(tx: &mut Transaction<'_>) -> Result<Vec<Series>, StoreError> {
    let rows = tx.query(gaps::SERIES_SQL, &[])?;
    group_series(rows.iter().map(|r| RangeRow {
        id: r.get(0),
        tf: r.get(1),
        range: (r.get(2), r.get(3)),
        listed_at: r.get(4),
        delisted_at: r.get(5),
    }))
}

/// The ledger's rows inside a write transaction.
struct Ledger<'a, 'b>(&'a mut Transaction<'b>);

impl LedgerRows for Ledger<'_, '_> {
    fn ledger(&mut self, id: i64, tf: Timeframe) -> Result<Vec<LedgerRow>, StoreError> {
        Ok(self
            .0
            .query(gaps::LEDGER_SQL, &[&id, &tf.as_str()])?
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

    fn mark_repaired(&mut self, id: i64, tf: Timeframe, (a, b): (i64, i64), now_ms: i64) -> Result<(), StoreError> {
        self.0
            .execute(gaps::MARK_REPAIRED_SQL, &[&id, &tf.as_str(), &a, &b, &now_ms])?;
        Ok(())
    }

    fn copy_entry(&mut self, id: i64, tf: Timeframe, (a, b): (i64, i64), (x, y): (i64, i64)) -> Result<(), StoreError> {
        self.0.execute(
            "INSERT INTO gaps (instrument_id, timeframe, start_ms, end_ms, cause, status, attempts, first_seen, updated_at) \
             SELECT instrument_id, timeframe, $5, $6, cause, status, attempts, first_seen, updated_at FROM gaps \
              WHERE instrument_id = $1 AND timeframe = $2 AND start_ms = $3 AND end_ms = $4 \
             ON CONFLICT (instrument_id, timeframe, start_ms, end_ms) DO NOTHING",
            &[&id, &tf.as_str(), &a, &b, &x, &y],
        )?;
        Ok(())
    }

    fn drop_entry(&mut self, id: i64, tf: Timeframe, (a, b): (i64, i64)) -> Result<(), StoreError> {
        self.0.execute(gaps::DROP_ENTRY_SQL, &[&id, &tf.as_str(), &a, &b])?;
        Ok(())
    }

    fn facts(&mut self, id: i64, tf: Timeframe) -> Result<Facts, StoreError> {
        let covered = self
            .0
            .query(gaps::COVERED_SQL, &[&id, &tf.as_str()])?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let notes = self
            .0
            .query(gaps::NOTES_SQL, &[&id, &tf.as_str()])?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        Ok(Facts { covered, notes })
    }

    fn put_gap(
        &mut self,
        id: i64,
        tf: Timeframe,
        g: &CurrentGap,
        cause: GapCause,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.0.execute(
            gaps::PUT_GAP_SQL,
            &[
                &id,
                &tf.as_str(),
                &g.range.0,
                &g.range.1,
                &cause.as_str(),
                &g.status.as_str(),
                &g.attempts,
                &g.first_seen,
                &now_ms,
            ],
        )?;
        Ok(())
    }
}

pub(crate) fn refresh_gaps(conn: &mut Conn, now_ms: i64) -> Result<GapRefresh, StoreError> {
    let mut tx = conn.transaction()?;
    let all = series(&mut tx)?;
    let summary = gaps::refresh(&mut Ledger(&mut tx), &all, now_ms)?;
    tx.commit()?;
    Ok(summary)
}

pub(crate) fn list(conn: &mut Conn, status: Option<GapStatus>, since_ms: i64) -> Result<Vec<Gap>, StoreError> {
    let rows = conn.query(
        "SELECT i.market, i.base, i.quote, g.timeframe, g.start_ms, g.end_ms, g.cause, g.status, g.attempts, \
                g.repaired_by, g.first_seen \
           FROM gaps g JOIN instruments i ON i.id = g.instrument_id \
          WHERE ($1::text IS NULL OR g.status = $1) AND g.end_ms > $2 \
          ORDER BY i.market, i.base, i.quote, g.timeframe, g.start_ms",
        &[&status.map(GapStatus::as_str), &since_ms],
    )?;
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

pub(crate) fn attempted(conn: &mut Conn, id: i64, gap: &Gap, unrepairable: bool) -> Result<(), StoreError> {
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
    )?;
    Ok(())
}

fn day_counts(
    tx: &mut Transaction<'_>,
    table: &str,
    since: i64,
) -> Result<HashMap<(i64, String, i64), i64>, StoreError> {
    let sql = format!(
        "SELECT instrument_id, timeframe, open_time / 86400000 * 86400000, COUNT(*) FROM {table} \
         WHERE open_time >= $1 GROUP BY 1, 2, 3"
    );
    Ok(tx
        .query(&sql, &[&since])?
        .iter()
        .map(|r| ((r.get(0), r.get(1), r.get(2)), r.get(3)))
        .collect())
}

pub(crate) fn refresh_quality(conn: &mut Conn, since_ms: i64, now_ms: i64) -> Result<Vec<QualityDay>, StoreError> {
    let since = first_day(since_ms);
    let mut tx = conn.transaction()?;
    let series = series(&mut tx)?;
    let mut counts = DayCounts::default();
    for r in tx.query(crate::model::statements::DAILY_SOURCE_COUNTS_SQL, &[&since])? {
        counts.add_stored((r.get(0), r.get(1), r.get(2)), r.get(3), r.get(4));
    }
    counts.rejected = day_counts(&mut tx, "rejects", since)?;
    counts.flagged = day_counts(&mut tx, "flags", since)?;
    counts.divergence = tx
        .query(crate::model::statements::DAILY_DIVERGENCE_SQL, &[&since])?
        .iter()
        .map(|r| ((r.get(0), r.get(1), r.get(2)), r.get(3)))
        .collect();
    let mut names: HashMap<i64, Instrument> = HashMap::new();
    for r in tx.query("SELECT id, market, base, quote FROM instruments", &[])? {
        names.insert(r.get(0), decode::instrument(r.get(1), r.get(2), r.get(3))?);
    }
    let rows = days(&series, &names, &counts, since, now_ms);
    let stmt = tx.prepare(
        "INSERT INTO quality (instrument_id, timeframe, day, expected, stored, missing, rejected, flagged, \
         divergence_bps, fallback_share, score, computed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (instrument_id, timeframe, day) DO UPDATE SET expected = excluded.expected, \
         stored = excluded.stored, missing = excluded.missing, rejected = excluded.rejected, \
         flagged = excluded.flagged, divergence_bps = excluded.divergence_bps, \
         fallback_share = excluded.fallback_share, score = excluded.score, computed_at = excluded.computed_at",
    )?;
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
        )?;
    }
    tx.commit()?;
    Ok(rows.into_iter().map(|(_, row)| row).collect())
}

/// Recomputes the stored ranges from the candles; with `repair`, rebuilds the drifted series'.
/// Writers are held off meanwhile (they merge into `stored_ranges` in their own transactions).
pub(crate) fn verify(conn: &mut Conn, repair: bool) -> Result<Vec<crate::RangeDrift>, StoreError> {
    use crate::model::verify::{CLEAR_SQL, INSERT_SQL, ISLANDS_SQL, IslandRow, RECORDED_SQL, drift};
    let mut tx = conn.transaction()?;
    if repair {
        tx.batch_execute("LOCK TABLE stored_ranges IN SHARE ROW EXCLUSIVE MODE")?;
    } else {
        tx.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
    }
    let mut read = |sql: &str| -> Result<Vec<IslandRow>, StoreError> {
        Ok(tx
            .query(sql, &[])?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6)))
            .collect())
    };
    let found = drift(read(ISLANDS_SQL)?, read(RECORDED_SQL)?)?;
    if repair {
        // Rows changed behind the store's back also leave its packed read cache stale.
        let series: Vec<(i64, candlekeep_core::Timeframe, i64, i64)> = found
            .iter()
            .map(|d| (d.instrument_id, d.timeframe, 0, i64::MAX))
            .collect();
        super::blocks::invalidate(&mut tx, &series)?;
        for d in &found {
            tx.execute(CLEAR_SQL, &[&d.instrument_id, &d.timeframe.as_str()])?;
            for (a, b) in &d.actual {
                tx.execute(INSERT_SQL, &[&d.instrument_id, &d.timeframe.as_str(), a, b])?;
            }
        }
    }
    tx.commit()?;
    Ok(found)
}
