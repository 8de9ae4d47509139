//! The service's jobs, each run from its arguments to an outcome with no terminal in sight: what
//! `candlekeep serve` runs on its schedule and on `POST /api/v1/jobs/{job}`, and what the
//! command line runs with its own output around it.
//!
//! A job here does the work and says what came of it ([`Outcome`]: rows, sources, error, a
//! JSON summary); recording the run in `job_runs`, telling listeners and not overlapping are
//! [`crate::service`]'s.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use candlekeep_core::time::{DAY_MS, now_ms, parse_date_ms};
use candlekeep_core::{Market, Timeframe};
use candlekeep_engine::backfill::{self, Plan, Start, Target};
use candlekeep_engine::events::{Event, EventBus};
use candlekeep_engine::{NoProgress, indicators, universe};
use candlekeep_store::{CandleRead, Gap, GapLedger, GapStatus, JobStatus, StoreHandle, UniverseStore};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::plan::{self, Selection};
use crate::registry::{self, Chains};

/// The jobs the service runs, by the name they have in the API and in `job_runs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobKind {
    /// The newest closed bars of every series, then the indicators.
    Sync,
    /// A date range of history.
    Backfill,
    /// The latest standard indicator set of every series.
    Indicators,
    /// Repair open gaps of the last `gaps.repair_days` through the fallback chains.
    GapsFill,
    /// The stored-range index checked, and the daily quality rows.
    Quality,
    /// CoinGecko's ranking and every venue's instrument list.
    Universe,
    /// What `[retention]` says may go.
    Retention,
    /// A sample of the machine's and the service's health.
    Health,
}

impl JobKind {
    pub const ALL: [JobKind; 8] = [
        Self::Sync,
        Self::Backfill,
        Self::Indicators,
        Self::GapsFill,
        Self::Quality,
        Self::Universe,
        Self::Retention,
        Self::Health,
    ];

    /// The name in the API's paths and in `job_runs.job`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sync => "sync",
            Self::Backfill => "backfill",
            Self::Indicators => "indicators",
            Self::GapsFill => "gaps-fill",
            Self::Quality => "quality",
            Self::Universe => "universe",
            Self::Retention => "retention",
            Self::Health => "health",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The job's key in `[schedule]`, if it has one of its own (indicators follow each sync; a
    /// backfill is asked for).
    pub fn schedule_key(self) -> Option<&'static str> {
        match self {
            Self::Sync => Some("sync"),
            Self::Universe => Some("universe"),
            Self::GapsFill => Some("gap_repair"),
            Self::Quality => Some("quality"),
            Self::Retention => Some("retention"),
            Self::Health => Some("health"),
            Self::Backfill | Self::Indicators => None,
        }
    }
}

impl std::fmt::Display for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job's arguments; each job reads the ones it has and ignores none silently (see
/// [`JobArgs::check`]). Unset: the configuration's value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobArgs {
    /// Assets or symbols (BTC or BTCUSDT): sync, backfill, indicators, gaps-fill.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbols: Option<Vec<String>>,
    /// The N best-ranked coins of the stored universe instead of `symbols`: sync, backfill.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_coins: Option<u32>,
    /// Markets (`spot`, `usdm`): sync, backfill.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub markets: Option<Vec<String>>,
    /// 1m, 5m, 15m, 1h, 4h or 1d: sync, backfill, indicators.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeframe: Option<String>,
    /// First day (UTC, YYYY-MM-DD): backfill (required); gaps-fill (default: gaps.repair_days back).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Day after the last (UTC, YYYY-MM-DD): backfill (default: up to now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Days to judge: quality (default: quality.days).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
}

impl JobArgs {
    /// Refuses arguments the job does not take, naming them, and values that cannot be right.
    pub fn check(&self, kind: JobKind) -> Result<()> {
        let takes: &[&str] = match kind {
            JobKind::Sync => &["symbols", "max_coins", "markets", "timeframe"],
            JobKind::Backfill => &["symbols", "max_coins", "markets", "timeframe", "from", "to"],
            JobKind::Indicators => &["symbols", "timeframe"],
            JobKind::GapsFill => &["symbols", "from"],
            JobKind::Quality => &["days"],
            JobKind::Universe => &["max_coins"],
            JobKind::Retention | JobKind::Health => &[],
        };
        let given = [
            ("symbols", self.symbols.is_some()),
            ("max_coins", self.max_coins.is_some()),
            ("markets", self.markets.is_some()),
            ("timeframe", self.timeframe.is_some()),
            ("from", self.from.is_some()),
            ("to", self.to.is_some()),
            ("days", self.days.is_some()),
        ];
        for (name, set) in given {
            if set && !takes.contains(&name) {
                bail!(
                    "{name}: the {kind} job does not take this argument (it takes: {})",
                    takes.join(", ")
                );
            }
        }
        if let Some(s) = &self.symbols
            && (s.is_empty() || s.len() > 1_000 || s.iter().any(|x| x.trim().is_empty() || x.len() > 32))
        {
            bail!("symbols: give 1 to 1000 non-empty symbols like BTC or BTCUSDT");
        }
        if let Some(n) = self.max_coins
            && !(1..=crate::config::MAX_COINS).contains(&n)
        {
            bail!("max_coins: must be 1 to {}", crate::config::MAX_COINS);
        }
        if let Some(m) = &self.markets {
            crate::config::parse_markets(&m.join(",")).context("markets")?;
        }
        if let Some(tf) = &self.timeframe {
            tf.parse::<Timeframe>().context("timeframe")?;
        }
        if let Some(d) = self.days
            && !(1..=crate::config::MAX_DAYS_BACK).contains(&d)
        {
            bail!("days: must be 1 to {}", crate::config::MAX_DAYS_BACK);
        }
        let from = self.from.as_deref().map(parse_date_ms).transpose().context("from")?;
        let to = self.to.as_deref().map(parse_date_ms).transpose().context("to")?;
        if kind == JobKind::Backfill && from.is_none() {
            bail!("from: a backfill needs its first day (YYYY-MM-DD)");
        }
        if let (Some(f), Some(t)) = (from, to)
            && t <= f
        {
            bail!("to: must be after from");
        }
        Ok(())
    }

    fn selection(&self) -> Result<Selection> {
        Ok(Selection {
            symbols: self.symbols.clone(),
            max_coins: self.max_coins,
            markets: self.markets.as_ref().map(|m| m.join(",")),
            timeframe: self
                .timeframe
                .as_deref()
                .map(str::parse)
                .transpose()
                .context("timeframe")?,
            series: None,
        })
    }

    fn wants(&self, instrument: &candlekeep_core::Instrument) -> bool {
        self.symbols.as_ref().is_none_or(|list| {
            list.iter().any(|s| {
                let s = s.trim().to_ascii_uppercase();
                instrument.base == s || instrument.symbol() == s
            })
        })
    }
}

/// How a job ended, before it is recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: JobStatus,
    pub rows_written: u64,
    /// Candles written per source (sources that wrote none are left out).
    pub written_by: BTreeMap<String, u64>,
    pub error: Option<String>,
    /// What kind of failure `error` is (see [`failure_kind`]).
    pub error_kind: Option<String>,
    /// What the job did, for the API and the log.
    pub summary: serde_json::Value,
}

impl Outcome {
    pub(crate) fn ok(rows: u64, summary: serde_json::Value) -> Self {
        Self {
            status: JobStatus::Ok,
            rows_written: rows,
            written_by: BTreeMap::new(),
            error: None,
            error_kind: None,
            summary,
        }
    }

    /// A run that ended without its work done: `status` failed or interrupted, with why.
    pub(crate) fn cut_short(status: JobStatus, error: String, kind: &str) -> Self {
        Self {
            status,
            rows_written: 0,
            written_by: BTreeMap::new(),
            error: Some(error),
            error_kind: Some(kind.to_owned()),
            summary: serde_json::Value::Null,
        }
    }
}

/// What a job needs from the process: the configuration, the store, where to tell what it
/// stored, and how the health sample learns the API's latency.
#[derive(Clone)]
pub struct JobContext {
    pub config: Arc<Config>,
    pub store: StoreHandle,
    pub events: EventBus,
    pub health: Arc<crate::health::Health>,
    /// On PostgreSQL, sync and backfill go through the work queue as this process
    /// ([`crate::cluster`]); `None`: they run in this process.
    pub queue: Option<crate::cluster::QueueRole>,
}

impl JobContext {
    /// A context for a store, with a new event bus and health probe, running jobs in-process.
    pub fn new(config: Config, store: StoreHandle) -> Self {
        Self {
            config: Arc::new(config),
            store,
            events: EventBus::new(),
            health: Arc::new(crate::health::Health::default()),
            queue: None,
        }
    }
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext").finish_non_exhaustive()
    }
}

/// Runs one job to its end. `job_id` is its `job_runs` row (events name it).
pub async fn run(ctx: &JobContext, kind: JobKind, args: &JobArgs, job_id: i64) -> Result<Outcome> {
    args.check(kind)?;
    match kind {
        JobKind::Sync => {
            let fallback_ms = now_ms() - i64::from(ctx.config.collect.sync_initial_days) * DAY_MS;
            let mut selection = args.selection()?;
            if args.symbols.is_none() && args.max_coins.is_none() {
                selection.series = Some(sync_series(ctx, &selection).await?);
            }
            let mut outcome = collect(ctx, selection, Start::AfterLatest { fallback_ms }, None, job_id).await?;
            // Indicators right after each sync that stored bars (part of the same run); with
            // nothing new they would come out the same.
            if outcome.rows_written == 0 {
                outcome.summary["indicators"] = serde_json::json!("unchanged: no new bars");
                return Ok(outcome);
            }
            let ind = indicators_job(
                ctx,
                &JobArgs {
                    symbols: args.symbols.clone(),
                    timeframe: args.timeframe.clone(),
                    ..JobArgs::default()
                },
            )
            .await?;
            outcome.summary["indicators"] = ind.summary;
            Ok(outcome)
        }
        JobKind::Backfill => {
            let from = parse_date_ms(args.from.as_deref().unwrap_or_default()).context("from")?;
            let to = args.to.as_deref().map(parse_date_ms).transpose().context("to")?;
            collect(ctx, args.selection()?, Start::At(from), to, job_id).await
        }
        JobKind::Indicators => indicators_job(ctx, args).await,
        JobKind::GapsFill => repair_gaps(ctx, args).await,
        JobKind::Quality => quality(ctx, args).await,
        JobKind::Universe => universe_job(ctx, args).await,
        JobKind::Retention => crate::retention::run(ctx).await,
        JobKind::Health => crate::health::sample(ctx).await,
    }
}

/// What a sync without a selection keeps fresh: every series already stored at the timeframe,
/// and the configured assets on the configured markets.
async fn sync_series(ctx: &JobContext, selection: &Selection) -> Result<Vec<candlekeep_core::Instrument>> {
    let timeframe = match selection.timeframe {
        Some(tf) => tf,
        None => ctx.config.timeframe()?,
    };
    let markets: Vec<Market> = match &selection.markets {
        Some(m) => crate::config::parse_markets(m).context("markets")?,
        None => ctx.config.markets()?,
    };
    let mut series: Vec<_> = ctx
        .store
        .series_status()
        .await?
        .into_iter()
        .filter(|s| s.timeframe == timeframe && markets.contains(&s.instrument.market))
        .map(|s| s.instrument)
        .collect();
    series.extend(ctx.config.instruments(None, &markets)?);
    series.sort();
    series.dedup();
    Ok(series)
}

/// Sync and backfill: the selection's plan, fetched through each series' chain.
async fn collect(
    ctx: &JobContext,
    selection: Selection,
    start: Start,
    end: Option<i64>,
    job_id: i64,
) -> Result<Outcome> {
    let plan = plan::plan(&ctx.config, &ctx.store, &selection, start, end).await?;
    if let Some(role) = &ctx.queue {
        return crate::cluster::collect(&ctx.store, role, &plan).await;
    }
    let report = backfill::run(&ctx.store, &plan, &NoProgress).await?;
    let tf = plan.timeframe.to_string();
    let at_ms = now_ms();
    for s in report.series.iter().filter(|s| s.written() > 0) {
        ctx.events.send(Event::CandlesStored {
            instrument: s.instrument.to_string(),
            timeframe: tf.clone(),
            bars: s.written(),
            job_id,
            at_ms,
        });
    }
    Ok(backfill_outcome(&report))
}

/// The outcome of a backfill's report: failed when any series failed (what was fetched is
/// stored either way).
pub fn backfill_outcome(report: &backfill::Report) -> Outcome {
    let failures: Vec<String> = report
        .failures()
        .map(|s| format!("{}: {}", s.instrument, s.error.as_deref().unwrap_or("failed")))
        .collect();
    let per_source: BTreeMap<String, u64> = report
        .written_by()
        .into_iter()
        .map(|(s, n)| (s.to_string(), n))
        .collect();
    let summary = serde_json::json!({
        "series": report.series.len(),
        "bars_written": report.written(),
        "by_source": &per_source,
        "failed_series": &failures,
    });
    Outcome {
        status: if failures.is_empty() {
            JobStatus::Ok
        } else {
            JobStatus::Failed
        },
        rows_written: report.written(),
        written_by: per_source,
        error_kind: report.failures().next().map(|s| {
            s.source_errors
                .last()
                .map_or("source".to_owned(), |(_, e)| e.kind().name())
        }),
        error: (!failures.is_empty()).then(|| {
            format!(
                "{} of {} series failed: {}",
                failures.len(),
                report.series.len(),
                failures.join("; ")
            )
        }),
        summary,
    }
}

async fn indicators_job(ctx: &JobContext, args: &JobArgs) -> Result<Outcome> {
    let timeframe: Timeframe = match &args.timeframe {
        Some(tf) => tf.parse().context("timeframe")?,
        None => ctx.config.timeframe()?,
    };
    let series: Vec<_> = ctx
        .store
        .series_status()
        .await?
        .into_iter()
        .filter(|s| s.timeframe == timeframe && args.wants(&s.instrument))
        .collect();
    let computed = indicators::compute(&ctx.store, &series, indicators::DEFAULT_BARS, &mut |_, _| {}).await?;
    let saved = indicators::save(&ctx.store, &computed, now_ms()).await?;
    Ok(Outcome::ok(
        saved as u64,
        serde_json::json!({ "series": computed.len(), "values_saved": saved }),
    ))
}

/// Repairs the open gaps ending after `since_ms` through each series' chain, one gap at a
/// time (each is committed before the next), recording each attempt in the ledger. Between
/// gaps, `stop()` may end the repair early (`GapRepair::stopped`).
pub async fn repair_open_gaps(
    config: &Config,
    store: &StoreHandle,
    since_ms: i64,
    wanted: impl Fn(&Gap) -> bool,
    stop: impl Fn() -> bool,
) -> Result<GapRepair> {
    let chains = Chains::new(config, store).await?;
    let open: Vec<Gap> = store
        .gaps(Some(GapStatus::Open), since_ms)
        .await?
        .into_iter()
        .filter(|g| wanted(g))
        .collect();
    let mut repair = GapRepair {
        tried: open.len() as u64,
        ..GapRepair::default()
    };
    for gap in &open {
        if stop() {
            repair.stopped = true;
            break;
        }
        let plan = Plan {
            targets: vec![Target {
                instrument: gap.instrument.clone(),
                chain: chains.chain(config, &gap.instrument, gap.timeframe)?,
            }],
            timeframe: gap.timeframe,
            // One bar more on each side: the fallback's bars at the seams are compared.
            start: Start::At(gap.start_ms.max(since_ms) - gap.timeframe.millis()),
            end_ms: Some(gap.end_ms + gap.timeframe.millis()),
            concurrency: 1,
        };
        let report = backfill::run(store, &plan, &NoProgress).await?;
        let Some(outcome) = report.series.first() else {
            continue;
        };
        repair.written += outcome.written();
        // Every source answered for these hours and none had a bar: nothing can fill it.
        let none_has_it = outcome.written() == 0 && outcome.source_errors.is_empty() && outcome.unfetched == 0;
        if outcome.written() > 0 {
            repair.repaired += 1;
        }
        if none_has_it {
            repair.unrepairable += 1;
        }
        store.gap_attempted(gap, none_has_it).await?;
    }
    Ok(repair)
}

/// What a gap repair did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GapRepair {
    /// Open gaps tried.
    pub tried: u64,
    /// Gaps that got bars.
    pub repaired: u64,
    /// Gaps no source has.
    pub unrepairable: u64,
    /// Bars written.
    pub written: u64,
    /// Asked to stop before every gap was tried.
    pub stopped: bool,
}

async fn repair_gaps(ctx: &JobContext, args: &JobArgs) -> Result<Outcome> {
    let since = match &args.from {
        Some(d) => parse_date_ms(d).context("from")?,
        None => now_ms() - i64::from(ctx.config.gaps.repair_days) * DAY_MS,
    };
    ctx.store.refresh_gaps(now_ms()).await?;
    let repair = repair_open_gaps(&ctx.config, &ctx.store, since, |g| args.wants(&g.instrument), || false).await?;
    let after = ctx.store.refresh_gaps(now_ms()).await?;
    Ok(Outcome::ok(
        repair.written,
        serde_json::json!({ "repair": repair, "open_after": after.open, "open_bars_after": after.open_bars }),
    ))
}

async fn quality(ctx: &JobContext, args: &JobArgs) -> Result<Outcome> {
    // The quality job also keeps the stored-range index honest: the ledger and the scores are
    // computed from it.
    let drift = ctx.store.verify_stored_ranges(true).await?;
    let now = now_ms();
    let days = args.days.unwrap_or(ctx.config.quality.days).max(1);
    let rows = ctx.store.refresh_quality(now - i64::from(days) * DAY_MS, now).await?;
    let worst = rows
        .iter()
        .map(|r| r.score)
        .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.min(s))));
    Ok(Outcome::ok(
        rows.len() as u64,
        serde_json::json!({ "index_drift_repaired": drift.len(), "days": rows.len(), "worst_score": worst }),
    ))
}

async fn universe_job(ctx: &JobContext, args: &JobArgs) -> Result<Outcome> {
    let config = &ctx.config;
    let max_coins = args.max_coins.unwrap_or(config.universe.max_coins).max(1) as usize;
    let coingecko = registry::coingecko(config)?;
    let venues = registry::listing_sources(config)?;
    let quote = config.collect.quote.trim().to_ascii_uppercase();
    let report = universe::refresh(&ctx.store, &coingecko, &venues, max_coins, &quote).await?;
    let mut failures = Vec::new();
    let mut listed = 0;
    for (venue, market, result) in &report.venues {
        match result {
            Ok(c) => listed += c.listed,
            Err(e) => failures.push(format!("{venue} {market}: {e}")),
        }
    }
    let assets = ctx.store.ranked_assets(max_coins).await?;
    let listings = ctx.store.listings().await?;
    let series = universe::series(&assets, &listings, &Market::ALL, &quote).len();
    let mut outcome = Outcome::ok(
        listed,
        serde_json::json!({ "assets": report.assets, "listings": listed, "series": series, "failed_venues": failures }),
    );
    if !failures.is_empty() {
        outcome.status = JobStatus::Failed;
        outcome.error = Some(failures.join("; "));
        outcome.error_kind = Some("source".into());
    }
    Ok(outcome)
}

/// What kind of failure ended a job, from its error's chain: the engine's kinds
/// (`source:banned`, `store`…), `invalid-arguments` for arguments the job refused, `other`
/// for the rest.
pub fn failure_kind(error: &anyhow::Error) -> String {
    for cause in error.chain() {
        if let Some(e) = cause.downcast_ref::<candlekeep_engine::JobError>() {
            return e.kind().name();
        }
        if cause.is::<candlekeep_store::StoreError>() {
            return "store".into();
        }
        if let Some(e) = cause.downcast_ref::<candlekeep_sources::SourceError>() {
            return format!("source:{}", e.kind());
        }
    }
    "other".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_named_by_the_first_typed_error_in_its_chain() {
        let store = anyhow::Error::new(candlekeep_engine::JobError::Store(candlekeep_store::StoreError::Busy))
            .context("writing a page");
        assert_eq!(failure_kind(&store), "store");
        let bare = anyhow::Error::new(candlekeep_store::StoreError::Busy);
        assert_eq!(failure_kind(&bare), "store");
        assert_eq!(failure_kind(&anyhow::anyhow!("no venue lists it")), "other");
        assert_eq!(
            candlekeep_engine::JobFailure::Source(candlekeep_sources::FailureKind::Banned).name(),
            "source:banned"
        );
    }
}
