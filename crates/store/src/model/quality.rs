//! Daily quality rows per series: completeness, missing bars, rejected and flagged rows,
//! cross-source divergence, share from fallback sources, and one score (see [`score`]).

use std::collections::HashMap;

use candlekeep_core::Instrument;

use super::gaps::Series;
use crate::QualityDay;

pub(crate) use candlekeep_core::time::DAY_MS;

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

/// (instrument id, timeframe, day)
pub(crate) type DayKey = (i64, String, i64);

/// Per-day counts read from the store since the first day judged.
#[derive(Default)]
pub(crate) struct DayCounts {
    /// Stored bars per day and source id.
    pub per_source: HashMap<DayKey, Vec<(i64, i64)>>,
    pub rejected: HashMap<DayKey, i64>,
    pub flagged: HashMap<DayKey, i64>,
    /// Mean absolute close difference to other sources.
    pub divergence: HashMap<DayKey, f64>,
}

impl DayCounts {
    pub fn add_stored(&mut self, key: DayKey, source_id: i64, n: i64) {
        self.per_source.entry(key).or_default().push((source_id, n));
    }
}

/// The first day judged for `since_ms`: 00:00 UTC of its day.
pub(crate) fn first_day(since_ms: i64) -> i64 {
    since_ms.div_euclid(DAY_MS) * DAY_MS
}

/// Every day row of every series from `since` (a day start) to now; each series' most common
/// source in the counted days is its primary.
pub(crate) fn days(
    series: &[Series],
    names: &HashMap<i64, Instrument>,
    counts: &DayCounts,
    since: i64,
    now_ms: i64,
) -> Vec<(i64, QualityDay)> {
    let mut totals: HashMap<(i64, &str), HashMap<i64, i64>> = HashMap::new();
    for ((id, tf, _), sources) in &counts.per_source {
        let t = totals.entry((*id, tf.as_str())).or_default();
        for (src, n) in sources {
            *t.entry(*src).or_default() += n;
        }
    }
    let mut out = Vec::new();
    for s in series {
        let Some(instrument) = names.get(&s.id) else { continue };
        let tf_name = s.tf.as_str().to_owned();
        let (start, end) = s.lifetime(now_ms);
        let primary = totals
            .get(&(s.id, tf_name.as_str()))
            .and_then(|m| m.iter().max_by_key(|(src, n)| (**n, -**src)).map(|(src, _)| *src));
        let mut day = since.max(first_day(start));
        while day < end {
            let (a, b) = (day.max(start), (day + DAY_MS).min(end));
            let expected = s.tf.bars_between(a, b).max(0);
            let key = (s.id, tf_name.clone(), day);
            let sources = counts.per_source.get(&key);
            let stored: i64 = sources.map_or(0, |v| v.iter().map(|(_, n)| n).sum());
            let from_fallback: i64 = sources.map_or(0, |v| {
                v.iter().filter(|(src, _)| Some(*src) != primary).map(|(_, n)| n).sum()
            });
            let rejected = counts.rejected.get(&key).copied().unwrap_or(0);
            let flagged = counts.flagged.get(&key).copied().unwrap_or(0);
            let divergence_bps = counts.divergence.get(&key).copied();
            out.push((
                s.id,
                QualityDay {
                    instrument: instrument.clone(),
                    timeframe: s.tf,
                    day_ms: day,
                    expected,
                    stored,
                    missing: (expected - stored).max(0),
                    rejected,
                    flagged,
                    divergence_bps,
                    fallback_share: if stored > 0 {
                        from_fallback as f64 / stored as f64
                    } else {
                        0.0
                    },
                    score: score(expected, stored, rejected, flagged, divergence_bps),
                },
            ));
            day += DAY_MS;
        }
    }
    out
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
