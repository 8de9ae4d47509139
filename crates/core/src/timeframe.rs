//! Candle timeframes and their arithmetic on epoch milliseconds.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// The bar lengths Candlekeep stores. `1h` is the default everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(try_from = "String", into = "String")]
pub enum Timeframe {
    M1,
    M5,
    M15,
    #[default]
    H1,
    H4,
    D1,
}

impl Timeframe {
    pub const ALL: [Timeframe; 6] = [Self::M1, Self::M5, Self::M15, Self::H1, Self::H4, Self::D1];

    /// Length of one bar in milliseconds.
    pub const fn millis(self) -> i64 {
        const MIN: i64 = 60_000;
        match self {
            Self::M1 => MIN,
            Self::M5 => 5 * MIN,
            Self::M15 => 15 * MIN,
            Self::H1 => 60 * MIN,
            Self::H4 => 240 * MIN,
            Self::D1 => 1440 * MIN,
        }
    }

    /// The wire name shared by Binance REST and archive files (`1m`, `1h`, `1d`...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::M1 => "1m",
            Self::M5 => "5m",
            Self::M15 => "15m",
            Self::H1 => "1h",
            Self::H4 => "4h",
            Self::D1 => "1d",
        }
    }

    /// Open time of the bar that contains `t_ms` (bars are aligned to the UTC epoch).
    pub const fn floor(self, t_ms: i64) -> i64 {
        t_ms.div_euclid(self.millis()) * self.millis()
    }

    /// Open time of the first bar that opens at or after `t_ms`.
    pub const fn ceil(self, t_ms: i64) -> i64 {
        let f = self.floor(t_ms);
        if f == t_ms { f } else { f + self.millis() }
    }

    /// Number of bar open times in the half-open range `[from, to)`.
    pub const fn bars_between(self, from_ms: i64, to_ms: i64) -> i64 {
        if to_ms <= from_ms {
            return 0;
        }
        (self.ceil(to_ms) - self.ceil(from_ms)) / self.millis()
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown timeframe {0:?}: expected one of 1m, 5m, 15m, 1h, 4h, 1d")]
pub struct ParseTimeframeError(pub String);

impl FromStr for Timeframe {
    type Err = ParseTimeframeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|tf| tf.as_str() == s)
            .ok_or_else(|| ParseTimeframeError(s.to_owned()))
    }
}

impl TryFrom<String> for Timeframe {
    type Error = ParseTimeframeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Timeframe> for String {
    fn from(tf: Timeframe) -> Self {
        tf.as_str().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_wire_name_and_rejects_others() {
        for tf in Timeframe::ALL {
            assert_eq!(tf.as_str().parse::<Timeframe>().ok(), Some(tf));
        }
        assert!("1H".parse::<Timeframe>().is_err());
        assert!("2h".parse::<Timeframe>().is_err());
    }

    #[test]
    fn floor_ceil_and_counts() {
        let h = Timeframe::H1;
        assert_eq!(h.floor(3_600_000 + 5), 3_600_000);
        assert_eq!(h.floor(-1), -3_600_000);
        assert_eq!(h.ceil(3_600_000 + 5), 7_200_000);
        assert_eq!(h.ceil(7_200_000), 7_200_000);
        assert_eq!(h.bars_between(0, 3 * 3_600_000), 3);
        assert_eq!(h.bars_between(1, 3 * 3_600_000), 2);
        assert_eq!(h.bars_between(5, 5), 0);
    }
}
