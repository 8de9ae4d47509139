//! Retention: deleting what a service configured to keep only so long no longer needs, written
//! once for both backends.
//!
//! Pruning a timeframe's candles before a cutoff keeps the store consistent: the stored-range
//! index is cut at the cutoff with the candles (so it still matches them), the flags,
//! cross-checks and quarantined bars of the deleted bars go with them, and the read cache's
//! blocks that held them are dropped. The covered ranges are kept, so a backfill does not fetch
//! the pruned hours again; the timeframe's *retention horizon* is recorded, so the gap ledger and
//! the daily quality (which start a series' lifetime there, see `gaps::Series::lifetime`) do not
//! report the pruned hours as missing.
//!
//! Every statement here writes its parameters in order of first appearance (see `statements`).

/// The instruments with bars of a timeframe opening before a time: (timeframe, cutoff). Asked
/// per instrument through the candles' key, never a scan of the whole table.
pub(crate) const SERIES_BEFORE_SQL: &str = "SELECT i.id FROM instruments i WHERE EXISTS (SELECT 1 FROM candles c \
     WHERE c.instrument_id = i.id AND c.timeframe = $1 AND c.open_time < $2) ORDER BY i.id";

/// Records that a timeframe's bars before a time were pruned; a horizon never moves back (an
/// older cutoff pruned later finds nothing to prune): (timeframe, cutoff).
pub(crate) const SET_HORIZON_SQL: &str = "INSERT INTO retention_horizon (timeframe, before_ms) VALUES ($1, $2) \
     ON CONFLICT (timeframe) DO UPDATE SET before_ms = excluded.before_ms \
     WHERE excluded.before_ms > retention_horizon.before_ms";

/// What pruning one series before a cutoff runs, in one transaction, in this order: (cutoff,
/// series, timeframe), the cutoff on the timeframe's grid. The first statement deletes the
/// candles (its row count is what was pruned); then what described them; then the stored-range
/// index is cut where the candles now start (ranges merge touching bars, so at most one range
/// spans the cutoff); last the gap ledger's entries that start before the cutoff go (what is
/// still missing after it is found again by the next refresh, as a new entry).
pub(crate) const PRUNE_STATEMENTS: [&str; 7] = [
    "DELETE FROM candles WHERE open_time < $1 AND instrument_id = $2 AND timeframe = $3",
    "DELETE FROM flags WHERE open_time < $1 AND instrument_id = $2 AND timeframe = $3",
    "DELETE FROM cross_checks WHERE open_time < $1 AND instrument_id = $2 AND timeframe = $3",
    "DELETE FROM rejects WHERE open_time < $1 AND instrument_id = $2 AND timeframe = $3",
    "DELETE FROM stored_ranges WHERE end_ms <= $1 AND instrument_id = $2 AND timeframe = $3",
    "UPDATE stored_ranges SET start_ms = $1 WHERE instrument_id = $2 AND timeframe = $3 AND start_ms < $1",
    "DELETE FROM gaps WHERE start_ms < $1 AND instrument_id = $2 AND timeframe = $3",
];

/// Every recorded retention horizon, by timeframe.
pub(crate) const HORIZONS_SQL: &str = "SELECT timeframe, before_ms FROM retention_horizon ORDER BY timeframe";

/// Bars before 1970 never exist (the venues' histories start decades later): the read-cache
/// blocks a prune drops are those from here up to the cutoff.
pub(crate) const EPOCH: i64 = 0;
