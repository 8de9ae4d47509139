//! The service on PostgreSQL: sync and backfill go through the work queue, so several `serve`
//! (and `worker`) processes share them. Every process works the queue ([`start_workers`]); the
//! scheduling leader's sync or backfill cuts its series into units on a fixed grid and queues
//! them ([`collect`]), then waits until the queue has nothing pending. A process that dies with
//! a unit hands it on when its lease runs out; every page being committed with its covered
//! range, the next one fetches only what is still missing.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use candlekeep_core::time::{DAY_MS, now_ms};
use candlekeep_engine::backfill::{Plan, Start, Target};
use candlekeep_engine::events::{Event, EventBus};
use candlekeep_engine::worker::{self, Resolve, Schedule, Settings};
use candlekeep_store::{JobStatus, StoreHandle, WorkQueue};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::jobs::Outcome;
use crate::registry::Chains;

/// One unit of work: a week of one series. A sync queues about one unit per series, which spread
/// over the processes; a year's backfill is 53 units per series.
pub const UNIT_MS: i64 = 7 * DAY_MS;

/// How the process takes part in the queue.
#[derive(Debug, Clone)]
pub struct QueueRole {
    /// This process's name in the queue (leases, the log).
    pub owner: String,
    pub settings: Settings,
}

impl QueueRole {
    pub fn new(owner: String, slots: usize) -> Self {
        Self {
            owner,
            settings: Settings {
                lease: Duration::from_secs(60),
                slots,
                until_idle: false,
                replan_every: Duration::from_secs(3600),
                idle_poll: Duration::from_millis(500),
                retry_after: Duration::from_secs(60),
            },
        }
    }
}

/// Builds a unit's target from the chain names it was queued with, with this process's sources.
pub async fn resolver(config: &Config, store: &StoreHandle) -> Result<Resolve> {
    let chains = Arc::new(Chains::new(config, store).await?);
    let config = config.clone();
    Ok(Arc::new(move |instrument, tf, ids| {
        let chain = chains
            .named(ids, instrument, tf)
            .or_else(|| chains.chain(&config, instrument, tf).ok())?;
        Some(Target {
            instrument: instrument.clone(),
            chain,
        })
    }))
}

/// Works the queue until `stop` fires; each unit that stores bars is told on `bus` as
/// `candles-stored` (with `job_id` 0: a unit belongs to whichever run queued it).
pub async fn start_workers(
    config: &Config,
    store: &StoreHandle,
    role: &QueueRole,
    bus: EventBus,
    stop: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>> {
    let queue = store
        .postgres_work_queue(&role.owner)
        .await?
        .context("the work queue needs PostgreSQL")?;
    let resolve = resolver(config, store).await?;
    let events: worker::Events = Arc::new(move |e| {
        if let worker::Event::Finished { unit, written, .. } = &e
            && *written > 0
        {
            bus.send(Event::CandlesStored {
                instrument: unit.instrument.to_string(),
                timeframe: unit.timeframe.to_string(),
                bars: *written,
                job_id: 0,
                at_ms: now_ms(),
            });
        }
        tracing::debug!(event = ?e, "work queue");
    });
    let store = store.clone();
    let settings = role.settings;
    Ok(tokio::spawn(async move {
        tokio::select! {
            r = worker::work(queue, store, resolve, settings, events) => {
                if let Err(e) = r {
                    tracing::error!(error = %e, "this process stopped working the queue");
                }
            }
            () = stop.cancelled() => {}
        }
    }))
}

/// How long the units of a run may sit pending with none of them leased and none ending
/// before the run gives up on them (no process is working the queue).
const STALL: Duration = Duration::from_secs(600);

/// Sync or backfill through the queue: queues the plan's units and waits until none of them is
/// pending. `rows_written` counts the bars its units wrote (by whichever process).
pub async fn collect(store: &StoreHandle, role: &QueueRole, plan: &Plan) -> Result<Outcome> {
    let (from_ms, from_latest) = match plan.start {
        Start::At(t) => (t, false),
        Start::AfterLatest { fallback_ms } => (fallback_ms, true),
    };
    let schedule = Schedule {
        targets: plan.targets.clone(),
        timeframe: plan.timeframe,
        from_ms,
        to_ms: plan.end_ms,
        unit_ms: UNIT_MS,
    };
    let (units, until) = worker::units_for(store, &schedule, from_latest).await?;
    let mut queue = store
        .postgres_work_queue(&role.owner)
        .await?
        .context("the work queue needs PostgreSQL")?;
    // What these units wrote before this run (a unit queued again keeps its count).
    let written_before = queue.counts_of(&units).await?.written;
    // One plan name per job (the queue keeps a row per name).
    let name = if from_latest { "serve-sync" } else { "serve-backfill" };
    let added = queue.enqueue(name, &units, until).await?;
    // Done when none of this run's units is pending (failed ones were reopened by the enqueue).
    let mut progress = (tokio::time::Instant::now(), -1);
    let counts = loop {
        let c = queue.counts_of(&units).await?;
        if c.pending == 0 {
            break c;
        }
        let settled = c.done + c.failed;
        if settled != progress.1 || c.leased > 0 {
            progress = (tokio::time::Instant::now(), settled);
        } else if progress.0.elapsed() > STALL {
            anyhow::bail!(
                "{} of {} units stayed pending for {} minutes with none taken: is any serve or worker process working the queue?",
                c.pending,
                units.len(),
                STALL.as_secs() / 60
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let new_bars = u64::try_from(counts.written - written_before).unwrap_or(0);
    let failed = counts.failed;
    let summary = serde_json::json!({
        "through": "the PostgreSQL work queue",
        "series": plan.targets.len(),
        "units": units.len(),
        "units_queued_or_reopened": added,
        "units_failed": failed,
        "new_bars": new_bars,
    });
    Ok(Outcome {
        status: if failed > 0 { JobStatus::Failed } else { JobStatus::Ok },
        rows_written: new_bars,
        written_by: Default::default(),
        error: (failed > 0).then(|| format!("{failed} unit(s) failed after every attempt; see the work queue")),
        error_kind: (failed > 0).then(|| "source".to_owned()),
        summary,
    })
}
