//! The job log behaves the same on both backends: each run records its host (a process id means
//! something only there), and a run of this host whose process is gone is marked `interrupted`
//! when the next run starts.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use candlekeep_store::catalog::{TABLES, Value};
use candlekeep_store::{JobRecord, JobStatus};
use support::Backend;

on_both_backends!(runs_record_their_host_and_a_killed_run_is_marked_interrupted);

fn job_runs(store: &mut dyn candlekeep_store::BlockingStore) -> Vec<Vec<Value>> {
    let def = TABLES.iter().find(|t| t.name == "job_runs").unwrap();
    let mut rows = Vec::new();
    store
        .read_table(def, &mut |row| {
            rows.push(row);
            Ok(())
        })
        .unwrap();
    rows
}

fn column(name: &str) -> usize {
    let def = TABLES.iter().find(|t| t.name == "job_runs").unwrap();
    def.columns.iter().position(|(c, _)| *c == name).unwrap()
}

fn runs_record_their_host_and_a_killed_run_is_marked_interrupted(backend: Backend) {
    let mut store = backend.store().unwrap();
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    // A run of this host whose process is long gone (pid 2^22 + 1 is above Linux's pid limit).
    let mut killed: Vec<Value> = vec![Value::Null; TABLES.iter().find(|t| t.name == "job_runs").unwrap().columns.len()];
    killed[column("id")] = Value::Int(1);
    killed[column("job")] = Value::Text("backfill".into());
    killed[column("args")] = Value::Text(String::new());
    killed[column("started_at")] = Value::Int(1);
    killed[column("status")] = Value::Text("running".into());
    killed[column("rows_written")] = Value::Int(0);
    killed[column("sources_used")] = Value::Text(String::new());
    killed[column("pid")] = Value::Int((1 << 22) + 1);
    killed[column("host")] = Value::Text(host.clone());
    let def = TABLES.iter().find(|t| t.name == "job_runs").unwrap();
    store.append_rows(def, &[killed]).unwrap();
    store.after_copy().unwrap();

    let id = store.job_started("status", "--json").unwrap();
    store
        .job_finished(
            id,
            &JobRecord {
                status: JobStatus::Ok,
                rows_written: 3,
                sources: vec![],
                error: None,
            },
        )
        .unwrap();
    let rows = job_runs(&mut *store);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][column("status")], Value::Text("interrupted".into()), "{rows:?}");
    assert_eq!(rows[1][column("status")], Value::Text("ok".into()));
    assert_eq!(rows[1][column("host")], Value::Text(host), "the run records its host");
    assert_eq!(rows[1][column("rows_written")], Value::Int(3));
}
