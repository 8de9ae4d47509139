//! What the store computes from its rows, whichever backend holds them: decoding stored names,
//! the gap ledger's rules, daily quality, summaries and hashes. Backends run the queries and
//! the writes; the rules live here once.

pub(crate) mod blocks;
pub(crate) mod decode;
pub(crate) mod gaps;
pub(crate) mod hash;
pub(crate) mod health;
pub(crate) mod listings;
pub(crate) mod pages;
pub(crate) mod quality;
pub(crate) mod retention;
pub(crate) mod statements;
pub(crate) mod summary;
pub(crate) mod verify;
