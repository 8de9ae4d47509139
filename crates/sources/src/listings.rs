//! Venues' instrument lists, parsed into [`Listing`]s: Binance `exchangeInfo` (spot and USD-M),
//! OKX `public/instruments` (SPOT, SWAP) and Bybit `instruments-info` (spot, linear).
//! Only instruments trading now are returned; the store works out what was delisted.

use candlekeep_core::{Listing, Market, Venue};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;

use crate::{SourceError, http::BodyError};

/// A venue that publishes its instrument list.
pub trait ListingSource: Send + Sync {
    fn venue(&self) -> Venue;
    /// The markets this source lists (Binance: one per host).
    fn markets(&self) -> Vec<Market>;
    fn listings(&self, market: Market) -> BoxFuture<'_, Result<Vec<Listing>, SourceError>>;
}

fn malformed(what: &str, e: impl std::fmt::Display) -> BodyError {
    BodyError::Malformed(format!("{what}: {e}"))
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// A millisecond time given as a number or a numeric string; absent, empty or 0 is `None`.
fn ms(v: &Value, key: &str) -> Option<i64> {
    let t = match v.get(key)? {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    // A listing date beyond any plausible time is no date, like 0.
    (t > 0 && t <= crate::numbers::MAX_TIME_MS).then_some(t)
}

#[derive(Deserialize)]
struct ExchangeInfo {
    symbols: Vec<Value>,
}

/// Binance `exchangeInfo`: spot symbols with status TRADING; USD-M perpetuals trading now, with
/// their `onboardDate`.
pub fn parse_binance_exchange_info(body: &[u8], market: Market) -> Result<Vec<Listing>, BodyError> {
    let info: ExchangeInfo = serde_json::from_slice(body).map_err(|e| malformed("not a Binance exchangeInfo", e))?;
    Ok(info
        .symbols
        .iter()
        .filter(|s| text(s, "status") == "TRADING")
        .filter(|s| market == Market::Spot || text(s, "contractType") == "PERPETUAL")
        .map(|s| Listing {
            venue: Venue::Binance,
            market,
            ticker: text(s, "symbol"),
            base: text(s, "baseAsset"),
            quote: text(s, "quoteAsset"),
            listed_at_ms: ms(s, "onboardDate"),
        })
        .filter(|l| !l.ticker.is_empty() && !l.base.is_empty() && !l.quote.is_empty())
        .collect())
}

/// OKX `public/instruments`: `live` instruments; swaps only when linear, their base and quote
/// from `instFamily` (`BTC-USDT`).
pub fn parse_okx_instruments(body: &[u8], market: Market) -> Result<Vec<Listing>, BodyError> {
    #[derive(Deserialize)]
    struct Envelope {
        code: String,
        #[serde(default)]
        msg: String,
        #[serde(default)]
        data: Vec<Value>,
    }
    let env: Envelope = serde_json::from_slice(body).map_err(|e| malformed("not an OKX envelope", e))?;
    if env.code != "0" {
        return Err(BodyError::Rejected {
            code: env.code.parse().unwrap_or(-1),
            msg: env.msg,
        });
    }
    Ok(env
        .data
        .iter()
        .filter(|i| text(i, "state") == "live")
        .filter_map(|i| {
            let (base, quote) = match market {
                Market::Spot => (text(i, "baseCcy"), text(i, "quoteCcy")),
                Market::UsdM => {
                    if text(i, "ctType") != "linear" {
                        return None;
                    }
                    let family = text(i, "instFamily");
                    let (b, q) = family.split_once('-')?;
                    (b.to_owned(), q.to_owned())
                }
            };
            Some(Listing {
                venue: Venue::Okx,
                market,
                ticker: text(i, "instId"),
                base,
                quote,
                listed_at_ms: ms(i, "listTime"),
            })
        })
        .filter(|l| !l.ticker.is_empty() && !l.base.is_empty() && !l.quote.is_empty())
        .collect())
}

/// One page of Bybit `instruments-info`: `Trading` instruments (linear: perpetuals only) and
/// the cursor of the next page (`""` at the end).
pub fn parse_bybit_instruments(body: &[u8], market: Market) -> Result<(Vec<Listing>, String), BodyError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| malformed("not a Bybit envelope", e))?;
    let code = v
        .get("retCode")
        .and_then(|c| c.as_i64().or_else(|| c.as_str()?.parse().ok()))
        .ok_or_else(|| malformed("Bybit envelope", "no retCode"))?;
    if code != 0 {
        return Err(BodyError::Rejected {
            code,
            msg: text(&v, "retMsg"),
        });
    }
    let result = v
        .get("result")
        .ok_or_else(|| malformed("Bybit envelope", "no result"))?;
    let list = result
        .get("list")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let listings = list
        .iter()
        .filter(|i| text(i, "status") == "Trading")
        .filter(|i| market == Market::Spot || text(i, "contractType") == "LinearPerpetual")
        .map(|i| Listing {
            venue: Venue::Bybit,
            market,
            ticker: text(i, "symbol"),
            base: text(i, "baseCoin"),
            quote: text(i, "quoteCoin"),
            listed_at_ms: ms(i, "launchTime"),
        })
        .filter(|l| !l.ticker.is_empty() && !l.base.is_empty() && !l.quote.is_empty())
        .collect();
    Ok((listings, text(result, "nextPageCursor")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binance_lists_trading_symbols_and_perpetuals_with_onboard_dates() {
        let spot = r#"{"timezone":"UTC","serverTime":1,"rateLimits":[],"exchangeFilters":[],"symbols":[
            {"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT"},
            {"symbol":"LUNAUSDT","status":"BREAK","baseAsset":"LUNA","quoteAsset":"USDT"}]}"#;
        let l = parse_binance_exchange_info(spot.as_bytes(), Market::Spot).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(
            (l[0].ticker.as_str(), l[0].base.as_str(), l[0].listed_at_ms),
            ("BTCUSDT", "BTC", None)
        );
        let usdm = r#"{"symbols":[
            {"symbol":"BTCUSDT","pair":"BTCUSDT","contractType":"PERPETUAL","deliveryDate":4133404800000,"onboardDate":1569398400000,"status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT"},
            {"symbol":"BTCUSDT_260327","pair":"BTCUSDT","contractType":"CURRENT_QUARTER","onboardDate":1,"status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT"}]}"#;
        let l = parse_binance_exchange_info(usdm.as_bytes(), Market::UsdM).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].listed_at_ms, Some(1_569_398_400_000));
    }

    #[test]
    fn okx_swaps_take_base_and_quote_from_the_family() {
        let body = r#"{"code":"0","msg":"","data":[
            {"instType":"SWAP","instId":"BTC-USDT-SWAP","instFamily":"BTC-USDT","baseCcy":"","quoteCcy":"","ctType":"linear","state":"live","listTime":"1573557408000"},
            {"instType":"SWAP","instId":"BTC-USD-SWAP","instFamily":"BTC-USD","baseCcy":"","quoteCcy":"","ctType":"inverse","state":"live","listTime":"1"},
            {"instType":"SWAP","instId":"XYZ-USDT-SWAP","instFamily":"XYZ-USDT","ctType":"linear","state":"preopen","listTime":""}]}"#;
        let l = parse_okx_instruments(body.as_bytes(), Market::UsdM).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(
            (
                l[0].ticker.as_str(),
                l[0].base.as_str(),
                l[0].quote.as_str(),
                l[0].listed_at_ms
            ),
            ("BTC-USDT-SWAP", "BTC", "USDT", Some(1_573_557_408_000))
        );
    }

    #[test]
    fn bybit_pages_carry_a_cursor() {
        let body = r#"{"retCode":0,"retMsg":"OK","result":{"category":"linear","list":[
            {"symbol":"BTCUSDT","contractType":"LinearPerpetual","status":"Trading","baseCoin":"BTC","quoteCoin":"USDT","launchTime":"1585526400000"},
            {"symbol":"BTC-26DEC25","contractType":"LinearFutures","status":"Trading","baseCoin":"BTC","quoteCoin":"USDC","launchTime":"1"}],
            "nextPageCursor":"first%3DBIOUSDT%26last%3DBIOUSDT"},"retExtInfo":{},"time":1}"#;
        let (l, cursor) = parse_bybit_instruments(body.as_bytes(), Market::UsdM).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(cursor, "first%3DBIOUSDT%26last%3DBIOUSDT");
    }
}
