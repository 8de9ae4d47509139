//! Market-data providers.
//!
//! - [`http`]: the HTTP layer every REST source shares: per-venue request-weight budgets,
//!   `Retry-After`, hard back-off on bans, retries with exponential backoff and jitter.
//! - [`binance`]: Binance spot and USD-M klines.
//! - [`okx`]: OKX spot and perpetual-swap candles.
//! - [`bybit`]: Bybit spot and linear-perpetual klines.
//! - [`cryptocompare`]: CryptoCompare's aggregate spot history.
//! - [`coingecko`]: CoinGecko's market-cap ranking and coin ids.
//! - [`listings`]: venues' instrument lists, for the universe.
//! - [`archive`]: Binance public-archive files (`.zip`/`.csv`, checksums, ms/µs timestamps).
//!
//! A REST source implements [`CandleSource`]; the jobs only ever talk to that trait.

pub mod archive;
pub mod binance;
pub mod bybit;
pub mod coingecko;
pub mod cryptocompare;
mod error;
pub mod http;
pub mod listings;
mod numbers;
pub mod okx;
mod window;

#[cfg(test)]
mod fuzz_props;
#[cfg(test)]
mod page_props;
#[cfg(test)]
mod samples;

pub use error::{FailureKind, SourceError};

use candlekeep_core::{Candle, Instrument, Market, MarketPoint, SourceId, Timeframe};
use futures::future::BoxFuture;

/// One answer of a source for `[start, end)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// Closed bars only, ascending, unique, inside the requested range.
    pub candles: Vec<Candle>,
    /// The source has answered for every bar opening in `[start, covered_until)`; a bar missing
    /// there is missing at the source, not merely unfetched.
    pub covered_until: i64,
    /// Nothing more can be had for this range now (its end, or the present, was reached).
    pub exhausted: bool,
    /// Chart points that came along (CoinGecko): stored as what they are, not as candles.
    pub points: Vec<MarketPoint>,
    /// Why bars are absent in parts of the covered range, when the source says:
    /// `(start, end, note)` with a note from [`notes`].
    pub notes: Vec<(i64, i64, &'static str)>,
    /// Rows of the answer that opened outside the requested range and were dropped: a venue
    /// that ignores its range parameters shows here (and in a warning), not in the coverage.
    pub dropped_out_of_window: u64,
}

/// What a source can say about the bars it does not have.
pub mod notes {
    /// Nothing traded (CryptoCompare's flat, volume-less filler rows).
    pub const NO_TRADES: &str = "no-trades";
    /// The pair did not exist yet (CryptoCompare's all-zero rows).
    pub const NOT_LISTED: &str = "not-listed";
    /// Beyond how far back the provider serves this granularity (CoinGecko).
    pub const HISTORY_CAP: &str = "history-cap";
}

/// A REST provider of candles.
pub trait CandleSource: Send + Sync {
    fn id(&self) -> SourceId;

    /// Whether this source can deliver `market` bars of `tf` at all (OKX and Bybit serve both
    /// markets, CryptoCompare only spot-like aggregates, Binance one market per host).
    fn serves(&self, market: Market, tf: Timeframe) -> bool;

    /// The next page of closed bars of `instrument` opening in `[start_ms, end_ms)`. Each
    /// source maps the instrument to its own ticker.
    fn fetch_page<'a>(
        &'a self,
        instrument: &'a Instrument,
        tf: Timeframe,
        start_ms: i64,
        end_ms: i64,
    ) -> BoxFuture<'a, Result<Page, SourceError>>;
}
