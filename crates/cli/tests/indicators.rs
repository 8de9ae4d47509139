//! `candlekeep indicators` on a demo store: the printed and saved values are the indicator
//! crate's values over the stored candles, RSI is marked by zone, and bad flags are refused.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use candlekeep_core::{Instrument, Market, Timeframe};
use candlekeep_store::{BlockingStore, SqliteStore};
use common::{candlekeep, run, text};
use serde_json::Value;

#[test]
fn indicators_are_the_crate_s_values_over_the_stored_candles_and_are_saved() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ind.db");
    let url = format!("sqlite:{}", db.display());
    let out = run(candlekeep(
        dir.path(),
        None,
        &["--demo", "--database-url", &url, "backfill", "--from", "2026-06-01"],
    ));
    assert!(out.status.success(), "{}", text(&out));

    let out = run(candlekeep(
        dir.path(),
        None,
        &["--database-url", &url, "indicators", "--json"],
    ));
    assert!(out.status.success(), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let series = doc["series"].as_array().unwrap();
    assert!(series.len() >= 2, "{doc}");

    let mut store = SqliteStore::open(&db).unwrap();
    let btc = Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap();
    let entry = series.iter().find(|s| s["instrument"] == "spot:BTCUSDT").unwrap();
    let stored = store.candles(&btc, Timeframe::H1, 0, i64::MAX).unwrap();
    let closes: Vec<f64> = stored.iter().map(|c| c.close).collect();
    assert_eq!(entry["bars"].as_u64().unwrap() as usize, closes.len().min(5_000));
    let window = &closes[closes.len().saturating_sub(5_000)..];
    let mut rsi = vec![0.0; window.len()];
    candlekeep_ta::rsi(window, 14, &mut rsi).unwrap();
    let printed = entry["values"]["rsi_14"].as_f64().unwrap();
    assert_eq!(printed, *rsi.last().unwrap());
    let zone = match printed {
        r if r >= 70.0 => Value::from("overbought"),
        r if r <= 30.0 => Value::from("oversold"),
        _ => Value::Null,
    };
    assert_eq!(entry["rsi_zone"], zone);
    assert_eq!(entry["close"].as_f64().unwrap(), *window.last().unwrap());

    // Saved for the dashboard: the same values, one row per name.
    let id = store.instrument_id(&btc).unwrap();
    let saved: Vec<_> = store
        .indicator_values()
        .unwrap()
        .into_iter()
        .filter(|v| v.instrument_id == id)
        .collect();
    let values = entry["values"].as_object().unwrap();
    assert_eq!(saved.len(), values.len());
    for v in &saved {
        assert_eq!(values[&v.name].as_f64().unwrap(), v.value, "{}", v.name);
        assert_eq!(v.bar_ms, stored.last().unwrap().open_time_ms);
    }

    // The table: one line per series, the zone beside RSI; --symbol narrows it.
    let out = run(candlekeep(
        dir.path(),
        None,
        &["--database-url", &url, "indicators", "--symbol", "ETH"],
    ));
    let table = text(&out);
    assert!(out.status.success(), "{table}");
    assert!(
        table.contains("spot:ETHUSDT 1h") && !table.contains("BTCUSDT"),
        "{table}"
    );

    // Wrong flags are refused with the reason.
    let out = run(candlekeep(
        dir.path(),
        None,
        &["--database-url", &url, "indicators", "--timeframe", "2h"],
    ));
    assert!(!out.status.success());
    assert!(text(&out).contains("2h"), "{}", text(&out));
    let out = run(candlekeep(
        dir.path(),
        None,
        &["--database-url", &url, "indicators", "--bars", "1"],
    ));
    assert!(!out.status.success());
    assert!(text(&out).contains("--bars must be at least 2"), "{}", text(&out));
}
