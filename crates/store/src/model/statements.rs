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

/// Every stored latest indicator value, by series and name.
pub(crate) const INDICATOR_VALUES_SQL: &str = "SELECT instrument_id, timeframe, name, bar_time, value, computed_at FROM indicator_values ORDER \
     BY instrument_id, timeframe, name";

/// Job runs, newest first, each filter applying when given (a `JobQuery`): (job, status,
/// before id, limit). One run by id is the first row below `id + 1`. The casts give PostgreSQL
/// the parameters' types, which `$1 IS NULL` alone does not.
pub(crate) const JOBS_SQL: &str = "SELECT id, job, args, started_at, ended_at, status, rows_written, sources_used, error, error_kind FROM \
     job_runs WHERE (CAST($1 AS TEXT) IS NULL OR job = $1) AND (CAST($2 AS TEXT) IS NULL OR status = $2) \
     AND (CAST($3 AS BIGINT) IS NULL OR id < $3) ORDER BY id DESC LIMIT $4";

/// Marks interrupted every run of a host still marked `running` (its process is gone: the
/// service starting again after a crash): (host). Runs logged before the host was recorded
/// count as this host's, as in [`RUNNING_HERE_SQL`].
pub(crate) const ABANDON_RUNNING_SQL: &str = "UPDATE job_runs SET status = 'interrupted', \
     error = 'the process ended before the run did' WHERE status = 'running' AND (host = $1 OR host = '')";

/// Deletes finished runs started before a time, never a running one: (before).
pub(crate) const PRUNE_JOB_RUNS_SQL: &str = "DELETE FROM job_runs WHERE started_at < $1 AND status <> 'running'";

/// Deletes provider answers fetched before a time: (before).
pub(crate) const PRUNE_HTTP_CACHE_SQL: &str = "DELETE FROM http_cache WHERE fetched_at < $1";

/// Records a health sample, replacing one taken at the same instant: (at, cpu, mem used, mem
/// total, disk used, disk total, rss, freshness lag, api p99, api requests).
pub(crate) const RECORD_HEALTH_SQL: &str = "INSERT INTO system_health (at_ms, cpu_pct, mem_used_bytes, mem_total_bytes, \
     disk_used_bytes, disk_total_bytes, rss_bytes, freshness_lag_ms, api_p99_ms, api_requests) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (at_ms) DO UPDATE SET \
     cpu_pct = excluded.cpu_pct, mem_used_bytes = excluded.mem_used_bytes, mem_total_bytes = excluded.mem_total_bytes, \
     disk_used_bytes = excluded.disk_used_bytes, disk_total_bytes = excluded.disk_total_bytes, \
     rss_bytes = excluded.rss_bytes, freshness_lag_ms = excluded.freshness_lag_ms, api_p99_ms = excluded.api_p99_ms, \
     api_requests = excluded.api_requests";

/// The newest `limit` samples in `[from, to)`, ascending: (from, to, limit).
pub(crate) const HEALTH_HISTORY_SQL: &str = "SELECT at_ms, cpu_pct, mem_used_bytes, mem_total_bytes, disk_used_bytes, \
     disk_total_bytes, rss_bytes, freshness_lag_ms, api_p99_ms, api_requests FROM (SELECT * FROM system_health \
     WHERE at_ms >= $1 AND at_ms < $2 ORDER BY at_ms DESC LIMIT $3) newest ORDER BY at_ms";

/// Where a series' newest covered range ends: (series, timeframe).
pub(crate) const LATEST_COVERED_SQL: &str =
    "SELECT MAX(end_ms) FROM covered_ranges WHERE instrument_id = $1 AND timeframe = $2";

/// Bars per series, UTC day and source from a day on.
pub(crate) const DAILY_SOURCE_COUNTS_SQL: &str = "SELECT instrument_id, timeframe, open_time / 86400000 * 86400000, source_id, COUNT(*) FROM \
     candles WHERE open_time >= $1 GROUP BY 1, 2, 3, 4";

/// Mean absolute cross-source close difference per series and UTC day from a day on.
/// Stored daily quality rows from a day on, by series and day.
pub(crate) const QUALITY_DAYS_SQL: &str = "SELECT i.market, i.base, i.quote, q.timeframe, q.day, q.expected, q.stored, q.missing, \
     q.rejected, q.flagged, q.divergence_bps, q.fallback_share, q.score FROM quality q JOIN instruments i ON i.id = q.instrument_id \
     WHERE q.day >= $1 ORDER BY i.market, i.base, i.quote, q.timeframe, q.day";

pub(crate) const DAILY_DIVERGENCE_SQL: &str = "SELECT instrument_id, timeframe, open_time / 86400000 * 86400000, AVG(ABS(close_diff_bps)) FROM \
     cross_checks WHERE open_time >= $1 GROUP BY 1, 2, 3";

/// A source's id: (name).
pub(crate) const SOURCE_ID_SQL: &str = "SELECT id FROM sources WHERE name = $1";
/// The instrument an id stands for.
pub(crate) const INSTRUMENT_OF_SQL: &str = "SELECT market, base, quote FROM instruments WHERE id = $1";
/// Every registered source, by id.
pub(crate) const SOURCE_NAMES_SQL: &str = "SELECT id, name FROM sources";

/// An instrument's id: (market, base, quote).
pub(crate) const INSTRUMENT_ID_SQL: &str = "SELECT id FROM instruments WHERE market = $1 AND base = $2 AND quote = $3";

/// Open times and sources of a series' stored bars in a range: (series, timeframe, from, to).
pub(crate) const STORED_SOURCES_SQL: &str = "SELECT open_time, source_id FROM candles WHERE instrument_id = $1 AND timeframe = $2 AND \
     open_time >= $3 AND open_time < $4 ORDER BY open_time";

/// An instrument's chart points in a range: (instrument, from, to).
pub(crate) const POINTS_SQL: &str = "SELECT at_ms, price, market_cap, volume_24h FROM market_points WHERE instrument_id = $1 AND \
     at_ms >= $2 AND at_ms < $3 ORDER BY at_ms";

/// Removes the flags of a span of bars about to be judged again: (series, timeframe, first, last).
pub(crate) const CLEAR_FLAGS_SQL: &str =
    "DELETE FROM flags WHERE instrument_id = $1 AND timeframe = $2 AND open_time BETWEEN $3 AND $4";

/// Every quarantined bar, by series and time.
pub(crate) const REJECTS_SQL: &str = "SELECT r.instrument_id, r.timeframe, r.open_time, s.name, r.reason, r.open, r.high, r.low, \
     r.close, r.volume FROM rejects r JOIN sources s ON s.id = r.source_id ORDER BY r.instrument_id, \
     r.timeframe, r.open_time, r.id";

/// Every flag, in key order.
pub(crate) const FLAGS_SQL: &str = "SELECT instrument_id, open_time, kind, detail FROM flags ORDER BY instrument_id, timeframe, \
     open_time, kind";

/// The stored bars a page meets, for its cross-checks: (series, timeframe, first, last).
pub(crate) const STORED_FOR_CROSS_CHECK_SQL: &str = "SELECT open_time, source_id, close, volume FROM candles WHERE instrument_id = $1 AND timeframe \
     = $2 AND open_time BETWEEN $3 AND $4 AND source_id <> $5";

/// A series' candles in `[from, to)`, ascending: (series, timeframe, from, to).
pub(crate) const CANDLES_SQL: &str = "SELECT open_time, open, high, low, close, volume, quote_volume, trades FROM candles WHERE \
     instrument_id = $1 AND timeframe = $2 AND open_time >= $3 AND open_time < $4 ORDER BY open_time";

/// Records an applied migration: (version, now).
pub(crate) const RECORD_MIGRATION_SQL: &str = "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)";

/// Per stored series: first and last open time and bar count.
pub(crate) const SERIES_STATUS_SQL: &str = "SELECT i.market, i.base, i.quote, s.timeframe, s.first, s.last, s.n FROM (SELECT instrument_id, \
     timeframe, MIN(open_time) AS first, MAX(open_time) AS last, COUNT(*) AS n FROM candles GROUP BY \
     instrument_id, timeframe) s JOIN instruments i ON i.id = s.instrument_id ORDER BY i.market, \
     i.base, i.quote, s.timeframe";

/// Every cross-check with its series and the two sources' names.
pub(crate) const CROSS_CHECKS_SQL: &str = "SELECT i.market, i.base, i.quote, x.timeframe, k.name, o.name, x.close_diff_bps, x.volume_ratio \
     FROM cross_checks x JOIN instruments i ON i.id = x.instrument_id JOIN sources k ON k.id = \
     x.kept_source_id JOIN sources o ON o.id = x.other_source_id ORDER BY i.market, i.base, i.quote, \
     x.timeframe, k.name, o.name";

/// Every candle with its series, in key order, for the content hash.
pub(crate) const HASHED_CANDLES_SQL: &str = "SELECT i.market, i.base, i.quote, c.timeframe, c.open_time, c.open, c.high, c.low, c.close, \
     c.volume, c.quote_volume, c.trades, s.name FROM candles c JOIN instruments i ON i.id = \
     c.instrument_id JOIN sources s ON s.id = c.source_id ORDER BY i.market, i.base, i.quote, \
     c.timeframe, c.open_time";

/// One source's covered ranges of a series that overlap or touch `[$4, $5]`, the ones a new
/// range merges with: (series, timeframe, source, start, end). (`end_ms >= $4` comes first so
/// that the parameters first appear in order.)
pub(crate) const COVERED_TOUCHING_SQL: &str = "SELECT start_ms, end_ms FROM covered_ranges WHERE instrument_id = $1 \
     AND timeframe = $2 AND source = $3 AND end_ms >= $4 AND start_ms <= $5";
/// Deletes those ranges, before their union is written.
pub(crate) const DELETE_COVERED_TOUCHING_SQL: &str = "DELETE FROM covered_ranges WHERE instrument_id = $1 \
     AND timeframe = $2 AND source = $3 AND end_ms >= $4 AND start_ms <= $5";
/// One source's covered ranges of a series that overlap `[$4, $5)`: (series, timeframe, source,
/// from, to).
pub(crate) const COVERED_OVERLAPPING_SQL: &str = "SELECT start_ms, end_ms FROM covered_ranges WHERE instrument_id = $1 \
     AND timeframe = $2 AND source = $3 AND end_ms > $4 AND start_ms < $5";

/// Records the end of a job run: (ended at, status, rows written, sources used, error, id).
pub(crate) const JOB_FINISHED_SQL: &str = "UPDATE job_runs SET ended_at = $1, status = $2, rows_written = $3, \
     sources_used = $4, error = $5, error_kind = $6 WHERE id = $7";

/// Records a repair attempt on an open gap: (unrepairable, now, series, timeframe, start, end).
pub(crate) const GAP_ATTEMPTED_SQL: &str = "UPDATE gaps SET attempts = attempts + 1, \
     status = CASE WHEN $1 THEN 'unrepairable' ELSE status END, updated_at = $2 \
     WHERE instrument_id = $3 AND timeframe = $4 AND start_ms = $5 AND end_ms = $6 AND status = 'open'";

/// Marks delisted what a venue no longer lists on a market: (now, venue, market).
pub(crate) const DELIST_UNSEEN_SQL: &str = "UPDATE listings SET delisted_at = $1 WHERE venue = $2 AND market = $3 \
     AND delisted_at IS NULL AND last_seen < $1";

/// Opens a job run and gives its id: (job, args, now, status, pid, host). Both backends answer
/// `RETURNING` (SQLite since 3.35).
pub(crate) const JOB_STARTED_SQL: &str = "INSERT INTO job_runs (job, args, started_at, status, pid, host) \
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";

/// The runs of this host still marked `running`, with their process ids: (host). Runs logged
/// before the host was recorded (an empty host) count as this host's, as they always did.
pub(crate) const RUNNING_HERE_SQL: &str =
    "SELECT id, pid FROM job_runs WHERE status = 'running' AND (host = $1 OR host = '')";

/// A run whose process is gone was killed: (id).
pub(crate) const MARK_KILLED_SQL: &str = "UPDATE job_runs SET status = 'interrupted', \
     error = 'process ended without finishing (killed?)' WHERE id = $1 AND status = 'running'";

/// This machine's name, recorded with every job run: a process id means something only on its
/// host (several machines may share one PostgreSQL database, or one SQLite file on a share).
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// Whether the run of process `pid` on this host was killed: its process no longer exists (and
/// it is not this process). Only Linux can tell; elsewhere nothing is judged killed.
pub(crate) fn run_was_killed(pid: i64) -> bool {
    cfg!(target_os = "linux")
        && u32::try_from(pid).is_ok_and(|p| p != std::process::id())
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

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
            JOB_STARTED_SQL,
            RUNNING_HERE_SQL,
            MARK_KILLED_SQL,
            JOB_FINISHED_SQL,
            GAP_ATTEMPTED_SQL,
            DELIST_UNSEEN_SQL,
            COVERED_TOUCHING_SQL,
            DELETE_COVERED_TOUCHING_SQL,
            COVERED_OVERLAPPING_SQL,
            INDICATOR_VALUES_SQL,
            JOBS_SQL,
            ABANDON_RUNNING_SQL,
            PRUNE_JOB_RUNS_SQL,
            PRUNE_HTTP_CACHE_SQL,
            RECORD_HEALTH_SQL,
            HEALTH_HISTORY_SQL,
            super::super::retention::SERIES_BEFORE_SQL,
            super::super::retention::SET_HORIZON_SQL,
            super::super::retention::HORIZONS_SQL,
            super::super::retention::PRUNE_STATEMENTS[0],
            super::super::retention::PRUNE_STATEMENTS[1],
            super::super::retention::PRUNE_STATEMENTS[2],
            super::super::retention::PRUNE_STATEMENTS[3],
            super::super::retention::PRUNE_STATEMENTS[4],
            super::super::retention::PRUNE_STATEMENTS[5],
            super::super::retention::PRUNE_STATEMENTS[6],
            LATEST_COVERED_SQL,
            DAILY_SOURCE_COUNTS_SQL,
            DAILY_DIVERGENCE_SQL,
            QUALITY_DAYS_SQL,
            SOURCE_ID_SQL,
            SOURCE_NAMES_SQL,
            INSTRUMENT_OF_SQL,
            INSTRUMENT_ID_SQL,
            STORED_SOURCES_SQL,
            POINTS_SQL,
            CLEAR_FLAGS_SQL,
            REJECTS_SQL,
            FLAGS_SQL,
            STORED_FOR_CROSS_CHECK_SQL,
            CANDLES_SQL,
            RECORD_MIGRATION_SQL,
            SERIES_STATUS_SQL,
            CROSS_CHECKS_SQL,
            HASHED_CANDLES_SQL,
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
