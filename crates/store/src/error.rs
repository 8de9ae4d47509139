//! Storage errors.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot open database {path}: {source}")]
    Open { path: String, source: rusqlite::Error },
    #[error(
        "database schema version {found} is newer than this candlekeep understands ({supported}); upgrade candlekeep"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("corrupt value in the database: {0}")]
    Corrupt(String),
}
