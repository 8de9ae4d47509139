//! CryptoCompare (min-api) v2 history: `/data/v2/histohour` (1h, and 4h with `aggregate=4`) and
//! `/data/v2/histoday`, for spot pairs of the CCCAGG aggregate, direct pairs only
//! (`tryConversion=false`: a converted price is not a market's price).
//!
//! A request for `limit` returns `limit + 1` rows ending at `toTs`; the newest may be the period
//! in progress. Requests ask for fixed windows of at most 2,000 hours (see [`crate::window`]).

pub(crate) mod parse;

use std::{sync::Arc, time::Duration};

use candlekeep_core::{Instrument, Market, SourceId, Timeframe, time::format_ms, time::now_ms};
use futures::{FutureExt, future::BoxFuture};

use crate::{
    CandleSource, Page, SourceError,
    http::{HttpConfig, VenueClient, WeightBudget},
    notes,
    window::{window_end, window_page},
};
use parse::parse_history;

/// Source bars per window: the documented maximum `limit` is 2000 (2001 rows), and the server
/// lowers `limit` when `limit × aggregate` exceeds 2000, so aggregated windows are shorter.
pub(crate) const WINDOW_BARS: i64 = 2000;

#[derive(Debug, Clone)]
pub struct CryptoCompareConfig {
    pub base_url: String,
    /// Sent as `Authorization: Apikey …`; none for keyless access.
    pub api_key: Option<String>,
    pub requests_per_minute: u32,
}

impl Default for CryptoCompareConfig {
    fn default() -> Self {
        Self {
            base_url: "https://min-api.cryptocompare.com".into(),
            api_key: None,
            requests_per_minute: 150,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CryptoCompareHistory {
    client: VenueClient,
}

impl CryptoCompareHistory {
    pub fn new(config: &CryptoCompareConfig, http: HttpConfig) -> Result<Self, SourceError> {
        let minute = Duration::from_secs(60);
        let budget = Arc::new(WeightBudget::new(config.requests_per_minute.max(1), minute));
        let mut client =
            VenueClient::new("cryptocompare", &config.base_url, budget, http)?.with_rate_limit_wait(minute);
        if let Some(key) = config.api_key.as_deref().filter(|k| !k.is_empty()) {
            client = client.with_header("authorization", &format!("Apikey {key}"))?;
        }
        Ok(Self { client })
    }

    /// Endpoint and `aggregate` for a timeframe, if CryptoCompare has it.
    fn endpoint(tf: Timeframe) -> Option<(&'static str, u32)> {
        match tf {
            Timeframe::H1 => Some(("/data/v2/histohour", 1)),
            Timeframe::H4 => Some(("/data/v2/histohour", 4)),
            Timeframe::D1 => Some(("/data/v2/histoday", 1)),
            Timeframe::M1 | Timeframe::M5 | Timeframe::M15 => None,
        }
    }

    async fn page(&self, instrument: &Instrument, tf: Timeframe, start: i64, end: i64) -> Result<Page, SourceError> {
        let Some((path, aggregate)) = Self::endpoint(tf) else {
            return Err(SourceError::Config(format!("cryptocompare has no {tf} history")));
        };
        let now = now_ms();
        let wend = window_end(tf, start, end, WINDOW_BARS / i64::from(aggregate));
        let bars = tf.bars_between(start, wend).max(1);
        let to_ts = (wend - tf.millis()) / 1000;
        let query = [
            ("fsym", instrument.base.clone()),
            ("tsym", instrument.quote.clone()),
            ("limit", (bars - 1).max(1).to_string()),
            ("aggregate", aggregate.to_string()),
            ("toTs", to_ts.to_string()),
            ("tryConversion", "false".to_owned()),
        ];
        let context = || {
            format!(
                "cryptocompare {}/{} {tf} {}..{}",
                instrument.base,
                instrument.quote,
                format_ms(start),
                format_ms(wend)
            )
        };
        let history = self.client.get(path, &query, 1, context, parse_history).await?;
        let mut page = window_page(history.rows, tf, (start, wend, end), now, "cryptocompare", true);
        let covered = start..page.covered_until;
        for (times, note) in [
            (history.no_trades, notes::NO_TRADES),
            (history.not_listed, notes::NOT_LISTED),
        ] {
            page.notes.extend(
                runs(times.into_iter().filter(|t| covered.contains(t)), tf)
                    .into_iter()
                    .map(|(a, b)| (a, b, note)),
            );
        }
        Ok(page)
    }
}

/// Consecutive open times merged into `[start, end)` ranges.
fn runs(times: impl Iterator<Item = i64>, tf: Timeframe) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for t in times {
        match out.last_mut() {
            Some(last) if last.1 == t => last.1 = t + tf.millis(),
            _ => out.push((t, t + tf.millis())),
        }
    }
    out
}

impl CandleSource for CryptoCompareHistory {
    fn id(&self) -> SourceId {
        SourceId::CryptoCompare
    }

    /// An aggregate of spot markets: never a source for perpetual-futures series.
    fn serves(&self, market: Market, tf: Timeframe) -> bool {
        market == Market::Spot && Self::endpoint(tf).is_some()
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
