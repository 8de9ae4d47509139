//! Bars no market can print (a zero price, a close of 1e300) are quarantined with their reason
//! on both backends, judged against the stored neighbours as well as the page itself; true bars
//! around them are stored.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use candlekeep_core::{Instrument, Market, SourceId, TimeRange, Timeframe};
use candlekeep_store::{CandleRead, CandleWrite};
use support::{Backend, H, T0, prov, sim};

on_every_backend!(absurd_prices_are_quarantined_with_their_reason);

async fn absurd_prices_are_quarantined_with_their_reason(backend: Backend) {
    let store = backend.open().await;
    let i = Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap();
    let id = store.instrument_id(&i).await.unwrap();
    let truth = sim(12);
    let mut bars = truth.clone();
    for (n, price) in [(3, 1e300), (5, 1e308)] {
        let b = &mut bars[n];
        (b.open, b.high, b.low, b.close) = (price, price, price, price);
    }
    let zero = &mut bars[7];
    (zero.open, zero.high, zero.low, zero.close) = (0.0, 0.0, 0.0, 0.0);
    zero.volume = Some(0.0);
    let w = store
        .write_page(
            id,
            Timeframe::H1,
            prov(SourceId::BinanceSpotRest, 5),
            bars[..10].to_vec(),
            None,
        )
        .await
        .unwrap();
    assert_eq!((w.written, w.rejected), (7, 3));

    // A later page of one absurd bar is judged against the stored bar before it.
    let mut late = truth[10];
    late.close = truth[9].close / 1e6;
    late.open = late.close;
    late.low = late.close;
    let w = store
        .write_page(
            id,
            Timeframe::H1,
            prov(SourceId::BinanceSpotRest, 6),
            vec![late, truth[11]],
            None,
        )
        .await
        .unwrap();
    assert_eq!((w.written, w.rejected), (1, 1));

    let stored = store
        .candles(&i, Timeframe::H1, TimeRange::new(T0, T0 + 12 * H))
        .await
        .unwrap();
    let opens: Vec<i64> = stored.iter().map(|c| (c.open_time_ms - T0) / H).collect();
    assert_eq!(opens, vec![0, 1, 2, 4, 6, 8, 9, 11]);
    let reasons: Vec<(i64, String)> = store
        .rejects()
        .await
        .unwrap()
        .into_iter()
        .map(|r| ((r.open_time_ms - T0) / H, r.reason))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (3, "implausible-move".to_owned()),
            (5, "implausible-move".to_owned()),
            (7, "zero-price".to_owned()),
            (10, "implausible-move".to_owned()),
        ]
    );
}
