//! `--demo`: simulated Binance, OKX, Bybit, CryptoCompare and CoinGecko in this process, so every
//! command works with no internet (the `demo` feature, through `candlekeep-testkit`).

use anyhow::{Context, Result};
use candlekeep_core::Market;
use candlekeep_testkit::{
    BinanceSim, BybitSim, BybitSimConfig, CoinGeckoSim, CoinGeckoSimConfig, CryptoCompareSim, CryptoCompareSimConfig,
    OkxSim, OkxSimConfig, SimConfig, SimMarket,
};

use crate::config::Config;

/// Starts the simulated venues (they serve until the runtime stops) and points the
/// configuration at them. Returns the line that tells the user so, with each venue's address.
pub async fn start(config: &mut Config) -> Result<String> {
    start_with(config, 0).await
}

/// [`start`], with `extra_coins` synthetic coins (`SIM001USDT`…) beyond the 20 named ones on
/// every venue and in the ranking.
pub async fn start_with(config: &mut Config, extra_coins: u32) -> Result<String> {
    let context = || "starting a simulated venue";
    let market = SimMarket::default().with_extra_coins(extra_coins);
    let mut binance = Vec::new();
    for m in Market::ALL {
        let mut sim_config = SimConfig::binance(m);
        sim_config.generator = market.clone();
        let sim = BinanceSim::start(sim_config).await.with_context(context)?;
        let venue = match m {
            Market::Spot => &mut config.binance_spot,
            Market::UsdM => &mut config.binance_usdm,
        };
        venue.base_url = sim.base_url();
        binance.push(sim);
    }
    let okx = OkxSim::start(OkxSimConfig::new(market.clone()))
        .await
        .with_context(context)?;
    config.okx.base_url = okx.base_url();
    let bybit = BybitSim::start(BybitSimConfig::new(market.clone()))
        .await
        .with_context(context)?;
    config.bybit.base_url = bybit.base_url();
    let cc = CryptoCompareSim::start(CryptoCompareSimConfig::new(market.clone()))
        .await
        .with_context(context)?;
    config.cryptocompare.base_url = cc.base_url();
    let coingecko = CoinGeckoSim::start(CoinGeckoSimConfig::new(&market))
        .await
        .with_context(context)?;
    config.coingecko.base_url = coingecko.base_url();
    Ok(format!(
        "DEMO MODE: simulated venues on 127.0.0.1 (Binance spot {}, USD-M {}, OKX {}, Bybit {}, CryptoCompare {}, CoinGecko {}) — synthetic prices, no internet.",
        binance[0].base_url(),
        binance[1].base_url(),
        okx.base_url(),
        bybit.base_url(),
        cc.base_url(),
        coingecko.base_url()
    ))
}
