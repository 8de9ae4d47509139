//! The gap ledger in SQLite; its rules are in `model::gaps`.

use candlekeep_core::{GapCause, Timeframe};
use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::model::decode;
use crate::model::gaps::{self, CurrentGap, Facts, LedgerRow, LedgerRows, RangeRow, Series, group_series};
use crate::{Gap, GapRefresh, GapStatus, StoreError};

pub(crate) fn series(conn: &Connection) -> Result<Vec<Series>, StoreError> {
    let mut stmt = conn.prepare(gaps::SERIES_SQL)?;
    let rows = stmt.query_map([], |r| {
        Ok(RangeRow {
            id: r.get(0)?,
            tf: r.get(1)?,
            range: (r.get(2)?, r.get(3)?),
            listed_at: r.get(4)?,
            delisted_at: r.get(5)?,
            horizon: r.get(6)?,
        })
    })?;
    group_series(rows.collect::<Result<Vec<_>, _>>()?)
}

/// The ledger's rows inside a write transaction.
struct Ledger<'a>(&'a Transaction<'a>);

impl LedgerRows for Ledger<'_> {
    fn ledger(&mut self, id: i64, tf: Timeframe) -> Result<Vec<LedgerRow>, StoreError> {
        Ok(self
            .0
            .prepare_cached(gaps::LEDGER_SQL)?
            .query_map((id, tf.as_str()), |r| {
                let status: String = r.get(2)?;
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    GapStatus::parse(&status).unwrap_or(GapStatus::Open),
                    r.get(3)?,
                    r.get(4)?,
                ))
            })?
            .collect::<Result<_, _>>()?)
    }

    fn mark_repaired(&mut self, id: i64, tf: Timeframe, (a, b): (i64, i64), now_ms: i64) -> Result<(), StoreError> {
        self.0
            .prepare_cached(gaps::MARK_REPAIRED_SQL)?
            .execute((id, tf.as_str(), a, b, now_ms))?;
        Ok(())
    }

    fn copy_entry(&mut self, id: i64, tf: Timeframe, (a, b): (i64, i64), (x, y): (i64, i64)) -> Result<(), StoreError> {
        self.0
            .prepare_cached(
                "INSERT INTO gaps (instrument_id, timeframe, start_ms, end_ms, cause, status, attempts, first_seen, updated_at) \
                 SELECT instrument_id, timeframe, ?5, ?6, cause, status, attempts, first_seen, updated_at FROM gaps \
                  WHERE instrument_id = ?1 AND timeframe = ?2 AND start_ms = ?3 AND end_ms = ?4 \
                 ON CONFLICT (instrument_id, timeframe, start_ms, end_ms) DO NOTHING",
            )?
            .execute((id, tf.as_str(), a, b, x, y))?;
        Ok(())
    }

    fn drop_entry(&mut self, id: i64, tf: Timeframe, (a, b): (i64, i64)) -> Result<(), StoreError> {
        self.0
            .prepare_cached(gaps::DROP_ENTRY_SQL)?
            .execute((id, tf.as_str(), a, b))?;
        Ok(())
    }

    fn facts(&mut self, id: i64, tf: Timeframe) -> Result<Facts, StoreError> {
        let covered = self
            .0
            .prepare_cached(gaps::COVERED_SQL)?
            .query_map((id, tf.as_str()), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        let notes = self
            .0
            .prepare_cached(gaps::NOTES_SQL)?
            .query_map((id, tf.as_str()), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?;
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
        self.0.prepare_cached(gaps::PUT_GAP_SQL)?.execute((
            id,
            tf.as_str(),
            g.range.0,
            g.range.1,
            cause.as_str(),
            g.status.as_str(),
            g.attempts,
            g.first_seen,
            now_ms,
        ))?;
        Ok(())
    }
}

pub(crate) fn refresh(conn: &mut Connection, now_ms: i64) -> Result<GapRefresh, StoreError> {
    // The series are read inside the write transaction, as on PostgreSQL: a write landing
    // between the read and the refresh cannot leave the ledger behind the stored ranges.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let all = series(&tx)?;
    let summary = gaps::refresh(&mut Ledger(&tx), &all, now_ms)?;
    tx.commit()?;
    Ok(summary)
}

pub(crate) fn list(conn: &Connection, status: Option<GapStatus>, since_ms: i64) -> Result<Vec<Gap>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT i.market, i.base, i.quote, g.timeframe, g.start_ms, g.end_ms, g.cause, g.status, g.attempts, \
                g.repaired_by, g.first_seen \
           FROM gaps g JOIN instruments i ON i.id = g.instrument_id \
          WHERE (?1 IS NULL OR g.status = ?1) AND g.end_ms > ?2 \
          ORDER BY i.market, i.base, i.quote, g.timeframe, g.start_ms",
    )?;
    let mut rows = stmt.query((status.map(GapStatus::as_str), since_ms))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let (market, base, quote, tf): (String, String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
        let status: String = r.get(7)?;
        out.push(Gap {
            instrument: decode::instrument(&market, &base, &quote)?,
            timeframe: decode::timeframe(&tf)?,
            start_ms: r.get(4)?,
            end_ms: r.get(5)?,
            cause: decode::gap_cause(&r.get::<_, String>(6)?)?,
            status: GapStatus::parse(&status)
                .ok_or_else(|| StoreError::Corrupt(format!("gap status {status:?} in {market}:{base}{quote} {tf}")))?,
            attempts: r.get(8)?,
            repaired_by: r.get(9)?,
            first_seen_ms: r.get(10)?,
        });
    }
    Ok(out)
}

pub(crate) fn attempted(
    conn: &Connection,
    id: i64,
    gap: &Gap,
    unrepairable: bool,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(crate::model::statements::GAP_ATTEMPTED_SQL)?
        .execute((
            unrepairable,
            now_ms,
            id,
            gap.timeframe.as_str(),
            gap.start_ms,
            gap.end_ms,
        ))?;
    Ok(())
}

/// Recomputes the stored ranges from the candles; with `repair`, rebuilds the drifted series'.
pub(crate) fn verify(conn: &mut Connection, repair: bool) -> Result<Vec<crate::RangeDrift>, StoreError> {
    use crate::model::verify::{CLEAR_SQL, INSERT_SQL, ISLANDS_SQL, IslandRow, RECORDED_SQL, drift};
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let read = |sql: &str| -> Result<Vec<IslandRow>, StoreError> {
        let mut stmt = tx.prepare(sql)?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    };
    let found = drift(read(ISLANDS_SQL)?, read(RECORDED_SQL)?)?;
    if repair {
        for d in &found {
            tx.execute(CLEAR_SQL, (d.instrument_id, d.timeframe.as_str()))?;
            for &(a, b) in &d.actual {
                tx.execute(INSERT_SQL, (d.instrument_id, d.timeframe.as_str(), a, b))?;
            }
        }
    }
    tx.commit()?;
    Ok(found)
}
