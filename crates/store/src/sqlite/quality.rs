//! Validation on the write path: impossible bars go to `rejects` (with their values, source and
//! reason) instead of `candles`, the rest of the page is written; odd but possible bars are
//! written and flagged in `flags`.

use std::borrow::Cow;

use candlekeep_core::{
    Candle, Timeframe,
    validate::{self, FlagRules, Reject},
};
use rusqlite::Transaction;

use super::candles::{Shared, select};
use crate::model::pages::finite;
use crate::{FlagRow, RejectRow, StoreError};

/// Records rejected candles; the same row rejected again for the same reason is recorded once.
pub(crate) fn quarantine(tx: &Transaction<'_>, s: Shared<'_>, rejected: &[(Candle, Reject)]) -> Result<(), StoreError> {
    if rejected.is_empty() {
        return Ok(());
    }
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO rejects (instrument_id, timeframe, open_time, open, high, low, close, volume, \
         quote_volume, trades, source_id, reason, fetched_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    for (c, why) in rejected {
        stmt.execute(rusqlite::params![
            s.instrument_id,
            s.timeframe,
            c.open_time_ms,
            finite(c.open),
            finite(c.high),
            finite(c.low),
            finite(c.close),
            c.volume.and_then(finite),
            c.quote_volume.and_then(finite),
            c.trades.map(|t| i64::try_from(t).unwrap_or(i64::MAX)),
            s.source_id,
            why.to_string(),
            s.fetched_at_ms,
        ])?;
    }
    Ok(())
}

/// Flags the bars of `[lo, hi]` as stored now. When the range held nothing before this write
/// (`fresh`), the written candles are what is stored and only the bars just before are read.
pub(crate) fn flag(
    tx: &Transaction<'_>,
    s: Shared<'_>,
    tf: Timeframe,
    written: &[Candle],
    fresh: bool,
    rules: FlagRules,
) -> Result<u64, StoreError> {
    let (Some(first), Some(last)) = (written.first(), written.last()) else {
        return Ok(0);
    };
    let (lo, hi) = (
        first.open_time_ms.min(last.open_time_ms),
        first.open_time_ms.max(last.open_time_ms),
    );
    let context = rules.flat_run.max(1) as i64;
    let before = select(tx, s.instrument_id, tf, lo - context * tf.millis(), lo)?;
    let stored: Cow<'_, [Candle]> = if fresh {
        Cow::Borrowed(written)
    } else {
        tx.prepare_cached(crate::model::statements::CLEAR_FLAGS_SQL)?.execute((
            s.instrument_id,
            s.timeframe,
            lo,
            hi,
        ))?;
        Cow::Owned(select(tx, s.instrument_id, tf, lo, hi + 1)?)
    };
    let found = validate::flags(&before, &stored, tf, rules);
    if found.is_empty() {
        return Ok(0);
    }
    let mut stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO flags (instrument_id, timeframe, open_time, kind, detail, flagged_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (t, f) in &found {
        stmt.execute((s.instrument_id, s.timeframe, t, f.kind(), f.detail(), s.fetched_at_ms))?;
    }
    Ok(found.len() as u64)
}

pub(crate) fn rejects(conn: &rusqlite::Connection) -> Result<Vec<RejectRow>, StoreError> {
    let mut stmt = conn.prepare(crate::model::statements::REJECTS_SQL)?;
    let rows = stmt.query_map([], |r| {
        Ok(RejectRow {
            instrument_id: r.get(0)?,
            timeframe: r.get(1)?,
            open_time_ms: r.get(2)?,
            source: r.get(3)?,
            reason: r.get(4)?,
            open: r.get(5)?,
            high: r.get(6)?,
            low: r.get(7)?,
            close: r.get(8)?,
            volume: r.get(9)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every flag, in key order.
pub(crate) fn flags_list(conn: &rusqlite::Connection) -> Result<Vec<FlagRow>, StoreError> {
    let mut stmt = conn.prepare(crate::model::statements::FLAGS_SQL)?;
    let rows = stmt.query_map([], |r| {
        Ok(FlagRow {
            instrument_id: r.get(0)?,
            open_time_ms: r.get(1)?,
            kind: r.get(2)?,
            detail: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
