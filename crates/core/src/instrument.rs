//! Venues, markets and instruments: what a stored series is a series of.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// A market-data provider's venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Venue {
    Binance,
}

impl Venue {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Binance => "binance",
        }
    }
}

/// Spot or USD-margined perpetual futures.
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
            "usdm" | "usd-m" | "futures" => Ok(Self::UsdM),
            _ => Err(ParseInstrumentError::Market(s.to_owned())),
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
        match s.to_ascii_lowercase().as_str() {
            "binance" => Ok(Self::Binance),
            _ => Err(ParseInstrumentError::Venue(s.to_owned())),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ParseInstrumentError {
    #[error("unknown market {0:?}: expected spot or usdm")]
    Market(String),
    #[error("unknown venue {0:?}: expected binance")]
    Venue(String),
    #[error("bad symbol {0:?}: expected upper-case letters and digits such as BTCUSDT")]
    Symbol(String),
    #[error("bad instrument {0:?}: expected venue:market:SYMBOL such as binance:spot:BTCUSDT")]
    Shape(String),
}

/// One tradable series on one venue: `binance:spot:BTCUSDT`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Instrument {
    pub venue: Venue,
    pub market: Market,
    /// The venue's ticker, upper case, no separator (`BTCUSDT`).
    pub symbol: String,
}

impl Instrument {
    pub fn new(venue: Venue, market: Market, symbol: &str) -> Result<Self, ParseInstrumentError> {
        let valid = !symbol.is_empty()
            && symbol.len() <= 32
            && symbol.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !valid {
            return Err(ParseInstrumentError::Symbol(symbol.to_owned()));
        }
        Ok(Self {
            venue,
            market,
            symbol: symbol.to_owned(),
        })
    }

    pub fn binance(market: Market, symbol: &str) -> Result<Self, ParseInstrumentError> {
        Self::new(Venue::Binance, market, symbol)
    }
}

impl fmt::Display for Instrument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.venue, self.market, self.symbol)
    }
}

impl FromStr for Instrument {
    type Err = ParseInstrumentError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split(':');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(v), Some(m), Some(sym), None) => Self::new(v.parse()?, m.parse()?, sym),
            _ => Err(ParseInstrumentError::Shape(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instrument_round_trips_through_its_display_form() {
        let i = Instrument::binance(Market::UsdM, "BTCUSDT").unwrap();
        assert_eq!(i.to_string(), "binance:usdm:BTCUSDT");
        assert_eq!("binance:usdm:BTCUSDT".parse::<Instrument>().unwrap(), i);
    }

    #[test]
    fn rejects_lower_case_and_separators() {
        assert!(Instrument::binance(Market::Spot, "btcusdt").is_err());
        assert!(Instrument::binance(Market::Spot, "BTC/USDT").is_err());
        assert!("binance:spot".parse::<Instrument>().is_err());
    }
}
