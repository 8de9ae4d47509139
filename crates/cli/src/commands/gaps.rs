//! `candlekeep gaps`: the gap ledger, and its repair through the fallback chains.

use std::process::ExitCode;

use anyhow::{Context, Result};
use candlekeep_app::store::open_store;
use candlekeep_core::time::{DAY_MS, format_ms, now_ms, parse_date_ms};
use candlekeep_store::{Gap, GapLedger, GapRefresh, GapStatus, JobLog, JobStatus, StoreHandle};
use serde_json::json;

use super::{Global, finish_job, invocation};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this asset or symbol (BTC or BTCUSDT).
    #[arg(long)]
    symbol: Option<String>,
    /// Only gaps that end after this day (UTC). With --fill, default: gaps.repair_days back.
    #[arg(long)]
    since: Option<String>,
    /// Which gaps to list: open, unrepairable, repaired or all.
    #[arg(long, default_value = "open", value_parser = ["open", "unrepairable", "repaired", "all"])]
    status: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Repair the open gaps through each series' fallback chain, then list what is left.
    #[arg(long)]
    fill: bool,
    /// First check the stored-range index against the candles (it drifts when rows are deleted
    /// or restored outside candlekeep), report any drift and rebuild the drifted series' index.
    #[arg(long)]
    verify: bool,
}

/// Reports and repairs drift of the stored-range index (also run by `candlekeep quality`).
pub async fn verify_index(store: &impl GapLedger) -> Result<usize> {
    let drift = store
        .verify_stored_ranges(true)
        .await
        .context("verifying the stored-range index against the candles")?;
    if drift.is_empty() {
        eprintln!("verify: the stored-range index matches the candles");
    }
    for d in &drift {
        eprintln!(
            "verify: {} {}: the index listed {} bar(s) that are not stored and missed {} stored bar(s); rebuilt from the candles",
            d.instrument, d.timeframe, d.phantom_bars, d.unindexed_bars
        );
    }
    Ok(drift.len())
}

fn matches(gap: &Gap, symbol: Option<&str>) -> bool {
    symbol.is_none_or(|s| {
        let s = s.trim().to_ascii_uppercase();
        gap.instrument.base == s || gap.instrument.symbol() == s
    })
}

/// The summary of a ledger as stored, for a role that cannot refresh it.
fn summarise(gaps: &[Gap]) -> GapRefresh {
    let mut series: Vec<(&candlekeep_core::Instrument, candlekeep_core::Timeframe)> =
        gaps.iter().map(|g| (&g.instrument, g.timeframe)).collect();
    series.sort();
    series.dedup();
    let mut summary = GapRefresh {
        series: series.len() as u64,
        ..GapRefresh::default()
    };
    for g in gaps.iter().filter(|g| g.status == GapStatus::Open) {
        summary.count_open(g.cause, g.bars());
    }
    summary
}

/// Brings the ledger up to date; a listing-only run on a store it may not write (a read-only
/// PostgreSQL role) shows the ledger as last refreshed instead.
async fn refresh(store: &StoreHandle, listing_only: bool) -> Result<GapRefresh> {
    match store.refresh_gaps(now_ms()).await {
        Ok(r) => Ok(r),
        Err(e) if listing_only => {
            eprintln!("note: the gap ledger could not be refreshed ({e}); it is shown as last refreshed");
            Ok(summarise(&store.gaps(None, 0).await?))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn run(global: &Global, args: Args) -> Result<ExitCode> {
    {
        let mut config = global.load_config()?;
        if global.demo && args.fill {
            global.start_demo(&mut config).await?;
        }
        let since = match &args.since {
            Some(d) => parse_date_ms(d).context("--since")?,
            None if args.fill => now_ms() - i64::from(config.gaps.repair_days) * DAY_MS,
            None => 0,
        };
        let store = open_store(&config).await?;
        // Only listing: a role that may only read (PostgreSQL) still sees the ledger as it was
        // last refreshed; the run then goes unrecorded.
        let listing_only = !args.fill && !args.verify;
        let job = match store
            .job_started(if args.fill { "gap-repair" } else { "gaps" }, &invocation())
            .await
        {
            Ok(job) => Some(job),
            Err(e) if listing_only => {
                eprintln!("note: this run is not logged ({e})");
                None
            }
            Err(e) => return Err(e.into()),
        };
        if args.verify {
            verify_index(&store).await?;
        }
        let before = refresh(&store, listing_only).await?;
        let mut written = 0;
        if args.fill {
            let repair = candlekeep_app::jobs::repair_open_gaps(
                &config,
                &store,
                since,
                |g| matches(g, args.symbol.as_deref()),
                || crate::signals::received().is_some(),
            )
            .await?;
            written = repair.written;
            // Stopped between two gaps: what is repaired so far is committed, and recorded as such.
            if let Some(job) = job
                && let Some(code) = crate::signals::stop_here(&store, job, written, vec![]).await
            {
                eprintln!("interrupted: {written} bars written; run the same command again to repair the rest");
                return Ok(code);
            }
            eprintln!(
                "repair: {} open gap(s) tried, {} got bars, {} no source has; {written} bars written",
                repair.tried, repair.repaired, repair.unrepairable
            );
        }
        let after = refresh(&store, listing_only).await?;
        let status = match args.status.as_str() {
            "all" => None,
            s => GapStatus::parse(s),
        };
        let gaps: Vec<Gap> = store
            .gaps(status, since)
            .await?
            .into_iter()
            .filter(|g| matches(g, args.symbol.as_deref()))
            .collect();
        if let Some(job) = job {
            finish_job(&store, job, JobStatus::Ok, written, vec![], None).await;
        }
        if args.json {
            let rows: Vec<_> = gaps
                .iter()
                .map(|g| {
                    json!({
                        "instrument": g.instrument.to_string(),
                        "timeframe": g.timeframe,
                        "start": format_ms(g.start_ms),
                        "end": format_ms(g.end_ms),
                        "start_ms": g.start_ms,
                        "end_ms": g.end_ms,
                        "bars": g.bars(),
                        "cause": g.cause,
                        "status": g.status,
                        "attempts": g.attempts,
                        "repaired_by": g.repaired_by,
                    })
                })
                .collect();
            let summary = json!({
                "series": after.series,
                "open": after.open,
                "open_bars": after.open_bars,
                "not_requested": after.not_requested,
                "not_requested_bars": after.not_requested_bars,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({ "summary": summary, "gaps": rows }))?
            );
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "{} series; {} open gap(s), {} missing bar(s){}{}",
            after.series,
            after.open,
            after.open_bars,
            if after.not_requested > 0 {
                format!(
                    "; {} bar(s) in {} range(s) not requested yet (backfill or sync fetches them)",
                    after.not_requested_bars, after.not_requested
                )
            } else {
                String::new()
            },
            if before.new > 0 {
                format!("; {} new since the last look", before.new)
            } else {
                String::new()
            }
        );
        if gaps.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "{:<20} {:<3} {:<20} {:<20} {:>6}  {:<13} {:<12} {:>8}  REPAIRED BY",
            "SERIES", "TF", "FROM", "TO", "BARS", "CAUSE", "STATUS", "ATTEMPTS"
        );
        for g in &gaps {
            println!(
                "{:<20} {:<3} {:<20} {:<20} {:>6}  {:<13} {:<12} {:>8}  {}",
                g.instrument.to_string(),
                g.timeframe.to_string(),
                format_ms(g.start_ms),
                format_ms(g.end_ms),
                g.bars(),
                g.cause,
                g.status.as_str(),
                g.attempts,
                g.repaired_by.as_deref().unwrap_or("")
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
