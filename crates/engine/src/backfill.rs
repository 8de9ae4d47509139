//! Backfill and sync through each series' fallback chain.
//!
//! A series is filled source by source, best first. Source `k` is asked only for the bars that
//! (a) it has not answered for yet (its covered ranges) and (b) no source at least as good holds:
//! a bar stored by the primary is never fetched again from a fallback, while a bar a fallback
//! filled is asked of the primary again and replaced when the primary has it. A source that
//! fails (outage, ban, unknown symbol, error after retries) leaves its bars to the next one; the
//! series fails only when some bar could be had from no source at all.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use candlekeep_core::{Instrument, Provenance, SourceId, TimeRange, Timeframe, time::format_ms, time::now_ms};
use candlekeep_sources::CandleSource;
use candlekeep_store::{CandleWrite, FETCH_FAILED, OwnedPage, subtract_ranges};
use futures::{StreamExt, future::join_all, stream};

use crate::{JobError, Progress};

/// One series to fill, and its sources, best first.
#[derive(Clone)]
pub struct Target {
    pub instrument: Instrument,
    pub chain: Vec<Arc<dyn CandleSource>>,
}

impl Target {
    fn primary(&self) -> Option<SourceId> {
        self.chain.first().map(|s| s.id())
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let chain: Vec<_> = self.chain.iter().map(|s| s.id().as_str()).collect();
        write!(f, "{} from {}", self.instrument, chain.join(" > "))
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
    /// Series fetched at the same time per primary source; series with different primaries run
    /// side by side, so one slow venue does not hold up the others.
    pub concurrency: usize,
}

/// What one series got.
#[derive(Debug, Clone)]
pub struct SeriesOutcome {
    pub instrument: Instrument,
    pub requests: u64,
    /// Bars written (new or replaced), per source.
    pub written_by: BTreeMap<SourceId, u64>,
    /// Sources that failed for this series, with their error as it was (its
    /// [`JobError::kind`] tells a ban from an outage or a refusal); their bars were asked of the
    /// next source.
    pub source_errors: Vec<(SourceId, Arc<JobError>)>,
    /// Bars of the range no source answered for (every source failed there).
    pub unfetched: i64,
    /// Set when `unfetched` > 0: why.
    pub error: Option<String>,
    /// From the start of the run until this series was done.
    pub done_after: std::time::Duration,
}

impl SeriesOutcome {
    pub fn written(&self) -> u64 {
        self.written_by.values().sum()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub series: Vec<SeriesOutcome>,
}

impl Report {
    pub fn written(&self) -> u64 {
        self.series.iter().map(SeriesOutcome::written).sum()
    }

    /// Bars written per source over every series.
    pub fn written_by(&self) -> BTreeMap<SourceId, u64> {
        let mut total = BTreeMap::new();
        for s in &self.series {
            for (source, n) in &s.written_by {
                *total.entry(*source).or_default() += n;
            }
        }
        total
    }

    pub fn failures(&self) -> impl Iterator<Item = &SeriesOutcome> {
        self.series.iter().filter(|s| s.error.is_some())
    }
}

/// One series' range, resolved against the store.
struct Work {
    target: Target,
    instrument_id: i64,
    from: i64,
    end: i64,
}

/// Runs the plan. A series that fails does not stop the others; its error is in the report.
pub async fn run<S: CandleWrite>(store: &S, plan: &Plan, progress: &dyn Progress) -> Result<Report, JobError> {
    let tf = plan.timeframe;
    let newest_closed = tf.floor(now_ms()); // bars opening before this have closed
    let end = plan.end_ms.map_or(newest_closed, |e| tf.ceil(e).min(newest_closed));
    let mut groups: HashMap<Option<SourceId>, Vec<Work>> = HashMap::new();
    let mut total = 0;
    for target in &plan.targets {
        let primary = target.primary();
        let instrument_id = store.instrument_id(&target.instrument).await?;
        let from = match plan.start {
            Start::At(t) => tf.floor(t),
            Start::AfterLatest { fallback_ms } => store
                .latest_covered(instrument_id, tf)
                .await?
                .unwrap_or(tf.floor(fallback_ms)),
        };
        let todo = match primary {
            Some(p) => store.uncovered(instrument_id, tf, p, TimeRange::new(from, end)).await?,
            None => Vec::new(),
        };
        total += todo.iter().map(|r| tf.bars_between(r.start_ms, r.end_ms)).sum::<i64>();
        groups.entry(primary).or_default().push(Work {
            target: target.clone(),
            instrument_id,
            from,
            end,
        });
    }
    progress.start(total.max(0) as u64);

    let concurrency = plan.concurrency.max(1);
    let started = std::time::Instant::now();
    let per_group = groups.into_values().map(|works| {
        stream::iter(works)
            .map(|w| fill_series(store, tf, w, progress, started))
            .buffer_unordered(concurrency)
            .collect::<Vec<_>>()
    });
    let mut report = Report::default();
    for outcomes in join_all(per_group).await {
        for outcome in outcomes {
            report.series.push(outcome?);
        }
    }
    report.series.sort_by(|a, b| a.instrument.cmp(&b.instrument));
    Ok(report)
}

async fn fill_series<S: CandleWrite>(
    store: &S,
    tf: Timeframe,
    w: Work,
    progress: &dyn Progress,
    started: std::time::Instant,
) -> Result<SeriesOutcome, JobError> {
    let mut outcome = SeriesOutcome {
        instrument: w.target.instrument.clone(),
        requests: 0,
        written_by: BTreeMap::new(),
        source_errors: Vec::new(),
        unfetched: 0,
        error: None,
        done_after: std::time::Duration::ZERO,
    };
    // A source that cannot serve this market or timeframe is not part of this series' chain.
    let market = w.target.instrument.market;
    let sources: Vec<&Arc<dyn CandleSource>> = w.target.chain.iter().filter(|s| s.serves(market, tf)).collect();
    let chain: Vec<SourceId> = sources.iter().map(|s| s.id()).collect();
    for (rank, source) in sources.into_iter().enumerate() {
        let lower = chain[rank + 1..].to_vec();
        let mut holes = holes_for(store, &w, tf, source.id(), lower.clone()).await?;
        if rank > 0 {
            holes = with_seams(holes, tf, w.from, w.end);
        }
        if let Err(e) = fill_holes(store, tf, &w, source, rank, &lower, &holes, progress, &mut outcome).await {
            // Store errors end the job; a source's failure passes its bars to the next source.
            if let JobError::Store(_) | JobError::Worker(_) = e {
                return Err(e);
            }
            outcome.source_errors.push((source.id(), Arc::new(e)));
        }
    }
    let primary = chain.first().copied();
    let failed = unfetched(store, &w, tf, chain).await?;
    outcome.unfetched = failed.iter().map(|(a, b)| tf.bars_between(*a, *b)).sum();
    if let (Some(primary), false) = (primary, failed.is_empty()) {
        // Asked and failed, as opposed to never asked: the gap ledger tells the two apart.
        let notes = failed
            .iter()
            .map(|&(a, b)| (TimeRange::new(a, b), FETCH_FAILED.to_owned()))
            .collect();
        store.write_notes(w.instrument_id, tf, primary, notes).await?;
    }
    if outcome.unfetched > 0 {
        let why: Vec<_> = outcome.source_errors.iter().map(|(s, e)| format!("{s}: {e}")).collect();
        outcome.error = Some(format!(
            "{} bar(s) could not be fetched from any source; {}",
            outcome.unfetched,
            if why.is_empty() {
                "no source serves this series".to_owned()
            } else {
                why.join("; ")
            }
        ));
    }
    outcome.done_after = started.elapsed();
    Ok(outcome)
}

/// Bars `source` should be asked for: not answered by it yet, and not held by a bar from a
/// source at least as good (anything but the `lower`-ranked sources of this chain).
async fn holes_for<S: CandleWrite>(
    store: &S,
    w: &Work,
    tf: Timeframe,
    source: SourceId,
    lower: Vec<SourceId>,
) -> Result<Vec<(i64, i64)>, JobError> {
    let (id, range) = (w.instrument_id, TimeRange::new(w.from, w.end));
    let uncovered = store.uncovered(id, tf, source, range).await?;
    if uncovered.is_empty() {
        return Ok(Vec::new());
    }
    let held: Vec<(i64, i64)> = store
        .stored_sources(id, tf, range)
        .await?
        .into_iter()
        .filter(|(_, by)| !lower.contains(by))
        .map(|(t, _)| (t, t + tf.millis()))
        .collect();
    Ok(uncovered
        .into_iter()
        .flat_map(|r| subtract_ranges(r.start_ms, r.end_ms, &held))
        .collect())
}

/// Widens each hole a fallback fills by one bar on each side, within `[from, end)`: the fallback
/// also delivers the better source's bars at the seams, which are kept and cross-checked, so
/// every splice between two sources is measured.
fn with_seams(holes: Vec<(i64, i64)>, tf: Timeframe, from: i64, end: i64) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(holes.len());
    for (a, b) in holes {
        let (a, b) = ((a - tf.millis()).max(from), (b + tf.millis()).min(end));
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Ranges that are neither stored nor answered for by any source of the chain.
async fn unfetched<S: CandleWrite>(
    store: &S,
    w: &Work,
    tf: Timeframe,
    chain: Vec<SourceId>,
) -> Result<Vec<(i64, i64)>, JobError> {
    let (id, from, end) = (w.instrument_id, w.from, w.end);
    let range = TimeRange::new(from, end);
    let mut open = vec![(from, end)];
    for source in chain {
        let uncovered: Vec<(i64, i64)> = store
            .uncovered(id, tf, source, range)
            .await?
            .into_iter()
            .map(|r| r.as_pair())
            .collect();
        let covered = subtract_ranges(from, end, &uncovered);
        open = open
            .into_iter()
            .flat_map(|(a, b)| subtract_ranges(a, b, &covered))
            .collect();
    }
    let stored: Vec<(i64, i64)> = store
        .stored_sources(id, tf, range)
        .await?
        .into_iter()
        .map(|(t, _)| (t, t + tf.millis()))
        .collect();
    Ok(open
        .into_iter()
        .flat_map(|(a, b)| subtract_ranges(a, b, &stored))
        .collect())
}

#[allow(clippy::too_many_arguments)]
async fn fill_holes<S: CandleWrite>(
    store: &S,
    tf: Timeframe,
    w: &Work,
    source: &Arc<dyn CandleSource>,
    rank: usize,
    lower: &[SourceId],
    holes: &[(i64, i64)],
    progress: &dyn Progress,
    outcome: &mut SeriesOutcome,
) -> Result<(), JobError> {
    let instrument = &w.target.instrument;
    for &(hole_start, hole_end) in holes {
        let mut start = hole_start;
        while start < hole_end {
            let page = source.fetch_page(instrument, tf, start, hole_end).await?;
            outcome.requests += 1;
            let provenance = Provenance {
                source: source.id(),
                fetched_at_ms: now_ms(),
            };
            let covered = (start, page.covered_until);
            let id = w.instrument_id;
            let exhausted = page.exhausted;
            if !page.points.is_empty() {
                store.write_points(id, provenance, page.points).await?;
            }
            if !page.notes.is_empty() {
                let notes = page
                    .notes
                    .iter()
                    .map(|&(a, b, note)| (TimeRange::new(a, b), note.to_owned()))
                    .collect();
                store.write_notes(id, tf, provenance.source, notes).await?;
            }
            let write = OwnedPage {
                instrument_id: id,
                timeframe: tf,
                provenance,
                candles: page.candles,
                covered: Some(TimeRange::from(covered)),
                outranks: Some(lower.to_vec()),
            };
            let stats = store
                .write_pages(vec![write])
                .await?
                .first()
                .copied()
                .unwrap_or_default();
            if stats.written > 0 {
                *outcome.written_by.entry(source.id()).or_default() += stats.written;
            }
            if rank == 0 {
                let advanced = if exhausted {
                    tf.bars_between(start, hole_end)
                } else {
                    tf.bars_between(start, covered.1)
                };
                progress.advance(
                    advanced.max(0) as u64,
                    &format!("{instrument} {tf} up to {}", format_ms(covered.1)),
                );
            } else {
                progress.advance(
                    0,
                    &format!("{instrument} {tf} {} from {}", format_ms(covered.1), source.id()),
                );
            }
            if exhausted || covered.1 <= start {
                break;
            }
            start = covered.1;
        }
    }
    Ok(())
}
