//! SIGINT, SIGTERM and SIGHUP. The first one asks the running job to stop: it stops at its next
//! commit boundary (nothing half-written, everything committed so far kept), records
//! `interrupted` in `job_runs` and exits with 128 + the signal's number (130, 143, 129). A second
//! signal ends the process at once, for a job that does not get to a boundary soon enough.
//!
//! The signals are taken on a task of the process' one runtime; every job runs on that runtime
//! and never blocks its threads, so the task always gets to run.

use std::{
    process::ExitCode,
    sync::{
        OnceLock,
        atomic::{AtomicBool, Ordering},
    },
};

use anyhow::{Context, Result};
use candlekeep_store::{JobId, JobLog, JobStatus};
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::watch,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Hangup,
    Interrupt,
    Terminate,
}

impl Signal {
    /// Its number on every Unix.
    const fn number(self) -> u8 {
        match self {
            Self::Hangup => 1,
            Self::Interrupt => 2,
            Self::Terminate => 15,
        }
    }

    const fn name(self) -> &'static str {
        match self {
            Self::Hangup => "SIGHUP",
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
        }
    }

    /// What a process ended by this signal conventionally exits with.
    pub fn exit_code(self) -> ExitCode {
        ExitCode::from(128 + self.number())
    }

    /// For `job_runs.error`.
    pub fn describe(self) -> String {
        format!("interrupted by {}", self.name())
    }
}

/// The first signal received, if any.
fn state() -> &'static watch::Sender<Option<Signal>> {
    static STATE: OnceLock<watch::Sender<Option<Signal>>> = OnceLock::new();
    STATE.get_or_init(|| watch::channel(None).0)
}

/// Set with the first signal: for loops that poll rather than await.
static STOP: AtomicBool = AtomicBool::new(false);

/// Set by a job with no commit boundary to stop at: the first signal ends the process.
static AT_ONCE: AtomicBool = AtomicBool::new(false);

/// For a job that cannot stop part-way (it has no commit boundary before its end and leaves no
/// `running` record): a signal ends the process at once, as if it were not taken.
pub fn stop_at_once() {
    AT_ONCE.store(true, Ordering::SeqCst);
}

/// Takes over SIGINT, SIGTERM and SIGHUP for the rest of the process, on a task of the process'
/// runtime. Returns once they are taken, so no signal after this ends a job without its record.
pub fn install() -> Result<()> {
    let mut int = signal(SignalKind::interrupt()).context("taking SIGINT")?;
    let mut term = signal(SignalKind::terminate()).context("taking SIGTERM")?;
    let mut hup = signal(SignalKind::hangup()).context("taking SIGHUP")?;
    tokio::spawn(async move {
        loop {
            let got = tokio::select! {
                _ = int.recv() => Signal::Interrupt,
                _ = term.recv() => Signal::Terminate,
                _ = hup.recv() => Signal::Hangup,
            };
            if received().is_some() || AT_ONCE.load(Ordering::SeqCst) {
                eprintln!("{}: stopping now", got.name());
                std::process::exit(i32::from(128 + got.number()));
            }
            eprintln!(
                "{}: stopping at the next commit (send it again to stop at once)",
                got.name()
            );
            STOP.store(true, Ordering::SeqCst);
            state().send_replace(Some(got));
        }
    });
    Ok(())
}

/// The signal that asked the job to stop, if one did.
pub fn received() -> Option<Signal> {
    *state().borrow()
}

/// Set once a signal asked the job to stop (for jobs that check between batches).
pub fn stop_flag() -> &'static AtomicBool {
    &STOP
}

/// At a commit boundary of job `job`: if a signal asked it to stop, records it as
/// `interrupted` with what it wrote so far and gives the exit status to end with.
pub async fn stop_here(store: &impl JobLog, job: JobId, rows: u64, sources: Vec<String>) -> Option<ExitCode> {
    match received() {
        Some(signal) => Some(stopped(store, job, rows, sources, signal).await),
        None => None,
    }
}

/// Records job `job`, stopped by `signal`, as `interrupted` with what it wrote so far, and
/// gives the exit status to end with.
pub async fn stopped(store: &impl JobLog, job: JobId, rows: u64, sources: Vec<String>, signal: Signal) -> ExitCode {
    crate::commands::finish_job(
        store,
        job,
        JobStatus::Interrupted,
        rows,
        sources,
        Some(signal.describe()),
    )
    .await;
    signal.exit_code()
}

/// Resolves when a signal asks the job to stop.
pub async fn wait() -> Signal {
    let mut rx = state().subscribe();
    loop {
        if let Some(s) = *rx.borrow_and_update() {
            return s;
        }
        if rx.changed().await.is_err() {
            // The sender is a static: it is never dropped.
            std::future::pending::<()>().await;
        }
    }
}
