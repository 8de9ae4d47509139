//! Copying a whole store to another backend (`candlekeep migrate`), verified table by table: the
//! same row count and the same content hash (every column, rows in key order) on both sides.

use crate::catalog::{TABLES, TableDef, Value};
use crate::model::hash::TableHasher;
use crate::{StoreError, TableCopy};

/// Rows per destination transaction.
const CHUNK: usize = 20_000;

/// One table's copy, as verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedTable {
    pub table: &'static str,
    pub rows: u64,
    /// SHA-256 over the table's rows, equal on both sides.
    pub hash: String,
}

/// Rows a table read may run ahead of its consumer.
const READ_AHEAD: usize = 4_096;

/// Row count and content hash of one table.
pub async fn table_digest(store: &impl TableCopy, table: &'static TableDef) -> Result<(u64, String), StoreError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Value>>(READ_AHEAD);
    let hashing = async {
        let mut hasher = TableHasher::default();
        let mut rows = 0u64;
        while let Some(row) = rx.recv().await {
            hasher.add(&row);
            rows += 1;
        }
        (rows, hasher.finish())
    };
    let (read, digest) = tokio::join!(store.read_table(table, tx), hashing);
    read?;
    Ok(digest)
}

/// A whole-store copy into a database that has not been verified yet: set before the first row
/// is copied and cleared once every table is verified, so a copy killed midway is never taken
/// for a complete store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyMarker {
    /// Where the copy came from (password masked).
    pub source: String,
    pub started_at_ms: i64,
}

/// Statements on the marker's table, written once for both backends (SQLite numbers `$n`
/// parameters in order of appearance).
pub(crate) const READ_MARKER_SQL: &str = "SELECT source, started_at FROM copy_in_progress ORDER BY started_at LIMIT 1";
pub(crate) const CLEAR_MARKER_SQL: &str = "DELETE FROM copy_in_progress";
pub(crate) const SET_MARKER_SQL: &str = "INSERT INTO copy_in_progress (source, started_at) VALUES ($1, $2)";

/// Deletes every copied table's rows, children before parents: what an interrupted copy left;
/// and the read cache, which holds copies of the candles deleted.
pub(crate) fn empty_statements() -> impl Iterator<Item = String> {
    TABLES
        .iter()
        .rev()
        .map(|t| format!("DELETE FROM {}", t.name))
        .chain(std::iter::once("DELETE FROM candle_blocks".to_owned()))
}

/// What to do about a destination that holds an unfinished copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unfinished {
    /// Refuse, saying how to restart.
    Refuse,
    /// Empty it (only when it is marked as an unfinished copy) and copy again.
    Restart,
}

/// Copies every table of `from` into `to`, which must hold no rows yet, and verifies each
/// table. `progress` hears each table's name and the rows copied so far. `source` names `from`
/// in the destination's copy marker.
pub async fn copy_store(
    from: &impl TableCopy,
    to: &impl TableCopy,
    source: &str,
    unfinished: Unfinished,
    progress: &mut (dyn FnMut(&str, u64) + Send),
) -> Result<Vec<CopiedTable>, StoreError> {
    if let Some(marker) = from.copy_marker().await? {
        return Err(StoreError::Config(format!(
            "the source is itself an unfinished copy of {} (started {}): finish that copy first",
            marker.source,
            candlekeep_core::time::format_ms(marker.started_at_ms)
        )));
    }
    if let Some(marker) = to.copy_marker().await? {
        if unfinished == Unfinished::Refuse {
            return Err(StoreError::Config(format!(
                "the destination holds an unfinished copy of {} started {} (it was interrupted before it was \
                 verified; nothing was written now): run migrate again with --restart to empty it and copy anew",
                marker.source,
                candlekeep_core::time::format_ms(marker.started_at_ms)
            )));
        }
        to.empty_for_copy().await?;
    }
    for table in TABLES {
        let (rows, _) = table_digest(to, table).await?;
        if rows > 0 {
            return Err(StoreError::Config(format!(
                "the destination already holds {rows} rows in {}: migrate copies into an empty database only \
                 (nothing was written); it is not an unfinished copy, so --restart does not empty it",
                table.name
            )));
        }
    }
    to.set_copy_marker(Some(CopyMarker {
        source: source.to_owned(),
        started_at_ms: candlekeep_core::time::now_ms(),
    }))
    .await?;
    let mut report = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        // The source streams its rows while the destination appends them, chunk by chunk.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Value>>(READ_AHEAD);
        let mut source_hash = TableHasher::default();
        let appending = async {
            let mut copied = 0u64;
            let mut buffer: Vec<Vec<Value>> = Vec::with_capacity(CHUNK);
            loop {
                let row = rx.recv().await;
                let done = row.is_none();
                if let Some(row) = row {
                    source_hash.add(&row);
                    buffer.push(row);
                }
                if buffer.len() == CHUNK || (done && !buffer.is_empty()) {
                    let chunk = std::mem::replace(&mut buffer, Vec::with_capacity(CHUNK));
                    copied += chunk.len() as u64;
                    if let Err(e) = to.append_rows(table, chunk).await {
                        // Closing the channel ends the read at its next row; waiting for it
                        // to fill would wait forever.
                        rx.close();
                        return Err(e);
                    }
                    progress(table.name, copied);
                }
                if done {
                    return Ok::<u64, StoreError>(copied);
                }
            }
        };
        let (read, copied) = tokio::join!(from.read_table(table, tx), appending);
        // A failed append closes the channel, which ends the read early: the append's error is
        // the one that says what went wrong.
        let copied = copied?;
        read?;
        let source_hash = source_hash.finish();
        let (rows, hash) = table_digest(to, table).await?;
        if rows != copied || hash != source_hash {
            return Err(StoreError::Corrupt(format!(
                "{} differs after the copy: {copied} rows read with hash {source_hash}, {rows} rows in the \
                 destination with hash {hash}",
                table.name
            )));
        }
        report.push(CopiedTable {
            table: table.name,
            rows,
            hash,
        });
    }
    to.after_copy().await?;
    to.set_copy_marker(None).await?;
    Ok(report)
}
