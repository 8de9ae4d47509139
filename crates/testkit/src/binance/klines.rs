//! The klines endpoint: Binance's parameters, paging rules, errors and exact row format.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    body::Body,
    extract::{Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use candlekeep_core::{Market, Timeframe};

use super::SimState;
use crate::limits::Admission;
use crate::market::{SimCandle, format_fixed};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// USD-M weight by `limit` (spot is always 2).
fn weight(market: Market, limit: usize) -> u32 {
    match market {
        Market::Spot => 2,
        Market::UsdM => match limit {
            0..100 => 1,
            100..500 => 2,
            500..=1000 => 5,
            _ => 10,
        },
    }
}

fn binance_error(status: StatusCode, code: i32, msg: &str, used: u32) -> Response {
    let body = format!(r#"{{"code":{code},"msg":"{msg}"}}"#);
    with_weight(json(status, body), used)
}

fn json(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    r
}

fn with_weight(mut r: Response, used: u32) -> Response {
    let v = HeaderValue::from(used);
    r.headers_mut().insert("x-mbx-used-weight", v.clone());
    r.headers_mut().insert("x-mbx-used-weight-1m", v);
    r
}

fn retry_after(mut r: Response, secs: u64) -> Response {
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

fn parse_ms(q: &HashMap<String, String>, name: &str) -> Result<Option<i64>, String> {
    match q.get(name) {
        None => Ok(None),
        Some(v) if !v.is_empty() && v.len() <= 20 && v.bytes().all(|b| b.is_ascii_digit()) => {
            let n: i64 = v.parse().map_err(|_| name.to_owned())?;
            // Binance reads 16-digit values as microseconds.
            Ok(Some(if n > 100_000_000_000_000 { n / 1000 } else { n }))
        }
        Some(_) => Err(name.to_owned()),
    }
}

pub(super) async fn handle(State(sim): State<Arc<SimState>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let market = sim.config.market;
    let faults = match sim.faults.lock() {
        Ok(f) => f.clone(),
        Err(_) => return json(StatusCode::INTERNAL_SERVER_ERROR, "poisoned".into()),
    };
    let limit_max = match market {
        Market::Spot => 1000,
        Market::UsdM => 1500,
    };
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 500,
        Some(Ok(l)) if (1..=limit_max).contains(&l) => l,
        Some(_) => {
            return binance_error(
                StatusCode::BAD_REQUEST,
                -1130,
                "Data sent for parameter 'limit' is not valid.",
                0,
            );
        }
    };

    let (admission, request_no) = {
        let Ok(mut w) = sim.limits.lock() else {
            return json(StatusCode::INTERNAL_SERVER_ERROR, "poisoned".into());
        };
        let request_no = w.stats().requests;
        match faults.ban_at {
            Some((n, d)) if n == request_no => {
                let secs = w.ban_for(d);
                (
                    Admission::Banned {
                        used: w.used(),
                        retry_after: secs,
                    },
                    request_no,
                )
            }
            _ => (w.admit(weight(market, limit)), request_no),
        }
    };
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    let used = match admission {
        Admission::Banned {
            used,
            retry_after: secs,
        } => {
            let msg = format!(
                "Way too much request weight used; IP banned until {}. Please use WebSocket Streams for live updates to avoid bans.",
                now_ms() + secs as i64 * 1000
            );
            return retry_after(binance_error(StatusCode::IM_A_TEAPOT, -1003, &msg, used), secs);
        }
        Admission::TooMany {
            used,
            retry_after: secs,
        } => {
            return retry_after(
                binance_error(StatusCode::TOO_MANY_REQUESTS, -1003, &too_much(&sim), used),
                secs,
            );
        }
        Admission::Accepted { used } => used,
    };
    let now = now_ms();
    if faults.outage.is_some_and(|(from, to)| (from..to).contains(&now)) {
        return binance_error(StatusCode::SERVICE_UNAVAILABLE, -1008, "Service Unavailable.", used);
    }
    if faults.storm_429.is_some_and(|b| b.hits(request_no)) {
        return retry_after(
            binance_error(StatusCode::TOO_MANY_REQUESTS, -1003, &too_much(&sim), used),
            1,
        );
    }
    if faults.server_errors.is_some_and(|b| b.hits(request_no)) {
        return if request_no % 2 == 0 {
            let html = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>";
            with_weight((StatusCode::BAD_GATEWAY, html).into_response(), used)
        } else {
            binance_error(StatusCode::SERVICE_UNAVAILABLE, -1008, "Service Unavailable.", used)
        };
    }

    let Some(symbol) = q.get("symbol").filter(|s| !s.is_empty()) else {
        return binance_error(
            StatusCode::BAD_REQUEST,
            -1102,
            "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
            used,
        );
    };
    let Some(tf) = q.get("interval").and_then(|i| i.parse::<Timeframe>().ok()) else {
        return binance_error(StatusCode::BAD_REQUEST, -1120, "Invalid interval.", used);
    };
    let gen_ = &sim.config.generator;
    let Some(listed) = gen_.listed_ms(market, symbol) else {
        return binance_error(StatusCode::BAD_REQUEST, -1121, "Invalid symbol.", used);
    };
    let (start, end) = match (parse_ms(&q, "startTime"), parse_ms(&q, "endTime")) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(name), _) | (_, Err(name)) => {
            let msg = format!("Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.");
            return binance_error(StatusCode::BAD_REQUEST, -1100, &msg, used);
        }
    };

    // The venue's bar at open time `t`, as seen now; `None` where it has none.
    let bar = |t: i64| {
        if faults.missing.iter().any(|(a, b)| (*a..*b).contains(&t)) {
            None
        } else {
            gen_.bar(market, symbol, tf, t, now)
        }
    };
    let newest = tf.floor(now).min(end.map_or(i64::MAX, |e| tf.floor(e)));
    let bars: Vec<SimCandle> = select_bars(bar, tf, tf.ceil(listed), newest, start, limit)
        .into_iter()
        .flat_map(|b| faults.serve(b))
        .collect();
    if let Ok(mut served) = sim.served.lock() {
        served.extend(bars.iter().map(|b| (symbol.clone(), b.open_time_ms)));
    }
    let body = render(market, &bars);
    let reply = if faults.malformed.is_some_and(|b| b.hits(request_no)) {
        json(
            StatusCode::OK,
            format!("{}<!-- upstream reset -->", &body[..body.len() / 2]),
        )
    } else if faults.truncated.is_some_and(|b| b.hits(request_no)) {
        truncated(body)
    } else {
        json(StatusCode::OK, body)
    };
    with_weight(reply, used)
}

fn too_much(sim: &SimState) -> String {
    format!(
        "Too much request weight used; current limit is {} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
        sim.config.weight_limit
    )
}

/// Sends the first half of the body, then drops the connection.
fn truncated(body: String) -> Response {
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

/// Binance's selection rules: with `startTime`, the oldest `limit` bars from it (capped at
/// `endTime`); with only `endTime`, the newest `limit` bars up to it; with neither, the newest.
/// The still-open bar is included when the range reaches now. Missing bars (`bar` gives `None`) are
/// skipped. `first` is the listing's first bar, `newest` the last one the request may reach.
fn select_bars(
    bar: impl Fn(i64) -> Option<SimCandle>,
    tf: Timeframe,
    first: i64,
    newest: i64,
    start: Option<i64>,
    limit: usize,
) -> Vec<SimCandle> {
    let mut out = Vec::with_capacity(limit.min(1500));
    match start {
        Some(s) => {
            let mut t = tf.ceil(s).max(first);
            while t <= newest && out.len() < limit {
                out.extend(bar(t));
                t += tf.millis();
            }
        }
        None => {
            let mut t = newest;
            while t >= first && out.len() < limit {
                out.extend(bar(t));
                t -= tf.millis();
            }
            out.reverse();
        }
    }
    out
}

/// The exact 12-field row layout: spot prints 8 decimals everywhere, USD-M the tick precision.
fn render(market: Market, bars: &[SimCandle]) -> String {
    let mut s = String::with_capacity(bars.len() * 160 + 2);
    s.push('[');
    for (i, c) in bars.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let (pd, qd) = match market {
            Market::Spot => (8, 8),
            Market::UsdM => (c.price_decimals, c.qty_decimals),
        };
        let p = |v: i64| format_fixed(v, c.price_decimals, pd);
        let q = |v: i64| format_fixed(v, c.qty_decimals, qd);
        let quote_dp = c.quote_decimals;
        let quote = format_fixed(c.quote_volume, quote_dp, quote_dp);
        let taker_quote = format_fixed(
            (c.quote_volume as i128 * c.taker_buy_volume as i128 / c.volume.max(1) as i128) as i64,
            quote_dp,
            quote_dp,
        );
        s.push_str(&format!(
            r#"[{},"{}","{}","{}","{}","{}",{},"{}",{},"{}","{}","0"]"#,
            c.open_time_ms,
            p(c.open),
            p(c.high),
            p(c.low),
            p(c.close),
            q(c.volume),
            c.close_time_ms,
            quote,
            c.trades,
            q(c.taker_buy_volume),
            taker_quote,
        ));
    }
    s.push(']');
    s
}
