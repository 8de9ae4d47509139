//! Simulated CryptoCompare min-api v2 history (`/data/v2/histohour`, `/data/v2/histoday`):
//! `limit + 1` rows ending at `toTs` (seconds), oldest first, the newest possibly in progress,
//! all-zero rows before the pair existed and flat no-volume rows where nothing traded, errors as
//! HTTP 200 `"Response":"Error"` bodies (Type 2 unknown pair, Type 99 rate limit).

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
    venue::{VenueState, VenueView, injected_fault, json, now_ms, reply, serve},
};

#[derive(Debug, Clone)]
pub struct CryptoCompareSimConfig {
    pub view: VenueView,
    pub requests_per_minute: u32,
    pub faults: Faults,
}

impl CryptoCompareSimConfig {
    pub fn new(generator: SimMarket) -> Self {
        Self {
            view: VenueView {
                // Same prices, the venue's own outages.
                generator: generator.with_outage_salt(0xCC),
                salt: 0xCC,
                volume_share_pct: 180,
                unlisted: Vec::new(),
                delisted: Vec::new(),
            },
            requests_per_minute: 300,
            faults: Faults::default(),
        }
    }
}

#[derive(Clone)]
pub struct CryptoCompareSim {
    addr: SocketAddr,
    state: Arc<VenueState>,
}

impl std::fmt::Debug for CryptoCompareSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CryptoCompareSim").field("addr", &self.addr).finish()
    }
}

impl CryptoCompareSim {
    pub async fn start(config: CryptoCompareSimConfig) -> std::io::Result<Self> {
        let rules = LimitRules::throttle(config.requests_per_minute, Duration::from_secs(60));
        let state = Arc::new(VenueState::new(config.view, rules, config.faults));
        let app = Router::new()
            .route("/data/v2/histohour", get(histohour))
            .route("/data/v2/histoday", get(histoday))
            .with_state(state.clone());
        let addr = serve(app).await?;
        Ok(Self { addr, state })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stats(&self) -> SimStats {
        self.state.stats()
    }

    pub fn set_faults(&self, faults: Faults) {
        self.state.set_faults(faults);
    }

    /// The closed bar this venue serves for spot `symbol` (`BTCUSDT`).
    pub fn bar(&self, symbol: &str, tf: Timeframe, t: i64) -> Option<SimCandle> {
        self.state
            .view
            .bar(Market::Spot, symbol, tf, t, t + tf.millis(), &Faults::default())
    }
}

fn cc_error(kind: i64, msg: &str) -> Response {
    json(
        StatusCode::OK,
        format!(
            r#"{{"Response":"Error","Message":"{msg}","HasWarning":false,"Type":{kind},"RateLimit":{{}},"Data":{{}},"Cooldown":0}}"#
        ),
    )
}

async fn histohour(State(s): State<Arc<VenueState>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let aggregate = q.get("aggregate").and_then(|a| a.parse::<u32>().ok()).unwrap_or(1);
    let tf = match aggregate {
        1 => Timeframe::H1,
        4 => Timeframe::H4,
        _ => return cc_error(2, "aggregate: the simulator serves 1 and 4"),
    };
    history(&s, &q, tf).await
}

async fn histoday(State(s): State<Arc<VenueState>>, Query(q): Query<HashMap<String, String>>) -> Response {
    history(&s, &q, Timeframe::D1).await
}

async fn history(s: &VenueState, q: &HashMap<String, String>, tf: Timeframe) -> Response {
    let faults = s.faults();
    let (request_no, admission) = s.admit(&faults);
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    if !matches!(admission, Admission::Accepted { .. }) {
        return cc_error(99, "You are over your rate limit please upgrade your account!");
    }
    let error = |status: StatusCode, _code: i64, msg: &str| {
        let mut r = cc_error(2, msg);
        *r.status_mut() = status;
        r
    };
    if let Some(r) = injected_fault(&faults, request_no, error) {
        return r;
    }
    let (fsym, tsym) = (
        q.get("fsym").cloned().unwrap_or_default(),
        q.get("tsym").cloned().unwrap_or_default(),
    );
    let symbol = format!("{fsym}{tsym}");
    let listed = (tsym == "USDT")
        .then(|| s.view.listed_ms(Market::Spot, &symbol))
        .flatten();
    let Some(listed) = listed else {
        let msg = format!("cccagg_or_exchange market does not exist for this coin pair ({fsym}-{tsym})");
        return cc_error(2, &msg);
    };
    let limit = match q.get("limit").map(|l| l.parse::<i64>()) {
        None => 168,
        Some(Ok(l)) if (1..=2000).contains(&l) => l,
        Some(_) => return cc_error(2, "limit param is not valid; it should be between 1 and 2000"),
    };
    let now = now_ms();
    let to = q
        .get("toTs")
        .and_then(|t| t.parse::<i64>().ok())
        .map_or(now, |t| t * 1000)
        .min(now);
    let last = tf.floor(to);
    let mut rows = Vec::new();
    let mut prev_close = None;
    let mut t = last - limit * tf.millis();
    while t <= last {
        let row = match s.view.bar(Market::Spot, &symbol, tf, t, now, &faults) {
            Some(c) => {
                let p = |v: i64| format_fixed(v, c.price_decimals, c.price_decimals);
                prev_close = Some(p(c.close));
                format!(
                    r#"{{"time":{},"high":{},"low":{},"open":{},"volumefrom":{},"volumeto":{},"close":{},"conversionType":"direct","conversionSymbol":""}}"#,
                    t / 1000,
                    p(c.high),
                    p(c.low),
                    p(c.open),
                    format_fixed(c.volume, c.qty_decimals, c.qty_decimals),
                    format_fixed(c.quote_volume, c.quote_decimals, c.quote_decimals),
                    p(c.close)
                )
            }
            None => {
                // Before listing: zeros; after it, where nothing traded: the previous close, flat.
                let flat = if t + tf.millis() <= listed {
                    "0".to_owned()
                } else {
                    prev_close.clone().unwrap_or_else(|| "0".into())
                };
                format!(
                    r#"{{"time":{},"high":{flat},"low":{flat},"open":{flat},"volumefrom":0,"volumeto":0,"close":{flat},"conversionType":"direct","conversionSymbol":""}}"#,
                    t / 1000
                )
            }
        };
        rows.push(row);
        t += tf.millis();
    }
    let body = format!(
        r#"{{"Response":"Success","Message":"","HasWarning":false,"Type":100,"RateLimit":{{}},"Data":{{"Aggregated":{},"TimeFrom":{},"TimeTo":{},"Data":[{}]}}}}"#,
        tf != Timeframe::H1 && tf != Timeframe::D1,
        (last - limit * tf.millis()) / 1000,
        last / 1000,
        rows.join(",")
    );
    reply(&faults, request_no, body)
}
