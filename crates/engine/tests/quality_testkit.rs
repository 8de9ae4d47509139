//! Data quality against a simulated venue that serves invalid rows, a duplicate, a 3-day outage
//! and a price jump: valid rows stored, invalid ones quarantined with the right reason, the right
//! gaps opened and repaired from the fallback, and the daily scores reflecting all of it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::sync::Arc;

use candlekeep_core::{Instrument, Market, TimeRange, Timeframe, time::now_ms};
use candlekeep_engine::{
    NoProgress,
    backfill::{self, Plan, Start, Target},
};
use candlekeep_sources::{
    CandleSource,
    binance::{BinanceConfig, BinanceKlines},
    http::HttpConfig,
    okx::{OkxCandles, OkxConfig},
};
use candlekeep_store::{CandleRead, GapLedger, GapStatus, StoreHandle};
use candlekeep_testkit::{BadBar, BinanceSim, OkxSim, OkxSimConfig, SimConfig, SimMarket};

const H: i64 = 3_600_000;
const DAY: i64 = 24 * H;

fn plan(instrument: &Instrument, chain: Vec<Arc<dyn CandleSource>>, from: i64, to: i64) -> Plan {
    Plan {
        targets: vec![Target {
            instrument: instrument.clone(),
            chain,
        }],
        timeframe: Timeframe::H1,
        start: Start::At(from),
        end_ms: Some(to),
        concurrency: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_rows_are_quarantined_gaps_opened_and_repaired_and_scores_reflect_it() {
    let to = now_ms() / DAY * DAY;
    let from = to - 20 * DAY;
    let outage = (from + 5 * DAY, from + 8 * DAY);
    let (high_bad, negative, duplicate, jump) = (
        from + 2 * DAY + 3 * H,
        from + 10 * DAY + 7 * H,
        from + 12 * DAY,
        from + 15 * DAY + 11 * H,
    );
    let generator = SimMarket::default().with_outages(false);
    let mut spot = SimConfig::binance(Market::Spot);
    spot.generator = generator.clone();
    spot.faults.missing = vec![outage];
    spot.faults.bad_bars = vec![
        (high_bad, BadBar::HighBelowBody),
        (negative, BadBar::NegativeVolume),
        (duplicate, BadBar::Duplicate),
        (jump, BadBar::Jump { pct: 60 }),
    ];
    let spot = BinanceSim::start(spot).await.unwrap();
    let okx = OkxSim::start(OkxSimConfig::new(generator)).await.unwrap();
    let mut cfg = BinanceConfig::default_for(Market::Spot);
    cfg.base_url = spot.base_url();
    let binance: Arc<dyn CandleSource> =
        Arc::new(BinanceKlines::new(Market::Spot, &cfg, HttpConfig::default()).unwrap());
    let okx: Arc<dyn CandleSource> = Arc::new(
        OkxCandles::new(
            &OkxConfig {
                base_url: okx.base_url(),
                ..OkxConfig::default()
            },
            HttpConfig::default(),
        )
        .unwrap(),
    );
    let btc = Instrument::new(Market::Spot, "BTC", "USDT").unwrap();
    let store = StoreHandle::in_memory().unwrap();

    // Binance alone: valid rows stored, the two impossible ones quarantined.
    let report = backfill::run(&store, &plan(&btc, vec![binance.clone()], from, to), &NoProgress)
        .await
        .unwrap();
    let expected_stored = 20 * 24 - 3 * 24 - 2;
    assert_eq!(report.series[0].written(), expected_stored as u64);
    let stored = store
        .candles(&btc, Timeframe::H1, TimeRange::new(from, to))
        .await
        .unwrap();
    assert_eq!(stored.len(), expected_stored, "the duplicate is stored once");
    assert!(
        stored
            .iter()
            .all(|c| c.open_time_ms != high_bad && c.open_time_ms != negative)
    );
    let rejects = store.rejects().await.unwrap();
    let why: Vec<(i64, &str, &str)> = rejects
        .iter()
        .map(|r| (r.open_time_ms, r.reason.as_str(), r.source.as_str()))
        .collect();
    assert_eq!(
        why,
        vec![
            (high_bad, "high-below-open-or-close", "binance-spot-rest"),
            (negative, "negative-or-non-finite (volume)", "binance-spot-rest"),
        ]
    );

    store.refresh_gaps(to + H / 2).await.unwrap();
    let gaps = store.gaps(Some(GapStatus::Open), 0).await.unwrap();
    let ranges: Vec<(i64, i64, &str)> = gaps.iter().map(|g| (g.start_ms, g.end_ms, g.cause.as_str())).collect();
    assert_eq!(
        ranges,
        vec![
            (high_bad, high_bad + H, "venue-outage"),
            (outage.0, outage.1, "venue-outage"),
            (negative, negative + H, "venue-outage"),
        ],
        "a quarantined bar is a gap like an outage hour"
    );

    // Repair through the chain: OKX has every one of those hours.
    for gap in &gaps {
        let p = plan(
            &btc,
            vec![binance.clone(), okx.clone()],
            gap.start_ms - H,
            gap.end_ms + H,
        );
        let r = backfill::run(&store, &p, &NoProgress).await.unwrap();
        assert_eq!(r.series[0].written(), gap.bars() as u64);
    }
    store.refresh_gaps(to + H / 2).await.unwrap();
    let (open, all) = (
        store.gaps(Some(GapStatus::Open), 0).await.unwrap(),
        store.gaps(None, 0).await.unwrap(),
    );
    assert!(open.is_empty());
    assert!(
        all.iter()
            .all(|g| g.status == GapStatus::Repaired && g.repaired_by.as_deref() == Some("okx-rest"))
    );

    // Quality: the rejects, the jump and the fallback days show; a clean day scores 100.
    let days = store.refresh_quality(from, to + H / 2).await.unwrap();
    let day = |t: i64| days.iter().find(|d| d.day_ms == t / DAY * DAY).unwrap();
    assert_eq!((day(high_bad).rejected, day(negative).rejected), (1, 1));
    assert!(day(high_bad).score < 100.0 && day(high_bad).missing == 0);
    assert!(day(jump).flagged >= 1 && day(jump).score < 100.0);
    assert!((day(outage.0).fallback_share - 1.0).abs() < 1e-9, "{:?}", day(outage.0));
    // The seams (the last hour before the outage, the first after it) were cross-checked.
    assert!(day(outage.0 - H).divergence_bps.is_some() && day(outage.1).divergence_bps.is_some());
    assert_eq!(day(from + DAY).score, 100.0);
}
