//! `candlekeep status`.

use std::process::ExitCode;

use anyhow::Result;
use candlekeep_app::store::open_store;
use candlekeep_core::time::{format_ms, now_ms};
use candlekeep_store::{CandleRead, GapLedger, JobLog, JobStatus, SeriesStatus, TableCopy};
use serde_json::json;

use candlekeep_store::postgres::redact;

use super::{Global, finish_job, invocation};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Instead of coverage: how sources agree where two delivered the same bar (close
    /// difference in basis points, volume ratio), per series and pair of sources.
    #[arg(long)]
    cross_check: bool,
    /// Also print the content hash: SHA-256 over every candle's key, values and source (not its
    /// fetch time). Two stores with the same candles have the same hash, whatever the backend
    /// and however the data got there (one run, a run killed and resumed, a migrate).
    #[arg(long)]
    hash: bool,
}

async fn cross_check(store: &impl CandleRead, json_out: bool) -> Result<ExitCode> {
    let rows = store.cross_check_summary().await?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&json!({ "cross_checks": rows }))?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("no cross-checks yet: they are recorded where a second source delivers a bar already stored");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<20} {:<3} {:<18} {:<18} {:>7} {:>12} {:>12} {:>12}",
        "SERIES", "TF", "KEPT", "OTHER", "BARS", "MEAN |BPS|", "MAX |BPS|", "VOL RATIO"
    );
    for r in &rows {
        println!(
            "{:<20} {:<3} {:<18} {:<18} {:>7} {:>12.2} {:>12.2} {:>12}",
            r.instrument.to_string(),
            r.timeframe.to_string(),
            r.kept_source,
            r.other_source,
            r.bars,
            r.mean_abs_close_diff_bps,
            r.max_abs_close_diff_bps,
            r.median_volume_ratio.map_or("-".to_owned(), |v| format!("{v:.3}")),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Time since the newest bar closed, in seconds.
fn age_secs(s: &SeriesStatus, now: i64) -> i64 {
    ((now - (s.last_open_ms + s.timeframe.millis())) / 1000).max(0)
}

fn human_age(secs: i64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h {m:02}m"),
        _ => format!("{d}d {h:02}h"),
    }
}

pub async fn run(global: &Global, args: Args) -> Result<ExitCode> {
    let config = global.load_config()?;
    let store = open_store(&config).await?;
    // A role that may only read can still look: the run just goes unrecorded.
    let job = store.job_started("status", &invocation()).await.ok();
    let finish = async |store: &candlekeep_store::StoreHandle| {
        if let Some(job) = job {
            finish_job(store, job, JobStatus::Ok, 0, vec![], None).await;
        }
    };
    if args.cross_check {
        let code = cross_check(&store, args.json).await;
        finish(&store).await;
        return code;
    }
    let series = store.series_status().await?;
    let backend = store.describe().await?;
    let unfinished_copy = store.copy_marker().await?;
    let hash = if args.hash {
        Some(store.content_hash().await?)
    } else {
        None
    };
    // The same ledger `candlekeep gaps` shows, brought up to date (when the role may write), so
    // both tell one story: missing hours that were asked for, and hours not requested yet.
    let ledger = store.refresh_gaps(now_ms()).await.ok();
    finish(&store).await;
    let database = redact(&config.database.url);
    let now = now_ms();
    if args.json {
        let rows: Vec<_> = series
            .iter()
            .map(|s| {
                json!({
                    "instrument": s.instrument.to_string(),
                    "market": s.instrument.market,
                    "symbol": s.instrument.symbol(),
                    "base": s.instrument.base,
                    "quote": s.instrument.quote,
                    "timeframe": s.timeframe,
                    "first": format_ms(s.first_open_ms),
                    "last": format_ms(s.last_open_ms),
                    "first_open_ms": s.first_open_ms,
                    "last_open_ms": s.last_open_ms,
                    "count": s.count,
                    "expected": s.expected,
                    "completeness_pct": (s.completeness_pct() * 1000.0).round() / 1000.0,
                    "missing": s.missing(),
                    "age_seconds": age_secs(s, now),
                    "sources": s.sources.iter().map(|(name, n)| json!({"source": name, "candles": n})).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "database": database,
                "backend": backend,
                "content_hash": hash,
                "unfinished_copy": unfinished_copy.as_ref().map(|m| json!({
                    "source": m.source,
                    "started": format_ms(m.started_at_ms),
                })),
                "series": rows,
                "gaps": ledger.map(|g| json!({
                    "open": g.open,
                    "open_bars": g.open_bars,
                    "not_requested": g.not_requested,
                    "not_requested_bars": g.not_requested_bars,
                })),
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("database: {backend}");
    if let Some(hash) = &hash {
        println!("content hash: {hash}");
    }
    if let Some(m) = &unfinished_copy {
        println!(
            "WARNING: this database holds an unfinished copy of {} (migrate started {} and was interrupted before \
             it was verified): its contents are incomplete. Run `candlekeep migrate --from … --to … --restart` to copy again.",
            m.source,
            format_ms(m.started_at_ms)
        );
    }
    if series.is_empty() {
        println!("no candles stored yet in {database} — try `candlekeep backfill --from 2024-01-01`");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<20} {:<3} {:<20} {:<20} {:>8} {:>8} {:>9} {:>7} {:>8}  SOURCES",
        "SERIES", "TF", "FIRST", "LAST", "COUNT", "EXPECTED", "COMPLETE", "MISSING", "AGE"
    );
    for s in &series {
        println!(
            "{:<20} {:<3} {:<20} {:<20} {:>8} {:>8} {:>8.3}% {:>7} {:>8}  {}",
            s.instrument.to_string(),
            s.timeframe.to_string(),
            format_ms(s.first_open_ms),
            format_ms(s.last_open_ms),
            s.count,
            s.expected,
            s.completeness_pct(),
            s.missing(),
            human_age(age_secs(s, now)),
            s.sources
                .iter()
                .map(|(name, n)| format!("{name} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    match ledger {
        Some(g) => println!(
            "gaps: {} open gap(s), {} missing bar(s) that were asked for; {} bar(s) not requested yet \
             (before the first or after the last hour fetched: backfill or sync fetches them) — `candlekeep gaps` lists them",
            g.open, g.open_bars, g.not_requested_bars
        ),
        None => println!("gaps: the gap ledger could not be refreshed (read-only access); `candlekeep gaps` lists it"),
    }
    Ok(ExitCode::SUCCESS)
}
