//! The universe: assets by market-cap rank, and where each is listed.

use serde::{Deserialize, Serialize};

use crate::{Market, Venue};

/// A coin, as CoinGecko ranks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    /// Upper-case ticker as venues write it (`BTC`).
    pub symbol: String,
    /// CoinGecko's id (`bitcoin`): symbols are not unique, ids are.
    pub coingecko_id: String,
    pub name: String,
    pub market_cap_rank: Option<u32>,
}

/// One venue's tradable instrument, from its own instrument list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    pub venue: Venue,
    pub market: Market,
    /// The venue's own name (`BTCUSDT`, `BTC-USDT-SWAP`).
    pub ticker: String,
    pub base: String,
    pub quote: String,
    /// When the venue says trading started, if it says.
    pub listed_at_ms: Option<i64>,
}

/// A listing as the store remembers it across refreshes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KnownListing {
    pub listing: Listing,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// The first refresh that no longer saw it trading; `None` while it trades.
    pub delisted_at_ms: Option<i64>,
}

/// Stablecoins: a pair of two of them is not a market worth a price history.
pub const STABLECOINS: [&str; 12] = [
    "USDT", "USDC", "FDUSD", "TUSD", "BUSD", "DAI", "USDE", "PYUSD", "USDD", "USDP", "USDS", "USD1",
];

pub fn is_stablecoin(symbol: &str) -> bool {
    STABLECOINS.contains(&symbol)
}
