//! Backfill against the simulated venues: exact content, idempotence, faults, budgets and bans.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::{sync::Arc, time::Duration};

use candlekeep_core::{Instrument, Market, TimeRange, Timeframe, time::now_ms};
use candlekeep_engine::{
    NoProgress,
    backfill::{self, Plan, Start, Target},
};
use candlekeep_sources::{
    binance::{BinanceConfig, BinanceKlines},
    http::HttpConfig,
};
use candlekeep_store::{CandleRead, StoreHandle};
use candlekeep_testkit::{BinanceSim, Burst, Faults, SimConfig, fast_http};

const DAY: i64 = candlekeep_core::time::DAY_MS;
const SYMBOLS: [&str; 2] = ["BTCUSDT", "ETHUSDT"];

struct Venues {
    spot: BinanceSim,
    usdm: BinanceSim,
}

async fn venues(edit: impl Fn(&mut SimConfig)) -> Venues {
    let mut spot = SimConfig::binance(Market::Spot);
    let mut usdm = SimConfig::binance(Market::UsdM);
    edit(&mut spot);
    edit(&mut usdm);
    Venues {
        spot: BinanceSim::start(spot).await.unwrap(),
        usdm: BinanceSim::start(usdm).await.unwrap(),
    }
}

fn source(sim: &BinanceSim, limit: u32, window: Duration, http: HttpConfig) -> Arc<BinanceKlines> {
    let cfg = BinanceConfig {
        base_url: sim.base_url(),
        weight_limit: limit,
        weight_window: window,
    };
    Arc::new(BinanceKlines::new(sim.market(), &cfg, http).unwrap())
}

/// Both symbols on both markets, from the given sources.
fn targets(spot: Arc<BinanceKlines>, usdm: Arc<BinanceKlines>) -> Vec<Target> {
    let mut targets = Vec::new();
    for s in SYMBOLS {
        targets.push(Target {
            instrument: Instrument::from_symbol(Market::Spot, s).unwrap(),
            chain: vec![spot.clone()],
        });
        targets.push(Target {
            instrument: Instrument::from_symbol(Market::UsdM, s).unwrap(),
            chain: vec![usdm.clone()],
        });
    }
    targets
}

fn plan_with(targets: Vec<Target>, tf: Timeframe, from: i64, to: i64) -> Plan {
    Plan {
        targets,
        timeframe: tf,
        start: Start::At(from),
        end_ms: Some(to),
        concurrency: 4,
    }
}

/// The real budgets (6000 / 2400 per minute).
fn plan(v: &Venues, tf: Timeframe, from: i64, to: i64, http: HttpConfig) -> Plan {
    let spot = source(&v.spot, 6000, Duration::from_secs(60), http.clone());
    let usdm = source(&v.usdm, 2400, Duration::from_secs(60), http);
    plan_with(targets(spot, usdm), tf, from, to)
}

fn store() -> StoreHandle {
    StoreHandle::in_memory().unwrap()
}

async fn hash(store: &StoreHandle) -> String {
    store.content_hash().await.unwrap()
}

/// The 90-day window ending at the last whole day.
fn window() -> (i64, i64) {
    let to = now_ms() / DAY * DAY;
    (to - 90 * DAY, to)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ninety_days_two_symbols_two_markets_exact_then_idempotent() {
    let v = venues(|_| {}).await;
    let (from, to) = window();
    let st = store();
    let report = backfill::run(
        &st,
        &plan(&v, Timeframe::H1, from, to, fast_http(8, (20, 200), None)),
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(report.failures().next().is_none(), "{:?}", report.series);

    let mut expected_total = 0;
    for (market, sim) in [(Market::Spot, &v.spot), (Market::UsdM, &v.usdm)] {
        for symbol in SYMBOLS {
            let truth: Vec<_> = sim
                .generator()
                .candles(market, symbol, Timeframe::H1, from, to)
                .iter()
                .map(|c| c.to_candle())
                .collect();
            expected_total += truth.len() as u64;
            let instrument = Instrument::from_symbol(market, symbol).unwrap();
            let stored = st
                .candles(&instrument, Timeframe::H1, TimeRange::new(from, to))
                .await
                .unwrap();
            assert_eq!(
                stored, truth,
                "{market} {symbol}: stored bars are exactly the venue's bars"
            );
            let outcome = report
                .series
                .iter()
                .find(|s| s.instrument.market == market && s.instrument.symbol() == symbol)
                .unwrap();
            assert_eq!(outcome.written(), truth.len() as u64, "{market} {symbol}");
        }
    }
    assert_eq!(report.written(), expected_total);
    assert!(expected_total < 4 * 90 * 24, "the simulated outages leave real gaps");
    assert!(expected_total > 4 * 90 * 24 - 200);

    let again = backfill::run(
        &st,
        &plan(&v, Timeframe::H1, from, to, fast_http(8, (20, 200), None)),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(again.written(), 0);
    assert_eq!(
        again.series.iter().map(|s| s.requests).sum::<u64>(),
        0,
        "a covered range is not fetched again"
    );
    assert_eq!(v.spot.stats().rejected_429 + v.usdm.stats().rejected_429, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_end_with_the_same_content_as_a_clean_run() {
    let (from, to) = window();
    let clean_v = venues(|_| {}).await;
    let clean = store();
    backfill::run(
        &clean,
        &plan(&clean_v, Timeframe::M15, from, to, fast_http(8, (20, 200), None)),
        &NoProgress,
    )
    .await
    .unwrap();

    let now = now_ms();
    let faulty_v = venues(|c| {
        c.faults = Faults {
            // About a third of all requests fail in one way or another.
            server_errors: Some(Burst { period: 10, len: 2 }),
            storm_429: Some(Burst { period: 29, len: 1 }),
            malformed: Some(Burst { period: 19, len: 1 }),
            truncated: Some(Burst { period: 23, len: 1 }),
            outage: Some((now, now + 700)),
            ..Faults::default()
        };
    })
    .await;
    // Faults are drawn by request number across all series, so one series can draw several in a
    // row; enough attempts make giving up vanishingly unlikely (0.33^20).
    let http = HttpConfig {
        backoff_max: Duration::from_millis(300),
        max_attempts: 20,
        ..fast_http(8, (20, 200), None)
    };
    let faulty = store();
    let report = backfill::run(&faulty, &plan(&faulty_v, Timeframe::M15, from, to, http), &NoProgress)
        .await
        .unwrap();
    assert!(report.failures().next().is_none(), "{:?}", report.series);
    assert_eq!(hash(&faulty).await, hash(&clean).await);
    for sim in [&faulty_v.spot, &faulty_v.usdm] {
        let s = sim.stats();
        assert!(s.requests > 30, "the faults were exercised: {s:?}");
        assert!(s.max_window_weight <= s.weight_limit, "{s:?}");
        assert_eq!(
            (s.rejected_429, s.rejected_418),
            (0, 0),
            "budget never exceeded, never banned: {s:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tight_weight_budget_is_respected_not_exceeded() {
    let (from, to) = window();
    let window_len = Duration::from_secs(1);
    let v = venues(|c| {
        c.window = window_len;
        c.weight_limit = match c.market {
            Market::Spot => 30,
            Market::UsdM => 20,
        };
    })
    .await;
    let spot = source(&v.spot, 30, window_len, fast_http(8, (20, 200), None));
    let usdm = source(&v.usdm, 20, window_len, fast_http(8, (20, 200), None));
    let plan = plan_with(targets(spot, usdm), Timeframe::M15, from, to);
    let st = store();
    let report = backfill::run(&st, &plan, &NoProgress).await.unwrap();
    assert!(report.failures().next().is_none(), "{:?}", report.series);
    for sim in [&v.spot, &v.usdm] {
        let s = sim.stats();
        assert!(
            s.requests as u32 * 2 > s.weight_limit,
            "the work needed more than one window: {s:?}"
        );
        assert!(s.max_window_weight <= s.weight_limit);
        assert_eq!((s.rejected_429, s.rejected_418), (0, 0), "{s:?}");
    }
    let clean_v = venues(|_| {}).await;
    let clean = store();
    backfill::run(
        &clean,
        &self::plan(&clean_v, Timeframe::M15, from, to, fast_http(8, (20, 200), None)),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(hash(&st).await, hash(&clean).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_ban_is_waited_out_and_a_long_one_stops_without_knocking() {
    let (from, to) = window();
    let short = venues(|c| c.faults.ban_at = Some((1, Duration::from_secs(2)))).await;
    let st = store();
    // One series at a time: with several in flight, a request sent before the ban was known
    // would also meet it, and the count below could not be exact.
    let mut one_at_a_time = plan(&short, Timeframe::H1, from, to, fast_http(8, (20, 200), None));
    one_at_a_time.concurrency = 1;
    let t = std::time::Instant::now();
    let report = backfill::run(&st, &one_at_a_time, &NoProgress).await.unwrap();
    assert!(report.failures().next().is_none(), "{:?}", report.series);
    assert!(t.elapsed() >= Duration::from_secs(1), "the ban was waited out");
    for sim in [&short.spot, &short.usdm] {
        assert_eq!(sim.stats().rejected_418, 1, "no request was sent into the ban");
    }

    let long = venues(|c| c.faults.ban_at = Some((0, Duration::from_secs(3600)))).await;
    let http = HttpConfig {
        max_ban_wait: Duration::from_secs(5),
        ..fast_http(8, (20, 200), None)
    };
    let st = store();
    let report = backfill::run(&st, &plan(&long, Timeframe::H1, from, to, http), &NoProgress)
        .await
        .unwrap();
    let failures: Vec<_> = report.failures().collect();
    assert_eq!(failures.len(), 4);
    let msg = failures[0].error.clone().unwrap();
    assert!(msg.contains("banned") && msg.contains("BTCUSDT"), "{msg}");
    for sim in [&long.spot, &long.usdm] {
        assert!(
            sim.stats().requests <= 2,
            "one request per series at most: {:?}",
            sim.stats()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_bars_stay_missing_and_the_open_bar_is_never_stored() {
    let to = now_ms();
    let from = to / DAY * DAY - 10 * DAY;
    let hole = (from + 50 * 3_600_000, from + 55 * 3_600_000);
    let v = venues(|c| c.faults.missing = vec![hole]).await;
    let st = store();
    backfill::run(
        &st,
        &plan(&v, Timeframe::H1, from, to + DAY, fast_http(8, (20, 200), None)),
        &NoProgress,
    )
    .await
    .unwrap();
    let btc = Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap();
    let stored = st
        .candles(&btc, Timeframe::H1, TimeRange::new(from, to + DAY))
        .await
        .unwrap();
    assert!(
        stored
            .iter()
            .all(|c| c.open_time_ms < hole.0 || c.open_time_ms >= hole.1),
        "no bar invented in the hole"
    );
    let open_bar = Timeframe::H1.floor(now_ms());
    assert!(
        stored.last().unwrap().open_time_ms < open_bar,
        "the still-open bar is not stored"
    );
    let truth: Vec<_> = v
        .spot
        .generator()
        .candles(
            Market::Spot,
            "BTCUSDT",
            Timeframe::H1,
            from,
            stored.last().unwrap().open_time_ms + 1,
        )
        .iter()
        .filter(|c| c.open_time_ms < hole.0 || c.open_time_ms >= hole.1)
        .map(|c| c.to_candle())
        .collect();
    assert_eq!(stored, truth);
    let status = st.series_status().await.unwrap();
    let btc_status = status.iter().find(|s| s.instrument == btc).unwrap();
    assert!(btc_status.missing() >= 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_symbol_fails_at_once_with_the_venues_words() {
    let v = venues(|_| {}).await;
    let (from, to) = window();
    let mut p = plan(&v, Timeframe::H1, from, to, fast_http(8, (20, 200), None));
    p.targets.truncate(1);
    p.targets[0].instrument = Instrument::from_symbol(Market::Spot, "NOSUCHUSDT").unwrap();
    let st = store();
    let report = backfill::run(&st, &p, &NoProgress).await.unwrap();
    let msg = report.series[0].error.clone().unwrap();
    assert!(
        msg.contains("Invalid symbol") && msg.contains("-1121") && msg.contains("NOSUCHUSDT"),
        "{msg}"
    );
    assert_eq!(v.spot.stats().requests, 1, "a rejected request is not retried");
}
