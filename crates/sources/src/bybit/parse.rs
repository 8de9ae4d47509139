//! Bybit v5's envelope and kline rows.

use candlekeep_core::Candle;
use serde::Deserialize;

use crate::{
    http::BodyError,
    numbers::{Int, Num, time_ms},
    window::WindowRow,
};

/// `{"retCode":0,"retMsg":"OK","result":{"list":[…]},…}`; a non-zero `retCode` is an error even
/// with HTTP 200. `retCode` may be a number or (in ccxt fixtures) a string.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "retCode")]
    ret_code: Int,
    #[serde(rename = "retMsg", default)]
    ret_msg: String,
    result: Option<KlineResult>,
}

#[derive(Deserialize)]
struct KlineResult {
    #[serde(default)]
    list: Vec<Row>,
}

/// `[startTime, open, high, low, close, volume, turnover]`, all strings.
#[derive(Deserialize)]
struct Row(Int, Num, Num, Num, Num, Num, Num);

/// What a Bybit `retCode` means for the request.
fn classify(code: i64, msg: String) -> BodyError {
    match code {
        10006 | 10018 | 10429 => BodyError::RateLimited { code, msg },
        10000 | 10016 => BodyError::Unavailable { code, msg },
        _ => BodyError::Rejected { code, msg },
    }
}

/// Parses a `/v5/market/kline` body (newest first). For spot and linear contracts `volume` is
/// base and `turnover` quote volume. Bybit reports no trade count and no "closed" flag: the
/// caller drops the bar that has not ended yet.
pub(crate) fn parse_klines(body: &[u8]) -> Result<Vec<WindowRow>, BodyError> {
    let env: Envelope =
        serde_json::from_slice(body).map_err(|e| BodyError::Malformed(format!("not a Bybit kline envelope: {e}")))?;
    if env.ret_code.0 != 0 {
        return Err(classify(env.ret_code.0, env.ret_msg));
    }
    let result = env
        .result
        .ok_or_else(|| BodyError::Malformed("retCode 0 without a result".into()))?;
    result
        .list
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let candle = Candle {
                open_time_ms: time_ms(r.0.0).map_err(|e| BodyError::Malformed(format!("row {i}: {e}")))?,
                open: r.1.0,
                high: r.2.0,
                low: r.3.0,
                close: r.4.0,
                volume: Some(r.5.0),
                quote_volume: Some(r.6.0),
                trades: None,
            };
            Ok(WindowRow {
                candle,
                confirmed: true,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Shape of ../shared/reference/samples/bybit_kline_btcusdt_linear_1h.json.
    const LINEAR: &str = r#"{"retCode":0,"retMsg":"OK","result":{"symbol":"BTCUSDT","category":"linear","list":[
        ["1706637600000","43376.1","43474.1","43264.8","43352.8","1575.305","68345898.1407"],
        ["1706634000000","43488","43579.5","43286.8","43376.1","3199.431","138878389.2519"]
    ]},"retExtInfo":{},"time":1706803708087}"#;

    #[test]
    fn rows_newest_first_with_base_and_quote_volume() {
        let rows = parse_klines(LINEAR.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        let c = rows[0].candle;
        assert_eq!(c.open_time_ms, 1_706_637_600_000);
        assert_eq!(
            (c.open, c.close, c.volume, c.quote_volume),
            (43376.1, 43352.8, Some(1575.305), Some(68345898.1407))
        );
        assert_eq!(c.trades, None);
    }

    #[test]
    fn string_ret_code_and_errors() {
        let ccxt = LINEAR.replace(r#""retCode":0"#, r#""retCode":"0""#);
        assert_eq!(parse_klines(ccxt.as_bytes()).unwrap().len(), 2);
        let bad = r#"{"retCode":10001,"retMsg":"Not supported symbols","result":{},"retExtInfo":{},"time":1}"#;
        assert!(matches!(
            parse_klines(bad.as_bytes()),
            Err(BodyError::Rejected { code: 10001, .. })
        ));
        let busy = r#"{"retCode":10006,"retMsg":"Too many visits!","result":{},"retExtInfo":{},"time":1}"#;
        assert!(matches!(
            parse_klines(busy.as_bytes()),
            Err(BodyError::RateLimited { code: 10006, .. })
        ));
    }

    #[test]
    fn the_real_samples_parse_when_present() {
        for name in [
            "bybit_kline_btcusdt_linear_1h.json",
            "bybit_kline_btcusdt_linear_1h.ccxt-fixture.json",
        ] {
            let Some(body) = crate::samples::read(name) else {
                continue;
            };
            let rows = parse_klines(&body).unwrap();
            assert_eq!(rows.len(), 3, "{name}");
        }
    }
}
