//! The read-only data endpoints: series and their coverage, candles (JSON or CSV, paged),
//! indicators, the gap ledger and the daily quality rows. Handlers read their inputs through
//! [`crate::params`] and the store through its role traits; no SQL lives here.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use candlekeep_core::time::{DAY_MS, now_ms};
use candlekeep_core::{Candle, Instrument, SourceId, TimeRange, Timeframe};
use candlekeep_store::{CandleRead, GapLedger, GapStatus, IndicatorStore};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::market::zone;
use crate::pages::{Lookup, Page, PageKey};
use crate::params::{self, iso};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::ApiState;

/// Candles per page unless `limit` says, and at most.
pub const DEFAULT_LIMIT: usize = 1_000;
pub const MAX_LIMIT: usize = 10_000;

pub(crate) fn default_timeframe(state: &ApiState) -> ApiResult<Timeframe> {
    state
        .config()
        .timeframe()
        .map_err(|e| ApiError::Internal(format!("{e:#}")))
}

// ---- instruments ----

#[derive(Debug, Serialize, ToSchema)]
pub struct SourceCount {
    #[schema(example = "binance-spot-rest")]
    pub source: String,
    pub count: i64,
}

/// A stored series and its coverage.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesInfo {
    #[schema(example = "spot:BTCUSDT")]
    pub instrument: String,
    #[schema(example = "spot")]
    pub market: String,
    #[schema(example = "BTCUSDT")]
    pub symbol: String,
    pub base: String,
    pub quote: String,
    #[schema(example = "1h")]
    pub timeframe: String,
    pub first_open_at: String,
    pub first_open_ms: i64,
    pub last_open_at: String,
    pub last_open_ms: i64,
    /// Stored bars.
    pub count: i64,
    /// Bars from the first to the last stored bar, both included.
    pub expected: i64,
    /// count / expected, 0 to 1.
    pub completeness: f64,
    /// Stored bars per source, most first.
    pub sources: Vec<SourceCount>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Instruments {
    pub series: Vec<SeriesInfo>,
}

/// Every stored series with its coverage.
#[utoipa::path(
    get,
    path = "/instruments",
    tag = "data",
    responses(
        (status = 200, description = "The stored series", body = Instruments),
        (status = "4XX", description = "A problem", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is not answering", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn instruments(State(state): State<ApiState>) -> ApiResult<Json<Instruments>> {
    let series = state
        .series()
        .await?
        .iter()
        .map(|s| SeriesInfo {
            instrument: s.instrument.to_string(),
            market: s.instrument.market.to_string(),
            symbol: s.instrument.symbol(),
            base: s.instrument.base.clone(),
            quote: s.instrument.quote.clone(),
            timeframe: s.timeframe.to_string(),
            first_open_at: iso(s.first_open_ms),
            first_open_ms: s.first_open_ms,
            last_open_at: iso(s.last_open_ms),
            last_open_ms: s.last_open_ms,
            count: s.count,
            expected: s.expected,
            completeness: s.completeness_pct() / 100.0,
            sources: s
                .sources
                .iter()
                .map(|(source, count)| SourceCount {
                    source: source.clone(),
                    count: *count,
                })
                .collect(),
        })
        .collect();
    Ok(Json(Instruments { series }))
}

// ---- candles ----

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CandleQuery {
    /// 1m, 5m, 15m, 1h, 4h or 1d (default: `collect.timeframe`).
    #[param(value_type = Option<crate::docs::TimeframeName>)]
    pub timeframe: Option<String>,
    /// First open time: YYYY-MM-DD, RFC 3339 or epoch ms (default: the first stored bar).
    #[param(value_type = Option<String>, pattern = r"^(20(1[0-9]|[2-9][0-9])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])(T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?(Z|[+-]0[0-9]:00)?)?|1[3-9][0-9]{11})?$")]
    pub from: Option<String>,
    /// End, exclusive, in the same forms (default: after the last stored bar).
    #[param(value_type = Option<String>, pattern = r"^(20(1[0-9]|[2-9][0-9])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])(T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?(Z|[+-]0[0-9]:00)?)?|1[3-9][0-9]{11})?$")]
    pub to: Option<String>,
    /// Candles per page, 1 to 10000 (default 1000).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 10000)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<String>, pattern = r"^([0-9]{1,16})?$")]
    pub cursor: Option<String>,
    /// `json` (default) or `csv`; `Accept: text/csv` asks for CSV too.
    #[param(value_type = Option<crate::docs::FormatName>)]
    pub format: Option<String>,
}

/// One candle and where it came from.
#[derive(Debug, Serialize, ToSchema)]
pub struct CandleOut {
    /// Open time, UTC.
    pub time: String,
    pub time_ms: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    /// Base volume; null where the source reports none.
    pub volume: Option<f64>,
    pub quote_volume: Option<f64>,
    pub trades: Option<u64>,
    #[schema(example = "binance-spot-rest")]
    pub source: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CandlePage {
    pub instrument: String,
    pub market: String,
    pub symbol: String,
    pub timeframe: String,
    pub count: usize,
    pub candles: Vec<CandleOut>,
    /// Pass as `cursor` (with the same other parameters) for the next page; null on the last.
    pub next_cursor: Option<String>,
    /// The next page's URL, when there is one.
    pub next: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

/// Candles of one series, paged.
#[utoipa::path(
    get,
    path = "/candles/{market}/{symbol}",
    tag = "data",
    params(
        ("market" = crate::docs::MarketName, Path, description = "spot or usdm"),
        ("symbol" = String, Path, description = "Base and quote, e.g. BTCUSDT", example = "BTCUSDT", pattern = r"^[A-Za-z0-9]{1,19}(USDT|USDC|FDUSD|BUSD|TUSD|USD|EUR|TRY|BTC|ETH|BNB)$"),
        CandleQuery
    ),
    responses(
        (status = "4XX", description = "Any other refusal", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "A page of candles (JSON, or CSV with a Link header to the next page)",
            content((CandlePage = "application/json"), (String = "text/csv"))),
        (status = 400, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such series is stored", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is not answering", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn candles(
    State(state): State<ApiState>,
    Path((market, symbol)): Path<(String, String)>,
    Query(q): Query<CandleQuery>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let instrument = params::instrument(&market, &symbol)?;
    let tf = params::timeframe(q.timeframe.as_deref(), default_timeframe(&state)?)?;
    let from = params::opt_time("from", q.from.as_deref())?;
    let to = params::opt_time("to", q.to.as_deref())?;
    if matches!((from, to), (Some(f), Some(t)) if t < f) {
        return Err(ApiError::bad("to", "must not be before from"));
    }
    let limit = params::limit("limit", q.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let format = match q.format.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("json") => Format::Json,
        Some("csv") => Format::Csv,
        Some(other) => return Err(ApiError::bad("format", format!("expected json or csv, got {other:?}"))),
        None if accepts_csv(&headers) => Format::Csv,
        None => Format::Json,
    };
    let request = CandleRequest {
        instrument,
        tf,
        from,
        to,
        limit,
        cursor: q.cursor.filter(|c| !c.is_empty()),
        format,
        uri,
    };
    // The same request since the series' last write: the bytes that went out then (refreshed
    // in the background once they are a second old).
    let key = PageKey {
        uri: request.uri.to_string(),
        csv: format == Format::Csv,
    };
    let series = (request.instrument.to_string(), tf.to_string());
    let pages = state.pages();
    match pages.lookup(&key, &series) {
        Lookup::Current(kept) => {
            if kept.wants_refresh() {
                let state = state.clone();
                let kept = kept.clone();
                tokio::spawn(async move {
                    let marks = state.pages().marks(&series);
                    match render_candles(&state, &request).await {
                        Ok(page) => state.pages().put(key, &series, marks, page),
                        Err(_) => kept.refresh_failed(),
                    }
                });
            }
            return Ok(kept.page.to_response());
        }
        // Written since: the first request reads the page again and answers with it; requests
        // arriving while it reads get the page from before the write (one read behind, not a
        // pile of identical reads on a busy store).
        Lookup::Outdated(kept) if !kept.claim_refresh() => return Ok(kept.page.to_response()),
        Lookup::Outdated(kept) => {
            let marks = pages.marks(&series);
            let page = match render_candles(&state, &request).await {
                Ok(page) => page,
                Err(e) => {
                    kept.refresh_failed();
                    return Err(e);
                }
            };
            pages.put(key, &series, marks, page.clone());
            return Ok(page.to_response());
        }
        Lookup::Missing => {}
    }
    let marks = pages.marks(&series);
    let page = render_candles(&state, &request).await?;
    pages.put(key, &series, marks, page.clone());
    Ok(page.to_response())
}

/// A checked request for candles.
#[derive(Debug, Clone)]
struct CandleRequest {
    instrument: Instrument,
    tf: Timeframe,
    from: Option<i64>,
    to: Option<i64>,
    limit: usize,
    cursor: Option<String>,
    format: Format,
    uri: axum::http::Uri,
}

/// Reads a page of candles and writes it out as it is sent.
async fn render_candles(state: &ApiState, r: &CandleRequest) -> ApiResult<Page> {
    let (instrument, tf) = (&r.instrument, r.tf);
    let (id, status) = state.stored_series(instrument, tf).await?;
    let tf_ms = tf.millis();
    let end = r.to.unwrap_or(i64::MAX).min(status.last_open_ms + tf_ms);
    let first = tf.ceil(r.from.unwrap_or(status.first_open_ms).max(status.first_open_ms));
    let start = match r.cursor.as_deref() {
        None => first,
        // A cursor is where the next page starts; one outside the range reads what is inside.
        Some(c) => match c.parse::<i64>() {
            Ok(ms) => tf.ceil(ms.clamp(first, end.max(first))),
            _ => return Err(ApiError::bad("cursor", "not a cursor; pass next_cursor unchanged")),
        },
    };
    let (candles, next) = read_page(state, instrument, id, tf, start, end, r.limit).await?;
    let next_url = next.map(|n| next_link(&r.uri, n));
    // Thousands of rows to write out: on the blocking pool, so the runtime's threads keep
    // answering other requests meanwhile.
    let r = r.clone();
    tokio::task::spawn_blocking(move || write_page(&r, candles, next, next_url))
        .await
        .map_err(|e| ApiError::Internal(format!("writing a page stopped: {e}")))?
}

/// A page's candles with the source of each.
type SourcedCandles = Vec<(Candle, Option<SourceId>)>;

/// The page's bytes and headers, as JSON or CSV.
fn write_page(
    r: &CandleRequest,
    candles: SourcedCandles,
    next: Option<i64>,
    next_url: Option<String>,
) -> ApiResult<Page> {
    let (instrument, tf) = (&r.instrument, r.tf);
    let rows: Vec<CandleOut> = candles
        .into_iter()
        .map(|(c, source)| CandleOut {
            time: iso(c.open_time_ms),
            time_ms: c.open_time_ms,
            open: c.open,
            high: c.high,
            low: c.low,
            close: c.close,
            volume: c.volume,
            quote_volume: c.quote_volume,
            trades: c.trades,
            source: source.map(|s| s.to_string()),
        })
        .collect();
    let mut headers = HeaderMap::new();
    let body = match r.format {
        Format::Json => {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            serde_json::to_vec(&CandlePage {
                instrument: instrument.to_string(),
                market: instrument.market.to_string(),
                symbol: instrument.symbol(),
                timeframe: tf.to_string(),
                count: rows.len(),
                candles: rows,
                next_cursor: next.map(|n| n.to_string()),
                next: next_url,
            })
            .map_err(|e| ApiError::Internal(format!("writing JSON: {e}")))?
        }
        Format::Csv => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            if let (Some(n), Some(url)) = (next, next_url) {
                if let Ok(v) = HeaderValue::from_str(&format!("<{url}>; rel=\"next\"")) {
                    headers.insert(header::LINK, v);
                }
                headers.insert("x-next-cursor", HeaderValue::from(n));
            }
            csv_body(&rows).map_err(|e| ApiError::Internal(format!("writing CSV: {e}")))?
        }
    };
    Ok(Page {
        body: bytes::Bytes::from(body),
        headers,
    })
}

fn accepts_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/csv"))
}

/// Windows of bar slots are read from `start` until `limit` candles are found or `end` is
/// reached (a gap makes a window come back short); returns the candles and where the next page
/// starts, if anything may remain.
async fn read_page(
    state: &ApiState,
    instrument: &Instrument,
    id: i64,
    tf: Timeframe,
    start: i64,
    end: i64,
    limit: usize,
) -> ApiResult<(SourcedCandles, Option<i64>)> {
    // A page never reads more than this many windows: a long hole ends the page early, with a
    // cursor after the part read.
    const MAX_WINDOWS: usize = 32;
    let store = state.store();
    let tf_ms = tf.millis();
    let mut rows = Vec::new();
    let mut pos = start;
    let mut windows = 0;
    while rows.len() < limit && pos < end && windows < MAX_WINDOWS {
        windows += 1;
        let window_end = pos.saturating_add((limit - rows.len()) as i64 * tf_ms).min(end);
        let range = TimeRange::new(pos, window_end);
        let candles = store.candles(instrument, tf, range).await?;
        let sources = store.stored_sources(id, tf, range).await?;
        let mut sources = sources.into_iter().peekable();
        for c in candles {
            // Both ascending by open time: the source of each candle is found walking along.
            while sources.peek().is_some_and(|(t, _)| *t < c.open_time_ms) {
                sources.next();
            }
            let source = sources
                .peek()
                .filter(|(t, _)| *t == c.open_time_ms)
                .map(|(_, s): &(i64, SourceId)| *s);
            rows.push((c, source));
        }
        pos = window_end;
    }
    Ok((rows, (pos < end).then_some(pos)))
}

/// The request's own URL with `cursor` set to `next`.
fn next_link(uri: &axum::http::Uri, next: i64) -> String {
    let mut query: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("cursor="))
        .collect();
    let cursor = format!("cursor={next}");
    query.push(&cursor);
    format!("{}?{}", uri.path(), query.join("&"))
}

fn csv_body(rows: &[CandleOut]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 96 + 96));
    w.write_record([
        "time",
        "time_ms",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "quote_volume",
        "trades",
        "source",
    ])?;
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for r in rows {
        w.write_record([
            r.time.clone(),
            r.time_ms.to_string(),
            r.open.to_string(),
            r.high.to_string(),
            r.low.to_string(),
            r.close.to_string(),
            opt(r.volume),
            opt(r.quote_volume),
            r.trades.map(|t| t.to_string()).unwrap_or_default(),
            r.source.clone().unwrap_or_default(),
        ])?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

// ---- indicators ----

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IndicatorQuery {
    /// 1m, 5m, 15m, 1h, 4h or 1d (default: `collect.timeframe`).
    #[param(value_type = Option<crate::docs::TimeframeName>)]
    pub timeframe: Option<String>,
    /// One indicator over a range (e.g. `rsi_14`); without it, the latest standard set.
    #[param(value_type = Option<String>, pattern = r"^((rsi|ema|sma|atr|natr|adx|cci)_([2-9]|[1-9][0-9]|[1-9][0-9]{2})|macd_12_26_9|macd_signal_12_26_9|macd_hist_12_26_9)?$", example = "rsi_14")]
    pub series: Option<String>,
    /// With `series`: first bar (default: 500 bars before the last).
    #[param(value_type = Option<String>, pattern = r"^(20(1[0-9]|[2-9][0-9])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])(T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?(Z|[+-]0[0-9]:00)?)?|1[3-9][0-9]{11})?$")]
    pub from: Option<String>,
    /// With `series`: end, exclusive (default: after the last bar).
    #[param(value_type = Option<String>, pattern = r"^(20(1[0-9]|[2-9][0-9])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])(T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?(Z|[+-]0[0-9]:00)?)?|1[3-9][0-9]{11})?$")]
    pub to: Option<String>,
}

/// The latest stored standard set of one series, or one indicator over a range.
#[derive(Debug, Serialize, ToSchema)]
pub struct Indicators {
    pub instrument: String,
    pub timeframe: String,
    /// The latest set: the bar the values are for.
    pub bar_at: Option<String>,
    pub bar_ms: Option<i64>,
    pub computed_at: Option<String>,
    pub computed_ms: Option<i64>,
    /// The latest set, by name (`rsi_14`, `macd_12_26_9`…).
    pub values: Option<BTreeMap<String, f64>>,
    /// By RSI(14): overbought, oversold or neutral.
    pub rsi_zone: Option<String>,
    /// With `series`: its name and values.
    pub series: Option<String>,
    pub points: Option<Vec<IndicatorPoint>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IndicatorPoint {
    pub time: String,
    pub time_ms: i64,
    pub value: f64,
}

/// Indicators of one series.
#[utoipa::path(
    get,
    path = "/indicators/{market}/{symbol}",
    tag = "data",
    params(
        ("market" = crate::docs::MarketName, Path, description = "spot or usdm"),
        ("symbol" = String, Path, description = "e.g. BTCUSDT", example = "BTCUSDT", pattern = r"^[A-Za-z0-9]{1,19}(USDT|USDC|FDUSD|BUSD|TUSD|USD|EUR|TRY|BTC|ETH|BNB)$"),
        IndicatorQuery
    ),
    responses(
        (status = "4XX", description = "Any other refusal", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The latest set, or one series over a range", body = Indicators),
        (status = 400, description = "A bad parameter (an unknown series lists the supported ones)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such series, or no indicators stored yet", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is not answering", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn indicators(
    State(state): State<ApiState>,
    Path((market, symbol)): Path<(String, String)>,
    Query(q): Query<IndicatorQuery>,
) -> ApiResult<Json<Indicators>> {
    let instrument = params::instrument(&market, &symbol)?;
    let tf = params::timeframe(q.timeframe.as_deref(), default_timeframe(&state)?)?;
    let from = params::opt_time("from", q.from.as_deref())?;
    let to = params::opt_time("to", q.to.as_deref())?;
    let spec = q
        .series
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(crate::series::Spec::parse)
        .transpose()?;
    let (id, status) = state.stored_series(&instrument, tf).await?;
    let mut out = Indicators {
        instrument: instrument.to_string(),
        timeframe: tf.to_string(),
        bar_at: None,
        bar_ms: None,
        computed_at: None,
        computed_ms: None,
        values: None,
        rsi_zone: None,
        series: None,
        points: None,
    };
    match spec {
        None => {
            let stored: Vec<_> = state
                .store()
                .indicator_values()
                .await?
                .into_iter()
                .filter(|v| v.instrument_id == id && v.timeframe == tf)
                .collect();
            let Some(first) = stored.first() else {
                return Err(ApiError::NotFound(format!(
                    "no indicators are stored for {instrument} {tf} yet; they are computed after each sync \
                     (or POST /api/v1/jobs/indicators)"
                )));
            };
            out.bar_at = Some(iso(first.bar_ms));
            out.bar_ms = Some(first.bar_ms);
            out.computed_at = Some(iso(first.computed_at_ms));
            out.computed_ms = Some(first.computed_at_ms);
            let values: BTreeMap<String, f64> = stored.iter().map(|v| (v.name.clone(), v.value)).collect();
            out.rsi_zone = values.get("rsi_14").map(|r| zone(*r).to_owned());
            out.values = Some(values);
        }
        Some(spec) => {
            let tf_ms = tf.millis();
            let end = to.unwrap_or(i64::MAX).min(status.last_open_ms + tf_ms);
            let start = tf.ceil(
                from.unwrap_or(status.last_open_ms - 499 * tf_ms)
                    .max(status.first_open_ms),
            );
            if tf.bars_between(start, end) > MAX_LIMIT as i64 {
                return Err(ApiError::bad(
                    "from",
                    format!("at most {MAX_LIMIT} bars at once; narrow from/to"),
                ));
            }
            let read_from = (start - spec.warmup_bars() as i64 * tf_ms).max(status.first_open_ms);
            let candles = state
                .store()
                .candles(&instrument, tf, TimeRange::new(read_from, end.max(read_from)))
                .await?;
            let values = spec.compute(&candles).map_err(|e| ApiError::bad("series", e))?;
            out.points = Some(
                candles
                    .iter()
                    .zip(values)
                    .filter(|(c, v)| c.open_time_ms >= start && v.is_finite())
                    .map(|(c, value)| IndicatorPoint {
                        time: iso(c.open_time_ms),
                        time_ms: c.open_time_ms,
                        value,
                    })
                    .collect(),
            );
            out.series = Some(spec.name());
        }
    }
    Ok(Json(out))
}

// ---- gaps ----

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GapQuery {
    /// open, repaired or unrepairable (default: all).
    #[param(value_type = Option<crate::docs::GapStatusName>)]
    pub status: Option<String>,
    /// Gaps ending after this time (default: all).
    #[param(value_type = Option<String>, pattern = r"^(20(1[0-9]|[2-9][0-9])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])(T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?(Z|[+-]0[0-9]:00)?)?|1[3-9][0-9]{11})?$")]
    pub since: Option<String>,
}

/// An entry of the gap ledger.
#[derive(Debug, Serialize, ToSchema)]
pub struct GapOut {
    pub instrument: String,
    pub market: String,
    pub symbol: String,
    pub timeframe: String,
    pub start_at: String,
    pub start_ms: i64,
    /// Exclusive.
    pub end_at: String,
    pub end_ms: i64,
    pub bars: i64,
    #[schema(example = "not-requested")]
    pub cause: String,
    #[schema(example = "open")]
    pub status: String,
    pub attempts: i64,
    pub repaired_by: Option<String>,
    pub first_seen_at: String,
    pub first_seen_ms: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Gaps {
    pub gaps: Vec<GapOut>,
}

/// The gap ledger.
#[utoipa::path(
    get,
    path = "/gaps",
    tag = "data",
    params(GapQuery),
    responses(
        (status = "4XX", description = "Any other refusal", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "Gaps by series and time", body = Gaps),
        (status = 400, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is not answering", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn gaps(State(state): State<ApiState>, Query(q): Query<GapQuery>) -> ApiResult<Json<Gaps>> {
    let status =
        match q.status.as_deref() {
            None => None,
            Some(s) => Some(GapStatus::parse(s).ok_or_else(|| {
                ApiError::bad("status", format!("expected open, repaired or unrepairable, got {s:?}"))
            })?),
        };
    let since = params::opt_time("since", q.since.as_deref())?.unwrap_or(0);
    let gaps = state
        .store()
        .gaps(status, since)
        .await?
        .into_iter()
        .map(|g| GapOut {
            bars: g.bars(),
            instrument: g.instrument.to_string(),
            market: g.instrument.market.to_string(),
            symbol: g.instrument.symbol(),
            timeframe: g.timeframe.to_string(),
            start_at: iso(g.start_ms),
            start_ms: g.start_ms,
            end_at: iso(g.end_ms),
            end_ms: g.end_ms,
            cause: g.cause.to_string(),
            status: g.status.as_str().to_owned(),
            attempts: g.attempts,
            repaired_by: g.repaired_by,
            first_seen_at: iso(g.first_seen_ms),
            first_seen_ms: g.first_seen_ms,
        })
        .collect();
    Ok(Json(Gaps { gaps }))
}

// ---- quality ----

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QualityQuery {
    /// First day (default: `quality.days` back).
    #[param(value_type = Option<String>, pattern = r"^(20(1[0-9]|[2-9][0-9])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])(T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?(Z|[+-]0[0-9]:00)?)?|1[3-9][0-9]{11})?$")]
    pub since: Option<String>,
    /// Only this asset or symbol (BTC, BTCUSDT or spot:BTCUSDT).
    #[param(value_type = Option<String>, pattern = r"^[A-Za-z0-9:]{0,40}$", example = "BTC")]
    pub symbol: Option<String>,
}

/// One day of one series, judged.
#[derive(Debug, Serialize, ToSchema)]
pub struct QualityOut {
    pub instrument: String,
    pub market: String,
    pub symbol: String,
    pub timeframe: String,
    pub day_at: String,
    pub day_ms: i64,
    pub expected: i64,
    pub stored: i64,
    pub missing: i64,
    pub rejected: i64,
    pub flagged: i64,
    pub divergence_bps: Option<f64>,
    pub fallback_share: f64,
    /// 0–100.
    pub score: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Quality {
    pub days: Vec<QualityOut>,
}

/// The daily quality rows, as the quality job last stored them.
#[utoipa::path(
    get,
    path = "/quality",
    tag = "data",
    params(QualityQuery),
    responses(
        (status = "4XX", description = "Any other refusal", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "Days by series", body = Quality),
        (status = 400, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is not answering", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn quality(State(state): State<ApiState>, Query(q): Query<QualityQuery>) -> ApiResult<Json<Quality>> {
    let since = match params::opt_time("since", q.since.as_deref())? {
        Some(t) => t,
        None => now_ms() - i64::from(state.config().quality.days) * DAY_MS,
    };
    let symbol = q.symbol.filter(|s| !s.is_empty());
    if symbol
        .as_deref()
        .is_some_and(|s| s.len() > 40 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b':'))
    {
        return Err(ApiError::bad(
            "symbol",
            "expected an asset or symbol such as BTC, BTCUSDT or spot:BTCUSDT",
        ));
    }
    let days = state
        .store()
        .quality_days(since)
        .await?
        .into_iter()
        .filter(|d| symbol.as_deref().is_none_or(|s| params::names(s, &d.instrument)))
        .map(|d| QualityOut {
            instrument: d.instrument.to_string(),
            market: d.instrument.market.to_string(),
            symbol: d.instrument.symbol(),
            timeframe: d.timeframe.to_string(),
            day_at: iso(d.day_ms),
            day_ms: d.day_ms,
            expected: d.expected,
            stored: d.stored,
            missing: d.missing,
            rejected: d.rejected,
            flagged: d.flagged,
            divergence_bps: d.divergence_bps,
            fallback_share: d.fallback_share,
            score: d.score,
        })
        .collect();
    Ok(Json(Quality { days }))
}
