//! The gap ledger: the complement of what is stored within each series' listed lifetime, kept
//! across refreshes (opened, repaired, unrepairable).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use candlekeep_core::{Candle, Instrument, Listing, Market, Provenance, SourceId, TimeRange, Timeframe, Venue};
mod support;

use candlekeep_store::{CandleWrite, Gap, GapLedger, GapStatus, StoreHandle, UniverseStore};
use proptest::prelude::*;
use support::Backend;

const H: i64 = 3_600_000;
const T0: i64 = 1_700_000_000_000 / H * H;
/// "Now" for every refresh: 300 hours after T0.
const NOW: i64 = T0 + 300 * H + 1_234;

fn bar(t: i64) -> Candle {
    Candle {
        open_time_ms: t,
        open: 10.0,
        high: 11.0,
        low: 9.0,
        close: 10.5,
        volume: Some(1.0),
        quote_volume: Some(10.0),
        trades: None,
    }
}

fn prov(source: SourceId) -> Provenance {
    Provenance {
        source,
        fetched_at_ms: 1,
    }
}

/// Missing ranges of `[from, to)` given the stored hours (sorted, unique).
fn complement(hours: &[i64], from: i64, to: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut cursor = from;
    for &h in hours {
        let t = T0 + h * H;
        if t > cursor {
            out.push((cursor, t));
        }
        cursor = cursor.max(t + H);
    }
    if cursor < to {
        out.push((cursor, to));
    }
    out
}

fn range(from: i64, to: i64) -> TimeRange {
    TimeRange::new(from, to)
}

/// Writes bars at `hours` (from `T0`) from `source`.
async fn write(store: &StoreHandle, id: i64, hours: std::ops::Range<i64>, source: SourceId) {
    let bars: Vec<Candle> = hours.map(|h| bar(T0 + h * H)).collect();
    store
        .write_page(id, Timeframe::H1, prov(source), bars, None)
        .await
        .unwrap();
}

/// Marks hours `a..b` as answered by `source`.
async fn cover(store: &StoreHandle, id: i64, source: SourceId, (a, b): (i64, i64)) {
    store
        .write_page(
            id,
            Timeframe::H1,
            prov(source),
            vec![],
            Some(range(T0 + a * H, T0 + b * H)),
        )
        .await
        .unwrap();
}

/// Records why `source` has no bars in hours `a..b`.
async fn note(store: &StoreHandle, id: i64, source: SourceId, (a, b): (i64, i64), what: &str) {
    store
        .write_notes(
            id,
            Timeframe::H1,
            source,
            vec![(range(T0 + a * H, T0 + b * H), what.to_owned())],
        )
        .await
        .unwrap();
}

async fn open_gaps(store: &StoreHandle) -> Vec<(i64, i64)> {
    store
        .gaps(Some(GapStatus::Open), 0)
        .await
        .unwrap()
        .iter()
        .map(|g| (g.start_ms, g.end_ms))
        .collect()
}

/// For any set of stored hours, written in any page split, the open gaps are exactly the
/// complement of the stored set within the listed lifetime.
async fn the_ledger_is_the_complement_of_the_stored_set(
    backend: Backend,
    hours: std::collections::BTreeSet<i64>,
    split: usize,
    listed_before: Option<i64>,
) -> Result<(), TestCaseError> {
    let hours: Vec<i64> = hours.into_iter().collect();
    let store = backend.open().await;
    let i = Instrument::new(Market::Spot, "BTC", "USDT").unwrap();
    let id = store.instrument_id(&i).await.unwrap();
    let bars: Vec<Candle> = hours.iter().map(|h| bar(T0 + h * H)).collect();
    for page in bars.chunks(split) {
        store
            .write_page(id, Timeframe::H1, prov(SourceId::BinanceSpotRest), page.to_vec(), None)
            .await
            .unwrap();
    }
    let first = T0 + hours[0] * H;
    let start = match listed_before {
        Some(k) => {
            let listed = first - k * H;
            let listing = Listing {
                venue: Venue::Binance,
                market: Market::Spot,
                ticker: "BTCUSDT".into(),
                base: "BTC".into(),
                quote: "USDT".into(),
                listed_at_ms: Some(listed),
            };
            store
                .refresh_listings(Venue::Binance, Market::Spot, vec![listing], 1)
                .await
                .unwrap();
            listed
        }
        None => first,
    };
    store.refresh_gaps(NOW).await.unwrap();
    let end = Timeframe::H1.floor(NOW);
    prop_assert_eq!(open_gaps(&store).await, complement(&hours, start, end));
    // A second refresh changes nothing.
    let again = store.refresh_gaps(NOW).await.unwrap();
    prop_assert_eq!(again.new, 0);
    prop_assert_eq!(again.repaired, 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn sqlite_ledger_is_the_complement_of_the_stored_set(
        hours in proptest::collection::btree_set(0i64..300, 1..120),
        split in 1usize..40,
        listed_before in proptest::option::of(0i64..50),
    ) {
        support::block_on(the_ledger_is_the_complement_of_the_stored_set(Backend::Sqlite, hours, split, listed_before))?;
    }
}

proptest! {
    // Each case is a fresh schema on the server: fewer cases, same property.
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn postgres_ledger_is_the_complement_of_the_stored_set(
        hours in proptest::collection::btree_set(0i64..300, 1..120),
        split in 1usize..40,
        listed_before in proptest::option::of(0i64..50),
    ) {
        if support::postgres_available() {
            support::block_on(the_ledger_is_the_complement_of_the_stored_set(Backend::Postgres, hours, split, listed_before))?;
        }
    }
}

on_every_backend!(
    gaps_are_repaired_in_whole_or_in_part_and_unrepairable_ones_are_kept,
    causes_follow_what_the_sources_said,
    a_partial_repair_from_a_later_day_keeps_one_truthful_ledger,
    hours_never_requested_are_not_fetch_errors,
);

/// `gaps --fill --since D` on a gap that starts before D fills only the hours from D: the ledger
/// then holds the filled hours as repaired and the rest as one open gap, never an hour twice.
async fn a_partial_repair_from_a_later_day_keeps_one_truthful_ledger(backend: Backend) {
    let store = backend.open().await;
    let i = Instrument::new(Market::Spot, "BTC", "USDT").unwrap();
    let id = store.instrument_id(&i).await.unwrap();
    write(&store, id, 0..10, SourceId::BinanceSpotRest).await;
    write(&store, id, 100..300, SourceId::BinanceSpotRest).await;
    cover(&store, id, SourceId::BinanceSpotRest, (10, 100)).await;
    store.refresh_gaps(NOW).await.unwrap();
    let open = store.gaps(Some(GapStatus::Open), 0).await.unwrap();
    store.gap_attempted(&open[0], false).await.unwrap();
    // The repair from hour 60 on: OKX has 60..100.
    write(&store, id, 60..100, SourceId::OkxRest).await;
    let after = store.refresh_gaps(NOW).await.unwrap();
    assert_eq!((after.repaired, after.open, after.open_bars), (1, 1, 50));
    let ledger: Vec<(i64, i64, GapStatus, i64)> = store
        .gaps(None, 0)
        .await
        .unwrap()
        .iter()
        .map(|g| ((g.start_ms - T0) / H, (g.end_ms - T0) / H, g.status, g.attempts))
        .collect();
    assert_eq!(
        ledger,
        vec![(10, 60, GapStatus::Open, 1), (60, 100, GapStatus::Repaired, 1)]
    );
    // Refreshing again changes nothing.
    assert_eq!(store.refresh_gaps(NOW).await.unwrap().repaired, 0);
    assert_eq!(store.gaps(None, 0).await.unwrap().len(), 2);
}

/// After a backfill that stopped at some day, the hours after it were never asked for: they are
/// `not-requested` and counted apart from missing hours, not reported as fetch errors.
async fn hours_never_requested_are_not_fetch_errors(backend: Backend) {
    let store = backend.open().await;
    let i = Instrument::new(Market::Spot, "ETH", "USDT").unwrap();
    let id = store.instrument_id(&i).await.unwrap();
    let bars: Vec<Candle> = (0..100).map(|h| bar(T0 + h * H)).collect();
    store
        .write_page(
            id,
            Timeframe::H1,
            prov(SourceId::BinanceSpotRest),
            bars,
            Some(range(T0, T0 + 100 * H)),
        )
        .await
        .unwrap();
    let now = T0 + 400 * H;
    let r = store.refresh_gaps(now).await.unwrap();
    assert_eq!(
        (r.open, r.open_bars, r.not_requested, r.not_requested_bars),
        (0, 0, 1, 300)
    );
    let gaps = store.gaps(None, 0).await.unwrap();
    assert_eq!(gaps.len(), 1);
    assert_eq!(
        ((gaps[0].start_ms - T0) / H, gaps[0].cause.as_str()),
        (100, "not-requested")
    );
    // A sync that then asks for 100..200 and finds an outage at 150..200: that part is missing
    // at the venue, the rest is still not requested.
    let more: Vec<Candle> = (100..150).map(|h| bar(T0 + h * H)).collect();
    store
        .write_page(
            id,
            Timeframe::H1,
            prov(SourceId::BinanceSpotRest),
            more,
            Some(range(T0 + 100 * H, T0 + 200 * H)),
        )
        .await
        .unwrap();
    let r = store.refresh_gaps(now).await.unwrap();
    assert_eq!((r.open, r.open_bars, r.not_requested_bars), (1, 50, 200));
    let causes: Vec<(i64, String)> = store
        .gaps(Some(GapStatus::Open), 0)
        .await
        .unwrap()
        .into_iter()
        .map(|g| ((g.start_ms - T0) / H, g.cause.to_string()))
        .collect();
    assert_eq!(
        causes,
        vec![(150, "venue-outage".to_owned()), (200, "not-requested".to_owned())]
    );
}

async fn gaps_are_repaired_in_whole_or_in_part_and_unrepairable_ones_are_kept(backend: Backend) {
    let store = backend.open().await;
    let i = Instrument::new(Market::UsdM, "ETH", "USDT").unwrap();
    let id = store.instrument_id(&i).await.unwrap();
    write(&store, id, 0..10, SourceId::BinanceUsdmRest).await;
    write(&store, id, 20..30, SourceId::BinanceUsdmRest).await;
    write(&store, id, 40..300, SourceId::BinanceUsdmRest).await;
    // Binance answered for 10..20 (an outage) but failed for 30..40.
    cover(&store, id, SourceId::BinanceUsdmRest, (10, 20)).await;
    note(
        &store,
        id,
        SourceId::BinanceUsdmRest,
        (30, 40),
        candlekeep_store::FETCH_FAILED,
    )
    .await;
    let first = store.refresh_gaps(NOW).await.unwrap();
    assert_eq!((first.new, first.open, first.open_bars), (2, 2, 20));
    let gaps = store.gaps(None, 0).await.unwrap();
    let causes: Vec<&str> = gaps.iter().map(|g| g.cause.as_str()).collect();
    assert_eq!(causes, ["venue-outage", "fetch-error"]);

    // OKX fills the outage entirely and half of the other gap.
    write(&store, id, 10..20, SourceId::OkxRest).await;
    write(&store, id, 30..35, SourceId::OkxRest).await;
    let second = store.refresh_gaps(NOW).await.unwrap();
    assert_eq!((second.repaired, second.open, second.open_bars), (2, 1, 5));
    let all = store.gaps(None, 0).await.unwrap();
    let summary: Vec<(i64, i64, GapStatus, Option<&str>)> = all
        .iter()
        .map(|g: &Gap| {
            (
                (g.start_ms - T0) / H,
                (g.end_ms - T0) / H,
                g.status,
                g.repaired_by.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (10, 20, GapStatus::Repaired, Some("okx-rest")),
            // Half filled: the filled half is repaired, the rest is carried as an open gap; no
            // hour is both repaired and missing.
            (30, 35, GapStatus::Repaired, Some("okx-rest")),
            (35, 40, GapStatus::Open, None),
        ]
    );

    // Every source was asked and none had 35..40: unrepairable, and it stays so.
    let open = store.gaps(Some(GapStatus::Open), 0).await.unwrap();
    store.gap_attempted(&open[0], true).await.unwrap();
    store.refresh_gaps(NOW).await.unwrap();
    let last = store.gaps(Some(GapStatus::Unrepairable), 0).await.unwrap();
    assert_eq!((last.len(), last[0].attempts), (1, 1));
    assert!(store.gaps(Some(GapStatus::Open), 0).await.unwrap().is_empty());
}

async fn causes_follow_what_the_sources_said(backend: Backend) {
    let store = backend.open().await;
    let i = Instrument::new(Market::Spot, "SOL", "USDT").unwrap();
    let id = store.instrument_id(&i).await.unwrap();
    // Bars at 0..10, 12..20, 22..30, 32..40, 42..300: gaps at 10..12, 20..22, 30..32, 40..42.
    for (a, b) in [(0, 10), (12, 20), (22, 30), (32, 40), (42, 50), (52, 300)] {
        write(&store, id, a..b, SourceId::BinanceSpotRest).await;
    }
    // 10..12: CryptoCompare said nothing traded.
    cover(&store, id, SourceId::CryptoCompare, (10, 12)).await;
    note(&store, id, SourceId::CryptoCompare, (10, 12), "no-trades").await;
    // 20..22: CoinGecko answered only "beyond my history".
    cover(&store, id, SourceId::CoinGecko, (20, 22)).await;
    note(&store, id, SourceId::CoinGecko, (20, 22), "history-cap").await;
    // 30..32: Binance answered without bars, CoinGecko beyond its history: an outage.
    cover(&store, id, SourceId::BinanceSpotRest, (30, 32)).await;
    cover(&store, id, SourceId::CoinGecko, (30, 32)).await;
    note(&store, id, SourceId::CoinGecko, (30, 32), "history-cap").await;
    // 40..42: asked, and every source failed.
    note(
        &store,
        id,
        SourceId::BinanceSpotRest,
        (40, 42),
        candlekeep_store::FETCH_FAILED,
    )
    .await;
    // 50..52: nobody was ever asked.
    store.refresh_gaps(NOW).await.unwrap();
    let causes: Vec<(i64, String)> = store
        .gaps(Some(GapStatus::Open), 0)
        .await
        .unwrap()
        .into_iter()
        .map(|g| ((g.start_ms - T0) / H, g.cause.to_string()))
        .collect();
    assert_eq!(
        causes,
        vec![
            (10, "no-trades".to_owned()),
            (20, "provider-history-cap".to_owned()),
            (30, "venue-outage".to_owned()),
            (40, "fetch-error".to_owned()),
            (50, "not-requested".to_owned()),
        ]
    );

    // Bars older than every venue listing (an aggregate's history): a gap before the first
    // listing is "not listed yet".
    let ada = Instrument::new(Market::Spot, "ADA", "USDT").unwrap();
    let ada_id = store.instrument_id(&ada).await.unwrap();
    for (a, b) in [(0, 5), (8, 300)] {
        write(&store, ada_id, a..b, SourceId::CryptoCompare).await;
    }
    let listing = Listing {
        venue: Venue::Binance,
        market: Market::Spot,
        ticker: "ADAUSDT".into(),
        base: "ADA".into(),
        quote: "USDT".into(),
        listed_at_ms: Some(T0 + 10 * H),
    };
    store
        .refresh_listings(Venue::Binance, Market::Spot, vec![listing], 1)
        .await
        .unwrap();
    store.refresh_gaps(NOW).await.unwrap();
    let ada_gap = store
        .gaps(Some(GapStatus::Open), 0)
        .await
        .unwrap()
        .into_iter()
        .find(|g| g.instrument == ada)
        .unwrap();
    assert_eq!(
        ((ada_gap.start_ms - T0) / H, ada_gap.cause.as_str()),
        (5, "not-listed-yet")
    );
}
