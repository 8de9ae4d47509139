//! The tables every backend holds, column by column, for copying a whole store from one backend
//! to another (`candlekeep migrate`) and verifying the copy table by table.

/// A column's kind, the same in every backend (SQLite INTEGER/REAL/TEXT/BLOB, PostgreSQL
/// BIGINT/DOUBLE PRECISION/TEXT/BYTEA).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Int,
    Real,
    Text,
    Blob,
}

/// One stored value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

#[derive(Debug)]
pub struct TableDef {
    pub name: &'static str,
    pub columns: &'static [(&'static str, ColumnType)],
    /// Columns of the primary key: the order rows are read and hashed in.
    pub key: &'static [&'static str],
}

impl TableDef {
    pub fn column_list(&self) -> String {
        self.columns.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
    }

    /// Every row, every column, in key order: the same text for every backend.
    pub fn select_all(&self) -> String {
        format!(
            "SELECT {} FROM {} ORDER BY {}",
            self.column_list(),
            self.name,
            self.key.join(", ")
        )
    }
}

use ColumnType::{Blob, Int, Real, Text};

/// Every table with data, parents first (schema_version is each backend's own).
pub static TABLES: &[TableDef] = &[
    TableDef {
        name: "sources",
        columns: &[("id", Int), ("name", Text)],
        key: &["id"],
    },
    TableDef {
        name: "instruments",
        columns: &[
            ("id", Int),
            ("market", Text),
            ("base", Text),
            ("quote", Text),
            ("created_at", Int),
        ],
        key: &["id"],
    },
    TableDef {
        name: "candles",
        columns: &[
            ("instrument_id", Int),
            ("timeframe", Text),
            ("open_time", Int),
            ("open", Real),
            ("high", Real),
            ("low", Real),
            ("close", Real),
            ("volume", Real),
            ("quote_volume", Real),
            ("trades", Int),
            ("source_id", Int),
            ("fetched_at", Int),
        ],
        key: &["instrument_id", "timeframe", "open_time"],
    },
    TableDef {
        name: "covered_ranges",
        columns: &[
            ("instrument_id", Int),
            ("timeframe", Text),
            ("source", Text),
            ("start_ms", Int),
            ("end_ms", Int),
        ],
        key: &["instrument_id", "timeframe", "source", "start_ms"],
    },
    TableDef {
        name: "stored_ranges",
        columns: &[
            ("instrument_id", Int),
            ("timeframe", Text),
            ("start_ms", Int),
            ("end_ms", Int),
        ],
        key: &["instrument_id", "timeframe", "start_ms"],
    },
    TableDef {
        name: "cross_checks",
        columns: &[
            ("instrument_id", Int),
            ("timeframe", Text),
            ("open_time", Int),
            ("kept_source_id", Int),
            ("other_source_id", Int),
            ("close_diff_bps", Real),
            ("volume_ratio", Real),
            ("checked_at", Int),
        ],
        key: &[
            "instrument_id",
            "timeframe",
            "open_time",
            "kept_source_id",
            "other_source_id",
        ],
    },
    TableDef {
        name: "assets",
        columns: &[
            ("symbol", Text),
            ("coingecko_id", Text),
            ("name", Text),
            ("market_cap_rank", Int),
            ("updated_at", Int),
        ],
        key: &["symbol"],
    },
    TableDef {
        name: "listings",
        columns: &[
            ("venue", Text),
            ("market", Text),
            ("ticker", Text),
            ("base", Text),
            ("quote", Text),
            ("listed_at", Int),
            ("first_seen", Int),
            ("last_seen", Int),
            ("delisted_at", Int),
        ],
        key: &["venue", "market", "ticker"],
    },
    TableDef {
        name: "market_points",
        columns: &[
            ("instrument_id", Int),
            ("source_id", Int),
            ("at_ms", Int),
            ("price", Real),
            ("market_cap", Real),
            ("volume_24h", Real),
            ("fetched_at", Int),
        ],
        key: &["instrument_id", "source_id", "at_ms"],
    },
    TableDef {
        name: "http_cache",
        columns: &[("key", Text), ("fetched_at", Int), ("body", Blob)],
        key: &["key"],
    },
    TableDef {
        name: "rejects",
        columns: &[
            ("id", Int),
            ("instrument_id", Int),
            ("timeframe", Text),
            ("open_time", Int),
            ("open", Real),
            ("high", Real),
            ("low", Real),
            ("close", Real),
            ("volume", Real),
            ("quote_volume", Real),
            ("trades", Int),
            ("source_id", Int),
            ("reason", Text),
            ("fetched_at", Int),
        ],
        key: &["id"],
    },
    TableDef {
        name: "flags",
        columns: &[
            ("instrument_id", Int),
            ("timeframe", Text),
            ("open_time", Int),
            ("kind", Text),
            ("detail", Text),
            ("flagged_at", Int),
        ],
        key: &["instrument_id", "timeframe", "open_time", "kind"],
    },
    TableDef {
        name: "indicator_values",
        columns: &[
            ("instrument_id", Int),
            ("timeframe", Text),
            ("name", Text),
            ("bar_time", Int),
            ("value", Real),
            ("computed_at", Int),
        ],
        key: &["instrument_id", "timeframe", "name"],
    },
    TableDef {
        name: "coverage_notes",
        columns: &[
            ("instrument_id", Int),
            ("timeframe", Text),
            ("source", Text),
            ("start_ms", Int),
            ("end_ms", Int),
            ("note", Text),
        ],
        key: &["instrument_id", "timeframe", "source", "start_ms", "note"],
    },
    TableDef {
        name: "gaps",
        columns: &[
            ("instrument_id", Int),
            ("timeframe", Text),
            ("start_ms", Int),
            ("end_ms", Int),
            ("cause", Text),
            ("status", Text),
            ("attempts", Int),
            ("repaired_by", Text),
            ("first_seen", Int),
            ("updated_at", Int),
        ],
        key: &["instrument_id", "timeframe", "start_ms", "end_ms"],
    },
    TableDef {
        name: "quality",
        columns: &[
            ("instrument_id", Int),
            ("timeframe", Text),
            ("day", Int),
            ("expected", Int),
            ("stored", Int),
            ("missing", Int),
            ("rejected", Int),
            ("flagged", Int),
            ("divergence_bps", Real),
            ("fallback_share", Real),
            ("score", Real),
            ("computed_at", Int),
        ],
        key: &["instrument_id", "timeframe", "day"],
    },
    TableDef {
        name: "job_runs",
        columns: &[
            ("id", Int),
            ("job", Text),
            ("args", Text),
            ("started_at", Int),
            ("ended_at", Int),
            ("status", Text),
            ("rows_written", Int),
            ("sources_used", Text),
            ("error", Text),
            ("pid", Int),
            ("host", Text),
            ("error_kind", Text),
        ],
        key: &["id"],
    },
    TableDef {
        name: "system_health",
        columns: &[
            ("at_ms", Int),
            ("cpu_pct", Real),
            ("mem_used_bytes", Int),
            ("mem_total_bytes", Int),
            ("disk_used_bytes", Int),
            ("disk_total_bytes", Int),
            ("rss_bytes", Int),
            ("freshness_lag_ms", Int),
            ("api_p99_ms", Real),
            ("api_requests", Int),
        ],
        key: &["at_ms"],
    },
    TableDef {
        name: "retention_horizon",
        columns: &[("timeframe", Text), ("before_ms", Int)],
        key: &["timeframe"],
    },
];
