//! Errors as RFC 9457 problem documents (`application/problem+json`): every refusal of the API,
//! its own and axum's, comes out in this one shape, with the offending field named when there
//! is one. Store failures are logged here and answered without their internals.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use candlekeep_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    #[schema(example = "urn:candlekeep:problem:bad-request")]
    pub kind: String,
    /// The HTTP status's phrase.
    #[schema(example = "Bad Request")]
    pub title: String,
    pub status: u16,
    /// What went wrong, in words meant for the caller.
    pub detail: String,
    /// The request field (path segment, query parameter or body member) at fault, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        let slug = match status {
            StatusCode::BAD_REQUEST => "bad-request",
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not-found",
            StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
            StatusCode::CONFLICT => "conflict",
            StatusCode::PAYLOAD_TOO_LARGE => "body-too-large",
            StatusCode::URI_TOO_LONG => "uri-too-long",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid-argument",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            s if s.is_server_error() => "internal",
            _ => "error",
        };
        Self {
            kind: format!("urn:candlekeep:problem:{slug}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Input that cannot be read (400).
    #[error("{field}: {detail}")]
    BadRequest { field: String, detail: String },
    /// Input that reads but cannot be right (422).
    #[error("{field}: {detail}")]
    Invalid { field: String, detail: String },
    /// Nothing is stored under that name (404).
    #[error("{0}")]
    NotFound(String),
    /// The thing asked for is busy (409).
    #[error("{0}")]
    Conflict(String),
    /// No or a wrong bearer token (401).
    #[error("this endpoint needs the admin token: send Authorization: Bearer <token>")]
    Unauthorized,
    /// Writes are switched off (403).
    #[error("{0}")]
    Forbidden(String),
    /// The service cannot answer now (503).
    #[error("{0}")]
    Unavailable(String),
    /// The store failed; answered 503 or 500 without the store's words.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else that is ours (500).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad(field: &str, detail: impl std::fmt::Display) -> Self {
        Self::BadRequest {
            field: field.to_owned(),
            detail: detail.to_string(),
        }
    }

    pub fn invalid(field: &str, detail: impl std::fmt::Display) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            detail: detail.to_string(),
        }
    }

    pub fn problem(&self) -> Problem {
        match self {
            Self::BadRequest { field, detail } => Problem::new(StatusCode::BAD_REQUEST, detail.clone()).field(field),
            Self::Invalid { field, detail } => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, detail.clone()).field(field)
            }
            Self::NotFound(d) => Problem::new(StatusCode::NOT_FOUND, d.clone()),
            Self::Conflict(d) => Problem::new(StatusCode::CONFLICT, d.clone()),
            Self::Unauthorized => Problem::new(StatusCode::UNAUTHORIZED, self.to_string()),
            Self::Forbidden(d) => Problem::new(StatusCode::FORBIDDEN, d.clone()),
            Self::Unavailable(d) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, d.clone()),
            Self::Store(e) => match e {
                // Waiting on another writer or an unreachable server passes: try again later.
                StoreError::Busy | StoreError::Connect { .. } | StoreError::Postgres(_) => Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database is busy or not answering; try again shortly",
                ),
                _ => Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the database failed; see the server's log",
                ),
            },
            Self::Internal(_) => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; see the server's log",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            // The details stay in the log, never in the answer.
            Self::Store(e) => tracing::error!(error = %e, "store call failed"),
            Self::Internal(e) => tracing::error!(error = %e, "request failed"),
            _ => {}
        }
        self.problem().into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
