//! The store contract, run against every backend through the async roles: idempotent upserts,
//! revisions, covered ranges, status, hashing, fallback priority, listings, validation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use candlekeep_core::{Candle, Instrument, Market, SourceId, TimeRange, Timeframe};
use candlekeep_store::{
    CandleRead, CandleWrite, IndicatorStore, IndicatorValue, OwnedPage, StoreHandle, UniverseStore, WriteStats,
};
use support::{Backend, H, T0, prov, sim};

on_every_backend!(
    long_ranges_read_back_whole_and_in_order,
    upsert_is_idempotent_and_records_revisions,
    values_round_trip_bit_for_bit,
    covered_ranges_merge_and_leave_exact_holes,
    status_counts_missing_bars_and_hash_ignores_fetch_time,
    a_lower_priority_source_never_overwrites_and_a_higher_one_takes_over_with_cross_checks,
    listings_remember_first_seen_and_delisting_and_assets_rank,
    impossible_bars_are_quarantined_and_the_rest_of_the_page_is_written_and_flagged,
    latest_indicator_values_replace_a_series_whole,
);

fn range(from: i64, to: i64) -> TimeRange {
    TimeRange::new(from, to)
}

fn pairs(ranges: Vec<TimeRange>) -> Vec<(i64, i64)> {
    ranges.into_iter().map(|r| r.as_pair()).collect()
}

async fn latest_indicator_values_replace_a_series_whole(backend: Backend) {
    let store = backend.open().await;
    let btc = store
        .instrument_id(&Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap())
        .await
        .unwrap();
    let eth = store
        .instrument_id(&Instrument::from_symbol(Market::Spot, "ETHUSDT").unwrap())
        .await
        .unwrap();
    let value = |id: i64, name: &str, v: f64| IndicatorValue {
        instrument_id: id,
        timeframe: Timeframe::H1,
        name: name.into(),
        bar_ms: T0,
        value: v,
        computed_at_ms: T0 + H,
    };
    store
        .save_indicators(vec![
            value(btc, "rsi_14", 71.5),
            value(btc, "atr_14", 0.1),
            value(eth, "rsi_14", 20.0),
        ])
        .await
        .unwrap();
    assert_eq!(store.indicator_values().await.unwrap().len(), 3);
    // BTC's new set replaces its old one whole (atr_14 goes); ETH's stays.
    store
        .save_indicators(vec![value(btc, "rsi_14", 1.0 / 3.0)])
        .await
        .unwrap();
    let stored = store.indicator_values().await.unwrap();
    assert_eq!(
        stored,
        vec![value(btc, "rsi_14", 1.0 / 3.0), value(eth, "rsi_14", 20.0)]
    );
}

async fn fallback_write(
    store: &StoreHandle,
    id: i64,
    source: SourceId,
    outranks: &[SourceId],
    candles: &[Candle],
) -> WriteStats {
    let page = OwnedPage {
        instrument_id: id,
        timeframe: Timeframe::H1,
        provenance: prov(source, 7),
        candles: candles.to_vec(),
        covered: None,
        outranks: Some(outranks.to_vec()),
    };
    store.write_pages(vec![page]).await.unwrap().remove(0)
}

async fn upsert_is_idempotent_and_records_revisions(backend: Backend) {
    let store = backend.open().await;
    let btc = store
        .instrument_id(&Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap())
        .await
        .unwrap();
    assert_eq!(
        store
            .instrument_id(&Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap())
            .await
            .unwrap(),
        btc
    );
    let bars = sim(200); // 3 full batches + a remainder
    let first = store
        .write_page(
            btc,
            Timeframe::H1,
            prov(SourceId::BinanceSpotRest, 1),
            bars.clone(),
            None,
        )
        .await
        .unwrap();
    assert_eq!((first.written, first.unchanged), (200, 0));
    let again = store
        .write_page(
            btc,
            Timeframe::H1,
            prov(SourceId::BinanceSpotRest, 2),
            bars.clone(),
            None,
        )
        .await
        .unwrap();
    assert_eq!((again.written, again.unchanged), (0, 200));

    let mut revised = bars[10];
    revised.close += 1.0;
    let rev = store
        .write_page(
            btc,
            Timeframe::H1,
            prov(SourceId::BinanceArchive, 3),
            vec![revised],
            None,
        )
        .await
        .unwrap();
    assert_eq!(rev.written, 1);
    let i = Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap();
    let stored = store.candles(&i, Timeframe::H1, range(T0, T0 + 200 * H)).await.unwrap();
    assert_eq!(stored.len(), 200);
    assert_eq!(stored[10], revised);
    assert_eq!(stored[11], bars[11]);
    let status = store.series_status().await.unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(
        status[0].sources,
        vec![("binance-spot-rest".to_owned(), 199), ("binance-archive".to_owned(), 1)]
    );
}

async fn values_round_trip_bit_for_bit(backend: Backend) {
    let store = backend.open().await;
    let id = store
        .instrument_id(&Instrument::from_symbol(Market::UsdM, "ETHUSDT").unwrap())
        .await
        .unwrap();
    let bar = |day: i64, o: &str, h: &str, l: &str, c: &str| Candle {
        open_time_ms: T0 + day * 24 * H,
        open: o.parse().unwrap(),
        high: h.parse().unwrap(),
        low: l.parse().unwrap(),
        close: c.parse().unwrap(),
        volume: Some(0.0),
        quote_volume: Some("28425514.78940".parse().unwrap()),
        trades: Some(u32::MAX as u64 * 4),
    };
    // Extreme but plausible bars (each within a 100x range, judged more than 30 days apart).
    let odd = vec![
        bar(0, "0.00000001", "0.00000003", "0.000000009", "0.00000002"),
        bar(
            40,
            "99999999.99999999",
            "99999999.99999999",
            "1234567.89012345",
            "1234567.89012345",
        ),
        bar(80, "1e-300", "3.5e-300", "1e-300", "2.2250738585072014e-300"),
        bar(
            120,
            "1234.56789012345",
            "1234.56789012345",
            "1234.56789012345",
            "1234.56789012345",
        ),
    ];
    let w = store
        .write_page(id, Timeframe::H1, prov(SourceId::BinanceUsdmRest, 1), odd.clone(), None)
        .await
        .unwrap();
    assert_eq!((w.written, w.rejected), (4, 0));
    let i = Instrument::from_symbol(Market::UsdM, "ETHUSDT").unwrap();
    let back = store
        .candles(&i, Timeframe::H1, range(T0, T0 + 121 * 24 * H))
        .await
        .unwrap();
    assert_eq!(back.len(), 4);
    for (b, o) in back.iter().zip(&odd) {
        for (x, y) in [(b.open, o.open), (b.high, o.high), (b.low, o.low), (b.close, o.close)] {
            assert_eq!(x.to_bits(), y.to_bits());
        }
        assert_eq!(b, o);
    }
}

async fn covered_ranges_merge_and_leave_exact_holes(backend: Backend) {
    let store = backend.open().await;
    let id = store
        .instrument_id(&Instrument::from_symbol(Market::Spot, "ETHUSDT").unwrap())
        .await
        .unwrap();
    let p = prov(SourceId::BinanceSpotRest, 1);
    for (a, b) in [(0, 10), (10, 20), (30, 40)] {
        store
            .write_page(id, Timeframe::H1, p, vec![], Some(range(T0 + a * H, T0 + b * H)))
            .await
            .unwrap();
    }
    store
        .write_page(
            id,
            Timeframe::H1,
            prov(SourceId::BinanceArchive, 1),
            vec![],
            Some(range(T0 + 35 * H, T0 + 45 * H)),
        )
        .await
        .unwrap();
    let rest = SourceId::BinanceSpotRest;
    assert_eq!(
        pairs(
            store
                .uncovered(id, Timeframe::H1, rest, range(T0 - 5 * H, T0 + 50 * H))
                .await
                .unwrap()
        ),
        vec![(T0 - 5 * H, T0), (T0 + 20 * H, T0 + 30 * H), (T0 + 40 * H, T0 + 50 * H)]
    );
    // Coverage is per source.
    assert_eq!(
        pairs(
            store
                .uncovered(
                    id,
                    Timeframe::H1,
                    SourceId::BinanceArchive,
                    range(T0 - 5 * H, T0 + 50 * H)
                )
                .await
                .unwrap()
        ),
        vec![(T0 - 5 * H, T0 + 35 * H), (T0 + 45 * H, T0 + 50 * H)]
    );
    assert_eq!(
        store
            .uncovered(id, Timeframe::H1, rest, range(T0 + 2 * H, T0 + 18 * H))
            .await
            .unwrap(),
        vec![]
    );
    // Another timeframe is not covered by the 1h ranges.
    assert_eq!(
        pairs(
            store
                .uncovered(id, Timeframe::M5, rest, range(T0, T0 + H))
                .await
                .unwrap()
        ),
        vec![(T0, T0 + H)]
    );
}

async fn status_counts_missing_bars_and_hash_ignores_fetch_time(backend: Backend) {
    let bars = sim(48);
    let mut with_gap = bars.clone();
    with_gap.drain(5..8);
    let a = backend.open().await;
    let b = backend.open().await;
    let btc = Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap();
    let ia = a.instrument_id(&btc).await.unwrap();
    let ib = b.instrument_id(&btc).await.unwrap();
    a.write_page(
        ia,
        Timeframe::H1,
        prov(SourceId::BinanceSpotRest, 1),
        with_gap.clone(),
        None,
    )
    .await
    .unwrap();
    b.write_page(
        ib,
        Timeframe::H1,
        prov(SourceId::BinanceSpotRest, 999),
        with_gap[20..].to_vec(),
        None,
    )
    .await
    .unwrap();
    b.write_page(
        ib,
        Timeframe::H1,
        prov(SourceId::BinanceSpotRest, 5),
        with_gap[..20].to_vec(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(a.content_hash().await.unwrap(), b.content_hash().await.unwrap());
    let s = &a.series_status().await.unwrap()[0];
    assert_eq!((s.count, s.expected, s.missing()), (45, 48, 3));
    assert_eq!(s.first_open_ms, T0);
    let c = backend.open().await;
    let ic = c.instrument_id(&btc).await.unwrap();
    c.write_page(ic, Timeframe::H1, prov(SourceId::BinanceSpotRest, 1), bars, None)
        .await
        .unwrap();
    assert_ne!(a.content_hash().await.unwrap(), c.content_hash().await.unwrap());
}

async fn a_lower_priority_source_never_overwrites_and_a_higher_one_takes_over_with_cross_checks(backend: Backend) {
    use SourceId::{BinanceUsdmRest as Primary, OkxRest as Fallback};
    let store = backend.open().await;
    let i = Instrument::from_symbol(Market::UsdM, "BTCUSDT").unwrap();
    let id = store.instrument_id(&i).await.unwrap();
    let bars = sim(10);
    // The primary delivers hours 0..6; the fallback fills 6..10 and also sends 4..6, differing.
    fallback_write(&store, id, Primary, &[Fallback], &bars[..6]).await;
    let mut other: Vec<Candle> = bars[4..].to_vec();
    for c in &mut other {
        c.close *= 1.001; // 10 bps
        c.volume = c.volume.map(|v| v * 2.0);
    }
    let w = fallback_write(&store, id, Fallback, &[], &other).await;
    assert_eq!((w.written, w.unchanged, w.cross_checked), (4, 2, 2));
    let stored = store.candles(&i, Timeframe::H1, range(T0, T0 + 10 * H)).await.unwrap();
    assert_eq!(stored[..6], bars[..6], "the primary's bars stay");
    assert_eq!(stored[6..], other[2..]);

    // Later the primary delivers hours 6..10 with the fallback's exact values for hour 9: it
    // takes over every one of them, and each replaced hour is cross-checked.
    let mut late = bars[6..].to_vec();
    late[3] = other[5];
    let w = fallback_write(&store, id, Primary, &[Fallback], &late).await;
    assert_eq!((w.written, w.cross_checked), (4, 4));
    let status = store.series_status().await.unwrap();
    assert_eq!(status[0].sources, vec![("binance-usdm-rest".to_owned(), 10)]);

    let summary = store.cross_check_summary().await.unwrap();
    assert_eq!(summary.len(), 1);
    let s = &summary[0];
    assert_eq!(
        (s.kept_source.as_str(), s.other_source.as_str()),
        ("binance-usdm-rest", "okx-rest")
    );
    assert_eq!(s.bars, 6);
    assert!((s.max_abs_close_diff_bps - 10.0).abs() < 1e-6, "{s:?}");
    assert!((s.median_volume_ratio.unwrap() - 2.0).abs() < 1e-9, "{s:?}");
    assert_eq!(
        store
            .stored_sources(id, Timeframe::H1, range(T0, T0 + 3 * H))
            .await
            .unwrap(),
        vec![(T0, Primary), (T0 + H, Primary), (T0 + 2 * H, Primary)]
    );
}

async fn listings_remember_first_seen_and_delisting_and_assets_rank(backend: Backend) {
    use candlekeep_core::{Asset, Listing, Venue};
    let store = backend.open().await;
    let l = |ticker: &str, base: &str| Listing {
        venue: Venue::Okx,
        market: Market::Spot,
        ticker: ticker.into(),
        base: base.into(),
        quote: "USDT".into(),
        listed_at_ms: Some(1),
    };
    let first = store
        .refresh_listings(
            Venue::Okx,
            Market::Spot,
            vec![l("BTC-USDT", "BTC"), l("LUNA-USDT", "LUNA")],
            100,
        )
        .await
        .unwrap();
    assert_eq!((first.listed, first.new, first.delisted), (2, 2, 0));
    // LUNA disappears from the list: delisted, not deleted. Another venue is untouched.
    store
        .refresh_listings(Venue::Bybit, Market::Spot, vec![], 150)
        .await
        .unwrap();
    let second = store
        .refresh_listings(Venue::Okx, Market::Spot, vec![l("BTC-USDT", "BTC")], 200)
        .await
        .unwrap();
    assert_eq!((second.new, second.delisted), (0, 1));
    let all = store.listings().await.unwrap();
    let luna = all.iter().find(|k| k.listing.base == "LUNA").unwrap();
    assert_eq!(
        (luna.first_seen_ms, luna.last_seen_ms, luna.delisted_at_ms),
        (100, 100, Some(200))
    );
    let third = store
        .refresh_listings(
            Venue::Okx,
            Market::Spot,
            vec![l("BTC-USDT", "BTC"), l("LUNA-USDT", "LUNA")],
            300,
        )
        .await
        .unwrap();
    assert_eq!((third.relisted, third.delisted), (1, 0));
    assert!(
        store
            .listings()
            .await
            .unwrap()
            .iter()
            .all(|k| k.delisted_at_ms.is_none())
    );

    let asset = |symbol: &str, rank: Option<u32>| Asset {
        symbol: symbol.into(),
        coingecko_id: symbol.to_lowercase(),
        name: symbol.into(),
        market_cap_rank: rank,
    };
    store
        .save_assets(
            vec![asset("ETH", Some(2)), asset("XYZ", None), asset("BTC", Some(1))],
            1,
        )
        .await
        .unwrap();
    let ranked: Vec<_> = store
        .ranked_assets(2)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.symbol)
        .collect();
    assert_eq!(ranked, vec!["BTC", "ETH"]);
}

async fn impossible_bars_are_quarantined_and_the_rest_of_the_page_is_written_and_flagged(backend: Backend) {
    let store = backend.open().await;
    let i = Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap();
    let id = store.instrument_id(&i).await.unwrap();
    let mut bars = sim(10);
    let truth = bars.clone();
    bars[2].high = bars[2].close.min(bars[2].open) - 1.0; // high below the body
    bars[4].volume = Some(-3.0);
    bars[6].open_time_ms += 60_000; // off the hour grid
    let jump = bars[8].close * 1.5;
    bars[8].close = jump; // +50%: possible, flagged
    bars[8].high = bars[8].high.max(jump);
    let mut future = bars[9];
    future.open_time_ms = candlekeep_core::time::now_ms() / H * H + H;
    bars.push(future);
    let w = store
        .write_page(
            id,
            Timeframe::H1,
            prov(SourceId::BinanceSpotRest, 5),
            bars.clone(),
            None,
        )
        .await
        .unwrap();
    assert_eq!((w.written, w.rejected), (7, 4));
    let stored = store.candles(&i, Timeframe::H1, range(T0, T0 + 10 * H)).await.unwrap();
    let opens: Vec<i64> = stored.iter().map(|c| (c.open_time_ms - T0) / H).collect();
    assert_eq!(opens, vec![0, 1, 3, 5, 7, 8, 9]);
    assert_eq!(stored[0], truth[0]);

    let rejects = store.rejects().await.unwrap();
    let reasons: Vec<(i64, &str)> = rejects
        .iter()
        .map(|r| ((r.open_time_ms - T0) / H, r.reason.as_str()))
        .collect();
    assert_eq!(
        reasons[..3],
        [
            (2, "high-below-open-or-close"),
            (4, "negative-or-non-finite (volume)"),
            (6, "open-time-off-grid")
        ]
    );
    assert_eq!(reasons[3].1, "not-closed-yet");
    assert!(rejects.iter().all(|r| r.source == "binance-spot-rest"));
    assert_eq!(rejects[1].volume, Some(-3.0), "the raw values are kept");

    // Writing the same page again quarantines nothing twice and changes nothing.
    let again = store
        .write_page(id, Timeframe::H1, prov(SourceId::BinanceSpotRest, 6), bars, None)
        .await
        .unwrap();
    assert_eq!((again.written, again.rejected), (0, 4));
    assert_eq!(store.rejects().await.unwrap().len(), 4);

    let flags = store.flags().await.unwrap();
    let jumps: Vec<_> = flags
        .iter()
        .filter(|f| f.kind == "jump")
        .map(|f| (f.open_time_ms - T0) / H)
        .collect();
    // The jump up at hour 8 and the fall back at hour 9 are both flagged.
    assert_eq!(jumps, vec![8, 9]);
}

async fn long_ranges_read_back_whole_and_in_order(backend: Backend) {
    // Long enough for a backend to read it in parts (PostgreSQL reads halves at once).
    let store = backend.open().await;
    let i = Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap();
    let id = store.instrument_id(&i).await.unwrap();
    let bars = sim(9_000);
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
    assert_eq!(
        store
            .candles(&i, Timeframe::H1, range(T0, T0 + 9_000 * H))
            .await
            .unwrap(),
        bars
    );
    // Bounds off the middle and off the grid.
    let got = store
        .candles(&i, Timeframe::H1, range(T0 + 17 * H + 5, T0 + 8_999 * H - 1))
        .await
        .unwrap();
    assert_eq!(got, bars[18..8_999]);
    assert_eq!(
        store
            .candles(&i, Timeframe::H1, range(T0 - 9_000 * H, T0))
            .await
            .unwrap(),
        vec![]
    );
}
