//! The job log behaves the same on both backends: each run records its host (a process id means
//! something only there), and a run of this host whose process is gone is marked `interrupted`
//! when the next run starts.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use candlekeep_store::catalog::{TABLES, TableDef, Value};
use candlekeep_store::{JobLog, JobRecord, JobStatus, StoreHandle, TableCopy};
use support::Backend;

on_every_backend!(runs_record_their_host_and_a_killed_run_is_marked_interrupted);

fn job_runs_def() -> &'static TableDef {
    TABLES.iter().find(|t| t.name == "job_runs").unwrap()
}

async fn job_runs(store: &StoreHandle) -> Vec<Vec<Value>> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let reader = tokio::spawn({
        let store = store.clone();
        async move { store.read_table(job_runs_def(), tx).await.unwrap() }
    });
    let mut rows = Vec::new();
    while let Some(row) = rx.recv().await {
        rows.push(row);
    }
    assert_eq!(reader.await.unwrap(), rows.len() as u64);
    rows
}

fn column(name: &str) -> usize {
    job_runs_def().columns.iter().position(|(c, _)| *c == name).unwrap()
}

async fn runs_record_their_host_and_a_killed_run_is_marked_interrupted(backend: Backend) {
    let store = backend.open().await;
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    // A run of this host whose process is long gone (pid 2^22 + 1 is above Linux's pid limit).
    let mut killed: Vec<Value> = vec![Value::Null; job_runs_def().columns.len()];
    killed[column("id")] = Value::Int(1);
    killed[column("job")] = Value::Text("backfill".into());
    killed[column("args")] = Value::Text(String::new());
    killed[column("started_at")] = Value::Int(1);
    killed[column("status")] = Value::Text("running".into());
    killed[column("rows_written")] = Value::Int(0);
    killed[column("sources_used")] = Value::Text(String::new());
    killed[column("pid")] = Value::Int((1 << 22) + 1);
    killed[column("host")] = Value::Text(host.clone());
    store.append_rows(job_runs_def(), vec![killed]).await.unwrap();
    store.after_copy().await.unwrap();

    let id = store.job_started("status", "--json").await.unwrap();
    store
        .job_finished(
            id,
            JobRecord {
                status: JobStatus::Ok,
                rows_written: 3,
                sources: vec![],
                error: None,
                error_kind: None,
            },
        )
        .await
        .unwrap();
    let rows = job_runs(&store).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][column("status")], Value::Text("interrupted".into()), "{rows:?}");
    assert_eq!(rows[1][column("status")], Value::Text("ok".into()));
    assert_eq!(rows[1][column("host")], Value::Text(host), "the run records its host");
    assert_eq!(rows[1][column("rows_written")], Value::Int(3));
}
