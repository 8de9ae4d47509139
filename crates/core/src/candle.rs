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
    #[serde(rename = "okx-rest")]
    OkxRest,
    #[serde(rename = "bybit-rest")]
    BybitRest,
    #[serde(rename = "cryptocompare")]
    CryptoCompare,
    #[serde(rename = "coingecko")]
    CoinGecko,
}

impl SourceId {
    pub const ALL: [SourceId; 7] = [
        Self::BinanceSpotRest,
        Self::BinanceUsdmRest,
        Self::BinanceArchive,
        Self::OkxRest,
        Self::BybitRest,
        Self::CryptoCompare,
        Self::CoinGecko,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BinanceSpotRest => "binance-spot-rest",
            Self::BinanceUsdmRest => "binance-usdm-rest",
            Self::BinanceArchive => "binance-archive",
            Self::OkxRest => "okx-rest",
            Self::BybitRest => "bybit-rest",
            Self::CryptoCompare => "cryptocompare",
            Self::CoinGecko => "coingecko",
        }
    }
}

impl SourceId {
    /// The venue whose data this source delivers.
    pub const fn venue(self) -> crate::Venue {
        match self {
            Self::BinanceSpotRest | Self::BinanceUsdmRest | Self::BinanceArchive => crate::Venue::Binance,
            Self::OkxRest => crate::Venue::Okx,
            Self::BybitRest => crate::Venue::Bybit,
            Self::CryptoCompare => crate::Venue::CryptoCompare,
            Self::CoinGecko => crate::Venue::CoinGecko,
        }
    }
}

impl std::str::FromStr for SourceId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|id| id.as_str() == s).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|id| id.as_str()).collect();
            format!("unknown source {s:?}: expected one of {}", names.join(", "))
        })
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
    /// Base-asset volume; `None` where the source reports none for the bar (CoinGecko), never a
    /// made-up 0.
    pub volume: Option<f64>,
    /// Quote-asset volume; `None` as for `volume`.
    pub quote_volume: Option<f64>,
    /// Number of trades; `None` where the source does not report it (OKX, Bybit,
    /// CryptoCompare), never a made-up 0.
    pub trades: Option<u64>,
}

/// A point of an aggregator's chart, as it is: the price at an instant (not on the hour, not a
/// candle), the market cap then, and the volume of the 24 hours before it (not the volume of
/// any one bar). CoinGecko's `/market_chart` gives these.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarketPoint {
    pub at_ms: i64,
    pub price: f64,
    pub market_cap: Option<f64>,
    pub volume_24h: Option<f64>,
}
