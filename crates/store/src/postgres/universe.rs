//! Assets, listings, quarantined rows, flags and the job log in PostgreSQL.

use candlekeep_core::{Asset, KnownListing, Listing, time::now_ms};

use super::Conn;
use crate::model::listings::{Seen, count};
use crate::model::statements;
use crate::{FlagRow, JobId, JobQuery, JobRecord, JobRow, JobStatus, ListingChanges, RejectRow, StoreError};

pub(crate) async fn save_assets(conn: &mut Conn, assets: &[Asset], at_ms: i64) -> Result<(), StoreError> {
    let tx = conn.transaction().await?;
    let stmt = tx.prepare_cached(statements::SAVE_ASSET_SQL).await?;
    for a in assets {
        let rank = a.market_cap_rank.map(i64::from);
        tx.execute(&stmt, &[&a.symbol, &a.coingecko_id, &a.name, &rank, &at_ms])
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// See the SQLite backend: new listings start, seen ones are refreshed (a relisted one loses its
/// delisting date), those no longer listed are marked delisted; nothing is deleted.
pub(crate) async fn refresh_listings(conn: &mut Conn, seen: Seen<'_>) -> Result<ListingChanges, StoreError> {
    let (v, m) = (seen.venue.as_str(), seen.market.as_str());
    let tx = conn.transaction().await?;
    let mut changes = ListingChanges::default();
    let before = tx.prepare_cached(statements::LISTING_STATE_SQL).await?;
    let upsert = tx.prepare_cached(statements::SEEN_LISTING_SQL).await?;
    for l in seen.listings {
        let state = tx.query_opt(&before, &[&v, &m, &l.ticker]).await?;
        count(&mut changes, state.map(|row| row.get::<_, Option<i64>>(0)));
        tx.execute(
            &upsert,
            &[&v, &m, &l.ticker, &l.base, &l.quote, &l.listed_at_ms, &seen.at_ms],
        )
        .await?;
    }
    changes.delisted = tx
        .execute(statements::DELIST_UNSEEN_SQL, &[&seen.at_ms, &v, &m])
        .await?;
    changes.listed = seen.listings.len() as u64;
    tx.commit().await?;
    Ok(changes)
}

pub(crate) async fn ranked_assets(conn: &Conn, limit: usize) -> Result<Vec<Asset>, StoreError> {
    let rows = conn
        .query(
            statements::RANKED_ASSETS_SQL,
            &[&i64::try_from(limit).unwrap_or(i64::MAX)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let rank: Option<i64> = r.get(3);
            Ok(Asset {
                symbol: r.get(0),
                coingecko_id: r.get(1),
                name: r.get(2),
                market_cap_rank: rank
                    .map(u32::try_from)
                    .transpose()
                    .map_err(|_| StoreError::Corrupt(format!("market cap rank {rank:?}")))?,
            })
        })
        .collect()
}

pub(crate) async fn listings(conn: &Conn) -> Result<Vec<KnownListing>, StoreError> {
    let rows = conn.query(statements::LISTINGS_SQL, &[]).await?;
    rows.iter()
        .map(|r| {
            let (venue, market, ticker): (&str, &str, String) = (r.get(0), r.get(1), r.get(2));
            let corrupt =
                |what: &str, value: &str| StoreError::Corrupt(format!("listing {ticker} has unknown {what} {value:?}"));
            Ok(KnownListing {
                listing: Listing {
                    venue: venue.parse().map_err(|_| corrupt("venue", venue))?,
                    market: market.parse().map_err(|_| corrupt("market", market))?,
                    ticker: ticker.clone(),
                    base: r.get(3),
                    quote: r.get(4),
                    listed_at_ms: r.get(5),
                },
                first_seen_ms: r.get(6),
                last_seen_ms: r.get(7),
                delisted_at_ms: r.get(8),
            })
        })
        .collect()
}

pub(crate) async fn rejects(conn: &Conn) -> Result<Vec<RejectRow>, StoreError> {
    let rows = conn.query(crate::model::statements::REJECTS_SQL, &[]).await?;
    Ok(rows
        .iter()
        .map(|r| RejectRow {
            instrument_id: r.get(0),
            timeframe: r.get(1),
            open_time_ms: r.get(2),
            source: r.get(3),
            reason: r.get(4),
            open: r.get(5),
            high: r.get(6),
            low: r.get(7),
            close: r.get(8),
            volume: r.get(9),
        })
        .collect())
}

pub(crate) async fn flags(conn: &Conn) -> Result<Vec<FlagRow>, StoreError> {
    let rows = conn.query(crate::model::statements::FLAGS_SQL, &[]).await?;
    Ok(rows
        .iter()
        .map(|r| FlagRow {
            instrument_id: r.get(0),
            open_time_ms: r.get(1),
            kind: r.get(2),
            detail: r.get(3),
        })
        .collect())
}

/// Runs still `running` whose process on this machine is gone were killed: say so. (Runs of
/// other machines are left to them.)
async fn mark_dead_runs(conn: &Conn) -> Result<(), StoreError> {
    for r in conn
        .query(statements::RUNNING_HERE_SQL, &[&statements::hostname()])
        .await?
    {
        let (id, pid): (i64, i64) = (r.get(0), r.get(1));
        if statements::run_was_killed(pid) {
            conn.execute(statements::MARK_KILLED_SQL, &[&id]).await?;
        }
    }
    Ok(())
}

pub(crate) async fn job_started(conn: &Conn, job: &str, args: &str) -> Result<JobId, StoreError> {
    mark_dead_runs(conn).await?;
    Ok(conn
        .query_one(
            statements::JOB_STARTED_SQL,
            &[
                &job,
                &args,
                &now_ms(),
                &JobStatus::Running.as_str(),
                &i64::from(std::process::id()),
                &statements::hostname(),
            ],
        )
        .await?
        .get(0))
}

pub(crate) async fn job_finished(conn: &Conn, id: JobId, o: &JobRecord) -> Result<(), StoreError> {
    conn.execute(
        statements::JOB_FINISHED_SQL,
        &[
            &now_ms(),
            &o.status.as_str(),
            &(o.rows_written as i64),
            &o.sources.join(","),
            &o.error.as_deref(),
            &o.error_kind.as_deref(),
            &id,
        ],
    )
    .await?;
    Ok(())
}

pub(crate) async fn jobs(conn: &Conn, q: &JobQuery) -> Result<Vec<JobRow>, StoreError> {
    let stmt = conn.prepare_cached(statements::JOBS_SQL).await?;
    let rows = conn
        .query(
            &stmt,
            &[
                &q.job.as_deref(),
                &q.status.map(JobStatus::as_str),
                &q.before_id,
                &i64::try_from(q.limit).unwrap_or(i64::MAX),
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| JobRow {
            id: r.get(0),
            job: r.get(1),
            args: r.get(2),
            started_at: r.get(3),
            ended_at: r.get(4),
            status: r.get(5),
            rows_written: r.get(6),
            sources_used: r.get(7),
            error: r.get(8),
            error_kind: r.get(9),
        })
        .collect())
}

pub(crate) async fn abandon_running(conn: &Conn, host: &str) -> Result<u64, StoreError> {
    Ok(conn.execute(statements::ABANDON_RUNNING_SQL, &[&host]).await?)
}
