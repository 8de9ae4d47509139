//! A venue's instrument list as seen at one instant, and how each listing's stored state turns
//! into the changes a refresh reports; both backends store it with the statements of
//! `model::statements` (`LISTING_STATE_SQL`, `SEEN_LISTING_SQL`, `DELIST_UNSEEN_SQL`).

use candlekeep_core::{Listing, Market, Venue};

use crate::ListingChanges;

/// What one venue lists on one market at `at_ms`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen<'a> {
    pub venue: Venue,
    pub market: Market,
    pub listings: &'a [Listing],
    pub at_ms: i64,
}

/// Counts one seen listing by its stored state before the refresh: `None` when it was never
/// seen (new), `Some(Some(delisted_at))` when it had been delisted (relisted).
pub(crate) fn count(changes: &mut ListingChanges, before: Option<Option<i64>>) {
    match before {
        None => changes.new += 1,
        Some(Some(_)) => changes.relisted += 1,
        Some(None) => {}
    }
}
