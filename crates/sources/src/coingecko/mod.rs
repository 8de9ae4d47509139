//! CoinGecko v3: the market-cap ranking (`/coins/markets`) that defines the universe, the
//! coin-id list (`/coins/list`), and candles of last resort ([`ohlc`]). Keyless, Demo (`x-cg-demo-api-key`) or Pro
//! (`x-cg-pro-api-key`, on the pro host); every call costs one credit, so the budget is per
//! minute and the id list is cached by the caller.

pub mod ohlc;

use std::{sync::Arc, time::Duration};

use candlekeep_core::Asset;
use serde::Deserialize;

use crate::{
    SourceError,
    http::{BodyError, HttpConfig, VenueClient, WeightBudget},
};

const PER_PAGE: usize = 250;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CoinGeckoPlan {
    Demo,
    Pro,
}

#[derive(Debug, Clone)]
pub struct CoinGeckoConfig {
    pub base_url: String,
    /// Sent as `x-cg-demo-api-key` or `x-cg-pro-api-key`; none for keyless access.
    pub api_key: Option<String>,
    pub plan: CoinGeckoPlan,
    pub requests_per_minute: u32,
}

impl Default for CoinGeckoConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.coingecko.com/api/v3".into(),
            api_key: None,
            plan: CoinGeckoPlan::Demo,
            requests_per_minute: 30,
        }
    }
}

/// One entry of `/coins/list`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CoinId {
    pub id: String,
    pub symbol: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct CoinGecko {
    client: VenueClient,
}

#[derive(Deserialize)]
struct MarketRow {
    id: String,
    symbol: String,
    name: String,
    market_cap_rank: Option<u32>,
}

/// Parses `/coins/markets` (an array of objects; only id, symbol, name and rank are read).
pub fn parse_markets(body: &[u8]) -> Result<Vec<Asset>, BodyError> {
    let rows: Vec<MarketRow> =
        serde_json::from_slice(body).map_err(|e| BodyError::Malformed(format!("not a /coins/markets array: {e}")))?;
    Ok(rows
        .into_iter()
        .map(|r| Asset {
            symbol: r.symbol.trim().to_ascii_uppercase(),
            coingecko_id: r.id,
            name: r.name,
            market_cap_rank: r.market_cap_rank,
        })
        .collect())
}

/// Parses `/coins/list`.
pub fn parse_coins_list(body: &[u8]) -> Result<Vec<CoinId>, BodyError> {
    serde_json::from_slice(body).map_err(|e| BodyError::Malformed(format!("not a /coins/list array: {e}")))
}

impl CoinGecko {
    pub fn new(config: &CoinGeckoConfig, http: HttpConfig) -> Result<Self, SourceError> {
        let minute = Duration::from_secs(60);
        let budget = Arc::new(WeightBudget::new(config.requests_per_minute.max(1), minute));
        let mut client = VenueClient::new("coingecko", &config.base_url, budget, http)?.with_rate_limit_wait(minute);
        if let Some(key) = config.api_key.as_deref().filter(|k| !k.is_empty()) {
            let header = match config.plan {
                CoinGeckoPlan::Demo => "x-cg-demo-api-key",
                CoinGeckoPlan::Pro => "x-cg-pro-api-key",
            };
            client = client.with_header(header, key)?;
        }
        Ok(Self { client })
    }

    /// The `n` largest coins by market cap, best first; a symbol shared by several coins goes
    /// to the best-ranked one.
    pub async fn top_assets(&self, n: usize) -> Result<Vec<Asset>, SourceError> {
        let mut assets: Vec<Asset> = Vec::with_capacity(n);
        let pages = n.div_ceil(PER_PAGE).max(1);
        for page in 1..=pages {
            let query = [
                ("vs_currency", "usd".to_owned()),
                ("order", "market_cap_desc".to_owned()),
                ("per_page", n.min(PER_PAGE).to_string()),
                ("page", page.to_string()),
                ("sparkline", "false".to_owned()),
            ];
            let context = || format!("coingecko /coins/markets page {page}");
            let rows = self
                .client
                .get("/coins/markets", &query, 1, context, parse_markets)
                .await?;
            let short = rows.len() < n.min(PER_PAGE);
            assets.extend(rows);
            if short {
                break;
            }
        }
        assets.truncate(n);
        let mut seen = std::collections::HashSet::new();
        assets.retain(|a| !a.symbol.is_empty() && seen.insert(a.symbol.clone()));
        Ok(assets)
    }

    /// The raw `/coins/list` body (for the caller's 24-hour cache) after checking it parses.
    pub async fn coins_list_body(&self) -> Result<Vec<u8>, SourceError> {
        let context = || "coingecko /coins/list".to_owned();
        self.client
            .get("/coins/list", &[], 1, context, |body| {
                parse_coins_list(body).map(|_| body.to_vec())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markets_rows_with_nulls_and_exponents() {
        let body = r#"[{"id":"bitcoin","symbol":"btc","name":"Bitcoin","image":"x","current_price":21109,"market_cap":407948005392,"market_cap_rank":1,"fully_diluted_valuation":null,"total_volume":25289480031,"roi":null,"last_updated":"2023-01-16T10:00:00.000Z"},
            {"id":"shiba-inu","symbol":"shib","name":"Shiba Inu","current_price":6.88313e-7,"market_cap_rank":null,"roi":{"times":1.0,"currency":"usd","percentage":100.0}}]"#;
        let a = parse_markets(body.as_bytes()).unwrap();
        assert_eq!(
            (a[0].symbol.as_str(), a[0].coingecko_id.as_str(), a[0].market_cap_rank),
            ("BTC", "bitcoin", Some(1))
        );
        assert_eq!(a[1].market_cap_rank, None);
    }

    #[test]
    fn the_real_samples_parse_when_present() {
        if let Some(body) = crate::samples::read("coingecko_coins_markets_usd.json") {
            assert_eq!(parse_markets(&body).unwrap()[0].symbol, "BTC");
        }
        if let Some(body) = crate::samples::read("coingecko_coins_list.json") {
            assert_eq!(parse_coins_list(&body).unwrap()[0].id, "bitcoin");
        }
    }
}
