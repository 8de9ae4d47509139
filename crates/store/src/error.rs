//! Storage errors.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    #[error(
        "the database file is locked by another process (another candlekeep writing to it?) and stayed locked \
         longer than this one waits (database.busy_timeout_secs); nothing was written by this transaction. Run \
         again when that one is done, or move to PostgreSQL to run several writers at once"
    )]
    Busy,
    #[error("cannot open database {path}: {source}")]
    Open { path: String, source: rusqlite::Error },
    #[error("PostgreSQL: {}", pg_message(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("cannot connect to PostgreSQL at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error(
        "database schema version {found} is newer than this candlekeep understands ({supported}); upgrade candlekeep"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("corrupt value in the database: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Config(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => Self::Busy,
            _ => Self::Sqlite(e),
        }
    }
}

/// The server's own words (severity, message, detail, hint) when it sent any; else the client's.
fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut out = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
            if let Some(detail) = db.detail() {
                out.push_str(&format!(" ({detail})"));
            }
            if let Some(hint) = db.hint() {
                out.push_str(&format!("; hint: {hint}"));
            }
            out
        }
        None => e.to_string(),
    }
}
