//! `candlekeep migrate`: copy a whole store to another database and verify it table by table.

use std::process::ExitCode;

use anyhow::{Context, Result};
use candlekeep_app::store::open_store;
use candlekeep_store::{
    CandleRead, JobLog, JobStatus, StoreHandle,
    migrate::{Unfinished, copy_store},
    postgres::redact,
    url::DatabaseUrl,
};

use super::{Global, finish_job, invocation};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The store to copy: sqlite:PATH or postgres://… (it is only read).
    #[arg(long, value_name = "URL")]
    from: String,
    /// The empty database to copy into: postgres://… or sqlite:PATH. Until the copy is
    /// verified it is marked as an unfinished copy (`status` says so).
    #[arg(long, value_name = "URL")]
    to: String,
    /// The destination holds an unfinished copy (an earlier migrate was interrupted): empty it
    /// and copy again. Never empties a database that is not marked as an unfinished copy.
    #[arg(long)]
    restart: bool,
}

async fn open(global: &Global, url: &str) -> Result<StoreHandle> {
    let mut config = global.load_config()?;
    config.database.url = url.to_owned();
    open_store(&config)
        .await
        .with_context(|| format!("opening {}", redact(url)))
}

pub async fn run(global: &Global, args: Args) -> Result<ExitCode> {
    anyhow::ensure!(
        args.from != args.to,
        "--from and --to name the same database ({})",
        redact(&args.from)
    );
    // The copy is one call with no point to stop at, and the job is logged only once it has
    // been verified: a signal ends the run as it always has (the target stays marked as an
    // unfinished copy, which a rerun with --restart copies again).
    crate::signals::stop_at_once();
    // Opening a SQLite file that is not there would create an empty one and copy nothing.
    if let Ok(DatabaseUrl::Sqlite(path)) = DatabaseUrl::parse(&args.from) {
        anyhow::ensure!(
            path.is_file(),
            "--from {}: no such SQLite file (nothing was copied or created)",
            redact(&args.from)
        );
    }
    let from = open(global, &args.from).await?;
    let to = open(global, &args.to).await?;
    println!("copying {} → {}", from.describe().await?, to.describe().await?);
    let started = std::time::Instant::now();
    let mut last_print = std::time::Instant::now();
    let mut progress = move |table: &str, rows: u64| {
        if last_print.elapsed().as_secs() >= 2 {
            println!("  {table}: {rows} rows so far");
            last_print = std::time::Instant::now();
        }
    };
    let unfinished = if args.restart {
        Unfinished::Restart
    } else {
        Unfinished::Refuse
    };
    let report = copy_store(&from, &to, &redact(&args.from), unfinished, &mut progress)
        .await
        .context("migrate")?;
    println!("{:<16} {:>12}  SHA-256 (same on both sides)", "TABLE", "ROWS");
    for t in &report {
        println!("{:<16} {:>12}  {}", t.table, t.rows, t.hash);
    }
    let rows: u64 = report.iter().map(|t| t.rows).sum();
    println!(
        "verified: {} tables, {rows} rows, every count and hash equal ({:.1} s)",
        report.len(),
        started.elapsed().as_secs_f64()
    );
    let job = to.job_started("migrate", &invocation()).await?;
    finish_job(&to, job, JobStatus::Ok, rows, vec![], None).await;
    Ok(ExitCode::SUCCESS)
}
