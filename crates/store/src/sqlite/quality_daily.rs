//! Daily quality rows per series: completeness, missing hours, rejected and flagged rows,
//! cross-source divergence, share from fallback sources, and one score (see [`score`]).

use std::collections::HashMap;

use candlekeep_core::Instrument;
use rusqlite::Connection;

use super::gaps;
use crate::{QualityDay, StoreError};

const DAY_MS: i64 = 86_400_000;

/// 0–100: `100 × C × (1 − R) × (1 − F/2) × (1 − min(D, 100 bp)/200 bp)`, where C is the
/// completeness (stored / expected bars), R and F the rejected and flagged shares of the expected
/// bars (each at most 1), and D the mean absolute close difference to other sources, in basis
/// points, where they delivered the same bar. A day with nothing expected scores 100.
pub fn score(expected: i64, stored: i64, rejected: i64, flagged: i64, divergence_bps: Option<f64>) -> f64 {
    if expected <= 0 {
        return 100.0;
    }
    let share = |n: i64| (n as f64 / expected as f64).clamp(0.0, 1.0);
    let divergence = divergence_bps.unwrap_or(0.0).abs().min(100.0) / 200.0;
    100.0 * share(stored) * (1.0 - share(rejected)) * (1.0 - share(flagged) / 2.0) * (1.0 - divergence)
}

type Key = (i64, String, i64);

fn counts(conn: &Connection, sql: &str, since: i64) -> Result<HashMap<Key, i64>, StoreError> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map([since], |r| Ok(((r.get(0)?, r.get(1)?, r.get(2)?), r.get(3)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Computes and stores the rows of every day from `since_ms` (floored to a UTC day) to now.
pub(crate) fn refresh(conn: &mut Connection, since_ms: i64, now_ms: i64) -> Result<Vec<QualityDay>, StoreError> {
    let since = since_ms.div_euclid(DAY_MS) * DAY_MS;
    let series = gaps::series(conn)?;
    // Stored bars per day and source; the series' most common source counts as its primary.
    let mut per_source: HashMap<Key, Vec<(i64, i64)>> = HashMap::new();
    let mut totals: HashMap<(i64, String), HashMap<i64, i64>> = HashMap::new();
    {
        let mut stmt = conn.prepare(
            "SELECT instrument_id, timeframe, open_time / 86400000 * 86400000, source_id, COUNT(*) FROM candles \
              WHERE open_time >= ?1 GROUP BY 1, 2, 3, 4",
        )?;
        let rows = stmt.query_map([since], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
        for row in rows {
            let (id, tf, day, source, n) = row?;
            *totals.entry((id, tf.clone())).or_default().entry(source).or_default() += n;
            per_source.entry((id, tf, day)).or_default().push((source, n));
        }
    }
    let rejected = counts(
        conn,
        "SELECT instrument_id, timeframe, open_time / 86400000 * 86400000, COUNT(*) FROM rejects WHERE open_time >= ?1 GROUP BY 1, 2, 3",
        since,
    )?;
    let flagged = counts(
        conn,
        "SELECT instrument_id, timeframe, open_time / 86400000 * 86400000, COUNT(*) FROM flags WHERE open_time >= ?1 GROUP BY 1, 2, 3",
        since,
    )?;
    let mut divergence: HashMap<Key, f64> = HashMap::new();
    {
        let mut stmt = conn.prepare(
            "SELECT instrument_id, timeframe, open_time / 86400000 * 86400000, AVG(ABS(close_diff_bps)) FROM cross_checks \
              WHERE open_time >= ?1 GROUP BY 1, 2, 3",
        )?;
        let rows = stmt.query_map([since], |r| Ok(((r.get(0)?, r.get(1)?, r.get(2)?), r.get(3)?)))?;
        for row in rows {
            let (k, v) = row?;
            divergence.insert(k, v);
        }
    }
    let names: HashMap<i64, Instrument> = {
        let mut stmt = conn.prepare("SELECT id, market, base, quote FROM instruments")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut out = HashMap::new();
        for row in rows {
            let (id, market, base, quote) = row?;
            out.insert(id, super::status::instrument(&market, &base, &quote)?);
        }
        out
    };

    let tx = conn.transaction()?;
    let mut out = Vec::new();
    for s in &series {
        let Some(instrument) = names.get(&s.id) else { continue };
        let tf_name = s.tf.as_str().to_owned();
        let (start, end) = s.lifetime(now_ms);
        let primary = totals
            .get(&(s.id, tf_name.clone()))
            .and_then(|m| m.iter().max_by_key(|(_, n)| **n).map(|(src, _)| *src));
        let mut day = since.max(start.div_euclid(DAY_MS) * DAY_MS);
        while day < end {
            let (a, b) = (day.max(start), (day + DAY_MS).min(end));
            let expected = s.tf.bars_between(a, b).max(0);
            let key = (s.id, tf_name.clone(), day);
            let sources = per_source.get(&key);
            let stored: i64 = sources.map_or(0, |v| v.iter().map(|(_, n)| n).sum());
            let from_fallback: i64 = sources.map_or(0, |v| {
                v.iter().filter(|(src, _)| Some(*src) != primary).map(|(_, n)| n).sum()
            });
            let rej = rejected.get(&key).copied().unwrap_or(0);
            let flg = flagged.get(&key).copied().unwrap_or(0);
            let div = divergence.get(&key).copied();
            let row = QualityDay {
                instrument: instrument.clone(),
                timeframe: s.tf,
                day_ms: day,
                expected,
                stored,
                missing: (expected - stored).max(0),
                rejected: rej,
                flagged: flg,
                divergence_bps: div,
                fallback_share: if stored > 0 {
                    from_fallback as f64 / stored as f64
                } else {
                    0.0
                },
                score: score(expected, stored, rej, flg, div),
            };
            tx.prepare_cached(
                "INSERT OR REPLACE INTO quality (instrument_id, timeframe, day, expected, stored, missing, rejected, \
                 flagged, divergence_bps, fallback_share, score, computed_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(rusqlite::params![
                s.id,
                tf_name,
                day,
                row.expected,
                row.stored,
                row.missing,
                row.rejected,
                row.flagged,
                row.divergence_bps,
                row.fallback_share,
                row.score,
                now_ms
            ])?;
            out.push(row);
            day += DAY_MS;
        }
    }
    tx.commit()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_score_follows_its_formula() {
        assert_eq!(score(24, 24, 0, 0, None), 100.0);
        assert_eq!(score(24, 12, 0, 0, None), 50.0);
        assert_eq!(score(24, 24, 6, 0, None), 75.0);
        assert_eq!(score(24, 24, 0, 12, None), 75.0);
        assert_eq!(score(24, 24, 0, 0, Some(50.0)), 75.0);
        assert_eq!(score(24, 24, 0, 0, Some(-500.0)), 50.0);
        assert_eq!(score(0, 0, 0, 0, None), 100.0);
    }
}
