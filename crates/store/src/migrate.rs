//! Copying a whole store to another backend (`candlekeep migrate`), verified table by table: the
//! same row count and the same content hash (every column, rows in key order) on both sides.

use crate::catalog::{TABLES, TableDef, Value};
use crate::model::hash::TableHasher;
use crate::{BlockingStore, StoreError};

/// Rows per destination transaction.
const CHUNK: usize = 20_000;

/// One table's copy, as verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCopy {
    pub table: &'static str,
    pub rows: u64,
    /// SHA-256 over the table's rows, equal on both sides.
    pub hash: String,
}

/// Row count and content hash of one table.
pub fn table_digest(store: &mut dyn BlockingStore, table: &TableDef) -> Result<(u64, String), StoreError> {
    let mut hasher = TableHasher::default();
    let mut rows = 0u64;
    store.read_table(table, &mut |row: Vec<Value>| {
        hasher.add(&row);
        rows += 1;
        Ok(())
    })?;
    Ok((rows, hasher.finish()))
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

/// Deletes every copied table's rows, children before parents: what an interrupted copy left.
pub(crate) fn empty_statements() -> impl Iterator<Item = String> {
    TABLES.iter().rev().map(|t| format!("DELETE FROM {}", t.name))
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
pub fn copy_store(
    from: &mut dyn BlockingStore,
    to: &mut dyn BlockingStore,
    source: &str,
    unfinished: Unfinished,
    progress: &mut (dyn FnMut(&str, u64) + Send),
) -> Result<Vec<TableCopy>, StoreError> {
    if let Some(marker) = from.copy_marker()? {
        return Err(StoreError::Config(format!(
            "the source is itself an unfinished copy of {} (started {}): finish that copy first",
            marker.source,
            candlekeep_core::time::format_ms(marker.started_at_ms)
        )));
    }
    if let Some(marker) = to.copy_marker()? {
        if unfinished == Unfinished::Refuse {
            return Err(StoreError::Config(format!(
                "the destination holds an unfinished copy of {} started {} (it was interrupted before it was \
                 verified; nothing was written now): run migrate again with --restart to empty it and copy anew",
                marker.source,
                candlekeep_core::time::format_ms(marker.started_at_ms)
            )));
        }
        to.empty_for_copy()?;
    }
    for table in TABLES {
        let (rows, _) = table_digest(to, table)?;
        if rows > 0 {
            return Err(StoreError::Config(format!(
                "the destination already holds {rows} rows in {}: migrate copies into an empty database only \
                 (nothing was written); it is not an unfinished copy, so --restart does not empty it",
                table.name
            )));
        }
    }
    to.set_copy_marker(Some(&CopyMarker {
        source: source.to_owned(),
        started_at_ms: candlekeep_core::time::now_ms(),
    }))?;
    let mut report = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let mut buffer: Vec<Vec<Value>> = Vec::with_capacity(CHUNK);
        let mut copied = 0u64;
        let mut source_hash = TableHasher::default();
        from.read_table(table, &mut |row: Vec<Value>| {
            source_hash.add(&row);
            buffer.push(row);
            if buffer.len() == CHUNK {
                to.append_rows(table, &buffer)?;
                copied += buffer.len() as u64;
                buffer.clear();
                progress(table.name, copied);
            }
            Ok(())
        })?;
        if !buffer.is_empty() {
            to.append_rows(table, &buffer)?;
            copied += buffer.len() as u64;
            progress(table.name, copied);
        }
        let source_hash = source_hash.finish();
        let (rows, hash) = table_digest(to, table)?;
        if rows != copied || hash != source_hash {
            return Err(StoreError::Corrupt(format!(
                "{} differs after the copy: {copied} rows read with hash {source_hash}, {rows} rows in the \
                 destination with hash {hash}",
                table.name
            )));
        }
        report.push(TableCopy {
            table: table.name,
            rows,
            hash,
        });
    }
    to.after_copy()?;
    to.set_copy_marker(None)?;
    Ok(report)
}
