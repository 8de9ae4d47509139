//! A full hourly `sync` of 200 coins × spot and USD-M against the simulated venues at their real
//! limits (Binance spot 6000 and USD-M 2400 weight/min, OKX 40 per 2 s, Bybit 600 per 5 s),
//! each request answered after `BENCH_LATENCY_MS` (default 30 ms, a typical round trip).
//! Then the same with Binance USD-M ten times slower, to show that spot series do not wait for it.
//! `cargo bench -p candlekeep-engine --bench sync`; `BENCH_RUNS` (default 5), `BENCH_COINS` (200).

use std::{sync::Arc, time::Duration};

use candlekeep_core::{Instrument, Market, Timeframe, time::now_ms};
use candlekeep_engine::{
    NoProgress,
    backfill::{self, Plan, Start, Target},
};
use candlekeep_sources::{
    CandleSource,
    binance::{BinanceConfig, BinanceKlines},
    bybit::{BybitConfig, BybitKlines},
    http::HttpConfig,
    okx::{OkxCandles, OkxConfig},
};
use candlekeep_store::StoreHandle;
use candlekeep_testkit::{BinanceSim, BybitSim, BybitSimConfig, Faults, OkxSim, OkxSimConfig, SimConfig, SimMarket};

const H: i64 = 3_600_000;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Run {
    total: f64,
    spot_done: f64,
    usdm_done: f64,
    requests: u64,
}

async fn one_run(coins: u32, latency: Duration, usdm_latency: Duration) -> Result<Run, Box<dyn std::error::Error>> {
    let generator = SimMarket::default()
        .with_outages(false)
        .with_extra_coins(coins.saturating_sub(20));
    let symbols: Vec<String> = generator.all_symbols().into_iter().take(coins as usize).collect();
    let sim = |market| {
        let mut c = SimConfig::binance(market);
        c.generator = generator.clone();
        c
    };
    let spot = BinanceSim::start(sim(Market::Spot)).await?;
    let usdm = BinanceSim::start(sim(Market::UsdM)).await?;
    let okx = OkxSim::start(OkxSimConfig::new(generator.clone())).await?;
    let bybit = BybitSim::start(BybitSimConfig::new(generator.clone())).await?;
    let http = HttpConfig::default();
    let binance = |sim: &BinanceSim, market| -> Result<Arc<dyn CandleSource>, Box<dyn std::error::Error>> {
        let mut c = BinanceConfig::default_for(market);
        c.base_url = sim.base_url();
        Ok(Arc::new(BinanceKlines::new(market, &c, http.clone())?))
    };
    let okx_source: Arc<dyn CandleSource> = Arc::new(OkxCandles::new(
        &OkxConfig {
            base_url: okx.base_url(),
            ..OkxConfig::default()
        },
        http.clone(),
    )?);
    let bybit_source: Arc<dyn CandleSource> = Arc::new(BybitKlines::new(
        &BybitConfig {
            base_url: bybit.base_url(),
            ..BybitConfig::default()
        },
        http.clone(),
    )?);
    let mut targets = Vec::new();
    for market in Market::ALL {
        let primary = match market {
            Market::Spot => binance(&spot, market)?,
            Market::UsdM => binance(&usdm, market)?,
        };
        for s in &symbols {
            targets.push(Target {
                instrument: Instrument::from_symbol(market, s)?,
                chain: vec![primary.clone(), okx_source.clone(), bybit_source.clone()],
            });
        }
    }
    let store = StoreHandle::in_memory()?;
    // History up to an hour ago (not timed): the sync then has the newest closed hour to fetch.
    let newest = Timeframe::H1.floor(now_ms());
    let mut plan = Plan {
        targets,
        timeframe: Timeframe::H1,
        start: Start::At(newest - 24 * H),
        end_ms: Some(newest - H),
        concurrency: 16,
    };
    backfill::run(&store, &plan, &NoProgress).await?;

    let slow = Faults {
        latency,
        ..Faults::default()
    };
    spot.set_faults(slow.clone());
    okx.set_faults(slow.clone());
    bybit.set_faults(slow);
    usdm.set_faults(Faults {
        latency: usdm_latency,
        ..Faults::default()
    });
    let before = spot.stats().requests + usdm.stats().requests + okx.stats().requests + bybit.stats().requests;
    plan.start = Start::AfterLatest {
        fallback_ms: newest - 24 * H,
    };
    plan.end_ms = None;
    let t = std::time::Instant::now();
    let report = backfill::run(&store, &plan, &NoProgress).await?;
    let total = t.elapsed().as_secs_f64();
    let after = spot.stats().requests + usdm.stats().requests + okx.stats().requests + bybit.stats().requests;
    let done = |m: Market| {
        report
            .series
            .iter()
            .filter(|s| s.instrument.market == m)
            .map(|s| s.done_after.as_secs_f64())
            .fold(0.0, f64::max)
    };
    if report.failures().next().is_some() || report.written() < 2 * u64::from(coins) {
        return Err(format!("sync incomplete: {} bars written", report.written()).into());
    }
    Ok(Run {
        total,
        spot_done: done(Market::Spot),
        usdm_done: done(Market::UsdM),
        requests: after - before,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs = env("BENCH_RUNS", 5).max(1);
    let coins = env("BENCH_COINS", 200) as u32;
    let latency = Duration::from_millis(env("BENCH_LATENCY_MS", 30));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    for (label, usdm_latency) in [("all venues", latency), ("USD-M 10x slower", latency * 10)] {
        let mut results = Vec::new();
        for _ in 0..runs {
            results.push(rt.block_on(one_run(coins, latency, usdm_latency))?);
        }
        let requests = results[0].requests;
        println!(
            "sync {coins} coins x 2 markets, {label} ({} ms/request{}): median {:.2} s total; spot done after {:.2} s, USD-M after {:.2} s; {requests} requests",
            latency.as_millis(),
            if usdm_latency == latency {
                String::new()
            } else {
                format!(", USD-M {} ms", usdm_latency.as_millis())
            },
            median(results.iter().map(|r| r.total).collect()),
            median(results.iter().map(|r| r.spot_done).collect()),
            median(results.iter().map(|r| r.usdm_done).collect()),
        );
    }
    Ok(())
}
