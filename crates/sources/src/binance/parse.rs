//! The 12-field kline row shared by Binance REST and archive files.

use candlekeep_core::{Candle, Timeframe};
use serde::{Deserialize, de::IgnoredAny};

use crate::numbers::{Int, Num, time_ms};

/// One parsed kline row: the candle plus the close time the venue sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawKline {
    pub candle: Candle,
    pub close_time_ms: i64,
}

/// `[open_time, open, high, low, close, volume, close_time, quote_volume, trades,
///   taker_buy_base, taker_buy_quote, ignore]`.
#[derive(Deserialize)]
struct Row(
    Int,
    Num,
    Num,
    Num,
    Num,
    Num,
    Int,
    Num,
    Int,
    IgnoredAny,
    IgnoredAny,
    IgnoredAny,
);

#[derive(Debug, thiserror::Error)]
pub enum KlineError {
    #[error("not a JSON array of 12-field kline rows: {0}")]
    Shape(#[from] serde_json::Error),
    #[error("row {row}: {what}")]
    Row { row: usize, what: String },
}

/// Parses a klines body and checks each row against the requested timeframe.
pub fn parse_klines(body: &[u8], tf: Timeframe) -> Result<Vec<RawKline>, KlineError> {
    let rows: Vec<Row> = serde_json::from_slice(body)?;
    rows.into_iter()
        .enumerate()
        .map(|(i, r)| {
            let row_err = |what| KlineError::Row { row: i, what };
            let k = RawKline {
                candle: Candle {
                    open_time_ms: time_ms(r.0.0).map_err(row_err)?,
                    open: r.1.0,
                    high: r.2.0,
                    low: r.3.0,
                    close: r.4.0,
                    volume: Some(r.5.0),
                    quote_volume: Some(r.7.0),
                    trades: Some(u64::try_from(r.8.0).map_err(|_| KlineError::Row {
                        row: i,
                        what: "negative trade count".into(),
                    })?),
                },
                close_time_ms: time_ms(r.6.0).map_err(row_err)?,
            };
            // A row of another interval means a wrong answer; an off-grid open time with a
            // consistent span is a bad bar, quarantined by validation, not a bad page.
            check_span(&k, tf).map_err(row_err)?;
            Ok(k)
        })
        .collect()
}

/// The row belongs to `tf`: open time on the grid, close time one bar later minus 1 ms.
pub(crate) fn check_row(k: &RawKline, tf: Timeframe) -> Result<(), String> {
    let t = k.candle.open_time_ms;
    if tf.floor(t) != t {
        return Err(format!("open time {t} is not on the {tf} grid"));
    }
    check_span(k, tf)
}

/// The row spans one `tf` bar: close time = open time + one bar − 1 ms.
fn check_span(k: &RawKline, tf: Timeframe) -> Result<(), String> {
    let t = k.candle.open_time_ms;
    if k.close_time_ms != t + tf.millis() - 1 {
        return Err(format!(
            "close time {} does not end a {tf} bar opening at {t}",
            k.close_time_ms
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Verbatim shape of ../shared/reference/samples/binance_spot_klines_eurusdt_1h.json (rows 5-6:
    // a 2-trade bar and the zero-trade bar).
    const SPOT: &str = r#"[
      [1578873600000,"1.10990000","1.10990000","1.10990000","1.10990000","113.26000000",1578877199999,"125.70727400",2,"0.00000000","0.00000000","0"],
      [1578877200000,"1.10990000","1.10990000","1.10990000","1.10990000","0.00000000",1578880799999,"0.00000000",0,"0.00000000","0.00000000","0"]
    ]"#;
    // Verbatim shape of binance_usdm_futures_klines_btcusdt_5m.json (5m, "ignore" non-zero in docs).
    const USDM: &str = r#"[
      [1616338800000, "57212.69", "57315.00", "57196.19", "57300.00", "496.263", 1616339099999, "28425514.78940", 7160, "273.108", "15642623.69718", "17928899.62484339"]
    ]"#;

    #[test]
    fn parses_spot_rows_including_the_zero_trade_bar() {
        let rows = parse_klines(SPOT.as_bytes(), Timeframe::H1).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].candle.trades, Some(2));
        assert_eq!(rows[0].candle.quote_volume, Some(125.707274));
        let zero = rows[1].candle;
        assert_eq!((zero.volume, zero.trades), (Some(0.0), Some(0)));
        assert_eq!(zero.open, 1.1099);
        assert_eq!(rows[1].close_time_ms, 1578880799999);
    }

    #[test]
    fn parses_usdm_rows() {
        let rows = parse_klines(USDM.as_bytes(), Timeframe::M5).unwrap();
        assert_eq!(rows[0].candle.open, 57212.69);
        assert_eq!(rows[0].candle.volume, Some(496.263));
        assert_eq!(rows[0].candle.trades, Some(7160));
    }

    #[test]
    fn numbers_may_come_as_strings_or_numbers() {
        let body = r#"[["1578877200000",1.1099,"1.1099",1.1099,"1.1099",0,1578880799999,0,"0","0","0","0"]]"#;
        let rows = parse_klines(body.as_bytes(), Timeframe::H1).unwrap();
        assert_eq!(rows[0].candle.open_time_ms, 1578877200000);
    }

    #[test]
    fn rejects_wrong_shapes_and_wrong_timeframes() {
        assert!(parse_klines(b"{\"code\":-1121,\"msg\":\"Invalid symbol.\"}", Timeframe::H1).is_err());
        assert!(parse_klines(b"[[1578877200000,\"1.1\"]]", Timeframe::H1).is_err());
        assert!(parse_klines(br#"[[1,"x","1","1","1","1",2,"1",1,"0","0","0"]]"#, Timeframe::H1).is_err());
        assert!(parse_klines(b"[[1578877200000,\"1.1", Timeframe::H1).is_err());
        // A 5m bar that happens to open on the hour is still not a 1h bar.
        let err = parse_klines(USDM.as_bytes(), Timeframe::H1).unwrap_err().to_string();
        assert!(err.contains("does not end a 1h bar"), "{err}");
        // An off-grid bar with a consistent span parses; validation quarantines it.
        let off_grid = br#"[[1616339100000,"1","1","1","1","1",1616342699999,"1",1,"0","0","0"]]"#;
        assert_eq!(parse_klines(off_grid, Timeframe::H1).unwrap().len(), 1);
        // A non-finite number parses (validation quarantines the bar); garbage does not.
        let nan = br#"[[1578877200000,"NaN","1","1","1","1",1578880799999,"1",1,"0","0","0"]]"#;
        assert!(parse_klines(nan, Timeframe::H1).unwrap()[0].candle.open.is_nan());
        let garbage = br#"[[1578877200000,"1.2.3","1","1","1","1",1578880799999,"1",1,"0","0","0"]]"#;
        assert!(parse_klines(garbage, Timeframe::H1).is_err());
    }

    /// Issue 12 item 9: `open_time + one bar` used to overflow (a panic) on a time near `i64::MAX`.
    #[test]
    fn times_out_of_range_are_refused_not_overflowed() {
        for (open, close) in [(i64::MAX, i64::MAX), (i64::MIN, i64::MIN), (-3_600_000, -1)] {
            let body = format!(r#"[[{open},"1","1","1","1","1",{close},"1",1,"0","0","0"]]"#);
            let err = parse_klines(body.as_bytes(), Timeframe::H1).unwrap_err().to_string();
            assert!(err.contains("out of range"), "{err}");
        }
    }

    /// The real samples, when `../shared` is beside the repository.
    #[test]
    fn parses_the_shared_reference_samples_when_present() {
        let Some(spot) = crate::samples::read("binance_spot_klines_eurusdt_1h.json") else {
            return;
        };
        let rows = parse_klines(&spot, Timeframe::H1).unwrap();
        assert_eq!(rows.len(), 6);
        assert_eq!(rows[5].candle.trades, Some(0));
        let usdm = crate::samples::read("binance_usdm_futures_klines_btcusdt_5m.json").unwrap();
        assert_eq!(parse_klines(&usdm, Timeframe::M5).unwrap().len(), 2);
    }
}
