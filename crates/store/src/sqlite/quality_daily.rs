//! Daily quality rows in SQLite; the rules and the score are in `model::quality`.

use std::collections::HashMap;

use candlekeep_core::Instrument;
use rusqlite::{Connection, TransactionBehavior};

use super::gaps;
use crate::model::decode;
use crate::model::quality::{DayCounts, DayKey, days, first_day};
use crate::{QualityDay, StoreError};

fn counts(conn: &Connection, sql: &str, since: i64) -> Result<HashMap<DayKey, i64>, StoreError> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map([since], |r| Ok(((r.get(0)?, r.get(1)?, r.get(2)?), r.get(3)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Computes and stores the rows of every day from `since_ms` (floored to a UTC day) to now.
pub(crate) fn refresh(conn: &mut Connection, since_ms: i64, now_ms: i64) -> Result<Vec<QualityDay>, StoreError> {
    let since = first_day(since_ms);
    let series = gaps::series(conn)?;
    let mut day_counts = DayCounts::default();
    {
        let mut stmt = conn.prepare(crate::model::statements::DAILY_SOURCE_COUNTS_SQL)?;
        let rows = stmt.query_map([since], |r| {
            Ok(((r.get(0)?, r.get(1)?, r.get(2)?), r.get(3)?, r.get(4)?))
        })?;
        for row in rows {
            let (key, source, n) = row?;
            day_counts.add_stored(key, source, n);
        }
    }
    day_counts.rejected = counts(
        conn,
        "SELECT instrument_id, timeframe, open_time / 86400000 * 86400000, COUNT(*) FROM rejects WHERE open_time >= ?1 GROUP BY 1, 2, 3",
        since,
    )?;
    day_counts.flagged = counts(
        conn,
        "SELECT instrument_id, timeframe, open_time / 86400000 * 86400000, COUNT(*) FROM flags WHERE open_time >= ?1 GROUP BY 1, 2, 3",
        since,
    )?;
    {
        let mut stmt = conn.prepare(crate::model::statements::DAILY_DIVERGENCE_SQL)?;
        let rows = stmt.query_map([since], |r| Ok(((r.get(0)?, r.get(1)?, r.get(2)?), r.get(3)?)))?;
        day_counts.divergence = rows.collect::<Result<_, _>>()?;
    }
    let names: HashMap<i64, Instrument> = {
        let mut stmt = conn.prepare("SELECT id, market, base, quote FROM instruments")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut out = HashMap::new();
        for row in rows {
            let (id, market, base, quote) = row?;
            out.insert(id, decode::instrument(&market, &base, &quote)?);
        }
        out
    };

    let rows = days(&series, &names, &day_counts, since, now_ms);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR REPLACE INTO quality (instrument_id, timeframe, day, expected, stored, missing, rejected, \
             flagged, divergence_bps, fallback_share, score, computed_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        for (id, row) in &rows {
            stmt.execute(rusqlite::params![
                id,
                row.timeframe.as_str(),
                row.day_ms,
                row.expected,
                row.stored,
                row.missing,
                row.rejected,
                row.flagged,
                row.divergence_bps,
                row.fallback_share,
                row.score,
                now_ms
            ])?;
        }
    }
    tx.commit()?;
    Ok(rows.into_iter().map(|(_, row)| row).collect())
}

/// The stored daily quality rows from `since_ms`'s day on.
pub(crate) fn stored(conn: &Connection, since_ms: i64) -> Result<Vec<QualityDay>, StoreError> {
    let mut stmt = conn.prepare_cached(crate::model::statements::QUALITY_DAYS_SQL)?;
    let mut rows = stmt.query([first_day(since_ms)])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let (market, base, quote, tf): (String, String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
        out.push(QualityDay {
            instrument: decode::instrument(&market, &base, &quote)?,
            timeframe: decode::timeframe(&tf)?,
            day_ms: r.get(4)?,
            expected: r.get(5)?,
            stored: r.get(6)?,
            missing: r.get(7)?,
            rejected: r.get(8)?,
            flagged: r.get(9)?,
            divergence_bps: r.get(10)?,
            fallback_share: r.get(11)?,
            score: r.get(12)?,
        });
    }
    Ok(out)
}
