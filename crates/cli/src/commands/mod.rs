//! One module per subcommand, plus what they share: the global flags (loading the configuration
//! through `candlekeep_app`), starting `--demo`'s venues, and logging each run in `job_runs`.

pub mod collect;
pub mod gaps;
pub mod import;
pub mod indicators;
pub mod init;
pub mod migrate;
pub mod plan;
pub mod quality;
pub mod serve;
pub mod status;
pub mod universe;
pub mod worker;

use std::path::{Path, PathBuf};

use anyhow::Result;
use candlekeep_app::config::Config;
use candlekeep_store::{JobLog, JobRecord, JobStatus};

#[derive(Debug, Clone)]
pub struct Global {
    pub config: PathBuf,
    pub database_url: Option<String>,
    pub demo: bool,
    pub demo_extra_coins: u32,
}

impl Global {
    pub fn load_config(&self) -> Result<Config> {
        let explicit = self.config != Path::new("candlekeep.toml");
        Config::load_for_run(&self.config, explicit, self.database_url.as_deref(), self.demo)
    }
}

impl Global {
    /// Starts the simulated venues of `--demo`, points `config` at them and says so on stderr.
    pub async fn start_demo(&self, config: &mut Config) -> Result<String> {
        let line = candlekeep_app::demo::start_with(config, self.demo_extra_coins).await?;
        eprintln!("{line}");
        Ok(line)
    }
}

/// The command line as typed, for the job log.
pub fn invocation() -> String {
    std::env::args().skip(1).collect::<Vec<_>>().join(" ")
}

/// Records how a job ended (a failure to record is reported, not fatal).
pub async fn finish_job(
    store: &impl JobLog,
    id: i64,
    status: JobStatus,
    rows: u64,
    sources: Vec<String>,
    error: Option<String>,
) {
    let record = JobRecord {
        status,
        rows_written: rows,
        sources,
        error,
        error_kind: None,
    };
    if let Err(e) = store.job_finished(id, record).await {
        eprintln!("warning: could not record the end of this run in job_runs: {e}");
    }
}
