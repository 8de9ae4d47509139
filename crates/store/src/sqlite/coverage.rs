//! Covered ranges (per source: what it has answered for) and stored ranges (where bars are):
//! merged on write; subtracted from a request to find what is left to fetch, or from a
//! lifetime to find the gaps.

use candlekeep_core::Timeframe;
use rusqlite::{Connection, Transaction};

use crate::model::pages::islands;
use crate::{StoreError, subtract_ranges};

/// Adds `[start, end)` for `source`, merging it with every overlapping or touching range.
/// The two range tables; statements keep the same parameters (?3 is the source, ignored for
/// stored ranges).
#[derive(Clone, Copy)]
pub(crate) enum Ranges {
    Covered,
    Stored,
}

impl Ranges {
    fn select(self) -> &'static str {
        match self {
            Self::Covered => crate::model::statements::COVERED_TOUCHING_SQL,
            Self::Stored => {
                "SELECT start_ms, end_ms FROM stored_ranges WHERE instrument_id = ?1 AND timeframe = ?2 \
                 AND ?3 = ?3 AND start_ms <= ?5 AND end_ms >= ?4"
            }
        }
    }

    fn delete(self) -> &'static str {
        match self {
            Self::Covered => crate::model::statements::DELETE_COVERED_TOUCHING_SQL,
            Self::Stored => {
                "DELETE FROM stored_ranges WHERE instrument_id = ?1 AND timeframe = ?2 AND ?3 = ?3 \
                 AND start_ms <= ?5 AND end_ms >= ?4"
            }
        }
    }

    fn insert(self) -> &'static str {
        match self {
            Self::Covered => {
                "INSERT INTO covered_ranges (instrument_id, timeframe, source, start_ms, end_ms) VALUES (?1, ?2, ?3, ?4, ?5)"
            }
            Self::Stored => {
                "INSERT INTO stored_ranges (instrument_id, timeframe, start_ms, end_ms) \
                 SELECT ?1, ?2, ?4, ?5 WHERE ?3 = ?3"
            }
        }
    }
}

/// Adds `[start, end)` for `source`, merging it with every overlapping or touching range.
pub(crate) fn add(
    tx: &Transaction<'_>,
    instrument_id: i64,
    tf: Timeframe,
    source: &str,
    start: i64,
    end: i64,
) -> Result<(), StoreError> {
    merge(tx, Ranges::Covered, instrument_id, tf, source, start, end)
}

/// Records that bars are stored at every open time of `open_times` (ascending).
pub(crate) fn add_stored(
    tx: &Transaction<'_>,
    instrument_id: i64,
    tf: Timeframe,
    open_times: impl Iterator<Item = i64>,
) -> Result<(), StoreError> {
    for (a, b) in islands(tf, open_times) {
        merge(tx, Ranges::Stored, instrument_id, tf, "", a, b)?;
    }
    Ok(())
}

fn merge(
    tx: &Transaction<'_>,
    table: Ranges,
    instrument_id: i64,
    tf: Timeframe,
    source: &str,
    start: i64,
    end: i64,
) -> Result<(), StoreError> {
    if end <= start {
        return Ok(());
    }
    let (mut lo, mut hi) = (start, end);
    {
        let mut stmt = tx.prepare_cached(table.select())?;
        let rows = stmt.query_map((instrument_id, tf.as_str(), source, start, end), |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (a, b) = row?;
            lo = lo.min(a);
            hi = hi.max(b);
        }
    }
    tx.prepare_cached(table.delete())?
        .execute((instrument_id, tf.as_str(), source, start, end))?;
    tx.prepare_cached(table.insert())?
        .execute((instrument_id, tf.as_str(), source, lo, hi))?;
    Ok(())
}

/// Parts of `[from, to)` that `source` has not covered.
pub(crate) fn uncovered(
    conn: &Connection,
    instrument_id: i64,
    tf: Timeframe,
    source: &str,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(crate::model::statements::COVERED_OVERLAPPING_SQL)?;
    let covered = stmt
        .query_map((instrument_id, tf.as_str(), source, from, to), |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(subtract_ranges(from, to, &covered))
}

pub(crate) fn latest(conn: &Connection, instrument_id: i64, tf: Timeframe) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached(crate::model::statements::LATEST_COVERED_SQL)?
        .query_row((instrument_id, tf.as_str()), |r| r.get(0))?)
}
