//! The running service's jobs: started by the scheduler or the API, never two runs of one job
//! at once, each run a `job_runs` row from start to end, its start and end told on the event
//! bus, and every run cut short at shutdown recorded `interrupted`.
//!
//! A run is a task of the process's runtime. Stopping drops the job's future at its current
//! await: every page a job writes is one transaction, so what is stored is whole pages, and the
//! next run resumes after them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use candlekeep_core::time::now_ms;
use candlekeep_engine::events::Event;
use candlekeep_store::{JobLog, JobRecord, JobStatus, StoreError};
use futures::FutureExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::jobs::{self, JobArgs, JobContext, JobKind, Outcome};

/// Why a run was not started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// That job is running (the API answers 409).
    #[error("the {kind} job is already running (run {id})")]
    Busy { kind: JobKind, id: i64 },
    /// The arguments are wrong (the API answers 422).
    #[error("{0:#}")]
    Invalid(anyhow::Error),
    /// The service is stopping.
    #[error("the service is shutting down")]
    ShuttingDown,
    /// The run could not be recorded.
    #[error("could not record the run: {0}")]
    Store(#[from] StoreError),
}

/// A run in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Running {
    pub kind: JobKind,
    pub id: i64,
    pub started_ms: i64,
}

/// The service's job runner; clones share it.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("running", &self.running())
            .finish_non_exhaustive()
    }
}

struct Inner {
    ctx: JobContext,
    /// Runs in progress, by job. Held only to look up or change an entry, never across an await.
    running: Mutex<HashMap<JobKind, Running>>,
    tasks: TaskTracker,
    stop: CancellationToken,
}

/// Takes a job's entry out of the running table however its task ends (a panic included).
struct RunningEntry {
    inner: Arc<Inner>,
    kind: JobKind,
    /// The job's cluster-wide lock, released with the entry.
    _lock: Option<candlekeep_store::JobLock>,
}

impl Drop for RunningEntry {
    fn drop(&mut self) {
        self.inner
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.kind);
    }
}

impl Service {
    pub fn new(ctx: JobContext) -> Self {
        Self {
            inner: Arc::new(Inner {
                ctx,
                running: Mutex::new(HashMap::new()),
                tasks: TaskTracker::new(),
                stop: CancellationToken::new(),
            }),
        }
    }

    pub fn context(&self) -> &JobContext {
        &self.inner.ctx
    }

    /// Fires when the service begins to stop.
    pub fn stopping(&self) -> CancellationToken {
        self.inner.stop.clone()
    }

    /// Runs in progress, oldest first.
    pub fn running(&self) -> Vec<Running> {
        let mut runs: Vec<Running> = self
            .inner
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .copied()
            .collect();
        runs.sort_by_key(|r| r.id);
        runs
    }

    /// Starts a run of `kind` in the background and returns its `job_runs` id; refused while
    /// that job runs (here or, on PostgreSQL, in another process). `origin` is what the log's
    /// `args` column says started it. The run is a task of its own from the first step, so a
    /// caller that goes away (an HTTP client hanging up) cannot leave a half-started run.
    pub async fn start(&self, kind: JobKind, args: JobArgs, origin: &str) -> Result<i64, StartError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let inner = self.inner.clone();
        let origin = origin.to_owned();
        self.inner.tasks.spawn(async move {
            match begin(&inner, kind, &args, &origin).await {
                Ok((id, entry)) => {
                    let _ = tx.send(Ok(id));
                    execute(&inner, entry, kind, args, id).await;
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        });
        rx.await.unwrap_or(Err(StartError::ShuttingDown))
    }

    /// Runs `kind` to its end (the scheduler's way: one run at a time per job).
    pub async fn run(&self, kind: JobKind, args: JobArgs, origin: &str) -> Result<(i64, Outcome), StartError> {
        let inner = self.inner.clone();
        let origin = origin.to_owned();
        // On the tracker too, so a shutdown waits for it like for any run.
        let handle = self.inner.tasks.spawn(async move {
            let (id, entry) = begin(&inner, kind, &args, &origin).await?;
            Ok((id, execute(&inner, entry, kind, args, id).await))
        });
        handle.await.unwrap_or(Err(StartError::ShuttingDown))
    }

    /// Stops: no new run starts, running ones are cut at their current await and recorded
    /// `interrupted`; waits at most `grace` for them to be recorded. Returns whether every run
    /// was recorded in time.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.inner.stop.cancel();
        self.inner.tasks.close();
        tokio::time::timeout(grace, self.inner.tasks.wait()).await.is_ok()
    }
}

/// Checks the arguments, takes the job's running entry (and on PostgreSQL its cluster-wide
/// lock) and records the run's start.
async fn begin(
    inner: &Arc<Inner>,
    kind: JobKind,
    args: &JobArgs,
    origin: &str,
) -> Result<(i64, RunningEntry), StartError> {
    if inner.stop.is_cancelled() {
        return Err(StartError::ShuttingDown);
    }
    args.check(kind).map_err(StartError::Invalid)?;
    let started_ms = now_ms();
    {
        let mut running = inner.running.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(r) = running.get(&kind) {
            return Err(StartError::Busy { kind, id: r.id });
        }
        // Reserved before the row exists (id 0), so two requests at once cannot both start.
        running.insert(
            kind,
            Running {
                kind,
                id: 0,
                started_ms,
            },
        );
    }
    let mut entry = RunningEntry {
        inner: inner.clone(),
        kind,
        _lock: None,
    };
    let store = &inner.ctx.store;
    match store.job_lock(kind.as_str()).await? {
        Some(lock) => entry._lock = Some(lock),
        None => {
            // Another process runs it: its newest `running` row names the run.
            let query = candlekeep_store::JobQuery {
                job: Some(kind.as_str().to_owned()),
                status: Some(JobStatus::Running),
                limit: 1,
                ..Default::default()
            };
            let id = store.jobs(query).await?.first().map_or(0, |r| r.id);
            return Err(StartError::Busy { kind, id });
        }
    }
    let described = match serde_json::to_string(args) {
        Ok(a) if a != "{}" => format!("{origin} {a}"),
        _ => origin.to_owned(),
    };
    let id = store.job_started(kind.as_str(), &described).await?;
    if inner.stop.is_cancelled() {
        // The stop came while the row was being written: end it here rather than leave it open.
        let record = JobRecord {
            status: JobStatus::Interrupted,
            rows_written: 0,
            sources: Vec::new(),
            error: Some("the service stopped before the run began".into()),
            error_kind: Some("interrupted".into()),
        };
        let _ = store.job_finished(id, record).await;
        return Err(StartError::ShuttingDown);
    }
    if let Some(r) = inner
        .running
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_mut(&kind)
    {
        r.id = id;
    }
    inner.ctx.events.send(Event::JobStarted {
        id,
        job: kind.as_str().to_owned(),
        at_ms: started_ms,
    });
    Ok((id, entry))
}

/// Runs one job (until it ends or the service stops), records its end and tells listeners.
async fn execute(inner: &Inner, entry: RunningEntry, kind: JobKind, args: JobArgs, id: i64) -> Outcome {
    let clock = Instant::now();
    // A panicking job is a failed run, recorded as such, not a row left `running`.
    let work = std::panic::AssertUnwindSafe(jobs::run(&inner.ctx, kind, &args, id)).catch_unwind();
    let outcome = tokio::select! {
        r = work => match r {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => Outcome::cut_short(JobStatus::Failed, format!("{e:#}"), &jobs::failure_kind(&e)),
            Err(_) => Outcome::cut_short(JobStatus::Failed, "the job panicked (a bug: please report it)".into(), "panic"),
        },
        () = inner.stop.cancelled() => Outcome::cut_short(
            JobStatus::Interrupted,
            "the service stopped during the run; what was stored is kept and the next run resumes".into(),
            "interrupted",
        ),
    };
    let record = JobRecord {
        status: outcome.status,
        rows_written: outcome.rows_written,
        sources: outcome.written_by.iter().map(|(s, n)| format!("{s}={n}")).collect(),
        error: outcome.error.clone(),
        error_kind: outcome.error_kind.clone(),
    };
    if let Err(e) = inner.ctx.store.job_finished(id, record).await {
        tracing::error!(job = kind.as_str(), id, error = %e, "could not record the end of a run");
    }
    let duration_ms = i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX);
    match outcome.status {
        JobStatus::Failed => {
            tracing::warn!(
                job = kind.as_str(),
                id,
                duration_ms,
                error = outcome.error.as_deref().unwrap_or(""),
                "run failed"
            )
        }
        JobStatus::Interrupted => tracing::warn!(job = kind.as_str(), id, "run interrupted"),
        _ => tracing::info!(
            job = kind.as_str(),
            id,
            duration_ms,
            rows = outcome.rows_written,
            "run ended"
        ),
    }
    inner.ctx.events.send(Event::JobFinished {
        id,
        job: kind.as_str().to_owned(),
        status: outcome.status.as_str().to_owned(),
        rows_written: outcome.rows_written,
        written_by: outcome.written_by.clone(),
        error: outcome.error.clone(),
        at_ms: now_ms(),
        duration_ms,
    });
    drop(entry);
    outcome
}
