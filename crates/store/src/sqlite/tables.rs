//! Whole tables as rows of [`Value`]s, for copying a store to another backend.

use rusqlite::{Connection, Transaction, types::ValueRef};

use crate::StoreError;
use crate::catalog::{ColumnType, TableDef, Value};

fn value(v: ValueRef<'_>, kind: ColumnType, table: &str, column: &str) -> Result<Value, StoreError> {
    let bad = || StoreError::Corrupt(format!("{table}.{column} holds a value of the wrong type"));
    Ok(match (v, kind) {
        (ValueRef::Null, _) => Value::Null,
        (ValueRef::Integer(i), ColumnType::Int) => Value::Int(i),
        (ValueRef::Integer(i), ColumnType::Real) => Value::Real(i as f64),
        (ValueRef::Real(f), ColumnType::Real) => Value::Real(f),
        (ValueRef::Text(t), ColumnType::Text) => Value::Text(std::str::from_utf8(t).map_err(|_| bad())?.to_owned()),
        (ValueRef::Blob(b), ColumnType::Blob) => Value::Blob(b.to_vec()),
        (ValueRef::Text(t), ColumnType::Blob) => Value::Blob(t.to_vec()),
        _ => return Err(bad()),
    })
}

pub(crate) fn read(
    conn: &Connection,
    table: &TableDef,
    sink: &mut dyn FnMut(Vec<Value>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let sql = table.select_all();
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let mut out = Vec::with_capacity(table.columns.len());
        for (i, (column, kind)) in table.columns.iter().enumerate() {
            out.push(value(r.get_ref(i)?, *kind, table.name, column)?);
        }
        sink(out)?;
    }
    Ok(())
}

pub(crate) fn append(tx: &Transaction<'_>, table: &TableDef, rows: &[Vec<Value>]) -> Result<(), StoreError> {
    let marks: Vec<String> = (1..=table.columns.len()).map(|i| format!("?{i}")).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        table.name,
        table.column_list(),
        marks.join(", ")
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    for row in rows {
        let params = row.iter().map(|v| match v {
            Value::Null => rusqlite::types::Value::Null,
            Value::Int(i) => rusqlite::types::Value::Integer(*i),
            Value::Real(f) => rusqlite::types::Value::Real(*f),
            Value::Text(s) => rusqlite::types::Value::Text(s.clone()),
            Value::Blob(b) => rusqlite::types::Value::Blob(b.clone()),
        });
        stmt.execute(rusqlite::params_from_iter(params))?;
    }
    Ok(())
}
