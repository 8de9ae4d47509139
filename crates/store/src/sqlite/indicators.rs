//! The latest indicator values per series (`indicator_values`).

use rusqlite::Connection;

use crate::model::decode::timeframe;
use crate::{IndicatorValue, StoreError};

pub(crate) fn save(conn: &mut Connection, values: &[IndicatorValue]) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut series: Vec<(i64, &str)> = values.iter().map(|v| (v.instrument_id, v.timeframe.as_str())).collect();
        series.sort_unstable();
        series.dedup();
        let mut clear = tx.prepare("DELETE FROM indicator_values WHERE instrument_id = ?1 AND timeframe = ?2")?;
        for (id, tf) in series {
            clear.execute((id, tf))?;
        }
        let mut insert = tx.prepare(
            "INSERT OR REPLACE INTO indicator_values (instrument_id, timeframe, name, bar_time, value, computed_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for v in values {
            insert.execute((
                v.instrument_id,
                v.timeframe.as_str(),
                &v.name,
                v.bar_ms,
                v.value,
                v.computed_at_ms,
            ))?;
        }
    }
    tx.commit()?;
    Ok(())
}

pub(crate) fn list(conn: &Connection) -> Result<Vec<IndicatorValue>, StoreError> {
    let mut stmt = conn.prepare(crate::model::statements::INDICATOR_VALUES_SQL)?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, f64>(4)?,
            r.get::<_, i64>(5)?,
        ))
    })?;
    rows.map(|row| {
        let (instrument_id, tf, name, bar_ms, value, computed_at_ms) = row?;
        Ok(IndicatorValue {
            instrument_id,
            timeframe: timeframe(&tf)?,
            name,
            bar_ms,
            value,
            computed_at_ms,
        })
    })
    .collect()
}
