//! One module per subcommand, plus what they share: opening the configured store and logging
//! each run in `job_runs`.

pub mod collect;
pub mod gaps;
pub mod import;
pub mod indicators;
pub mod init;
pub mod migrate;
pub mod plan;
pub mod quality;
pub mod status;
pub mod universe;
pub mod worker;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use candlekeep_core::validate::FlagRules;
use candlekeep_store::postgres::{PgOptions, Timescale};
use candlekeep_store::url::DatabaseUrl;
use candlekeep_store::{JobRecord, JobStatus, PgStore, SqliteStore, Store};

use crate::config::{Config, DEFAULT_DATABASE_URL};

#[derive(Debug, Clone)]
pub struct Global {
    pub config: PathBuf,
    pub database_url: Option<String>,
    pub demo: bool,
}

/// The demo's synthetic candles never share a file with real ones.
const DEMO_DATABASE_URL: &str = "sqlite:data/candlekeep-demo.db";

impl Global {
    pub fn load_config(&self) -> Result<Config> {
        let explicit = self.config != Path::new("candlekeep.toml");
        let mut config = Config::load(&self.config, explicit)?;
        if let Some(url) = &self.database_url {
            config.database.url = url.clone();
        } else if self.demo && config.database.url == DEFAULT_DATABASE_URL {
            config.database.url = DEMO_DATABASE_URL.into();
        }
        // Checked before any command runs, so a malformed URL never reaches a message that
        // would print it, nor becomes the name of a new file.
        DatabaseUrl::parse(&config.database.url).context("database.url (or --database-url)")?;
        Ok(config)
    }
}

/// Whether a database URL is a well-formed PostgreSQL URL.
pub fn is_postgres(url: &str) -> bool {
    matches!(DatabaseUrl::parse(url), Ok(DatabaseUrl::Postgres(_)))
}

/// Opens the configured PostgreSQL database.
pub fn open_postgres(config: &Config) -> Result<PgStore> {
    let options = PgOptions {
        pool_size: config.database.pool_size,
        timescale: Timescale {
            compress_after_days: i64::from(config.database.compress_after_days),
        },
    };
    let url = match DatabaseUrl::parse(&config.database.url)? {
        DatabaseUrl::Postgres(url) => url,
        DatabaseUrl::Sqlite(path) => anyhow::bail!("{} is an SQLite file, not PostgreSQL", path.display()),
    };
    let mut store = PgStore::connect_with(&url, options).context("opening the PostgreSQL database")?;
    store.set_flag_rules(flag_rules(config));
    Ok(store)
}

fn flag_rules(config: &Config) -> FlagRules {
    FlagRules {
        jump_pct: config.quality.jump_pct,
        max_move_ratio: config.quality.max_move_ratio,
        flat_run: config.quality.flat_run as usize,
    }
}

/// Opens the configured store: a SQLite file (its folder created if missing) or PostgreSQL.
pub fn open_store(config: &Config) -> Result<Box<dyn Store>> {
    let mut store: Box<dyn Store> = match DatabaseUrl::parse(&config.database.url)? {
        DatabaseUrl::Postgres(_) => Box::new(open_postgres(config)?),
        DatabaseUrl::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create folder {}", dir.display()))?;
            }
            let wait = std::time::Duration::from_secs(config.database.busy_timeout_secs);
            Box::new(
                SqliteStore::open_waiting(&path, wait)
                    .with_context(|| format!("opening database {}", path.display()))?,
            )
        }
    };
    store.set_flag_rules(flag_rules(config));
    Ok(store)
}

/// The command line as typed, for the job log.
pub fn invocation() -> String {
    std::env::args().skip(1).collect::<Vec<_>>().join(" ")
}

/// Records how a job ended (a failure to record is reported, not fatal).
pub fn finish_job(
    store: &mut dyn Store,
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
    };
    if let Err(e) = store.job_finished(id, &record) {
        eprintln!("warning: could not record the end of this run in job_runs: {e}");
    }
}
