//! PostgreSQL's side of the candle read cache (format in `crate::model::blocks`): bars in spans of 1,024,
//! packed into one `bytea` value per span (`candle_blocks`).
//!
//! Why: PostgreSQL formats every value of every row it sends (a function call and an allocation
//! each), and on a year of hourly bars that costs several times the scan. One packed block of a
//! thousand bars is one value, so a long read of cached blocks moves the same bytes for a small
//! part of the server's work.
//!
//! A block always holds exactly the bars stored in its span when it was packed:
//! - every write to `candles` deletes the blocks its bars fall in, in its own transaction, while
//!   it holds its instruments' rows `FOR UPDATE` ([`invalidate`]);
//! - a block is packed from rows read under a `FOR KEY SHARE` lock on the same row, so no write
//!   can commit between the rows read and the block stored;
//! - only spans that have closed (their last bar is over) and that the read covers whole are
//!   packed, so the hourly sync of the newest bar does not keep rewriting blocks.
//!
//! A block that does not decode (another format, a damaged value) counts as missing and is
//! packed again from the rows.

use std::collections::BTreeMap;

use candlekeep_core::{Candle, Timeframe};
use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::IsolationLevel;
use tokio_postgres::error::SqlState;

use super::{Conn, read};
use crate::StoreError;
use crate::model::blocks::{Bars, BlockCache, BlockRead, assemble, block_of, missing, pack, span_ms};
use crate::read_pool::ReadPool;

/// How long a read that found every block of a range current is trusted without asking again.
/// This process's own writes end it at once (`BlockCache::forget`); another process's write to
/// the same history (a worker's, a revision) shows in this process's reads within this long.
const FRESH: std::time::Duration = std::time::Duration::from_millis(500);

/// Each block's version is its row version (`xmin`): a write deletes the blocks it touches and a
/// pack writes a new row, so a new version means new contents. (An `xmin` comes round again only
/// after 2³² transactions, long after the bounded cache has let the old entry go.)
const VERSIONS: &str = "SELECT block_start, xmin::text::bigint FROM candle_blocks WHERE instrument_id = $1 \
     AND timeframe = $2 AND block_start >= $3 AND block_start < $4 ORDER BY block_start";
const BLOCKS: &str = "SELECT block_start, xmin::text::bigint, bars FROM candle_blocks WHERE instrument_id = $1 \
     AND timeframe = $2 AND block_start >= $3 AND block_start < $4 ORDER BY block_start";

/// Each stored block of `[from, to)` with its version, by start.
async fn versions(client: &impl GenericClient, r: BlockRead) -> Result<Vec<(i64, i64)>, StoreError> {
    let stmt = client.prepare_cached(VERSIONS).await?;
    Ok(client
        .query(&stmt, &[&r.id, &r.tf.as_str(), &block_of(r.tf, r.from), &r.to])
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect())
}

/// The decodable blocks of `[from, to)`, by start: from the cache where it holds the stored
/// version, else fetched and decoded (and kept).
async fn cached(
    client: &impl GenericClient,
    cache: &BlockCache,
    r: BlockRead,
) -> Result<BTreeMap<i64, Bars>, StoreError> {
    let (id, tf) = (r.id, r.tf);
    let (tf_name, lo) = (tf.as_str(), block_of(tf, r.from));
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] = [&id, &tf_name, &lo, &r.to];
    let (mut blocks, absent) = cache.lookup(id, tf, &versions(client, r).await?);
    if !absent.is_empty() {
        let stmt = client.prepare_cached(BLOCKS).await?;
        let rows = client.query(&stmt, &params).await?;
        cache.decode_into(
            id,
            tf,
            &absent,
            rows.iter().map(|r| (r.get(0), r.get(1), r.get::<_, &[u8]>(2))),
            &mut blocks,
        );
    }
    Ok(blocks)
}

/// [`assemble`] on the read threads: copying a long read's bars out of the blocks is CPU work (a
/// year of hourly bars is 770 kB), kept off the runtime's threads and below writes in priority.
async fn assembled(
    pool: &ReadPool,
    tf: Timeframe,
    from: i64,
    to: i64,
    blocks: BTreeMap<i64, Bars>,
    rows: Vec<Candle>,
) -> Result<Vec<Candle>, StoreError> {
    pool.run(move || assemble(tf, from, to, blocks, rows)).await
}

/// The candles of `[from, to)`, in one consistent view: cached blocks, and rows where a block is
/// missing. When a closed block is missing, the read is done again under the series' share lock
/// and packs the closed blocks it reads. A session that may not write (a standby, a read-only
/// role) reads the rows as they are.
pub(crate) async fn candles(
    conn: &mut Conn,
    cache: &BlockCache,
    pool: &ReadPool,
    read: BlockRead,
    now: i64,
) -> Result<Vec<Candle>, StoreError> {
    let BlockRead { id, tf, from, to } = read;
    // The common case, a repeated read. Checked less than FRESH ago and not written by this
    // process since: the cache is the answer. Otherwise one statement lists the blocks (one
    // snapshot), and when the cache holds every span at its listed version, that is the answer.
    if let Some(blocks) = cache.recent(id, tf, from, to, FRESH) {
        return assembled(pool, tf, from, to, blocks, Vec::new()).await;
    }
    let generation = cache.generation(id, tf);
    let listed = versions(&*conn, read).await?;
    let (blocks, absent) = cache.lookup(id, tf, &listed);
    if absent.is_empty() && missing(tf, from, to, &blocks).is_empty() {
        let span = (block_of(tf, from), block_of(tf, to - 1));
        cache.mark_fresh(id, tf, span, &listed, generation);
        return assembled(pool, tf, from, to, blocks, Vec::new()).await;
    }
    // Blocks or rows are missing: the blocks are listed again inside the transaction that reads
    // the rows, so both come from one snapshot (the list above may be older than it).
    let tx = conn
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    if let Some(bars) = load(&tx, cache, pool, id, tf, (from, to), now, false).await? {
        tx.commit().await?;
        return Ok(bars);
    }
    tx.rollback().await?;
    match pack_and_load(conn, cache, pool, id, tf, (from, to), now).await {
        Err(StoreError::Postgres(e)) if may_not_write(&e) => read::candles(conn, id, tf, from, to).await,
        other => other,
    }
}

fn may_not_write(e: &tokio_postgres::Error) -> bool {
    e.code()
        .is_some_and(|c| *c == SqlState::READ_ONLY_SQL_TRANSACTION || *c == SqlState::INSUFFICIENT_PRIVILEGE)
}

async fn pack_and_load(
    conn: &mut Conn,
    cache: &BlockCache,
    pool: &ReadPool,
    id: i64,
    tf: Timeframe,
    read: (i64, i64),
    now: i64,
) -> Result<Vec<Candle>, StoreError> {
    let tx = conn.transaction().await?;
    tx.execute("SELECT 1 FROM instruments WHERE id = $1 FOR KEY SHARE", &[&id])
        .await?;
    let bars = load(&tx, cache, pool, id, tf, read, now, true).await?;
    tx.commit().await?;
    // `load` with packing on always answers; an empty answer here would be a silent loss.
    bars.ok_or_else(|| StoreError::Corrupt("the packing read of candle blocks returned nothing".into()))
}

/// The bars of `read` from the blocks and the rows; `None` when a closed block is missing and
/// `pack` is off. With `pack` on, missing closed blocks are read whole and stored, and the
/// answer is always `Some`.
#[allow(clippy::too_many_arguments)]
async fn load(
    tx: &Transaction<'_>,
    cache: &BlockCache,
    pool: &ReadPool,
    id: i64,
    tf: Timeframe,
    read: (i64, i64),
    now: i64,
    pack: bool,
) -> Result<Option<Vec<Candle>>, StoreError> {
    let (from, to) = read;
    let blocks = cached(tx, cache, BlockRead { id, tf, from, to }).await?;
    let gaps = missing(tf, from, to, &blocks);
    let span = span_ms(tf);
    let closed = |start: i64| start + span <= now;
    if !pack && gaps.iter().any(|s| closed(*s)) {
        return Ok(None);
    }
    let (Some(&first), Some(&last)) = (gaps.first(), gaps.last()) else {
        return assembled(pool, tf, from, to, blocks, Vec::new()).await.map(Some);
    };
    let rows_from = if closed(first) { first } else { from.max(first) };
    let rows_to = if closed(last) { last + span } else { to.min(last + span) };
    let stmt = tx.prepare_cached(read::SELECT_CANDLES).await?;
    let rows: Vec<Candle> = tx
        .query(&stmt, &[&id, &tf.as_str(), &rows_from, &rows_to])
        .await?
        .iter()
        .map(read::candle)
        .filter(|c| !blocks.contains_key(&block_of(tf, c.open_time_ms)))
        .collect();
    if pack {
        let closed_gaps: Vec<i64> = gaps.into_iter().filter(|s| closed(*s)).collect();
        store(tx, id, tf, &closed_gaps, &rows).await?;
    }
    let rows = rows
        .into_iter()
        .filter(|c| c.open_time_ms >= from && c.open_time_ms < to)
        .collect();
    assembled(pool, tf, from, to, blocks, rows).await.map(Some)
}

/// Packs and stores the blocks starting at `starts`, whose bars are all in `rows`.
async fn store(
    tx: &Transaction<'_>,
    id: i64,
    tf: Timeframe,
    starts: &[i64],
    rows: &[Candle],
) -> Result<(), StoreError> {
    if starts.is_empty() {
        return Ok(());
    }
    let span = span_ms(tf);
    let packed: Vec<Vec<u8>> = starts
        .iter()
        .map(|&start| {
            let lo = rows.partition_point(|c| c.open_time_ms < start);
            let hi = rows.partition_point(|c| c.open_time_ms < start + span);
            pack(&rows[lo..hi])
        })
        .collect();
    tx.execute(
        "INSERT INTO candle_blocks (instrument_id, timeframe, block_start, bars) \
         SELECT $1, $2, s, b FROM unnest($3::bigint[], $4::bytea[]) AS p(s, b) \
         ON CONFLICT (instrument_id, timeframe, block_start) DO UPDATE SET bars = excluded.bars",
        &[&id, &tf.as_str(), &starts, &packed],
    )
    .await?;
    Ok(())
}

/// Deletes the blocks that bars of each written page fall in: `(instrument, timeframe, first
/// open time, last open time)`. Called inside the write's transaction, under its instrument locks.
pub(crate) async fn invalidate(tx: &Transaction<'_>, pages: &[(i64, Timeframe, i64, i64)]) -> Result<(), StoreError> {
    if pages.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = pages.iter().map(|p| p.0).collect();
    let tfs: Vec<&str> = pages.iter().map(|p| p.1.as_str()).collect();
    let lo: Vec<i64> = pages.iter().map(|p| block_of(p.1, p.2)).collect();
    let hi: Vec<i64> = pages.iter().map(|p| p.3).collect();
    tx.execute(
        "DELETE FROM candle_blocks b USING unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[]) \
         AS p(iid, tf, lo, hi) \
         WHERE b.instrument_id = p.iid AND b.timeframe = p.tf AND b.block_start BETWEEN p.lo AND p.hi",
        &[&ids, &tfs, &lo, &hi],
    )
    .await?;
    Ok(())
}
