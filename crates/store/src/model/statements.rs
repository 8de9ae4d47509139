//! SQL that is the same on both backends, written once: assets, venue listings and the
//! provider-answer cache. (The gap ledger's statements live in `gaps`, the index check's in
//! `verify`, the page neighbours' in `pages`, the copy mark's in `migrate`.)
//!
//! Every shared statement writes its parameters as `$1`, `$2`, … and makes them *first appear
//! in that order*: PostgreSQL numbers them by their digits, SQLite by their order of first
//! appearance, and the two agree only then. A test below checks every shared statement.

/// (symbol, coingecko id, name, rank, now).
pub(crate) const SAVE_ASSET_SQL: &str = "INSERT INTO assets (symbol, coingecko_id, name, market_cap_rank, updated_at) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (symbol) DO UPDATE SET coingecko_id = excluded.coingecko_id, \
     name = excluded.name, market_cap_rank = excluded.market_cap_rank, updated_at = excluded.updated_at";

/// Best-ranked first, unranked last: (limit).
pub(crate) const RANKED_ASSETS_SQL: &str = "SELECT symbol, coingecko_id, name, market_cap_rank FROM assets \
     ORDER BY market_cap_rank IS NULL, market_cap_rank, symbol LIMIT $1";

/// Whether a listing is known, and its delisting: (venue, market, ticker).
pub(crate) const LISTING_STATE_SQL: &str =
    "SELECT delisted_at FROM listings WHERE venue = $1 AND market = $2 AND ticker = $3";

/// A listing seen now (a relisted one loses its delisting date): (venue, market, ticker, base,
/// quote, listed at, now).
pub(crate) const SEEN_LISTING_SQL: &str = "INSERT INTO listings (venue, market, ticker, base, quote, listed_at, \
     first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (venue, market, ticker) DO UPDATE \
     SET base = excluded.base, quote = excluded.quote, listed_at = coalesce(excluded.listed_at, listings.listed_at), \
     last_seen = excluded.last_seen, delisted_at = NULL";

/// Every listing ever seen, delisted ones included.
pub(crate) const LISTINGS_SQL: &str = "SELECT venue, market, ticker, base, quote, listed_at, first_seen, last_seen, \
     delisted_at FROM listings ORDER BY base, market, venue, ticker";

/// (key, fetched after).
pub(crate) const CACHE_GET_SQL: &str = "SELECT body FROM http_cache WHERE key = $1 AND fetched_at > $2";
/// (key, now, body).
pub(crate) const CACHE_PUT_SQL: &str = "INSERT INTO http_cache (key, fetched_at, body) VALUES ($1, $2, $3) \
     ON CONFLICT (key) DO UPDATE SET fetched_at = excluded.fetched_at, body = excluded.body";

#[cfg(test)]
mod tests {
    use super::*;

    /// The parameter numbers of `sql` in order of first appearance.
    fn first_appearances(sql: &str) -> Vec<u32> {
        let mut seen = Vec::new();
        let bytes = sql.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'$' {
                let digits: String = sql[i + 1..].chars().take_while(char::is_ascii_digit).collect();
                if let Ok(n) = digits.parse::<u32>()
                    && !seen.contains(&n)
                {
                    seen.push(n);
                }
                i += 1 + digits.len();
            } else {
                i += 1;
            }
        }
        seen
    }

    #[test]
    fn every_shared_statement_numbers_its_parameters_in_order_of_first_appearance() {
        let shared = [
            SAVE_ASSET_SQL,
            RANKED_ASSETS_SQL,
            LISTING_STATE_SQL,
            SEEN_LISTING_SQL,
            LISTINGS_SQL,
            CACHE_GET_SQL,
            CACHE_PUT_SQL,
            super::super::gaps::SERIES_SQL,
            super::super::gaps::LEDGER_SQL,
            super::super::gaps::MARK_REPAIRED_SQL,
            super::super::gaps::COVERED_SQL,
            super::super::gaps::NOTES_SQL,
            super::super::gaps::PUT_GAP_SQL,
            super::super::gaps::DROP_ENTRY_SQL,
            super::super::pages::NEIGHBOURS_SQL,
            super::super::verify::ISLANDS_SQL,
            super::super::verify::RECORDED_SQL,
            super::super::verify::CLEAR_SQL,
            super::super::verify::INSERT_SQL,
            crate::migrate::READ_MARKER_SQL,
            crate::migrate::CLEAR_MARKER_SQL,
            crate::migrate::SET_MARKER_SQL,
        ];
        for sql in shared {
            let order = first_appearances(sql);
            let want: Vec<u32> = (1..=order.len() as u32).collect();
            assert_eq!(order, want, "{sql}");
        }
        // The check itself: an out-of-order statement is caught.
        assert_eq!(first_appearances("UPDATE t SET a = $2 WHERE id = $1"), vec![2, 1]);
    }
}
