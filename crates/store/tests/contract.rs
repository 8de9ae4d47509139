//! The role traits' contract, method by method, on every backend: SQLite in memory, SQLite in a
//! file (reads on its WAL readers) and PostgreSQL, through [`StoreHandle`]. Each test here runs
//! the same body on each backend (`on_every_backend!`), except the cross-backend hash and the
//! concurrency tests, which open several stores themselves.
//!
//! Which test covers which method (`suite` = `store_suite.rs`, `gaps` = `gaps.rs`, `job_log` =
//! `job_log.rs`, `verify` = `verify_ranges.rs`, `absurd` = `absurd_prices.rs`, the rest here):
//!
//! | role | method | tests |
//! |---|---|---|
//! | CandleRead | `describe` | `describe_names_the_backend_and_hides_the_password` (`describe_*`) |
//! | | `schema_version` | `schema_version_is_the_latest_migration` |
//! | | `candles` | suite `long_ranges_read_back_whole_and_in_order`, suite `values_round_trip_bit_for_bit`, `candles_are_half_open_and_per_series`, `a_revision_is_read_at_once_whatever_the_read_cache_holds` |
//! | | `stored_sources` | suite `a_lower_priority_source_never_overwrites…`, `stored_sources_name_each_bar_s_source_in_a_half_open_range` |
//! | | `uncovered` | suite `covered_ranges_merge_and_leave_exact_holes`, `latest_covered_is_the_end_of_the_newest_covered_range` |
//! | | `latest_covered` | `latest_covered_is_the_end_of_the_newest_covered_range` |
//! | | `series_status` | suite `upsert_is_idempotent…`, suite `status_counts_missing_bars…` |
//! | | `cross_check_summary` | suite `a_lower_priority_source_never_overwrites…` |
//! | | `content_hash` | suite `status_counts_missing_bars_and_hash_ignores_fetch_time`, `content_hash_is_the_same_on_every_backend_for_the_same_content` |
//! | | `points` | `chart_points_round_trip_replace_and_read_half_open` |
//! | | `freshness` | `freshness_is_the_close_of_each_series_newest_bar` |
//! | | `flags` | suite `impossible_bars_are_quarantined…` |
//! | | `rejects` | suite `impossible_bars_are_quarantined…`, absurd `absurd_prices_are_quarantined_with_their_reason` |
//! | CandleWrite | `instrument_id` | suite `upsert_is_idempotent…`, `instrument_ids_are_stable_distinct_and_shared_by_clones` |
//! | | `write_pages` | suite `a_lower_priority_source_never_overwrites…`, `write_pages_reports_per_page_in_order`, all or nothing: the concurrency tests |
//! | | `write_page` | suite (every test), gaps |
//! | | `write_points` | `chart_points_round_trip_replace_and_read_half_open` |
//! | | `write_notes` | gaps `causes_follow_what_the_sources_said`, gaps `gaps_are_repaired_in_whole_or_in_part…` |
//! | GapLedger | `refresh_gaps`, `gaps`, `gap_attempted` | gaps (every test), verify |
//! | | `refresh_quality`, `quality_days` | `quality_rows_count_each_day_and_are_stored_once` |
//! | | `verify_stored_ranges` | verify `*_index_drift_is_found_and_repaired` |
//! | UniverseStore | `save_assets`, `ranked_assets` | suite `listings_remember_first_seen…`, `assets_are_replaced_by_symbol_and_ranked_unranked_last` |
//! | | `refresh_listings`, `listings` | suite `listings_remember_first_seen_and_delisting_and_assets_rank` |
//! | | `cache_get`, `cache_put` | `cached_answers_are_fresh_only_after_the_cutoff_and_replaced` |
//! | JobLog | `job_started`, `job_finished` | job_log `runs_record_their_host…`, `recent_jobs_are_newest_first_with_status_and_host` |
//! | | `recent_jobs` | `recent_jobs_are_newest_first_with_status_and_host` |
//! | | `jobs`, `job` | `jobs_filter_page_newest_first_and_one_is_found_by_id` |
//! | | `abandon_running` | `abandon_running_marks_only_this_host_s_running_runs_interrupted` |
//! | HealthLog | `record_health`, `health_history` | `health_samples_replace_by_instant_and_the_newest_read_back_ascending`, `whole_copy_*` |
//! | Retention | `prune_job_runs`, `prune_http_cache` | `pruning_job_runs_and_cached_answers_keeps_running_runs_and_newer_rows` |
//! | | `prune_candles`, `retention_horizons` | `pruning_a_timeframe_keeps_the_store_consistent_and_reports_no_gap_over_it`, `whole_copy_*` |
//! | | `database_size` | `the_database_size_is_known_and_grows_with_the_rows` |
//! | IndicatorStore | `save_indicators`, `indicator_values` | suite `latest_indicator_values_replace_a_series_whole`, `indicator_series_are_instrument_and_timeframe` |
//! | TableCopy | `read_table` | `a_whole_store_copy_reads_back_the_same_and_keeps_working` (`whole_copy_*`), `read_table_stops_without_error_when_the_receiver_goes`, job_log |
//! | | `append_rows`, `after_copy` | `whole_copy_*`, `a_copy_over_a_used_store_is_what_every_connection_reads` (`copy_over_used_*`), job_log |
//! | | `copy_marker`, `set_copy_marker`, `empty_for_copy` | `the_copy_mark_survives_emptying_and_clears`, `a_fresh_store_holds_no_rows_so_a_copy_may_go_into_it` (`fresh_store_is_empty_*`), `whole_copy_*` |
//!
//! Concurrency: `reads_run_and_see_whole_writes_while_a_large_write_is_in_flight_*` (SQLite file
//! and PostgreSQL; also what shows `write_pages` stores all of a batch or none of it).
//!
//! Tests that fail on some backend because of a store bug are ignored there, the bug named in
//! the reason (`cargo test -p candlekeep-store --test contract -- --ignored` runs them).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::collections::BTreeMap;

use candlekeep_core::{Asset, Candle, Instrument, Listing, Market, MarketPoint, SourceId, TimeRange, Timeframe, Venue};
use candlekeep_store::catalog::{TABLES, TableDef, Value};
use candlekeep_store::migrate::CopyMarker;
use candlekeep_store::{
    CandleRead, CandleWrite, GapLedger, HealthLog, HealthSample, IndicatorStore, IndicatorValue, JobLog, JobQuery,
    JobRecord, JobStatus, OwnedPage, Retention, StoreHandle, TableCopy, UniverseStore,
};
use support::{Backend, H, T0, blocking, prov, sim};

const DAY: i64 = 24 * H;
const H4: i64 = 4 * H;
/// The first 4-hour boundary after `T0` (which is on the hour grid only).
const G4: i64 = (T0 / H4 + 1) * H4;

/// `n` hourly bars of the simulated market from `start`.
fn sim_from(start: i64, n: i64) -> Vec<Candle> {
    candlekeep_testkit::SimMarket::new(9)
        .with_outages(false)
        .candles(Market::Spot, "BTCUSDT", Timeframe::H1, start, start + n * H)
        .iter()
        .map(|c| c.to_candle())
        .collect()
}

/// `n` 4-hour bars from `G4` (the market's hourly bars moved onto the 4-hour grid).
fn h4_bars(n: usize) -> Vec<Candle> {
    sim(n)
        .into_iter()
        .enumerate()
        .map(|(k, mut c)| {
            c.open_time_ms = G4 + k as i64 * H4;
            c
        })
        .collect()
}

fn range(from: i64, to: i64) -> TimeRange {
    TimeRange::new(from, to)
}

fn btc_spot() -> Instrument {
    Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap()
}

fn table(name: &str) -> &'static TableDef {
    TABLES.iter().find(|t| t.name == name).unwrap()
}

/// Every row of `table`, read through the channel as a copy reads it.
async fn read_all(store: &StoreHandle, table: &'static TableDef) -> Vec<Vec<Value>> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    let reader = tokio::spawn({
        let store = store.clone();
        async move { store.read_table(table, tx).await.unwrap() }
    });
    let mut rows = Vec::new();
    while let Some(row) = rx.recv().await {
        rows.push(row);
    }
    assert_eq!(
        reader.await.unwrap(),
        rows.len() as u64,
        "read_table counts what it sent"
    );
    rows
}

/// Row count of every table.
async fn row_counts(store: &StoreHandle) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for t in TABLES {
        out.insert(t.name, read_all(store, t).await.len());
    }
    out
}

fn page(id: i64, source: SourceId, candles: Vec<Candle>, covered: Option<TimeRange>) -> OwnedPage {
    OwnedPage {
        instrument_id: id,
        timeframe: Timeframe::H1,
        provenance: prov(source, 11),
        candles,
        covered,
        outranks: None,
    }
}

on_every_backend!(
    schema_version_is_the_latest_migration,
    candles_are_half_open_and_per_series,
    a_revision_is_read_at_once_whatever_the_read_cache_holds,
    stored_sources_name_each_bar_s_source_in_a_half_open_range,
    latest_covered_is_the_end_of_the_newest_covered_range,
    chart_points_round_trip_replace_and_read_half_open,
    freshness_is_the_close_of_each_series_newest_bar,
    instrument_ids_are_stable_distinct_and_shared_by_clones,
    write_pages_reports_per_page_in_order,
    quality_rows_count_each_day_and_are_stored_once,
    assets_are_replaced_by_symbol_and_ranked_unranked_last,
    cached_answers_are_fresh_only_after_the_cutoff_and_replaced,
    recent_jobs_are_newest_first_with_status_and_host,
    indicator_series_are_instrument_and_timeframe,
    read_table_stops_without_error_when_the_receiver_goes,
    the_copy_mark_survives_emptying_and_clears,
    jobs_filter_page_newest_first_and_one_is_found_by_id,
    abandon_running_marks_only_this_host_s_running_runs_interrupted,
    health_samples_replace_by_instant_and_the_newest_read_back_ascending,
    pruning_job_runs_and_cached_answers_keeps_running_runs_and_newer_rows,
    pruning_a_timeframe_keeps_the_store_consistent_and_reports_no_gap_over_it,
    the_database_size_is_known_and_grows_with_the_rows,
);

/// Tests that fail on some backend because of a bug in the store (reported, not fixed here):
/// there they are ignored with the bug named; `cargo test -- --ignored` runs them.
macro_rules! per_backend {
    ($name:ident { $($test:ident: $backend:ident $(, ignore = $why:literal)?;)* }) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[ignore = $why])?
            async fn $test() {
                if Backend::$backend != Backend::Postgres || blocking(support::postgres_available).await {
                    $name(Backend::$backend).await
                }
            }
        )*
    };
}

per_backend!(describe_names_the_backend_and_hides_the_password {
    describe_sqlite: Sqlite;
    describe_sqlite_file: SqliteFile;
    describe_postgres: Postgres;
});

per_backend!(a_fresh_store_holds_no_rows_so_a_copy_may_go_into_it {
    fresh_store_is_empty_sqlite: Sqlite;
    fresh_store_is_empty_sqlite_file: SqliteFile;
    fresh_store_is_empty_postgres: Postgres;
});

per_backend!(a_whole_store_copy_reads_back_the_same_and_keeps_working {
    whole_copy_sqlite: Sqlite;
    whole_copy_sqlite_file: SqliteFile;
    whole_copy_postgres: Postgres;
});

per_backend!(a_copy_over_a_used_store_is_what_every_connection_reads {
    copy_over_used_sqlite: Sqlite;
    copy_over_used_sqlite_file: SqliteFile;
    copy_over_used_postgres: Postgres;
});

// ---------------------------------------------------------------------------------------------
// CandleRead

async fn describe_names_the_backend_and_hides_the_password(backend: Backend) {
    let store = backend.open().await;
    let text = store.describe().await.unwrap();
    match backend {
        Backend::Sqlite => assert_eq!(text, "sqlite :memory:"),
        Backend::SqliteFile => {
            let path = store.sqlite_path().unwrap();
            assert_eq!(text, format!("sqlite {}", path.display()));
        }
        Backend::Postgres => {
            assert!(
                text.starts_with("postgresql ") || text.starts_with("timescaledb "),
                "{text}"
            );
            let url = candlekeep_testkit::pg::server_url();
            if let Some((_, password)) = url
                .split_once("://")
                .and_then(|(_, rest)| rest.split_once('@'))
                .and_then(|(user, _)| user.split_once(':'))
            {
                assert!(!text.contains(&format!(":{password}@")), "the password shows: {text}");
            }
        }
    }
}

async fn schema_version_is_the_latest_migration(backend: Backend) {
    let store = backend.open().await;
    let version = store.schema_version().await.unwrap();
    match backend {
        // Both SQLite forms are created by the same migrations; 7 added the job log's host.
        Backend::Sqlite | Backend::SqliteFile => {
            let other = if backend == Backend::Sqlite {
                Backend::SqliteFile
            } else {
                Backend::Sqlite
            };
            let other = other.open().await;
            assert_eq!(version, other.schema_version().await.unwrap());
            // 9 added system_health and retention_horizon.
            assert!(version >= 10, "{version}");
        }
        // 5 added system_health and retention_horizon.
        Backend::Postgres => assert!(version >= 6, "{version}"),
    }
}

/// Long reads go through the packed-block read cache (packed in the background on SQLite's
/// writer, in the read on PostgreSQL). Whatever it holds at any instant, every read answers the
/// stored bars: a revision written between reads is seen by the very next read, on every
/// connection.
async fn a_revision_is_read_at_once_whatever_the_read_cache_holds(backend: Backend) {
    let store = backend.open().await;
    let btc = btc_spot();
    let id = store.instrument_id(&btc).await.unwrap();
    let mut bars = sim(5_000);
    let year = TimeRange::new(T0, T0 + 5_000 * H);
    store
        .write_page(
            id,
            Timeframe::H1,
            prov(SourceId::BinanceSpotRest, 1),
            bars.clone(),
            None,
        )
        .await
        .unwrap();
    for round in 0..6 {
        // Several reads at once (several connections), then a revision of one bar.
        let reads: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                let btc = btc.clone();
                tokio::spawn(async move { store.candles(&btc, Timeframe::H1, year).await.unwrap() })
            })
            .collect();
        for read in reads {
            assert_eq!(read.await.unwrap(), bars, "round {round}");
        }
        let k = 700 * round + 3;
        bars[k].close = bars[k].low.max(bars[k].close * 0.999);
        store
            .write_page(
                id,
                Timeframe::H1,
                prov(SourceId::BinanceSpotRest, 2),
                vec![bars[k]],
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            store.candles(&btc, Timeframe::H1, year).await.unwrap(),
            bars,
            "after revision {round}"
        );
    }
}

async fn candles_are_half_open_and_per_series(backend: Backend) {
    let store = backend.open().await;
    let btc = btc_spot();
    let eth = Instrument::from_symbol(Market::Spot, "ETHUSDT").unwrap();
    let btc_perp = Instrument::from_symbol(Market::UsdM, "BTCUSDT").unwrap();
    let id = store.instrument_id(&btc).await.unwrap();
    let eth_id = store.instrument_id(&eth).await.unwrap();
    let bars = sim(24);
    store
        .write_page(
            id,
            Timeframe::H1,
            prov(SourceId::BinanceSpotRest, 1),
            bars.clone(),
            None,
        )
        .await
        .unwrap();
    // Other series: the same hours for ETH, scaled, and BTC 4h bars.
    let eth_bars: Vec<Candle> = bars
        .iter()
        .map(|c| Candle {
            open: c.open / 20.0,
            high: c.high / 20.0,
            low: c.low / 20.0,
            close: c.close / 20.0,
            ..*c
        })
        .collect();
    store
        .write_page(
            eth_id,
            Timeframe::H1,
            prov(SourceId::BinanceSpotRest, 1),
            eth_bars.clone(),
            None,
        )
        .await
        .unwrap();
    let h4 = h4_bars(6);
    store
        .write_page(id, Timeframe::H4, prov(SourceId::BinanceSpotRest, 1), h4.clone(), None)
        .await
        .unwrap();

    // [start, end): the bar opening at `start` is in, the one opening at `end` is out.
    let got = store
        .candles(&btc, Timeframe::H1, range(T0 + 3 * H, T0 + 7 * H))
        .await
        .unwrap();
    assert_eq!(got, bars[3..7]);
    // An empty or inverted range has nothing.
    assert!(
        store
            .candles(&btc, Timeframe::H1, range(T0 + 5 * H, T0 + 5 * H))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .candles(&btc, Timeframe::H1, range(T0 + 9 * H, T0 + 5 * H))
            .await
            .unwrap()
            .is_empty()
    );
    let all = range(T0, T0 + 24 * H);
    assert_eq!(store.candles(&eth, Timeframe::H1, all).await.unwrap(), eth_bars);
    assert_eq!(
        store
            .candles(&btc, Timeframe::H4, range(G4, G4 + 6 * H4))
            .await
            .unwrap(),
        h4
    );
    assert_eq!(
        store
            .candles(&btc, Timeframe::H4, range(G4 + H4, G4 + 3 * H4))
            .await
            .unwrap(),
        h4[1..3]
    );
    // An instrument the store has never seen has no candles (and is not an error).
    assert!(store.candles(&btc_perp, Timeframe::H1, all).await.unwrap().is_empty());
}

async fn stored_sources_name_each_bar_s_source_in_a_half_open_range(backend: Backend) {
    let store = backend.open().await;
    let id = store.instrument_id(&btc_spot()).await.unwrap();
    let bars = sim(8);
    // Hours 0..4 from the archive, 4..8 from CryptoCompare; hour 2 revised by OKX.
    store
        .write_pages(vec![
            page(id, SourceId::BinanceArchive, bars[..4].to_vec(), None),
            page(id, SourceId::CryptoCompare, bars[4..].to_vec(), None),
        ])
        .await
        .unwrap();
    let mut revised = bars[2];
    revised.close = (revised.low + revised.high) / 2.0;
    assert_ne!(revised, bars[2]);
    let w = store
        .write_page(id, Timeframe::H1, prov(SourceId::OkxRest, 2), vec![revised], None)
        .await
        .unwrap();
    assert_eq!(w.written, 1);
    let got = store
        .stored_sources(id, Timeframe::H1, range(T0 + H, T0 + 6 * H))
        .await
        .unwrap();
    assert_eq!(
        got,
        vec![
            (T0 + H, SourceId::BinanceArchive),
            (T0 + 2 * H, SourceId::OkxRest),
            (T0 + 3 * H, SourceId::BinanceArchive),
            (T0 + 4 * H, SourceId::CryptoCompare),
            (T0 + 5 * H, SourceId::CryptoCompare),
        ]
    );
    // Another timeframe has none.
    assert!(
        store
            .stored_sources(id, Timeframe::H4, range(T0, T0 + 8 * H))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn latest_covered_is_the_end_of_the_newest_covered_range(backend: Backend) {
    let store = backend.open().await;
    let id = store.instrument_id(&btc_spot()).await.unwrap();
    let eth = store
        .instrument_id(&Instrument::from_symbol(Market::Spot, "ETHUSDT").unwrap())
        .await
        .unwrap();
    assert_eq!(store.latest_covered(id, Timeframe::H1).await.unwrap(), None);
    let cover = |source: SourceId, a: i64, b: i64| {
        let store = store.handle();
        async move {
            store
                .write_page(
                    id,
                    Timeframe::H1,
                    prov(source, 1),
                    vec![],
                    Some(range(T0 + a * H, T0 + b * H)),
                )
                .await
                .unwrap();
        }
    };
    cover(SourceId::BinanceSpotRest, 10, 20).await;
    assert_eq!(
        store.latest_covered(id, Timeframe::H1).await.unwrap(),
        Some(T0 + 20 * H)
    );
    // A later range of another source moves it on; an older range written later does not move
    // it back.
    cover(SourceId::OkxRest, 30, 50).await;
    cover(SourceId::BinanceSpotRest, 0, 5).await;
    assert_eq!(
        store.latest_covered(id, Timeframe::H1).await.unwrap(),
        Some(T0 + 50 * H)
    );
    assert_eq!(
        store
            .uncovered(id, Timeframe::H1, SourceId::BinanceSpotRest, range(T0, T0 + 50 * H))
            .await
            .unwrap(),
        vec![range(T0 + 5 * H, T0 + 10 * H), range(T0 + 20 * H, T0 + 50 * H)]
    );
    // Per series: another timeframe and another instrument have none.
    assert_eq!(store.latest_covered(id, Timeframe::M5).await.unwrap(), None);
    assert_eq!(store.latest_covered(eth, Timeframe::H1).await.unwrap(), None);
}

async fn chart_points_round_trip_replace_and_read_half_open(backend: Backend) {
    let store = backend.open().await;
    let id = store.instrument_id(&btc_spot()).await.unwrap();
    let other = store
        .instrument_id(&Instrument::from_symbol(Market::Spot, "ETHUSDT").unwrap())
        .await
        .unwrap();
    let point = |k: i64, price: f64, cap: Option<f64>| MarketPoint {
        at_ms: T0 + k * 300_000 + 17,
        price,
        market_cap: cap,
        volume_24h: cap.map(|c| c / 40.0),
    };
    // Written out of order, with an odd instant and missing caps.
    let points = vec![
        point(3, 37_123.456_789_012_3, Some(7.25e11)),
        point(0, 0.000_012_345, None),
        point(1, 1e-300, Some(1.0)),
        point(2, 99_999_999.999_999_99, None),
    ];
    store
        .write_points(id, prov(SourceId::CoinGecko, 5), points.clone())
        .await
        .unwrap();
    store
        .write_points(other, prov(SourceId::CoinGecko, 5), vec![point(1, 2.0, None)])
        .await
        .unwrap();
    let mut sorted = points.clone();
    sorted.sort_by_key(|p| p.at_ms);
    let all = range(T0, T0 + DAY);
    assert_eq!(store.points(id, all).await.unwrap(), sorted);
    // Half-open: from the instant of point 1 up to (not including) point 3's.
    assert_eq!(
        store.points(id, range(sorted[1].at_ms, sorted[3].at_ms)).await.unwrap(),
        sorted[1..3]
    );
    // A point at the same instant replaces the stored one.
    let newer = point(2, 42.5, Some(9.0));
    store
        .write_points(id, prov(SourceId::CoinGecko, 6), vec![newer])
        .await
        .unwrap();
    let back = store.points(id, all).await.unwrap();
    assert_eq!(back.len(), 4);
    assert_eq!(back[2], newer);
    assert_eq!(store.points(other, all).await.unwrap(), vec![point(1, 2.0, None)]);
}

async fn freshness_is_the_close_of_each_series_newest_bar(backend: Backend) {
    let store = backend.open().await;
    let btc = btc_spot();
    let eth = Instrument::from_symbol(Market::Spot, "ETHUSDT").unwrap();
    let id = store.instrument_id(&btc).await.unwrap();
    let eth_id = store.instrument_id(&eth).await.unwrap();
    assert!(store.freshness().await.unwrap().is_empty());
    let bars = sim(30);
    // BTC 1h: hours 0..10 and 20..30 (a hole between), then an older hour written last.
    store
        .write_page(
            id,
            Timeframe::H1,
            prov(SourceId::BinanceSpotRest, 1),
            bars[20..].to_vec(),
            None,
        )
        .await
        .unwrap();
    store
        .write_page(
            id,
            Timeframe::H1,
            prov(SourceId::BinanceSpotRest, 1),
            bars[..10].to_vec(),
            None,
        )
        .await
        .unwrap();
    // ETH 4h: three bars; a covered range without bars beyond them does not count.
    store
        .write_page(
            eth_id,
            Timeframe::H4,
            prov(SourceId::BinanceSpotRest, 1),
            h4_bars(3),
            Some(range(G4, G4 + 10 * H4)),
        )
        .await
        .unwrap();
    let mut fresh = store.freshness().await.unwrap();
    fresh.sort_by_key(|(i, tf, _)| (i.to_string(), *tf));
    assert_eq!(
        fresh,
        vec![(btc, Timeframe::H1, T0 + 30 * H), (eth, Timeframe::H4, G4 + 3 * H4)]
    );
}

// ---------------------------------------------------------------------------------------------
// CandleWrite

async fn instrument_ids_are_stable_distinct_and_shared_by_clones(backend: Backend) {
    let store = backend.open().await;
    let names = [
        (Market::Spot, "BTCUSDT"),
        (Market::UsdM, "BTCUSDT"),
        (Market::Spot, "ETHUSDT"),
        (Market::Spot, "ETHBTC"),
    ];
    let instruments: Vec<Instrument> = names
        .iter()
        .map(|(m, s)| Instrument::from_symbol(*m, s).unwrap())
        .collect();
    // Registered at once from many tasks on clones of the handle.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        for i in &instruments {
            let (store, i) = (store.handle(), i.clone());
            tasks.push(tokio::spawn(async move {
                let id = store.instrument_id(&i).await.unwrap();
                (i, id)
            }));
        }
    }
    let mut ids: BTreeMap<String, i64> = BTreeMap::new();
    for t in tasks {
        let (i, id) = t.await.unwrap();
        let known = *ids.entry(i.to_string()).or_insert(id);
        assert_eq!(known, id, "{i} got two ids");
    }
    assert_eq!(ids.len(), 4);
    let mut distinct: Vec<i64> = ids.values().copied().collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "{ids:?}");
    // A bar written under one id is read back under that instrument only.
    let eth = &instruments[2];
    let eth_id = ids[&eth.to_string()];
    store
        .write_page(eth_id, Timeframe::H1, prov(SourceId::BinanceSpotRest, 1), sim(1), None)
        .await
        .unwrap();
    assert_eq!(
        store
            .candles(eth, Timeframe::H1, range(T0, T0 + H))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .candles(&instruments[0], Timeframe::H1, range(T0, T0 + H))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn write_pages_reports_per_page_in_order(backend: Backend) {
    let store = backend.open().await;
    let btc = btc_spot();
    let id = store.instrument_id(&btc).await.unwrap();
    let bars = sim(30);
    let mut bad = bars[12];
    bad.low = bad.high * 2.0; // low above high: quarantined
    let stats = store
        .write_pages(vec![
            page(
                id,
                SourceId::BinanceSpotRest,
                bars[..10].to_vec(),
                Some(range(T0, T0 + 10 * H)),
            ),
            page(id, SourceId::BinanceSpotRest, vec![bars[10], bars[11], bad], None),
            page(id, SourceId::BinanceSpotRest, bars[..5].to_vec(), None),
        ])
        .await
        .unwrap();
    let pairs: Vec<(u64, u64, u64)> = stats.iter().map(|s| (s.written, s.unchanged, s.rejected)).collect();
    assert_eq!(
        pairs,
        vec![(10, 0, 0), (2, 0, 1), (0, 5, 0)],
        "one entry per page, in order"
    );
    assert_eq!(
        store
            .uncovered(id, Timeframe::H1, SourceId::BinanceSpotRest, range(T0, T0 + 12 * H))
            .await
            .unwrap(),
        vec![range(T0 + 10 * H, T0 + 12 * H)]
    );
    // (All or nothing: `reads_run_and_see_whole_writes_while_a_large_write_is_in_flight_*`.)
}

// ---------------------------------------------------------------------------------------------
// GapLedger

async fn quality_rows_count_each_day_and_are_stored_once(backend: Backend) {
    let store = backend.open().await;
    let btc = btc_spot();
    let id = store.instrument_id(&btc).await.unwrap();
    // Two whole UTC days from D0; the market's hours shifted onto them.
    let d0 = (T0 / DAY + 1) * DAY;
    let bars: Vec<Candle> = sim(48)
        .into_iter()
        .map(|mut c| {
            c.open_time_ms += d0 - T0;
            c
        })
        .collect();
    // Day 0: hours 5 and 6 missing (5 arrives impossible: quarantined); 20 and 21 from OKX, the
    // fallback. Day 1: complete, with OKX disagreeing by 10 bp on hour 30.
    let primary: Vec<Candle> = bars
        .iter()
        .enumerate()
        .filter(|(h, _)| ![5, 6, 20, 21].contains(h))
        .map(|(_, c)| *c)
        .collect();
    let mut impossible = bars[5];
    impossible.high = impossible.low / 2.0;
    let mut disagreeing = bars[30];
    disagreeing.close *= 1.001;
    disagreeing.high = disagreeing.high.max(disagreeing.close);
    store
        .write_pages(vec![
            page(id, SourceId::BinanceSpotRest, primary, None),
            page(id, SourceId::BinanceSpotRest, vec![impossible], None),
            OwnedPage {
                outranks: Some(vec![]),
                ..page(id, SourceId::OkxRest, vec![bars[20], bars[21], disagreeing], None)
            },
        ])
        .await
        .unwrap();
    let flags = store.flags().await.unwrap();
    let flagged_on = |day: i64| {
        flags
            .iter()
            .filter(|f| f.open_time_ms >= d0 + day * DAY && f.open_time_ms < d0 + (day + 1) * DAY)
            .count() as i64
    };

    let now = d0 + 2 * DAY + 5 * 60_000;
    let rows = store.refresh_quality(d0, now).await.unwrap();
    let got: Vec<_> = rows
        .iter()
        .map(|q| {
            (
                q.instrument.clone(),
                q.timeframe,
                (q.day_ms - d0) / DAY,
                q.expected,
                q.stored,
                q.missing,
                q.rejected,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (btc.clone(), Timeframe::H1, 0, 24, 22, 2, 1),
            (btc.clone(), Timeframe::H1, 1, 24, 24, 0, 0),
        ]
    );
    let (day0, day1) = (&rows[0], &rows[1]);
    assert_eq!((day0.flagged, day1.flagged), (flagged_on(0), flagged_on(1)));
    assert!((day0.fallback_share - 2.0 / 22.0).abs() < 1e-12, "{day0:?}");
    assert_eq!(day0.divergence_bps, None);
    assert_eq!(day1.fallback_share, 0.0);
    let divergence = day1.divergence_bps.expect("day 1 has a cross-check");
    assert!((divergence - 10.0).abs() < 1e-6, "{day1:?}");
    for q in &rows {
        let expected = candlekeep_store::quality_score(q.expected, q.stored, q.rejected, q.flagged, q.divergence_bps);
        assert!((q.score - expected).abs() < 1e-9, "{q:?}");
        assert!(q.score < 100.0, "{q:?}");
    }
    // Stored, one row per series and day; a second refresh replaces them.
    let quality = table("quality");
    assert_eq!(read_all(&store, quality).await.len(), 2);
    let again = store.refresh_quality(d0, now).await.unwrap();
    assert_eq!(again, rows);
    // Read back as stored: the same rows, from the day `since` falls in; none after the last.
    assert_eq!(store.quality_days(d0 + 3 * H).await.unwrap(), rows);
    assert_eq!(store.quality_days(d0 + DAY).await.unwrap(), rows[1..].to_vec());
    assert!(store.quality_days(d0 + 2 * DAY).await.unwrap().is_empty());
    let stored = read_all(&store, quality).await;
    assert_eq!(stored.len(), 2);
    let stored_col = quality.columns.iter().position(|(c, _)| *c == "stored").unwrap();
    assert_eq!(
        stored.iter().map(|r| r[stored_col].clone()).collect::<Vec<_>>(),
        vec![Value::Int(22), Value::Int(24)]
    );
}

// ---------------------------------------------------------------------------------------------
// UniverseStore

async fn assets_are_replaced_by_symbol_and_ranked_unranked_last(backend: Backend) {
    let store = backend.open().await;
    let asset = |symbol: &str, rank: Option<u32>, name: &str| Asset {
        symbol: symbol.into(),
        coingecko_id: symbol.to_lowercase(),
        name: name.into(),
        market_cap_rank: rank,
    };
    assert!(store.ranked_assets(10).await.unwrap().is_empty());
    store
        .save_assets(
            vec![
                asset("SOL", Some(5), "Solana"),
                asset("AAA", None, "Unranked A"),
                asset("BTC", Some(1), "Bitcoin"),
                asset("ETH", Some(2), "Ethereum"),
            ],
            1,
        )
        .await
        .unwrap();
    // A later refresh re-ranks ETH and names it anew: one row per symbol.
    store
        .save_assets(vec![asset("ETH", Some(7), "Ether")], 2)
        .await
        .unwrap();
    let all = store.ranked_assets(10).await.unwrap();
    assert_eq!(
        all,
        vec![
            asset("BTC", Some(1), "Bitcoin"),
            asset("SOL", Some(5), "Solana"),
            asset("ETH", Some(7), "Ether"),
            asset("AAA", None, "Unranked A"),
        ]
    );
    assert_eq!(store.ranked_assets(2).await.unwrap(), all[..2]);
}

async fn cached_answers_are_fresh_only_after_the_cutoff_and_replaced(backend: Backend) {
    let store = backend.open().await;
    assert_eq!(store.cache_get("coins/list", 0).await.unwrap(), None);
    let body: Vec<u8> = (0..=255u8).chain([0, 0, 255]).collect(); // any bytes, NULs included
    store.cache_put("coins/list", body.clone(), 1_000).await.unwrap();
    // Fresh when fetched strictly after the cutoff.
    assert_eq!(store.cache_get("coins/list", 999).await.unwrap(), Some(body.clone()));
    assert_eq!(store.cache_get("coins/list", 1_000).await.unwrap(), None);
    assert_eq!(store.cache_get("coins/list", 5_000).await.unwrap(), None);
    // Another key is another entry.
    assert_eq!(store.cache_get("coins/list?x", 0).await.unwrap(), None);
    // A newer answer replaces the old one, body and time.
    store.cache_put("coins/list", b"[]".to_vec(), 6_000).await.unwrap();
    assert_eq!(
        store.cache_get("coins/list", 5_000).await.unwrap(),
        Some(b"[]".to_vec())
    );
    assert_eq!(read_all(&store, table("http_cache")).await.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// JobLog

/// (id, job, args, status, rows written, sources used, error, ended).
type JobSummary<'a> = (i64, &'a str, &'a str, &'a str, i64, &'a str, Option<&'a str>, bool);

async fn recent_jobs_are_newest_first_with_status_and_host(backend: Backend) {
    let store = backend.open().await;
    let finish = |status: JobStatus, rows: u64, sources: &[&str], error: Option<&str>| JobRecord {
        status,
        rows_written: rows,
        sources: sources.iter().map(|s| (*s).to_owned()).collect(),
        error: error.map(str::to_owned),
        error_kind: error.map(|_| "source:unavailable".to_owned()),
    };
    let a = store.job_started("backfill", "--from 2024-01-01").await.unwrap();
    store
        .job_finished(
            a,
            finish(JobStatus::Ok, 42, &["binance-spot-rest=40", "okx-rest=2"], None),
        )
        .await
        .unwrap();
    let b = store.job_started("sync", "").await.unwrap();
    store
        .job_finished(b, finish(JobStatus::Failed, 0, &[], Some("okx: HTTP 500")))
        .await
        .unwrap();
    let c = store.job_started("gaps", "--fill").await.unwrap();
    let d = store.job_started("status", "--json").await.unwrap();
    store
        .job_finished(d, finish(JobStatus::Interrupted, 1, &[], None))
        .await
        .unwrap();
    assert!(a < b && b < c && c < d, "{a} {b} {c} {d}");

    let jobs = store.recent_jobs(10).await.unwrap();
    // The failure's kind is kept beside its message; runs without an error have none.
    let kinds: Vec<Option<&str>> = jobs.iter().map(|j| j.error_kind.as_deref()).collect();
    assert_eq!(kinds, vec![None, None, Some("source:unavailable"), None]);
    let summary: Vec<JobSummary<'_>> = jobs
        .iter()
        .map(|j| {
            (
                j.id,
                j.job.as_str(),
                j.args.as_str(),
                j.status.as_str(),
                j.rows_written,
                j.sources_used.as_str(),
                j.error.as_deref(),
                j.ended_at.is_some(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (d, "status", "--json", "interrupted", 1, "", None, true),
            (c, "gaps", "--fill", "running", 0, "", None, false),
            (b, "sync", "", "failed", 0, "", Some("okx: HTTP 500"), true),
            (
                a,
                "backfill",
                "--from 2024-01-01",
                "ok",
                42,
                "binance-spot-rest=40,okx-rest=2",
                None,
                true
            ),
        ]
    );
    assert!(jobs.iter().all(|j| j.ended_at.is_none_or(|e| e >= j.started_at)));
    let ids: Vec<i64> = store.recent_jobs(2).await.unwrap().iter().map(|j| j.id).collect();
    assert_eq!(ids, vec![d, c]);

    // Each run records this host.
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let runs = table("job_runs");
    let host_col = runs.columns.iter().position(|(c, _)| *c == "host").unwrap();
    let rows = read_all(&store, runs).await;
    assert_eq!(rows.len(), 4);
    assert!(
        rows.iter().all(|r| r[host_col] == Value::Text(host.clone())),
        "{rows:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// IndicatorStore

async fn indicator_series_are_instrument_and_timeframe(backend: Backend) {
    let store = backend.open().await;
    let btc = store.instrument_id(&btc_spot()).await.unwrap();
    let value = |tf: Timeframe, name: &str, v: f64, bar: i64| IndicatorValue {
        instrument_id: btc,
        timeframe: tf,
        name: name.into(),
        bar_ms: bar,
        value: v,
        computed_at_ms: T0 + 100 * H,
    };
    assert!(store.indicator_values().await.unwrap().is_empty());
    store
        .save_indicators(vec![
            value(Timeframe::D1, "sma_20", 36_000.5, T0 - T0 % DAY),
            value(Timeframe::H1, "rsi_14", 55.0, T0),
            value(Timeframe::H1, "macd_12_26_9", -1.5e-7, T0),
        ])
        .await
        .unwrap();
    // A new 1h set replaces BTC 1h whole; BTC 1d is another series and stays.
    store
        .save_indicators(vec![value(Timeframe::H1, "rsi_14", 61.25, T0 + H)])
        .await
        .unwrap();
    let mut got = store.indicator_values().await.unwrap();
    got.sort_by(|a, b| (a.timeframe, &a.name).cmp(&(b.timeframe, &b.name)));
    let mut want = vec![
        value(Timeframe::H1, "rsi_14", 61.25, T0 + H),
        value(Timeframe::D1, "sma_20", 36_000.5, T0 - T0 % DAY),
    ];
    want.sort_by(|a, b| (a.timeframe, &a.name).cmp(&(b.timeframe, &b.name)));
    assert_eq!(got, want);
    // Saving nothing changes nothing.
    store.save_indicators(vec![]).await.unwrap();
    assert_eq!(store.indicator_values().await.unwrap().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// TableCopy

async fn read_table_stops_without_error_when_the_receiver_goes(backend: Backend) {
    let store = backend.open().await;
    let id = store.instrument_id(&btc_spot()).await.unwrap();
    store
        .write_page(id, Timeframe::H1, prov(SourceId::BinanceSpotRest, 1), sim(500), None)
        .await
        .unwrap();
    let candles = table("candles");
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    let reader = tokio::spawn({
        let store = store.handle();
        async move { store.read_table(candles, tx).await }
    });
    let first = rx.recv().await.unwrap();
    drop(rx);
    let sent = reader.await.unwrap().unwrap();
    assert!((1..500).contains(&sent), "{sent} rows counted as sent");
    let time_col = candles.columns.iter().position(|(c, _)| *c == "open_time").unwrap();
    assert_eq!(first[time_col], Value::Int(T0), "rows come in key order");
    // The store is free again afterwards: a whole read gets every row.
    assert_eq!(read_all(&store, candles).await.len(), 500);
}

async fn the_copy_mark_survives_emptying_and_clears(backend: Backend) {
    let store = backend.open().await;
    assert_eq!(store.copy_marker().await.unwrap(), None);
    let id = store.instrument_id(&btc_spot()).await.unwrap();
    store
        .write_page(
            id,
            Timeframe::H1,
            prov(SourceId::BinanceSpotRest, 1),
            sim(10),
            Some(range(T0, T0 + 10 * H)),
        )
        .await
        .unwrap();
    store.cache_put("k", b"v".to_vec(), 1).await.unwrap();
    let mark = CopyMarker {
        source: "postgresql://ck:***@db/prod".into(),
        started_at_ms: T0 + 5,
    };
    store.set_copy_marker(Some(mark.clone())).await.unwrap();
    assert_eq!(store.copy_marker().await.unwrap(), Some(mark.clone()));
    // Setting it again replaces it: one mark.
    let later = CopyMarker {
        started_at_ms: T0 + 6,
        ..mark.clone()
    };
    store.set_copy_marker(Some(later.clone())).await.unwrap();
    assert_eq!(store.copy_marker().await.unwrap(), Some(later.clone()));

    store.empty_for_copy().await.unwrap();
    let counts = row_counts(&store).await;
    assert!(counts.values().all(|n| *n == 0), "rows left after emptying: {counts:?}");
    assert_eq!(
        store.copy_marker().await.unwrap(),
        Some(later),
        "emptying keeps the mark"
    );
    store.set_copy_marker(None).await.unwrap();
    assert_eq!(store.copy_marker().await.unwrap(), None);
    // The emptied store takes new data.
    let id = store.instrument_id(&btc_spot()).await.unwrap();
    let w = store
        .write_page(id, Timeframe::H1, prov(SourceId::BinanceSpotRest, 1), sim(3), None)
        .await
        .unwrap();
    assert_eq!(w.written, 3);
    assert_eq!(
        store
            .candles(&btc_spot(), Timeframe::H1, range(T0, T0 + 3 * H))
            .await
            .unwrap(),
        sim(3)
    );
}

/// `migrate` copies only into a store without rows (and refuses otherwise): a store just opened
/// through the handle must be one.
async fn a_fresh_store_holds_no_rows_so_a_copy_may_go_into_it(backend: Backend) {
    let store = backend.open().await;
    let counts = row_counts(&store).await;
    let nonempty: Vec<_> = counts.iter().filter(|(_, n)| **n > 0).collect();
    assert!(nonempty.is_empty(), "a fresh store holds rows: {nonempty:?}");
}

/// An in-memory SQLite store with rows in every table. Its sources are registered in the order
/// they are first used (OKX first), unlike a store that registers all of them on opening.
async fn populated() -> support::TestStore {
    let store = Backend::Sqlite.open().await;
    let btc = Instrument::from_symbol(Market::UsdM, "BTCUSDT").unwrap();
    let eth = btc_spot(); // a second series, registered after BTC perp
    let id = store.instrument_id(&btc).await.unwrap();
    let eth_id = store.instrument_id(&eth).await.unwrap();
    let bars = sim(48);
    let mut okx: Vec<Candle> = bars[..30].to_vec();
    for c in &mut okx {
        c.close = c.close.clamp(c.low, c.high);
        c.volume = c.volume.map(|v| v * 1.5);
    }
    okx[3].close = (okx[3].close * 1.0005).min(okx[3].high);
    let mut jump = bars[40];
    jump.close *= 1.5;
    jump.high = jump.high.max(jump.close);
    let mut rejected = bars[41];
    rejected.low = rejected.high * 3.0;
    let mut primary = bars[10..40].to_vec();
    primary.push(jump);
    primary.push(rejected);
    store
        .write_pages(vec![
            page(id, SourceId::OkxRest, okx, Some(range(T0, T0 + 30 * H))),
            OwnedPage {
                outranks: Some(vec![SourceId::OkxRest]),
                ..page(
                    id,
                    SourceId::BinanceUsdmRest,
                    primary,
                    Some(range(T0 + 10 * H, T0 + 45 * H)),
                )
            },
            page(eth_id, SourceId::BinanceSpotRest, bars[..5].to_vec(), None),
        ])
        .await
        .unwrap();
    store
        .write_notes(
            id,
            Timeframe::H1,
            SourceId::BinanceUsdmRest,
            vec![(
                range(T0 + 45 * H, T0 + 48 * H),
                candlekeep_store::FETCH_FAILED.to_owned(),
            )],
        )
        .await
        .unwrap();
    store
        .write_points(
            id,
            prov(SourceId::CoinGecko, 3),
            vec![MarketPoint {
                at_ms: T0 + 7,
                price: 36_000.25,
                market_cap: Some(7e11),
                volume_24h: None,
            }],
        )
        .await
        .unwrap();
    store
        .save_assets(
            vec![Asset {
                symbol: "BTC".into(),
                coingecko_id: "bitcoin".into(),
                name: "Bitcoin".into(),
                market_cap_rank: Some(1),
            }],
            T0,
        )
        .await
        .unwrap();
    let listing = Listing {
        venue: Venue::Binance,
        market: Market::UsdM,
        ticker: "BTCUSDT".into(),
        base: "BTC".into(),
        quote: "USDT".into(),
        listed_at_ms: Some(T0 - 100 * H),
    };
    store
        .refresh_listings(Venue::Binance, Market::UsdM, vec![listing], T0)
        .await
        .unwrap();
    store.cache_put("coins/list", b"[1,2]".to_vec(), T0).await.unwrap();
    store
        .save_indicators(vec![IndicatorValue {
            instrument_id: id,
            timeframe: Timeframe::H1,
            name: "rsi_14".into(),
            bar_ms: T0 + 40 * H,
            value: 63.5,
            computed_at_ms: T0 + 50 * H,
        }])
        .await
        .unwrap();
    let now = T0 + 60 * H;
    store.refresh_gaps(now).await.unwrap();
    store.refresh_quality(T0, now).await.unwrap();
    store.record_health(health(T0 + 60 * H, 3)).await.unwrap();
    // A timeframe with no bars: only its retention horizon is recorded.
    assert_eq!(store.prune_candles(Timeframe::D1, T0).await.unwrap(), 0);
    let job = store.job_started("backfill", "--from 2023-11-14").await.unwrap();
    store
        .job_finished(
            job,
            JobRecord {
                status: JobStatus::Ok,
                rows_written: 77,
                sources: vec!["binance-usdm-rest=30".into()],
                error: None,
                error_kind: None,
            },
        )
        .await
        .unwrap();
    let counts = row_counts(&store).await;
    let empty: Vec<_> = counts.iter().filter(|(_, n)| **n == 0).collect();
    assert!(empty.is_empty(), "the populated store has empty tables: {empty:?}");
    store
}

/// Every table of `from` into `to`, through the channel, in chunks (as `migrate` copies).
async fn copy_every_table(from: &StoreHandle, to: &StoreHandle) {
    for t in TABLES {
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let reader = tokio::spawn({
            let from = from.clone();
            async move { from.read_table(t, tx).await.unwrap() }
        });
        let mut chunk = Vec::new();
        let mut copied = 0u64;
        while let Some(row) = rx.recv().await {
            chunk.push(row);
            if chunk.len() == 7 {
                copied += chunk.len() as u64;
                to.append_rows(t, std::mem::take(&mut chunk)).await.unwrap();
            }
        }
        copied += chunk.len() as u64;
        if !chunk.is_empty() {
            to.append_rows(t, chunk).await.unwrap();
        }
        assert_eq!(reader.await.unwrap(), copied, "{}", t.name);
    }
    to.after_copy().await.unwrap();
}

/// What the copy must read back the same through `store`, from every connection.
async fn assert_reads_like(store: &StoreHandle, source: &StoreHandle) {
    for t in TABLES {
        assert_eq!(
            read_all(store, t).await,
            read_all(source, t).await,
            "table {} differs after the copy",
            t.name
        );
    }
    // Many reads at once, so every connection of the handle answers some.
    let mut tasks = Vec::new();
    for _ in 0..3 * support::PG_CONNECTIONS {
        let (store, source) = (store.clone(), source.clone());
        tasks.push(tokio::spawn(async move {
            let btc = Instrument::from_symbol(Market::UsdM, "BTCUSDT").unwrap();
            assert_eq!(
                store.instrument_id(&btc).await.unwrap(),
                source.instrument_id(&btc).await.unwrap(),
                "the copied instrument id"
            );
            let id = source.instrument_id(&btc).await.unwrap();
            let all = range(T0, T0 + 48 * H);
            assert_eq!(
                store.stored_sources(id, Timeframe::H1, all).await.unwrap(),
                source.stored_sources(id, Timeframe::H1, all).await.unwrap(),
                "the copied bars' sources"
            );
            assert_eq!(
                store.series_status().await.unwrap(),
                source.series_status().await.unwrap()
            );
            assert_eq!(
                store.content_hash().await.unwrap(),
                source.content_hash().await.unwrap()
            );
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

async fn a_whole_store_copy_reads_back_the_same_and_keeps_working(backend: Backend) {
    let source = populated().await;
    let dest = backend.open().await;
    let mark = CopyMarker {
        source: "sqlite :memory:".into(),
        started_at_ms: T0,
    };
    dest.set_copy_marker(Some(mark.clone())).await.unwrap();
    // What `migrate --restart` does first; a fresh store should need it only for its own rows
    // (see `a_fresh_store_holds_no_rows_so_a_copy_may_go_into_it`).
    dest.empty_for_copy().await.unwrap();
    copy_every_table(&source, &dest).await;
    assert_eq!(dest.copy_marker().await.unwrap(), Some(mark));
    dest.set_copy_marker(None).await.unwrap();
    assert_reads_like(&dest, &source).await;

    // The copy keeps working: new rows get new ids past the copied ones (after_copy), and
    // writes go to the copied series.
    let copied_jobs: Vec<i64> = source.recent_jobs(10).await.unwrap().iter().map(|j| j.id).collect();
    let job = dest.job_started("status", "").await.unwrap();
    assert!(
        copied_jobs.iter().all(|j| *j < job),
        "job id {job} reuses {copied_jobs:?}"
    );
    let sol = Instrument::from_symbol(Market::Spot, "SOLUSDT").unwrap();
    let sol_id = dest.instrument_id(&sol).await.unwrap();
    let btc = Instrument::from_symbol(Market::UsdM, "BTCUSDT").unwrap();
    let btc_id = dest.instrument_id(&btc).await.unwrap();
    let eth_id = dest.instrument_id(&btc_spot()).await.unwrap();
    assert!(sol_id != btc_id && sol_id != eth_id, "a new instrument got a copied id");
    let more = sim(50)[48..].to_vec();
    let w = dest
        .write_page(
            btc_id,
            Timeframe::H1,
            prov(SourceId::BinanceUsdmRest, 9),
            more.clone(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(w.written, 2);
    assert_eq!(
        dest.candles(&btc, Timeframe::H1, range(T0 + 48 * H, T0 + 50 * H))
            .await
            .unwrap(),
        more
    );
}

/// A copy into a store this handle has used before (`migrate --restart`): afterwards every
/// connection reads the copied rows, ids and sources, not what it had looked up before.
async fn a_copy_over_a_used_store_is_what_every_connection_reads(backend: Backend) {
    let source = populated().await;
    let dest = backend.open().await;
    // Used: instruments registered in another order, bars from other sources, looked up from
    // every connection.
    let eth = dest.instrument_id(&btc_spot()).await.unwrap();
    let btc = dest
        .instrument_id(&Instrument::from_symbol(Market::UsdM, "BTCUSDT").unwrap())
        .await
        .unwrap();
    dest.write_pages(vec![
        page(eth, SourceId::CryptoCompare, sim(3), None),
        page(btc, SourceId::BybitRest, sim(3), None),
    ])
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..3 * support::PG_CONNECTIONS {
        let dest = dest.handle();
        tasks.push(tokio::spawn(async move {
            dest.instrument_id(&Instrument::from_symbol(Market::UsdM, "BTCUSDT").unwrap())
                .await
                .unwrap();
            dest.stored_sources(btc, Timeframe::H1, range(T0, T0 + 3 * H))
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().len(), 3);
    }
    dest.set_copy_marker(Some(CopyMarker {
        source: "sqlite :memory:".into(),
        started_at_ms: T0,
    }))
    .await
    .unwrap();
    dest.empty_for_copy().await.unwrap();
    copy_every_table(&source, &dest).await;
    dest.set_copy_marker(None).await.unwrap();
    assert_reads_like(&dest, &source).await;
}

// ---------------------------------------------------------------------------------------------
// Across backends and under load

/// The same content, written in other pages at other fetch times, hashes the same on every
/// backend (the hash is what `migrate` and `status --hash` compare across backends).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_hash_is_the_same_on_every_backend_for_the_same_content() {
    let mut backends = vec![Backend::Sqlite, Backend::SqliteFile];
    if blocking(support::postgres_available).await {
        backends.push(Backend::Postgres);
    }
    let bars = sim(100);
    let eth_bars: Vec<Candle> = bars
        .iter()
        .map(|c| Candle {
            open: c.open / 3.0,
            high: c.high / 3.0,
            low: c.low / 3.0,
            close: c.close / 3.0,
            volume: None,
            quote_volume: None,
            trades: None,
            ..*c
        })
        .collect();
    let mut hashes = Vec::new();
    for (n, backend) in backends.iter().enumerate() {
        let store = backend.open().await;
        // Registered in another order on each backend: the hash is over names, not ids.
        let eth = Instrument::from_symbol(Market::UsdM, "ETHUSDT").unwrap();
        let (btc_id, eth_id) = if n % 2 == 0 {
            let b = store.instrument_id(&btc_spot()).await.unwrap();
            (b, store.instrument_id(&eth).await.unwrap())
        } else {
            let e = store.instrument_id(&eth).await.unwrap();
            (store.instrument_id(&btc_spot()).await.unwrap(), e)
        };
        let split = 10 + 30 * n;
        store
            .write_pages(vec![
                page(eth_id, SourceId::OkxRest, eth_bars.clone(), None),
                page(btc_id, SourceId::BinanceSpotRest, bars[split..].to_vec(), None),
            ])
            .await
            .unwrap();
        store
            .write_page(
                btc_id,
                Timeframe::H1,
                prov(SourceId::BinanceSpotRest, 1_000 + n as i64),
                bars[..split].to_vec(),
                None,
            )
            .await
            .unwrap();
        let hash = store.content_hash().await.unwrap();
        assert_eq!(hash.len(), 64, "{hash}");
        assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{hash}");
        // One value differing anywhere changes it.
        let mut revised = bars[99];
        revised.volume = revised.volume.map(|v| v + 1.0);
        store
            .write_page(
                btc_id,
                Timeframe::H1,
                prov(SourceId::BinanceSpotRest, 1),
                vec![revised],
                None,
            )
            .await
            .unwrap();
        assert_ne!(store.content_hash().await.unwrap(), hash, "{backend:?}");
        hashes.push((*backend, hash));
    }
    let first = hashes[0].1.clone();
    assert!(hashes.iter().all(|(_, h)| *h == first), "{hashes:?}");
}

/// Many reads run while a large `write_pages` is in flight, and each sees correct data: the
/// series written before in full, and the series being written either not at all or whole (one
/// transaction). On a SQLite file (reads on the WAL readers) and on PostgreSQL (the pool).
async fn reads_during_a_large_write(backend: Backend) {
    let store = backend.open().await;
    let settled = Instrument::from_symbol(Market::Spot, "ETHUSDT").unwrap();
    let settled_id = store.instrument_id(&settled).await.unwrap();
    let settled_bars = sim(2_000);
    store
        .write_page(
            settled_id,
            Timeframe::H1,
            prov(SourceId::BinanceSpotRest, 1),
            settled_bars.clone(),
            None,
        )
        .await
        .unwrap();
    let btc = btc_spot();
    let id = store.instrument_id(&btc).await.unwrap();
    // Closed bars only: the 40,000 hours before `T0`.
    let start = T0 - 40_000 * H;
    let big = sim_from(start, 40_000);
    let pages: Vec<OwnedPage> = big
        .chunks(1_000)
        .map(|c| {
            let covered = range(c[0].open_time_ms, c[c.len() - 1].open_time_ms + H);
            page(id, SourceId::BinanceSpotRest, c.to_vec(), Some(covered))
        })
        .collect();
    let writer = tokio::spawn({
        let store = store.handle();
        async move { store.write_pages(pages).await.unwrap() }
    });

    let mut readers = Vec::new();
    for n in 0..24 {
        let store = store.handle();
        let (settled, settled_bars) = (settled.clone(), settled_bars.clone());
        readers.push(tokio::spawn(async move {
            let mut saw_the_write = Vec::new();
            for round in 0..3 {
                // A different window of the settled series each time.
                let from = ((n * 3 + round) * 37) % 1_500;
                let got = store
                    .candles(&settled, Timeframe::H1, range(T0 + from * H, T0 + (from + 500) * H))
                    .await
                    .unwrap();
                assert_eq!(got, settled_bars[from as usize..from as usize + 500]);
                // The series being written: none of it or all of it. Coverage is read first: once
                // it shows the write committed, the bars read after it must all be there (the two
                // reads are two statements, so the other order proves nothing).
                let covered = store
                    .uncovered(id, Timeframe::H1, SourceId::BinanceSpotRest, range(start, T0))
                    .await
                    .unwrap()
                    .is_empty();
                let written = store
                    .stored_sources(id, Timeframe::H1, range(start, T0))
                    .await
                    .unwrap()
                    .len();
                assert!(
                    written == 0 || written == 40_000,
                    "a read saw {written} bars of one write"
                );
                assert!(
                    !covered || written == 40_000,
                    "the write's coverage was visible before its bars"
                );
                saw_the_write.push(written > 0);
            }
            saw_the_write
        }));
    }
    let mut before = 0;
    for r in readers {
        before += r.await.unwrap().iter().filter(|saw| !**saw).count();
    }
    let stats = writer.await.unwrap();
    assert_eq!(stats.iter().map(|s| s.written).sum::<u64>(), 40_000);
    assert_eq!(store.candles(&btc, Timeframe::H1, range(start, T0)).await.unwrap(), big);
    // For the record only (timing is not asserted): how many reads ran before the write committed.
    eprintln!("{backend:?}: {before} of 72 reads finished before the write committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_run_and_see_whole_writes_while_a_large_write_is_in_flight_sqlite_file() {
    reads_during_a_large_write(Backend::SqliteFile).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_run_and_see_whole_writes_while_a_large_write_is_in_flight_postgres() {
    if blocking(support::postgres_available).await {
        reads_during_a_large_write(Backend::Postgres).await;
    }
}

// ---------------------------------------------------------------------------------------------
// JobLog: listing, finding and abandoning runs

fn ended(status: JobStatus) -> JobRecord {
    JobRecord {
        status,
        rows_written: 0,
        sources: Vec::new(),
        error: None,
        error_kind: None,
    }
}

async fn jobs_filter_page_newest_first_and_one_is_found_by_id(backend: Backend) {
    let store = backend.open().await;
    let mut ids = Vec::new();
    for (job, status) in [
        ("backfill", JobStatus::Ok),
        ("sync", JobStatus::Failed),
        ("sync", JobStatus::Ok),
        ("gaps", JobStatus::Ok),
        ("sync", JobStatus::Ok),
    ] {
        let id = store.job_started(job, "").await.unwrap();
        store.job_finished(id, ended(status)).await.unwrap();
        ids.push(id);
    }
    let running = store.job_started("sync", "--live").await.unwrap();
    let listed = |q: JobQuery| {
        let store = store.handle();
        async move { store.jobs(q).await.unwrap().iter().map(|j| j.id).collect::<Vec<_>>() }
    };
    let all = JobQuery {
        limit: 100,
        ..JobQuery::default()
    };
    assert_eq!(
        listed(all.clone()).await,
        vec![running, ids[4], ids[3], ids[2], ids[1], ids[0]]
    );
    let syncs = JobQuery {
        job: Some("sync".into()),
        ..all.clone()
    };
    assert_eq!(listed(syncs.clone()).await, vec![running, ids[4], ids[2], ids[1]]);
    let ok_syncs = JobQuery {
        status: Some(JobStatus::Ok),
        ..syncs.clone()
    };
    assert_eq!(listed(ok_syncs).await, vec![ids[4], ids[2]]);
    let running_only = JobQuery {
        status: Some(JobStatus::Running),
        ..all.clone()
    };
    assert_eq!(listed(running_only).await, vec![running]);
    // Paging with the cursor: pages of two, each below the previous page's last id.
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = listed(JobQuery {
            before_id: cursor,
            limit: 2,
            ..syncs.clone()
        })
        .await;
        let Some(&last) = page.last() else { break };
        cursor = Some(last);
        pages.push(page);
    }
    assert_eq!(pages, vec![vec![running, ids[4]], vec![ids[2], ids[1]]]);
    assert_eq!(listed(JobQuery { limit: 0, ..all }).await, Vec::<i64>::new());
    // recent_jobs is the unfiltered listing.
    let recent: Vec<i64> = store.recent_jobs(3).await.unwrap().iter().map(|j| j.id).collect();
    assert_eq!(recent, vec![running, ids[4], ids[3]]);

    // One run by id, whole; none for an id never given out.
    let one = store.job(ids[1]).await.unwrap().unwrap();
    assert_eq!(
        (one.id, one.job.as_str(), one.status.as_str()),
        (ids[1], "sync", "failed")
    );
    assert!(one.ended_at.is_some());
    let live = store.job(running).await.unwrap().unwrap();
    assert_eq!(
        (live.args.as_str(), live.status.as_str(), live.ended_at),
        ("--live", "running", None)
    );
    assert!(store.job(running + 1000).await.unwrap().is_none());
    assert!(store.job(i64::MAX).await.unwrap().is_none());
    assert!(store.job(-1).await.unwrap().is_none());
}

async fn abandon_running_marks_only_this_host_s_running_runs_interrupted(backend: Backend) {
    let store = backend.open().await;
    let host = candlekeep_store::job_host();
    let done = store.job_started("backfill", "").await.unwrap();
    store.job_finished(done, ended(JobStatus::Ok)).await.unwrap();
    let a = store.job_started("sync", "").await.unwrap();
    let b = store.job_started("gaps", "").await.unwrap();
    // Another host's running run (several machines share a PostgreSQL database): not ours.
    let other = store.job_started("sync", "").await.unwrap();
    let runs = table("job_runs");
    let mut rows = read_all(&store, runs).await;
    let host_col = runs.columns.iter().position(|(c, _)| *c == "host").unwrap();
    let id_col = runs.columns.iter().position(|(c, _)| *c == "id").unwrap();
    for row in &mut rows {
        if row[id_col] == Value::Int(other) {
            row[host_col] = Value::Text(format!("{host}-elsewhere"));
        }
    }
    // Rewritten through a whole-table copy, the way the test can reach every backend's rows.
    store.empty_for_copy().await.unwrap();
    store.append_rows(runs, rows).await.unwrap();
    store.after_copy().await.unwrap();

    assert_eq!(store.abandon_running(&host).await.unwrap(), 2);
    for id in [a, b] {
        let run = store.job(id).await.unwrap().unwrap();
        assert_eq!(run.status, "interrupted");
        assert_eq!(run.error.as_deref(), Some("the process ended before the run did"));
    }
    assert_eq!(store.job(done).await.unwrap().unwrap().status, "ok");
    assert_eq!(store.job(other).await.unwrap().unwrap().status, "running");
    // Nothing left to abandon.
    assert_eq!(store.abandon_running(&host).await.unwrap(), 0);
}

// ---------------------------------------------------------------------------------------------
// HealthLog

fn health(at_ms: i64, k: u64) -> HealthSample {
    HealthSample {
        at_ms,
        cpu_pct: 12.5 + k as f64,
        mem_used_bytes: 3 << 30,
        mem_total_bytes: 16 << 30,
        disk_used_bytes: 100 << 30,
        disk_total_bytes: 500 << 30,
        rss_bytes: 200 << 20,
        freshness_lag_ms: k.is_multiple_of(2).then_some(90_000 + k as i64),
        api_p99_ms: (!k.is_multiple_of(3)).then_some(4.25 * k as f64),
        api_requests: 60 * k,
    }
}

async fn health_samples_replace_by_instant_and_the_newest_read_back_ascending(backend: Backend) {
    let store = backend.open().await;
    let minute = 60_000;
    // Recorded out of order.
    for k in [3u64, 0, 4, 1, 2] {
        store.record_health(health(T0 + k as i64 * minute, k)).await.unwrap();
    }
    let all = store.health_history(range(T0, T0 + DAY), 100).await.unwrap();
    assert_eq!(
        all,
        (0..5).map(|k| health(T0 + k as i64 * minute, k)).collect::<Vec<_>>()
    );
    // The range is half open; the limit keeps the newest, still ascending.
    let some = store
        .health_history(range(T0 + minute, T0 + 4 * minute), 2)
        .await
        .unwrap();
    assert_eq!(some, vec![health(T0 + 2 * minute, 2), health(T0 + 3 * minute, 3)]);
    assert!(store.health_history(range(T0, T0 + DAY), 0).await.unwrap().is_empty());
    // A sample at the same instant replaces the old one, NULLs included.
    let again = HealthSample {
        freshness_lag_ms: None,
        api_p99_ms: None,
        ..health(T0 + 2 * minute, 7)
    };
    store.record_health(again.clone()).await.unwrap();
    let back = store.health_history(range(T0, T0 + DAY), 100).await.unwrap();
    assert_eq!(back.len(), 5);
    assert_eq!(back[2], again);
    assert_eq!(read_all(&store, table("system_health")).await.len(), 5);
}

// ---------------------------------------------------------------------------------------------
// Retention

async fn pruning_job_runs_and_cached_answers_keeps_running_runs_and_newer_rows(backend: Backend) {
    let store = backend.open().await;
    let old = store.job_started("backfill", "").await.unwrap();
    store.job_finished(old, ended(JobStatus::Ok)).await.unwrap();
    let old_failed = store.job_started("sync", "").await.unwrap();
    store.job_finished(old_failed, ended(JobStatus::Failed)).await.unwrap();
    let still_running = store.job_started("sync", "").await.unwrap();
    let cutoff = candlekeep_core::time::now_ms() + 1;
    // Nothing started before the epoch: nothing goes.
    assert_eq!(store.prune_job_runs(0).await.unwrap(), 0);
    // Every finished run started before the cutoff goes; the running one stays.
    assert_eq!(store.prune_job_runs(cutoff).await.unwrap(), 2);
    let left: Vec<i64> = store.recent_jobs(10).await.unwrap().iter().map(|j| j.id).collect();
    assert_eq!(left, vec![still_running]);

    store.cache_put("a", b"1".to_vec(), 1_000).await.unwrap();
    store.cache_put("b", b"2".to_vec(), 2_000).await.unwrap();
    store.cache_put("c", b"3".to_vec(), 3_000).await.unwrap();
    // Fetched before the cutoff (not at it) goes.
    assert_eq!(store.prune_http_cache(2_000).await.unwrap(), 1);
    assert_eq!(store.cache_get("a", 0).await.unwrap(), None);
    assert_eq!(store.cache_get("b", 0).await.unwrap(), Some(b"2".to_vec()));
    assert_eq!(store.cache_get("c", 0).await.unwrap(), Some(b"3".to_vec()));
    assert_eq!(store.prune_http_cache(2_000).await.unwrap(), 0);
}

async fn pruning_a_timeframe_keeps_the_store_consistent_and_reports_no_gap_over_it(backend: Backend) {
    let store = backend.open().await;
    let btc = btc_spot();
    let eth = Instrument::from_symbol(Market::Spot, "ETHUSDT").unwrap();
    let btc_id = store.instrument_id(&btc).await.unwrap();
    let eth_id = store.instrument_id(&eth).await.unwrap();
    let n = 3000;
    let bars = sim_from(T0, n);
    let end = T0 + n * H;
    store
        .write_pages(vec![
            page(btc_id, SourceId::BinanceSpotRest, bars.clone(), Some(range(T0, end))),
            page(
                eth_id,
                SourceId::BinanceSpotRest,
                bars[..200].to_vec(),
                Some(range(T0, T0 + 200 * H)),
            ),
        ])
        .await
        .unwrap();
    // 4-hour bars of BTC: another timeframe, not pruned.
    let h4 = h4_bars(40);
    store
        .write_pages(vec![OwnedPage {
            timeframe: Timeframe::H4,
            ..page(btc_id, SourceId::BinanceSpotRest, h4.clone(), None)
        }])
        .await
        .unwrap();
    // Both listed long before their first stored bar, ETH since delisted: without a horizon the
    // pruned hours would be gaps of their listed lifetime.
    let listing = |ticker: &str, base: &str| Listing {
        venue: Venue::Binance,
        market: Market::Spot,
        ticker: ticker.into(),
        base: base.into(),
        quote: "USDT".into(),
        listed_at_ms: Some(T0 - 100 * H),
    };
    store
        .refresh_listings(
            Venue::Binance,
            Market::Spot,
            vec![listing("BTCUSDT", "BTC"), listing("ETHUSDT", "ETH")],
            T0,
        )
        .await
        .unwrap();
    store
        .refresh_listings(Venue::Binance, Market::Spot, vec![listing("BTCUSDT", "BTC")], T0 + H)
        .await
        .unwrap();
    let now = end;
    store.refresh_gaps(now).await.unwrap();
    let h1_gaps = |store: StoreHandle| async move {
        store
            .gaps(Some(candlekeep_store::GapStatus::Open), 0)
            .await
            .unwrap()
            .into_iter()
            .filter(|g| g.timeframe == Timeframe::H1)
            .map(|g| (g.instrument.base.clone(), g.start_ms, g.end_ms))
            .collect::<Vec<_>>()
    };
    assert!(
        h1_gaps(store.handle())
            .await
            .contains(&("BTC".into(), T0 - 100 * H, T0)),
        "before the prune the hours before the first bar are a gap"
    );
    // Long reads pack the read cache's blocks (in the background on an SQLite file: read until
    // they are there, so the prune meets packed blocks).
    for _ in 0..20 {
        assert_eq!(store.candles(&btc, Timeframe::H1, range(T0, end)).await.unwrap(), bars);
    }

    // Pruned before a cutoff off the hour grid: bars opening before it go, the one at the next
    // hour stays.
    let kept_from = 1501;
    let cutoff = T0 + (kept_from - 1) * H + 1;
    let pruned = store.prune_candles(Timeframe::H1, cutoff).await.unwrap();
    assert_eq!(pruned, kept_from as u64 + 200);
    assert_eq!(
        store.retention_horizons().await.unwrap(),
        vec![(Timeframe::H1, T0 + kept_from * H)]
    );

    // The pruned range reads empty; later bars read back unchanged, through the blocks too.
    let first_kept = T0 + kept_from * H;
    assert!(
        store
            .candles(&btc, Timeframe::H1, range(T0, first_kept))
            .await
            .unwrap()
            .is_empty()
    );
    for _ in 0..3 {
        assert_eq!(
            store.candles(&btc, Timeframe::H1, range(T0, end)).await.unwrap(),
            bars[kept_from as usize..]
        );
    }
    assert!(
        store
            .candles(&eth, Timeframe::H1, range(T0, end))
            .await
            .unwrap()
            .is_empty()
    );
    // Another timeframe is untouched.
    assert_eq!(
        store
            .candles(&btc, Timeframe::H4, range(G4, G4 + 40 * H4))
            .await
            .unwrap(),
        h4
    );
    // The stored-range index matches the candles left.
    assert!(store.verify_stored_ranges(false).await.unwrap().is_empty());
    // The covered ranges stay: a backfill does not fetch the pruned hours again.
    assert!(
        store
            .uncovered(btc_id, Timeframe::H1, SourceId::BinanceSpotRest, range(T0, end))
            .await
            .unwrap()
            .is_empty()
    );
    // No gap over the pruned hours, for either instrument, and the series left is whole.
    store.refresh_gaps(now).await.unwrap();
    assert_eq!(h1_gaps(store.handle()).await, vec![]);
    let status = store.series_status().await.unwrap();
    let btc_h1 = status
        .iter()
        .find(|s| s.instrument == btc && s.timeframe == Timeframe::H1)
        .unwrap();
    assert_eq!((btc_h1.count, btc_h1.missing()), (n - kept_from, 0));
    assert!(
        !status
            .iter()
            .any(|s| s.instrument == eth && s.timeframe == Timeframe::H1)
    );
    // Quality from before the cutoff on: no day of BTC's hourly series misses a bar.
    let quality = store.refresh_quality(T0 - 100 * H, now).await.unwrap();
    let btc_days: Vec<_> = quality
        .iter()
        .filter(|q| q.instrument == btc && q.timeframe == Timeframe::H1)
        .collect();
    assert!(!btc_days.is_empty());
    assert!(btc_days.iter().all(|q| q.missing == 0), "{btc_days:?}");
    assert!(btc_days.iter().all(|q| q.day_ms + DAY > first_kept));

    // An older cutoff later finds nothing and leaves the horizon where it is.
    assert_eq!(store.prune_candles(Timeframe::H1, T0 + 10 * H).await.unwrap(), 0);
    assert_eq!(
        store.retention_horizons().await.unwrap(),
        vec![(Timeframe::H1, first_kept)]
    );
    // Writes to the series go on as before.
    let more = sim_from(end, 2);
    let w = store
        .write_page(
            btc_id,
            Timeframe::H1,
            prov(SourceId::BinanceSpotRest, 12),
            more.clone(),
            Some(range(end, end + 2 * H)),
        )
        .await
        .unwrap();
    assert_eq!(w.written, 2);
    assert!(store.verify_stored_ranges(false).await.unwrap().is_empty());
}

async fn the_database_size_is_known_and_grows_with_the_rows(backend: Backend) {
    let store = backend.open().await;
    let before = store.database_size().await.unwrap().unwrap();
    assert!(before > 0);
    let id = store.instrument_id(&btc_spot()).await.unwrap();
    store
        .write_page(
            id,
            Timeframe::H1,
            prov(SourceId::BinanceSpotRest, 1),
            sim_from(T0, 5000),
            None,
        )
        .await
        .unwrap();
    let after = store.database_size().await.unwrap().unwrap();
    assert!(after > before, "{before} → {after}");
}
