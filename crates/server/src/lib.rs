//! Candlekeep's HTTP API, what `candlekeep serve` answers under `/api/v1`: the stored series and
//! their candles (JSON or CSV), indicators, the market overview, gaps and quality, the job log
//! and starting jobs (admin token), server-sent events, status, health, readiness, Prometheus
//! metrics and the OpenAPI 3.1 document.
//!
//! The routes are registered through `utoipa-axum`'s [`OpenApiRouter`], so the document
//! ([`openapi`]) is generated from the same declarations as the [`router`] and cannot disagree
//! with it. Every error is an RFC 9457 problem document ([`Problem`]). Handlers are thin: they
//! read their inputs, call the store's role traits or the [`Service`](candlekeep_app::service::Service),
//! and shape the answer; times go out both as UTC ISO-8601 strings (`…_at`, `time`) and as
//! epoch milliseconds (`…_ms`).

mod auth;
mod data;
mod docs;
mod events;
mod jobs;
mod market;
mod metrics;
mod middleware;
mod ops;
mod pages;
mod params;
mod problem;
mod series;
mod start;
mod state;

use std::future::Future;
use std::sync::OnceLock;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, StatusCode, header};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi as _;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use problem::{ApiError, PROBLEM_JSON, Problem};
pub use state::{ApiOptions, ApiState};

/// Where the API lives.
pub const BASE_PATH: &str = "/api/v1";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Candlekeep API",
        description = "A complete, verified history of the crypto market: series, candles, indicators, \
                       quality, jobs and events. Errors are RFC 9457 problem documents. Every write needs \
                       the admin bearer token.",
    ),
    modifiers(&AdminToken),
    // Inputs' enumerations: parameters referring to them do not register them themselves.
    components(schemas(
        docs::MarketName,
        docs::TimeframeName,
        docs::GapStatusName,
        docs::RunStatusName,
        docs::JobName,
        docs::FormatName,
        docs::SymbolName
    )),
    tags(
        (name = "data", description = "Stored market data"),
        (name = "jobs", description = "The job log and starting runs"),
        (name = "service", description = "Status, health, metrics, events"),
    )
)]
struct ApiDoc;

/// Declares the bearer scheme writes need (the scheme only: no token is ever in the document).
struct AdminToken;

impl utoipa::Modify for AdminToken {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every route with its documentation.
fn routes() -> OpenApiRouter<ApiState> {
    let v1 = OpenApiRouter::new()
        .routes(routes!(data::instruments))
        .routes(routes!(data::candles))
        .routes(routes!(market::market))
        .routes(routes!(data::indicators))
        .routes(routes!(data::gaps))
        .routes(routes!(data::quality))
        .routes(routes!(jobs::list_jobs))
        .routes(routes!(jobs::get_job))
        .routes(routes!(start::sync))
        .routes(routes!(start::backfill))
        .routes(routes!(start::indicators))
        .routes(routes!(start::gaps_fill))
        .routes(routes!(start::quality))
        .routes(routes!(start::universe))
        .routes(routes!(start::retention))
        .routes(routes!(start::health))
        .routes(routes!(ops::status))
        .routes(routes!(events::events))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::health_history))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi_json));
    OpenApiRouter::with_openapi(ApiDoc::openapi()).nest(BASE_PATH, v1)
}

/// The OpenAPI 3.1 document of the API (built once).
pub fn openapi() -> OpenApi {
    static DOC: OnceLock<OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = routes().into_openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        // Named by the shared answers of `POST /jobs/…` (`start::StartResponses`), which do not
        // register what they name.
        let components = doc.components.get_or_insert_with(Default::default);
        components
            .schemas
            .entry(<jobs::Started as utoipa::ToSchema>::name().into_owned())
            .or_insert_with(<jobs::Started as utoipa::PartialSchema>::schema);
        doc
    })
    .clone()
}

/// The API's router, with its limits, CORS (only when `server.cors_origins` is set), timeout,
/// panic catching, problem documents and per-request span and metrics.
pub fn router(state: ApiState) -> Router {
    let (api, _) = routes().split_for_parts();
    let options = state.options().clone();
    let origins: Vec<HeaderValue> = state
        .config()
        .server
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    let cors = (!origins.is_empty()).then(|| {
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
    });
    // Innermost first: each `Router::layer` wraps every route (and the fallback) in what came
    // before, so `observe` sees the route template and every answer, panics included.
    let mut router = api
        .fallback(ops::not_found)
        .layer(CatchPanicLayer::custom(middleware::panicked))
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .layer(RequestBodyLimitLayer::new(options.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            options.request_timeout,
        ));
    if let Some(cors) = cors {
        router = router.layer(cors);
    }
    router
        .layer(axum::middleware::from_fn(middleware::problems))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::observe))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes, then stops taking connections,
/// ends the open event streams and waits for the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state.clone());
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            state.close();
        })
        .await
}
