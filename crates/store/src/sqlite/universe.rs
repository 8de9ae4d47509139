//! Assets, venue listings (first seen, last seen, delisted) and the provider-answer cache.

use candlekeep_core::{Asset, KnownListing, Listing, Market, Venue};
use rusqlite::{Connection, OptionalExtension, Transaction};

use crate::model::listings::{Seen, count};
use crate::model::statements;
use crate::{ListingChanges, StoreError};

pub(crate) fn save_assets(tx: &Transaction<'_>, assets: &[Asset], at_ms: i64) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(statements::SAVE_ASSET_SQL)?;
    for a in assets {
        stmt.execute((&a.symbol, &a.coingecko_id, &a.name, a.market_cap_rank, at_ms))?;
    }
    Ok(())
}

/// Records what one venue lists on one market now: new listings start, seen ones are refreshed
/// (a relisted one loses its delisting date), and those no longer listed are marked delisted.
/// Nothing is ever deleted.
pub(crate) fn refresh(tx: &Transaction<'_>, seen: Seen<'_>) -> Result<ListingChanges, StoreError> {
    let (v, m) = (seen.venue.as_str(), seen.market.as_str());
    let mut changes = ListingChanges::default();
    for l in seen.listings {
        let before: Option<Option<i64>> = tx
            .prepare_cached(statements::LISTING_STATE_SQL)?
            .query_row((v, m, &l.ticker), |r| r.get(0))
            .optional()?;
        count(&mut changes, before);
        tx.prepare_cached(statements::SEEN_LISTING_SQL)?.execute((
            v,
            m,
            &l.ticker,
            &l.base,
            &l.quote,
            l.listed_at_ms,
            seen.at_ms,
        ))?;
    }
    changes.delisted = tx
        .prepare_cached(statements::DELIST_UNSEEN_SQL)?
        .execute((seen.at_ms, v, m))? as u64;
    changes.listed = seen.listings.len() as u64;
    Ok(changes)
}

pub(crate) fn ranked_assets(conn: &Connection, limit: usize) -> Result<Vec<Asset>, StoreError> {
    let mut stmt = conn.prepare_cached(statements::RANKED_ASSETS_SQL)?;
    let rows = stmt.query_map([limit as i64], |r| {
        Ok(Asset {
            symbol: r.get(0)?,
            coingecko_id: r.get(1)?,
            name: r.get(2)?,
            market_cap_rank: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn listings(conn: &Connection) -> Result<Vec<KnownListing>, StoreError> {
    let mut stmt = conn.prepare_cached(statements::LISTINGS_SQL)?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            Listing {
                venue: Venue::Binance,
                market: Market::Spot,
                ticker: r.get(2)?,
                base: r.get(3)?,
                quote: r.get(4)?,
                listed_at_ms: r.get(5)?,
            },
            r.get::<_, i64>(6)?,
            r.get::<_, i64>(7)?,
            r.get::<_, Option<i64>>(8)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (venue, market, mut listing, first_seen_ms, last_seen_ms, delisted_at_ms) = row?;
        listing.venue = venue
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("listing {} has unknown venue {venue:?}", listing.ticker)))?;
        listing.market = market
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("listing {} has unknown market {market:?}", listing.ticker)))?;
        out.push(KnownListing {
            listing,
            first_seen_ms,
            last_seen_ms,
            delisted_at_ms,
        });
    }
    Ok(out)
}

pub(crate) fn cache_get(conn: &Connection, key: &str, newer_than_ms: i64) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached(statements::CACHE_GET_SQL)?
        .query_row((key, newer_than_ms), |r| r.get(0))
        .optional()?)
}

pub(crate) fn cache_put(conn: &Connection, key: &str, body: &[u8], at_ms: i64) -> Result<(), StoreError> {
    conn.prepare_cached(statements::CACHE_PUT_SQL)?
        .execute((key, at_ms, body))?;
    Ok(())
}
