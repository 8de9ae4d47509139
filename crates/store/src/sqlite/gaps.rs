//! The gap ledger. Gaps are the complement of `stored_ranges` within a series' listed lifetime:
//! a query over a few ranges per series, never a walk over hours.

use std::collections::HashMap;

use candlekeep_core::Timeframe;
use rusqlite::{Connection, OptionalExtension, Transaction};

use super::status;
use crate::{Gap, GapRefresh, GapStatus, StoreError, subtract_ranges};

/// One stored series, its lifetime start (earliest listing, if known) and its stored ranges.
pub(crate) struct Series {
    pub id: i64,
    pub tf: Timeframe,
    listed_at: Option<i64>,
    /// Every listing of it is delisted; the latest delisting ends its lifetime.
    delisted_at: Option<i64>,
    islands: Vec<(i64, i64)>,
}

impl Series {
    /// `[start, end)`: from the earliest listing (or the first stored bar) to the newest closed
    /// bar, or to the last delisting when every listing is delisted.
    pub fn lifetime(&self, now_ms: i64) -> (i64, i64) {
        let tf = self.tf;
        let first = self.islands.first().map_or(0, |i| i.0);
        let start = self.listed_at.map_or(first, |l| tf.ceil(l).min(first));
        let end = self.delisted_at.map_or(tf.floor(now_ms), |d| tf.ceil(d)).max(start);
        (start, end)
    }
}

pub(crate) fn series(conn: &Connection) -> Result<Vec<Series>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT r.instrument_id, r.timeframe, r.start_ms, r.end_ms, \
                (SELECT MIN(l.listed_at) FROM listings l WHERE l.base = i.base AND l.quote = i.quote AND l.market = i.market), \
                (SELECT CASE WHEN COUNT(*) > 0 AND COUNT(l.delisted_at) = COUNT(*) THEN MAX(l.delisted_at) END \
                   FROM listings l WHERE l.base = i.base AND l.quote = i.quote AND l.market = i.market) \
           FROM stored_ranges r JOIN instruments i ON i.id = r.instrument_id \
          ORDER BY r.instrument_id, r.timeframe, r.start_ms",
    )?;
    let mut rows = stmt.query([])?;
    let mut out: Vec<Series> = Vec::new();
    while let Some(r) = rows.next()? {
        let (id, tf_name): (i64, String) = (r.get(0)?, r.get(1)?);
        let island = (r.get::<_, i64>(2)?, r.get::<_, i64>(3)?);
        if let Some(last) = out.last_mut().filter(|s| s.id == id && s.tf.as_str() == tf_name) {
            last.islands.push(island);
            continue;
        }
        out.push(Series {
            id,
            tf: tf_name
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("unknown timeframe {tf_name:?} in stored_ranges")))?,
            listed_at: r.get(4)?,
            delisted_at: r.get(5)?,
            islands: vec![island],
        });
    }
    Ok(out)
}

/// What some source has answered for in `[from, to)`, merged over all sources.
fn covered(conn: &Connection, id: i64, tf: Timeframe, from: i64, to: i64) -> Result<Vec<(i64, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT start_ms, end_ms FROM covered_ranges WHERE instrument_id = ?1 AND timeframe = ?2 \
         AND start_ms < ?4 AND end_ms > ?3",
    )?;
    let ranges = stmt
        .query_map((id, tf.as_str(), from, to), |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<(i64, i64)>, _>>()?;
    // Covered = the complement of the complement.
    Ok(subtract_ranges(from, to, &subtract_ranges(from, to, &ranges)))
}

/// Ranges in `[a, b)` where `source` (any, when `None`) left `note`.
fn noted(
    conn: &Connection,
    id: i64,
    tf: Timeframe,
    (a, b): (i64, i64),
    note: &str,
    source: Option<&str>,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT start_ms, end_ms FROM coverage_notes WHERE instrument_id = ?1 AND timeframe = ?2 AND note = ?3 \
         AND (?4 IS NULL OR source = ?4) AND start_ms < ?6 AND end_ms > ?5",
    )?;
    let rows = stmt.query_map((id, tf.as_str(), note, source, a, b), |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn all_of(gap: (i64, i64), ranges: &[(i64, i64)]) -> bool {
    subtract_ranges(gap.0, gap.1, ranges).is_empty()
}

/// Why a gap is there, from what the sources said:
/// - `no-trades`: a source said nothing traded in any of its hours;
/// - `not-listed-yet`: before every listing the universe knows, or a source said the pair did
///   not exist yet;
/// - `fetch-error`: some of its hours no source has answered for (never asked, or every source
///   failed);
/// - `provider-history-cap`: every source that answered for all of it only said "beyond my
///   history";
/// - `venue-outage`: sources answered for it and had no bars.
fn cause(conn: &Connection, s: &Series, gap: (i64, i64)) -> Result<&'static str, StoreError> {
    let (id, tf) = (s.id, s.tf);
    if all_of(gap, &noted(conn, id, tf, gap, "no-trades", None)?) {
        return Ok("no-trades");
    }
    if s.listed_at.is_some_and(|l| gap.1 <= l) || all_of(gap, &noted(conn, id, tf, gap, "not-listed", None)?) {
        return Ok("not-listed-yet");
    }
    if !all_of(gap, &covered(conn, id, tf, gap.0, gap.1)?) {
        return Ok("fetch-error");
    }
    let sources: Vec<String> = conn
        .prepare_cached(
            "SELECT DISTINCT source FROM covered_ranges WHERE instrument_id = ?1 AND timeframe = ?2 \
             AND start_ms <= ?3 AND end_ms >= ?4",
        )?
        .query_map((id, tf.as_str(), gap.0, gap.1), |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut capped = 0;
    for source in &sources {
        if all_of(gap, &noted(conn, id, tf, gap, "history-cap", Some(source))?) {
            capped += 1;
        }
    }
    Ok(if !sources.is_empty() && capped == sources.len() {
        "provider-history-cap"
    } else {
        "venue-outage"
    })
}

/// The source of most stored bars in `[a, b)`.
fn main_source(tx: &Transaction<'_>, id: i64, tf: Timeframe, (a, b): (i64, i64)) -> Result<Option<String>, StoreError> {
    Ok(tx
        .prepare_cached(
            "SELECT s.name FROM candles c JOIN sources s ON s.id = c.source_id WHERE c.instrument_id = ?1 \
             AND c.timeframe = ?2 AND c.open_time >= ?3 AND c.open_time < ?4 \
             GROUP BY c.source_id ORDER BY COUNT(*) DESC, s.name LIMIT 1",
        )?
        .query_row((id, tf.as_str(), a, b), |r| r.get(0))
        .optional()?)
}

fn intersect(a: (i64, i64), ranges: &[(i64, i64)]) -> Vec<(i64, i64)> {
    ranges
        .iter()
        .map(|&(s, e)| (s.max(a.0), e.min(a.1)))
        .filter(|(s, e)| s < e)
        .collect()
}

pub(crate) fn refresh(conn: &mut Connection, now_ms: i64) -> Result<GapRefresh, StoreError> {
    let all = series(conn)?;
    let tx = conn.transaction()?;
    let mut summary = GapRefresh {
        series: all.len() as u64,
        ..GapRefresh::default()
    };
    for s in &all {
        let (id, tf) = (s.id, s.tf);
        let (start, end) = s.lifetime(now_ms);
        let current = subtract_ranges(start, end, &s.islands);

        // The ledger's open and unrepairable gaps of this series.
        let ledger: Vec<(i64, i64, String, i64, i64)> = tx
            .prepare_cached(
                "SELECT start_ms, end_ms, status, attempts, first_seen FROM gaps WHERE instrument_id = ?1 \
                 AND timeframe = ?2 AND status <> 'repaired'",
            )?
            .query_map((id, tf.as_str()), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut known: HashMap<(i64, i64), (GapStatus, i64, i64)> = HashMap::new();
        for (a, b, status, attempts, first_seen) in ledger {
            let status = GapStatus::parse(&status).unwrap_or(GapStatus::Open);
            let remaining = intersect((a, b), &current);
            if remaining == [(a, b)] {
                known.insert((a, b), (status, attempts, first_seen));
                continue;
            }
            // Filled, wholly or in part: the entry is repaired; what is still missing is carried.
            let by = main_source(&tx, id, tf, (a, b))?;
            tx.prepare_cached(
                "UPDATE gaps SET status = 'repaired', repaired_by = ?5, updated_at = ?6 WHERE instrument_id = ?1 \
                 AND timeframe = ?2 AND start_ms = ?3 AND end_ms = ?4",
            )?
            .execute((id, tf.as_str(), a, b, by, now_ms))?;
            summary.repaired += 1;
            for part in remaining {
                known.insert(part, (GapStatus::Open, attempts, first_seen));
            }
        }
        for &(a, b) in &current {
            let cause = cause(&tx, s, (a, b))?;
            let (status, attempts, first_seen, new) = match known.get(&(a, b)) {
                Some(&(status, attempts, first_seen)) => (status, attempts, first_seen, false),
                None => (GapStatus::Open, 0, now_ms, true),
            };
            tx.prepare_cached(
                "INSERT INTO gaps (instrument_id, timeframe, start_ms, end_ms, cause, status, attempts, first_seen, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (instrument_id, timeframe, start_ms, end_ms) \
                 DO UPDATE SET cause = excluded.cause, status = excluded.status, attempts = excluded.attempts, \
                 updated_at = excluded.updated_at",
            )?
            .execute((id, tf.as_str(), a, b, cause, status.as_str(), attempts, first_seen, now_ms))?;
            if new {
                summary.new += 1;
            }
            if status == GapStatus::Open {
                summary.open += 1;
                summary.open_bars += tf.bars_between(a, b);
            }
        }
    }
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
            instrument: status::instrument(&market, &base, &quote)?,
            timeframe: status::timeframe(&tf)?,
            start_ms: r.get(4)?,
            end_ms: r.get(5)?,
            cause: r.get(6)?,
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
    conn.prepare_cached(
        "UPDATE gaps SET attempts = attempts + 1, status = CASE WHEN ?5 THEN 'unrepairable' ELSE status END, \
         updated_at = ?6 WHERE instrument_id = ?1 AND timeframe = ?2 AND start_ms = ?3 AND end_ms = ?4 AND status = 'open'",
    )?
    .execute((id, gap.timeframe.as_str(), gap.start_ms, gap.end_ms, unrepairable, now_ms))?;
    Ok(())
}
