//! Checking the stored-range index against the candles. `stored_ranges` is derived from
//! `candles` on every write; rows deleted or restored outside the store make it drift, and then
//! `gaps` and `status` are wrong until it is rebuilt. The verification recomputes the islands of
//! stored bars from the candles themselves, reports every series whose index differs and, when
//! asked, replaces that series' index. The statements are written once for both backends
//! (SQLite numbers `$n` parameters in order of appearance).

use std::collections::BTreeMap;

use candlekeep_core::Timeframe;

use super::decode;
use crate::{RangeDrift, StoreError, subtract_ranges};

/// Islands of consecutive stored bars per series, computed from `candles`, in the shape of
/// [`RECORDED_SQL`].
pub(crate) const ISLANDS_SQL: &str = "SELECT g.instrument_id, i.market, i.base, i.quote, g.timeframe, \
     MIN(g.open_time), MAX(g.open_time) + MIN(g.step) FROM (\
       SELECT instrument_id, timeframe, open_time, step, \
              open_time - step * ROW_NUMBER() OVER (PARTITION BY instrument_id, timeframe ORDER BY open_time) AS island \
         FROM (SELECT instrument_id, timeframe, open_time, \
                      CASE timeframe WHEN '1m' THEN 60000 WHEN '5m' THEN 300000 WHEN '15m' THEN 900000 \
                                     WHEN '1h' THEN 3600000 WHEN '4h' THEN 14400000 ELSE 86400000 END AS step \
                 FROM candles) AS stepped) AS g \
     JOIN instruments i ON i.id = g.instrument_id \
     GROUP BY g.instrument_id, i.market, i.base, i.quote, g.timeframe, g.island ORDER BY 1, 5, 6";

/// The index as recorded.
pub(crate) const RECORDED_SQL: &str = "SELECT r.instrument_id, i.market, i.base, i.quote, r.timeframe, r.start_ms, r.end_ms \
     FROM stored_ranges r JOIN instruments i ON i.id = r.instrument_id ORDER BY 1, 5, 6";

/// Removes one series' index, before [`INSERT_SQL`] writes it anew.
pub(crate) const CLEAR_SQL: &str = "DELETE FROM stored_ranges WHERE instrument_id = $1 AND timeframe = $2";
pub(crate) const INSERT_SQL: &str =
    "INSERT INTO stored_ranges (instrument_id, timeframe, start_ms, end_ms) VALUES ($1, $2, $3, $4)";

/// One row of either query: (instrument id, market, base, quote, timeframe, start, end).
pub(crate) type IslandRow = (i64, String, String, String, String, i64, i64);

/// A series: (instrument id, timeframe).
type Key = (i64, String);
/// A series' instrument as stored (market, base, quote) and its ranges.
type Ranges = ((String, String, String), Vec<(i64, i64)>);

fn group(rows: Vec<IslandRow>) -> BTreeMap<Key, Ranges> {
    let mut out: BTreeMap<Key, Ranges> = BTreeMap::new();
    for (id, market, base, quote, tf, a, b) in rows {
        out.entry((id, tf))
            .or_insert_with(|| ((market, base, quote), Vec::new()))
            .1
            .push((a, b));
    }
    out
}

fn bars(tf: Timeframe, ranges: &[(i64, i64)]) -> i64 {
    ranges.iter().map(|&(a, b)| tf.bars_between(a, b)).sum()
}

/// Every series whose recorded index differs from the islands of its candles, with the bars the
/// index misses and the bars it claims that are not stored.
pub(crate) fn drift(actual: Vec<IslandRow>, recorded: Vec<IslandRow>) -> Result<Vec<RangeDrift>, StoreError> {
    let mut actual = group(actual);
    let recorded = group(recorded);
    let mut keys: Vec<Key> = actual.keys().chain(recorded.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for key in keys {
        let (names, truth) = actual.remove(&key).unwrap_or_default();
        let (names, index) = match recorded.get(&key) {
            Some((n, r)) => (n.clone(), r.clone()),
            None => (names, Vec::new()),
        };
        if truth == index {
            continue;
        }
        let tf = decode::timeframe(&key.1)?;
        let unindexed: Vec<(i64, i64)> = truth.iter().flat_map(|&(a, b)| subtract_ranges(a, b, &index)).collect();
        let phantom: Vec<(i64, i64)> = index.iter().flat_map(|&(a, b)| subtract_ranges(a, b, &truth)).collect();
        out.push(RangeDrift {
            instrument_id: key.0,
            instrument: decode::instrument(&names.0, &names.1, &names.2)?,
            timeframe: tf,
            unindexed_bars: bars(tf, &unindexed),
            phantom_bars: bars(tf, &phantom),
            actual: truth,
        });
    }
    Ok(out)
}
