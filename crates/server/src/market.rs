//! `GET /market`: one row per series — last price, 24 h change and volume, RSI(14) and its
//! zone, freshness and today's quality score.
//!
//! The table reads a day of bars (plus RSI's warm-up) of every series, which is far too much
//! for every request of a dashboard polled by many clients. It is computed in the background
//! and served from memory as ready-made JSON: recomputed when the event bus says candles were
//! stored or a run ended (at most every `market_min_interval`), and at least every
//! `market_max_age` (other processes may write to a shared database). A request never waits
//! for a recomputation, except the very first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use bytes::Bytes;
use candlekeep_core::time::{DAY_MS, HOUR_MS, now_ms};
use candlekeep_core::{Candle, TimeRange};
use candlekeep_engine::indicators::{OVERBOUGHT, OVERSOLD};
use candlekeep_store::{CandleRead, GapLedger, SeriesStatus};
use serde::Serialize;
use utoipa::ToSchema;

use crate::params::iso;
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::ApiState;

/// RSI's Wilder average forgets a bar by 13/14 per bar: after 600 bars what came before weighs
/// (13/14)^600 ≈ 5e-20 of the value, so the RSI from these bars is the RSI of the whole history.
const RSI_WARMUP_BARS: i64 = 600;

/// One series in the market table.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MarketRow {
    #[schema(example = "spot:BTCUSDT")]
    pub instrument: String,
    #[schema(example = "spot")]
    pub market: String,
    #[schema(example = "BTCUSDT")]
    pub symbol: String,
    #[schema(example = "1h")]
    pub timeframe: String,
    /// Close of the newest stored bar.
    pub last_price: f64,
    /// Percent change of the close over the 24 hours before the newest bar.
    pub change_24h_pct: Option<f64>,
    /// Base volume of the newest 24 hours of bars; null when a bar has no volume.
    pub volume_24h: Option<f64>,
    /// RSI(14) at the newest bar (TA-Lib's definition).
    pub rsi_14: Option<f64>,
    /// `overbought` (≥ 70), `oversold` (≤ 30) or `neutral`.
    pub rsi_zone: Option<String>,
    /// When the newest bar closed.
    pub updated_at: String,
    pub updated_ms: i64,
    /// Seconds since the newest bar closed (when the table was computed).
    pub age_seconds: i64,
    /// Older than `quality.stale_after_hours`.
    pub stale: bool,
    /// Today's quality score (0–100) as last judged by the quality job; null before it ran today.
    pub quality_score: Option<f64>,
}

/// The market table.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MarketTable {
    pub computed_at: String,
    pub computed_ms: i64,
    pub stale_after_hours: u32,
    pub rows: Vec<MarketRow>,
}

/// The table as served, and when it was computed.
#[derive(Debug)]
struct Snapshot {
    body: Bytes,
    at: Instant,
}

/// The last computed table; see the module's doc for when it is recomputed.
#[derive(Debug, Default)]
pub struct MarketCache {
    current: RwLock<Option<Arc<Snapshot>>>,
    dirty: AtomicBool,
    refreshing: Arc<tokio::sync::Mutex<()>>,
}

impl MarketCache {
    /// Something was stored: the table is due once `market_min_interval` has passed.
    pub fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Relaxed);
    }

    fn current(&self) -> Option<Arc<Snapshot>> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn set(&self, body: Bytes) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(Snapshot {
            body,
            at: Instant::now(),
        }));
    }
}

/// The table's JSON: the cached one (starting a background refresh when it is due), or on the
/// first request a fresh one.
async fn table_json(state: &ApiState) -> ApiResult<Bytes> {
    let cache = &state.inner.shared.market;
    let options = state.options();
    if let Some(snapshot) = cache.current() {
        let age = snapshot.at.elapsed();
        let due = age >= options.market_max_age
            || (cache.dirty.load(Ordering::Relaxed) && age >= options.market_min_interval);
        // One refresh at a time; the others keep serving the table they have.
        let guard = if due {
            cache.refreshing.clone().try_lock_owned().ok()
        } else {
            None
        };
        if let Some(guard) = guard {
            let state = state.clone();
            tokio::spawn(async move {
                if let Err(e) = refresh(&state).await {
                    tracing::warn!(error = %e, "could not recompute the market table");
                }
                drop(guard);
            });
        }
        return Ok(snapshot.body.clone());
    }
    let _guard = cache.refreshing.lock().await;
    if let Some(snapshot) = cache.current() {
        return Ok(snapshot.body.clone());
    }
    refresh(state).await
}

async fn refresh(state: &ApiState) -> ApiResult<Bytes> {
    let cache = &state.inner.shared.market;
    // Cleared first: what is stored while this runs makes the next refresh due.
    cache.dirty.store(false, Ordering::Relaxed);
    let table = compute(state).await?;
    let body = Bytes::from(serde_json::to_vec(&table).map_err(|e| ApiError::Internal(e.to_string()))?);
    cache.set(body.clone());
    Ok(body)
}

async fn compute(state: &ApiState) -> ApiResult<MarketTable> {
    let store = state.store();
    let now = now_ms();
    let stale_after_hours = state.config().quality.stale_after_hours;
    let today = now - now.rem_euclid(DAY_MS);
    let scores: HashMap<(String, String), f64> = store
        .quality_days(today)
        .await?
        .into_iter()
        .filter(|q| q.day_ms == today)
        .map(|q| ((q.instrument.to_string(), q.timeframe.to_string()), q.score))
        .collect();
    let mut rows = Vec::new();
    for s in state.series().await?.iter() {
        let tf_ms = s.timeframe.millis();
        let day_bars = (DAY_MS / tf_ms).max(1);
        let from = (s.last_open_ms - (day_bars + RSI_WARMUP_BARS) * tf_ms).max(s.first_open_ms);
        let candles = store
            .candles(&s.instrument, s.timeframe, TimeRange::new(from, s.last_open_ms + tf_ms))
            .await?;
        let key = (s.instrument.to_string(), s.timeframe.to_string());
        if let Some(row) = row(s, &candles, now, stale_after_hours, scores.get(&key).copied()) {
            rows.push(row);
        }
        // A read served from memory does not wait: without this the loop over every series
        // would keep its runtime thread from the requests queued behind it.
        tokio::task::yield_now().await;
    }
    Ok(MarketTable {
        computed_at: iso(now),
        computed_ms: now,
        stale_after_hours,
        rows,
    })
}

fn row(
    s: &SeriesStatus,
    candles: &[Candle],
    now: i64,
    stale_after_hours: u32,
    score: Option<f64>,
) -> Option<MarketRow> {
    let last = candles.last()?;
    let tf_ms = s.timeframe.millis();
    let day_ago = last.open_time_ms - DAY_MS;
    let change_24h_pct = candles
        .iter()
        .rev()
        .find(|c| c.open_time_ms <= day_ago)
        .filter(|c| c.close > 0.0)
        .map(|c| 100.0 * (last.close - c.close) / c.close);
    // Never invented: one bar without a volume makes the day's volume unknown.
    let volume_24h = candles
        .iter()
        .filter(|c| c.open_time_ms > day_ago)
        .map(|c| c.volume)
        .sum::<Option<f64>>();
    let closes: Vec<f64> = candles.iter().map(|c| c.close).collect();
    let mut out = vec![f64::NAN; closes.len()];
    let rsi_14 = candlekeep_ta::rsi(&closes, 14, &mut out)
        .ok()
        .and_then(|()| out.last().copied())
        .filter(|v| v.is_finite());
    let rsi_zone = rsi_14.map(|r| zone(r).to_owned());
    let closed_ms = last.open_time_ms + tf_ms;
    let age_ms = (now - closed_ms).max(0);
    Some(MarketRow {
        instrument: s.instrument.to_string(),
        market: s.instrument.market.to_string(),
        symbol: s.instrument.symbol(),
        timeframe: s.timeframe.to_string(),
        last_price: last.close,
        change_24h_pct,
        volume_24h,
        rsi_14,
        rsi_zone,
        updated_at: iso(closed_ms),
        updated_ms: closed_ms,
        age_seconds: age_ms / 1000,
        stale: age_ms > i64::from(stale_after_hours) * HOUR_MS,
        quality_score: score,
    })
}

/// RSI's zone by the engine's thresholds.
pub fn zone(rsi: f64) -> &'static str {
    if rsi >= OVERBOUGHT {
        "overbought"
    } else if rsi <= OVERSOLD {
        "oversold"
    } else {
        "neutral"
    }
}

/// The market overview.
#[utoipa::path(
    get,
    path = "/market",
    tag = "data",
    responses(
        (status = 200, description = "One row per stored series", body = MarketTable),
        (status = "4XX", description = "A problem", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is not answering", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn market(State(state): State<ApiState>) -> ApiResult<impl IntoResponse> {
    let body = table_json(&state).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body))
}
