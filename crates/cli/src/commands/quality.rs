//! `candlekeep quality`: daily quality rows per series, worst series first, and freshness.

use std::{collections::HashMap, process::ExitCode};

use anyhow::Result;
use candlekeep_app::store::open_store;
use candlekeep_core::{
    Instrument, Timeframe,
    time::{DAY_MS, HOUR_MS, format_ms, now_ms},
};
use candlekeep_store::{CandleRead, GapLedger, JobLog, JobStatus, QualityDay};
use serde_json::json;

use super::{Global, finish_job, invocation};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this asset or symbol (BTC or BTCUSDT).
    #[arg(long)]
    symbol: Option<String>,
    /// Days to judge, ending now; default: quality.days.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=6_000))]
    days: Option<u32>,
    /// Print JSON (every daily row) instead of a table.
    #[arg(long)]
    json: bool,
}

/// One series over the window.
struct Summary<'a> {
    instrument: &'a Instrument,
    timeframe: Timeframe,
    days: Vec<&'a QualityDay>,
    newest_close_ms: Option<i64>,
}

impl Summary<'_> {
    fn mean_score(&self) -> f64 {
        self.days.iter().map(|d| d.score).sum::<f64>() / self.days.len().max(1) as f64
    }
    fn worst_score(&self) -> f64 {
        self.days.iter().map(|d| d.score).fold(100.0, f64::min)
    }
    fn sum(&self, f: impl Fn(&QualityDay) -> i64) -> i64 {
        self.days.iter().map(|d| f(d)).sum()
    }
}

pub async fn run(global: &Global, args: Args) -> Result<ExitCode> {
    let config = global.load_config()?;
    let store = open_store(&config).await?;
    let job = store.job_started("quality", &invocation()).await?;
    // The quality job also keeps the stored-range index honest: the ledger and the daily
    // scores below are computed from it.
    super::gaps::verify_index(&store).await?;
    // The index check is committed; the scores are one transaction of their own.
    if let Some(code) = crate::signals::stop_here(&store, job, 0, vec![]).await {
        return Ok(code);
    }
    let now = now_ms();
    let days = args.days.unwrap_or(config.quality.days).max(1);
    let rows = store.refresh_quality(now - i64::from(days) * DAY_MS, now).await?;
    let fresh: HashMap<(Instrument, Timeframe), i64> = store
        .freshness()
        .await?
        .into_iter()
        .map(|(i, tf, end)| ((i, tf), end))
        .collect();
    finish_job(&store, job, JobStatus::Ok, 0, vec![], None).await;
    let wanted = |i: &Instrument| {
        args.symbol.as_deref().is_none_or(|s| {
            let s = s.trim().to_ascii_uppercase();
            i.base == s || i.symbol() == s
        })
    };
    let mut series: Vec<Summary<'_>> = Vec::new();
    for row in rows.iter().filter(|r| wanted(&r.instrument)) {
        match series.last_mut() {
            Some(s) if *s.instrument == row.instrument && s.timeframe == row.timeframe => s.days.push(row),
            _ => series.push(Summary {
                instrument: &row.instrument,
                timeframe: row.timeframe,
                days: vec![row],
                newest_close_ms: fresh.get(&(row.instrument.clone(), row.timeframe)).copied(),
            }),
        }
    }
    series.sort_by(|a, b| {
        a.mean_score()
            .total_cmp(&b.mean_score())
            .then(a.instrument.cmp(b.instrument))
    });
    let stale_ms = i64::from(config.quality.stale_after_hours) * HOUR_MS;
    let age = |s: &Summary<'_>| s.newest_close_ms.map(|c| (now - c).max(0));
    if args.json {
        let out: Vec<_> = series
            .iter()
            .map(|s| {
                json!({
                    "instrument": s.instrument.to_string(),
                    "timeframe": s.timeframe,
                    "mean_score": (s.mean_score() * 100.0).round() / 100.0,
                    "worst_day_score": (s.worst_score() * 100.0).round() / 100.0,
                    "newest_close": s.newest_close_ms.map(format_ms),
                    "age_seconds": age(s).map(|a| a / 1000),
                    "stale": age(s).is_none_or(|a| a > stale_ms),
                    "days": s.days.iter().map(|d| json!({
                        "day": format_ms(d.day_ms)[..10].to_owned(),
                        "expected": d.expected, "stored": d.stored, "missing": d.missing,
                        "completeness_pct": if d.expected > 0 { 100.0 * d.stored as f64 / d.expected as f64 } else { 100.0 },
                        "rejected": d.rejected, "flagged": d.flagged,
                        "divergence_bps": d.divergence_bps, "fallback_share": d.fallback_share,
                        "score": (d.score * 100.0).round() / 100.0,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "days": days, "series": out }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if series.is_empty() {
        println!("no series to judge in the last {days} day(s)");
        return Ok(ExitCode::SUCCESS);
    }
    println!("last {days} day(s), worst first; score 0-100 per day (formula in the README)");
    println!(
        "{:<20} {:<3} {:>6} {:>6} {:>8} {:>8} {:>7} {:>9} {:>9}  FRESHNESS",
        "SERIES", "TF", "SCORE", "WORST", "MISSING", "REJECTED", "FLAGGED", "DIVERG.", "FALLBACK"
    );
    for s in &series {
        let stored: i64 = s.sum(|d| d.stored);
        let from_fallback: f64 = s.days.iter().map(|d| d.fallback_share * d.stored as f64).sum();
        let divergences: Vec<f64> = s.days.iter().filter_map(|d| d.divergence_bps).collect();
        let freshness = match age(s) {
            None => "no bars".to_owned(),
            Some(a) if a > stale_ms => format!("STALE ({}h {:02}m)", a / HOUR_MS, a % HOUR_MS / 60_000),
            Some(a) => format!("ok ({}h {:02}m)", a / HOUR_MS, a % HOUR_MS / 60_000),
        };
        println!(
            "{:<20} {:<3} {:>6.1} {:>6.1} {:>8} {:>8} {:>7} {:>9} {:>8.2}%  {freshness}",
            s.instrument.to_string(),
            s.timeframe.to_string(),
            s.mean_score(),
            s.worst_score(),
            s.sum(|d| d.missing),
            s.sum(|d| d.rejected),
            s.sum(|d| d.flagged),
            if divergences.is_empty() {
                "-".to_owned()
            } else {
                format!("{:.2}bp", divergences.iter().sum::<f64>() / divergences.len() as f64)
            },
            if stored > 0 {
                100.0 * from_fallback / stored as f64
            } else {
                0.0
            },
        );
    }
    Ok(ExitCode::SUCCESS)
}
