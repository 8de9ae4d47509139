//! OKX v5 candles: `/api/v5/market/candles` for the newest 1,440 bars and
//! `/api/v5/market/history-candles` for older ones; spot `BTC-USDT`, perpetual `BTC-USDT-SWAP`.
//!
//! Rows come newest first with a `confirm` flag; requests ask for fixed windows of
//! [`WINDOW_BARS`] bars between `before` and `after` (see [`crate::window`]). Each endpoint has its
//! own budget (40 and 20 requests per 2 s per IP).

pub(crate) mod parse;

use std::{sync::Arc, time::Duration};

use candlekeep_core::{Instrument, Listing, Market, SourceId, Timeframe, Venue, time::format_ms, time::now_ms};
use futures::{FutureExt, future::BoxFuture};

use parse::parse_candles;

use crate::{
    CandleSource, Page, SourceError,
    http::{HttpConfig, VenueClient, WeightBudget},
    listings::{ListingSource, parse_okx_instruments},
    window::{fitting, window_end, window_page},
};

/// Rows asked per request: 100 is the smallest maximum OKX has documented for history-candles,
/// so the answer is never cut short by the venue.
pub(crate) const LIMIT: usize = 100;
/// Bars per window: below the limit, so a window fits whether the bounds are inclusive or not.
pub(crate) const WINDOW_BARS: i64 = LIMIT as i64 - 2;
/// `/market/candles` reaches this many bars back; older windows go to history-candles.
const RECENT_BARS: i64 = 1_440;

#[derive(Debug, Clone)]
pub struct OkxConfig {
    pub base_url: String,
    /// Requests per 2 s for `/market/candles`; history-candles gets half.
    pub requests_per_2s: u32,
}

impl Default for OkxConfig {
    fn default() -> Self {
        Self {
            base_url: "https://www.okx.com".into(),
            requests_per_2s: 40,
        }
    }
}

#[derive(Debug, Clone)]
pub struct OkxCandles {
    recent: VenueClient,
    history: VenueClient,
}

impl OkxCandles {
    pub fn new(config: &OkxConfig, http: HttpConfig) -> Result<Self, SourceError> {
        let window = Duration::from_secs(2);
        let recent = Arc::new(WeightBudget::new(config.requests_per_2s.max(1), window));
        let history = Arc::new(WeightBudget::new((config.requests_per_2s / 2).max(1), window));
        Ok(Self {
            recent: VenueClient::new("okx", &config.base_url, recent, http.clone())?.with_rate_limit_wait(window),
            history: VenueClient::new("okx", &config.base_url, history, http)?.with_rate_limit_wait(window),
        })
    }

    /// OKX's instrument id: `BTC-USDT` (spot) or `BTC-USDT-SWAP` (perpetual).
    pub fn inst_id(instrument: &Instrument) -> String {
        match instrument.market {
            Market::Spot => format!("{}-{}", instrument.base, instrument.quote),
            Market::UsdM => format!("{}-{}-SWAP", instrument.base, instrument.quote),
        }
    }

    /// OKX's bar code; daily bars use the UTC-aligned `1Dutc` (plain `1D` opens at 16:00 UTC).
    pub fn bar(tf: Timeframe) -> &'static str {
        match tf {
            Timeframe::M1 => "1m",
            Timeframe::M5 => "5m",
            Timeframe::M15 => "15m",
            Timeframe::H1 => "1H",
            Timeframe::H4 => "4H",
            Timeframe::D1 => "1Dutc",
        }
    }

    async fn page(&self, instrument: &Instrument, tf: Timeframe, start: i64, end: i64) -> Result<Page, SourceError> {
        let now = now_ms();
        let wend = window_end(tf, start, end, WINDOW_BARS);
        let inst_id = Self::inst_id(instrument);
        let recent = start >= tf.floor(now) - (RECENT_BARS - WINDOW_BARS - 2) * tf.millis();
        let (client, path) = if recent {
            (&self.recent, "/api/v5/market/candles")
        } else {
            (&self.history, "/api/v5/market/history-candles")
        };
        let query = [
            ("instId", inst_id.clone()),
            ("bar", Self::bar(tf).to_owned()),
            // Exclusive bounds: newer than `before`, older than `after`.
            ("before", (start - 1).to_string()),
            ("after", wend.to_string()),
            ("limit", LIMIT.to_string()),
        ];
        let context = || format!("okx {inst_id} {tf} {}..{}", format_ms(start), format_ms(wend));
        let market = instrument.market;
        let rows = client
            .get(path, &query, 1, context, |body| {
                fitting(parse_candles(body, market)?, WINDOW_BARS)
            })
            .await?;
        Ok(window_page(rows, tf, (start, wend, end), now, "okx", true))
    }
}

impl ListingSource for OkxCandles {
    fn venue(&self) -> Venue {
        Venue::Okx
    }

    fn markets(&self) -> Vec<Market> {
        Market::ALL.to_vec()
    }

    fn listings(&self, market: Market) -> BoxFuture<'_, Result<Vec<Listing>, SourceError>> {
        async move {
            let inst_type = match market {
                Market::Spot => "SPOT",
                Market::UsdM => "SWAP",
            };
            let query = [("instType", inst_type.to_owned())];
            let context = || format!("okx instruments {inst_type}");
            self.history
                .get("/api/v5/public/instruments", &query, 1, context, |body| {
                    parse_okx_instruments(body, market)
                })
                .await
        }
        .boxed()
    }
}

impl CandleSource for OkxCandles {
    fn id(&self) -> SourceId {
        SourceId::OkxRest
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
