//! Fuzzing of every parser that reads what a venue sends (issue 12, item 9): the `Retry-After`
//! header, every venue's body parser, the listings parsers, the archive CSV row parser and the
//! archive name parser. Arbitrary bytes, and well-formed shapes filled with extreme numbers
//! (`i64::MIN`, `u64::MAX`, `1e308`, `"NaN"`, …), must give `Ok` or `Err`, never a panic; what
//! parses must then go through the page step without a panic either.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::Path;

use candlekeep_core::{Market, Timeframe};
use proptest::prelude::*;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

use crate::{
    archive, binance, bybit, coingecko,
    coingecko::ohlc,
    cryptocompare, http, listings, okx,
    window::{closed_before, window_page},
};

/// Cases per property; the report in issue 12 quotes these.
const CASES: u32 = 2000;

/// A JSON value as a venue might send it, biased to the numbers that break arithmetic.
fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        any::<i64>().prop_map(|v| format!("\"{v}\"")),
        any::<u64>().prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| if v.is_finite() {
            format!("{v:e}")
        } else {
            "1e999".into()
        }),
        any::<f64>().prop_map(|v| format!("\"{v}\"")),
        prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(i64::MAX - 1), Just(-1), Just(0)].prop_map(|v| v.to_string()),
        (0i64..2_000_000_000_000).prop_map(|v| v.to_string()),
        (0i64..2_000_000_000).prop_map(|v| (v * 3_600_000 % 2_000_000_000_000).to_string()),
        Just("null".to_owned()),
        Just("\"\"".to_owned()),
        Just("\"1\"".to_owned()),
        Just("\"0\"".to_owned()),
        Just("[]".to_owned()),
    ]
}

fn row(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(scalar(), len).prop_map(|v| format!("[{}]", v.join(",")))
}

fn rows(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(row(len), 0..6).prop_map(|v| v.join(","))
}

/// A request the page step might get: on the grid, anywhere from 1970 to far ahead.
fn request() -> impl Strategy<Value = (Timeframe, i64, i64, i64)> {
    (
        0..Timeframe::ALL.len(),
        0i64..4_000_000_000_000,
        1i64..2000,
        0i64..4_000_000_000_000,
    )
        .prop_map(|(i, s, n, now)| {
            let tf = Timeframe::ALL[i];
            let start = tf.floor(s);
            (tf, start, start + n * tf.millis(), now)
        })
}

/// Every body parser on `body`; whatever parses goes through its page step.
fn every_parser(body: &[u8], (tf, start, end, now): (Timeframe, i64, i64, i64)) {
    for t in Timeframe::ALL {
        if let Ok(rows) = binance::parse_klines(body, t) {
            let _ = binance::page_from_rows(rows, tf, (start, end), 3, now, "fuzz");
        }
    }
    for market in Market::ALL {
        if let Ok(rows) = okx::parse::parse_candles(body, market) {
            let _ = window_page(rows, tf, (start, end, end), now, "fuzz", true);
        }
        let _ = listings::parse_binance_exchange_info(body, market);
        let _ = listings::parse_okx_instruments(body, market);
        let _ = listings::parse_bybit_instruments(body, market);
    }
    if let Ok(rows) = bybit::parse::parse_klines(body) {
        let _ = window_page(rows, tf, (start, end, end), now, "fuzz", true);
    }
    if let Ok(h) = cryptocompare::parse::parse_history(body) {
        let _ = window_page(h.rows, tf, (start, end, end), now, "fuzz", true);
    }
    if let Ok(raw) = ohlc::parse_ohlc(body) {
        for t in [Timeframe::H1, Timeframe::H4] {
            if let Ok(rows) = ohlc::bars_from_ohlc(&raw, t) {
                let _ = window_page(rows, tf, (start, end, end), now, "fuzz", false);
            }
        }
    }
    let _ = ohlc::parse_market_chart(body);
    let _ = coingecko::parse_markets(body);
    let _ = coingecko::parse_coins_list(body);
    let _ = http::error_fields(body);
    let _ = closed_before(tf, now);
    for t in Timeframe::ALL {
        let _ = archive::parse_csv(Path::new("fuzz.csv"), body, t);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn retry_after_never_panics(raw in prop::collection::vec(any::<u8>(), 0..40), digits in any::<u64>(), huge in prop::collection::vec(0u8..10, 0..40)) {
        let huge: Vec<u8> = huge.iter().map(|d| b'0' + d).collect();
        for text in [raw, digits.to_string().into_bytes(), huge] {
            let Ok(value) = HeaderValue::from_bytes(&text) else { continue };
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, value);
            if let Some(d) = http::retry_after(&headers) {
                prop_assert!(d <= http::MAX_RETRY_AFTER);
                crate::http::WeightBudget::new(1, std::time::Duration::from_secs(1)).pause(d);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_a_parser(body in prop::collection::vec(any::<u8>(), 0..400), req in request()) {
        every_parser(&body, req);
    }

    #[test]
    fn venue_shapes_with_extreme_numbers_never_panic(
        klines in rows(0..14),
        window in rows(0..10),
        ohlc in rows(4..7),
        pairs in rows(1..3),
        objects in prop::collection::vec(prop::collection::vec(scalar(), 8), 0..5),
        req in request(),
    ) {
        let keys = ["time", "open", "high", "low", "close", "volumefrom", "volumeto", "onboardDate"];
        let object = |v: &Vec<String>, names: &[&str]| {
            let fields: Vec<String> = names.iter().zip(v).map(|(k, x)| format!("\"{k}\":{x}")).collect();
            format!("{{{}}}", fields.join(","))
        };
        let cc: Vec<String> = objects.iter().map(|v| object(v, &keys)).collect();
        let listing_keys = ["onboardDate", "listTime", "launchTime", "symbol", "baseAsset", "quoteAsset", "instId", "baseCoin"];
        let listed: Vec<String> = objects
            .iter()
            .map(|v| {
                let o = object(v, &listing_keys);
                format!(r#"{{"status":"TRADING","contractType":"PERPETUAL","state":"live","ctType":"linear","instFamily":"A-B",{}}}"#, &o[1..o.len() - 1])
            })
            .collect();
        let bodies = [
            format!("[{klines}]"),
            format!(r#"{{"code":"0","msg":"","data":[{window}]}}"#),
            format!(r#"{{"retCode":0,"retMsg":"OK","result":{{"list":[{window}],"nextPageCursor":""}}}}"#),
            format!(r#"{{"Response":"Success","Message":"","Data":{{"Data":[{}]}}}}"#, cc.join(",")),
            format!("[{ohlc}]"),
            format!(r#"{{"prices":[{pairs}],"market_caps":[{pairs}],"total_volumes":[{pairs}]}}"#),
            format!(r#"{{"symbols":[{0}]}}"#, listed.join(",")),
            format!(r#"{{"code":"0","msg":"","data":[{0}]}}"#, listed.join(",")),
            format!(r#"{{"retCode":0,"retMsg":"OK","result":{{"list":[{0}],"nextPageCursor":""}}}}"#, listed.join(",")),
            klines.replace("],[", "\n").replace(['[', ']', '"'], ""),
        ];
        for body in bodies {
            every_parser(body.as_bytes(), req);
        }
    }

    #[test]
    fn archive_csv_rows_with_extreme_numbers_never_panic(
        lines in prop::collection::vec(prop::collection::vec(scalar(), 0..14), 0..6),
        tf in 0..Timeframe::ALL.len(),
    ) {
        let csv: String = lines
            .iter()
            .map(|l| l.iter().map(|f| f.trim_matches('"')).collect::<Vec<_>>().join(",") + "\n")
            .collect();
        let _ = archive::parse_csv(Path::new("fuzz.csv"), csv.as_bytes(), Timeframe::ALL[tf]);
    }

    #[test]
    fn archive_names_never_panic(name in any::<String>(), year in any::<i32>(), month in any::<u32>(), day in any::<u32>()) {
        let _ = archive::describe(Path::new(&name));
        for n in [format!("BTCUSDT-1h-{year}-{month}.zip"), format!("BTCUSDT-1h-{year}-{month}-{day}.CSV")] {
            let _ = archive::describe(Path::new(&n));
        }
    }
}
