//! CoinGecko as the last candle source: `/coins/{id}/ohlc`.
//!
//! CoinGecko has no range parameter and picks the candle size from `days`: `days=1` gives
//! 30-minute candles for the last day, `days=30` 4-hour candles for the last 30 days. An hourly
//! bar is built only from its two complete 30-minute halves (CoinGecko's own OHLC, not
//! interpolated); 4-hour bars are taken as they are. Timestamps are candle *close* times.
//! CoinGecko reports no volume per candle, so these bars carry none. Each page also fetches
//! `/market_chart` for the same span and hands its points over as what they are (a price at an
//! instant off the hour, the market cap, and the *trailing 24-hour* volume), stored apart from
//! candles in `market_points`: never a candle, never a bar's volume.

use std::collections::HashMap;

use candlekeep_core::{
    Candle, Instrument, Market, MarketPoint, SourceId, Timeframe,
    time::{DAY_MS, now_ms},
};
use futures::{FutureExt, future::BoxFuture};

use super::CoinGecko;
use crate::{
    CandleSource, Page, SourceError,
    http::BodyError,
    numbers::time_ms_f64,
    window::{WindowRow, window_page},
};

const HALF_HOUR_MS: i64 = 1_800_000;

/// `{"prices":[[ms, p],…], "market_caps":[[ms, c],…], "total_volumes":[[ms, v],…]}`: three
/// parallel arrays, ascending, joined by timestamp into points. The timestamps are not on the
/// hour and the last one is "now"; `total_volumes` is the trailing 24-hour volume at that instant.
pub(crate) fn parse_market_chart(body: &[u8]) -> Result<Vec<MarketPoint>, BodyError> {
    #[derive(serde::Deserialize)]
    struct Chart {
        prices: Vec<(f64, f64)>,
        #[serde(default)]
        market_caps: Vec<(f64, f64)>,
        #[serde(default)]
        total_volumes: Vec<(f64, f64)>,
    }
    let chart: Chart = serde_json::from_slice(body)
        .map_err(|e| BodyError::Malformed(format!("not a /coins/{{id}}/market_chart object: {e}")))?;
    let caps: HashMap<i64, f64> = chart.market_caps.iter().map(|(t, v)| (*t as i64, *v)).collect();
    let volumes: HashMap<i64, f64> = chart.total_volumes.iter().map(|(t, v)| (*t as i64, *v)).collect();
    chart
        .prices
        .iter()
        .map(|(t, price)| {
            let at_ms = time_ms_f64(*t).map_err(BodyError::Malformed)?;
            if !price.is_finite() || *price < 0.0 {
                return Err(BodyError::Malformed(format!("price {price} at {at_ms}")));
            }
            Ok(MarketPoint {
                at_ms,
                price: *price,
                market_cap: caps.get(&at_ms).copied(),
                volume_24h: volumes.get(&at_ms).copied(),
            })
        })
        .collect()
}

/// `[[close_ms, open, high, low, close], …]`, ascending.
pub(crate) fn parse_ohlc(body: &[u8]) -> Result<Vec<[f64; 5]>, BodyError> {
    serde_json::from_slice(body).map_err(|e| BodyError::Malformed(format!("not a /coins/{{id}}/ohlc array: {e}")))
}

/// Hourly bars from 30-minute candles (by close time): an hour with both halves only. Close
/// times are range-checked already, so `close - 30 min` and `open + 30 min` cannot overflow.
fn hourly_from_halves(rows: &[(i64, [f64; 5])]) -> Vec<Candle> {
    let halves: HashMap<i64, [f64; 5]> = rows.iter().map(|(close, r)| (close - HALF_HOUR_MS, *r)).collect();
    let mut opens: Vec<i64> = halves.keys().copied().filter(|t| t % (2 * HALF_HOUR_MS) == 0).collect();
    opens.sort_unstable();
    opens
        .into_iter()
        .filter_map(|t| {
            let (a, b) = (halves.get(&t)?, halves.get(&(t + HALF_HOUR_MS))?);
            Some(Candle {
                open_time_ms: t,
                open: a[1],
                high: a[2].max(b[2]),
                low: a[3].min(b[3]),
                close: b[4],
                volume: None,
                quote_volume: None,
                trades: None,
            })
        })
        .collect()
}

/// Bars of `tf` from one `/ohlc` answer of the matching `days`.
pub(crate) fn bars_from_ohlc(rows: &[[f64; 5]], tf: Timeframe) -> Result<Vec<WindowRow>, BodyError> {
    let rows = rows
        .iter()
        .map(|r| Ok((time_ms_f64(r[0]).map_err(BodyError::Malformed)?, *r)))
        .collect::<Result<Vec<_>, BodyError>>()?;
    let candles = match tf {
        Timeframe::H1 => hourly_from_halves(&rows),
        _ => rows
            .iter()
            .map(|(close, r)| Candle {
                open_time_ms: close - tf.millis(),
                open: r[1],
                high: r[2],
                low: r[3],
                close: r[4],
                volume: None,
                quote_volume: None,
                trades: None,
            })
            .filter(|c| tf.floor(c.open_time_ms) == c.open_time_ms)
            .collect(),
    };
    Ok(candles
        .into_iter()
        .map(|candle| WindowRow {
            candle,
            confirmed: true,
        })
        .collect())
}

/// CoinGecko candles for the coins it knows by id.
#[derive(Debug, Clone)]
pub struct CoinGeckoOhlc {
    api: CoinGecko,
    /// Base asset (`BTC`) → CoinGecko id (`bitcoin`).
    ids: HashMap<String, String>,
}

impl CoinGeckoOhlc {
    pub fn new(api: CoinGecko, ids: HashMap<String, String>) -> Self {
        Self { api, ids }
    }

    /// `days` and how far back the answer reaches, for a timeframe CoinGecko can serve.
    fn days(tf: Timeframe) -> Option<(u32, i64)> {
        match tf {
            Timeframe::H1 => Some((1, DAY_MS)),
            Timeframe::H4 => Some((30, 30 * DAY_MS)),
            _ => None,
        }
    }

    async fn page(&self, instrument: &Instrument, tf: Timeframe, start: i64, end: i64) -> Result<Page, SourceError> {
        let (Some((days, reach)), Some(id)) = (Self::days(tf), self.ids.get(&instrument.base)) else {
            return Err(SourceError::Config(format!(
                "coingecko has no {tf} candles for {} (unknown coin or timeframe)",
                instrument.base
            )));
        };
        let now = now_ms();
        // Older than CoinGecko's reach at this granularity: it has nothing, now or later.
        let reach_start = tf.ceil(now - reach) + tf.millis();
        if start < reach_start {
            return Ok(Page {
                candles: Vec::new(),
                covered_until: reach_start.min(end),
                exhausted: reach_start >= end,
                points: Vec::new(),
                notes: vec![(start, reach_start.min(end), crate::notes::HISTORY_CAP)],
                dropped_out_of_window: 0,
            });
        }
        let vs = match instrument.quote.as_str() {
            "USDT" | "USDC" | "USD" | "FDUSD" => "usd".to_owned(),
            other => other.to_ascii_lowercase(),
        };
        let query = [("vs_currency", vs.clone()), ("days", days.to_string())];
        let path = format!("/coins/{id}/ohlc");
        let context = || format!("coingecko {path} days={days}");
        let rows = self
            .api
            .client
            .get(&path, &query, 1, context, |body| bars_from_ohlc(&parse_ohlc(body)?, tf))
            .await?;
        let mut page = window_page(rows, tf, (start, end, end), now, "coingecko", false);
        // The chart of the same span (hourly points from 2 days on) comes along, kept as points.
        let chart_days = days.max(2);
        let query = [("vs_currency", vs), ("days", chart_days.to_string())];
        let path = format!("/coins/{id}/market_chart");
        let context = || format!("coingecko {path} days={chart_days}");
        page.points = self
            .api
            .client
            .get(&path, &query, 1, context, parse_market_chart)
            .await?;
        Ok(page)
    }
}

impl CandleSource for CoinGeckoOhlc {
    fn id(&self) -> SourceId {
        SourceId::CoinGecko
    }

    /// Spot-like USD prices, 1h and 4h only.
    fn serves(&self, market: Market, tf: Timeframe) -> bool {
        market == Market::Spot && Self::days(tf).is_some()
    }

    fn fetch_page<'a>(
        &'a self,
        instrument: &'a Instrument,
        tf: Timeframe,
        start_ms: i64,
        end_ms: i64,
    ) -> BoxFuture<'a, Result<Page, SourceError>> {
        self.page(instrument, tf, start_ms, end_ms).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    #[test]
    fn an_hour_needs_both_of_its_halves() {
        // Close times: 00:30, 01:00 (hour 0 complete), 01:30 (hour 1 half only).
        let rows = [
            [(H / 2) as f64, 10.0, 12.0, 9.0, 11.0],
            [H as f64, 11.0, 13.0, 10.5, 12.5],
            [(H + H / 2) as f64, 12.5, 12.6, 12.0, 12.1],
        ];
        let bars = bars_from_ohlc(&rows, Timeframe::H1).unwrap();
        assert_eq!(bars.len(), 1);
        let c = bars[0].candle;
        assert_eq!(
            (c.open_time_ms, c.open, c.high, c.low, c.close),
            (0, 10.0, 13.0, 9.0, 12.5)
        );
        assert_eq!((c.volume, c.quote_volume, c.trades), (None, None, None));
    }

    #[test]
    fn four_hour_candles_open_one_bar_before_their_close_time() {
        let body = b"[[1709395200000, 61942, 62211, 61721, 61845],[1709409600000, 61828, 62139, 61726, 62139]]";
        let bars = bars_from_ohlc(&parse_ohlc(body).unwrap(), Timeframe::H4).unwrap();
        assert_eq!(bars[0].candle.open_time_ms, 1_709_395_200_000 - 4 * H);
        assert_eq!(bars[1].candle.close, 62139.0);
    }

    /// Issue 12 item 9: `close as i64 - 30 min` used to overflow on a huge or negative close time.
    #[test]
    fn close_times_out_of_range_are_malformed() {
        for body in [&b"[[-9.3e18,1,1,1,1]]"[..], b"[[1e300,1,1,1,1]]", b"[[1.5,1,1,1,1]]"] {
            for tf in [Timeframe::H1, Timeframe::H4] {
                assert!(matches!(
                    bars_from_ohlc(&parse_ohlc(body).unwrap(), tf),
                    Err(BodyError::Malformed(_))
                ));
            }
        }
    }

    #[test]
    fn chart_points_keep_their_own_instants_and_24h_volumes() {
        let body = br#"{"prices":[[1704067241331,42261.04],[1704070847420,42493.27]],
            "market_caps":[[1704067241331,827596236151.196],[1704070847420,831531023621.411]],
            "total_volumes":[[1704067241331,14563463512.22],[1704070847420,14700000000.5]]}"#;
        let points = parse_market_chart(body).unwrap();
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].at_ms, 1_704_067_241_331, "not moved onto the hour");
        assert_eq!(points[0].volume_24h, Some(14563463512.22));
        assert!(parse_market_chart(b"[]").is_err());
    }

    #[test]
    fn the_real_samples_parse_when_present() {
        if let Some(body) = crate::samples::read("coingecko_ohlc_rublix_usd_7d.json") {
            let bars = bars_from_ohlc(&parse_ohlc(&body).unwrap(), Timeframe::H4).unwrap();
            assert!(!bars.is_empty());
        }
        if let Some(body) = crate::samples::read("coingecko_market_chart_range_bitcoin_usd_hourly.docs-example.json") {
            let points = parse_market_chart(&body).unwrap();
            assert!(
                points
                    .iter()
                    .all(|p| p.volume_24h.is_some() && p.at_ms % 3_600_000 != 0)
            );
        }
    }
}
