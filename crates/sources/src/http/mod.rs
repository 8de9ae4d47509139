//! The HTTP layer shared by every REST source.

mod body;
mod budget;
mod client;
mod stats;

pub use body::{BodyError, error_fields};
pub use budget::WeightBudget;
pub use client::{HttpConfig, VenueClient};
#[cfg(test)]
pub(crate) use client::{MAX_RETRY_AFTER, retry_after};
pub use stats::{RateLimitStats, rate_limit_stats};
