//! The HTTP layer shared by every REST source.

mod budget;
mod client;

pub use budget::WeightBudget;
pub use client::{HttpConfig, VenueClient};
