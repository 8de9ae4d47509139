//! Simulated OKX v5 (`/api/v5/market/candles`, `/api/v5/market/history-candles`): newest-first
//! 9-string rows with `confirm`, exclusive `after`/`before`, only the newest 1,440 bars on
//! `/candles`, business errors in HTTP 200 bodies, 40 and 20 requests per 2 s answered with
//! 429 / code 50011 beyond.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{Query, State},
    http::StatusCode,
    response::Response,
    routing::get,
};
use candlekeep_core::{Market, Timeframe};

use crate::{
    Faults, SimMarket, SimStats,
    limits::{Admission, LimitRules},
    market::{SimCandle, format_fixed},
    venue::{VenueState, VenueView, injected_fault, json, ms_param, newest_first, now_ms, reply, serve},
};

const RECENT_BARS: i64 = 1_440;

#[derive(Debug, Clone)]
pub struct OkxSimConfig {
    pub view: VenueView,
    /// Requests per 2 s on `/candles`; history-candles allows half.
    pub requests_per_2s: u32,
    pub faults: Faults,
}

impl OkxSimConfig {
    pub fn new(generator: SimMarket) -> Self {
        Self {
            view: VenueView {
                // Same prices, the venue's own outages.
                generator: generator.with_outage_salt(0x0C5),
                salt: 0x0C5,
                volume_share_pct: 35,
                unlisted: Vec::new(),
                delisted: Vec::new(),
            },
            requests_per_2s: 40,
            faults: Faults::default(),
        }
    }
}

#[derive(Clone)]
pub struct OkxSim {
    addr: SocketAddr,
    recent: Arc<VenueState>,
    history: Arc<VenueState>,
}

impl std::fmt::Debug for OkxSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OkxSim").field("addr", &self.addr).finish()
    }
}

/// OKX answers 429s; it does not ban.
fn rules(per_2s: u32) -> LimitRules {
    LimitRules::throttle(per_2s, Duration::from_secs(2))
}

impl OkxSim {
    pub async fn start(config: OkxSimConfig) -> std::io::Result<Self> {
        let recent = Arc::new(VenueState::new(
            config.view.clone(),
            rules(config.requests_per_2s),
            config.faults.clone(),
        ));
        let history = Arc::new(VenueState::new(
            config.view,
            rules(config.requests_per_2s / 2),
            config.faults,
        ));
        let app = Router::new()
            .route("/api/v5/market/candles", get(candles).with_state(recent.clone()))
            .route(
                "/api/v5/market/history-candles",
                get(history_candles).with_state(history.clone()),
            )
            .route(
                "/api/v5/public/instruments",
                get(instruments).with_state(history.clone()),
            );
        let addr = serve(app).await?;
        Ok(Self { addr, recent, history })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn view(&self) -> &VenueView {
        &self.recent.view
    }

    pub fn set_faults(&self, faults: Faults) {
        self.recent.set_faults(faults.clone());
        self.history.set_faults(faults);
    }

    /// Both endpoints' counters: requests and rejections summed, the fuller window reported.
    pub fn stats(&self) -> SimStats {
        let (a, b) = (self.recent.stats(), self.history.stats());
        SimStats {
            requests: a.requests + b.requests,
            rejected_429: a.rejected_429 + b.rejected_429,
            rejected_418: a.rejected_418 + b.rejected_418,
            max_window_weight: a.max_window_weight.max(b.max_window_weight),
            weight_limit: a.weight_limit,
        }
    }

    /// The bar this venue serves for `symbol` (Binance style, `BTCUSDT`), as closed.
    pub fn bar(&self, market: Market, symbol: &str, tf: Timeframe, t: i64) -> Option<SimCandle> {
        self.recent
            .view
            .bar(market, symbol, tf, t, t + tf.millis(), &Faults::default())
    }
}

fn okx_error(status: StatusCode, code: i64, msg: &str) -> Response {
    json(status, format!(r#"{{"code":"{code}","msg":"{msg}","data":[]}}"#))
}

fn bar_code(s: &str) -> Option<Timeframe> {
    Some(match s {
        "1m" => Timeframe::M1,
        "5m" => Timeframe::M5,
        "15m" => Timeframe::M15,
        "1H" => Timeframe::H1,
        "4H" => Timeframe::H4,
        "1Dutc" => Timeframe::D1,
        _ => return None,
    })
}

/// `BTC-USDT` → (spot, `BTCUSDT`); `BTC-USDT-SWAP` → (usdm, `BTCUSDT`).
fn instrument(inst_id: &str) -> Option<(Market, String)> {
    let (pair, market) = match inst_id.strip_suffix("-SWAP") {
        Some(pair) => (pair, Market::UsdM),
        None => (inst_id, Market::Spot),
    };
    let (base, quote) = pair.split_once('-')?;
    Some((market, format!("{base}{quote}")))
}

async fn candles(State(s): State<Arc<VenueState>>, Query(q): Query<HashMap<String, String>>) -> Response {
    answer_candles(&s, &q, true).await
}

async fn history_candles(State(s): State<Arc<VenueState>>, Query(q): Query<HashMap<String, String>>) -> Response {
    answer_candles(&s, &q, false).await
}

async fn answer_candles(s: &VenueState, q: &HashMap<String, String>, recent_only: bool) -> Response {
    let faults = s.faults();
    let (request_no, admission) = s.admit(&faults);
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    if !matches!(admission, Admission::Accepted { .. }) {
        return okx_error(StatusCode::TOO_MANY_REQUESTS, 50011, "Too Many Requests");
    }
    if let Some(r) = injected_fault(&faults, request_no, okx_error) {
        return r;
    }
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 100,
        Some(Ok(l)) if (1..=300).contains(&l) => l,
        Some(_) => return okx_error(StatusCode::BAD_REQUEST, 51000, "Parameter limit error"),
    };
    let Some(inst_id) = q.get("instId").filter(|i| !i.is_empty()) else {
        return okx_error(StatusCode::BAD_REQUEST, 50014, "Parameter instId can not be empty");
    };
    let Some(tf) = bar_code(q.get("bar").map_or("1m", String::as_str)) else {
        return okx_error(StatusCode::BAD_REQUEST, 51000, "Parameter bar error");
    };
    let listed = instrument(inst_id).and_then(|(m, sym)| Some((m, s.view.listed_ms(m, &sym)?, sym)));
    let Some((market, listed, symbol)) = listed else {
        let msg = format!("Instrument ID {inst_id} doesn't exist");
        return okx_error(StatusCode::OK, 51001, &msg);
    };
    let (after, before) = match (ms_param(q, "after"), ms_param(q, "before")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(name), _) | (_, Err(name)) => {
            return okx_error(StatusCode::BAD_REQUEST, 51000, &format!("Parameter {name} error"));
        }
    };
    let now = now_ms();
    let newest = tf.floor(now);
    let mut lo = tf.ceil(listed).max(before.map_or(i64::MIN, |b| b + 1));
    if recent_only {
        lo = lo.max(newest - (RECENT_BARS - 1) * tf.millis());
    }
    let hi = newest.min(after.map_or(i64::MAX, |a| a - 1));
    let bar = |t: i64| s.view.bar(market, &symbol, tf, t, now, &faults);
    let bars = newest_first(bar, tf, lo, hi, limit);
    reply(&faults, request_no, render(market, tf, &bars, now))
}

/// `[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]`, all strings; swaps count contracts of
/// 0.01 base in `vol`.
fn render(market: Market, tf: Timeframe, bars: &[SimCandle], now: i64) -> String {
    let rows: Vec<String> = bars
        .iter()
        .map(|c| {
            let p = |v: i64| format_fixed(v, c.price_decimals, c.price_decimals);
            let base = format_fixed(c.volume, c.qty_decimals, c.qty_decimals);
            let quote = format_fixed(c.quote_volume, c.quote_decimals, c.quote_decimals);
            let (vol, vol_ccy) = match market {
                Market::Spot => (base.clone(), quote.clone()),
                Market::UsdM => (format_fixed(c.volume * 100, c.qty_decimals, c.qty_decimals), base),
            };
            let confirm = if c.open_time_ms + tf.millis() <= now { "1" } else { "0" };
            format!(
                r#"["{}","{}","{}","{}","{}","{vol}","{vol_ccy}","{quote}","{confirm}"]"#,
                c.open_time_ms,
                p(c.open),
                p(c.high),
                p(c.low),
                p(c.close)
            )
        })
        .collect();
    format!(r#"{{"code":"0","msg":"","data":[{}]}}"#, rows.join(","))
}

/// `/api/v5/public/instruments?instType=SPOT|SWAP`: live instruments (delisted ones disappear).
async fn instruments(State(s): State<Arc<VenueState>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let faults = s.faults();
    let (request_no, admission) = s.admit(&faults);
    if !matches!(admission, Admission::Accepted { .. }) {
        return okx_error(StatusCode::TOO_MANY_REQUESTS, 50011, "Too Many Requests");
    }
    if let Some(r) = injected_fault(&faults, request_no, okx_error) {
        return r;
    }
    let market = match q.get("instType").map(String::as_str) {
        Some("SPOT") => Market::Spot,
        Some("SWAP") => Market::UsdM,
        Some(_) => return okx_error(StatusCode::BAD_REQUEST, 51000, "Parameter instType error"),
        None => return okx_error(StatusCode::BAD_REQUEST, 50014, "Parameter instType can not be empty"),
    };
    let rows: Vec<String> = s
        .view
        .trading(market)
        .into_iter()
        .map(|(_, base, listed)| match market {
            Market::Spot => format!(
                r#"{{"instType":"SPOT","instId":"{base}-USDT","uly":"","instFamily":"","baseCcy":"{base}","quoteCcy":"USDT","settleCcy":"","ctVal":"","ctType":"","listTime":"{listed}","state":"live","tickSz":"0.1"}}"#
            ),
            Market::UsdM => format!(
                r#"{{"instType":"SWAP","instId":"{base}-USDT-SWAP","uly":"{base}-USDT","instFamily":"{base}-USDT","baseCcy":"","quoteCcy":"","settleCcy":"USDT","ctVal":"0.01","ctValCcy":"{base}","ctType":"linear","listTime":"{listed}","state":"live","tickSz":"0.1"}}"#
            ),
        })
        .collect();
    reply(
        &faults,
        request_no,
        format!(r#"{{"code":"0","msg":"","data":[{}]}}"#, rows.join(",")),
    )
}
