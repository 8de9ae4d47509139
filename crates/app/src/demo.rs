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
    let context = || "starting a simulated venue";
    let mut binance = Vec::new();
    for market in Market::ALL {
        let sim = BinanceSim::start(SimConfig::binance(market))
            .await
            .with_context(context)?;
        let venue = match market {
            Market::Spot => &mut config.binance_spot,
            Market::UsdM => &mut config.binance_usdm,
        };
        venue.base_url = sim.base_url();
        binance.push(sim);
    }
    let okx = OkxSim::start(OkxSimConfig::new(SimMarket::default()))
        .await
        .with_context(context)?;
    config.okx.base_url = okx.base_url();
    let bybit = BybitSim::start(BybitSimConfig::new(SimMarket::default()))
        .await
        .with_context(context)?;
    config.bybit.base_url = bybit.base_url();
    let cc = CryptoCompareSim::start(CryptoCompareSimConfig::new(SimMarket::default()))
        .await
        .with_context(context)?;
    config.cryptocompare.base_url = cc.base_url();
    let coingecko = CoinGeckoSim::start(CoinGeckoSimConfig::new(&SimMarket::default()))
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
