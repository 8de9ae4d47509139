//! `exchangeInfo`: every symbol the simulated market lists, `TRADING` unless delisted (a delisted
//! spot symbol shows `BREAK`; a delisted perpetual is gone). Its klines stay served for history.

use std::sync::Arc;

use axum::{extract::State, http::StatusCode, response::Response};
use candlekeep_core::Market;

use super::SimState;
use crate::{limits::Admission, venue::json};

pub(super) async fn handle(State(sim): State<Arc<SimState>>) -> Response {
    let market = sim.config.market;
    let weight = match market {
        Market::Spot => 20,
        Market::UsdM => 1,
    };
    let admitted = sim.limits.lock().map(|mut w| w.admit(weight));
    if !matches!(admitted, Ok(Admission::Accepted { .. })) {
        return json(
            StatusCode::TOO_MANY_REQUESTS,
            r#"{"code":-1003,"msg":"Too much request weight used."}"#.into(),
        );
    }
    let gen_ = &sim.config.generator;
    let symbols: Vec<String> = gen_
        .all_symbols()
        .iter()
        .filter_map(|symbol| {
            let base = symbol.strip_suffix("USDT")?;
            let listed = gen_.listed_ms(market, symbol)?;
            let delisted = sim.config.delisted.iter().any(|d| d == symbol);
            Some(match market {
                Market::Spot => format!(
                    r#"{{"symbol":"{symbol}","status":"{}","baseAsset":"{base}","baseAssetPrecision":8,"quoteAsset":"USDT","quotePrecision":8,"orderTypes":["LIMIT","MARKET"],"isSpotTradingAllowed":true,"filters":[],"permissions":[],"permissionSets":[["SPOT"]]}}"#,
                    if delisted { "BREAK" } else { "TRADING" }
                ),
                Market::UsdM if delisted => return None,
                Market::UsdM => format!(
                    r#"{{"symbol":"{symbol}","pair":"{symbol}","contractType":"PERPETUAL","deliveryDate":4133404800000,"onboardDate":{listed},"status":"TRADING","baseAsset":"{base}","quoteAsset":"USDT","marginAsset":"USDT","pricePrecision":2,"quantityPrecision":3,"underlyingType":"COIN","filters":[]}}"#
                ),
            })
        })
        .collect();
    let body = format!(
        r#"{{"timezone":"UTC","serverTime":{},"rateLimits":[{{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":{}}}],"exchangeFilters":[],"symbols":[{}]}}"#,
        crate::venue::now_ms(),
        sim.config.weight_limit,
        symbols.join(",")
    );
    json(StatusCode::OK, body)
}
