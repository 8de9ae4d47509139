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
//! a few times with a growing wait ([`Backoff`]): such an abort is routine under concurrency,
//! never a reason to end a backfill. The wait is asynchronous: nothing blocks a runtime thread.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use candlekeep_core::{Candle, MarketPoint, Provenance, SourceId, Timeframe, validate};
use deadpool_postgres::{ClientWrapper, Transaction};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};

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

/// The waits between the attempts of one write transaction: it is run until it succeeds, fails
/// in a way that is not retryable, or has failed [`ATTEMPTS`] times (the last error is
/// returned). Each wait is twice the one before, plus up to as much again chosen from the clock:
/// writers that deadlocked with each other then do not meet again at the same instant.
struct Backoff {
    next: Duration,
    tries: u32,
}

impl Backoff {
    fn new() -> Self {
        Self {
            next: FIRST_BACKOFF,
            tries: 1,
        }
    }

    /// After a failed attempt: how long to wait before the next one, or `None` when the failure
    /// is not `retryable` or the attempts are used up.
    fn after_failure(&mut self, retryable: bool) -> Option<Duration> {
        if !retryable || self.tries >= ATTEMPTS {
            return None;
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let wait = self.next + self.next.mul_f64(f64::from(nanos % 1_000) / 1_000.0);
        self.next *= 2;
        self.tries += 1;
        Some(wait)
    }
}

/// Runs one write transaction (`$attempt`, an expression awaited afresh each time) with the
/// retries of [`Backoff`]. A macro rather than a function: each attempt borrows the connection
/// mutably, which a closure returning a future cannot express.
macro_rules! retrying {
    ($attempt:expr) => {{
        let mut backoff = Backoff::new();
        loop {
            match $attempt.await {
                Err(e) => match backoff.after_failure(e.is_retryable()) {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => break Err(e),
                },
                outcome => break outcome,
            }
        }
    }};
}

/// Session settings of every connection of the pool (run by its `post_create` hook when the
/// connection opens); writes nothing.
pub(crate) async fn prepare_session(client: &ClientWrapper) -> Result<(), tokio_postgres::Error> {
    client.batch_execute("SET client_min_messages = warning").await
}

const CREATE_STAGING: &str =
    "CREATE TEMP TABLE IF NOT EXISTS candles_in (LIKE candles INCLUDING DEFAULTS) ON COMMIT DELETE ROWS";

/// The upsert from the staging table, prepared on `conn`; creates the connection's staging table
/// first if it has none. Not at open: creating a table, even a temporary one, is a write, which
/// a role that may only read (or a standby) may not do. The table lives as long as the session
/// and empties itself at every commit.
///
/// The upsert reads the staging table, so it is in the connection's statement cache exactly
/// when the table exists there: a connection's first write finds neither (the prepare fails with
/// "undefined table"), creates the table and prepares it; every later one finds it cached and
/// costs no round trip. Called outside a transaction, where a failed prepare aborts nothing.
async fn prepare_staging(conn: &Conn) -> Result<tokio_postgres::Statement, StoreError> {
    match conn.prepare_cached(UPSERT).await {
        Ok(stmt) => Ok(stmt),
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => {
            conn.batch_execute(CREATE_STAGING).await?;
            Ok(conn.prepare_cached(UPSERT).await?)
        }
        Err(e) => Err(e.into()),
    }
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

/// Streams the bars of `pages` (each with what its rows share) into `table` (the staging table,
/// or `candles` itself for fresh pages).
async fn copy_in(tx: &Transaction<'_>, table: &str, pages: &[(Shared<'_>, &[Candle])]) -> Result<(), StoreError> {
    let sink = tx
        .copy_in(&format!("COPY {table} ({COLUMNS}) FROM STDIN BINARY"))
        .await?;
    let writer = BinaryCopyInWriter::new(sink, &TYPES);
    let mut writer = std::pin::pin!(writer);
    for (s, bars) in pages {
        for c in *bars {
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
            writer.as_mut().write(&row).await?;
        }
    }
    writer.finish().await?;
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

pub(crate) async fn write_pages(store: &PgStore, pages: &[PageWrite<'_>]) -> Result<Vec<WriteStats>, StoreError> {
    let mut conn = store.conn().await?;
    let mut masks = Vec::with_capacity(pages.len());
    for p in pages {
        let source_id = store.source_id(&mut conn, p.provenance.source).await?;
        let mask = match p.replace {
            Replace::Any => -1,
            Replace::Outranked(sources) => {
                let mut mask = 1i64 << source_id;
                for s in sources {
                    mask |= 1i64 << store.source_id(&mut conn, *s).await?;
                }
                mask
            }
        };
        masks.push((source_id, mask));
    }
    let upsert = prepare_staging(&conn).await?;
    let rules = store.flag_rules();
    retrying!(write_once(&mut conn, &upsert, pages, &masks, rules))
}

/// One attempt at the transaction of [`write_pages`]: everything it writes, from the instrument
/// locks to the commit. `masks` are each page's source id and replace mask.
async fn write_once(
    conn: &mut Conn,
    upsert: &tokio_postgres::Statement,
    pages: &[PageWrite<'_>],
    masks: &[(i64, i64)],
    rules: validate::FlagRules,
) -> Result<Vec<WriteStats>, StoreError> {
    let now = candlekeep_core::time::now_ms();
    let tx = conn.transaction().await?;
    let mut ids: Vec<i64> = pages.iter().map(|p| p.instrument_id).collect();
    ids.sort_unstable();
    ids.dedup();
    tx.query(
        "SELECT id FROM instruments WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        &[&ids],
    )
    .await?;

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
                .query(NEIGHBOURS_SQL, &[&p.instrument_id, &p.timeframe.as_str(), &lo, &hi])
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect(),
            None => Vec::new(),
        };
        let valid = screen_moves(valid, &neighbours, rules.max_move_ratio, &mut rejected);
        quarantine(&tx, shared, &rejected).await?;
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
    mark_stored_ranges(&tx, &mut prepared).await?;
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
    blocks::invalidate(&tx, &written).await?;

    // Fresh pages: one COPY straight into the table. Nothing is stored in their ranges and the
    // instruments are locked, so no row can meet a stored one (if one did, the key would refuse
    // it and the whole write would roll back).
    if prepared.iter().any(|p| p.fresh && !p.valid.is_empty()) {
        let fresh: Vec<_> = prepared
            .iter()
            .filter(|p| p.fresh)
            .map(|p| (p.shared, &p.valid[..]))
            .collect();
        copy_in(&tx, "candles", &fresh).await?;
        for p in prepared.iter_mut().filter(|p| p.fresh) {
            p.stats.written = p.valid.len() as u64;
        }
    }
    // The others one by one, in order: cross-checks against what is stored, then the upsert.
    for p in prepared.iter_mut().filter(|p| !p.fresh && !p.valid.is_empty()) {
        p.stats.cross_checked = cross_check(&tx, p.shared, &p.valid).await?;
        copy_in(&tx, "candles_in", &[(p.shared, &p.valid[..])]).await?;
        p.stats.written = tx.execute(upsert, &[&p.shared.replace_mask]).await?;
        tx.execute("DELETE FROM candles_in", &[]).await?;
        p.stats.unchanged = p.valid.len() as u64 - p.stats.written;
    }
    let mut flagged = Vec::with_capacity(prepared.len());
    for p in &prepared {
        flagged.push(flag(&tx, p, rules).await?);
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
        merge(&tx, Ranges::Stored, id, tf, "", ranges).await?;
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
        merge(&tx, Ranges::Covered, id, tf, source.as_str(), ranges).await?;
    }
    tx.commit().await?;
    Ok(prepared
        .into_iter()
        .zip(flagged)
        .map(|(p, flagged)| WriteStats { flagged, ..p.stats })
        .collect())
}

/// Marks pages whose range already holds bars (or overlaps an earlier page of the same series in
/// this write) as not fresh: they go through the upsert.
async fn mark_stored_ranges(tx: &Transaction<'_>, pages: &mut [Prepared<'_>]) -> Result<(), StoreError> {
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
    )
    .await?;
    for row in rows {
        let k: i64 = row.get(0);
        if let Some(p) = pages.get_mut(k as usize) {
            p.fresh = false;
        }
    }
    Ok(())
}

/// Records each pair of an incoming bar and the stored bar of another source at the same time.
async fn cross_check(tx: &Transaction<'_>, s: Shared<'_>, candles: &[Candle]) -> Result<u64, StoreError> {
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
        )
        .await?
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
        .collect();
    if stored.is_empty() {
        return Ok(0);
    }
    let insert = tx.prepare_cached(
        "INSERT INTO cross_checks (instrument_id, timeframe, open_time, kept_source_id, other_source_id, \
         close_diff_bps, volume_ratio, checked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (instrument_id, timeframe, open_time, kept_source_id, other_source_id) DO UPDATE SET \
         close_diff_bps = excluded.close_diff_bps, volume_ratio = excluded.volume_ratio, checked_at = excluded.checked_at",
    )
    .await?;
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
        )
        .await?;
        n += 1;
    }
    Ok(n)
}

async fn quarantine(
    tx: &Transaction<'_>,
    s: Shared<'_>,
    rejected: &[(Candle, validate::Reject)],
) -> Result<(), StoreError> {
    if rejected.is_empty() {
        return Ok(());
    }
    let insert = tx
        .prepare_cached(
            "INSERT INTO rejects (instrument_id, timeframe, open_time, open, high, low, close, volume, quote_volume, \
         trades, source_id, reason, fetched_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT DO NOTHING",
        )
        .await?;
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
        )
        .await?;
    }
    Ok(())
}

/// Flags the page's range as stored now (see the SQLite backend's `quality::flag`).
async fn flag(tx: &Transaction<'_>, p: &Prepared<'_>, rules: validate::FlagRules) -> Result<u64, StoreError> {
    let (Some(first), Some(last)) = (p.valid.first(), p.valid.last()) else {
        return Ok(0);
    };
    let (lo, hi) = (first.open_time_ms, last.open_time_ms);
    let (id, tf) = (p.shared.instrument_id, p.tf);
    let context = rules.flat_run.max(1) as i64;
    let before = read::candles_in(tx, id, tf, lo - context * tf.millis(), lo).await?;
    let stored = if p.fresh {
        std::borrow::Cow::Borrowed(&p.valid[..])
    } else {
        tx.execute(
            crate::model::statements::CLEAR_FLAGS_SQL,
            &[&id, &p.shared.timeframe, &lo, &hi],
        )
        .await?;
        std::borrow::Cow::Owned(read::candles_in(tx, id, tf, lo, hi + 1).await?)
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
        )
        .await?;
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
async fn merge(
    tx: &Transaction<'_>,
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
        .query(select, &[&id, &tf_name, &source, &lo, &hi])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let all = union_ranges(existing.into_iter().chain(ranges).collect());
    tx.execute(delete, &[&id, &tf_name, &source, &lo, &hi]).await?;
    let (starts, ends): (Vec<i64>, Vec<i64>) = all.into_iter().unzip();
    tx.execute(insert, &[&id, &tf_name, &source, &starts, &ends]).await?;
    Ok(())
}

pub(crate) async fn points(
    store: &PgStore,
    instrument_id: i64,
    provenance: Provenance,
    points: &[MarketPoint],
) -> Result<(), StoreError> {
    let mut conn = store.conn().await?;
    let source_id = store.source_id(&mut conn, provenance.source).await?;
    retrying!(points_once(&mut conn, instrument_id, source_id, &provenance, points))
}

async fn points_once(
    conn: &mut Conn,
    instrument_id: i64,
    source_id: i64,
    provenance: &Provenance,
    points: &[MarketPoint],
) -> Result<(), StoreError> {
    let tx = conn.transaction().await?;
    let stmt = tx
        .prepare_cached(
            "INSERT INTO market_points (instrument_id, source_id, at_ms, price, market_cap, volume_24h, fetched_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (instrument_id, source_id, at_ms) DO UPDATE SET \
         price = excluded.price, market_cap = excluded.market_cap, volume_24h = excluded.volume_24h, \
         fetched_at = excluded.fetched_at",
        )
        .await?;
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
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn notes(
    conn: &mut Conn,
    instrument_id: i64,
    tf: Timeframe,
    source: SourceId,
    notes: &[(i64, i64, &str)],
) -> Result<(), StoreError> {
    retrying!(notes_once(conn, instrument_id, tf, source, notes))
}

async fn notes_once(
    conn: &mut Conn,
    instrument_id: i64,
    tf: Timeframe,
    source: SourceId,
    notes: &[(i64, i64, &str)],
) -> Result<(), StoreError> {
    let tx = conn.transaction().await?;
    let stmt = tx
        .prepare_cached(
            "INSERT INTO coverage_notes (instrument_id, timeframe, source, start_ms, end_ms, note) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (instrument_id, timeframe, source, start_ms, note) \
         DO UPDATE SET end_ms = excluded.end_ms",
        )
        .await?;
    for (a, b, note) in notes {
        tx.execute(&stmt, &[&instrument_id, &tf.as_str(), &source.as_str(), a, b, note])
            .await?;
    }
    tx.commit().await?;
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

    /// The loop of `retrying!` over canned outcomes, recording the waits instead of sleeping.
    fn run(outcomes: &[Result<u32, Conflict>]) -> (Result<u32, Conflict>, usize, Vec<Duration>) {
        let mut next = outcomes.iter();
        let mut calls = 0;
        let mut waits = Vec::new();
        let mut backoff = Backoff::new();
        let got = loop {
            calls += 1;
            match next.next().copied().unwrap_or(Ok(0)) {
                Err(e) => match backoff.after_failure(e.0) {
                    Some(wait) => waits.push(wait),
                    None => break Err(e),
                },
                outcome => break outcome,
            }
        };
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
