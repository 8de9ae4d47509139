//! The retention job: deletes what `[retention]` says may go, and nothing else. By default
//! every key is 0 and nothing is deleted. Candles go only by timeframe and age (finer
//! timeframes kept for N days), never because a coin was delisted; the store records how far
//! each timeframe was pruned, so the gap ledger and quality do not count pruned hours as
//! missing and a backfill does not fetch them again.

use anyhow::Result;
use candlekeep_core::time::{DAY_MS, now_ms};
use candlekeep_store::Retention;

use crate::jobs::{JobContext, Outcome};

pub async fn run(ctx: &JobContext) -> Result<Outcome> {
    let keep = &ctx.config.retention;
    let now = now_ms();
    let cutoff = |days: u32| now - i64::from(days) * DAY_MS;
    let mut candles = serde_json::Map::new();
    let mut deleted = 0;
    for (timeframe, days) in keep.candle_keeps() {
        let n = ctx.store.prune_candles(timeframe, cutoff(days)).await?;
        deleted += n;
        candles.insert(timeframe.to_string(), n.into());
    }
    let job_runs = match keep.job_runs_days {
        0 => 0,
        days => ctx.store.prune_job_runs(cutoff(days)).await?,
    };
    let http_cache = match keep.http_cache_days {
        0 => 0,
        days => ctx.store.prune_http_cache(cutoff(days)).await?,
    };
    let configured = !keep.candle_keeps().is_empty() || keep.job_runs_days > 0 || keep.http_cache_days > 0;
    Ok(Outcome::ok(
        deleted + job_runs + http_cache,
        serde_json::json!({
            "configured": configured,
            "candles_deleted": candles,
            "job_runs_deleted": job_runs,
            "http_cache_deleted": http_cache,
        }),
    ))
}
