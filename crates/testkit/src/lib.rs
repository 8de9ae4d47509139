//! Simulated venues for tests, benchmarks and `--demo`.
//!
//! - [`market`]: a deterministic market. The candle of (symbol, market, bar) is a pure function of
//!   a seed, so any test can ask for the ground truth of any range without storing it.
//! - [`binance`]: simulated Binance spot and USD-M REST servers (axum on 127.0.0.1:0) speaking the
//!   real wire format, with request weights, 429/418 and switchable faults.
//! - [`archive`]: writes Binance public-archive files (`.zip` + `.CHECKSUM`) from the same market.

pub mod archive;
pub mod binance;
pub mod market;

pub use binance::{BinanceSim, Faults, SimConfig, SimStats};
pub use market::{SimCandle, SimMarket};
