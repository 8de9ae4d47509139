//! The universe against simulated CoinGecko, Binance, OKX and Bybit: the ranking maps to the
//! right tickers, a coin on one venue only keeps that venue, stablecoin pairs are skipped, a
//! delisting is remembered, and the coin list is fetched once a day.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::{collections::BTreeSet, sync::Arc};

use candlekeep_core::{Market, Venue};
use candlekeep_engine::universe;
use candlekeep_sources::{
    binance::{BinanceConfig, BinanceKlines},
    bybit::{BybitConfig, BybitKlines},
    coingecko::{CoinGecko, CoinGeckoConfig},
    http::HttpConfig,
    listings::ListingSource,
    okx::{OkxCandles, OkxConfig},
};
use candlekeep_store::{StoreHandle, UniverseStore};
use candlekeep_testkit::{
    BinanceSim, BybitSim, BybitSimConfig, CoinGeckoSim, CoinGeckoSimConfig, OkxSim, OkxSimConfig, SimConfig, SimMarket,
};

async fn binance(market: Market, delisted: &[&str]) -> (BinanceSim, Arc<dyn ListingSource>) {
    let mut cfg = SimConfig::binance(market);
    cfg.delisted = delisted.iter().map(|s| s.to_string()).collect();
    let sim = BinanceSim::start(cfg).await.unwrap();
    let mut client = BinanceConfig::default_for(market);
    client.base_url = sim.base_url();
    let source = Arc::new(BinanceKlines::new(market, &client, HttpConfig::default()).unwrap());
    (sim, source)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ranking_maps_to_every_venues_tickers_and_remembers_delistings() {
    let generator = SimMarket::default();
    let mut cg_config = CoinGeckoSimConfig::new(&generator);
    cg_config.require_key = Some("demo-key".into());
    let cg_sim = CoinGeckoSim::start(cg_config).await.unwrap();
    let coingecko = CoinGecko::new(
        &CoinGeckoConfig {
            base_url: cg_sim.base_url(),
            api_key: Some("demo-key".into()),
            ..CoinGeckoConfig::default()
        },
        HttpConfig::default(),
    )
    .unwrap();
    // ADA trades on Binance only.
    let mut okx = OkxSimConfig::new(generator.clone());
    okx.view.unlisted = vec!["ADA".into()];
    let okx_sim = OkxSim::start(okx).await.unwrap();
    let mut bybit = BybitSimConfig::new(generator.clone());
    bybit.view.unlisted = vec!["ADA".into()];
    let bybit_sim = BybitSim::start(bybit).await.unwrap();
    let okx_source: Arc<dyn ListingSource> = Arc::new(
        OkxCandles::new(
            &OkxConfig {
                base_url: okx_sim.base_url(),
                ..OkxConfig::default()
            },
            HttpConfig::default(),
        )
        .unwrap(),
    );
    let bybit_source: Arc<dyn ListingSource> = Arc::new(
        BybitKlines::new(
            &BybitConfig {
                base_url: bybit_sim.base_url(),
                ..BybitConfig::default()
            },
            HttpConfig::default(),
        )
        .unwrap(),
    );
    let (_spot_sim, spot) = binance(Market::Spot, &[]).await;
    let (_usdm_sim, usdm) = binance(Market::UsdM, &[]).await;
    let store = StoreHandle::in_memory().unwrap();

    let venues = vec![spot, usdm.clone(), okx_source.clone(), bybit_source.clone()];
    let first = universe::refresh(&store, &coingecko, &venues, 10, "USDT")
        .await
        .unwrap();
    assert_eq!(first.assets, 10);
    assert_eq!(first.coins_list, Ok(true));
    assert_eq!(
        first.venues.len(),
        6,
        "Binance spot, Binance USD-M, OKX and Bybit on both markets"
    );
    for (venue, market, result) in &first.venues {
        let changes = result.as_ref().unwrap();
        assert_eq!(changes.new, changes.listed, "{venue} {market}: all new");
        let expected = if *venue == Venue::Binance { 20 } else { 19 };
        assert_eq!(changes.listed, expected, "{venue} {market}");
    }

    let assets = store.ranked_assets(10).await.unwrap();
    let symbols: Vec<_> = assets.iter().map(|a| a.symbol.as_str()).collect();
    assert_eq!(
        symbols,
        ["BTC", "ETH", "USDT", "BNB", "SOL", "XRP", "USDC", "DOGE", "ADA", "LTC"]
    );
    let listings = store.listings().await.unwrap();
    let series = universe::series(&assets, &listings, &Market::ALL, "USDT");
    let find = |name: &str| -> BTreeSet<Venue> {
        series
            .iter()
            .find(|(i, _)| i.to_string() == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let all: BTreeSet<Venue> = [Venue::Binance, Venue::Okx, Venue::Bybit].into();
    assert_eq!(find("spot:BTCUSDT"), all);
    assert_eq!(find("usdm:BTCUSDT"), all);
    assert_eq!(
        find("spot:ADAUSDT"),
        [Venue::Binance].into(),
        "a coin listed on one venue"
    );
    assert!(find("spot:USDTUSDT").is_empty() && find("spot:USDCUSDT").is_empty());
    assert_eq!(series.len(), 16, "8 coins with USDT markets × spot and USD-M");
    let okx_btc = listings
        .iter()
        .find(|k| k.listing.venue == Venue::Okx && k.listing.market == Market::UsdM && k.listing.base == "BTC")
        .unwrap();
    assert_eq!(okx_btc.listing.ticker, "BTC-USDT-SWAP");
    assert!(okx_btc.listing.listed_at_ms.is_some());

    // LTC stops trading on Binance spot: the next refresh marks it delisted and keeps it.
    let (_spot_sim2, spot2) = binance(Market::Spot, &["LTCUSDT"]).await;
    let cg_calls = cg_sim.stats().requests;
    let venues = vec![spot2, usdm, okx_source, bybit_source];
    let second = universe::refresh(&store, &coingecko, &venues, 10, "USDT")
        .await
        .unwrap();
    assert_eq!(second.coins_list, Ok(false), "the coin list is cached for 24 h");
    assert_eq!(
        cg_sim.stats().requests,
        cg_calls + 1,
        "only the ranking was asked again"
    );
    let (_, _, spot_changes) = &second.venues[0];
    let spot_changes = spot_changes.as_ref().unwrap();
    assert_eq!((spot_changes.new, spot_changes.delisted), (0, 1));
    let listings = store.listings().await.unwrap();
    let ltc = listings
        .iter()
        .find(|k| k.listing.venue == Venue::Binance && k.listing.market == Market::Spot && k.listing.base == "LTC")
        .unwrap();
    assert!(ltc.delisted_at_ms.is_some());
    let series = universe::series(&assets, &listings, &Market::ALL, "USDT");
    let ltc_spot = series.iter().find(|(i, _)| i.to_string() == "spot:LTCUSDT").unwrap();
    assert!(
        ltc_spot.1.contains(&Venue::Binance),
        "a delisted listing's history stays reachable"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coingecko_rides_out_the_same_faults_and_its_limit() {
    use candlekeep_testkit::{Burst, Faults};
    let generator = SimMarket::default().with_extra_coins(480);
    let fetch = |sim: CoinGeckoSim| async move {
        let http = HttpConfig {
            backoff_min: std::time::Duration::from_millis(10),
            backoff_max: std::time::Duration::from_millis(50),
            max_attempts: 8,
            ..HttpConfig::default()
        };
        let cfg = CoinGeckoConfig {
            base_url: sim.base_url(),
            ..CoinGeckoConfig::default()
        };
        let assets = CoinGecko::new(&cfg, http).unwrap().top_assets(500).await.unwrap();
        (assets, sim.stats())
    };
    let clean = CoinGeckoSim::start(CoinGeckoSimConfig::new(&generator)).await.unwrap();
    let mut faulty = CoinGeckoSimConfig::new(&generator);
    faulty.faults = Faults {
        server_errors: Some(Burst { period: 2, len: 1 }),
        malformed: Some(Burst { period: 5, len: 1 }),
        truncated: Some(Burst { period: 7, len: 1 }),
        ..Faults::default()
    };
    let faulty = CoinGeckoSim::start(faulty).await.unwrap();
    let (want, clean_stats) = fetch(clean).await;
    let (got, faulty_stats) = fetch(faulty).await;
    assert_eq!(want.len(), 500, "two pages of 250");
    assert_eq!(got, want);
    assert_eq!(clean_stats.requests, 2);
    assert!(faulty_stats.requests > 2);
    assert_eq!(faulty_stats.rejected_429, 0, "the 30-per-minute budget was respected");
}
