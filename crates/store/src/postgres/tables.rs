//! Whole tables as rows of [`Value`]s, for copying a store to another backend: read through a
//! cursor in key order, written with binary `COPY`.

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};

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

pub(crate) fn read(
    conn: &mut Conn,
    table: &TableDef,
    sink: &mut (dyn FnMut(Vec<Value>) -> Result<(), StoreError> + Send),
) -> Result<(), StoreError> {
    let sql = table.select_all();
    let mut tx = conn.transaction()?;
    let portal = tx.bind(sql.as_str(), &[])?;
    loop {
        let rows = tx.query_portal(&portal, 20_000)?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            let mut out = Vec::with_capacity(table.columns.len());
            for (i, (_, kind)) in table.columns.iter().enumerate() {
                out.push(match kind {
                    ColumnType::Int => r.get::<_, Option<i64>>(i).map_or(Value::Null, Value::Int),
                    ColumnType::Real => r.get::<_, Option<f64>>(i).map_or(Value::Null, Value::Real),
                    ColumnType::Text => r.get::<_, Option<String>>(i).map_or(Value::Null, Value::Text),
                    ColumnType::Blob => r.get::<_, Option<Vec<u8>>>(i).map_or(Value::Null, Value::Blob),
                });
            }
            sink(out)?;
        }
    }
    tx.commit()?;
    Ok(())
}

pub(crate) fn append(conn: &mut Conn, table: &TableDef, rows: &[Vec<Value>]) -> Result<(), StoreError> {
    let types: Vec<Type> = table.columns.iter().map(|(_, k)| pg_type(*k)).collect();
    let mut tx = conn.transaction()?;
    let sink = tx.copy_in(&format!(
        "COPY {} ({}) FROM STDIN BINARY",
        table.name,
        table.column_list()
    ))?;
    let mut writer = BinaryCopyInWriter::new(sink, &types);
    for row in rows {
        if row.len() != types.len() {
            return Err(StoreError::Corrupt(format!(
                "a row for {} has {} values, the table has {} columns",
                table.name,
                row.len(),
                types.len()
            )));
        }
        let values: Vec<Box<dyn ToSql + Sync>> = row
            .iter()
            .zip(table.columns)
            .map(|(v, (_, kind))| -> Box<dyn ToSql + Sync> {
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
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|b| b.as_ref()).collect();
        writer.write(&refs)?;
    }
    writer.finish()?;
    tx.commit()?;
    Ok(())
}

/// Serial ids continue after the highest copied id, and no packed block outlives the rows it
/// was packed from (the copy wrote `candles` without going through the write path).
pub(crate) fn after_copy(conn: &mut Conn) -> Result<(), StoreError> {
    conn.execute("TRUNCATE candle_blocks", &[])?;
    for table in ["instruments", "job_runs", "rejects"] {
        conn.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST((SELECT MAX(id) FROM {table}), 1), \
                 (SELECT MAX(id) FROM {table}) IS NOT NULL)"
            ),
            &[],
        )?;
    }
    Ok(())
}
