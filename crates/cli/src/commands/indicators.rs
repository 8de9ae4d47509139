//! `candlekeep indicators`: the latest values of the standard indicator set for each stored
//! series (RSI marked overbought or oversold), computed from stored candles and saved in
//! `indicator_values` for the dashboard.

use std::process::ExitCode;

use anyhow::{Context, Result};
use candlekeep_app::store::open_store;
use candlekeep_core::Timeframe;
use candlekeep_core::time::{format_ms, now_ms};
use candlekeep_engine::Progress;
use candlekeep_engine::indicators::{self, DEFAULT_BARS, OVERBOUGHT, OVERSOLD, SeriesIndicators};
use candlekeep_store::{CandleRead, JobLog, JobStatus};
use serde_json::json;

use super::{Global, finish_job, invocation};
use crate::progress::CliProgress;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this asset or symbol (BTC or BTCUSDT).
    #[arg(long)]
    symbol: Option<String>,
    /// Timeframe of the series to compute (1m, 5m, 15m, 1h, 4h, 1d).
    #[arg(long, default_value = "1h")]
    timeframe: Timeframe,
    /// Newest stored bars to compute from, per series (EMA 200 needs about 5,000 to equal its
    /// value from the first bar to double precision).
    #[arg(long, default_value_t = DEFAULT_BARS, value_parser = parse_bars)]
    bars: usize,
    /// Print JSON (every value) instead of a table.
    #[arg(long)]
    json: bool,
}

/// The most bars `--bars` takes: far more than any indicator needs, and small enough that the
/// time span it covers cannot overflow.
const MAX_BARS: usize = 1_000_000;

/// `--bars`: 2 to [`MAX_BARS`].
fn parse_bars(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (2..=MAX_BARS).contains(&n) => Ok(n),
        _ => Err(format!("--bars must be at least 2 and at most {MAX_BARS}")),
    }
}

pub async fn run(global: &Global, args: Args) -> Result<ExitCode> {
    let config = global.load_config()?;
    let store = open_store(&config).await?;
    let job = store.job_started("indicators", &invocation()).await?;
    let wanted = |i: &candlekeep_core::Instrument| {
        args.symbol.as_deref().is_none_or(|s| {
            let s = s.trim().to_ascii_uppercase();
            i.base == s || i.symbol() == s
        })
    };
    let series: Vec<_> = store
        .series_status()
        .await?
        .into_iter()
        .filter(|s| s.timeframe == args.timeframe && wanted(&s.instrument))
        .collect();
    let progress = CliProgress::new("series");
    if !series.is_empty() {
        progress.start(series.len() as u64);
    }
    let computed = indicators::compute(&store, &series, args.bars, &mut |_, _| progress.advance(1, "computed")).await;
    progress.finish();
    // Nothing is stored until the save: stopping here leaves the previous values whole.
    if let Some(code) = crate::signals::stop_here(&store, job, 0, vec![]).await {
        return Ok(code);
    }
    let outcome = match computed.context("computing indicators") {
        Ok(c) => indicators::save(&store, &c, now_ms())
            .await
            .context("saving indicators")
            .map(|saved| (saved, c)),
        Err(e) => Err(e),
    };
    let (saved, computed) = match outcome {
        Ok(v) => v,
        Err(e) => {
            finish_job(&store, job, JobStatus::Failed, 0, vec![], Some(format!("{e:#}"))).await;
            return Err(e);
        }
    };
    finish_job(&store, job, JobStatus::Ok, saved as u64, vec![], None).await;
    if args.json {
        let out: Vec<_> = computed
            .iter()
            .map(|s| {
                json!({
                    "instrument": s.instrument.to_string(),
                    "timeframe": s.timeframe,
                    "bar": format_ms(s.bar_ms),
                    "close": s.close,
                    "bars": s.bars,
                    "rsi_zone": s.rsi_zone(),
                    "values": s.named().into_iter().map(|(k, v)| (k.to_owned(), json!(v))).collect::<serde_json::Map<_, _>>(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "timeframe": args.timeframe, "bars": args.bars, "series": out }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if computed.is_empty() {
        println!(
            "no stored {} series{}",
            args.timeframe,
            match &args.symbol {
                Some(s) => format!(" for {s}"),
                None => String::new(),
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    print_table(&computed);
    println!(
        "{} series; RSI >= {OVERBOUGHT} overbought, <= {OVERSOLD} oversold; {saved} values saved for the dashboard",
        computed.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn cell(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.decimals$}"))
}

fn print_table(computed: &[SeriesIndicators]) {
    println!(
        "{:<18} {:<17} {:>12} {:>6} {:<10} {:>10} {:>6} {:>5} {:>6} {:>6} {:>6}",
        "series", "bar (UTC)", "close", "RSI14", "", "MACD hist", "ATR%", "ADX", "trend", "vol z", "rvol"
    );
    for s in computed {
        let l = &s.latest;
        let bar = format_ms(s.bar_ms);
        println!(
            "{:<18} {:<17} {:>12} {:>6} {:<10} {:>10} {:>6} {:>5} {:>6} {:>6} {:>6}",
            format!("{} {}", s.instrument, s.timeframe),
            bar.get(..16).unwrap_or(&bar),
            format!("{}", s.close),
            cell(l.rsi, 1),
            s.rsi_zone().unwrap_or(""),
            cell(l.macd.map(|m| m.hist), 2),
            cell(l.natr, 2),
            cell(l.adx, 1),
            cell(l.trend, 2),
            cell(if s.has_volume { l.volume_z } else { None }, 2),
            cell(l.realized_vol.map(|v| v * 100.0), 0),
        );
    }
}
