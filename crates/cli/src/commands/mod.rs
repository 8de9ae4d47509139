//! One module per subcommand, plus what they share: opening the configured store and logging
//! each run in `job_runs`.

pub mod collect;
pub mod gaps;
pub mod import;
pub mod init;
pub mod plan;
pub mod quality;
pub mod status;
pub mod universe;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use candlekeep_core::validate::FlagRules;
use candlekeep_store::{JobRecord, JobStatus, SqliteStore, Store};

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
        Ok(config)
    }
}

/// `sqlite:PATH`, `sqlite://PATH` or a bare path.
pub fn sqlite_path(url: &str) -> Result<PathBuf> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        bail!("PostgreSQL is not supported yet; use sqlite:PATH");
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if path.is_empty() || path.contains("://") {
        bail!("bad database URL {url:?}: expected sqlite:PATH, e.g. sqlite:data/candlekeep.db");
    }
    Ok(PathBuf::from(path))
}

pub fn open_store(config: &Config) -> Result<SqliteStore> {
    let path = sqlite_path(&config.database.url)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create folder {}", dir.display()))?;
    }
    let mut store = SqliteStore::open(&path).with_context(|| format!("opening database {}", path.display()))?;
    store.set_flag_rules(FlagRules {
        jump_pct: config.quality.jump_pct,
        flat_run: config.quality.flat_run as usize,
    });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(sqlite_path("sqlite:data/x.db").unwrap(), PathBuf::from("data/x.db"));
        assert_eq!(sqlite_path("sqlite:///tmp/x.db").unwrap(), PathBuf::from("/tmp/x.db"));
        assert_eq!(sqlite_path("x.db").unwrap(), PathBuf::from("x.db"));
        assert!(sqlite_path("postgres://u@h/db").is_err());
        assert!(sqlite_path("mysql://h/db").is_err());
        assert!(sqlite_path("sqlite:").is_err());
    }
}
