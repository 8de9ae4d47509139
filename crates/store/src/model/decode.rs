//! Stored names back into the core vocabulary; an unreadable one means a damaged database.

use candlekeep_core::{Instrument, SourceId, Timeframe};

use crate::StoreError;

/// The instrument of a stored (market, base, quote) row.
pub(crate) fn instrument(market: &str, base: &str, quote: &str) -> Result<Instrument, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("{what} of instrument {market}:{base}{quote}"));
    Instrument::new(market.parse().map_err(|_| corrupt("market"))?, base, quote).map_err(|_| corrupt("symbol"))
}

/// The timeframe of a stored row.
pub(crate) fn gap_cause(cause: &str) -> Result<candlekeep_core::GapCause, StoreError> {
    cause
        .parse()
        .map_err(|e| StoreError::Corrupt(format!("{e} in the gap ledger")))
}

pub(crate) fn timeframe(tf: &str) -> Result<Timeframe, StoreError> {
    tf.parse()
        .map_err(|_| StoreError::Corrupt(format!("unknown timeframe {tf:?}")))
}

/// The source a stored candle names by id.
/// The source a stored name stands for, if this build knows it.
pub(crate) fn known_source(name: &str) -> Option<SourceId> {
    SourceId::ALL.into_iter().find(|s| s.as_str() == name)
}

pub(crate) fn source(
    names: &std::collections::HashMap<i64, SourceId>,
    id: i64,
    at: i64,
) -> Result<SourceId, StoreError> {
    names
        .get(&id)
        .copied()
        .ok_or_else(|| StoreError::Corrupt(format!("candle at {at} names unknown source id {id}")))
}
