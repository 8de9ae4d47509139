//! The latest indicator values per series (`indicator_values`).

use super::Conn;
use crate::model::decode::timeframe;
use crate::{IndicatorValue, StoreError};

pub(crate) async fn save(conn: &mut Conn, values: &[IndicatorValue]) -> Result<(), StoreError> {
    let tx = conn.transaction().await?;
    let mut series: Vec<(i64, &str)> = values.iter().map(|v| (v.instrument_id, v.timeframe.as_str())).collect();
    series.sort_unstable();
    series.dedup();
    let (ids, tfs): (Vec<i64>, Vec<&str>) = series.into_iter().unzip();
    tx.execute(
        "DELETE FROM indicator_values v USING unnest($1::bigint[], $2::text[]) AS s(iid, tf) \
         WHERE v.instrument_id = s.iid AND v.timeframe = s.tf",
        &[&ids, &tfs],
    )
    .await?;
    let ids: Vec<i64> = values.iter().map(|v| v.instrument_id).collect();
    let tfs: Vec<&str> = values.iter().map(|v| v.timeframe.as_str()).collect();
    let names: Vec<&str> = values.iter().map(|v| v.name.as_str()).collect();
    let bars: Vec<i64> = values.iter().map(|v| v.bar_ms).collect();
    let vals: Vec<f64> = values.iter().map(|v| v.value).collect();
    let at: Vec<i64> = values.iter().map(|v| v.computed_at_ms).collect();
    tx.execute(
        "INSERT INTO indicator_values (instrument_id, timeframe, name, bar_time, value, computed_at) \
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::float8[], $6::bigint[]) \
         ON CONFLICT (instrument_id, timeframe, name) DO UPDATE SET bar_time = excluded.bar_time, \
         value = excluded.value, computed_at = excluded.computed_at",
        &[&ids, &tfs, &names, &bars, &vals, &at],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn list(conn: &Conn) -> Result<Vec<IndicatorValue>, StoreError> {
    conn.query(crate::model::statements::INDICATOR_VALUES_SQL, &[])
        .await?
        .iter()
        .map(|r| {
            Ok(IndicatorValue {
                instrument_id: r.get(0),
                timeframe: timeframe(r.get(1))?,
                name: r.get(2),
                bar_ms: r.get(3),
                value: r.get(4),
                computed_at_ms: r.get(5),
            })
        })
        .collect()
}
