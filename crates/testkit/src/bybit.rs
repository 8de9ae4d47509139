//! Simulated Bybit v5 (`/v5/market/kline`): categories spot and linear, newest-first 7-string
//! rows with the unfinished bar on top, inclusive `start`/`end`, `retCode` errors in HTTP 200
//! bodies, and 600 requests per 5 s per IP with HTTP 403 and a 10-minute ban beyond.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use candlekeep_core::{Market, Timeframe};

use crate::{
    Faults, SimMarket, SimStats,
    limits::{Admission, LimitRules},
    market::{SimCandle, format_fixed},
    venue::{VenueState, VenueView, injected_fault, json, ms_param, newest_first, now_ms, reply, serve},
};

#[derive(Debug, Clone)]
pub struct BybitSimConfig {
    pub view: VenueView,
    pub requests_per_5s: u32,
    pub ban: Duration,
    pub faults: Faults,
}

impl BybitSimConfig {
    pub fn new(generator: SimMarket) -> Self {
        Self {
            view: VenueView {
                // Same prices, the venue's own outages.
                generator: generator.with_outage_salt(0xB7B),
                salt: 0xB7B,
                volume_share_pct: 25,
                unlisted: Vec::new(),
                delisted: Vec::new(),
            },
            requests_per_5s: 600,
            ban: Duration::from_secs(600),
            faults: Faults::default(),
        }
    }
}

#[derive(Clone)]
pub struct BybitSim {
    addr: SocketAddr,
    state: Arc<VenueState>,
}

impl std::fmt::Debug for BybitSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BybitSim").field("addr", &self.addr).finish()
    }
}

impl BybitSim {
    pub async fn start(config: BybitSimConfig) -> std::io::Result<Self> {
        let rules = LimitRules {
            weight_limit: config.requests_per_5s.max(1),
            window: Duration::from_secs(5),
            grace: 0, // the first request over the limit is banned
            ban: config.ban,
        };
        let state = Arc::new(VenueState::new(config.view, rules, config.faults));
        let app = Router::new()
            .route("/v5/market/kline", get(kline))
            .route("/v5/market/instruments-info", get(instruments))
            .with_state(state.clone());
        let addr = serve(app).await?;
        Ok(Self { addr, state })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn view(&self) -> &VenueView {
        &self.state.view
    }

    pub fn set_faults(&self, faults: Faults) {
        self.state.set_faults(faults);
    }

    pub fn stats(&self) -> SimStats {
        self.state.stats()
    }

    /// The bar this venue serves for `symbol`, as closed.
    pub fn bar(&self, market: Market, symbol: &str, tf: Timeframe, t: i64) -> Option<SimCandle> {
        self.state
            .view
            .bar(market, symbol, tf, t, t + tf.millis(), &Faults::default())
    }
}

fn bybit_error(code: i64, msg: &str) -> Response {
    let body = format!(
        r#"{{"retCode":{code},"retMsg":"{msg}","result":{{}},"retExtInfo":{{}},"time":{}}}"#,
        now_ms()
    );
    json(StatusCode::OK, body)
}

fn interval(s: &str) -> Option<Timeframe> {
    Some(match s {
        "1" => Timeframe::M1,
        "5" => Timeframe::M5,
        "15" => Timeframe::M15,
        "60" => Timeframe::H1,
        "240" => Timeframe::H4,
        "D" => Timeframe::D1,
        _ => return None,
    })
}

async fn kline(State(s): State<Arc<VenueState>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let faults = s.faults();
    let (request_no, admission) = s.admit(&faults);
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    if !matches!(admission, Admission::Accepted { .. }) {
        return (StatusCode::FORBIDDEN, "access too frequent").into_response();
    }
    let error = |status: StatusCode, code: i64, msg: &str| {
        let mut r = bybit_error(code, msg);
        *r.status_mut() = status;
        r
    };
    if let Some(r) = injected_fault(&faults, request_no, error) {
        return r;
    }
    let market = match q.get("category").map_or("linear", String::as_str) {
        "spot" => Market::Spot,
        "linear" => Market::UsdM,
        _ => return bybit_error(10001, "Invalid category"),
    };
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 200,
        Some(Ok(l)) if (1..=1000).contains(&l) => l,
        Some(_) => return bybit_error(10001, "Invalid limit"),
    };
    let Some(tf) = q.get("interval").and_then(|i| interval(i)) else {
        return bybit_error(10001, "Invalid period!");
    };
    let symbol = q.get("symbol").cloned().unwrap_or_default();
    let Some(listed) = s.view.listed_ms(market, &symbol) else {
        return bybit_error(10001, "Not supported symbols");
    };
    let (start, end) = match (ms_param(&q, "start"), ms_param(&q, "end")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(name), _) | (_, Err(name)) => return bybit_error(10001, &format!("Invalid {name}")),
    };
    let now = now_ms();
    let lo = tf.ceil(listed).max(start.map_or(i64::MIN, |t| tf.ceil(t)));
    let hi = tf.floor(now).min(end.unwrap_or(i64::MAX));
    let bar = |t: i64| s.view.bar(market, &symbol, tf, t, now, &faults);
    let bars = newest_first(bar, tf, lo, hi, limit);
    let category = if market == Market::Spot { "spot" } else { "linear" };
    reply(&faults, request_no, render(&symbol, category, &bars, now))
}

fn render(symbol: &str, category: &str, bars: &[SimCandle], now: i64) -> String {
    let rows: Vec<String> = bars
        .iter()
        .map(|c| {
            let p = |v: i64| format_fixed(v, c.price_decimals, c.price_decimals);
            format!(
                r#"["{}","{}","{}","{}","{}","{}","{}"]"#,
                c.open_time_ms,
                p(c.open),
                p(c.high),
                p(c.low),
                p(c.close),
                format_fixed(c.volume, c.qty_decimals, c.qty_decimals),
                format_fixed(c.quote_volume, c.quote_decimals, c.quote_decimals)
            )
        })
        .collect();
    format!(
        r#"{{"retCode":0,"retMsg":"OK","result":{{"symbol":"{symbol}","category":"{category}","list":[{}]}},"retExtInfo":{{}},"time":{now}}}"#,
        rows.join(",")
    )
}

/// `/v5/market/instruments-info`: spot in one page; linear paged by `limit` (default 500) with an
/// URL-encoded `nextPageCursor`, as Bybit does.
async fn instruments(State(s): State<Arc<VenueState>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let faults = s.faults();
    let (request_no, admission) = s.admit(&faults);
    if !matches!(admission, Admission::Accepted { .. }) {
        return (StatusCode::FORBIDDEN, "access too frequent").into_response();
    }
    let market = match q.get("category").map(String::as_str) {
        Some("spot") => Market::Spot,
        Some("linear") => Market::UsdM,
        _ => return bybit_error(10001, "params error: category is required"),
    };
    let all = s.view.trading(market);
    let (page, next) = match market {
        Market::Spot => (all, String::new()),
        Market::UsdM => {
            let limit = q
                .get("limit")
                .and_then(|l| l.parse::<usize>().ok())
                .unwrap_or(500)
                .clamp(1, 1000);
            // The cursor arrives decoded ("page=2") from the encoded form we sent ("page%3D2").
            let from = q
                .get("cursor")
                .and_then(|c| c.strip_prefix("page="))
                .and_then(|p| p.parse::<usize>().ok())
                .unwrap_or(0);
            let end = (from + limit).min(all.len());
            let next = if end < all.len() {
                format!("page%3D{end}")
            } else {
                String::new()
            };
            (all.get(from..end).map(<[_]>::to_vec).unwrap_or_default(), next)
        }
    };
    let rows: Vec<String> = page
        .into_iter()
        .map(|(symbol, base, listed)| match market {
            Market::Spot => format!(
                r#"{{"symbol":"{symbol}","baseCoin":"{base}","quoteCoin":"USDT","innovation":"0","status":"Trading","marginTrading":"none","lotSizeFilter":{{}},"priceFilter":{{"tickSize":"0.01"}}}}"#
            ),
            Market::UsdM => format!(
                r#"{{"symbol":"{symbol}","contractType":"LinearPerpetual","status":"Trading","baseCoin":"{base}","quoteCoin":"USDT","launchTime":"{listed}","deliveryTime":"0","priceScale":"2","settleCoin":"USDT","fundingInterval":480}}"#
            ),
        })
        .collect();
    let category = if market == Market::Spot { "spot" } else { "linear" };
    let body = format!(
        r#"{{"retCode":0,"retMsg":"OK","result":{{"category":"{category}","list":[{}],"nextPageCursor":"{next}"}},"retExtInfo":{{}},"time":{}}}"#,
        rows.join(","),
        now_ms()
    );
    reply(&faults, request_no, body)
}
