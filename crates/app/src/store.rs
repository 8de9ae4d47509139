//! Opening the configured store: the database URL's backend, PostgreSQL's pool and TimescaleDB
//! options, SQLite's folder and busy wait, and the validation flag rules from `[quality]`.

use anyhow::{Context, Result};
use candlekeep_core::validate::FlagRules;
use candlekeep_store::postgres::{PgOptions, Timescale};
use candlekeep_store::url::DatabaseUrl;
use candlekeep_store::{PgStore, SqliteStore, StoreHandle};

use crate::config::Config;

/// Whether a database URL is a well-formed PostgreSQL URL.
pub fn is_postgres(url: &str) -> bool {
    matches!(DatabaseUrl::parse(url), Ok(DatabaseUrl::Postgres(_)))
}

/// Opens the configured PostgreSQL database: a pool of `database.pool_size` connections, writing
/// with the flag rules of `[quality]`.
pub async fn open_postgres(config: &Config) -> Result<PgStore> {
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
    let store = PgStore::connect_with(&url, options)
        .await
        .context("opening the PostgreSQL database")?;
    store.set_flag_rules(flag_rules(config));
    Ok(store)
}

/// The validation flag rules from `[quality]`.
pub fn flag_rules(config: &Config) -> FlagRules {
    FlagRules {
        jump_pct: config.quality.jump_pct,
        max_move_ratio: config.quality.max_move_ratio,
        flat_run: config.quality.flat_run as usize,
    }
}

/// Opens the configured store, shared by every task of the process: a SQLite file (its folder
/// created if missing) or PostgreSQL with `database.pool_size` connections (which a worker's
/// queue shares).
pub async fn open_store(config: &Config) -> Result<StoreHandle> {
    let rules = flag_rules(config);
    let handle = match DatabaseUrl::parse(&config.database.url)? {
        DatabaseUrl::Postgres(_) => StoreHandle::from(open_postgres(config).await?),
        DatabaseUrl::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create folder {}", dir.display()))?;
            }
            let wait = std::time::Duration::from_secs(config.database.busy_timeout_secs);
            let opened = {
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    SqliteStore::open_waiting(&path, wait).and_then(StoreHandle::sqlite)
                })
                .await
                .context("opening the SQLite database")?
            };
            opened.with_context(|| format!("opening database {}", path.display()))?
        }
    };
    handle.set_flag_rules(rules).await?;
    Ok(handle)
}
