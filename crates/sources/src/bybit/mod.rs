//! Bybit v5 klines (`/v5/market/kline`), categories `spot` and `linear`, `BTCUSDT` in both.
//!
//! Rows come newest first and the newest is usually unfinished; `start` and `end` are
//! inclusive. Requests ask for fixed windows of [`WINDOW_BARS`] bars (see [`crate::window`]).
//! Bybit's public limit is 600 requests per 5 s per IP, and breaching it gets HTTP 403 and a ban
//! of at least 10 minutes, so the default budget keeps to half of it and every 403 is a ban.

pub(crate) mod parse;

use std::{sync::Arc, time::Duration};

use candlekeep_core::{Instrument, Listing, Market, SourceId, Timeframe, Venue, time::format_ms, time::now_ms};
use futures::{FutureExt, future::BoxFuture};

use crate::{
    CandleSource, Page, SourceError,
    http::{HttpConfig, VenueClient, WeightBudget},
    listings::{ListingSource, parse_bybit_instruments},
    window::{fitting, window_end, window_page},
};
use parse::parse_klines;

pub(crate) const LIMIT: usize = 1000;
pub(crate) const WINDOW_BARS: i64 = LIMIT as i64 - 2;
/// How long Bybit's rate-limit ban lasts when it does not say.
const BAN: Duration = Duration::from_secs(600);

#[derive(Debug, Clone)]
pub struct BybitConfig {
    pub base_url: String,
    pub requests_per_5s: u32,
}

impl Default for BybitConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.bybit.com".into(),
            requests_per_5s: 300,
        }
    }
}

#[derive(Debug, Clone)]
pub struct BybitKlines {
    client: VenueClient,
}

impl BybitKlines {
    pub fn new(config: &BybitConfig, http: HttpConfig) -> Result<Self, SourceError> {
        let window = Duration::from_secs(5);
        let budget = Arc::new(WeightBudget::new(config.requests_per_5s.max(1), window));
        let client = VenueClient::new("bybit", &config.base_url, budget, http)?
            .with_403_ban(BAN)
            .with_rate_limit_wait(window);
        Ok(Self { client })
    }

    pub fn category(market: Market) -> &'static str {
        match market {
            Market::Spot => "spot",
            Market::UsdM => "linear",
        }
    }

    /// Bybit's interval: minutes, or `D` for a day.
    pub fn interval(tf: Timeframe) -> &'static str {
        match tf {
            Timeframe::M1 => "1",
            Timeframe::M5 => "5",
            Timeframe::M15 => "15",
            Timeframe::H1 => "60",
            Timeframe::H4 => "240",
            Timeframe::D1 => "D",
        }
    }

    async fn page(&self, instrument: &Instrument, tf: Timeframe, start: i64, end: i64) -> Result<Page, SourceError> {
        let now = now_ms();
        let wend = window_end(tf, start, end, WINDOW_BARS);
        let symbol = instrument.symbol();
        let category = Self::category(instrument.market);
        let query = [
            ("category", category.to_owned()),
            ("symbol", symbol.clone()),
            ("interval", Self::interval(tf).to_owned()),
            ("start", start.to_string()),
            ("end", (wend - 1).to_string()),
            ("limit", LIMIT.to_string()),
        ];
        let context = || {
            format!(
                "bybit {category} {symbol} {tf} {}..{}",
                format_ms(start),
                format_ms(wend)
            )
        };
        let rows = self
            .client
            .get("/v5/market/kline", &query, 1, context, |body| {
                fitting(parse_klines(body)?, WINDOW_BARS)
            })
            .await?;
        Ok(window_page(rows, tf, (start, wend, end), now, "bybit", true))
    }
}

impl ListingSource for BybitKlines {
    fn venue(&self) -> Venue {
        Venue::Bybit
    }

    fn markets(&self) -> Vec<Market> {
        Market::ALL.to_vec()
    }

    /// Spot comes in one page; linear pages through `nextPageCursor`, passed back unchanged
    /// (it is already URL-encoded, so it goes into the path, not through the query encoder).
    fn listings(&self, market: Market) -> BoxFuture<'_, Result<Vec<Listing>, SourceError>> {
        async move {
            let category = Self::category(market);
            let mut all = Vec::new();
            let mut cursor = String::new();
            for page in 1.. {
                let path = if cursor.is_empty() {
                    "/v5/market/instruments-info".to_owned()
                } else {
                    format!("/v5/market/instruments-info?cursor={cursor}")
                };
                let query = [("category", category.to_owned()), ("limit", "1000".to_owned())];
                let context = || format!("bybit instruments-info {category} page {page}");
                let (listings, next) = self
                    .client
                    .get(&path, &query, 1, context, |body| parse_bybit_instruments(body, market))
                    .await?;
                all.extend(listings);
                if next.is_empty() || next == cursor || page >= 100 {
                    break;
                }
                cursor = next;
            }
            Ok(all)
        }
        .boxed()
    }
}

impl CandleSource for BybitKlines {
    fn id(&self) -> SourceId {
        SourceId::BybitRest
    }

    fn serves(&self, _market: Market, _tf: Timeframe) -> bool {
        true
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
