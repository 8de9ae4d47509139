//! The OpenAPI document against the router: every documented operation is routed, every route
//! is documented, every operation documents its problem answers, and no secret is in it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use axum::http::Method;
use common::{TOKEN, call, fixture, get};

#[test]
fn the_document_is_openapi_3_1_and_every_operation_documents_its_problems() {
    let doc = candlekeep_server::openapi();
    let json = serde_json::to_value(&doc).unwrap();
    assert!(json["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = json["paths"].as_object().unwrap();
    assert!(paths.len() >= 14, "{:?}", paths.keys());
    for (path, item) in paths {
        assert!(path.starts_with("/api/v1/"), "{path}");
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let problems: Vec<_> = responses.iter().filter(|(code, _)| code.starts_with('4')).collect();
            assert!(!problems.is_empty(), "{method} {path} documents no 4xx");
            for (code, r) in problems {
                assert!(
                    r["content"]["application/problem+json"].is_object(),
                    "{method} {path} {code} is not a problem document: {r}"
                );
            }
        }
    }
    // One POST per job, each documenting the arguments its job takes.
    for job in candlekeep_app::jobs::JobKind::ALL {
        let post = &paths[&format!("/api/v1/jobs/{job}")]["post"];
        for code in ["202", "401", "403", "409", "422"] {
            assert!(post["responses"][code].is_object(), "POST {job} lacks {code}");
        }
        assert!(
            post["security"].is_array(),
            "POST {job} does not say it needs the token"
        );
    }
    let backfill = &json["components"]["schemas"]["BackfillArgs"];
    assert_eq!(backfill["required"], serde_json::json!(["from"]));
    assert_eq!(backfill["additionalProperties"], false);
    assert!(json["components"]["schemas"]["QualityArgs"]["properties"]["symbols"].is_null());
    assert!(json["components"]["securitySchemes"]["admin_token"].is_object());
    // Inputs are described precisely enough to generate valid ones.
    if let Ok(path) = std::env::var("CANDLEKEEP_OPENAPI_DUMP") {
        std::fs::write(path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    }
    let params = paths["/api/v1/candles/{market}/{symbol}"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let param = |name: &str| params.iter().find(|p| p["name"] == name).unwrap().clone();
    assert!(param("market").to_string().contains("usdm"), "{}", param("market"));
    assert!(param("symbol")["schema"]["pattern"].is_string());
    assert!(
        param("timeframe").to_string().contains("TimeframeName"),
        "{}",
        param("timeframe")
    );
    assert_eq!(param("limit")["schema"]["maximum"], 10000);
    // Every reference resolves.
    let text = json.to_string();
    for reference in text.split("\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(
            json["components"]["schemas"][name].is_object(),
            "unresolved $ref {name}"
        );
    }
    assert!(json["components"]["schemas"]["Problem"].is_object());
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_served_with_its_document() {
    let f = fixture().await;
    let served = get(&f.app, "/api/v1/openapi.json").await;
    assert_eq!(served.status, 200);
    let json = served.json();
    assert_eq!(json, serde_json::to_value(candlekeep_server::openapi()).unwrap());
    assert!(!served.text().contains(TOKEN));
    let mut operations = 0;
    for (path, item) in json["paths"].as_object().unwrap() {
        // Path parameters filled with something routable.
        let uri = path
            .replace("{market}", "spot")
            .replace("{symbol}", "BTCUSDT")
            .replace("{id}", "1");
        for method in item.as_object().unwrap().keys() {
            operations += 1;
            let method: Method = method.to_uppercase().parse().unwrap();
            if uri.ends_with("/events") {
                continue; // Endless; routed as the events test shows.
            }
            let a = call(&f.app, method.clone(), &uri, &[], Vec::new()).await;
            // Routed: neither "no such endpoint" nor "not allowed here".
            assert_ne!(a.status, 405, "{method} {uri}: {}", a.text());
            if a.status == 404 {
                assert!(!a.text().contains("no such endpoint"), "{method} {uri} is not routed");
            }
        }
    }
    assert!(operations >= 15);
    // And what is not documented is not routed.
    for (method, uri) in [
        (Method::GET, "/api/v1/candles"),
        (Method::PUT, "/api/v1/jobs/sync"),
        (Method::GET, "/api/v2/instruments"),
        (Method::GET, "/metrics"),
    ] {
        let a = call(&f.app, method, uri, &[], Vec::new()).await;
        assert!(a.status == 404 || a.status == 405, "{uri}: {}", a.status);
    }
}
