//! Simulated CoinGecko v3: `/coins/markets` (the ranking, pages of up to 250), `/coins/list`,
//! `/coins/{id}/ohlc` (30-minute candles for `days=1`, 4-hour ones for 7–30, by close time),
//! `/coins/{id}/market_chart` (5-minute points for 1 day, hourly ones 41 s past the hour for
//! 2–90 days, then "now"; trailing 24-hour volume),
//! a per-minute call budget answered with 429 + `retry-after` beyond, and an optional required
//! Demo key (`x-cg-demo-api-key`).

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::Path,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
    routing::get,
};
use candlekeep_core::{Market, Timeframe};

use crate::{
    Faults, SimMarket, SimStats,
    limits::{Admission, LimitRules},
    venue::{VenueState, VenueView, injected_fault, json, reply, retry_after, serve},
};

/// One coin of the simulated ranking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimCoin {
    pub id: String,
    /// Lower case, as CoinGecko writes it.
    pub symbol: String,
    pub name: String,
}

impl SimCoin {
    pub fn new(id: &str, symbol: &str, name: &str) -> Self {
        Self {
            id: id.into(),
            symbol: symbol.into(),
            name: name.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CoinGeckoSimConfig {
    /// The ranking, best first.
    pub coins: Vec<SimCoin>,
    pub requests_per_minute: u32,
    /// When set, requests without this `x-cg-demo-api-key` are refused (401).
    pub require_key: Option<String>,
    pub faults: Faults,
    /// Prices for `/coins/{id}/ohlc`: the coin `xyz` is the market's `XYZUSDT` spot pair.
    pub generator: SimMarket,
}

impl CoinGeckoSimConfig {
    /// Every coin of `generator` in its order, with Tether and USD Coin ranked 3rd and 7th, and
    /// one coin that no venue lists at the end.
    pub fn new(generator: &SimMarket) -> Self {
        let mut coins: Vec<SimCoin> = generator
            .all_symbols()
            .iter()
            .filter_map(|s| s.strip_suffix("USDT"))
            .map(|base| {
                let lower = base.to_ascii_lowercase();
                SimCoin::new(&format!("{lower}-sim"), &lower, base)
            })
            .collect();
        coins.insert(2.min(coins.len()), SimCoin::new("tether", "usdt", "Tether"));
        coins.insert(6.min(coins.len()), SimCoin::new("usd-coin", "usdc", "USDC"));
        coins.push(SimCoin::new("nowhere-coin", "nowhere", "Listed Nowhere"));
        Self {
            coins,
            requests_per_minute: 30,
            require_key: None,
            faults: Faults::default(),
            generator: generator.clone().with_outage_salt(0x6EC),
        }
    }
}

struct CgState {
    venue: VenueState,
    coins: Vec<SimCoin>,
    require_key: Option<String>,
}

#[derive(Clone)]
pub struct CoinGeckoSim {
    addr: SocketAddr,
    state: Arc<CgState>,
}

impl std::fmt::Debug for CoinGeckoSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoinGeckoSim").field("addr", &self.addr).finish()
    }
}

impl CoinGeckoSim {
    pub async fn start(config: CoinGeckoSimConfig) -> std::io::Result<Self> {
        let rules = LimitRules::throttle(config.requests_per_minute, Duration::from_secs(60));
        let view = VenueView {
            generator: config.generator,
            salt: 0x6EC,
            volume_share_pct: 100,
            unlisted: Vec::new(),
            delisted: Vec::new(),
        };
        let state = Arc::new(CgState {
            venue: VenueState::new(view, rules, config.faults),
            coins: config.coins,
            require_key: config.require_key,
        });
        let app = Router::new()
            .route("/coins/markets", get(markets))
            .route("/coins/list", get(list))
            .route("/coins/{id}/ohlc", get(ohlc))
            .route("/coins/{id}/market_chart", get(market_chart))
            .with_state(state.clone());
        let addr = serve(app).await?;
        Ok(Self { addr, state })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stats(&self) -> SimStats {
        self.state.venue.stats()
    }

    pub fn set_faults(&self, faults: Faults) {
        self.state.venue.set_faults(faults);
    }
}

fn cg_error(status: StatusCode, code: i64, msg: &str) -> Response {
    json(
        status,
        format!(r#"{{"status":{{"error_code":{code},"error_message":"{msg}"}}}}"#),
    )
}

/// Admission, key check and injected faults; `Err` is the answer to send instead.
fn gate(s: &CgState, headers: &HeaderMap) -> Result<(Faults, u64), Box<Response>> {
    let faults = s.venue.faults();
    let (request_no, admission) = s.venue.admit(&faults);
    if !matches!(admission, Admission::Accepted { .. }) {
        let msg = "You've exceeded the Rate Limit. Please visit https://www.coingecko.com/en/api/pricing to subscribe to our API plans for higher rate limits.";
        return Err(Box::new(retry_after(
            cg_error(StatusCode::TOO_MANY_REQUESTS, 429, msg),
            60,
        )));
    }
    if let Some(key) = &s.require_key {
        let sent = headers.get("x-cg-demo-api-key").and_then(|v| v.to_str().ok());
        if sent != Some(key.as_str()) {
            return Err(Box::new(cg_error(
                StatusCode::UNAUTHORIZED,
                10002,
                "API Key Missing or invalid",
            )));
        }
    }
    if let Some(r) = injected_fault(&faults, request_no, cg_error) {
        return Err(Box::new(r));
    }
    Ok((faults, request_no))
}

async fn markets(
    State(s): State<Arc<CgState>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (faults, request_no) = match gate(&s, &headers) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    if q.get("vs_currency").is_none_or(|v| v.is_empty()) {
        return json(
            StatusCode::BAD_REQUEST,
            r#"{"error":"Missing parameter vs_currency"}"#.into(),
        );
    }
    let per_page = q
        .get("per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 250);
    let page = q.get("page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(1).max(1);
    let from = (page - 1) * per_page;
    let rows: Vec<String> = s
        .coins
        .iter()
        .enumerate()
        .skip(from)
        .take(per_page)
        .map(|(i, c)| {
            let rank = i + 1;
            let cap = 1e12 / rank as f64;
            format!(
                r#"{{"id":"{}","symbol":"{}","name":"{}","image":"https://example.invalid/{}.png","current_price":1.0,"market_cap":{cap:.0},"market_cap_rank":{rank},"fully_diluted_valuation":null,"total_volume":1.5e9,"high_24h":1.1,"low_24h":0.9,"price_change_24h":-6.88313e-7,"price_change_percentage_24h":0.1,"circulating_supply":1000000,"total_supply":null,"max_supply":null,"ath":2.0,"roi":null,"last_updated":"2026-11-21T00:00:00.000Z"}}"#,
                c.id, c.symbol, c.name, c.id
            )
        })
        .collect();
    reply(&faults, request_no, format!("[{}]", rows.join(",")))
}

async fn list(State(s): State<Arc<CgState>>, headers: HeaderMap) -> Response {
    let (faults, request_no) = match gate(&s, &headers) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let rows: Vec<String> = s
        .coins
        .iter()
        .map(|c| format!(r#"{{"id":"{}","symbol":"{}","name":"{}"}}"#, c.id, c.symbol, c.name))
        .collect();
    reply(&faults, request_no, format!("[{}]", rows.join(",")))
}

/// [`gate`], then the market's spot pair (`BTCUSDT`) of the coin `id`, or the 404 CoinGecko
/// answers for an unknown one.
fn gate_coin(s: &CgState, headers: &HeaderMap, id: &str) -> Result<(Faults, u64, String), Box<Response>> {
    let (faults, request_no) = gate(s, headers)?;
    match s.coins.iter().find(|c| c.id == id) {
        Some(coin) => Ok((faults, request_no, format!("{}USDT", coin.symbol.to_ascii_uppercase()))),
        None => Err(Box::new(json(
            StatusCode::NOT_FOUND,
            r#"{"error":"coin not found"}"#.into(),
        ))),
    }
}

/// The coin's 30-minute candle closing at `close` (two 15-minute bars), or its 4-hour candle.
fn ohlc_row(s: &CgState, symbol: &str, close: i64, half_hour: bool, now: i64) -> Option<String> {
    let faults = Faults::default();
    let (open, high, low, last, dp) = if half_hour {
        let q = Timeframe::M15.millis();
        let a = s
            .venue
            .view
            .bar(Market::Spot, symbol, Timeframe::M15, close - 2 * q, now, &faults)?;
        let b = s
            .venue
            .view
            .bar(Market::Spot, symbol, Timeframe::M15, close - q, now, &faults)?;
        (a.open, a.high.max(b.high), a.low.min(b.low), b.close, a.price_decimals)
    } else {
        let c = s.venue.view.bar(
            Market::Spot,
            symbol,
            Timeframe::H4,
            close - Timeframe::H4.millis(),
            now,
            &faults,
        )?;
        (c.open, c.high, c.low, c.close, c.price_decimals)
    };
    let p = |v: i64| crate::market::format_fixed(v, dp, dp);
    Some(format!("[{close},{},{},{},{}]", p(open), p(high), p(low), p(last)))
}

async fn ohlc(
    State(s): State<Arc<CgState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (faults, request_no, symbol) = match gate_coin(&s, &headers, &id) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let days = match q.get("days").map(String::as_str) {
        Some("1") => 1,
        Some("7") => 7,
        Some("14") => 14,
        Some("30") => 30,
        _ => return json(StatusCode::BAD_REQUEST, r#"{"error":"invalid days"}"#.into()),
    };
    let now = crate::venue::now_ms();
    let (step, half_hour) = if days == 1 {
        (1_800_000, true)
    } else {
        (Timeframe::H4.millis(), false)
    };
    let last_close = now / step * step;
    let mut rows = Vec::new();
    let mut close = last_close - days * 86_400_000;
    while close <= last_close {
        rows.extend(ohlc_row(&s, &symbol, close, half_hour, now));
        close += step;
    }
    reply(&faults, request_no, format!("[{}]", rows.join(",")))
}

/// The coin's price at `t` (the close of the 5-minute bar containing it, as seen at `t`), its
/// market cap and its trailing 24-hour quote volume.
fn chart_point(s: &CgState, symbol: &str, t: i64) -> Option<(i64, f64, f64, f64)> {
    let faults = Faults::default();
    let m5 = Timeframe::M5;
    let bar = s
        .venue
        .view
        .bar(Market::Spot, symbol, m5, m5.floor(t), t.max(m5.floor(t) + 1), &faults)?;
    let price = bar.close as f64 / 10f64.powi(bar.price_decimals as i32);
    let h = Timeframe::H1.millis();
    let volume: f64 = (1..=24)
        .filter_map(|k| {
            let open = Timeframe::H1.floor(t) - k * h;
            let b = s
                .venue
                .view
                .bar(Market::Spot, symbol, Timeframe::H1, open, t, &faults)?;
            Some(b.quote_volume as f64 / 10f64.powi(b.quote_decimals as i32))
        })
        .sum();
    Some((t, price, price * 1.9e7, volume))
}

async fn market_chart(
    State(s): State<Arc<CgState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (faults, request_no, symbol) = match gate_coin(&s, &headers, &id) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let Some(days) = q
        .get("days")
        .and_then(|d| d.parse::<i64>().ok())
        .filter(|d| (1..=90).contains(d))
    else {
        return json(StatusCode::BAD_REQUEST, r#"{"error":"invalid days"}"#.into());
    };
    let now = crate::venue::now_ms();
    let step = if days == 1 { 300_000 } else { 3_600_000 };
    let mut instants: Vec<i64> = Vec::new();
    let mut t = (now - days * 86_400_000) / step * step + 41_331;
    while t < now {
        instants.push(t);
        t += step;
    }
    instants.push(now);
    let points: Vec<(i64, f64, f64, f64)> = instants
        .into_iter()
        .filter_map(|t| chart_point(&s, &symbol, t))
        .collect();
    let series = |value: fn(&(i64, f64, f64, f64)) -> f64| -> String {
        points
            .iter()
            .map(|p| format!("[{},{}]", p.0, value(p)))
            .collect::<Vec<_>>()
            .join(",")
    };
    let body = format!(
        r#"{{"prices":[{}],"market_caps":[{}],"total_volumes":[{}]}}"#,
        series(|p| p.1),
        series(|p| p.2),
        series(|p| p.3)
    );
    reply(&faults, request_no, body)
}
