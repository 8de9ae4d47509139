//! `candlekeep worker`: several processes, on one machine or many, share the backfill and sync
//! work through the PostgreSQL work queue.
//!
//! Whichever worker holds the scheduler role turns the schedule (series, their chains, the
//! start) into units of one series over one fixed stretch of time, and re-plans every
//! `replan_every` so the newest unit of each series is fetched again as new bars close. Every
//! worker runs `slots` units at a time: it claims a unit under a lease, renews the lease while
//! the unit's backfill runs, and records the outcome. A worker that dies stops renewing; its
//! unit goes to another worker when the lease runs out, and because every page is committed
//! with its covered range, the next one fetches only what is still missing.

use std::sync::Arc;
use std::time::Duration;

use candlekeep_core::{Instrument, SourceId, Timeframe, time::now_ms};
use candlekeep_store::WorkQueue;
use candlekeep_store::queue::{NewUnit, Unit};
use tokio::sync::Mutex;

use crate::backfill::{self, Plan, Start, Target};
use candlekeep_store::CandleWrite;

use crate::{JobError, NoProgress};

/// What the scheduler plans.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub targets: Vec<Target>,
    pub timeframe: Timeframe,
    pub from_ms: i64,
    /// End of a one-off range (exclusive); `None`: up to the newest closed bar, re-planned.
    pub to_ms: Option<i64>,
    /// Length of a unit; units sit on a fixed grid of this step, so re-planning finds them again.
    pub unit_ms: i64,
}

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long a claimed unit stays this worker's without a renewal.
    pub lease: Duration,
    /// Units run at the same time by this worker.
    pub slots: usize,
    /// End once the schedule has been planned and no unit is left (one-off cluster backfills,
    /// tests); otherwise run until stopped.
    pub until_idle: bool,
    pub replan_every: Duration,
    /// Wait between looks at an empty queue.
    pub idle_poll: Duration,
    /// Wait before a failed unit is tried again.
    pub retry_after: Duration,
}

/// Builds a unit's target from its instrument and chain names, with this worker's sources.
pub type Resolve = Arc<dyn Fn(&Instrument, Timeframe, &[SourceId]) -> Option<Target> + Send + Sync>;

/// What a worker tells as it goes.
#[derive(Debug, Clone)]
pub enum Event {
    Scheduling,
    Planned {
        units: usize,
        added: u64,
    },
    Started(Unit),
    Finished {
        unit: Unit,
        written: u64,
        error: Option<String>,
    },
    LeaseLost(Unit),
    /// A call to the queue or the store failed; the slot waits `retry_after` (at most a
    /// minute) and goes on rather than leaving the queue.
    Trouble(String),
}

pub type Events = Arc<dyn Fn(Event) + Send + Sync>;

/// What one worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    pub units_done: u64,
    pub units_failed: u64,
    pub written: u64,
    pub scheduled: bool,
}

/// The worker's queue, shared by its scheduler duty and its slots: one queue call at a time
/// (each is one short statement or transaction), waited for asynchronously.
type Queue<Q> = Arc<Mutex<Q>>;

/// The units of one series: `[from, until)` cut on the grid of `unit_ms`. The last one ends at
/// `until` for a fixed range; up to now it keeps its end on the grid, so re-planning finds it
/// again (and reopens it for the bars that closed since).
pub fn units_of(
    instrument_id: i64,
    tf: Timeframe,
    chain: &[SourceId],
    (from, until): (i64, i64),
    unit_ms: i64,
    fixed_end: bool,
) -> Vec<NewUnit> {
    let step = unit_ms.max(tf.millis());
    let mut out = Vec::new();
    let mut start = tf.floor(from);
    while start < until {
        let mut end = (start.div_euclid(step) + 1) * step;
        if fixed_end && end > until {
            end = until;
        }
        out.push(NewUnit {
            instrument_id,
            timeframe: tf,
            start_ms: start,
            end_ms: end,
            chain: chain.to_vec(),
        });
        start = end;
    }
    out
}

/// The units of a schedule, each series cut on the grid of `schedule.unit_ms` from
/// `schedule.from_ms` (or, with `from_latest`, from where each series' covered range ends) up to
/// its end or the newest closed bar; returns them with the end past which a done unit is reopened.
pub async fn units_for<S: CandleWrite>(
    store: &S,
    schedule: &Schedule,
    from_latest: bool,
) -> Result<(Vec<NewUnit>, i64), JobError> {
    let tf = schedule.timeframe;
    let newest = tf.floor(now_ms());
    let until = schedule.to_ms.map_or(newest, |t| tf.ceil(t).min(newest));
    let fixed_end = schedule.to_ms.is_some_and(|t| tf.ceil(t) <= newest);
    let mut units = Vec::new();
    for t in &schedule.targets {
        let id = store.instrument_id(&t.instrument).await?;
        let chain: Vec<SourceId> = t.chain.iter().map(|s| s.id()).collect();
        let from = match from_latest {
            true => store.latest_covered(id, tf).await?.unwrap_or(schedule.from_ms),
            false => schedule.from_ms,
        };
        units.extend(units_of(id, tf, &chain, (from, until), schedule.unit_ms, fixed_end));
    }
    Ok((units, until))
}

async fn plan<S: CandleWrite, Q: WorkQueue>(
    queue: &Queue<Q>,
    store: &S,
    schedule: &Schedule,
) -> Result<(usize, u64), JobError> {
    let (units, until) = units_for(store, schedule, false).await?;
    let n = units.len();
    let added = queue.lock().await.enqueue("schedule", &units, until).await?;
    Ok((n, added))
}

/// The scheduler duty: take the role when it is free, plan at once and then every
/// `replan_every`. Ends when `stop` says so.
async fn schedule_loop<S: CandleWrite, Q: WorkQueue>(
    queue: Queue<Q>,
    store: S,
    schedule: Arc<Schedule>,
    settings: Settings,
    events: Events,
    stop: Arc<tokio::sync::Notify>,
) -> Result<bool, JobError> {
    let mut last_plan: Option<tokio::time::Instant> = None;
    let mut scheduled = false;
    loop {
        let leader = queue.lock().await.try_schedule().await?;
        if leader {
            if !scheduled {
                events(Event::Scheduling);
                scheduled = true;
            }
            if last_plan.is_none_or(|t| t.elapsed() >= settings.replan_every) {
                let (units, added) = plan(&queue, &store, &schedule).await?;
                events(Event::Planned { units, added });
                last_plan = Some(tokio::time::Instant::now());
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.idle_poll.max(Duration::from_millis(200))) => {}
            _ = stop.notified() => return Ok(scheduled),
        }
    }
}

/// Runs one unit's backfill while renewing its lease; `None` when the lease was lost.
async fn run_unit<S: CandleWrite, Q: WorkQueue>(
    queue: &Queue<Q>,
    store: &S,
    unit: &Unit,
    target: Target,
    lease: Duration,
) -> Result<Option<backfill::Report>, JobError> {
    let plan = Plan {
        targets: vec![target],
        timeframe: unit.timeframe,
        start: Start::At(unit.start_ms),
        end_ms: Some(unit.end_ms),
        concurrency: 1,
    };
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    let work = backfill::run(store, &plan, &NoProgress);
    tokio::pin!(work);
    loop {
        tokio::select! {
            report = &mut work => return report.map(Some),
            _ = tokio::time::sleep(lease / 3) => {
                if !queue.lock().await.renew(unit.id, lease_ms).await? {
                    return Ok(None);
                }
            }
        }
    }
}

async fn slot_loop<S: CandleWrite, Q: WorkQueue>(
    queue: Queue<Q>,
    store: S,
    resolve: Resolve,
    settings: Settings,
    events: Events,
) -> Result<Report, JobError> {
    let mut report = Report::default();
    let lease_ms = i64::try_from(settings.lease.as_millis()).unwrap_or(i64::MAX);
    let retry_ms = i64::try_from(settings.retry_after.as_millis()).unwrap_or(i64::MAX);
    // A database that is away for a moment (a restart, a failover) costs a wait, not the slot.
    let pause = settings.retry_after.min(Duration::from_secs(60));
    let trouble = |e: &dyn std::fmt::Display| events(Event::Trouble(e.to_string()));
    loop {
        let claimed = queue.lock().await.claim(lease_ms).await;
        let claimed = match claimed {
            Ok(c) => c,
            Err(e) => {
                trouble(&e);
                tokio::time::sleep(pause).await;
                continue;
            }
        };
        let Some(unit) = claimed else {
            if settings.until_idle {
                let idle = {
                    let mut q = queue.lock().await;
                    match (q.planned("schedule").await, q.counts().await) {
                        (Ok(planned), Ok(counts)) => planned && counts.pending == 0,
                        (Err(e), _) | (_, Err(e)) => {
                            trouble(&e);
                            false
                        }
                    }
                };
                if idle {
                    return Ok(report);
                }
            }
            tokio::time::sleep(settings.idle_poll).await;
            continue;
        };
        events(Event::Started(unit.clone()));
        // Bars written, and why the unit is not done (some of its bars could be had from no source).
        let (written, error) = match resolve(&unit.instrument, unit.timeframe, &unit.chain) {
            None => (
                0,
                Some(format!(
                    "no source of the unit's chain ({}) is configured on this worker",
                    unit.chain.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                )),
            ),
            Some(target) => match run_unit(&queue, &store, &unit, target, settings.lease).await {
                Ok(None) => {
                    events(Event::LeaseLost(unit.clone()));
                    continue;
                }
                Ok(Some(r)) => (
                    r.written(),
                    r.failures().next().map(|f| f.error.clone().unwrap_or_default()),
                ),
                // The store failed under the unit: it is tried again (after `retry_after`), or
                // another worker takes it when the lease runs out.
                Err(e) => (0, Some(e.to_string())),
            },
        };
        let finished = queue
            .lock()
            .await
            .finish(unit.id, written, error.as_deref(), retry_ms)
            .await;
        if let Err(e) = finished {
            // Unrecorded: the lease runs out and the unit is claimed again.
            trouble(&e);
            tokio::time::sleep(pause).await;
            continue;
        }
        report.written += written;
        if error.is_some() {
            report.units_failed += 1;
        } else {
            report.units_done += 1;
        }
        events(Event::Finished { unit, written, error });
    }
}

/// Runs `settings.slots` units at a time from the queue, with no scheduler duty (the service's
/// processes on PostgreSQL: the leader plans, every process works).
pub async fn work<S: CandleWrite, Q: WorkQueue + 'static>(
    queue: Q,
    store: S,
    resolve: Resolve,
    settings: Settings,
    events: Events,
) -> Result<Report, JobError> {
    work_shared(Arc::new(Mutex::new(queue)), store, resolve, settings, events).await
}

async fn work_shared<S: CandleWrite, Q: WorkQueue + 'static>(
    queue: Queue<Q>,
    store: S,
    resolve: Resolve,
    settings: Settings,
    events: Events,
) -> Result<Report, JobError> {
    // A set, not detached tasks: dropping this future (the service stopping) ends every slot.
    let mut slots = tokio::task::JoinSet::new();
    for _ in 0..settings.slots.max(1) {
        slots.spawn(slot_loop(
            queue.clone(),
            store.clone(),
            resolve.clone(),
            settings,
            events.clone(),
        ));
    }
    let mut report = Report::default();
    let mut first_error = None;
    while let Some(slot) = slots.join_next().await {
        match slot.map_err(|e| JobError::Worker(e.to_string()))? {
            Ok(r) => {
                report.units_done += r.units_done;
                report.units_failed += r.units_failed;
                report.written += r.written;
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// Runs a worker: the scheduler duty whenever it can take it, and `settings.slots` units at a
/// time, sharing `store` (each call takes a connection of its own).
pub async fn run<S: CandleWrite, Q: WorkQueue + 'static>(
    queue: Q,
    store: S,
    schedule: Schedule,
    resolve: Resolve,
    settings: Settings,
    events: Events,
) -> Result<Report, JobError> {
    let queue: Queue<Q> = Arc::new(Mutex::new(queue));
    let stop = Arc::new(tokio::sync::Notify::new());
    let scheduler = tokio::spawn(schedule_loop(
        queue.clone(),
        store.clone(),
        Arc::new(schedule),
        settings,
        events.clone(),
        stop.clone(),
    ));
    let worked = work_shared(queue.clone(), store, resolve, settings, events).await;
    stop.notify_one();
    let scheduled = scheduler.await.map_err(|e| JobError::Worker(e.to_string()))?;
    // Leaving: the scheduler role is given up.
    queue.lock().await.stop_scheduling().await;
    let mut report = worked?;
    report.scheduled = scheduled?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_sit_on_a_fixed_grid() {
        let h = 3_600_000;
        let day = 24 * h;
        let chain = [SourceId::BinanceSpotRest];
        let spans = |fixed_end| -> Vec<(i64, i64)> {
            units_of(
                7,
                Timeframe::H1,
                &chain,
                (10 * day + 5 * h, 13 * day + h),
                day,
                fixed_end,
            )
            .iter()
            .map(|u| (u.start_ms, u.end_ms))
            .collect()
        };
        let inner = [(10 * day + 5 * h, 11 * day), (11 * day, 12 * day), (12 * day, 13 * day)];
        assert_eq!(spans(false), [&inner[..], &[(13 * day, 14 * day)]].concat());
        assert_eq!(spans(true), [&inner[..], &[(13 * day, 13 * day + h)]].concat());
        assert!(units_of(7, Timeframe::H1, &[], (day, day), day, false).is_empty());
    }
}
