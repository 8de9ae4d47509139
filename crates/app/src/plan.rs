//! Which series a backfill, a sync or a worker covers: the selection (assets or the N best-ranked
//! coins, markets, timeframe) resolved against the configuration and the stored universe, each
//! series with its fallback chain from [`crate::registry`].
//!
//! `max_coins: Some(N)` takes the N best-ranked assets of the stored universe on every market
//! where a venue lists them; otherwise `symbols` (or `collect.assets`).

use anyhow::{Context, Result, bail};
use candlekeep_core::{Instrument, Market, Timeframe};
use candlekeep_engine::{
    backfill::{Plan, Start, Target},
    universe,
};
use candlekeep_store::UniverseStore;

use crate::{
    config::{self, Config},
    registry::Chains,
};

/// What to collect; `None` takes the configuration's value.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Assets or symbols (BTC or BTCUSDT).
    pub symbols: Option<Vec<String>>,
    /// The N largest coins of the stored universe instead of `symbols`.
    pub max_coins: Option<u32>,
    /// Markets, comma-separated (`spot,usdm`).
    pub markets: Option<String>,
    pub timeframe: Option<Timeframe>,
    /// Exactly these series, instead of `symbols` or `max_coins` on `markets` (the service's
    /// sync: every series already stored).
    pub series: Option<Vec<Instrument>>,
}

/// The backfill plan of a selection: every series with its chain, from `start` to `end`.
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
    let instruments: Vec<Instrument> = match (&sel.series, sel.max_coins) {
        (Some(series), _) => series.clone(),
        (None, Some(n)) => {
            let assets = store.ranked_assets(n as usize).await?;
            if assets.is_empty() {
                bail!("the universe is empty: run `candlekeep sync --symbols-only` first to rank the coins");
            }
            universe::series(&assets, &store.listings().await?, &markets, &quote)
                .into_iter()
                .map(|(i, _)| i)
                .collect()
        }
        (None, None) => config.instruments(sel.symbols.as_deref(), &markets)?,
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
