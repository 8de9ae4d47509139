//! Which series a backfill or sync covers (the selection flags), with each one's fallback chain
//! from `candlekeep_app::registry`.
//!
//! `--max-coins N` takes the N best-ranked assets of the stored universe on every market where a
//! venue lists them; otherwise `--symbols` (or `collect.assets`).

use anyhow::{Context, Result, bail};
use candlekeep_app::{
    config::{self, Config},
    registry::Chains,
};
use candlekeep_core::{Instrument, Market, Timeframe};
use candlekeep_engine::{
    backfill::{Plan, Start, Target},
    universe,
};
use candlekeep_store::UniverseStore;

#[derive(Debug, clap::Args)]
pub struct Selection {
    /// Assets or symbols, comma-separated (BTC,ETH or BTCUSDT); default: collect.assets.
    #[arg(long, alias = "symbol", value_delimiter = ',', conflicts_with = "max_coins")]
    pub symbols: Option<Vec<String>>,
    /// The N largest coins of the universe (refreshed by `sync --symbols-only`) instead of
    /// --symbols; with --symbols-only, how many coins to rank (default universe.max_coins).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(config::MAX_COINS)))]
    pub max_coins: Option<u32>,
    /// Markets, comma-separated: spot, usdm; default: collect.markets.
    #[arg(long)]
    pub markets: Option<String>,
    /// 1m, 5m, 15m, 1h, 4h or 1d; default: collect.timeframe.
    #[arg(long)]
    pub timeframe: Option<Timeframe>,
}

/// `--from` and `--to`, as backfill and worker take them.
#[derive(Debug, clap::Args)]
pub struct DateRange {
    /// First day (UTC), e.g. 2020-01-01 or 2020-01-01T06:00.
    #[arg(long)]
    pub from: String,
    /// End (exclusive, UTC); default: now (a worker then keeps going as new bars close). Only
    /// closed candles are ever stored.
    #[arg(long)]
    pub to: Option<String>,
}

impl DateRange {
    /// `(from, to)` in epoch ms, checked: `from` in the past, `to` after it.
    pub fn resolve(&self) -> Result<(i64, Option<i64>)> {
        use candlekeep_core::time::{format_ms, now_ms, parse_date_ms};
        let from = parse_date_ms(&self.from).context("--from")?;
        let to = self.to.as_deref().map(parse_date_ms).transpose().context("--to")?;
        if let Some(to) = to {
            anyhow::ensure!(
                to > from,
                "--to ({}) must be after --from ({})",
                format_ms(to),
                format_ms(from)
            );
        }
        anyhow::ensure!(from < now_ms(), "--from ({}) is in the future", format_ms(from));
        Ok((from, to))
    }
}

pub async fn plan(
    config: &Config,
    store: &impl UniverseStore,
    sel: &Selection,
    start: Start,
    end: Option<i64>,
) -> Result<Plan> {
    let markets: Vec<Market> = match &sel.markets {
        Some(m) => config::parse_markets(m).context("--markets")?,
        None => config.markets()?,
    };
    let timeframe = match sel.timeframe {
        Some(tf) => tf,
        None => config.timeframe()?,
    };
    let quote = config.collect.quote.trim().to_ascii_uppercase();
    let instruments: Vec<Instrument> = match sel.max_coins {
        Some(n) => {
            let assets = store.ranked_assets(n as usize).await?;
            if assets.is_empty() {
                bail!("the universe is empty: run `candlekeep sync --symbols-only` first to rank the coins");
            }
            universe::series(&assets, &store.listings().await?, &markets, &quote)
                .into_iter()
                .map(|(i, _)| i)
                .collect()
        }
        None => config.instruments(sel.symbols.as_deref(), &markets)?,
    };
    let chains = Chains::new(config, store).await?;
    let mut targets = Vec::new();
    for instrument in instruments {
        let chain = chains.chain(config, &instrument, timeframe)?;
        targets.push(Target { instrument, chain });
    }
    if targets.is_empty() {
        bail!("nothing to collect: no venue lists the selected coins on the selected markets");
    }
    Ok(Plan {
        targets,
        timeframe,
        start,
        end_ms: end,
        concurrency: config.collect.concurrency,
    })
}
