//! `--demo`: simulated Binance venues in this process, so every command works with no internet.

use anyhow::{Context, Result};
use candlekeep_core::Market;
use candlekeep_testkit::{BinanceSim, SimConfig};

use crate::config::Config;

/// Starts the simulated spot and USD-M venues and points the configuration at them.
pub async fn start(config: &mut Config) -> Result<Vec<BinanceSim>> {
    let mut sims = Vec::new();
    for market in Market::ALL {
        let sim = BinanceSim::start(SimConfig::binance(market))
            .await
            .context("starting a simulated venue")?;
        let venue = match market {
            Market::Spot => &mut config.binance_spot,
            Market::UsdM => &mut config.binance_usdm,
        };
        venue.base_url = sim.base_url();
        sims.push(sim);
    }
    eprintln!(
        "DEMO MODE: simulated Binance venues at {} (spot) and {} (usdm) — synthetic prices, no internet.",
        sims[0].base_url(),
        sims[1].base_url()
    );
    Ok(sims)
}
