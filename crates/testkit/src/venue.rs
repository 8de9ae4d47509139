//! What every simulated non-Binance venue shares: its view of the market (listings, its own
//! small price basis and volume share, missing bars), its limits and its faults, and helpers to
//! answer HTTP.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    body::Body,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use candlekeep_core::{Market, Timeframe};

use crate::{
    Faults, SimMarket, SimStats,
    limits::{Admission, LimitRules, WeightWindow},
    market::SimCandle,
};

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Serves `app` on a free 127.0.0.1 port in the background, until the runtime stops.
pub(crate) async fn serve(app: axum::Router) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        // A serve error ends the simulated venue; clients then see connection errors.
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

/// One venue's view of the simulated market.
#[derive(Debug, Clone)]
pub struct VenueView {
    pub generator: SimMarket,
    /// Salt of the venue's price basis (a few basis points off Binance, bar by bar).
    pub salt: u64,
    /// Share of Binance's volume the venue trades, in percent.
    pub volume_share_pct: i64,
    /// Base assets the venue does not list: on any market (`"SOL"`) or on one (`"spot:XRP"`).
    pub unlisted: Vec<String>,
    /// Base assets no longer trading: absent from the instrument list, history still served.
    pub delisted: Vec<String>,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl VenueView {
    /// Whether the venue lists `symbol` (Binance-style `BTCUSDT`) on `market`, and since when.
    pub fn listed_ms(&self, market: Market, symbol: &str) -> Option<i64> {
        let listed = self.generator.listed_ms(market, symbol)?;
        let base = symbol.strip_suffix("USDT")?;
        let on_market = format!("{market}:{base}");
        let unlisted = self.unlisted.iter().any(|u| u == base || *u == on_market);
        (!unlisted).then_some(listed)
    }

    /// `(symbol, base, listed_ms)` of every instrument trading now on `market`.
    pub fn trading(&self, market: Market) -> Vec<(String, String, i64)> {
        self.generator
            .all_symbols()
            .into_iter()
            .filter_map(|symbol| {
                let listed = self.listed_ms(market, &symbol)?;
                let base = symbol.strip_suffix("USDT")?.to_owned();
                (!self.delisted.contains(&base)).then_some((symbol, base, listed))
            })
            .collect()
    }

    /// The venue's bar opening at `t` as seen at `now`, or `None` where it has none.
    pub fn bar(
        &self,
        market: Market,
        symbol: &str,
        tf: Timeframe,
        t: i64,
        now: i64,
        faults: &Faults,
    ) -> Option<SimCandle> {
        self.listed_ms(market, symbol)?;
        if faults.missing.iter().any(|(a, b)| (*a..*b).contains(&t)) {
            return None;
        }
        let b = self.generator.bar(market, symbol, tf, t, now)?;
        let h = splitmix(self.salt ^ splitmix(t as u64) ^ symbol.bytes().fold(0u64, |a, c| a * 31 + c as u64));
        let basis_bp = (h % 9) as i64 - 4;
        Some(b.at_venue(basis_bp, self.volume_share_pct))
    }
}

/// Limits, faults and counters of one running venue.
pub(crate) struct VenueState {
    pub view: VenueView,
    pub faults: Mutex<Faults>,
    pub limits: Mutex<WeightWindow>,
}

impl VenueState {
    pub fn new(view: VenueView, rules: LimitRules, faults: Faults) -> Self {
        Self {
            view,
            faults: Mutex::new(faults),
            limits: Mutex::new(WeightWindow::new(rules)),
        }
    }

    pub fn faults(&self) -> Faults {
        self.faults.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// Counts the request against the limits; its number (from 0) and the decision.
    pub fn admit(&self, faults: &Faults) -> (u64, Admission) {
        let Ok(mut w) = self.limits.lock() else {
            return (0, Admission::Accepted { used: 0 });
        };
        let request_no = w.stats().requests;
        match faults.ban_at {
            Some((n, d)) if n == request_no => {
                let secs = w.ban_for(d);
                let used = w.used();
                (
                    request_no,
                    Admission::Banned {
                        used,
                        retry_after: secs,
                    },
                )
            }
            _ => (request_no, w.admit(1)),
        }
    }

    pub fn stats(&self) -> SimStats {
        self.limits.lock().map(|l| l.stats()).unwrap_or_default()
    }

    pub fn set_faults(&self, faults: Faults) {
        if let Ok(mut f) = self.faults.lock() {
            *f = faults;
        }
    }
}

/// The injected fault answering request `request_no`, if any: outage, 5xx burst, 429 storm.
/// `error(status, code, msg)` renders the venue's error body.
pub(crate) fn injected_fault(
    faults: &Faults,
    request_no: u64,
    error: impl Fn(StatusCode, i64, &str) -> Response,
) -> Option<Response> {
    let now = now_ms();
    if faults.outage.is_some_and(|(from, to)| (from..to).contains(&now)) {
        return Some(error(
            StatusCode::SERVICE_UNAVAILABLE,
            50001,
            "Service temporarily unavailable",
        ));
    }
    if faults.storm_429.is_some_and(|b| b.hits(request_no)) {
        return Some(retry_after(
            error(StatusCode::TOO_MANY_REQUESTS, 50011, "Too Many Requests"),
            1,
        ));
    }
    if faults.server_errors.is_some_and(|b| b.hits(request_no)) {
        return Some(if request_no.is_multiple_of(2) {
            let html = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>";
            (StatusCode::BAD_GATEWAY, html).into_response()
        } else {
            error(StatusCode::INTERNAL_SERVER_ERROR, 50026, "System error")
        });
    }
    None
}

/// The body as sent: whole, garbled (`malformed` fault) or cut mid-stream (`truncated`).
pub(crate) fn reply(faults: &Faults, request_no: u64, body: String) -> Response {
    if faults.malformed.is_some_and(|b| b.hits(request_no)) {
        json(
            StatusCode::OK,
            format!("{}<!-- upstream reset -->", &body[..body.len() / 2]),
        )
    } else if faults.truncated.is_some_and(|b| b.hits(request_no)) {
        truncated(body)
    } else {
        json(StatusCode::OK, body)
    }
}

pub(crate) fn json(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub(crate) fn retry_after(mut r: Response, secs: u64) -> Response {
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

/// Sends the first half of the body, then drops the connection.
pub(crate) fn truncated(body: String) -> Response {
    let half = body.as_bytes()[..body.len() / 2].to_vec();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(half),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated reset",
        )),
    ];
    let mut r = Response::new(Body::from_stream(futures::stream::iter(chunks)));
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    r
}

/// An epoch-ms query parameter: absent, or digits only.
pub(crate) fn ms_param(q: &HashMap<String, String>, name: &str) -> Result<Option<i64>, String> {
    match q.get(name) {
        None => Ok(None),
        Some(v) if !v.is_empty() && v.len() <= 19 && v.bytes().all(|b| b.is_ascii_digit()) => {
            v.parse().map(Some).map_err(|_| name.to_owned())
        }
        Some(_) => Err(name.to_owned()),
    }
}

/// Bars of `[lo, hi]` (open times, inclusive) the venue has, newest first, at most `limit`.
pub(crate) fn newest_first(
    bar: impl Fn(i64) -> Option<SimCandle>,
    tf: Timeframe,
    lo: i64,
    hi: i64,
    limit: usize,
) -> Vec<SimCandle> {
    let mut out = Vec::new();
    let mut t = tf.floor(hi);
    while t >= lo && out.len() < limit {
        out.extend(bar(t));
        t -= tf.millis();
    }
    out
}
