//! The simulated venue speaks Binance's wire format and enforces its limits like Binance does.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::Duration;

use candlekeep_core::{Market, Timeframe, time::now_ms};
use candlekeep_testkit::{BinanceSim, SimConfig};

async fn get(sim: &BinanceSim, query: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let path = match sim.market() {
        Market::Spot => "/api/v3/klines",
        Market::UsdM => "/fapi/v1/klines",
    };
    let resp = reqwest::get(format!("{}{path}?{query}", sim.base_url())).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

#[tokio::test]
async fn rows_errors_and_the_open_last_bar() {
    let sim = BinanceSim::start(SimConfig::binance(Market::Spot)).await.unwrap();
    let (status, headers, body) = get(&sim, "symbol=BTCUSDT&interval=1h&limit=3").await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-mbx-used-weight-1m"], "2");
    let rows: Vec<Vec<serde_json::Value>> = serde_json::from_str(&body).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].len(), 12);
    assert!(
        rows[0][1].as_str().unwrap().split('.').nth(1).unwrap().len() == 8,
        "spot prints 8 decimals"
    );
    let last_close = rows[2][6].as_i64().unwrap();
    assert!(last_close >= now_ms(), "the newest row is the still-open bar");
    assert_eq!(rows[2][0].as_i64().unwrap(), Timeframe::H1.floor(now_ms()));

    for (query, code) in [
        ("symbol=NOPEUSDT&interval=1h", -1121),
        ("symbol=BTCUSDT&interval=2x", -1120),
        ("symbol=BTCUSDT&interval=1h&limit=1001", -1130),
        ("symbol=BTCUSDT&interval=1h&startTime=abc", -1100),
        ("interval=1h", -1102),
    ] {
        let (status, _, body) = get(&sim, query).await;
        assert_eq!(status, 400, "{query}");
        let err: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(err["code"], code, "{query}: {body}");
    }
}

#[tokio::test]
async fn paging_from_start_time_and_before_listing() {
    let sim = BinanceSim::start(SimConfig::binance(Market::UsdM)).await.unwrap();
    let listed = sim.generator().listed_ms(Market::UsdM, "SOLUSDT").unwrap();
    let start = listed - 10 * 86_400_000;
    let (_, headers, body) = get(
        &sim,
        &format!("symbol=SOLUSDT&interval=1h&startTime={start}&limit=1500"),
    )
    .await;
    assert_eq!(headers["x-mbx-used-weight-1m"], "10", "limit 1500 weighs 10 on USD-M");
    let rows: Vec<Vec<serde_json::Value>> = serde_json::from_str(&body).unwrap();
    assert_eq!(rows.len(), 1500);
    assert_eq!(rows[0][0].as_i64().unwrap(), listed, "nothing before the listing");
    let opens: Vec<i64> = rows.iter().map(|r| r[0].as_i64().unwrap()).collect();
    assert!(opens.windows(2).all(|w| w[0] < w[1]), "ascending");
}

#[tokio::test]
async fn ignoring_429_gets_a_418_ban_with_retry_after() {
    let mut config = SimConfig::binance(Market::Spot);
    config.weight_limit = 6;
    config.window = Duration::from_secs(3600);
    config.requests_after_429_before_ban = 2;
    let sim = BinanceSim::start(config).await.unwrap();
    let q = "symbol=ETHUSDT&interval=1h&limit=1";
    for used in [2, 4, 6] {
        let (status, headers, _) = get(&sim, q).await;
        assert_eq!(status, 200);
        assert_eq!(headers["x-mbx-used-weight-1m"], used.to_string().as_str());
    }
    let (status, headers, body) = get(&sim, q).await;
    assert_eq!(status, 429);
    assert!(headers.contains_key("retry-after") && body.contains("-1003"), "{body}");
    for _ in 0..2 {
        assert_eq!(get(&sim, q).await.0, 429);
    }
    let (status, headers, body) = get(&sim, q).await;
    assert_eq!(status, 418);
    assert!(body.contains("IP banned until"), "{body}");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(wait >= 100, "a ban lasts about two minutes: {wait}");
    let stats = sim.stats();
    assert_eq!(
        (stats.rejected_429, stats.rejected_418, stats.max_window_weight),
        (3, 1, 6)
    );
}
