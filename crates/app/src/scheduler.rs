//! The service's scheduler: each job of `[schedule]` started when its cron expression fires
//! (the rules are [`candlekeep_engine::schedule`]'s: never overlapping itself, runs missed while
//! the service was down made up by one run at start).
//!
//! On PostgreSQL several `serve` processes may run: only the one holding the service's advisory
//! lock schedules ([`Leadership`]); the others look again every `lead_poll`, so when the leader
//! dies (its connection closes and the lock goes with it) another takes over within that time.
//! When a process becomes the leader it reads each job's last start from `job_runs`, so a
//! takeover neither repeats nor skips a run. On SQLite the one process schedules.

use std::future::Future;
use std::time::Duration;

use candlekeep_core::time::now_ms;
use candlekeep_engine::schedule::{Cron, JobState, is_due};
use candlekeep_store::postgres::PgWorkQueue;
use candlekeep_store::postgres::queue::SchedulerRole;
use candlekeep_store::{JobLog, JobQuery, StoreError, StoreHandle, WorkQueue};
use tokio_util::sync::CancellationToken;

use crate::config::ScheduleSection;
use crate::jobs::{JobArgs, JobKind};
use crate::service::{Service, StartError};

/// The time the scheduler goes by: the system clock, or (in tests) a clock that starts at a
/// chosen instant and moves with tokio's (pausable) time.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    System,
    Controlled {
        start_ms: i64,
        origin: tokio::time::Instant,
    },
}

impl Clock {
    /// A clock reading `start_ms` now and moving with tokio's time from here.
    pub fn starting_at(start_ms: i64) -> Self {
        Self::Controlled {
            start_ms,
            origin: tokio::time::Instant::now(),
        }
    }

    pub fn now_ms(&self) -> i64 {
        match self {
            Self::System => now_ms(),
            Self::Controlled { start_ms, origin } => {
                start_ms + i64::try_from(origin.elapsed().as_millis()).unwrap_or(i64::MAX)
            }
        }
    }
}

/// Who schedules.
pub trait Leadership: Send {
    /// Takes the role if it is free; true while this process holds it.
    fn lead(&mut self) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Gives the role up.
    fn resign(&mut self) -> impl Future<Output = ()> + Send;
}

/// The one process of an SQLite store always leads.
#[derive(Debug, Clone, Copy, Default)]
pub struct SoleLeader;

impl Leadership for SoleLeader {
    async fn lead(&mut self) -> Result<bool, StoreError> {
        Ok(true)
    }
    async fn resign(&mut self) {}
}

/// PostgreSQL: whoever holds the service's advisory lock.
#[derive(Debug)]
pub struct PgLeader(PgWorkQueue);

impl PgLeader {
    pub fn new(queue: PgWorkQueue) -> Self {
        Self(queue.for_role(SchedulerRole::Service))
    }
}

impl Leadership for PgLeader {
    async fn lead(&mut self) -> Result<bool, StoreError> {
        self.0.try_schedule().await
    }
    async fn resign(&mut self) {
        self.0.stop_scheduling().await;
    }
}

/// The leadership a store calls for: the advisory lock on PostgreSQL, sole on SQLite.
pub enum StoreLeader {
    Sole(SoleLeader),
    Postgres(Box<PgLeader>),
}

impl StoreLeader {
    pub async fn for_store(store: &StoreHandle, owner: &str) -> Result<Self, StoreError> {
        Ok(match store.postgres_work_queue(owner).await? {
            Some(queue) => Self::Postgres(Box::new(PgLeader::new(queue))),
            None => Self::Sole(SoleLeader),
        })
    }
}

impl Leadership for StoreLeader {
    async fn lead(&mut self) -> Result<bool, StoreError> {
        match self {
            Self::Sole(l) => l.lead().await,
            Self::Postgres(l) => l.lead().await,
        }
    }
    async fn resign(&mut self) {
        match self {
            Self::Sole(l) => l.resign().await,
            Self::Postgres(l) => l.resign().await,
        }
    }
}

/// What the scheduler starts jobs through: the [`Service`], or a recorder in tests.
pub trait Runner: Send + Sync {
    /// Whether a run of `kind` is under way in this process.
    fn is_running(&self, kind: JobKind) -> bool;
    /// Starts a run in the background.
    fn start(&self, kind: JobKind) -> impl Future<Output = Result<i64, StartError>> + Send;
    /// When the last run of `kind` started, by anyone (from `job_runs`).
    fn last_started(&self, kind: JobKind) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;
}

impl Runner for Service {
    fn is_running(&self, kind: JobKind) -> bool {
        self.running().iter().any(|r| r.kind == kind)
    }
    async fn start(&self, kind: JobKind) -> Result<i64, StartError> {
        Service::start(self, kind, JobArgs::default(), "schedule").await
    }
    async fn last_started(&self, kind: JobKind) -> Result<Option<i64>, StoreError> {
        let query = JobQuery {
            job: Some(kind.as_str().to_owned()),
            limit: 1,
            ..JobQuery::default()
        };
        Ok(self.context().store.jobs(query).await?.first().map(|r| r.started_at))
    }
}

/// How often the scheduler looks at the clock, and how often a follower asks for the lead.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub tick: Duration,
    pub lead_poll: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(1),
            lead_poll: Duration::from_secs(15),
        }
    }
}

/// The scheduled jobs: every `[schedule]` entry with its job.
pub fn entries(schedule: &ScheduleSection) -> Result<Vec<(JobKind, Cron)>, candlekeep_engine::schedule::ScheduleError> {
    let mut out = Vec::new();
    for kind in JobKind::ALL {
        let Some(key) = kind.schedule_key() else { continue };
        if let Some((_, expression)) = schedule.entries().into_iter().find(|(k, _)| *k == key) {
            out.push((kind, Cron::parse(expression)?));
        }
    }
    Ok(out)
}

/// What the scheduler did, for tests and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tick {
    Leading,
    Following,
    Started { kind: JobKind, id: i64, at_ms: i64 },
}

/// Runs the schedule until `stop` fires; `observe` hears what it does.
pub async fn run<R: Runner, L: Leadership>(
    runner: &R,
    mut leader: L,
    jobs: Vec<(JobKind, Cron)>,
    clock: Clock,
    timing: Timing,
    stop: CancellationToken,
    observe: &(dyn Fn(Tick) + Send + Sync),
) {
    let mut states: Vec<JobState> = vec![JobState::default(); jobs.len()];
    let mut leading = false;
    loop {
        let lead = match leader.lead().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "could not ask for the scheduler's role; asking again shortly");
                false
            }
        };
        if lead && !leading {
            // Newly the leader: every job's last start, whoever ran it.
            let mut ready = true;
            for ((kind, _), state) in jobs.iter().zip(states.iter_mut()) {
                match runner.last_started(*kind).await {
                    Ok(last) => state.last_started_ms = last,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not read the job log; scheduling waits");
                        ready = false;
                    }
                }
            }
            if ready {
                leading = true;
                tracing::info!("this process schedules the jobs");
                observe(Tick::Leading);
            }
        } else if !lead && leading {
            leading = false;
            tracing::info!("another process schedules the jobs now");
            observe(Tick::Following);
        }
        if leading {
            let now = clock.now_ms();
            for ((kind, cron), state) in jobs.iter().zip(states.iter_mut()) {
                state.running = runner.is_running(*kind);
                if !is_due(cron, *state, now) {
                    continue;
                }
                // Whatever comes of the start, this firing is spent: a failure to start is
                // retried at the next firing, not every tick.
                state.last_started_ms = Some(now);
                match runner.start(*kind).await {
                    Ok(id) => observe(Tick::Started {
                        kind: *kind,
                        id,
                        at_ms: now,
                    }),
                    Err(StartError::Busy { .. }) => {}
                    Err(StartError::ShuttingDown) => break,
                    Err(e) => tracing::warn!(job = kind.as_str(), error = %e, "scheduled run not started"),
                }
            }
        }
        let wait = if leading { timing.tick } else { timing.lead_poll };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.cancelled() => break,
        }
    }
    leader.resign().await;
}
