//! Simulated venues for tests, benchmarks and `--demo`.
//!
//! - [`market`]: a deterministic market. The candle of (symbol, market, bar) is a pure function of
//!   a seed, so any test can ask for the ground truth of any range without storing it.
//! - [`binance`]: simulated Binance spot and USD-M REST servers (axum on 127.0.0.1:0) speaking the
//!   real wire format, with request weights, 429/418 and switchable faults.
//! - [`okx`], [`bybit`]: simulated OKX and Bybit, each a few basis points off the same market with
//!   its own volume share, listings, limits and the same switchable faults.
//! - [`coingecko`]: a simulated CoinGecko ranking and coin list.
//! - [`cryptocompare`]: simulated CryptoCompare hourly and daily history.
//! - [`archive`]: writes Binance public-archive files (`.zip` + `.CHECKSUM`) from the same market.
//! - [`http`]: quick HTTP settings for tests ([`fast_http`]).

pub mod archive;
pub mod binance;
pub mod bybit;
pub mod coingecko;
pub mod cryptocompare;
mod faults;
pub mod http;
mod limits;
pub mod market;
pub mod okx;
pub mod pg;
mod venue;

pub use binance::{BinanceSim, SimConfig};
pub use bybit::{BybitSim, BybitSimConfig};
pub use coingecko::{CoinGeckoSim, CoinGeckoSimConfig, SimCoin};
pub use cryptocompare::{CryptoCompareSim, CryptoCompareSimConfig};
pub use faults::{BadBar, Burst, Faults};
pub use http::fast_http;
pub use limits::SimStats;
pub use market::{SimCandle, SimMarket};
pub use okx::{OkxSim, OkxSimConfig};
pub use venue::VenueView;
