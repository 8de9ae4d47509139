//! The job log: one row per command run, opened when it starts and closed when it ends. A run
//! killed outright stays `running` until the next run notices its process is gone.

use candlekeep_core::time::now_ms;
use rusqlite::Connection;

use crate::{JobId, JobRecord, JobRow, JobStatus, StoreError};

pub(crate) fn started(conn: &Connection, job: &str, args: &str) -> Result<JobId, StoreError> {
    mark_dead_runs(conn)?;
    conn.execute(
        "INSERT INTO job_runs (job, args, started_at, status, pid) VALUES (?1, ?2, ?3, ?4, ?5)",
        (job, args, now_ms(), JobStatus::Running.as_str(), std::process::id()),
    )?;
    Ok(conn.last_insert_rowid())
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
            id,
        ),
    )?;
    Ok(())
}

/// Runs still marked `running` whose process no longer exists were killed: say so.
fn mark_dead_runs(conn: &Connection) -> Result<(), StoreError> {
    if !cfg!(target_os = "linux") {
        return Ok(());
    }
    let mut stmt = conn.prepare("SELECT id, pid FROM job_runs WHERE status = 'running'")?;
    let dead: Vec<i64> = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?
        .filter_map(Result::ok)
        .filter(|(_, pid)| *pid as u32 != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists())
        .map(|(id, _)| id)
        .collect();
    for id in dead {
        conn.execute(
            "UPDATE job_runs SET status = 'interrupted', error = 'process ended without finishing (killed?)' WHERE id = ?1",
            [id],
        )?;
    }
    Ok(())
}

pub(crate) fn recent(conn: &Connection, limit: usize) -> Result<Vec<JobRow>, StoreError> {
    let mut stmt = conn.prepare(crate::model::statements::RECENT_JOBS_SQL)?;
    let rows = stmt.query_map([limit as i64], |r| {
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
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
