//! The universe: CoinGecko's market-cap ranking, mapped to every venue's tickers.
//!
//! [`refresh`] stores the top-N assets and each venue's current instrument list (listing and
//! delisting dates are kept; nothing is deleted). [`series`] turns what is stored into the series
//! to collect: each ranked asset on each market where some venue lists it against the quote,
//! with the venues that do, so a fallback chain only asks venues that have the coin.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use candlekeep_core::{Asset, Instrument, KnownListing, Listing, Market, Venue, is_stablecoin, time::now_ms};
use candlekeep_sources::{coingecko::CoinGecko, listings::ListingSource};
use candlekeep_store::{ListingChanges, UniverseStore};
use tracing::warn;

use crate::JobError;

/// Key of the cached `/coins/list` answer, and how long it stays fresh.
pub const COINS_LIST_CACHE_KEY: &str = "coingecko:/coins/list";
pub const COINS_LIST_MAX_AGE_MS: i64 = candlekeep_core::time::DAY_MS;

/// What one refresh did.
#[derive(Debug, Clone)]
pub struct UniverseReport {
    pub assets: usize,
    /// Per venue and market: what changed, or why the list could not be fetched (that venue's
    /// listings are then left as they were).
    pub venues: Vec<(Venue, Market, Result<ListingChanges, String>)>,
    /// Whether `/coins/list` was fetched (else the cached copy was fresh), or why it failed.
    pub coins_list: Result<bool, String>,
}

/// A pair worth a price history: not two stablecoins against each other.
pub fn tradable_pair(base: &str, quote: &str) -> bool {
    !(is_stablecoin(base) && is_stablecoin(quote))
}

/// Refreshes the ranking (the `max_coins` best) and every venue's `quote` listings.
pub async fn refresh<S: UniverseStore>(
    store: &S,
    coingecko: &CoinGecko,
    venues: &[Arc<dyn ListingSource>],
    max_coins: usize,
    quote: &str,
) -> Result<UniverseReport, JobError> {
    let assets = coingecko.top_assets(max_coins).await?;
    let at = now_ms();
    let mut report = UniverseReport {
        assets: assets.len(),
        venues: Vec::new(),
        coins_list: Ok(false),
    };
    store.save_assets(assets, at).await?;

    let fresh = store
        .cache_get(COINS_LIST_CACHE_KEY, now_ms() - COINS_LIST_MAX_AGE_MS)
        .await?;
    report.coins_list = match fresh {
        Some(_) => Ok(false),
        None => match coingecko.coins_list_body().await {
            Ok(body) => {
                store.cache_put(COINS_LIST_CACHE_KEY, body, now_ms()).await?;
                Ok(true)
            }
            Err(e) => Err(e.to_string()),
        },
    };

    for venue in venues {
        for market in venue.markets() {
            let result = match venue.listings(market).await {
                Ok(all) => {
                    let seen: Vec<Listing> = all
                        .into_iter()
                        .filter(|l| l.quote == quote && tradable_pair(&l.base, &l.quote))
                        .collect();
                    Ok(store.refresh_listings(venue.venue(), market, seen, at).await?)
                }
                Err(e) => {
                    warn!(venue = %venue.venue(), %market, "instrument list unavailable: {e}");
                    Err(e.to_string())
                }
            };
            report.venues.push((venue.venue(), market, result));
        }
    }
    Ok(report)
}

/// The series of the ranked `assets` on `markets`, each with the venues listing it (delisted
/// listings included: their history is still there to be had), in rank order. Assets no venue
/// lists against `quote`, and stablecoin pairs, are left out.
pub fn series(
    assets: &[Asset],
    listings: &[KnownListing],
    markets: &[Market],
    quote: &str,
) -> Vec<(Instrument, BTreeSet<Venue>)> {
    let mut venues: BTreeMap<(&str, Market), BTreeSet<Venue>> = BTreeMap::new();
    for k in listings.iter().filter(|k| k.listing.quote == quote) {
        venues
            .entry((k.listing.base.as_str(), k.listing.market))
            .or_default()
            .insert(k.listing.venue);
    }
    let mut out = Vec::new();
    for asset in assets {
        if !tradable_pair(&asset.symbol, quote) {
            continue;
        }
        for market in markets {
            let Some(v) = venues.get(&(asset.symbol.as_str(), *market)) else {
                continue;
            };
            if let Ok(instrument) = Instrument::new(*market, &asset.symbol, quote) {
                out.push((instrument, v.clone()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(venue: Venue, market: Market, base: &str, quote: &str, delisted: bool) -> KnownListing {
        KnownListing {
            listing: Listing {
                venue,
                market,
                ticker: format!("{base}{quote}"),
                base: base.into(),
                quote: quote.into(),
                listed_at_ms: None,
            },
            first_seen_ms: 1,
            last_seen_ms: 1,
            delisted_at_ms: delisted.then_some(2),
        }
    }

    fn asset(symbol: &str, rank: u32) -> Asset {
        Asset {
            symbol: symbol.into(),
            coingecko_id: symbol.to_lowercase(),
            name: symbol.into(),
            market_cap_rank: Some(rank),
        }
    }

    #[test]
    fn maps_ranked_assets_to_the_venues_that_list_them() {
        let assets = [
            asset("BTC", 1),
            asset("USDC", 2),
            asset("ONLY", 3),
            asset("GONE", 4),
            asset("NONE", 5),
        ];
        let listings = [
            known(Venue::Binance, Market::Spot, "BTC", "USDT", false),
            known(Venue::Okx, Market::Spot, "BTC", "USDT", false),
            known(Venue::Binance, Market::UsdM, "BTC", "USDT", false),
            known(Venue::Binance, Market::Spot, "USDC", "USDT", false),
            known(Venue::Bybit, Market::Spot, "ONLY", "USDT", false),
            known(Venue::Binance, Market::Spot, "GONE", "USDT", true),
            known(Venue::Okx, Market::Spot, "NONE", "USDC", false),
        ];
        let got: Vec<(String, Vec<Venue>)> = series(&assets, &listings, &Market::ALL, "USDT")
            .into_iter()
            .map(|(i, v)| (i.to_string(), v.into_iter().collect()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("spot:BTCUSDT".to_owned(), vec![Venue::Binance, Venue::Okx]),
                ("usdm:BTCUSDT".to_owned(), vec![Venue::Binance]),
                ("spot:ONLYUSDT".to_owned(), vec![Venue::Bybit]),
                ("spot:GONEUSDT".to_owned(), vec![Venue::Binance]),
            ]
        );
    }
}
