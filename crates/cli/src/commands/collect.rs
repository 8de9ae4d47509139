//! `candlekeep backfill` and `candlekeep sync`.

use std::process::ExitCode;

use anyhow::Result;
use candlekeep_app::config::Config;
use candlekeep_app::store::open_store;
use candlekeep_core::time::DAY_MS;
use candlekeep_core::time::now_ms;
use candlekeep_engine::backfill::{self, Start};
use candlekeep_store::{JobLog, JobStatus};

use super::{
    Global, finish_job, invocation,
    plan::{DateRange, Selection},
};
use crate::progress::CliProgress;

#[derive(Debug, clap::Args)]
pub struct BackfillArgs {
    #[command(flatten)]
    range: DateRange,
    #[command(flatten)]
    selection: Selection,
}

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Only refresh the universe: CoinGecko's ranking (top --max-coins, default
    /// universe.max_coins) and every venue's instrument list; fetch no candles.
    #[arg(long)]
    symbols_only: bool,
    #[command(flatten)]
    selection: Selection,
}

pub async fn backfill(global: &Global, args: BackfillArgs) -> Result<ExitCode> {
    let (from, to) = args.range.resolve()?;
    collect(global, "backfill", &args.selection, |_| Start::At(from), to).await
}

pub async fn sync(global: &Global, args: SyncArgs) -> Result<ExitCode> {
    if args.symbols_only {
        return super::universe::refresh(global, args.selection.max_coins).await;
    }
    // A series with no history yet starts `collect.sync_initial_days` back.
    let start = |config: &Config| Start::AfterLatest {
        fallback_ms: now_ms() - i64::from(config.collect.sync_initial_days) * DAY_MS,
    };
    collect(global, "sync", &args.selection, start, None).await
}

/// Runs a backfill plan; `start` says where it begins, given the loaded configuration.
async fn collect(
    global: &Global,
    job: &str,
    sel: &Selection,
    start: impl FnOnce(&Config) -> Start,
    end: Option<i64>,
) -> Result<ExitCode> {
    {
        let mut config = global.load_config()?;
        if global.demo {
            global.start_demo(&mut config).await?;
        }
        let store = open_store(&config).await?;
        let plan = candlekeep_app::plan::plan(&config, &store, &sel.to_app(), start(&config), end).await?;
        let job_id = store.job_started(job, &invocation()).await?;
        let progress = CliProgress::new("bars");
        // A signal drops the run at its next await: every page is written in one transaction,
        // so what is stored is whole pages, and a rerun resumes after them.
        let outcome = tokio::select! {
            r = backfill::run(&store, &plan, &progress) => Ok(r),
            signal = crate::signals::wait() => Err(signal),
        };
        progress.finish();
        let record = |status, rows, sources, error| finish_job(&store, job_id, status, rows, sources, error);
        match outcome {
            Err(signal) => {
                let code = crate::signals::stopped(&store, job_id, 0, vec![], signal).await;
                eprintln!("interrupted: every page fetched so far is stored; run the same command again to resume");
                Ok(code)
            }
            Ok(Err(e)) => {
                record(JobStatus::Failed, 0, vec![], Some(format!("{e:#}"))).await;
                Err(e.into())
            }
            Ok(Ok(report)) => {
                let failures: Vec<_> = report.failures().collect();
                for s in &report.series {
                    match &s.error {
                        None => println!(
                            "{:<20} {:>9} new bars  ({} requests){}",
                            s.instrument.to_string(),
                            s.written(),
                            s.requests,
                            by_source(s)
                        ),
                        Some(e) => println!(
                            "{:<20} FAILED after {} new bars: {e}",
                            s.instrument.to_string(),
                            s.written()
                        ),
                    }
                }
                println!("{job}: {} bars written", report.written());
                // job_runs.sources_used: "source=candles" for every source that wrote any.
                let sources = report
                    .written_by()
                    .iter()
                    .map(|(source, n)| format!("{source}={n}"))
                    .collect();
                if failures.is_empty() {
                    record(JobStatus::Ok, report.written(), sources, None).await;
                    Ok(ExitCode::SUCCESS)
                } else {
                    let msg = format!("{} of {} series failed", failures.len(), report.series.len());
                    record(JobStatus::Failed, report.written(), sources, Some(msg.clone())).await;
                    eprintln!("error: {msg}; what was fetched is stored, and rerunning resumes the rest");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

/// " from binance-usdm-rest 700, okx-rest 20" when any fallback source wrote, else "".
fn by_source(s: &backfill::SeriesOutcome) -> String {
    if s.written_by.len() < 2 && s.source_errors.is_empty() {
        return String::new();
    }
    let parts: Vec<_> = s.written_by.iter().map(|(src, n)| format!("{src} {n}")).collect();
    let failed: Vec<_> = s.source_errors.iter().map(|(src, _)| format!("{src} failed")).collect();
    format!("  [{}]", parts.into_iter().chain(failed).collect::<Vec<_>>().join(", "))
}
