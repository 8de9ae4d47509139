//! The job log: one row per command run, opened when it starts and closed when it ends. A run
//! killed outright stays `running` until the next run notices its process is gone.

use candlekeep_core::time::now_ms;
use rusqlite::Connection;

use crate::model::statements;
use crate::{JobId, JobQuery, JobRecord, JobRow, JobStatus, StoreError};

pub(crate) fn started(conn: &Connection, job: &str, args: &str) -> Result<JobId, StoreError> {
    mark_dead_runs(conn)?;
    Ok(conn.query_row(
        statements::JOB_STARTED_SQL,
        (
            job,
            args,
            now_ms(),
            JobStatus::Running.as_str(),
            std::process::id(),
            statements::hostname(),
        ),
        |r| r.get(0),
    )?)
}

pub(crate) fn finished(conn: &Connection, id: JobId, o: &JobRecord) -> Result<(), StoreError> {
    conn.execute(
        crate::model::statements::JOB_FINISHED_SQL,
        (
            now_ms(),
            o.status.as_str(),
            o.rows_written as i64,
            o.sources.join(","),
            o.error.as_deref(),
            o.error_kind.as_deref(),
            id,
        ),
    )?;
    Ok(())
}

/// Runs of this host still marked `running` whose process no longer exists were killed: say so.
fn mark_dead_runs(conn: &Connection) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(statements::RUNNING_HERE_SQL)?;
    let dead: Vec<i64> = stmt
        .query_map([statements::hostname()], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|&(_, pid)| statements::run_was_killed(pid))
        .map(|(id, _)| id)
        .collect();
    for id in dead {
        conn.execute(statements::MARK_KILLED_SQL, [id])?;
    }
    Ok(())
}

pub(crate) fn list(conn: &Connection, q: &JobQuery) -> Result<Vec<JobRow>, StoreError> {
    let mut stmt = conn.prepare_cached(statements::JOBS_SQL)?;
    let params = (
        q.job.as_deref(),
        q.status.map(JobStatus::as_str),
        q.before_id,
        i64::try_from(q.limit).unwrap_or(i64::MAX),
    );
    let rows = stmt.query_map(params, |r| {
        Ok(JobRow {
            id: r.get(0)?,
            job: r.get(1)?,
            args: r.get(2)?,
            started_at: r.get(3)?,
            ended_at: r.get(4)?,
            status: r.get(5)?,
            rows_written: r.get(6)?,
            sources_used: r.get(7)?,
            error: r.get(8)?,
            error_kind: r.get(9)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn abandon_running(conn: &Connection, host: &str) -> Result<u64, StoreError> {
    Ok(conn.execute(statements::ABANDON_RUNNING_SQL, [host])? as u64)
}
