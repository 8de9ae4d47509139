//! `POST /jobs/{job}`: one route per job, so the document gives each job the arguments it takes
//! (`JobArgs::check` refuses the others) and a client or fuzzer generated from it sends only
//! those. Each handler is the shared [`crate::jobs::start`] with its job.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use candlekeep_app::jobs::JobKind;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::jobs::{Started, start};
use crate::problem::{ApiResult, Problem};
use crate::state::ApiState;

/// What starting any job may answer (one set for every `POST /jobs/…`).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // Only the document reads it: the handlers answer through `start`.
pub enum StartResponses {
    /// Started; follow it at links.self or on /events
    #[response(status = 202)]
    Started(Started),
    /// Any other refusal
    #[response(status = "4XX", content_type = "application/problem+json")]
    Other(Problem),
    /// The body is not JSON
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// No or a wrong admin token
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// No admin token is configured: writes are off
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// The job is running
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(Problem),
    /// The body is too large
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
    /// An argument is wrong (field names it)
    #[response(status = 422, content_type = "application/problem+json")]
    Invalid(Problem),
    /// The service is stopping or the database is not answering
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

/// The sync job's arguments (all optional).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Only the document reads it: the service parses `JobArgs` itself.
pub struct SyncArgs {
    /// Assets or symbols (BTC or BTCUSDT); default: the configured selection.
    #[schema(value_type = Option<Vec<crate::docs::SymbolName>>, min_items = 1, max_items = 1000, example = json!(["BTC", "ETH"]))]
    symbols: Option<Vec<String>>,
    /// The N best-ranked coins of the stored universe instead of `symbols`.
    #[schema(minimum = 1, maximum = 10000)]
    max_coins: Option<u32>,
    /// Markets; default: `collect.markets`.
    #[schema(value_type = Option<Vec<crate::docs::MarketName>>, min_items = 1)]
    markets: Option<Vec<String>>,
    /// Default: `collect.timeframe`.
    #[schema(value_type = Option<crate::docs::TimeframeName>)]
    timeframe: Option<String>,
}

/// Starts a run of the sync job: the newest closed bars of every series, then the indicators. Needs the admin token; refused while the job runs.
#[utoipa::path(
    post,
    path = "/jobs/sync",
    tag = "jobs",
    request_body(content = Option<SyncArgs>, content_type = "application/json", description = "The job's arguments; an empty body means the configured defaults"),
    security(("admin_token" = [])),
    responses(StartResponses)
)]
pub async fn sync(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    start(&state, JobKind::Sync, &headers, &body).await
}

/// The backfill job's arguments (all optional but `from`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Only the document reads it: the service parses `JobArgs` itself.
pub struct BackfillArgs {
    /// Assets or symbols (BTC or BTCUSDT); default: the configured selection.
    #[schema(value_type = Option<Vec<crate::docs::SymbolName>>, min_items = 1, max_items = 1000, example = json!(["BTC", "ETH"]))]
    symbols: Option<Vec<String>>,
    /// The N best-ranked coins of the stored universe instead of `symbols`.
    #[schema(minimum = 1, maximum = 10000)]
    max_coins: Option<u32>,
    /// Markets; default: `collect.markets`.
    #[schema(value_type = Option<Vec<crate::docs::MarketName>>, min_items = 1)]
    markets: Option<Vec<String>>,
    /// Default: `collect.timeframe`.
    #[schema(value_type = Option<crate::docs::TimeframeName>)]
    timeframe: Option<String>,
    /// First day (UTC).
    #[schema(
        pattern = r"^20(1[0-9]|[2-9][0-9])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$",
        example = "2024-01-01"
    )]
    from: String,
    /// The day after the last; default: up to now.
    #[schema(
        pattern = r"^20(1[0-9]|[2-9][0-9])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$",
        example = "2024-01-15"
    )]
    to: Option<String>,
}

/// Starts a run of the backfill job: a date range of history. Needs the admin token; refused while the job runs.
#[utoipa::path(
    post,
    path = "/jobs/backfill",
    tag = "jobs",
    request_body(content = BackfillArgs, content_type = "application/json", description = "The job's arguments"),
    security(("admin_token" = [])),
    responses(StartResponses)
)]
pub async fn backfill(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    start(&state, JobKind::Backfill, &headers, &body).await
}

/// The indicators job's arguments (all optional).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Only the document reads it: the service parses `JobArgs` itself.
pub struct IndicatorsArgs {
    /// Assets or symbols (BTC or BTCUSDT); default: the configured selection.
    #[schema(value_type = Option<Vec<crate::docs::SymbolName>>, min_items = 1, max_items = 1000, example = json!(["BTC", "ETH"]))]
    symbols: Option<Vec<String>>,
    /// Default: `collect.timeframe`.
    #[schema(value_type = Option<crate::docs::TimeframeName>)]
    timeframe: Option<String>,
}

/// Starts a run of the indicators job: the latest standard indicator set of every series. Needs the admin token; refused while the job runs.
#[utoipa::path(
    post,
    path = "/jobs/indicators",
    tag = "jobs",
    request_body(content = Option<IndicatorsArgs>, content_type = "application/json", description = "The job's arguments; an empty body means the configured defaults"),
    security(("admin_token" = [])),
    responses(StartResponses)
)]
pub async fn indicators(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    start(&state, JobKind::Indicators, &headers, &body).await
}

/// The gaps-fill job's arguments (all optional).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Only the document reads it: the service parses `JobArgs` itself.
pub struct GapsFillArgs {
    /// Assets or symbols (BTC or BTCUSDT); default: the configured selection.
    #[schema(value_type = Option<Vec<crate::docs::SymbolName>>, min_items = 1, max_items = 1000, example = json!(["BTC", "ETH"]))]
    symbols: Option<Vec<String>>,
    /// First day (UTC); default: `gaps.repair_days` back.
    #[schema(
        pattern = r"^20(1[0-9]|[2-9][0-9])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$",
        example = "2024-01-01"
    )]
    from: Option<String>,
}

/// Starts a run of the gaps-fill job: repairs the open gaps through the fallback chains. Needs the admin token; refused while the job runs.
#[utoipa::path(
    post,
    path = "/jobs/gaps-fill",
    tag = "jobs",
    request_body(content = Option<GapsFillArgs>, content_type = "application/json", description = "The job's arguments; an empty body means the configured defaults"),
    security(("admin_token" = [])),
    responses(StartResponses)
)]
pub async fn gaps_fill(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    start(&state, JobKind::GapsFill, &headers, &body).await
}

/// The quality job's arguments (all optional).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Only the document reads it: the service parses `JobArgs` itself.
pub struct QualityArgs {
    /// Days to judge; default: `quality.days`.
    #[schema(minimum = 1, maximum = 6000)]
    days: Option<u32>,
}

/// Starts a run of the quality job: the stored-range index checked and the daily quality rows. Needs the admin token; refused while the job runs.
#[utoipa::path(
    post,
    path = "/jobs/quality",
    tag = "jobs",
    request_body(content = Option<QualityArgs>, content_type = "application/json", description = "The job's arguments; an empty body means the configured defaults"),
    security(("admin_token" = [])),
    responses(StartResponses)
)]
pub async fn quality(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    start(&state, JobKind::Quality, &headers, &body).await
}

/// The universe job's arguments (all optional).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Only the document reads it: the service parses `JobArgs` itself.
pub struct UniverseArgs {
    /// The N best-ranked coins of the stored universe instead of `symbols`.
    #[schema(minimum = 1, maximum = 10000)]
    max_coins: Option<u32>,
}

/// Starts a run of the universe job: CoinGecko's ranking and every venue's instrument list. Needs the admin token; refused while the job runs.
#[utoipa::path(
    post,
    path = "/jobs/universe",
    tag = "jobs",
    request_body(content = Option<UniverseArgs>, content_type = "application/json", description = "The job's arguments; an empty body means the configured defaults"),
    security(("admin_token" = [])),
    responses(StartResponses)
)]
pub async fn universe(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    start(&state, JobKind::Universe, &headers, &body).await
}

/// No arguments: the job takes none (an empty body, `null` or `{}`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// Starts a run of the retention job: deletes what `[retention]` says may go. Needs the admin token; refused while the job runs.
#[utoipa::path(
    post,
    path = "/jobs/retention",
    tag = "jobs",
    request_body(content = Option<NoArgs>, content_type = "application/json", description = "None: the job takes no arguments"),
    security(("admin_token" = [])),
    responses(StartResponses)
)]
pub async fn retention(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    start(&state, JobKind::Retention, &headers, &body).await
}

/// Starts a run of the health job: a sample of the machine's and the service's health. Needs the admin token; refused while the job runs.
#[utoipa::path(
    post,
    path = "/jobs/health",
    tag = "jobs",
    request_body(content = Option<NoArgs>, content_type = "application/json", description = "None: the job takes no arguments"),
    security(("admin_token" = [])),
    responses(StartResponses)
)]
pub async fn health(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    start(&state, JobKind::Health, &headers, &body).await
}
