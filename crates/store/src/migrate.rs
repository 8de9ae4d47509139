//! Copying a whole store to another backend (`candlekeep migrate`), verified table by table: the
//! same row count and the same content hash (every column, rows in key order) on both sides.

use crate::catalog::{TABLES, TableDef, Value};
use crate::model::hash::TableHasher;
use crate::{Store, StoreError};

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
pub fn table_digest(store: &mut dyn Store, table: &TableDef) -> Result<(u64, String), StoreError> {
    let mut hasher = TableHasher::default();
    let mut rows = 0u64;
    store.read_table(table, &mut |row: Vec<Value>| {
        hasher.add(&row);
        rows += 1;
        Ok(())
    })?;
    Ok((rows, hasher.finish()))
}

/// Copies every table of `from` into `to`, which must hold no rows yet, and verifies each
/// table. `progress` hears each table's name and the rows copied so far.
pub fn copy_store(
    from: &mut dyn Store,
    to: &mut dyn Store,
    progress: &mut (dyn FnMut(&str, u64) + Send),
) -> Result<Vec<TableCopy>, StoreError> {
    for table in TABLES {
        let (rows, _) = table_digest(to, table)?;
        if rows > 0 {
            return Err(StoreError::Config(format!(
                "the destination already holds {rows} rows in {}: migrate copies into an empty database only \
                 (nothing was written)",
                table.name
            )));
        }
    }
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
    Ok(report)
}
