//! CryptoCompare's v2 `histohour` / `histoday` envelope and rows.

use candlekeep_core::Candle;
use serde::Deserialize;

use crate::{
    http::BodyError,
    numbers::{Int, Num, time_s},
    window::WindowRow,
};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope {
    response: String,
    #[serde(default)]
    message: String,
    #[serde(rename = "Type", default)]
    kind: Option<Int>,
    data: Option<serde_json::Value>,
}

/// Rows are read by key, never by position (v1 and v2 order them differently).
#[derive(Deserialize)]
struct Row {
    time: Int,
    open: Num,
    high: Num,
    low: Num,
    close: Num,
    volumefrom: Num,
    volumeto: Num,
}

/// Parses a v2 history body: `{"Response":"Success",…,"Data":{…,"Data":[rows]}}`. Errors come
/// with HTTP 200 and `"Response":"Error"`: Type 99 is the rate limit, anything else (Type 2: no
/// such pair) refuses the request. Rows without volume are dropped: before the pair existed they
/// come as all zeros, and an hour without trades comes as the previous close with no volume,
/// a filler rather than a candle. `volumefrom` is base and `volumeto` quote volume; there is no
/// trade count.
/// Bars, and the open times CryptoCompare says had no trades or no pair yet.
#[derive(Debug, Default)]
pub(crate) struct History {
    pub rows: Vec<WindowRow>,
    pub no_trades: Vec<i64>,
    pub not_listed: Vec<i64>,
}

pub(crate) fn parse_history(body: &[u8]) -> Result<History, BodyError> {
    let env: Envelope =
        serde_json::from_slice(body).map_err(|e| BodyError::Malformed(format!("not a CryptoCompare envelope: {e}")))?;
    if env.response != "Success" {
        let code = env.kind.map_or(0, |k| k.0);
        return Err(match code {
            99 => BodyError::RateLimited { code, msg: env.message },
            _ => BodyError::Rejected { code, msg: env.message },
        });
    }
    let rows = env
        .data
        .as_ref()
        .and_then(|d| d.get("Data"))
        .ok_or_else(|| BodyError::Malformed("Response Success without Data.Data".into()))?;
    let rows: Vec<Row> = Vec::deserialize(rows).map_err(|e| BodyError::Malformed(format!("history rows: {e}")))?;
    let mut out = History::default();
    for r in rows {
        let t = time_s(r.time.0).map_err(BodyError::Malformed)?;
        if r.volumefrom.0 == 0.0 && r.volumeto.0 == 0.0 {
            if [r.open.0, r.high.0, r.low.0, r.close.0].iter().all(|v| *v == 0.0) {
                out.not_listed.push(t);
            } else {
                out.no_trades.push(t);
            }
            continue;
        }
        out.rows.push({
            let candle = Candle {
                open_time_ms: t,
                open: r.open.0,
                high: r.high.0,
                low: r.low.0,
                close: r.close.0,
                volume: Some(r.volumefrom.0),
                quote_volume: Some(r.volumeto.0),
                trades: None,
            };
            WindowRow {
                candle,
                confirmed: true,
            }
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Shape of ../shared/reference/samples/cryptocompare_v2_histoday_btc_usd_limit30.json, hourly,
    // with a pre-listing zero row first and a no-trade filler last.
    const HOURLY: &str = r#"{"Response":"Success","Message":"","HasWarning":false,"Type":100,"RateLimit":{},
        "Data":{"Aggregated":false,"TimeFrom":1706630400,"TimeTo":1706637600,"Data":[
        {"time":1706630400,"high":0,"low":0,"open":0,"volumefrom":0,"volumeto":0,"close":0,"conversionType":"direct","conversionSymbol":""},
        {"time":1706634000,"high":43591.7,"low":43300,"open":43495.9,"volumefrom":4492.95,"volumeto":195072853.26,"close":43398.6,"conversionType":"direct","conversionSymbol":""},
        {"time":1706637600,"high":43493.9,"low":43279.9,"open":43398.6,"volumefrom":5070.79,"volumeto":220057933.23,"close":43373.9,"conversionType":"direct","conversionSymbol":""},
        {"time":1706641200,"high":43373.9,"low":43373.9,"open":43373.9,"volumefrom":0,"volumeto":0,"close":43373.9,"conversionType":"direct","conversionSymbol":""}]}}"#;

    #[test]
    fn rows_by_key_in_seconds_without_zero_or_filler_rows() {
        let history = parse_history(HOURLY.as_bytes()).unwrap();
        let rows = &history.rows;
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (history.not_listed, history.no_trades),
            (vec![1_706_630_400_000], vec![1_706_641_200_000])
        );
        let c = rows[0].candle;
        assert_eq!(c.open_time_ms, 1_706_634_000_000);
        assert_eq!((c.open, c.high, c.low, c.close), (43495.9, 43591.7, 43300.0, 43398.6));
        assert_eq!(
            (c.volume, c.quote_volume, c.trades),
            (Some(4492.95), Some(195072853.26), None)
        );
    }

    #[test]
    fn error_envelopes() {
        let limit = r#"{"Response":"Error","Message":"You are over your rate limit please upgrade your account!","HasWarning":false,"Type":99,"RateLimit":{},"Data":{}}"#;
        assert!(matches!(
            parse_history(limit.as_bytes()),
            Err(BodyError::RateLimited { code: 99, .. })
        ));
        let pair = r#"{"Response":"Error","Message":"cccagg_or_exchange market does not exist for this coin pair (XXX-USDT)","HasWarning":false,"Type":2,"RateLimit":{},"Data":{},"Cooldown":0}"#;
        assert!(matches!(
            parse_history(pair.as_bytes()),
            Err(BodyError::Rejected { code: 2, .. })
        ));
    }

    #[test]
    fn the_real_daily_sample_parses_when_present() {
        let Some(body) = crate::samples::read("cryptocompare_v2_histoday_btc_usd_limit30.json") else {
            return;
        };
        let rows = parse_history(&body).unwrap().rows;
        assert_eq!(rows.len(), 31, "limit 30 gives 31 rows");
    }
}
