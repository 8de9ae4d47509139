//! A demo store behind the API: a temporary SQLite file filled by a short backfill from the
//! simulated venues (they live on the test's runtime), and helpers to call the router.

#![allow(dead_code)] // Each test binary uses its own share of the helpers.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use candlekeep_app::config::Config;
use candlekeep_app::jobs::{JobArgs, JobContext, JobKind};
use candlekeep_app::service::Service;
use candlekeep_server::{ApiState, router};
use http_body_util::BodyExt;
use tower::ServiceExt;

pub const TOKEN: &str = "s3cret-admin-token-for-tests";

pub struct Fixture {
    pub state: ApiState,
    pub service: Service,
    pub app: Router,
    _dir: tempfile::TempDir,
}

#[derive(Default)]
pub struct Setup {
    pub token: Option<&'static str>,
    pub cors: Vec<String>,
    pub empty: bool,
}

pub async fn fixture() -> Fixture {
    fixture_with(Setup {
        token: Some(TOKEN),
        ..Setup::default()
    })
    .await
}

pub async fn fixture_with(setup: Setup) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::default();
    config.database.url = format!("sqlite:{}", dir.path().join("candlekeep.db").display());
    candlekeep_app::demo::start(&mut config).await.expect("demo venues");
    config.server.admin_token = setup.token.unwrap_or_default().to_owned();
    config.server.cors_origins = setup.cors;
    let store = candlekeep_app::store::open_store(&config).await.expect("store");
    let ctx = JobContext::new(config, store);
    let service = Service::new(ctx);
    if !setup.empty {
        let (_, outcome) = service
            .run(JobKind::Backfill, backfill_args(), "test")
            .await
            .expect("backfill");
        assert!(outcome.rows_written > 0, "the backfill wrote nothing: {outcome:?}");
    }
    let state = ApiState::new(service.clone());
    let app = router(state.clone());
    Fixture {
        state,
        service,
        app,
        _dir: dir,
    }
}

pub fn backfill_args() -> JobArgs {
    JobArgs {
        symbols: Some(vec!["BTC".into(), "ETH".into()]),
        from: Some("2024-01-01".into()),
        to: Some("2024-01-15".into()),
        ..JobArgs::default()
    }
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts a problem document of `status` and returns it.
    pub fn problem(&self, status: u16) -> serde_json::Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        assert_eq!(self.content_type(), "application/problem+json", "{}", self.text());
        let p = self.json();
        for member in ["type", "title", "detail"] {
            assert!(p[member].is_string(), "problem without {member}: {p}");
        }
        assert_eq!(p["status"], status);
        p
    }
}

pub async fn call(app: &Router, method: Method, uri: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body)).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.expect("body").to_bytes().to_vec();
    Answer { status, headers, body }
}

pub async fn get(app: &Router, uri: &str) -> Answer {
    call(app, Method::GET, uri, &[], Vec::new()).await
}

pub async fn post(app: &Router, uri: &str, token: Option<&str>, body: &str) -> Answer {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("authorization", a.as_str()));
    }
    call(app, Method::POST, uri, &headers, body.as_bytes().to_vec()).await
}

/// Waits until no job runs (a POSTed run finishing).
pub async fn idle(service: &Service) {
    for _ in 0..600 {
        if service.running().is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("jobs still running: {:?}", service.running());
}
