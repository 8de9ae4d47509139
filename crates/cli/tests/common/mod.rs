//! What the binary's tests share: simulated Binance venues and the binary run against them.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::Path,
    process::{Command, Output, Stdio},
    time::Duration,
};

use candlekeep_core::Market;
use candlekeep_testkit::{BinanceSim, SimConfig};

pub struct Venues {
    pub spot: BinanceSim,
    pub usdm: BinanceSim,
}

pub async fn venues(latency: Duration) -> Venues {
    let mut spot = SimConfig::binance(Market::Spot);
    let mut usdm = SimConfig::binance(Market::UsdM);
    spot.faults.latency = latency;
    usdm.faults.latency = latency;
    Venues {
        spot: BinanceSim::start(spot).await.unwrap(),
        usdm: BinanceSim::start(usdm).await.unwrap(),
    }
}

/// The binary, run in `dir`, with the venues' URLs in the environment.
pub fn candlekeep(dir: &Path, venues: Option<&Venues>, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_candlekeep"));
    cmd.current_dir(dir).args(args).stdin(Stdio::null());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("CANDLEKEEP_")) {
        cmd.env_remove(k);
    }
    // Never the internet: venues a test does not simulate point at a closed local port, and
    // the fallback chain is Binance only unless a test says otherwise.
    for venue in ["OKX", "BYBIT", "CRYPTOCOMPARE", "COINGECKO"] {
        cmd.env(format!("CANDLEKEEP_{venue}_BASE_URL"), "http://127.0.0.1:9");
    }
    cmd.env("CANDLEKEEP_COLLECT_SOURCES", "binance-usdm-rest,binance-spot-rest");
    if let Some(v) = venues {
        cmd.env("CANDLEKEEP_BINANCE_SPOT_BASE_URL", v.spot.base_url());
        cmd.env("CANDLEKEEP_BINANCE_USDM_BASE_URL", v.usdm.base_url());
    }
    cmd
}

/// Runs a command given by value or by reference.
pub fn run(mut cmd: impl std::borrow::BorrowMut<Command>) -> Output {
    cmd.borrow_mut().output().unwrap()
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
