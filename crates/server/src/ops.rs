//! The operational endpoints: `/status`, `/healthz`, `/readyz`, `/metrics` and the OpenAPI
//! document.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use candlekeep_core::time::{HOUR_MS, now_ms};
use candlekeep_store::{CandleRead, Retention};
use serde::Serialize;
use utoipa::ToSchema;

use crate::params::iso;
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::ApiState;

/// A run in progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunningJob {
    pub id: i64,
    pub job: String,
    pub started_at: String,
    pub started_ms: i64,
}

/// What this service is and holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    /// Candlekeep's version.
    pub version: String,
    /// The backend and its mode (`sqlite /path`, `postgresql 16.2`, …).
    pub backend: String,
    pub schema_version: i64,
    /// Stored series.
    pub series: usize,
    pub running: Vec<RunningJob>,
    /// Bytes the database takes; null where the store cannot tell.
    pub database_size_bytes: Option<u64>,
    pub now_at: String,
    pub now_ms: i64,
}

/// The database's size, where the backend tells (a failure to tell is no reason to fail the
/// request: the size is then unknown).
pub(crate) async fn database_size(state: &ApiState) -> Option<u64> {
    state.store().database_size().await.ok().flatten()
}

/// The service's status.
#[utoipa::path(
    get,
    path = "/status",
    tag = "service",
    responses(
        (status = 200, description = "Backend, schema, series, running jobs", body = Status),
        (status = "4XX", description = "A problem", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is not answering", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn status(State(state): State<ApiState>) -> ApiResult<Json<Status>> {
    let store = state.store();
    let now = now_ms();
    Ok(Json(Status {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        backend: store.describe().await?,
        schema_version: store.schema_version().await?,
        series: store.series_status().await?.len(),
        running: state
            .service()
            .running()
            .into_iter()
            .map(|r| RunningJob {
                id: r.id,
                job: r.kind.as_str().to_owned(),
                started_at: iso(r.started_ms),
                started_ms: r.started_ms,
            })
            .collect(),
        database_size_bytes: database_size(&state).await,
        now_at: iso(now),
        now_ms: now,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "service",
    responses(
        (status = 200, description = "Always, while the process runs", body = Health),
        (status = "4XX", description = "A problem (a wrong method)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    #[schema(example = "ready")]
    pub status: String,
    /// Series whose newest bar is older than `quality.stale_after_hours`.
    pub stale_series: usize,
    pub newest_close_at: String,
    pub newest_close_ms: i64,
}

/// Readiness: the database answers and the data is fresh (the newest stored bar closed within
/// `quality.stale_after_hours`).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "service",
    responses(
        (status = 200, description = "Ready", body = Ready),
        (status = "4XX", description = "A problem (a wrong method)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not ready, and why", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn readyz(State(state): State<ApiState>) -> ApiResult<Json<Ready>> {
    let not_ready = |why: String| ApiError::Unavailable(format!("not ready: {why}"));
    let store = state.store();
    store
        .schema_version()
        .await
        .map_err(|_| not_ready("the database is not answering".into()))?;
    let freshness = store
        .freshness()
        .await
        .map_err(|_| not_ready("the database is not answering".into()))?;
    let now = now_ms();
    let stale_ms = i64::from(state.config().quality.stale_after_hours) * HOUR_MS;
    // The newest bar of all, not every series: one delisted coin must not take the API out of
    // service. The stale ones are counted in the answer and in /metrics.
    let Some(newest) = freshness.iter().map(|(_, _, close)| *close).max() else {
        return Err(not_ready("no data yet".into()));
    };
    let stale_series = freshness.iter().filter(|(_, _, c)| now - c > stale_ms).count();
    if now - newest > stale_ms {
        return Err(not_ready(format!(
            "data is stale: the newest bar closed at {} ({} h ago; quality.stale_after_hours = {})",
            iso(newest),
            (now - newest) / HOUR_MS,
            stale_ms / HOUR_MS
        )));
    }
    Ok(Json(Ready {
        status: "ready".into(),
        stale_series,
        newest_close_at: iso(newest),
        newest_close_ms: newest,
    }))
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "service",
    responses(
        (status = 200, description = "The metrics", body = String, content_type = "application/openmetrics-text"),
        (status = "4XX", description = "A problem (a wrong method)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is not answering", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn metrics(State(state): State<ApiState>) -> ApiResult<impl IntoResponse> {
    let now = now_ms();
    let freshness: Vec<(String, String, f64)> = state
        .store()
        .freshness()
        .await?
        .into_iter()
        .map(|(i, tf, close)| (i.to_string(), tf.to_string(), (now - close) as f64 / 1000.0))
        .collect();
    let size = database_size(&state).await;
    let body = state.metrics().render(&freshness, size);
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    ))
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "service",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json"),
        (status = "4XX", description = "A problem (a wrong method)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn openapi_json() -> impl IntoResponse {
    match crate::openapi().to_json() {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => ApiError::Internal(format!("rendering the OpenAPI document: {e}")).into_response(),
    }
}

/// The 404 of every path the API does not have.
pub async fn not_found(uri: axum::http::Uri) -> impl IntoResponse {
    Problem::new(
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {}; see /api/v1/openapi.json", uri.path()),
    )
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// First instant (default: 24 hours ago).
    #[param(value_type = Option<String>, pattern = r"^(20(1[0-9]|[2-9][0-9])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])(T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?(Z|[+-]0[0-9]:00)?)?|1[3-9][0-9]{11})?$")]
    pub from: Option<String>,
    /// End, exclusive (default: now).
    #[param(value_type = Option<String>, pattern = r"^(20(1[0-9]|[2-9][0-9])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])(T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?(Z|[+-]0[0-9]:00)?)?|1[3-9][0-9]{11})?$")]
    pub to: Option<String>,
    /// At most this many samples, the newest (1 to 10000, default 1440: a day of minutes).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 10000)]
    pub limit: Option<String>,
}

/// One health sample.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthPoint {
    pub at: String,
    pub at_ms: i64,
    pub cpu_pct: f64,
    pub mem_used_bytes: u64,
    pub mem_total_bytes: u64,
    pub disk_used_bytes: u64,
    pub disk_total_bytes: u64,
    pub rss_bytes: u64,
    /// Age of the stalest series' newest bar.
    pub freshness_lag_ms: Option<i64>,
    pub api_p99_ms: Option<f64>,
    pub api_requests: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthHistory {
    pub samples: Vec<HealthPoint>,
}

/// The health samples the health job took, ascending by time.
#[utoipa::path(
    get,
    path = "/health/history",
    tag = "service",
    params(HistoryQuery),
    responses(
        (status = "4XX", description = "Any other refusal", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "Samples in the range", body = HealthHistory),
        (status = 400, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is not answering", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn health_history(
    State(state): State<ApiState>,
    axum::extract::Query(q): axum::extract::Query<HistoryQuery>,
) -> ApiResult<Json<HealthHistory>> {
    use candlekeep_core::TimeRange;
    use candlekeep_core::time::DAY_MS;
    use candlekeep_store::HealthLog;

    let now = now_ms();
    let to = crate::params::opt_time("to", q.to.as_deref())?;
    let from = crate::params::opt_time("from", q.from.as_deref())?;
    let (from, to) = match (from, to) {
        (Some(f), Some(t)) if t < f => return Err(ApiError::bad("to", "must not be before from")),
        (Some(f), Some(t)) => (f, t),
        // Up to now, or an empty range when `from` is later.
        (Some(f), None) => (f, (now + 1).max(f)),
        (None, Some(t)) => (t - DAY_MS, t),
        (None, None) => (now + 1 - DAY_MS, now + 1),
    };
    let limit = crate::params::limit("limit", q.limit.as_deref(), 1_440, 10_000)?;
    let samples = state
        .store()
        .health_history(TimeRange::new(from, to), limit)
        .await?
        .into_iter()
        .map(|s| HealthPoint {
            at: iso(s.at_ms),
            at_ms: s.at_ms,
            cpu_pct: s.cpu_pct,
            mem_used_bytes: s.mem_used_bytes,
            mem_total_bytes: s.mem_total_bytes,
            disk_used_bytes: s.disk_used_bytes,
            disk_total_bytes: s.disk_total_bytes,
            rss_bytes: s.rss_bytes,
            freshness_lag_ms: s.freshness_lag_ms,
            api_p99_ms: s.api_p99_ms,
            api_requests: s.api_requests,
        })
        .collect();
    Ok(Json(HealthHistory { samples }))
}
