//! `candlekeep init`.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use candlekeep_app::config::TEMPLATE;
use candlekeep_app::store::open_store;
use candlekeep_store::{CandleRead, JobLog, JobStatus};

use super::{Global, finish_job, invocation};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Overwrite an existing configuration file.
    #[arg(long)]
    force: bool,
}

pub async fn run(global: &Global, args: Args) -> Result<ExitCode> {
    let path = &global.config;
    if path.exists() && !args.force {
        bail!("{} already exists; pass --force to overwrite it", path.display());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create folder {}", dir.display()))?;
    }
    std::fs::write(path, TEMPLATE).with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    let config = global.load_config()?;
    let store = open_store(&config).await?;
    let job = store.job_started("init", &invocation()).await?;
    finish_job(&store, job, JobStatus::Ok, 0, vec![], None).await;
    println!(
        "database ready: {} (schema version {})",
        store.describe().await?,
        store.schema_version().await?
    );
    Ok(ExitCode::SUCCESS)
}
