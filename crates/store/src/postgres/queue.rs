//! The work queue `candlekeep worker` processes share: units of backfill work (one series over one
//! time range) claimed with `FOR UPDATE SKIP LOCKED` and held by a lease the worker renews; a
//! worker that dies stops renewing and the unit goes to another when the lease runs out. The
//! scheduler role (planning units) belongs to whichever process holds a session advisory lock;
//! when that process dies its connection closes, the lock is released, and another takes it.
//!
//! Lease times come from the database's clock, so workers on machines with skewed clocks agree.
//!
//! Every call takes a connection of the store's pool for its duration, except the scheduler
//! role's: the connection holding the advisory lock is kept out of the pool while this process
//! schedules, and unlocked (or closed) when it stops, so the lock never lingers on an idle
//! pooled connection.

use candlekeep_core::SourceId;

use super::{Conn, PgStore};
use crate::StoreError;
use crate::access::WorkQueue;
use crate::model::decode;
pub use crate::queue::{MAX_ATTEMPTS, NewUnit, QueueCounts, Unit};

const SCHEDULER_LOCK: i64 = 0x4341_4e44_4c45_0003;
/// The service's scheduler (`candlekeep serve`: cron jobs), a role of its own: a `worker`
/// planning a backfill must not keep every service from running its schedule.
const SERVICE_LOCK: i64 = 0x4341_4e44_4c45_0004;

/// Which scheduler role a view of the queue competes for with [`WorkQueue::try_schedule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedulerRole {
    /// Planning backfill and sync units (`candlekeep worker`).
    Backfill,
    /// Running the service's schedule (`candlekeep serve`).
    Service,
}
/// The PostgreSQL work queue, as seen by one worker (see the module docs).
pub struct PgWorkQueue {
    store: PgStore,
    /// The connection holding the scheduler lock, while this process is the scheduler.
    scheduler: Option<Conn>,
    owner: String,
    lock: i64,
}

impl std::fmt::Debug for PgWorkQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgWorkQueue").field("owner", &self.owner).finish()
    }
}

/// Units by state, of the rows `filter` (a WHERE clause or nothing) keeps.
fn counts_sql(filter: &str) -> String {
    format!(
        "SELECT COUNT(*) FILTER (WHERE status = 'pending'), \
                COUNT(*) FILTER (WHERE status = 'pending' AND lease_until > {DB_NOW} AND owner IS NOT NULL), \
                COUNT(*) FILTER (WHERE status = 'done'), COUNT(*) FILTER (WHERE status = 'failed'), \
                COALESCE(SUM(written), 0)::bigint \
           FROM work_units{filter}"
    )
}

fn counts_row(r: &tokio_postgres::Row) -> QueueCounts {
    QueueCounts {
        pending: r.get(0),
        leased: r.get(1),
        done: r.get(2),
        failed: r.get(3),
        written: r.get(4),
    }
}

/// The database's clock in epoch milliseconds.
const DB_NOW: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// Closes a connection instead of returning it to the pool: whatever session state it holds (an
/// advisory lock) goes with it. Dropping the detached client ends its connection task, which
/// closes the socket; the server then releases the session's locks.
fn close(conn: Conn) {
    drop(deadpool_postgres::Object::take(conn));
}

impl Drop for PgWorkQueue {
    fn drop(&mut self) {
        if let Some(conn) = self.scheduler.take() {
            close(conn);
        }
    }
}

impl PgWorkQueue {
    pub(crate) fn new(store: PgStore, owner: &str) -> Self {
        Self {
            store,
            scheduler: None,
            owner: owner.to_owned(),
            lock: SCHEDULER_LOCK,
        }
    }

    /// This view competes for `role` instead of the backfill planner's.
    pub fn for_role(mut self, role: SchedulerRole) -> Self {
        self.lock = match role {
            SchedulerRole::Backfill => SCHEDULER_LOCK,
            SchedulerRole::Service => SERVICE_LOCK,
        };
        self
    }
}

impl WorkQueue for PgWorkQueue {
    async fn try_schedule(&mut self) -> Result<bool, StoreError> {
        // A scheduler connection the server closed has lost the lock with it.
        if let Some(conn) = self.scheduler.take_if(|c| c.is_closed()) {
            close(conn);
        }
        // Still holding it only while the connection still answers: a leader cut off from the
        // server (the server may already have ended its session and handed the lock on) steps
        // down instead of scheduling beside the new one.
        if let Some(conn) = &self.scheduler {
            let alive = tokio::time::timeout(std::time::Duration::from_secs(5), conn.simple_query("SELECT 1")).await;
            if matches!(alive, Ok(Ok(_))) {
                return Ok(true);
            }
            if let Some(conn) = self.scheduler.take() {
                close(conn);
            }
            return Ok(false);
        }
        let conn = self.store.conn().await?;
        let got: bool = conn
            .query_one("SELECT pg_try_advisory_lock($1)", &[&self.lock])
            .await?
            .get(0);
        self.scheduler = got.then_some(conn);
        Ok(got)
    }

    async fn stop_scheduling(&mut self) {
        let Some(conn) = self.scheduler.take() else {
            return;
        };
        // Unlocked, the connection may serve other calls again; if the unlock fails, closing
        // the connection releases the lock.
        match conn.query_one("SELECT pg_advisory_unlock($1)", &[&self.lock]).await {
            Ok(row) if row.get::<_, bool>(0) => drop(conn),
            _ => close(conn),
        }
    }

    async fn enqueue(&mut self, name: &str, units: &[NewUnit], reopen_after_ms: i64) -> Result<u64, StoreError> {
        let mut conn = self.store.conn().await?;
        let tx = conn.transaction().await?;
        let mut added = 0;
        let stmt = tx
            .prepare_cached(&format!(
                "INSERT INTO work_units (instrument_id, timeframe, start_ms, end_ms, chain, created_at) \
                 VALUES ($1, $2, $3, $4, $5, {DB_NOW}) \
                 ON CONFLICT (instrument_id, timeframe, start_ms, end_ms) DO UPDATE SET status = 'pending', \
                 chain = excluded.chain, attempts = 0, error = NULL \
                 WHERE work_units.status = 'failed' OR (work_units.status = 'done' AND work_units.end_ms > $6)"
            ))
            .await?;
        for u in units {
            let chain: Vec<&str> = u.chain.iter().map(|s| s.as_str()).collect();
            added += tx
                .execute(
                    &stmt,
                    &[
                        &u.instrument_id,
                        &u.timeframe.as_str(),
                        &u.start_ms,
                        &u.end_ms,
                        &chain.join(","),
                        &reopen_after_ms,
                    ],
                )
                .await?;
        }
        tx.execute(
            &format!(
                "INSERT INTO work_plans (name, planned_at, units) VALUES ($1, {DB_NOW}, $2) \
                 ON CONFLICT (name) DO UPDATE SET planned_at = excluded.planned_at, units = excluded.units"
            ),
            &[&name, &(units.len() as i64)],
        )
        .await?;
        tx.commit().await?;
        Ok(added)
    }

    async fn planned(&mut self, name: &str) -> Result<bool, StoreError> {
        let conn = self.store.conn().await?;
        Ok(conn
            .query_opt("SELECT 1 FROM work_plans WHERE name = $1", &[&name])
            .await?
            .is_some())
    }

    async fn claim(&mut self, lease_ms: i64) -> Result<Option<Unit>, StoreError> {
        let mut conn = self.store.conn().await?;
        let tx = conn.transaction().await?;
        let row = tx
            .query_opt(
                &format!(
                    "UPDATE work_units SET owner = $1, lease_until = {DB_NOW} + $2, attempts = attempts + 1 \
                     WHERE id = (SELECT id FROM work_units WHERE status = 'pending' \
                                    AND (lease_until IS NULL OR lease_until <= {DB_NOW}) \
                                  ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1) \
                     RETURNING id, instrument_id, timeframe, start_ms, end_ms, chain, attempts"
                ),
                &[&self.owner, &lease_ms],
            )
            .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        let instrument_id: i64 = row.get(1);
        let names = tx
            .query_one(crate::model::statements::INSTRUMENT_OF_SQL, &[&instrument_id])
            .await?;
        tx.commit().await?;
        let chain: &str = row.get(5);
        let chain = chain
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<SourceId>()
                    .map_err(|_| StoreError::Corrupt(format!("work unit names unknown source {s:?}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Some(Unit {
            id: row.get(0),
            instrument: decode::instrument(names.get(0), names.get(1), names.get(2))?,
            timeframe: decode::timeframe(row.get(2))?,
            start_ms: row.get(3),
            end_ms: row.get(4),
            chain,
            attempts: row.get(6),
        }))
    }

    async fn renew(&mut self, id: i64, lease_ms: i64) -> Result<bool, StoreError> {
        let conn = self.store.conn().await?;
        let n = conn
            .execute(
                &format!(
                    "UPDATE work_units SET lease_until = {DB_NOW} + $3 WHERE id = $1 AND owner = $2 \
                     AND status = 'pending'"
                ),
                &[&id, &self.owner, &lease_ms],
            )
            .await?;
        Ok(n == 1)
    }

    async fn finish(&mut self, id: i64, written: u64, error: Option<&str>, retry_ms: i64) -> Result<(), StoreError> {
        let conn = self.store.conn().await?;
        let written = i64::try_from(written).unwrap_or(i64::MAX);
        match error {
            None => {
                conn.execute(
                    &format!(
                        "UPDATE work_units SET status = 'done', written = written + $3, error = NULL, \
                         lease_until = NULL, finished_at = {DB_NOW} WHERE id = $1 AND owner = $2"
                    ),
                    &[&id, &self.owner, &written],
                )
                .await?
            }
            Some(e) => {
                conn.execute(
                    &format!(
                        "UPDATE work_units SET written = written + $3, error = $4, \
                         status = CASE WHEN attempts >= $5 THEN 'failed' ELSE 'pending' END, \
                         lease_until = {DB_NOW} + $6, \
                         finished_at = CASE WHEN attempts >= $5 THEN {DB_NOW} END \
                         WHERE id = $1 AND owner = $2"
                    ),
                    &[&id, &self.owner, &written, &e, &MAX_ATTEMPTS, &retry_ms],
                )
                .await?
            }
        };
        Ok(())
    }

    async fn counts(&mut self) -> Result<QueueCounts, StoreError> {
        let conn = self.store.conn().await?;
        let r = conn.query_one(&counts_sql(""), &[]).await?;
        Ok(counts_row(&r))
    }

    async fn counts_of(&mut self, units: &[NewUnit]) -> Result<QueueCounts, StoreError> {
        let conn = self.store.conn().await?;
        let ids: Vec<i64> = units.iter().map(|u| u.instrument_id).collect();
        let tfs: Vec<&str> = units.iter().map(|u| u.timeframe.as_str()).collect();
        let starts: Vec<i64> = units.iter().map(|u| u.start_ms).collect();
        let ends: Vec<i64> = units.iter().map(|u| u.end_ms).collect();
        let r = conn
            .query_one(
                &counts_sql(
                    " WHERE (instrument_id, timeframe, start_ms, end_ms) IN \
                     (SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[]))",
                ),
                &[&ids, &tfs, &starts, &ends],
            )
            .await?;
        Ok(counts_row(&r))
    }
}

/// A session advisory lock held on a connection of its own, taken out of the pool: released when
/// this is dropped (the connection is closed, so the lock cannot linger on an idle pooled one),
/// or when this process dies and the server sees its connection go.
pub struct SessionLock {
    conn: Option<Conn>,
}

impl std::fmt::Debug for SessionLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLock").finish_non_exhaustive()
    }
}

impl Drop for SessionLock {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            close(conn);
        }
    }
}

/// Base of the locks [`job_lock`] takes, one per job name.
const JOB_LOCK_BASE: i64 = 0x4341_4e44_4c45_1000;

/// Takes the lock of job `name` if no session holds it: a job of the service runs in one process
/// of a cluster at a time. `None`: another process runs it.
pub async fn job_lock(store: &PgStore, name: &str) -> Result<Option<SessionLock>, StoreError> {
    // A stable small number per name (FNV-1a): the lock ids must agree across processes and
    // versions, which std's hasher does not promise.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let key = JOB_LOCK_BASE + i64::try_from(hash % 4096).unwrap_or(0);
    let conn = store.conn().await?;
    let got: bool = conn.query_one("SELECT pg_try_advisory_lock($1)", &[&key]).await?.get(0);
    if got {
        Ok(Some(SessionLock { conn: Some(conn) }))
    } else {
        Ok(None)
    }
}
