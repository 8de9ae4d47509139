//! The source registry: every venue's sources built from the configuration, and each
//! instrument's fallback chain.
//!
//! A venue is registered here once: its builder (below, named after it) sets it up from its
//! configuration section, and [`candle_sources`] (and [`listing_sources`], for a venue that lists
//! instruments) names it. When the universe knows where an instrument is listed, its chain keeps
//! only those venues (so OKX is not asked for a coin it does not list); an instrument the
//! universe does not know keeps the whole chain.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};

use anyhow::{Context, Result, bail};
use candlekeep_core::{Instrument, Market, SourceId, Timeframe, Venue};
use candlekeep_engine::universe;
use candlekeep_sources::{
    CandleSource,
    binance::BinanceKlines,
    bybit::BybitKlines,
    coingecko::{CoinGecko, ohlc::CoinGeckoOhlc},
    cryptocompare::CryptoCompareHistory,
    http::HttpConfig,
    listings::ListingSource,
    okx::OkxCandles,
};
use candlekeep_store::UniverseStore;

use crate::config::Config;

fn binance(config: &Config, market: Market, http: HttpConfig) -> Result<Arc<BinanceKlines>> {
    let source = BinanceKlines::new(market, &config.binance(market), http)
        .with_context(|| format!("setting up Binance {market}"))?;
    Ok(Arc::new(source))
}

fn okx(config: &Config, http: HttpConfig) -> Result<Arc<OkxCandles>> {
    Ok(Arc::new(
        OkxCandles::new(&config.okx(), http).context("setting up OKX")?,
    ))
}

fn bybit(config: &Config, http: HttpConfig) -> Result<Arc<BybitKlines>> {
    Ok(Arc::new(
        BybitKlines::new(&config.bybit(), http).context("setting up Bybit")?,
    ))
}

fn cryptocompare(config: &Config, http: HttpConfig) -> Result<Arc<CryptoCompareHistory>> {
    Ok(Arc::new(
        CryptoCompareHistory::new(&config.cryptocompare(), http).context("setting up CryptoCompare")?,
    ))
}

/// CoinGecko's API: the universe's ranking, and (through [`candle_sources`]) OHLC candles.
pub fn coingecko(config: &Config) -> Result<CoinGecko> {
    CoinGecko::new(&config.coingecko(), config.http()).context("setting up CoinGecko")
}

/// Every REST candle source, by id, sharing one budget per venue host. CoinGecko knows coins by
/// id: `coingecko_ids` maps the universe's symbols to them.
pub fn candle_sources(
    config: &Config,
    coingecko_ids: HashMap<String, String>,
) -> Result<HashMap<SourceId, Arc<dyn CandleSource>>> {
    let http = config.http();
    let mut sources: HashMap<SourceId, Arc<dyn CandleSource>> = HashMap::new();
    let mut add = |source: Arc<dyn CandleSource>| {
        sources.insert(source.id(), source);
    };
    for market in Market::ALL {
        add(binance(config, market, http.clone())?);
    }
    add(okx(config, http.clone())?);
    add(bybit(config, http.clone())?);
    add(cryptocompare(config, http)?);
    add(Arc::new(CoinGeckoOhlc::new(coingecko(config)?, coingecko_ids)));
    Ok(sources)
}

/// Every venue's instrument list (the universe refresh reads them).
pub fn listing_sources(config: &Config) -> Result<Vec<Arc<dyn ListingSource>>> {
    let http = config.http();
    let mut venues: Vec<Arc<dyn ListingSource>> = Vec::new();
    for market in Market::ALL {
        venues.push(binance(config, market, http.clone())?);
    }
    venues.push(okx(config, http.clone())?);
    venues.push(bybit(config, http)?);
    Ok(venues)
}

/// Each instrument's fallback chain: the configured order, the sources that serve the market
/// and timeframe, and (with a universe) the venues that list the instrument.
pub struct Chains {
    sources: HashMap<SourceId, Arc<dyn CandleSource>>,
    listed_on: HashMap<Instrument, BTreeSet<Venue>>,
    coingecko_ids: HashMap<String, String>,
}

impl std::fmt::Debug for Chains {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chains")
            .field("sources", &self.sources.keys().collect::<Vec<_>>())
            .field("listed_on", &self.listed_on.len())
            .field("coingecko_ids", &self.coingecko_ids.len())
            .finish()
    }
}

impl Chains {
    pub async fn new(config: &Config, store: &impl UniverseStore) -> Result<Self> {
        let quote = config.collect.quote.trim().to_ascii_uppercase();
        let listings = store.listings().await?;
        let all_assets = store.ranked_assets(usize::MAX).await?;
        let listed_on = universe::series(&all_assets, &listings, &Market::ALL, &quote)
            .into_iter()
            .collect();
        let coingecko_ids: HashMap<String, String> = all_assets
            .iter()
            .map(|a| (a.symbol.clone(), a.coingecko_id.clone()))
            .collect();
        Ok(Self {
            sources: candle_sources(config, coingecko_ids.clone())?,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rest_source_is_registered() {
        let config = Config::default();
        let sources = candle_sources(&config, HashMap::new()).unwrap();
        for id in SourceId::ALL {
            // The archive is loaded with `candlekeep import`, never fetched.
            assert_eq!(sources.contains_key(&id), id != SourceId::BinanceArchive, "{id}");
        }
        // Binance spot and USD-M, OKX, Bybit.
        assert_eq!(listing_sources(&config).unwrap().len(), 4);
    }
}
