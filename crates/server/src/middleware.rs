//! What wraps every request: its span and metrics, the URI length limit, and turning every
//! error answer that is not ours yet (axum's rejections of a bad path, query or body, 405, a
//! body over the limit, a timeout, a panic) into a problem document.

use std::any::Any;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::problem::{PROBLEM_JSON, Problem};
use crate::state::ApiState;

/// The request's span (method, route template, status, latency: never the query string, which
/// may carry anything), its metrics and the health sample's latency count; refuses URIs over
/// the limit.
pub async fn observe(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let span = tracing::info_span!(
        "request",
        method = %method,
        route = %route,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty
    );
    let uri_len = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    let response = if uri_len > state.options().max_uri_bytes {
        Problem::new(
            StatusCode::URI_TOO_LONG,
            format!(
                "the path and query are {uri_len} bytes; at most {} are accepted",
                state.options().max_uri_bytes
            ),
        )
        .into_response()
    } else {
        next.run(request).instrument(span.clone()).await
    };
    let latency = started.elapsed();
    let status = response.status();
    state.ctx().health.api.record(latency);
    state
        .metrics()
        .request(method.as_str(), &route, status.as_u16(), latency);
    span.record("status", status.as_u16());
    span.record("latency_ms", latency.as_secs_f64() * 1000.0);
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!("answered");
        } else {
            tracing::debug!("answered");
        }
    });
    response
}

/// Error answers that are not problem documents become ones, keeping what they said.
pub async fn problems(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_problem(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let detail = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allowed = parts
                .headers
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            // The method router adds Allow after its layers have run: then the header, not this
            // text, lists them.
            if allowed.is_empty() {
                format!("{method} is not allowed here; the Allow header lists the methods that are")
            } else {
                format!("{method} is not allowed here; allowed: {allowed}")
            }
        }
        StatusCode::PAYLOAD_TOO_LARGE => format!("the request body is too large ({text})"),
        StatusCode::SERVICE_UNAVAILABLE if text.is_empty() => "the request took too long; try again".to_owned(),
        _ if text.is_empty() => status.canonical_reason().unwrap_or("error").to_owned(),
        _ => text.clone(),
    };
    let mut problem = Problem::new(status, detail);
    // serde's messages name the member at fault between backticks (`unknown field `x``).
    if let Some(field) = text.split('`').nth(1).filter(|f| !f.is_empty() && !f.contains(' ')) {
        problem = problem.field(field);
    }
    let mut out = problem.into_response();
    for name in [header::ALLOW, header::WWW_AUTHENTICATE, header::RETRY_AFTER] {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

fn is_problem(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()))
}

/// A handler that panicked: a 500 problem (the panic's message goes to the log only).
pub fn panicked(panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "a request handler panicked");
    let mut response = Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error; see the server's log",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use axum::Router;
    use axum::routing::get;
    use tower::ServiceExt;
    use tower_http::catch_panic::CatchPanicLayer;

    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_is_a_500_problem_without_its_message() {
        async fn boom() -> &'static str {
            panic!("secret internals")
        }
        let app = Router::new()
            .route("/boom", get(boom))
            .layer(CatchPanicLayer::custom(panicked))
            .layer(axum::middleware::from_fn(problems));
        let response = app
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("\"status\":500") && !text.contains("secret"), "{text}");
    }
}
