//! Whole tables as rows of [`Value`]s, for copying a store to another backend: streamed in key
//! order as the server sends them, written with binary `COPY`.

use futures::TryStreamExt;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::Conn;
use crate::StoreError;
use crate::catalog::{ColumnType, TableDef, Value};

fn pg_type(kind: ColumnType) -> Type {
    match kind {
        ColumnType::Int => Type::INT8,
        ColumnType::Real => Type::FLOAT8,
        ColumnType::Text => Type::TEXT,
        ColumnType::Blob => Type::BYTEA,
    }
}

/// Sends every row of `table` in key order to `rows`, returning how many were sent; stops early,
/// without error, when the receiver is dropped. One statement, one snapshot; rows are streamed
/// as the server sends them, and the server is not read further while the receiver is full, so
/// memory stays flat whatever the table's size.
pub(crate) async fn read(
    conn: &Conn,
    table: &TableDef,
    sink: tokio::sync::mpsc::Sender<Vec<Value>>,
) -> Result<u64, StoreError> {
    let sql = table.select_all();
    let rows = conn.query_raw(sql.as_str(), std::iter::empty::<i64>()).await?;
    let mut rows = std::pin::pin!(rows);
    let mut sent = 0u64;
    while let Some(r) = rows.try_next().await? {
        let mut out = Vec::with_capacity(table.columns.len());
        for (i, (_, kind)) in table.columns.iter().enumerate() {
            out.push(match kind {
                ColumnType::Int => r.get::<_, Option<i64>>(i).map_or(Value::Null, Value::Int),
                ColumnType::Real => r.get::<_, Option<f64>>(i).map_or(Value::Null, Value::Real),
                ColumnType::Text => r.get::<_, Option<String>>(i).map_or(Value::Null, Value::Text),
                ColumnType::Blob => r.get::<_, Option<Vec<u8>>>(i).map_or(Value::Null, Value::Blob),
            });
        }
        // The receiver went away: the copy stopped, so the rest is not needed.
        if sink.send(out).await.is_err() {
            break;
        }
        sent += 1;
    }
    Ok(sent)
}

pub(crate) async fn append(conn: &mut Conn, table: &TableDef, rows: &[Vec<Value>]) -> Result<(), StoreError> {
    let types: Vec<Type> = table.columns.iter().map(|(_, k)| pg_type(*k)).collect();
    let tx = conn.transaction().await?;
    let sink = tx
        .copy_in(&format!(
            "COPY {} ({}) FROM STDIN BINARY",
            table.name,
            table.column_list()
        ))
        .await?;
    let writer = BinaryCopyInWriter::new(sink, &types);
    let mut writer = std::pin::pin!(writer);
    for row in rows {
        if row.len() != types.len() {
            return Err(StoreError::Corrupt(format!(
                "a row for {} has {} values, the table has {} columns",
                table.name,
                row.len(),
                types.len()
            )));
        }
        let values: Vec<Box<dyn ToSql + Sync + Send>> = row
            .iter()
            .zip(table.columns)
            .map(|(v, (_, kind))| -> Box<dyn ToSql + Sync + Send> {
                match (v, kind) {
                    (Value::Int(i), _) => Box::new(*i),
                    (Value::Real(f), _) => Box::new(*f),
                    (Value::Text(s), _) => Box::new(s.clone()),
                    (Value::Blob(b), _) => Box::new(b.clone()),
                    (Value::Null, ColumnType::Int) => Box::new(None::<i64>),
                    (Value::Null, ColumnType::Real) => Box::new(None::<f64>),
                    (Value::Null, ColumnType::Text) => Box::new(None::<String>),
                    (Value::Null, ColumnType::Blob) => Box::new(None::<Vec<u8>>),
                }
            })
            .collect();
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|b| b.as_ref() as &(dyn ToSql + Sync)).collect();
        writer.as_mut().write(&refs).await?;
    }
    writer.finish().await?;
    tx.commit().await?;
    Ok(())
}

/// Serial ids continue after the highest copied id, and no packed block outlives the rows it
/// was packed from (the copy wrote `candles` without going through the write path).
pub(crate) async fn after_copy(conn: &Conn) -> Result<(), StoreError> {
    conn.execute("TRUNCATE candle_blocks", &[]).await?;
    for table in ["instruments", "job_runs", "rejects"] {
        conn.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST((SELECT MAX(id) FROM {table}), 1), \
                 (SELECT MAX(id) FROM {table}) IS NOT NULL)"
            ),
            &[],
        )
        .await?;
    }
    Ok(())
}
