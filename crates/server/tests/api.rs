//! The API over a demo store: every endpoint's status codes, media types and shapes, paging,
//! the admin token, problem documents for every kind of bad input, events and the OpenAPI
//! document against the router.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use axum::http::Method;
use candlekeep_app::jobs::{JobArgs, JobKind};
use common::{Setup, TOKEN, call, fixture, fixture_with, get, idle, post};

#[tokio::test]
async fn instruments_list_every_series_with_its_coverage() {
    let f = fixture().await;
    let a = get(&f.app, "/api/v1/instruments").await;
    assert_eq!(a.status, 200);
    assert!(a.content_type().starts_with("application/json"));
    let series = a.json()["series"].as_array().unwrap().clone();
    // BTC and ETH on spot and USD-M.
    assert_eq!(series.len(), 4, "{series:?}");
    let btc = series
        .iter()
        .find(|s| s["instrument"] == "spot:BTCUSDT")
        .expect("spot:BTCUSDT");
    assert_eq!(btc["market"], "spot");
    assert_eq!(btc["symbol"], "BTCUSDT");
    assert_eq!(btc["timeframe"], "1h");
    assert_eq!(btc["first_open_at"], "2024-01-01T00:00:00Z");
    assert_eq!(btc["first_open_ms"], 1_704_067_200_000i64);
    assert!(btc["count"].as_i64().unwrap() > 300);
    let c = btc["completeness"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&c));
    assert!(btc["sources"][0]["source"].is_string());
    assert!(btc["sources"][0]["count"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn candles_come_as_json_or_csv_with_their_source() {
    let f = fixture().await;
    let a = get(
        &f.app,
        "/api/v1/candles/spot/BTCUSDT?timeframe=1h&from=2024-01-02&to=2024-01-03",
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let page = a.json();
    assert_eq!(page["count"], 24);
    assert!(page["next_cursor"].is_null());
    let first = &page["candles"][0];
    assert_eq!(first["time"], "2024-01-02T00:00:00Z");
    assert_eq!(first["time_ms"], 1_704_153_600_000i64);
    for k in ["open", "high", "low", "close"] {
        assert!(first[k].is_f64(), "{k}: {first}");
    }
    assert!(first["source"].as_str().unwrap().contains("binance"), "{first}");

    // RFC 3339 and epoch ms mean the same instants.
    let b = get(
        &f.app,
        "/api/v1/candles/spot/BTCUSDT?from=2024-01-02T00:00:00%2B00:00&to=1704240000000",
    )
    .await;
    assert_eq!(b.json()["candles"], page["candles"]);
    let c = get(
        &f.app,
        "/api/v1/candles/spot/BTCUSDT?from=2024-01-02T01:00%2B01:00&to=1704240000000",
    )
    .await;
    assert_eq!(c.json()["candles"], page["candles"]);

    for (uri, accept) in [
        (
            "/api/v1/candles/spot/BTCUSDT?from=2024-01-02&to=2024-01-03&format=csv",
            None,
        ),
        (
            "/api/v1/candles/spot/BTCUSDT?from=2024-01-02&to=2024-01-03",
            Some("text/csv"),
        ),
    ] {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
        let csv = call(&f.app, Method::GET, uri, &headers, Vec::new()).await;
        assert_eq!(csv.status, 200);
        assert!(csv.content_type().starts_with("text/csv"), "{}", csv.content_type());
        let text = csv.text();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("time,time_ms,open,high,low,close,volume,quote_volume,trades,source")
        );
        assert_eq!(lines.count(), 24);
    }
}

#[tokio::test]
async fn cursor_pages_read_back_the_same_candles_as_one_read() {
    let f = fixture().await;
    let whole = get(&f.app, "/api/v1/candles/usdm/ETHUSDT?limit=10000").await.json();
    let all = whole["candles"].as_array().unwrap().clone();
    assert!(all.len() > 300);
    assert!(whole["next_cursor"].is_null());

    let mut paged = Vec::new();
    let mut uri = "/api/v1/candles/usdm/ETHUSDT?limit=50".to_owned();
    let mut pages = 0;
    loop {
        let page = get(&f.app, &uri).await;
        assert_eq!(page.status, 200, "{}", page.text());
        let page = page.json();
        let candles = page["candles"].as_array().unwrap();
        assert!(candles.len() <= 50);
        paged.extend(candles.iter().cloned());
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(
                    page["next"].as_str().unwrap(),
                    format!("/api/v1/candles/usdm/ETHUSDT?limit=50&cursor={c}")
                );
                uri = format!("/api/v1/candles/usdm/ETHUSDT?limit=50&cursor={c}");
            }
            None => break,
        }
        assert!(pages < 100, "paging does not end");
    }
    assert_eq!(paged, all);

    // CSV pages point to the next one in a Link header.
    let csv = get(&f.app, "/api/v1/candles/usdm/ETHUSDT?limit=10&format=csv").await;
    let link = csv.headers.get("link").unwrap().to_str().unwrap();
    assert!(link.contains("cursor=") && link.ends_with("rel=\"next\""), "{link}");
    assert!(csv.headers.get("x-next-cursor").is_some());
}

#[tokio::test]
async fn bad_candle_requests_are_problems_naming_the_field() {
    let f = fixture().await;
    let cases = [
        ("/api/v1/candles/spot/BTCUSDT?timeframe=2h", 400, Some("timeframe")),
        ("/api/v1/candles/spot/BTCUSDT?from=yesterday", 400, Some("from")),
        (
            "/api/v1/candles/spot/BTCUSDT?from=2024-01-03&to=2024-01-02",
            400,
            Some("to"),
        ),
        ("/api/v1/candles/spot/BTCUSDT?limit=10001", 400, Some("limit")),
        ("/api/v1/candles/spot/BTCUSDT?limit=-1", 400, Some("limit")),
        ("/api/v1/candles/spot/BTCUSDT?cursor=abc", 400, Some("cursor")),
        ("/api/v1/candles/spot/BTCUSDT?format=xml", 400, Some("format")),
        ("/api/v1/candles/options/BTCUSDT", 400, Some("market")),
        ("/api/v1/candles/spot/BTC-USDT", 400, Some("symbol")),
        ("/api/v1/candles/spot/DOGEUSDT", 404, None),
        ("/api/v1/candles/spot/BTCUSDT?timeframe=1d", 404, None),
        ("/api/v1/nothing-here", 404, None),
        ("/api/v1/candles/spot", 404, None),
    ];
    for (uri, status, field) in cases {
        let p = get(&f.app, uri).await.problem(status);
        if let Some(field) = field {
            assert_eq!(p["field"], field, "{uri}: {p}");
        }
    }
    // A path or query too long to be honest.
    let long = format!("/api/v1/candles/spot/BTCUSDT?from={}", "1".repeat(9000));
    get(&f.app, &long).await.problem(414);
    // Wrong method.
    let a = call(&f.app, Method::DELETE, "/api/v1/instruments", &[], Vec::new()).await;
    a.problem(405);
    assert!(a.headers.get("allow").unwrap().to_str().unwrap().contains("GET"));
    // Two values for one parameter: axum's own rejection, as a problem.
    get(&f.app, "/api/v1/candles/spot/BTCUSDT?from=2024-01-01&from=2024-01-02")
        .await
        .problem(400);
}

#[tokio::test]
async fn market_has_one_row_per_series_and_is_served_from_memory() {
    let f = fixture().await;
    f.service
        .run(JobKind::Quality, JobArgs::default(), "test")
        .await
        .unwrap();
    let a = get(&f.app, "/api/v1/market").await;
    assert_eq!(a.status, 200);
    assert!(a.content_type().starts_with("application/json"));
    let table = a.json();
    let rows = table["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    let r = rows.iter().find(|r| r["instrument"] == "spot:BTCUSDT").unwrap();
    assert!(r["last_price"].as_f64().unwrap() > 0.0);
    assert!(r["change_24h_pct"].is_f64());
    assert!(r["volume_24h"].as_f64().unwrap() > 0.0);
    let rsi = r["rsi_14"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&rsi));
    assert!(["overbought", "oversold", "neutral"].contains(&r["rsi_zone"].as_str().unwrap()));
    assert_eq!(r["updated_at"], "2024-01-15T00:00:00Z");
    assert_eq!(r["stale"], true);
    assert!(table["computed_ms"].is_i64());
    // The second request is the same table (computed once, not per request).
    let b = get(&f.app, "/api/v1/market").await;
    assert_eq!(b.body, a.body);
}

#[tokio::test]
async fn indicators_give_the_latest_set_and_one_series_over_a_range() {
    let f = fixture().await;
    // Before the indicators job ran: nothing stored yet.
    get(&f.app, "/api/v1/indicators/spot/BTCUSDT").await.problem(404);
    f.service
        .run(JobKind::Indicators, JobArgs::default(), "test")
        .await
        .unwrap();
    let a = get(&f.app, "/api/v1/indicators/spot/BTCUSDT?timeframe=1h").await;
    assert_eq!(a.status, 200, "{}", a.text());
    let latest = a.json();
    let rsi = latest["values"]["rsi_14"].as_f64().unwrap();
    assert!(latest["values"]["ema_20"].is_f64());
    assert!(latest["rsi_zone"].is_string());
    assert_eq!(latest["bar_at"], "2024-01-14T23:00:00Z");

    // RSI over a range, computed from the stored candles: its last value is the stored one.
    let s = get(
        &f.app,
        "/api/v1/indicators/spot/BTCUSDT?series=rsi_14&from=2024-01-10&to=2024-01-15",
    )
    .await;
    assert_eq!(s.status, 200, "{}", s.text());
    let s = s.json();
    assert_eq!(s["series"], "rsi_14");
    let points = s["points"].as_array().unwrap();
    assert_eq!(points.len(), 5 * 24);
    assert_eq!(points[0]["time"], "2024-01-10T00:00:00Z");
    assert_eq!(points.last().unwrap()["value"].as_f64().unwrap(), rsi);

    let p = get(&f.app, "/api/v1/indicators/spot/BTCUSDT?series=wiggle_3")
        .await
        .problem(400);
    assert_eq!(p["field"], "series");
    assert!(p["detail"].as_str().unwrap().contains("rsi_N"), "{p}");
    get(&f.app, "/api/v1/indicators/spot/BTCUSDT?series=rsi_1")
        .await
        .problem(400);
    get(&f.app, "/api/v1/indicators/spot/XRPUSDT").await.problem(404);
}

#[tokio::test]
async fn gaps_and_quality_read_the_ledger_and_the_daily_rows() {
    let f = fixture().await;
    f.service
        .run(JobKind::Quality, JobArgs::default(), "test")
        .await
        .unwrap();
    let a = get(&f.app, "/api/v1/gaps?status=open&since=2024-01-01").await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(a.json()["gaps"].is_array());
    let p = get(&f.app, "/api/v1/gaps?status=closed").await.problem(400);
    assert_eq!(p["field"], "status");
    get(&f.app, "/api/v1/gaps?since=soon").await.problem(400);

    let q = get(&f.app, "/api/v1/quality?since=2024-01-01&symbol=BTC").await;
    assert_eq!(q.status, 200, "{}", q.text());
    let days = q.json()["days"].as_array().unwrap().clone();
    assert!(!days.is_empty());
    assert!(days.iter().all(|d| d["symbol"] == "BTCUSDT"));
    assert!(days[0]["day_at"].as_str().unwrap().ends_with("T00:00:00Z"));
    assert!(days[0]["score"].is_f64());
    get(&f.app, "/api/v1/quality?since=2024-13-01").await.problem(400);
    let p = get(&f.app, "/api/v1/quality?symbol=%C2%84").await.problem(400);
    assert_eq!(p["field"], "symbol");
    get(&f.app, "/api/v1/gaps?status=").await.problem(400);
}

#[tokio::test]
async fn the_job_log_lists_and_finds_runs() {
    let f = fixture().await;
    let a = get(&f.app, "/api/v1/jobs").await;
    assert_eq!(a.status, 200);
    let jobs = a.json()["jobs"].as_array().unwrap().clone();
    assert_eq!(jobs[0]["job"], "backfill");
    assert_eq!(jobs[0]["status"], "ok");
    assert!(jobs[0]["started_at"].is_string() && jobs[0]["started_ms"].is_i64());
    let id = jobs[0]["id"].as_i64().unwrap();
    let one = get(&f.app, &format!("/api/v1/jobs/{id}")).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["links"]["self"], format!("/api/v1/jobs/{id}"));
    assert!(
        get(&f.app, "/api/v1/jobs?job=sync").await.json()["jobs"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        get(&f.app, "/api/v1/jobs?status=ok&limit=1").await.json()["jobs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    get(&f.app, "/api/v1/jobs/999999").await.problem(404);
    // A job's path is where it is started.
    get(&f.app, "/api/v1/jobs/sync").await.problem(405);
    get(&f.app, "/api/v1/jobs?before=0").await.problem(400);
    get(&f.app, "/api/v1/jobs?status=").await.problem(400);
    get(&f.app, "/api/v1/jobs/abc").await.problem(400);
    get(&f.app, "/api/v1/candles/spot/BTCUSDT?timeframe=")
        .await
        .problem(400);
    get(&f.app, "/api/v1/jobs?job=dance").await.problem(400);
    get(&f.app, "/api/v1/jobs?limit=0").await.problem(400);
    get(&f.app, "/api/v1/jobs?limit=").await.problem(400);
    get(&f.app, "/api/v1/jobs?before=x").await.problem(400);
}

#[tokio::test]
async fn starting_jobs_needs_the_token_and_refuses_overlap_and_bad_arguments() {
    let f = fixture().await;
    // No token, a wrong one, another scheme.
    let a = post(&f.app, "/api/v1/jobs/health", None, "").await;
    a.problem(401);
    assert_eq!(a.headers.get("www-authenticate").unwrap(), "Bearer");
    post(&f.app, "/api/v1/jobs/health", Some("wrong"), "")
        .await
        .problem(401);
    let basic = call(
        &f.app,
        Method::POST,
        "/api/v1/jobs/health",
        &[("authorization", "Basic czNjcmV0")],
        Vec::new(),
    )
    .await;
    basic.problem(401);
    assert!(!basic.text().contains(TOKEN));

    // Arguments: unknown member, one the job does not take, a bad value, not JSON, too big.
    let p = post(&f.app, "/api/v1/jobs/backfill", Some(TOKEN), r#"{"colour":"red"}"#)
        .await
        .problem(422);
    assert_eq!(p["field"], "colour");
    let p = post(&f.app, "/api/v1/jobs/quality", Some(TOKEN), r#"{"symbols":["BTC"]}"#)
        .await
        .problem(422);
    assert_eq!(p["field"], "symbols");
    let p = post(&f.app, "/api/v1/jobs/backfill", Some(TOKEN), "{}")
        .await
        .problem(422);
    assert!(p["field"].is_string(), "{p}");
    post(&f.app, "/api/v1/jobs/backfill", Some(TOKEN), "{not json")
        .await
        .problem(400);
    post(&f.app, "/api/v1/jobs/dance", Some(TOKEN), "").await.problem(405);
    let p = post(&f.app, "/api/v1/jobs/health", Some(TOKEN), r#"{"days":1}"#)
        .await
        .problem(422);
    assert_eq!(p["field"], "days");
    let big = format!(r#"{{"symbols":["{}"]}}"#, "A".repeat(100 * 1024));
    post(&f.app, "/api/v1/jobs/backfill", Some(TOKEN), &big)
        .await
        .problem(413);

    // 7.0 is the integer 7 in JSON.
    let a = post(&f.app, "/api/v1/jobs/quality", Some(TOKEN), r#"{"days":7.0}"#).await;
    assert_eq!(a.status, 202, "{}", a.text());
    idle(&f.service).await;

    // A long backfill: started once, refused while it runs.
    let body = r#"{"symbols":["BTC","ETH"],"from":"2022-01-01","to":"2024-01-01"}"#;
    let a = post(&f.app, "/api/v1/jobs/backfill", Some(TOKEN), body).await;
    assert_eq!(a.status, 202, "{}", a.text());
    let started = a.json();
    assert_eq!(started["status"], "running");
    assert_eq!(started["job"], "backfill");
    let id = started["id"].as_i64().unwrap();
    assert_eq!(started["links"]["self"], format!("/api/v1/jobs/{id}"));
    assert_eq!(a.headers.get("location").unwrap(), &format!("/api/v1/jobs/{id}"));
    let p = post(&f.app, "/api/v1/jobs/backfill", Some(TOKEN), body)
        .await
        .problem(409);
    assert!(p["detail"].as_str().unwrap().contains("running"), "{p}");
    let status = get(&f.app, "/api/v1/status").await.json();
    assert_eq!(status["running"][0]["job"], "backfill");
    idle(&f.service).await;
    let run = get(&f.app, &format!("/api/v1/jobs/{id}")).await.json();
    assert_ne!(run["status"], "running");
    assert!(run["ended_at"].is_string());
}

#[tokio::test]
async fn writes_are_refused_without_a_configured_token() {
    let f = fixture_with(Setup {
        empty: true,
        ..Setup::default()
    })
    .await;
    let p = post(&f.app, "/api/v1/jobs/health", Some("anything"), "")
        .await
        .problem(403);
    assert!(
        p["detail"].as_str().unwrap().contains("CANDLEKEEP_SERVER_ADMIN_TOKEN"),
        "{p}"
    );
}

#[tokio::test]
async fn status_health_readiness_and_metrics() {
    let f = fixture().await;
    let s = get(&f.app, "/api/v1/status").await;
    assert_eq!(s.status, 200);
    let s = s.json();
    assert!(s["backend"].as_str().unwrap().starts_with("sqlite"), "{s}");
    assert!(s["schema_version"].as_i64().unwrap() > 0);
    assert_eq!(s["series"], 4);
    assert!(s["database_size_bytes"].as_u64().unwrap() > 0);
    assert!(s["version"].is_string());

    // A health sample, read back.
    f.service
        .run(JobKind::Health, JobArgs::default(), "test")
        .await
        .unwrap();
    let hist = get(&f.app, "/api/v1/health/history").await;
    assert_eq!(hist.status, 200, "{}", hist.text());
    let samples = hist.json()["samples"].as_array().unwrap().clone();
    assert_eq!(samples.len(), 1);
    assert!(samples[0]["at"].is_string() && samples[0]["at_ms"].is_i64());
    assert!(samples[0]["mem_total_bytes"].as_u64().unwrap() > 0);
    get(&f.app, "/api/v1/health/history?from=2024-01-02&to=2024-01-01")
        .await
        .problem(400);
    get(&f.app, "/api/v1/health/history?limit=0").await.problem(400);

    let h = get(&f.app, "/api/v1/healthz").await;
    assert_eq!(h.status, 200);
    assert_eq!(h.json()["status"], "ok");

    // The demo's bars are from January 2024: stale.
    let p = get(&f.app, "/api/v1/readyz").await.problem(503);
    assert!(p["detail"].as_str().unwrap().contains("stale"), "{p}");

    // Metrics: requests so far, a job counted from its event, freshness, database size.
    post(&f.app, "/api/v1/jobs/indicators", Some(TOKEN), "").await;
    idle(&f.service).await;
    // The listener gets the event right after the run's end.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let m = get(&f.app, "/api/v1/metrics").await;
    assert_eq!(m.status, 200);
    assert!(m.content_type().starts_with("application/openmetrics-text"));
    let text = m.text();
    for needle in [
        "candlekeep_http_requests_total{method=\"GET\",route=\"/api/v1/readyz\",status=\"503\"} 1",
        "candlekeep_http_request_duration_seconds_bucket",
        "candlekeep_jobs_total{job=\"indicators\",status=\"ok\"} 1",
        "candlekeep_job_duration_seconds_count{job=\"indicators\"} 1",
        "candlekeep_series_freshness_seconds{instrument=\"spot:BTCUSDT\",timeframe=\"1h\"}",
        "candlekeep_database_size_bytes ",
    ] {
        assert!(text.contains(needle), "no {needle} in\n{text}");
    }
    assert!(!text.contains(TOKEN));
}

#[tokio::test]
async fn an_empty_store_is_not_ready() {
    let f = fixture_with(Setup {
        empty: true,
        ..Setup::default()
    })
    .await;
    let p = get(&f.app, "/api/v1/readyz").await.problem(503);
    assert_eq!(p["detail"], "not ready: no data yet");
    assert_eq!(
        get(&f.app, "/api/v1/market").await.json()["rows"],
        serde_json::json!([])
    );
}

#[tokio::test]
async fn cors_is_off_unless_origins_are_configured() {
    let f = fixture_with(Setup {
        empty: true,
        ..Setup::default()
    })
    .await;
    let origin = [("origin", "https://dash.example")];
    let a = call(&f.app, Method::GET, "/api/v1/healthz", &origin, Vec::new()).await;
    assert!(a.headers.get("access-control-allow-origin").is_none());

    let f = fixture_with(Setup {
        empty: true,
        cors: vec!["https://dash.example".into()],
        ..Setup::default()
    })
    .await;
    let a = call(&f.app, Method::GET, "/api/v1/healthz", &origin, Vec::new()).await;
    assert_eq!(
        a.headers.get("access-control-allow-origin").unwrap(),
        "https://dash.example"
    );
}

#[tokio::test]
async fn events_stream_the_runs_of_a_posted_job() {
    use futures::StreamExt;
    let f = fixture().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(candlekeep_server::serve(listener, f.state.clone(), async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let response = client.get(format!("http://{addr}/api/v1/events")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let started = client
        .post(format!("http://{addr}/api/v1/jobs/health"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !seen.contains("event: job-finished") {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("events in time")
            .expect("stream open")
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: job-started"), "{seen}");
    assert!(seen.contains(r#""type":"job-finished""#), "{seen}");
    assert!(seen.contains(r#""job":"health""#), "{seen}");
    assert!(seen.contains(r#""at":"20"#), "{seen}");
    // A graceful shutdown ends the open stream and the server.
    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("the server stops with a stream open")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn new_series_show_up_after_the_run_that_stored_them() {
    let f = fixture().await;
    let options = candlekeep_server::ApiOptions {
        market_min_interval: std::time::Duration::ZERO,
        market_max_age: std::time::Duration::from_secs(600),
        ..candlekeep_server::ApiOptions::default()
    };
    let app = candlekeep_server::router(candlekeep_server::ApiState::with_options(f.service.clone(), options));
    assert_eq!(
        get(&app, "/api/v1/market").await.json()["rows"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        get(&app, "/api/v1/instruments").await.json()["series"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    get(&app, "/api/v1/candles/spot/SOLUSDT").await.problem(404);

    let body = r#"{"symbols":["SOL"],"markets":["spot"],"from":"2024-01-10","to":"2024-01-12"}"#;
    assert_eq!(post(&app, "/api/v1/jobs/backfill", Some(TOKEN), body).await.status, 202);
    idle(&f.service).await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    // A series the cached list lacks is looked up again once something was stored.
    let a = get(&app, "/api/v1/candles/spot/SOLUSDT").await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["count"], 48);
    // The market table and the list follow (recomputed in the background, served meanwhile).
    let mut rows = 0;
    for _ in 0..100 {
        rows = get(&app, "/api/v1/market").await.json()["rows"]
            .as_array()
            .unwrap()
            .len();
        if rows == 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(rows, 5);
    assert_eq!(
        get(&app, "/api/v1/instruments").await.json()["series"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

#[tokio::test]
async fn a_lagging_event_client_is_told_how_many_it_missed() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let f = fixture_with(Setup {
        empty: true,
        ..Setup::default()
    })
    .await;
    let request = axum::http::Request::get("/api/v1/events")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = f.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    // Subscribed; more events than the bus keeps for a listener before it reads any.
    let bus = &f.service.context().events;
    let n = candlekeep_engine::events::CAPACITY + 10;
    for id in 0..n as i64 {
        bus.send(candlekeep_engine::events::Event::JobStarted {
            id,
            job: "sync".into(),
            at_ms: 1_704_067_200_000,
        });
    }
    let mut body = response.into_body();
    let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
    let text = String::from_utf8_lossy(&frame);
    assert!(
        text.contains("event: lagged") && text.contains(r#"{"missed":10}"#),
        "{text}"
    );
    let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
    let text = String::from_utf8_lossy(&frame);
    assert!(
        text.contains("event: job-started") && text.contains(r#""id":10"#),
        "{text}"
    );
    assert!(text.contains(r#""at":"2024-01-01T00:00:00Z""#), "{text}");
}
