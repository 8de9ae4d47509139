//! The write path: candles through binary `COPY`, straight into the table where nothing is stored
//! yet in a page's range, else into the session's staging table and one `INSERT … ON CONFLICT`, with the same rules as SQLite: a bar identical to the stored
//! one is not rewritten, a revised one replaces it only when the stored bar's source may be
//! replaced (the priority mask), and bars of two sources are compared into `cross_checks`.
//!
//! A write locks the rows of the instruments it touches first (in id order), so two workers
//! writing the same series take turns and the range tables stay merged.
//!
//! A write transaction the server aborts only to resolve a conflict with another (a deadlock with
//! TimescaleDB's compression job or another worker, a serialization failure) is run again whole,
//! a few times with a growing wait ([`retrying`]): such an abort is routine under concurrency,
//! never a reason to end a backfill.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use candlekeep_core::{Candle, MarketPoint, Provenance, SourceId, Timeframe, validate};
use postgres::Transaction;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::error::SqlState;
use postgres::types::{ToSql, Type};

use super::{Conn, PgStore, blocks, read};
use crate::model::pages::{NEIGHBOURS_SQL, finite, islands, screen_moves, span, split};
use crate::model::summary::{compare, may_replace};
use crate::ranges::union_ranges;
use crate::{PageWrite, Replace, StoreError, WriteStats};

/// Attempts of one write transaction before a conflict the server keeps resolving against it is
/// reported.
const ATTEMPTS: u32 = 5;
/// The wait before the second attempt; it doubles for each one after.
const FIRST_BACKOFF: Duration = Duration::from_millis(20);

impl StoreError {
    /// The server rolled the transaction back only to resolve a conflict with another one (a
    /// deadlock, `40P01`, or a serialization failure, `40001`): the same transaction, run again,
    /// may well succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Postgres(e) => e.code().is_some_and(retryable_state),
            _ => false,
        }
    }
}

fn retryable_state(code: &SqlState) -> bool {
    *code == SqlState::T_R_DEADLOCK_DETECTED || *code == SqlState::T_R_SERIALIZATION_FAILURE
}

/// Runs `attempt`, one whole transaction, until it succeeds, fails in a way that is not
/// `retryable`, or has failed [`ATTEMPTS`] times (the last error is returned). Between attempts
/// it waits with `sleep`, twice as long each time, plus up to as much again chosen from the
/// clock: writers that deadlocked with each other then do not meet again at the same instant.
fn retrying<T, E>(
    retryable: impl Fn(&E) -> bool,
    mut sleep: impl FnMut(Duration),
    mut attempt: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    let mut backoff = FIRST_BACKOFF;
    let mut tries = 1;
    loop {
        match attempt() {
            Err(e) if tries < ATTEMPTS && retryable(&e) => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
                sleep(backoff + backoff.mul_f64(f64::from(nanos % 1_000) / 1_000.0));
                backoff *= 2;
                tries += 1;
            }
            outcome => return outcome,
        }
    }
}

/// Session settings of every connection a store holds; writes nothing.
pub(crate) fn prepare_session(conn: &mut Conn) -> Result<(), StoreError> {
    conn.batch_execute("SET client_min_messages = warning")?;
    Ok(())
}

/// Creates the session's staging table before its first write. Not at open: creating a table,
/// even a temporary one, is a write, which a role that may only read (or a standby) may not do.
/// The table lives as long as the session and empties itself at every commit.
fn prepare_staging(store: &mut PgStore) -> Result<(), StoreError> {
    if !store.staging {
        store.conn.batch_execute(
            "CREATE TEMP TABLE IF NOT EXISTS candles_in (LIKE candles INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
        )?;
        store.staging = true;
    }
    Ok(())
}

const COLUMNS: &str =
    "instrument_id, timeframe, open_time, open, high, low, close, volume, quote_volume, trades, source_id, fetched_at";

const TYPES: [Type; 12] = [
    Type::INT8,
    Type::TEXT,
    Type::INT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
];

/// What every row of one page shares.
#[derive(Clone, Copy)]
struct Shared<'a> {
    instrument_id: i64,
    timeframe: &'a str,
    source_id: i64,
    fetched_at_ms: i64,
    /// Bit `n` set: a stored bar of source id `n` may be replaced; -1 ("any") keeps an identical
    /// bar's first provenance.
    replace_mask: i64,
}

/// Streams rows into `table` (the staging table, or `candles` itself for fresh pages).
fn copy_in<'p>(
    tx: &mut Transaction<'_>,
    table: &str,
    rows: impl Iterator<Item = (Shared<'p>, &'p Candle)>,
) -> Result<(), StoreError> {
    let sink = tx.copy_in(&format!("COPY {table} ({COLUMNS}) FROM STDIN BINARY"))?;
    let mut writer = BinaryCopyInWriter::new(sink, &TYPES);
    for (s, c) in rows {
        let trades = c.trades.map(|t| i64::try_from(t).unwrap_or(i64::MAX));
        let row: [&(dyn ToSql + Sync); 12] = [
            &s.instrument_id,
            &s.timeframe,
            &c.open_time_ms,
            &c.open,
            &c.high,
            &c.low,
            &c.close,
            &c.volume,
            &c.quote_volume,
            &trades,
            &s.source_id,
            &s.fetched_at_ms,
        ];
        writer.write(&row)?;
    }
    writer.finish()?;
    Ok(())
}

const UPSERT: &str = "INSERT INTO candles AS c (instrument_id, timeframe, open_time, open, high, low, close, volume, \
    quote_volume, trades, source_id, fetched_at) SELECT instrument_id, timeframe, open_time, open, high, low, close, \
    volume, quote_volume, trades, source_id, fetched_at FROM candles_in \
    ON CONFLICT (instrument_id, timeframe, open_time) DO UPDATE SET open = excluded.open, high = excluded.high, \
    low = excluded.low, close = excluded.close, volume = excluded.volume, quote_volume = excluded.quote_volume, \
    trades = excluded.trades, source_id = excluded.source_id, fetched_at = excluded.fetched_at \
    WHERE (($1::bigint >> c.source_id::int) & 1) = 1 AND (c.open IS DISTINCT FROM excluded.open \
    OR c.high IS DISTINCT FROM excluded.high OR c.low IS DISTINCT FROM excluded.low \
    OR c.close IS DISTINCT FROM excluded.close OR c.volume IS DISTINCT FROM excluded.volume \
    OR c.quote_volume IS DISTINCT FROM excluded.quote_volume OR c.trades IS DISTINCT FROM excluded.trades \
    OR ($1::bigint <> -1 AND c.source_id <> excluded.source_id))";

/// One page after validation.
struct Prepared<'a> {
    shared: Shared<'a>,
    tf: Timeframe,
    valid: Vec<Candle>,
    /// Nothing was stored in its range before this write (and no earlier page of the same write
    /// overlaps it): plain inserts.
    fresh: bool,
    stats: WriteStats,
}

pub(crate) fn write_pages(store: &mut PgStore, pages: &[PageWrite<'_>]) -> Result<Vec<WriteStats>, StoreError> {
    let mut masks = Vec::with_capacity(pages.len());
    for p in pages {
        let source_id = store.source_id(p.provenance.source)?;
        let mask = match p.replace {
            Replace::Any => -1,
            Replace::Outranked(sources) => {
                let mut mask = 1i64 << source_id;
                for s in sources {
                    mask |= 1i64 << store.source_id(*s)?;
                }
                mask
            }
        };
        masks.push((source_id, mask));
    }
    prepare_staging(store)?;
    let rules = store.flag_rules;
    retrying(StoreError::is_retryable, std::thread::sleep, || {
        write_once(&mut store.conn, pages, &masks, rules)
    })
}

/// One attempt at the transaction of [`write_pages`]: everything it writes, from the instrument
/// locks to the commit. `masks` are each page's source id and replace mask.
fn write_once(
    conn: &mut Conn,
    pages: &[PageWrite<'_>],
    masks: &[(i64, i64)],
    rules: validate::FlagRules,
) -> Result<Vec<WriteStats>, StoreError> {
    let now = candlekeep_core::time::now_ms();
    let mut tx = conn.transaction()?;
    let mut ids: Vec<i64> = pages.iter().map(|p| p.instrument_id).collect();
    ids.sort_unstable();
    ids.dedup();
    tx.query(
        "SELECT id FROM instruments WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        &[&ids],
    )?;

    let mut prepared = Vec::with_capacity(pages.len());
    for (p, &(source_id, replace_mask)) in pages.iter().zip(masks) {
        let shared = Shared {
            instrument_id: p.instrument_id,
            timeframe: p.timeframe.as_str(),
            source_id,
            fetched_at_ms: p.provenance.fetched_at_ms,
            replace_mask,
        };
        let (valid, mut rejected) = split(p.candles, p.timeframe, now);
        let neighbours = match span(&valid) {
            Some((lo, hi)) => tx
                .query(NEIGHBOURS_SQL, &[&p.instrument_id, &p.timeframe.as_str(), &lo, &hi])?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect(),
            None => Vec::new(),
        };
        let valid = screen_moves(valid, &neighbours, rules.max_move_ratio, &mut rejected);
        quarantine(&mut tx, shared, &rejected)?;
        let mut valid = valid.into_owned();
        let sorted = valid.windows(2).all(|w| w[0].open_time_ms < w[1].open_time_ms);
        if !sorted {
            // One statement may not touch a row twice: the last of equal open times wins, as
            // writing them one after the other would.
            let mut by_time: BTreeMap<i64, Candle> = BTreeMap::new();
            for c in valid {
                by_time.insert(c.open_time_ms, c);
            }
            valid = by_time.into_values().collect();
        }
        prepared.push(Prepared {
            shared,
            tf: p.timeframe,
            valid,
            fresh: sorted,
            stats: WriteStats {
                rejected: rejected.len() as u64,
                ..WriteStats::default()
            },
        });
    }
    mark_stored_ranges(&mut tx, &mut prepared)?;
    let written: Vec<(i64, Timeframe, i64, i64)> = prepared
        .iter()
        .filter_map(|p| {
            Some((
                p.shared.instrument_id,
                p.tf,
                p.valid.first()?.open_time_ms,
                p.valid.last()?.open_time_ms,
            ))
        })
        .collect();
    blocks::invalidate(&mut tx, &written)?;

    // Fresh pages: one COPY straight into the table. Nothing is stored in their ranges and the
    // instruments are locked, so no row can meet a stored one (if one did, the key would refuse
    // it and the whole write would roll back).
    if prepared.iter().any(|p| p.fresh && !p.valid.is_empty()) {
        copy_in(
            &mut tx,
            "candles",
            prepared
                .iter()
                .filter(|p| p.fresh)
                .flat_map(|p| p.valid.iter().map(move |c| (p.shared, c))),
        )?;
        for p in prepared.iter_mut().filter(|p| p.fresh) {
            p.stats.written = p.valid.len() as u64;
        }
    }
    // The others one by one, in order: cross-checks against what is stored, then the upsert.
    for p in prepared.iter_mut().filter(|p| !p.fresh && !p.valid.is_empty()) {
        p.stats.cross_checked = cross_check(&mut tx, p.shared, &p.valid)?;
        copy_in(&mut tx, "candles_in", p.valid.iter().map(|c| (p.shared, c)))?;
        p.stats.written = tx.execute(UPSERT, &[&p.shared.replace_mask])?;
        tx.execute("DELETE FROM candles_in", &[])?;
        p.stats.unchanged = p.valid.len() as u64 - p.stats.written;
    }
    let mut flagged = Vec::with_capacity(prepared.len());
    for p in &prepared {
        flagged.push(flag(&mut tx, p, rules)?);
    }

    // Stored ranges per series and covered ranges per series and source, merged once each.
    let mut stored: HashMap<(i64, Timeframe), Vec<(i64, i64)>> = HashMap::new();
    for p in &prepared {
        stored
            .entry((p.shared.instrument_id, p.tf))
            .or_default()
            .extend(islands(p.tf, p.valid.iter().map(|c| c.open_time_ms)));
    }
    for ((id, tf), ranges) in stored {
        merge(&mut tx, Ranges::Stored, id, tf, "", ranges)?;
    }
    let mut covered: HashMap<(i64, Timeframe, SourceId), Vec<(i64, i64)>> = HashMap::new();
    for p in pages {
        if let Some(range) = p.covered {
            covered
                .entry((p.instrument_id, p.timeframe, p.provenance.source))
                .or_default()
                .push(range);
        }
    }
    for ((id, tf, source), ranges) in covered {
        merge(&mut tx, Ranges::Covered, id, tf, source.as_str(), ranges)?;
    }
    tx.commit()?;
    Ok(prepared
        .into_iter()
        .zip(flagged)
        .map(|(p, flagged)| WriteStats { flagged, ..p.stats })
        .collect())
}

/// Marks pages whose range already holds bars (or overlaps an earlier page of the same series in
/// this write) as not fresh: they go through the upsert.
fn mark_stored_ranges(tx: &mut Transaction<'_>, pages: &mut [Prepared<'_>]) -> Result<(), StoreError> {
    let mut seen: HashMap<(i64, Timeframe), Vec<(i64, i64)>> = HashMap::new();
    let (mut idx, mut iid, mut tfs, mut lo, mut hi) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (k, p) in pages.iter_mut().enumerate() {
        let (Some(first), Some(last)) = (p.valid.first(), p.valid.last()) else {
            continue;
        };
        let range = (first.open_time_ms, last.open_time_ms);
        let earlier = seen.entry((p.shared.instrument_id, p.tf)).or_default();
        if earlier.iter().any(|(a, b)| *a <= range.1 && range.0 <= *b) {
            p.fresh = false;
        }
        earlier.push(range);
        if p.fresh {
            idx.push(k as i64);
            iid.push(p.shared.instrument_id);
            tfs.push(p.shared.timeframe);
            lo.push(range.0);
            hi.push(range.1);
        }
    }
    if idx.is_empty() {
        return Ok(());
    }
    let rows = tx.query(
        "SELECT p.k FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[]) AS p(k, iid, tf, lo, hi) \
         WHERE EXISTS (SELECT 1 FROM candles c WHERE c.instrument_id = p.iid AND c.timeframe = p.tf \
                       AND c.open_time BETWEEN p.lo AND p.hi)",
        &[&idx, &iid, &tfs, &lo, &hi],
    )?;
    for row in rows {
        let k: i64 = row.get(0);
        if let Some(p) = pages.get_mut(k as usize) {
            p.fresh = false;
        }
    }
    Ok(())
}

/// Records each pair of an incoming bar and the stored bar of another source at the same time.
fn cross_check(tx: &mut Transaction<'_>, s: Shared<'_>, candles: &[Candle]) -> Result<u64, StoreError> {
    let (Some(first), Some(last)) = (candles.first(), candles.last()) else {
        return Ok(0);
    };
    let stored: HashMap<i64, (i64, f64, Option<f64>)> = tx
        .query(
            crate::model::statements::STORED_FOR_CROSS_CHECK_SQL,
            &[
                &s.instrument_id,
                &s.timeframe,
                &first.open_time_ms,
                &last.open_time_ms,
                &s.source_id,
            ],
        )?
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
        .collect();
    if stored.is_empty() {
        return Ok(0);
    }
    let insert = tx.prepare(
        "INSERT INTO cross_checks (instrument_id, timeframe, open_time, kept_source_id, other_source_id, \
         close_diff_bps, volume_ratio, checked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (instrument_id, timeframe, open_time, kept_source_id, other_source_id) DO UPDATE SET \
         close_diff_bps = excluded.close_diff_bps, volume_ratio = excluded.volume_ratio, checked_at = excluded.checked_at",
    )?;
    let mut n = 0;
    for c in candles {
        let Some(&bar) = stored.get(&c.open_time_ms) else {
            continue;
        };
        let replaces = may_replace(s.replace_mask, bar.0);
        let (kept, other, diff_bps, ratio) = compare(s.source_id, c, bar, replaces);
        tx.execute(
            &insert,
            &[
                &s.instrument_id,
                &s.timeframe,
                &c.open_time_ms,
                &kept,
                &other,
                &diff_bps,
                &ratio,
                &s.fetched_at_ms,
            ],
        )?;
        n += 1;
    }
    Ok(n)
}

fn quarantine(
    tx: &mut Transaction<'_>,
    s: Shared<'_>,
    rejected: &[(Candle, validate::Reject)],
) -> Result<(), StoreError> {
    if rejected.is_empty() {
        return Ok(());
    }
    let insert = tx.prepare(
        "INSERT INTO rejects (instrument_id, timeframe, open_time, open, high, low, close, volume, quote_volume, \
         trades, source_id, reason, fetched_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT DO NOTHING",
    )?;
    for (c, why) in rejected {
        let trades = c.trades.map(|t| i64::try_from(t).unwrap_or(i64::MAX));
        tx.execute(
            &insert,
            &[
                &s.instrument_id,
                &s.timeframe,
                &c.open_time_ms,
                &finite(c.open),
                &finite(c.high),
                &finite(c.low),
                &finite(c.close),
                &c.volume.and_then(finite),
                &c.quote_volume.and_then(finite),
                &trades,
                &s.source_id,
                &why.to_string(),
                &s.fetched_at_ms,
            ],
        )?;
    }
    Ok(())
}

/// Flags the page's range as stored now (see the SQLite backend's `quality::flag`).
fn flag(tx: &mut Transaction<'_>, p: &Prepared<'_>, rules: validate::FlagRules) -> Result<u64, StoreError> {
    let (Some(first), Some(last)) = (p.valid.first(), p.valid.last()) else {
        return Ok(0);
    };
    let (lo, hi) = (first.open_time_ms, last.open_time_ms);
    let (id, tf) = (p.shared.instrument_id, p.tf);
    let context = rules.flat_run.max(1) as i64;
    let before = read::candles_in(tx, id, tf, lo - context * tf.millis(), lo)?;
    let stored = if p.fresh {
        std::borrow::Cow::Borrowed(&p.valid[..])
    } else {
        tx.execute(
            crate::model::statements::CLEAR_FLAGS_SQL,
            &[&id, &p.shared.timeframe, &lo, &hi],
        )?;
        std::borrow::Cow::Owned(read::candles_in(tx, id, tf, lo, hi + 1)?)
    };
    let found = validate::flags(&before, &stored, tf, rules);
    for (t, f) in &found {
        tx.execute(
            "INSERT INTO flags (instrument_id, timeframe, open_time, kind, detail, flagged_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (instrument_id, timeframe, open_time, kind) \
             DO UPDATE SET detail = excluded.detail, flagged_at = excluded.flagged_at",
            &[
                &id,
                &p.shared.timeframe,
                t,
                &f.kind(),
                &f.detail(),
                &p.shared.fetched_at_ms,
            ],
        )?;
    }
    Ok(found.len() as u64)
}

#[derive(Clone, Copy)]
enum Ranges {
    Covered,
    Stored,
}

/// Merges `ranges` into a series' stored ranges (or one source's covered ranges): every stored
/// range they overlap or touch is replaced by the union.
fn merge(
    tx: &mut Transaction<'_>,
    table: Ranges,
    id: i64,
    tf: Timeframe,
    source: &str,
    ranges: Vec<(i64, i64)>,
) -> Result<(), StoreError> {
    let ranges = union_ranges(ranges);
    let (Some(lo), Some(hi)) = (ranges.first().map(|r| r.0), ranges.last().map(|r| r.1)) else {
        return Ok(());
    };
    let (select, delete, insert) = match table {
        Ranges::Covered => (
            crate::model::statements::COVERED_TOUCHING_SQL,
            crate::model::statements::DELETE_COVERED_TOUCHING_SQL,
            "INSERT INTO covered_ranges (instrument_id, timeframe, source, start_ms, end_ms) \
             SELECT $1, $2, $3, a, b FROM unnest($4::bigint[], $5::bigint[]) AS r(a, b)",
        ),
        Ranges::Stored => (
            "SELECT start_ms, end_ms FROM stored_ranges WHERE instrument_id = $1 AND timeframe = $2 AND $3::text IS NOT NULL \
             AND start_ms <= $5 AND end_ms >= $4",
            "DELETE FROM stored_ranges WHERE instrument_id = $1 AND timeframe = $2 AND $3::text IS NOT NULL \
             AND start_ms <= $5 AND end_ms >= $4",
            "INSERT INTO stored_ranges (instrument_id, timeframe, start_ms, end_ms) \
             SELECT $1, $2, a, b FROM unnest($4::bigint[], $5::bigint[]) AS r(a, b) WHERE $3::text IS NOT NULL",
        ),
    };
    let tf_name = tf.as_str();
    let existing: Vec<(i64, i64)> = tx
        .query(select, &[&id, &tf_name, &source, &lo, &hi])?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let all = union_ranges(existing.into_iter().chain(ranges).collect());
    tx.execute(delete, &[&id, &tf_name, &source, &lo, &hi])?;
    let (starts, ends): (Vec<i64>, Vec<i64>) = all.into_iter().unzip();
    tx.execute(insert, &[&id, &tf_name, &source, &starts, &ends])?;
    Ok(())
}

pub(crate) fn points(
    store: &mut PgStore,
    instrument_id: i64,
    provenance: Provenance,
    points: &[MarketPoint],
) -> Result<(), StoreError> {
    let source_id = store.source_id(provenance.source)?;
    retrying(StoreError::is_retryable, std::thread::sleep, || {
        points_once(&mut store.conn, instrument_id, source_id, provenance, points)
    })
}

fn points_once(
    conn: &mut Conn,
    instrument_id: i64,
    source_id: i64,
    provenance: Provenance,
    points: &[MarketPoint],
) -> Result<(), StoreError> {
    let mut tx = conn.transaction()?;
    let stmt = tx.prepare(
        "INSERT INTO market_points (instrument_id, source_id, at_ms, price, market_cap, volume_24h, fetched_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (instrument_id, source_id, at_ms) DO UPDATE SET \
         price = excluded.price, market_cap = excluded.market_cap, volume_24h = excluded.volume_24h, \
         fetched_at = excluded.fetched_at",
    )?;
    for p in points {
        tx.execute(
            &stmt,
            &[
                &instrument_id,
                &source_id,
                &p.at_ms,
                &p.price,
                &p.market_cap,
                &p.volume_24h,
                &provenance.fetched_at_ms,
            ],
        )?;
    }
    tx.commit()?;
    Ok(())
}

pub(crate) fn notes(
    conn: &mut Conn,
    instrument_id: i64,
    tf: Timeframe,
    source: SourceId,
    notes: &[(i64, i64, &str)],
) -> Result<(), StoreError> {
    retrying(StoreError::is_retryable, std::thread::sleep, || {
        notes_once(conn, instrument_id, tf, source, notes)
    })
}

fn notes_once(
    conn: &mut Conn,
    instrument_id: i64,
    tf: Timeframe,
    source: SourceId,
    notes: &[(i64, i64, &str)],
) -> Result<(), StoreError> {
    let mut tx = conn.transaction()?;
    let stmt = tx.prepare(
        "INSERT INTO coverage_notes (instrument_id, timeframe, source, start_ms, end_ms, note) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (instrument_id, timeframe, source, start_ms, note) \
         DO UPDATE SET end_ms = excluded.end_ms",
    )?;
    for (a, b, note) in notes {
        tx.execute(&stmt, &[&instrument_id, &tf.as_str(), &source.as_str(), a, b, note])?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlocks_and_serialization_failures_are_retryable_and_nothing_else() {
        assert!(retryable_state(&SqlState::T_R_DEADLOCK_DETECTED));
        assert!(retryable_state(&SqlState::T_R_SERIALIZATION_FAILURE));
        assert!(!retryable_state(&SqlState::UNIQUE_VIOLATION));
        assert!(!retryable_state(&SqlState::READ_ONLY_SQL_TRANSACTION));
        assert!(!retryable_state(&SqlState::QUERY_CANCELED));
        assert!(!StoreError::Busy.is_retryable());
        assert!(!StoreError::Corrupt("x".into()).is_retryable());
    }

    /// An error of the test's own: whether it is retryable.
    #[derive(Debug, Clone, Copy, PartialEq)]
    struct Conflict(bool);

    fn run(outcomes: &[Result<u32, Conflict>]) -> (Result<u32, Conflict>, usize, Vec<Duration>) {
        let mut next = outcomes.iter();
        let mut calls = 0;
        let mut waits = Vec::new();
        let got = retrying(
            |e: &Conflict| e.0,
            |d| waits.push(d),
            || {
                calls += 1;
                next.next().copied().unwrap_or(Ok(0))
            },
        );
        (got, calls, waits)
    }

    #[test]
    fn a_retryable_failure_is_retried_until_the_transaction_succeeds() {
        let (got, calls, waits) = run(&[Err(Conflict(true)), Err(Conflict(true)), Ok(7)]);
        assert_eq!((got, calls), (Ok(7), 3));
        assert_eq!(waits.len(), 2);
        // Each wait is its backoff plus less than as much again, and the backoff doubles.
        assert!(waits[0] >= FIRST_BACKOFF && waits[0] < FIRST_BACKOFF * 2, "{waits:?}");
        assert!(
            waits[1] >= FIRST_BACKOFF * 2 && waits[1] < FIRST_BACKOFF * 4,
            "{waits:?}"
        );
    }

    #[test]
    fn retries_are_bounded_and_the_last_error_is_returned() {
        let (got, calls, waits) = run(&[Err(Conflict(true)); 9]);
        assert_eq!((got, calls), (Err(Conflict(true)), ATTEMPTS as usize));
        assert_eq!(waits.len(), ATTEMPTS as usize - 1);
    }

    #[test]
    fn any_other_failure_ends_at_once() {
        let (got, calls, waits) = run(&[Err(Conflict(false)), Ok(1)]);
        assert_eq!((got, calls), (Err(Conflict(false)), 1));
        assert!(waits.is_empty());
        assert_eq!(run(&[Ok(3)]).1, 1);
    }
}
