//! The service's job runner on a real store against simulated Binance venues: every job runs
//! and is recorded, a running job is not started twice, bad arguments are refused by name, and
//! a stop in the middle of a backfill loses nothing (a rerun ends with the content of a clean
//! run).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::Duration;

use candlekeep_app::config::Config;
use candlekeep_app::jobs::{JobArgs, JobContext, JobKind};
use candlekeep_app::service::{Service, StartError};
use candlekeep_core::{Market, TimeRange};
use candlekeep_engine::events::Event;
use candlekeep_store::{CandleRead, HealthLog, IndicatorStore, JobLog, JobQuery, JobStatus};
use candlekeep_testkit::{BinanceSim, SimConfig};

struct Venues {
    spot: BinanceSim,
    usdm: BinanceSim,
}

async fn venues(latency: Duration) -> Venues {
    let mut spot = SimConfig::binance(Market::Spot);
    let mut usdm = SimConfig::binance(Market::UsdM);
    spot.faults.latency = latency;
    usdm.faults.latency = latency;
    Venues {
        spot: BinanceSim::start(spot).await.unwrap(),
        usdm: BinanceSim::start(usdm).await.unwrap(),
    }
}

/// A service on an SQLite file in `dir`, fetching from `v` only (Binance; nothing else).
async fn service(dir: &std::path::Path, name: &str, v: &Venues) -> Service {
    let mut config = Config::default();
    config.database.url = format!("sqlite:{}", dir.join(name).display());
    config.binance_spot.base_url = v.spot.base_url();
    config.binance_usdm.base_url = v.usdm.base_url();
    for url in [
        &mut config.okx.base_url,
        &mut config.bybit.base_url,
        &mut config.cryptocompare.base_url,
        &mut config.coingecko.base_url,
    ] {
        *url = "http://127.0.0.1:9".into();
    }
    config.collect.sources = vec!["binance-usdm-rest".into(), "binance-spot-rest".into()];
    config.retention.keep_1m_days = 7;
    let store = candlekeep_app::store::open_store(&config).await.unwrap();
    Service::new(JobContext::new(config, store))
}

fn backfill(from: &str, to: &str) -> JobArgs {
    JobArgs {
        symbols: Some(vec!["BTC".into()]),
        from: Some(from.into()),
        to: Some(to.into()),
        ..JobArgs::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_job_runs_is_recorded_and_told() {
    let dir = tempfile::tempdir().unwrap();
    let v = venues(Duration::ZERO).await;
    let service = service(dir.path(), "jobs.db", &v).await;
    let mut events = service.context().events.subscribe();
    let store = service.context().store.clone();

    let (id, outcome) = service
        .run(JobKind::Backfill, backfill("2024-01-01", "2024-01-08"), "test")
        .await
        .unwrap();
    assert_eq!(outcome.status, JobStatus::Ok, "{outcome:?}");
    // Seven days of BTC on spot and USD-M.
    assert_eq!(outcome.rows_written, 2 * 7 * 24);
    assert_eq!(outcome.written_by.values().sum::<u64>(), outcome.rows_written);
    let row = store.job(id).await.unwrap().unwrap();
    assert_eq!((row.job.as_str(), row.status.as_str()), ("backfill", "ok"));
    assert_eq!(row.rows_written, 2 * 7 * 24);
    assert!(row.sources_used.contains("binance-"), "{row:?}");
    // Told: started, the candles of both series, ended.
    let mut told = Vec::new();
    while let Ok(e) = events.try_recv() {
        told.push(e);
    }
    assert!(
        matches!(&told[0], Event::JobStarted { id: i, job, .. } if *i == id && job == "backfill"),
        "{told:?}"
    );
    assert_eq!(
        told.iter()
            .filter(|e| matches!(e, Event::CandlesStored { bars: 168, .. }))
            .count(),
        2,
        "{told:?}"
    );
    assert!(
        matches!(told.last(), Some(Event::JobFinished { status, rows_written: 336, .. }) if status == "ok"),
        "{told:?}"
    );

    let stored = || async {
        store
            .series_status()
            .await
            .unwrap()
            .iter()
            .map(|s| s.count)
            .sum::<i64>()
    };
    let mut before_retention = 0;
    for kind in [
        JobKind::Indicators,
        JobKind::Quality,
        JobKind::GapsFill,
        JobKind::Retention,
        JobKind::Health,
    ] {
        if kind == JobKind::Retention {
            before_retention = stored().await;
        }
        let (id, outcome) = service.run(kind, JobArgs::default(), "test").await.unwrap();
        assert_eq!(outcome.status, JobStatus::Ok, "{kind}: {outcome:?}");
        let row = store.job(id).await.unwrap().unwrap();
        assert_eq!((row.job.as_str(), row.status.as_str()), (kind.as_str(), "ok"));
        assert!(row.ended_at.is_some());
    }
    // Indicators for both series; a health sample stored with the machine's figures.
    let indicators = store.indicator_values().await.unwrap();
    assert!(indicators.iter().any(|v| v.name == "rsi_14"));
    let samples = store.health_history(TimeRange::new(0, i64::MAX), 10).await.unwrap();
    assert_eq!(samples.len(), 1);
    assert!(
        samples[0].mem_total_bytes > 0 && samples[0].rss_bytes > 0,
        "{:?}",
        samples[0]
    );
    // Retention with only 1m candles to prune (none stored): nothing else went.
    assert_eq!(stored().await, before_retention);
    let all = store
        .jobs(JobQuery {
            limit: 100,
            ..JobQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_is_not_started_twice_and_bad_arguments_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let v = venues(Duration::from_millis(40)).await;
    let service = service(dir.path(), "busy.db", &v).await;
    let id = service
        .start(JobKind::Backfill, backfill("2023-01-01", "2024-01-01"), "test")
        .await
        .unwrap();
    match service
        .start(JobKind::Backfill, backfill("2022-01-01", "2022-02-01"), "test")
        .await
    {
        Err(StartError::Busy {
            kind: JobKind::Backfill,
            id: running,
        }) => assert_eq!(running, id),
        other => panic!("expected busy, got {other:?}"),
    }
    assert_eq!(service.running().len(), 1);
    // Another job may run beside it.
    service.run(JobKind::Health, JobArgs::default(), "test").await.unwrap();

    let bad = [
        (JobKind::Backfill, JobArgs::default(), "from"),
        (
            JobKind::Quality,
            JobArgs {
                symbols: Some(vec!["BTC".into()]),
                ..JobArgs::default()
            },
            "symbols",
        ),
        (
            JobKind::Sync,
            JobArgs {
                timeframe: Some("2h".into()),
                ..JobArgs::default()
            },
            "timeframe",
        ),
        (
            JobKind::Backfill,
            JobArgs {
                from: Some("2024-13-01".into()),
                ..JobArgs::default()
            },
            "from",
        ),
        (JobKind::Backfill, backfill("2024-02-01", "2024-01-01"), "to"),
        (
            JobKind::Universe,
            JobArgs {
                max_coins: Some(0),
                ..JobArgs::default()
            },
            "max_coins",
        ),
    ];
    for (kind, args, field) in bad {
        match service.start(kind, args.clone(), "test").await {
            Err(StartError::Invalid(e)) => assert!(format!("{e:#}").starts_with(field), "{kind} {args:?}: {e:#}"),
            other => panic!("{kind} {args:?}: expected invalid, got {other:?}"),
        }
    }
    assert!(service.shutdown(Duration::from_secs(10)).await);
    assert!(matches!(
        service.start(JobKind::Health, JobArgs::default(), "test").await,
        Err(StartError::ShuttingDown)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_mid_backfill_loses_nothing_and_a_rerun_equals_a_clean_run() {
    let dir = tempfile::tempdir().unwrap();
    let v = venues(Duration::from_millis(30)).await;
    let year = backfill("2023-01-01", "2024-01-01");

    let clean = service(dir.path(), "clean.db", &v).await;
    let (_, outcome) = clean.run(JobKind::Backfill, year.clone(), "test").await.unwrap();
    assert_eq!(outcome.status, JobStatus::Ok);
    let clean_hash = clean.context().store.content_hash().await.unwrap();

    let stopped = service(dir.path(), "stopped.db", &v).await;
    let store = stopped.context().store.clone();
    let id = stopped.start(JobKind::Backfill, year.clone(), "test").await.unwrap();
    let count = || async {
        store
            .series_status()
            .await
            .unwrap()
            .iter()
            .map(|s| s.count)
            .sum::<i64>()
    };
    while count().await == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        stopped.shutdown(Duration::from_secs(10)).await,
        "the run did not record its end in time"
    );
    let partial = count().await;
    assert!(
        partial > 0 && partial < outcome.rows_written as i64,
        "stopped mid-run: {partial}"
    );
    let row = store.job(id).await.unwrap().unwrap();
    assert_eq!(row.status, "interrupted", "{row:?}");
    assert!(row.ended_at.is_some());

    // The next process resumes where it stopped.
    let resumed = service(dir.path(), "stopped.db", &v).await;
    let (_, again) = resumed.run(JobKind::Backfill, year, "test").await.unwrap();
    assert_eq!(again.status, JobStatus::Ok);
    assert_eq!(again.rows_written as i64 + partial, outcome.rows_written as i64);
    assert_eq!(resumed.context().store.content_hash().await.unwrap(), clean_hash);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_job_runs_in_one_process_at_a_time() {
    if !tokio::task::spawn_blocking(candlekeep_testkit::pg::available)
        .await
        .unwrap()
    {
        return;
    }
    let schema = tokio::task::spawn_blocking(|| candlekeep_testkit::pg::TestSchema::create().unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let v = venues(Duration::from_millis(40)).await;
    // Two processes' services: two stores, each with its own pool, on one database.
    let on_pg = |_: ()| {
        let url = schema.url.clone();
        let base = async { service(dir.path(), "unused.db", &v).await };
        async move {
            let s = base.await;
            let mut config = (*s.context().config).clone();
            config.database.url = url;
            let store = candlekeep_app::store::open_store(&config).await.unwrap();
            Service::new(JobContext::new(config, store))
        }
    };
    let a = on_pg(()).await;
    let b = on_pg(()).await;
    let id = a
        .start(JobKind::Backfill, backfill("2023-01-01", "2024-01-01"), "a")
        .await
        .unwrap();
    match b
        .start(JobKind::Backfill, backfill("2023-01-01", "2024-01-01"), "b")
        .await
    {
        Err(StartError::Busy { id: running, .. }) => assert_eq!(running, id),
        other => panic!("expected busy, got {other:?}"),
    }
    // Other jobs are free; and once a's run ends (here: stopped), b may run it.
    b.run(JobKind::Health, JobArgs::default(), "b").await.unwrap();
    assert!(a.shutdown(Duration::from_secs(10)).await);
    let (_, outcome) = b
        .run(JobKind::Backfill, backfill("2023-01-01", "2023-01-08"), "b")
        .await
        .unwrap();
    assert_eq!(outcome.status, JobStatus::Ok);
}
