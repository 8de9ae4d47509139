//! The candle record and where it came from.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which producer a stored candle came from (`binance-spot-rest`, `binance-archive`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SourceId {
    #[serde(rename = "binance-spot-rest")]
    BinanceSpotRest,
    #[serde(rename = "binance-usdm-rest")]
    BinanceUsdmRest,
    #[serde(rename = "binance-archive")]
    BinanceArchive,
}

impl SourceId {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BinanceSpotRest => "binance-spot-rest",
            Self::BinanceUsdmRest => "binance-usdm-rest",
            Self::BinanceArchive => "binance-archive",
        }
    }
}

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who produced a stored candle, and when it was fetched (epoch ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provenance {
    pub source: SourceId,
    pub fetched_at_ms: i64,
}

/// One closed bar. Keyed by its open time in epoch milliseconds (UTC).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candle {
    pub open_time_ms: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    /// Base-asset volume.
    pub volume: f64,
    pub quote_volume: f64,
    pub trades: u64,
}
