//! Backfill and sync.

use std::{collections::BTreeSet, sync::Arc};

use candlekeep_core::{Instrument, Provenance, Timeframe, time::format_ms, time::now_ms};
use candlekeep_sources::CandleSource;
use futures::{StreamExt, stream};

use crate::{JobError, Progress, SharedStore};

/// One series to fill, and the source to fill it from.
#[derive(Clone)]
pub struct Target {
    pub instrument: Instrument,
    pub source: Arc<dyn CandleSource>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} from {}", self.instrument, self.source.id())
    }
}

/// Where a backfill starts: a fixed instant, or (sync) where the stored history ends.
#[derive(Debug, Clone, Copy)]
pub enum Start {
    At(i64),
    /// After the newest covered bar; `fallback_ms` for a series with nothing stored yet.
    AfterLatest {
        fallback_ms: i64,
    },
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub targets: Vec<Target>,
    pub timeframe: Timeframe,
    pub start: Start,
    /// Exclusive end; capped at the newest closed bar.
    pub end_ms: Option<i64>,
    /// Series fetched at the same time (requests to one venue still share its weight budget).
    pub concurrency: usize,
}

/// What one series got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesOutcome {
    pub instrument: Instrument,
    pub requests: u64,
    pub written: u64,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub series: Vec<SeriesOutcome>,
    pub sources: BTreeSet<String>,
}

impl Report {
    pub fn written(&self) -> u64 {
        self.series.iter().map(|s| s.written).sum()
    }
    pub fn failures(&self) -> impl Iterator<Item = &SeriesOutcome> {
        self.series.iter().filter(|s| s.error.is_some())
    }
}

/// The uncovered ranges of one series.
struct Work {
    target: Target,
    instrument_id: i64,
    holes: Vec<(i64, i64)>,
}

/// Runs the plan. A series that fails does not stop the others; its error is in the report.
pub async fn run(store: &SharedStore, plan: &Plan, progress: &dyn Progress) -> Result<Report, JobError> {
    let tf = plan.timeframe;
    let newest_closed = tf.floor(now_ms()); // bars opening before this have closed
    let end = plan.end_ms.map_or(newest_closed, |e| tf.ceil(e).min(newest_closed));
    let mut work = Vec::with_capacity(plan.targets.len());
    for target in &plan.targets {
        let instrument = target.instrument.clone();
        let start = plan.start;
        let (instrument_id, holes) = store
            .with(move |s| {
                let id = s.instrument_id(&instrument)?;
                let from = match start {
                    Start::At(t) => tf.floor(t),
                    Start::AfterLatest { fallback_ms } => s.latest_covered(id, tf)?.unwrap_or(tf.floor(fallback_ms)),
                };
                Ok((id, s.uncovered(id, tf, from, end)?))
            })
            .await?;
        work.push(Work {
            target: target.clone(),
            instrument_id,
            holes,
        });
    }
    let total: i64 = work
        .iter()
        .flat_map(|w| &w.holes)
        .map(|(a, b)| tf.bars_between(*a, *b))
        .sum();
    progress.start(total.max(0) as u64);

    let series = stream::iter(work)
        .map(|w| fill_series(store, tf, w, progress))
        .buffer_unordered(plan.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    let mut report = Report::default();
    for (outcome, source) in series {
        report.sources.insert(source);
        report.series.push(outcome);
    }
    report.series.sort_by(|a, b| a.instrument.cmp(&b.instrument));
    Ok(report)
}

async fn fill_series(store: &SharedStore, tf: Timeframe, w: Work, progress: &dyn Progress) -> (SeriesOutcome, String) {
    let source = w.target.source.clone();
    let mut outcome = SeriesOutcome {
        instrument: w.target.instrument.clone(),
        requests: 0,
        written: 0,
        error: None,
    };
    if let Err(e) = fill_holes(store, tf, &w, progress, &mut outcome).await {
        outcome.error = Some(e.to_string());
    }
    (outcome, source.id().to_string())
}

async fn fill_holes(
    store: &SharedStore,
    tf: Timeframe,
    w: &Work,
    progress: &dyn Progress,
    outcome: &mut SeriesOutcome,
) -> Result<(), JobError> {
    let symbol = &w.target.instrument.symbol;
    for &(hole_start, hole_end) in &w.holes {
        let mut start = hole_start;
        while start < hole_end {
            let page = w.target.source.fetch_page(symbol, tf, start, hole_end).await?;
            outcome.requests += 1;
            let provenance = Provenance {
                source: w.target.source.id(),
                fetched_at_ms: now_ms(),
            };
            let covered = (start, page.covered_until);
            let id = w.instrument_id;
            let exhausted = page.exhausted;
            let candles = page.candles;
            let stats = store
                .with(move |s| s.write_page(id, tf, provenance, &candles, Some(covered)))
                .await?;
            outcome.written += stats.written;
            let advanced = if exhausted {
                tf.bars_between(start, hole_end)
            } else {
                tf.bars_between(start, covered.1)
            };
            progress.advance(
                advanced.max(0) as u64,
                &format!("{} {tf} up to {}", w.target.instrument, format_ms(covered.1)),
            );
            if exhausted || covered.1 <= start {
                break;
            }
            start = covered.1;
        }
    }
    Ok(())
}
