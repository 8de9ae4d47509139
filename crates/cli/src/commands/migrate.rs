//! `candlekeep migrate`: copy a whole store to another database and verify it table by table.

use std::process::ExitCode;

use anyhow::{Context, Result};
use candlekeep_store::{JobStatus, Store, migrate::copy_store, postgres::redact};

use super::{Global, finish_job, invocation, open_store};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The store to copy: sqlite:PATH or postgres://… (it is only read).
    #[arg(long, value_name = "URL")]
    from: String,
    /// The empty database to copy into: postgres://… or sqlite:PATH.
    #[arg(long, value_name = "URL")]
    to: String,
}

fn open(global: &Global, url: &str) -> Result<Box<dyn Store>> {
    let mut config = global.load_config()?;
    config.database.url = url.to_owned();
    open_store(&config).with_context(|| format!("opening {}", redact(url)))
}

pub fn run(global: &Global, args: Args) -> Result<ExitCode> {
    anyhow::ensure!(
        args.from != args.to,
        "--from and --to name the same database ({})",
        redact(&args.from)
    );
    let mut from = open(global, &args.from)?;
    let mut to = open(global, &args.to)?;
    println!("copying {} → {}", from.describe()?, to.describe()?);
    let started = std::time::Instant::now();
    let mut last_print = std::time::Instant::now();
    let mut progress = move |table: &str, rows: u64| {
        if last_print.elapsed().as_secs() >= 2 {
            println!("  {table}: {rows} rows so far");
            last_print = std::time::Instant::now();
        }
    };
    let report = copy_store(&mut *from, &mut *to, &mut progress).context("migrate")?;
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
    let job = to.job_started("migrate", &invocation())?;
    finish_job(&mut *to, job, JobStatus::Ok, rows, vec![], None);
    Ok(ExitCode::SUCCESS)
}
