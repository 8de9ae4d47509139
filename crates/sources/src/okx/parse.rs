//! OKX's envelope and candle rows.

use candlekeep_core::{Candle, Market};
use serde::Deserialize;

use crate::{
    http::BodyError,
    numbers::{Num, time_ms_f64},
    window::WindowRow,
};

/// `{"code":"0","msg":"","data":[…]}`; `code` ≠ "0" is an error even with HTTP 200.
#[derive(Deserialize)]
struct Envelope {
    code: String,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    data: Vec<Vec<serde_json::Value>>,
}

/// What an OKX error code means for the request.
fn classify(code: i64, msg: String) -> BodyError {
    match code {
        50011 | 50061 => BodyError::RateLimited { code, msg },
        50001 | 50004 | 50013 | 50026 => BodyError::Unavailable { code, msg },
        _ => BodyError::Rejected { code, msg },
    }
}

fn num(row: &[serde_json::Value], i: usize, what: &str) -> Result<f64, String> {
    let v = row.get(i).ok_or_else(|| format!("no {what} (field {i})"))?;
    Num::deserialize(v).map(|n| n.0).map_err(|e| format!("{what}: {e}"))
}

/// Parses a `/market/candles` or `/market/history-candles` body. Rows are
/// `[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]` (at least the first seven): for spot
/// `vol` is base and `volCcy` quote volume; for swaps `vol` counts contracts, `volCcy` is base
/// and `volCcyQuote` quote volume. OKX reports no trade count.
pub(crate) fn parse_candles(body: &[u8], market: Market) -> Result<Vec<WindowRow>, BodyError> {
    let env: Envelope =
        serde_json::from_slice(body).map_err(|e| BodyError::Malformed(format!("not an OKX envelope: {e}")))?;
    if env.code != "0" {
        let code = env.code.trim().parse().unwrap_or(-1);
        return Err(classify(code, env.msg));
    }
    env.data
        .iter()
        .enumerate()
        .map(|(i, row)| parse_row(row, market).map_err(|e| BodyError::Malformed(format!("row {i}: {e}"))))
        .collect()
}

fn parse_row(row: &[serde_json::Value], market: Market) -> Result<WindowRow, String> {
    if row.len() < 7 {
        return Err(format!("{} fields, expected at least 7", row.len()));
    }
    let ts = time_ms_f64(num(row, 0, "ts")?).map_err(|e| format!("ts: {e}"))?;
    let quote_volume = match (market, row.len()) {
        (_, 8..) => Some(num(row, 7, "volCcyQuote")?),
        (Market::Spot, _) => Some(num(row, 6, "volCcy")?),
        // The older 7-field swap row has no quote volume: unknown, not made up.
        (Market::UsdM, _) => None,
    };
    let candle = Candle {
        open_time_ms: ts,
        open: num(row, 1, "open")?,
        high: num(row, 2, "high")?,
        low: num(row, 3, "low")?,
        close: num(row, 4, "close")?,
        volume: Some(match market {
            Market::Spot => num(row, 5, "vol")?,
            Market::UsdM => num(row, 6, "volCcy")?,
        }),
        quote_volume,
        trades: None,
    };
    let confirmed = match row.get(8) {
        None => true,
        Some(v) => v.as_str().map(str::trim) != Some("0"),
    };
    Ok(WindowRow { candle, confirmed })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Shape of ../shared/reference/samples/okx_candles_btc_usdt_1h.json (newest first, 9 string
    // fields), with the newest bar still forming.
    const SPOT: &str = r#"{"code":"0","msg":"","data":[
        ["1706641200000","43373.9","43400","43350","43380.1","12.5","542000.5","542000.5","0"],
        ["1706637600000","43398.6","43493.9","43279.9","43373.9","5070.79611732","220057933.233687634","220057933.233687634","1"],
        ["1706634000000","43495.9","43591.7","43300","43398.6","4492.95408114","195072853.268772597","195072853.268772597","1"]
    ]}"#;

    #[test]
    fn spot_rows_newest_first_with_the_forming_bar_flagged() {
        let rows = parse_candles(SPOT.as_bytes(), Market::Spot).unwrap();
        assert_eq!(rows.len(), 3);
        assert!(!rows[0].confirmed && rows[1].confirmed);
        let c = rows[1].candle;
        assert_eq!(c.open_time_ms, 1_706_637_600_000);
        assert_eq!((c.open, c.high, c.low, c.close), (43398.6, 43493.9, 43279.9, 43373.9));
        assert_eq!(
            (c.volume, c.quote_volume, c.trades),
            (Some(5070.79611732), Some("220057933.233687634".parse().unwrap()), None)
        );
    }

    #[test]
    fn swap_volume_is_the_base_currency_column() {
        let body = r#"{"code":"0","msg":"","data":[["1706637600000","43376.1","43474.1","43264.8","43352.8","157530.5","1575.305","68345898.1407","1"]]}"#;
        let rows = parse_candles(body.as_bytes(), Market::UsdM).unwrap();
        assert_eq!(
            (rows[0].candle.volume, rows[0].candle.quote_volume),
            (Some(1575.305), Some(68345898.1407))
        );
        // The older 7-field layout: quote volume for spot; for a swap it is unknown.
        let old = r#"{"code":"0","msg":"","data":[["1706637600000","1","1","1","1","2","3"]]}"#;
        assert_eq!(
            parse_candles(old.as_bytes(), Market::Spot).unwrap()[0]
                .candle
                .quote_volume,
            Some(3.0)
        );
        let swap = parse_candles(old.as_bytes(), Market::UsdM).unwrap();
        assert_eq!((swap[0].candle.volume, swap[0].candle.quote_volume), (Some(3.0), None));
    }

    #[test]
    fn business_errors_in_a_200_are_typed() {
        let unknown = r#"{"code":"51001","msg":"Instrument ID doesn't exist","data":[]}"#;
        assert!(matches!(
            parse_candles(unknown.as_bytes(), Market::Spot),
            Err(BodyError::Rejected { code: 51001, .. })
        ));
        let limited = r#"{"code":"50011","msg":"Too Many Requests","data":[]}"#;
        assert!(matches!(
            parse_candles(limited.as_bytes(), Market::Spot),
            Err(BodyError::RateLimited { code: 50011, .. })
        ));
        // A broken row breaks the page; an impossible bar is validation's (quarantined).
        let broken = r#"{"code":"0","msg":"","data":[["1706637600000","x","1","1","1","2","3","3","1"]]}"#;
        assert!(matches!(
            parse_candles(broken.as_bytes(), Market::Spot),
            Err(BodyError::Malformed(_))
        ));
        let off_grid = r#"{"code":"0","msg":"","data":[["1706637600001","1","1","1","1","2","3","3","1"]]}"#;
        assert_eq!(parse_candles(off_grid.as_bytes(), Market::Spot).unwrap().len(), 1);
    }

    #[test]
    fn the_real_sample_parses_when_present() {
        let Some(body) = crate::samples::read("okx_candles_btc_usdt_1h.json") else {
            return;
        };
        let rows = parse_candles(&body, Market::Spot).unwrap();
        assert_eq!(rows.len(), 3);
        assert!(
            rows.windows(2)
                .all(|w| w[0].candle.open_time_ms > w[1].candle.open_time_ms)
        );
    }
}
