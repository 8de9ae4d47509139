//! Candlekeep's vocabulary: what an instrument, a timeframe, a candle and a provenance are,
//! plus UTC time helpers and the price round-trip rule. No I/O lives here.

mod candle;
mod gap;
mod instrument;
mod price;
mod range;
pub mod time;
mod timeframe;
mod universe;
pub mod validate;

pub use candle::{Candle, MarketPoint, Provenance, SourceId};
pub use gap::{GapCause, ParseGapCauseError};
pub use instrument::{Instrument, Market, ParseInstrumentError, Venue};
pub use price::{ParsePriceError, format_price, parse_price};
pub use range::TimeRange;
pub use timeframe::{ParseTimeframeError, Timeframe};
pub use universe::{Asset, KnownListing, Listing, STABLECOINS, is_stablecoin};
