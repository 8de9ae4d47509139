//! Serves the simulated Binance spot and USD-M venues (real limits: 6000 and 2400 weight per
//! minute) until killed, printing their base URLs. For benchmarks and trying the CLI by hand:
//!
//! ```text
//! candlekeep-sim [--spot-port N] [--usdm-port N] [--latency-ms N]
//! ```

use std::{net::SocketAddr, time::Duration};

use candlekeep_core::Market;
use candlekeep_testkit::{BinanceSim, SimConfig};

fn arg(name: &str) -> Result<Option<u64>, String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        None => Ok(None),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .map(Some)
            .ok_or_else(|| format!("{name} needs a number")),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let latency = Duration::from_millis(arg("--latency-ms")?.unwrap_or(0));
    let mut sims = Vec::new();
    for (market, flag) in [(Market::Spot, "--spot-port"), (Market::UsdM, "--usdm-port")] {
        let port = arg(flag)?.unwrap_or(0);
        let port = u16::try_from(port).map_err(|_| format!("{flag} {port} is not a port"))?;
        let mut config = SimConfig::binance(market);
        config.faults.latency = latency;
        let sim = BinanceSim::start_on(config, SocketAddr::from(([127, 0, 0, 1], port))).await?;
        println!("{} {}", market, sim.base_url());
        sims.push(sim);
    }
    tokio::signal::ctrl_c().await?;
    for sim in &sims {
        eprintln!("{}: {:?}", sim.market(), sim.stats());
    }
    Ok(())
}
