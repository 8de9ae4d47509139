//! Every TimescaleDB statement the store issues, and the decisions about when to issue them.
//!
//! CI has no TimescaleDB, so nothing here can run there: the statements are built by plain
//! functions and the decisions ("convert the table?", "set, keep or change the compression
//! policy?") are pure functions of what the server reported, all unit-tested below as text and
//! values. Only [`read_state`] and [`apply`] talk to the server, and they do nothing but run
//! what those functions return.
//!
//! Targets TimescaleDB 2.x (2.0 or later): `create_hypertable` in its original form (table,
//! column, `chunk_time_interval`, `migrate_data`; 2.13 deprecated it in favour of `by_range` but
//! keeps it), `set_integer_now_func`, `ALTER TABLE … SET (timescaledb.compress …)`,
//! `add_compression_policy(…, if_not_exists)`, `remove_compression_policy(…, if_exists)`, and the
//! `timescaledb_information.hypertables` and `.jobs` views.

use deadpool_postgres::GenericClient;

use crate::StoreError;

/// TimescaleDB settings: the candles hypertable (30-day chunks of open time) with compression
/// after `compress_after_days`.
#[derive(Debug, Clone, Copy)]
pub struct Timescale {
    pub compress_after_days: i64,
}

impl Default for Timescale {
    fn default() -> Self {
        Self {
            compress_after_days: 30,
        }
    }
}

impl Timescale {
    /// The policy's `compress_after` in the unit of `candles.open_time` (milliseconds).
    fn compress_after_ms(self) -> i64 {
        self.compress_after_days.saturating_mul(candlekeep_core::time::DAY_MS)
    }
}

/// Chunks of 30 days of open time.
const CHUNK_MS: i64 = 30 * candlekeep_core::time::DAY_MS;

const AVAILABLE: &str = "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'";
const INSTALLED: &str = "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'";
const IS_HYPERTABLE: &str = "SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = 'candles' \
     AND hypertable_schema = current_schema()";
/// `compress_after` of each compression job of this schema's `candles` (JSON text: a number
/// for an integer time column).
const COMPRESSION_JOBS: &str = "SELECT config->>'compress_after' FROM timescaledb_information.jobs \
     WHERE proc_name = 'policy_compression' AND hypertable_name = 'candles' \
     AND hypertable_schema = current_schema()";

/// What the server says about TimescaleDB and this schema's `candles`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct State {
    /// The extension can be created in this database.
    pub available: bool,
    /// The installed extension's version.
    pub installed: Option<String>,
    /// `candles` is a hypertable.
    pub hypertable: bool,
    /// `compress_after` of each compression job on `candles` (`None`: not in the job's config).
    pub compress_after: Vec<Option<String>>,
}

impl State {
    /// The TimescaleDB version when `candles` is one of its hypertables.
    pub fn hypertable_version(&self) -> Option<&str> {
        self.installed.as_deref().filter(|_| self.hypertable)
    }
}

/// Reads [`State`]; only reads, so any role that may see the schema can run it.
pub(crate) async fn read_state(client: &impl GenericClient) -> Result<State, StoreError> {
    let available = client.query_opt(AVAILABLE, &[]).await?.is_some();
    let Some(row) = client.query_opt(INSTALLED, &[]).await? else {
        return Ok(State {
            available,
            ..State::default()
        });
    };
    let hypertable = client.query_opt(IS_HYPERTABLE, &[]).await?.is_some();
    let compress_after = if hypertable {
        client
            .query(COMPRESSION_JOBS, &[])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect()
    } else {
        Vec::new()
    };
    Ok(State {
        available,
        installed: Some(row.get(0)),
        hypertable,
        compress_after,
    })
}

/// What to do about the compression policy of the `candles` hypertable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    /// There is none: add it.
    Set,
    /// There is exactly the wanted one: touch nothing (no new job, no compression run now).
    Keep,
    /// There is another one (or more than one): replace it.
    Change,
}

/// The policy decision for jobs with `current` `compress_after` values and the wanted one.
pub(crate) fn policy(current: &[Option<String>], settings: Timescale) -> Policy {
    let wanted = settings.compress_after_ms();
    match current {
        [] => Policy::Set,
        [Some(after)] if after.trim().parse::<i64>() == Ok(wanted) => Policy::Keep,
        _ => Policy::Change,
    }
}

/// What opening the store has to do with TimescaleDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Create the extension if need be and make `candles` a compressed hypertable.
    pub convert: bool,
    /// `None`: `candles` is not (and will not be) a hypertable.
    pub policy: Option<Policy>,
}

impl Plan {
    /// Whether the plan writes anything.
    pub fn is_empty(&self) -> bool {
        !self.convert && matches!(self.policy, None | Some(Policy::Keep))
    }
}

/// What to do given `state`: convert `candles` when the extension can be had and it is not a
/// hypertable yet, then see to the compression policy.
pub(crate) fn plan(state: &State, settings: Timescale) -> Plan {
    if state.hypertable {
        return Plan {
            convert: false,
            policy: Some(policy(&state.compress_after, settings)),
        };
    }
    let convert = state.available || state.installed.is_some();
    Plan {
        convert,
        policy: convert.then_some(Policy::Set),
    }
}

/// The statements that make `candles` a hypertable whose chunks compress by series.
pub(crate) fn convert_statements() -> Vec<String> {
    vec![
        "CREATE EXTENSION IF NOT EXISTS timescaledb".to_owned(),
        format!(
            "SELECT create_hypertable('candles', 'open_time', chunk_time_interval => {CHUNK_MS}::bigint, \
             migrate_data => true)"
        ),
        // Integer time needs a "now" in the same unit for the compression policy.
        "CREATE OR REPLACE FUNCTION candlekeep_now_ms() RETURNS BIGINT LANGUAGE SQL STABLE AS \
         $$ SELECT (extract(epoch FROM now()) * 1000)::bigint $$"
            .to_owned(),
        "SELECT set_integer_now_func('candles', 'candlekeep_now_ms')".to_owned(),
        "ALTER TABLE candles SET (timescaledb.compress, timescaledb.compress_segmentby = 'instrument_id, timeframe', \
         timescaledb.compress_orderby = 'open_time')"
            .to_owned(),
    ]
}

/// The statements that carry out `policy` with `settings`.
pub(crate) fn policy_statements(policy: Policy, settings: Timescale) -> Vec<String> {
    let add = format!(
        "SELECT add_compression_policy('candles', compress_after => {}::bigint, if_not_exists => true)",
        settings.compress_after_ms()
    );
    match policy {
        Policy::Keep => Vec::new(),
        Policy::Set => vec![add],
        Policy::Change => vec![
            "SELECT remove_compression_policy('candles', if_exists => true)".to_owned(),
            add,
        ],
    }
}

/// Runs `plan`: the caller holds the schema lock, inside a transaction (or savepoint) that a
/// failure rolls back whole.
pub(crate) async fn apply(client: &impl GenericClient, plan: Plan, settings: Timescale) -> Result<(), StoreError> {
    let mut statements = if plan.convert { convert_statements() } else { Vec::new() };
    if let Some(policy) = plan.policy {
        statements.extend(policy_statements(policy, settings));
    }
    for sql in statements {
        client.batch_execute(&sql).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAYS_30: Timescale = Timescale {
        compress_after_days: 30,
    };

    fn jobs(values: &[Option<&str>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(str::to_owned)).collect()
    }

    #[test]
    fn the_policy_is_set_when_missing_kept_when_equal_and_changed_otherwise() {
        assert_eq!(policy(&[], DAYS_30), Policy::Set);
        assert_eq!(policy(&jobs(&[Some("2592000000")]), DAYS_30), Policy::Keep);
        assert_eq!(policy(&jobs(&[Some("604800000")]), DAYS_30), Policy::Change);
        // Set by hand as an interval, missing from the config, or twice: replaced by ours.
        assert_eq!(policy(&jobs(&[Some("30 days")]), DAYS_30), Policy::Change);
        assert_eq!(policy(&jobs(&[None]), DAYS_30), Policy::Change);
        assert_eq!(
            policy(&jobs(&[Some("2592000000"), Some("2592000000")]), DAYS_30),
            Policy::Change
        );
        let week = Timescale { compress_after_days: 7 };
        assert_eq!(policy(&jobs(&[Some("604800000")]), week), Policy::Keep);
    }

    #[test]
    fn an_up_to_date_hypertable_or_plain_postgresql_needs_nothing() {
        let plain = State::default();
        assert_eq!(
            plan(&plain, DAYS_30),
            Plan {
                convert: false,
                policy: None
            }
        );
        assert!(plan(&plain, DAYS_30).is_empty());
        let current = State {
            available: true,
            installed: Some("2.14.2".into()),
            hypertable: true,
            compress_after: jobs(&[Some("2592000000")]),
        };
        assert!(plan(&current, DAYS_30).is_empty());
        assert_eq!(current.hypertable_version(), Some("2.14.2"));
        let other_days = Timescale { compress_after_days: 7 };
        assert_eq!(plan(&current, other_days).policy, Some(Policy::Change));
        assert!(!plan(&current, other_days).is_empty());
    }

    #[test]
    fn a_table_that_can_become_a_hypertable_is_converted_and_given_a_policy() {
        for state in [
            State {
                available: true,
                ..State::default()
            },
            State {
                available: true,
                installed: Some("2.14.2".into()),
                ..State::default()
            },
        ] {
            let plan = plan(&state, DAYS_30);
            assert_eq!(
                plan,
                Plan {
                    convert: true,
                    policy: Some(Policy::Set)
                }
            );
            assert!(!plan.is_empty());
            assert_eq!(state.hypertable_version(), None);
        }
    }

    #[test]
    fn policy_statements_add_once_and_replace_without_failing_on_a_race() {
        assert!(policy_statements(Policy::Keep, DAYS_30).is_empty());
        assert_eq!(
            policy_statements(Policy::Set, DAYS_30),
            ["SELECT add_compression_policy('candles', compress_after => 2592000000::bigint, if_not_exists => true)"]
        );
        let week = Timescale { compress_after_days: 7 };
        assert_eq!(
            policy_statements(Policy::Change, week),
            [
                "SELECT remove_compression_policy('candles', if_exists => true)",
                "SELECT add_compression_policy('candles', compress_after => 604800000::bigint, if_not_exists => true)",
            ]
        );
    }

    #[test]
    fn conversion_makes_30_day_chunks_compressed_by_series_with_a_millisecond_now() {
        let sql = convert_statements();
        assert_eq!(sql[0], "CREATE EXTENSION IF NOT EXISTS timescaledb");
        assert_eq!(
            sql[1],
            "SELECT create_hypertable('candles', 'open_time', chunk_time_interval => 2592000000::bigint, \
             migrate_data => true)"
        );
        assert!(sql[2].starts_with("CREATE OR REPLACE FUNCTION candlekeep_now_ms() RETURNS BIGINT"));
        assert_eq!(sql[3], "SELECT set_integer_now_func('candles', 'candlekeep_now_ms')");
        assert!(sql[4].contains("timescaledb.compress_segmentby = 'instrument_id, timeframe'"));
        assert!(sql[4].contains("timescaledb.compress_orderby = 'open_time'"));
    }
}
