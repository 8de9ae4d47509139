//! Venues, markets and instruments: what a stored series is a series of.
//!
//! An [`Instrument`] is venue-neutral: "BTC quoted in USDT, spot" or "… USD-M perpetual". Its
//! hours may come from several venues (the fallback chain); each stored candle names its source.
//! A venue's own name for it (OKX `BTC-USDT-SWAP`, Bybit `BTCUSDT` in category `linear`) is the
//! source's business.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// A market-data provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Venue {
    Binance,
    Okx,
    Bybit,
    CryptoCompare,
    CoinGecko,
}

impl Venue {
    pub const ALL: [Venue; 5] = [
        Self::Binance,
        Self::Okx,
        Self::Bybit,
        Self::CryptoCompare,
        Self::CoinGecko,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Binance => "binance",
            Self::Okx => "okx",
            Self::Bybit => "bybit",
            Self::CryptoCompare => "cryptocompare",
            Self::CoinGecko => "coingecko",
        }
    }
}

impl fmt::Display for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Venue {
    type Err = ParseInstrumentError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == lower)
            .ok_or_else(|| ParseInstrumentError::Venue(s.to_owned()))
    }
}

/// Spot, or USD-margined (linear) perpetual futures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Market {
    Spot,
    UsdM,
}

impl Market {
    pub const ALL: [Market; 2] = [Self::Spot, Self::UsdM];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Spot => "spot",
            Self::UsdM => "usdm",
        }
    }
}

impl fmt::Display for Market {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Market {
    type Err = ParseInstrumentError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "spot" => Ok(Self::Spot),
            "usdm" | "usd-m" | "futures" | "linear" | "swap" => Ok(Self::UsdM),
            _ => Err(ParseInstrumentError::Market(s.to_owned())),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ParseInstrumentError {
    #[error("unknown market {0:?}: expected spot or usdm")]
    Market(String),
    #[error("unknown venue {0:?}: expected one of binance, okx, bybit, cryptocompare, coingecko")]
    Venue(String),
    #[error("bad asset or symbol {0:?}: expected upper-case letters and digits such as BTC or BTCUSDT")]
    Symbol(String),
    #[error("cannot tell base from quote in {0:?}: it does not end in a known quote asset ({QUOTES:?})")]
    Quote(String),
    #[error("bad instrument {0:?}: expected market:SYMBOL such as spot:BTCUSDT")]
    Shape(String),
}

/// Quote assets recognised when a symbol such as `BTCUSDT` has to be split; longest first, so
/// `FDUSD` wins over `USD`.
pub const QUOTES: [&str; 11] = [
    "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "EUR", "TRY", "BTC", "ETH", "BNB",
];

fn valid_asset(s: &str) -> bool {
    !s.is_empty() && s.len() <= 24 && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// One series' subject: base asset, quote asset and market (`spot:BTCUSDT`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Instrument {
    pub market: Market,
    pub base: String,
    pub quote: String,
}

impl Instrument {
    pub fn new(market: Market, base: &str, quote: &str) -> Result<Self, ParseInstrumentError> {
        for part in [base, quote] {
            if !valid_asset(part) {
                return Err(ParseInstrumentError::Symbol(part.to_owned()));
            }
        }
        Ok(Self {
            market,
            base: base.to_owned(),
            quote: quote.to_owned(),
        })
    }

    /// Splits a concatenated symbol (`BTCUSDT`) at the longest known quote suffix.
    pub fn from_symbol(market: Market, symbol: &str) -> Result<Self, ParseInstrumentError> {
        if !valid_asset(symbol) {
            return Err(ParseInstrumentError::Symbol(symbol.to_owned()));
        }
        let quote = QUOTES
            .iter()
            .find(|q| symbol.len() > q.len() && symbol.ends_with(*q))
            .ok_or_else(|| ParseInstrumentError::Quote(symbol.to_owned()))?;
        Self::new(market, &symbol[..symbol.len() - quote.len()], quote)
    }

    /// Base and quote concatenated, as Binance and Bybit write it: `BTCUSDT`.
    pub fn symbol(&self) -> String {
        format!("{}{}", self.base, self.quote)
    }
}

impl fmt::Display for Instrument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}{}", self.market, self.base, self.quote)
    }
}

impl FromStr for Instrument {
    type Err = ParseInstrumentError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some((m, sym)) => Self::from_symbol(m.parse()?, sym),
            None => Err(ParseInstrumentError::Shape(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instrument_round_trips_through_its_display_form() {
        let i = Instrument::new(Market::UsdM, "BTC", "USDT").unwrap();
        assert_eq!(i.to_string(), "usdm:BTCUSDT");
        assert_eq!("usdm:BTCUSDT".parse::<Instrument>().unwrap(), i);
        assert_eq!(i.symbol(), "BTCUSDT");
    }

    #[test]
    fn symbols_split_at_the_longest_known_quote() {
        let i = Instrument::from_symbol(Market::Spot, "ETHFDUSD").unwrap();
        assert_eq!((i.base.as_str(), i.quote.as_str()), ("ETH", "FDUSD"));
        let i = Instrument::from_symbol(Market::Spot, "1000PEPEUSDT").unwrap();
        assert_eq!((i.base.as_str(), i.quote.as_str()), ("1000PEPE", "USDT"));
        assert!(Instrument::from_symbol(Market::Spot, "USDT").is_err());
        assert!(Instrument::from_symbol(Market::Spot, "BTCXYZ").is_err());
    }

    #[test]
    fn rejects_lower_case_and_separators() {
        assert!(Instrument::from_symbol(Market::Spot, "btcusdt").is_err());
        assert!(Instrument::from_symbol(Market::Spot, "BTC/USDT").is_err());
        assert!("spot".parse::<Instrument>().is_err());
        assert_eq!("OKX".parse::<Venue>().unwrap(), Venue::Okx);
    }
}
