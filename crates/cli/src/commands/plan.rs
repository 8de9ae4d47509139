//! Which series a backfill or sync covers, and each one's fallback chain.
//!
//! `--max-coins N` takes the N best-ranked assets of the stored universe on every market where a
//! venue lists them; otherwise `--symbols` (or `collect.assets`). Either way, when the universe
//! knows where an instrument is listed, its chain keeps only those venues (so OKX is not asked
//! for a coin it does not list); an instrument the universe does not know keeps the whole chain.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};

use anyhow::{Context, Result, bail};
use candlekeep_core::{Instrument, Market, SourceId, Timeframe, Venue};
use candlekeep_engine::{
    backfill::{Plan, Start, Target},
    universe,
};
use candlekeep_sources::{
    CandleSource,
    binance::BinanceKlines,
    bybit::BybitKlines,
    coingecko::{CoinGecko, ohlc::CoinGeckoOhlc},
    cryptocompare::CryptoCompareHistory,
    okx::OkxCandles,
};
use candlekeep_store::Store;

use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct Selection {
    /// Assets or symbols, comma-separated (BTC,ETH or BTCUSDT); default: collect.assets.
    #[arg(long, alias = "symbol", value_delimiter = ',', conflicts_with = "max_coins")]
    pub symbols: Option<Vec<String>>,
    /// The N largest coins of the universe (refreshed by `sync --symbols-only`) instead of
    /// --symbols; with --symbols-only, how many coins to rank (default universe.max_coins).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::config::MAX_COINS)))]
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

/// Every REST candle source, by id, sharing one budget per venue host. CoinGecko knows coins by
/// id: `coingecko_ids` maps the universe's symbols to them.
fn sources(
    config: &Config,
    coingecko_ids: HashMap<String, String>,
) -> Result<HashMap<SourceId, Arc<dyn CandleSource>>> {
    let http = config.http();
    let mut sources: HashMap<SourceId, Arc<dyn CandleSource>> = HashMap::new();
    for market in Market::ALL {
        let source = BinanceKlines::new(market, &config.binance(market), http.clone())
            .with_context(|| format!("setting up Binance {market}"))?;
        sources.insert(source.id(), Arc::new(source));
    }
    let okx = OkxCandles::new(&config.okx(), http.clone()).context("setting up OKX")?;
    sources.insert(SourceId::OkxRest, Arc::new(okx));
    let bybit = BybitKlines::new(&config.bybit(), http.clone()).context("setting up Bybit")?;
    sources.insert(SourceId::BybitRest, Arc::new(bybit));
    let cc = CryptoCompareHistory::new(&config.cryptocompare(), http.clone()).context("setting up CryptoCompare")?;
    sources.insert(SourceId::CryptoCompare, Arc::new(cc));
    let coingecko = CoinGecko::new(&config.coingecko(), http).context("setting up CoinGecko")?;
    sources.insert(
        SourceId::CoinGecko,
        Arc::new(CoinGeckoOhlc::new(coingecko, coingecko_ids)),
    );
    Ok(sources)
}

/// Each instrument's fallback chain: the configured order, the sources that serve the market
/// and timeframe, and (with a universe) the venues that list the instrument.
pub struct Chains {
    sources: HashMap<SourceId, Arc<dyn CandleSource>>,
    listed_on: HashMap<Instrument, BTreeSet<Venue>>,
    coingecko_ids: HashMap<String, String>,
}

impl Chains {
    pub fn new(config: &Config, store: &mut dyn Store) -> Result<Self> {
        let quote = config.collect.quote.trim().to_ascii_uppercase();
        let listings = store.listings()?;
        let all_assets = store.ranked_assets(usize::MAX)?;
        let listed_on = universe::series(&all_assets, &listings, &Market::ALL, &quote)
            .into_iter()
            .collect();
        let coingecko_ids: HashMap<String, String> = all_assets
            .iter()
            .map(|a| (a.symbol.clone(), a.coingecko_id.clone()))
            .collect();
        Ok(Self {
            sources: sources(config, coingecko_ids.clone())?,
            listed_on,
            coingecko_ids,
        })
    }

    pub fn chain(&self, config: &Config, instrument: &Instrument, tf: Timeframe) -> Result<Vec<Arc<dyn CandleSource>>> {
        let venues = self.listed_on.get(instrument);
        let chain: Vec<_> = config
            .chain(&instrument.base)?
            .into_iter()
            // Aggregates have no listings: CryptoCompare is always kept, CoinGecko for the coins
            // of the universe (it needs their ids).
            .filter(|id| match id {
                SourceId::CryptoCompare => true,
                SourceId::CoinGecko => self.coingecko_ids.contains_key(&instrument.base),
                _ => venues.is_none_or(|v| v.contains(&id.venue())),
            })
            .filter_map(|id| self.sources.get(&id).cloned())
            .filter(|s| s.serves(instrument.market, tf))
            .collect();
        if chain.is_empty() {
            bail!(
                "no source in the fallback chain of {} serves {instrument} {tf} bars{}",
                instrument.base,
                if venues.is_some() {
                    " on a venue that lists it"
                } else {
                    ""
                }
            );
        }
        Ok(chain)
    }
}

impl Chains {
    /// The sources named by `ids`, in order, that this process has and that serve the
    /// instrument's market and timeframe (a work unit's chain, planned by another worker).
    pub fn named(
        &self,
        ids: &[SourceId],
        instrument: &Instrument,
        tf: Timeframe,
    ) -> Option<Vec<Arc<dyn CandleSource>>> {
        let chain: Vec<_> = ids
            .iter()
            .filter_map(|id| self.sources.get(id).cloned())
            .filter(|s| s.serves(instrument.market, tf))
            .collect();
        (!chain.is_empty()).then_some(chain)
    }
}

pub fn plan(config: &Config, store: &mut dyn Store, sel: &Selection, start: Start, end: Option<i64>) -> Result<Plan> {
    let markets: Vec<Market> = match &sel.markets {
        Some(m) => crate::config::parse_markets(m).context("--markets")?,
        None => config.markets()?,
    };
    let timeframe = match sel.timeframe {
        Some(tf) => tf,
        None => config.timeframe()?,
    };
    let quote = config.collect.quote.trim().to_ascii_uppercase();
    let instruments: Vec<Instrument> = match sel.max_coins {
        Some(n) => {
            let assets = store.ranked_assets(n as usize)?;
            if assets.is_empty() {
                bail!("the universe is empty: run `candlekeep sync --symbols-only` first to rank the coins");
            }
            universe::series(&assets, &store.listings()?, &markets, &quote)
                .into_iter()
                .map(|(i, _)| i)
                .collect()
        }
        None => config.instruments(sel.symbols.as_deref(), &markets)?,
    };
    let chains = Chains::new(config, store)?;
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
