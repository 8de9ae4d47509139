//! `candlekeep worker`: one of several processes sharing backfill and sync through PostgreSQL.

use std::{process::ExitCode, sync::Arc, time::Duration};

use anyhow::{Result, bail};
use candlekeep_app::registry::Chains;
use candlekeep_app::store::{is_postgres, open_store};
use candlekeep_core::time::{DAY_MS, format_ms};
use candlekeep_engine::{
    backfill::{Start, Target},
    worker::{self, Event, Schedule, Settings},
};
use candlekeep_store::{CandleRead, JobLog, JobStatus};

use super::{
    Global, finish_job, invocation,
    plan::{DateRange, Selection},
};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    range: DateRange,
    #[command(flatten)]
    selection: Selection,
    /// Days of one series in one unit of work.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3_650))]
    unit_days: u32,
    /// Seconds a claimed unit stays this worker's without a renewal: a worker that dies hands
    /// its units on after this long.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(3..=86_400))]
    lease_secs: u64,
    /// Units this worker runs at a time (each on its own database connection).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    slots: u64,
    /// Stop once the schedule is planned and every unit is done (a one-off backfill shared by
    /// several workers); otherwise run until stopped, fetching new bars as they close.
    #[arg(long)]
    until_idle: bool,
    /// Seconds between plans of the scheduler (new bars at the end of each series).
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=86_400 * 7))]
    replan_secs: u64,
    /// This worker's name in the queue (default: host:pid).
    #[arg(long)]
    name: Option<String>,
}

fn default_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}:{}", std::process::id())
}

pub async fn run(global: &Global, args: Args) -> Result<ExitCode> {
    let (from, to) = args.range.resolve()?;
    {
        let mut config = global.load_config()?;
        if !is_postgres(&config.database.url) {
            bail!(
                "`candlekeep worker` shares the work through PostgreSQL, but the database is {}: set \
                 --database-url postgres://… (with SQLite, run `candlekeep backfill` or `sync`, one writer at a time)",
                config.database.url
            );
        }
        if global.demo {
            global.start_demo(&mut config).await?;
        }
        let name = args.name.clone().unwrap_or_else(default_name);
        // One connection per slot, the queue's, the scheduler's and this process's own.
        let needed = u32::try_from(args.slots).unwrap_or(u32::MAX).saturating_add(3);
        config.database.pool_size = config.database.pool_size.max(needed);
        let store = open_store(&config).await?;
        let backfill_plan =
            candlekeep_app::plan::plan(&config, &store, &args.selection.to_app(), Start::At(from), None).await?;
        let chains = Arc::new(Chains::new(&config, &store).await?);
        let resolve_config = config.clone();
        let resolve: worker::Resolve = Arc::new(move |instrument, tf, ids| {
            let chain = chains
                .named(ids, instrument, tf)
                .or_else(|| chains.chain(&resolve_config, instrument, tf).ok())?;
            Some(Target {
                instrument: instrument.clone(),
                chain,
            })
        });
        let slots = args.slots as usize;
        let Some(queue) = store.postgres_work_queue(&name).await? else {
            bail!("the work queue needs PostgreSQL");
        };
        let job = store.job_started("worker", &invocation()).await?;
        let schedule = Schedule {
            targets: backfill_plan.targets,
            timeframe: backfill_plan.timeframe,
            from_ms: from,
            to_ms: to,
            unit_ms: i64::from(args.unit_days) * DAY_MS,
        };
        let settings = Settings {
            lease: Duration::from_secs(args.lease_secs),
            slots,
            until_idle: args.until_idle,
            replan_every: Duration::from_secs(args.replan_secs),
            idle_poll: Duration::from_millis(500),
            retry_after: Duration::from_secs(60),
        };
        let tag = name.clone();
        let events: worker::Events = Arc::new(move |e| match e {
            Event::Scheduling => println!("{tag}: holds the scheduler role"),
            Event::Planned { units, added } => println!("{tag}: planned {units} units ({added} new or reopened)"),
            Event::Started(_) => {}
            Event::Finished { unit, written, error } => {
                let span = format!(
                    "{} {} {}..{}",
                    unit.instrument,
                    unit.timeframe,
                    format_ms(unit.start_ms),
                    format_ms(unit.end_ms)
                );
                match error {
                    None => println!("{tag}: {span}: {written} new bars"),
                    Some(e) => println!("{tag}: {span}: FAILED (attempt {}): {e}", unit.attempts),
                }
            }
            Event::Trouble(e) => eprintln!("{tag}: {e}; trying again shortly"),
            Event::LeaseLost(unit) => println!(
                "{tag}: lost the lease on {} {}..{} (it ran out); another worker has it",
                unit.instrument,
                format_ms(unit.start_ms),
                format_ms(unit.end_ms)
            ),
        });
        println!("{name}: working on {}", store.describe().await?);
        let outcome = tokio::select! {
            r = worker::run(queue, store.clone(), schedule, resolve, settings, events) => Ok(r),
            signal = crate::signals::wait() => Err(signal),
        };
        match outcome {
            Err(signal) => {
                let code = crate::signals::stopped(&store, job, 0, vec![], signal).await;
                eprintln!("interrupted: this worker's units go to the other workers when their leases run out");
                Ok(code)
            }
            Ok(Err(e)) => {
                finish_job(&store, job, JobStatus::Failed, 0, vec![], Some(format!("{e:#}"))).await;
                Err(e.into())
            }
            Ok(Ok(report)) => {
                println!(
                    "{name}: {} units done, {} failed, {} bars written",
                    report.units_done, report.units_failed, report.written
                );
                let status = if report.units_failed == 0 {
                    JobStatus::Ok
                } else {
                    JobStatus::Failed
                };
                finish_job(&store, job, status, report.written, vec![], None).await;
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}
