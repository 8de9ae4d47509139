//! Why an hour of a series is missing: the causes the gap ledger names, from what the sources
//! said about the hours they were asked for.

use std::fmt;
use std::str::FromStr;

/// The cause of a gap in a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GapCause {
    /// A source said nothing traded in any of its hours (CryptoCompare's filler rows).
    NoTrades,
    /// Before every listing the universe knows, or a source said the pair did not exist yet.
    NotListedYet,
    /// No source was ever asked for these hours (before the first or after the last hour a
    /// backfill or sync asked for): not a failure, just not fetched yet.
    NotRequested,
    /// Asked for, and every source of the chain failed.
    FetchError,
    /// Every source that answered for all of it only said "beyond my history".
    ProviderHistoryCap,
    /// Sources answered for these hours and none had a bar.
    VenueOutage,
}

impl GapCause {
    pub const ALL: [GapCause; 6] = [
        Self::NoTrades,
        Self::NotListedYet,
        Self::NotRequested,
        Self::FetchError,
        Self::ProviderHistoryCap,
        Self::VenueOutage,
    ];

    /// The stable name stored in the ledger and shown to users.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NoTrades => "no-trades",
            Self::NotListedYet => "not-listed-yet",
            Self::NotRequested => "not-requested",
            Self::FetchError => "fetch-error",
            Self::ProviderHistoryCap => "provider-history-cap",
            Self::VenueOutage => "venue-outage",
        }
    }
}

impl fmt::Display for GapCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so that table columns (`{:<13}`) line up.
        f.pad(self.as_str())
    }
}

/// A name that is not one of [`GapCause`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown gap cause {0:?}")]
pub struct ParseGapCauseError(pub String);

impl FromStr for GapCause {
    type Err = ParseGapCauseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| ParseGapCauseError(s.to_owned()))
    }
}

impl serde::Serialize for GapCause {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_pad_in_tables() {
        for c in GapCause::ALL {
            assert_eq!(c.as_str().parse::<GapCause>(), Ok(c));
        }
        assert!("outage".parse::<GapCause>().is_err());
        assert_eq!(format!("[{:<14}]", GapCause::NoTrades), "[no-trades     ]");
    }
}
