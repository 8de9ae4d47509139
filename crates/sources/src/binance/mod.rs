//! Binance spot (`/api/v3/klines`) and USD-M futures (`/fapi/v1/klines`) candles.

mod parse;

use std::{sync::Arc, time::Duration};

use candlekeep_core::{Instrument, Listing, Market, SourceId, Timeframe, Venue, time::format_ms, time::now_ms};
use futures::{FutureExt, future::BoxFuture};

pub(crate) use parse::check_row as check_archive_row;
pub use parse::{RawKline, parse_klines};

use crate::{
    CandleSource, Page, SourceError,
    http::{BodyError, HttpConfig, VenueClient, WeightBudget},
    listings::{ListingSource, parse_binance_exchange_info},
    window::{CLOSE_GRACE_MS, closed_before, drop_outside},
};

#[derive(Debug, Clone)]
pub struct BinanceConfig {
    pub base_url: String,
    pub weight_limit: u32,
    pub weight_window: Duration,
}

impl BinanceConfig {
    /// The public endpoints and documented budgets.
    pub fn default_for(market: Market) -> Self {
        match market {
            Market::Spot => Self {
                base_url: "https://data-api.binance.vision".into(),
                weight_limit: 6000,
                weight_window: Duration::from_secs(60),
            },
            Market::UsdM => Self {
                base_url: "https://fapi.binance.com".into(),
                weight_limit: 2400,
                weight_window: Duration::from_secs(60),
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct BinanceKlines {
    market: Market,
    client: VenueClient,
}

impl BinanceKlines {
    pub fn new(market: Market, config: &BinanceConfig, http: HttpConfig) -> Result<Self, SourceError> {
        let budget = Arc::new(WeightBudget::new(config.weight_limit, config.weight_window));
        let venue = match market {
            Market::Spot => "binance-spot",
            Market::UsdM => "binance-usdm",
        };
        Ok(Self {
            market,
            client: VenueClient::new(venue, &config.base_url, budget, http)?,
        })
    }

    /// Rows per request: the limit that buys the most bars per unit of weight (spot: 1000 for
    /// weight 2; USD-M: 499 for weight 2, where 1000 would cost 5 and 1500 cost 10).
    pub fn page_limit(&self) -> usize {
        match self.market {
            Market::Spot => 1000,
            Market::UsdM => 499,
        }
    }

    /// Request weight of one klines call with `limit` rows, as documented.
    pub fn weight(market: Market, limit: usize) -> u32 {
        match market {
            Market::Spot => 2,
            Market::UsdM => match limit {
                0..100 => 1,
                100..500 => 2,
                500..=1000 => 5,
                _ => 10,
            },
        }
    }

    fn path(&self) -> &'static str {
        match self.market {
            Market::Spot => "/api/v3/klines",
            Market::UsdM => "/fapi/v1/klines",
        }
    }

    async fn page(&self, symbol: &str, tf: Timeframe, start: i64, end: i64) -> Result<Page, SourceError> {
        let limit = self.page_limit();
        let query = [
            ("symbol", symbol.to_owned()),
            ("interval", tf.as_str().to_owned()),
            ("startTime", start.to_string()),
            ("endTime", (end - 1).to_string()),
            ("limit", limit.to_string()),
        ];
        let context = || {
            format!(
                "{} {symbol} {tf} {}..{}",
                self.client.venue(),
                format_ms(start),
                format_ms(end)
            )
        };
        let rows = self
            .client
            .get(self.path(), &query, Self::weight(self.market, limit), context, |body| {
                parse_klines(body, tf).map_err(|e| BodyError::Malformed(e.to_string()))
            })
            .await?;
        Ok(page_from_rows(
            rows,
            tf,
            (start, end),
            limit,
            now_ms(),
            self.client.venue(),
        ))
    }
}

/// Keeps the closed bars inside `[start, end)` and works out how far the answer reaches. A full
/// page reaches exactly to its last bar inside the request: rows outside the request (a venue
/// ignoring `endTime`, a stray row) are dropped and counted, never taken as coverage.
pub(crate) fn page_from_rows(
    mut rows: Vec<RawKline>,
    tf: Timeframe,
    (start, end): (i64, i64),
    limit: usize,
    now: i64,
    venue: &str,
) -> Page {
    // Full means the venue may have cut the answer at `limit` rows, whatever they hold.
    let full = rows.len() >= limit;
    let dropped = drop_outside(&mut rows, |r| r.candle.open_time_ms, start, end, venue, true);
    rows.sort_by_key(|r| r.candle.open_time_ms);
    rows.dedup_by_key(|r| r.candle.open_time_ms);
    let closed_before = closed_before(tf, now);
    let reach = if full {
        rows.last()
            .map_or(start, |r| r.candle.open_time_ms.saturating_add(tf.millis()))
    } else {
        end
    };
    let covered_until = reach.min(end).min(closed_before).max(start);
    let candles = rows
        .into_iter()
        .filter(|r| r.close_time_ms.saturating_add(CLOSE_GRACE_MS) < now)
        .map(|r| r.candle)
        .filter(|c| c.open_time_ms < covered_until)
        .collect();
    Page {
        candles,
        covered_until,
        exhausted: !full || covered_until >= end || covered_until >= closed_before,
        points: Vec::new(),
        notes: Vec::new(),
        dropped_out_of_window: dropped,
    }
}

impl ListingSource for BinanceKlines {
    fn venue(&self) -> Venue {
        Venue::Binance
    }

    fn markets(&self) -> Vec<Market> {
        vec![self.market]
    }

    fn listings(&self, market: Market) -> BoxFuture<'_, Result<Vec<Listing>, SourceError>> {
        async move {
            let (path, weight) = match self.market {
                Market::Spot => ("/api/v3/exchangeInfo", 20),
                Market::UsdM => ("/fapi/v1/exchangeInfo", 1),
            };
            if market != self.market {
                return Ok(Vec::new());
            }
            let context = || format!("{} exchangeInfo", self.client.venue());
            self.client
                .get(path, &[], weight, context, |body| {
                    parse_binance_exchange_info(body, market)
                })
                .await
        }
        .boxed()
    }
}

impl CandleSource for BinanceKlines {
    fn id(&self) -> SourceId {
        match self.market {
            Market::Spot => SourceId::BinanceSpotRest,
            Market::UsdM => SourceId::BinanceUsdmRest,
        }
    }

    fn serves(&self, market: Market, _tf: Timeframe) -> bool {
        market == self.market
    }

    fn fetch_page<'a>(
        &'a self,
        instrument: &'a Instrument,
        tf: Timeframe,
        start_ms: i64,
        end_ms: i64,
    ) -> BoxFuture<'a, Result<Page, SourceError>> {
        async move { self.page(&instrument.symbol(), tf, start_ms, end_ms).await }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn rows(opens: &[i64]) -> Vec<RawKline> {
        opens
            .iter()
            .map(|&t| RawKline {
                candle: candlekeep_core::Candle {
                    open_time_ms: t,
                    open: 1.0,
                    high: 1.0,
                    low: 1.0,
                    close: 1.0,
                    volume: Some(0.0),
                    quote_volume: Some(0.0),
                    trades: Some(0),
                },
                close_time_ms: t + H - 1,
            })
            .collect()
    }

    #[test]
    fn full_page_covers_up_to_its_last_bar() {
        let p = page_from_rows(rows(&[0, H, 3 * H]), Timeframe::H1, (0, 100 * H), 3, 1000 * H, "test");
        assert_eq!(p.candles.len(), 3);
        assert_eq!(p.covered_until, 4 * H);
        assert!(!p.exhausted);
    }

    #[test]
    fn short_page_covers_the_whole_request_but_not_the_open_bar() {
        // now is 10h30: the 10h bar is open, and the request reaches beyond now.
        let now = 10 * H + H / 2;
        let p = page_from_rows(
            rows(&[8 * H, 9 * H, 10 * H]),
            Timeframe::H1,
            (8 * H, 20 * H),
            1000,
            now,
            "test",
        );
        assert_eq!(
            p.candles.iter().map(|c| c.open_time_ms).collect::<Vec<_>>(),
            vec![8 * H, 9 * H]
        );
        assert_eq!(p.covered_until, 10 * H);
        assert!(p.exhausted);
        // A bar that closed less than the grace ago is still treated as open.
        let p = page_from_rows(
            rows(&[9 * H]),
            Timeframe::H1,
            (8 * H, 20 * H),
            1000,
            10 * H + 10,
            "test",
        );
        assert!(p.candles.is_empty());
        assert_eq!(p.covered_until, 9 * H);
    }

    /// Issue 12 item 1: one row past `endTime` in a full page used to set the coverage to that
    /// row, recording the rest of the request as answered with no bars.
    #[test]
    fn a_stray_row_past_the_end_of_a_full_page_covers_nothing() {
        let p = page_from_rows(rows(&[0, H, 90 * H]), Timeframe::H1, (0, 10 * H), 3, 1000 * H, "test");
        assert_eq!(p.candles.len(), 2);
        assert_eq!(p.covered_until, 2 * H, "only up to the last in-window row");
        assert_eq!(p.dropped_out_of_window, 1);
        assert!(!p.exhausted);
    }

    #[test]
    fn empty_answer_before_listing_covers_the_range() {
        let p = page_from_rows(vec![], Timeframe::H1, (0, 50 * H), 1000, 1000 * H, "test");
        assert_eq!((p.covered_until, p.exhausted), (50 * H, true));
    }

    #[test]
    fn usdm_limit_buys_the_most_bars_per_weight() {
        let best = (1..=1500).max_by(|a, b| {
            let ea = *a as f64 / BinanceKlines::weight(Market::UsdM, *a) as f64;
            let eb = *b as f64 / BinanceKlines::weight(Market::UsdM, *b) as f64;
            ea.total_cmp(&eb).then(b.cmp(a))
        });
        assert_eq!(best, Some(499));
    }
}
