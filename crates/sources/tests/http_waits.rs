//! The HTTP layer against a scripted server on 127.0.0.1 (issue 12, items 8, 9 and 19): every
//! wait is bounded in total and ends in an error naming venue, status and time waited; no
//! `Retry-After` can panic; a network error shows its cause.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::{sync::Arc, time::Duration};

use candlekeep_sources::{
    SourceError,
    http::{HttpConfig, VenueClient, WeightBudget},
};
use candlekeep_testkit::fast_http;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

/// Serves `head` (status line and headers) with an empty body to every request; the address.
async fn serve(head: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let reply = format!("{head}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                let _ = sock.write_all(reply.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

fn client(base: &str, config: HttpConfig) -> VenueClient {
    let budget = Arc::new(WeightBudget::new(1000, Duration::from_secs(60)));
    VenueClient::new("testvenue", base, budget, config).unwrap()
}

async fn get(c: &VenueClient) -> Result<Vec<u8>, SourceError> {
    let run = c.get("/x", &[], 1, || "testvenue request".to_owned(), |b| Ok(b.to_vec()));
    // Before the fix a 418 within max_ban_wait was waited out forever: fail, do not hang.
    tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the request must end, not wait forever")
}

/// Item 8: a 418 with a short `Retry-After` used to be retried forever.
#[tokio::test]
async fn a_short_ban_repeated_ends_within_the_wait_budget() {
    let base = serve("HTTP/1.1 418 I'm a teapot\r\nRetry-After: 1").await;
    let t = std::time::Instant::now();
    let err = get(&client(
        &base,
        fast_http(1, (10, 50), Some(Duration::from_millis(2500))),
    ))
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SourceError::WaitBudgetSpent { .. }), "{text}");
    assert!(
        text.contains("testvenue") && text.contains("HTTP 418") && text.contains("waited 2 s"),
        "{text}"
    );
    assert!(t.elapsed() < Duration::from_secs(10));
}

/// Item 8: a long 429 wait used to be honoured 30 times over.
#[tokio::test]
async fn rate_limit_waits_end_within_the_wait_budget() {
    let base = serve("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1").await;
    let err = get(&client(
        &base,
        fast_http(1, (10, 50), Some(Duration::from_millis(1500))),
    ))
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("testvenue") && text.contains("HTTP 429") && text.contains("waited 1 s"),
        "{text}"
    );
}

/// Item 9: `Retry-After: 18446744073709551615` used to panic (an `Instant` overflow).
#[tokio::test]
async fn an_endless_retry_after_is_an_error_not_a_panic() {
    for status in ["429 Too Many Requests", "418 I'm a teapot"] {
        let head: &'static str = format!("HTTP/1.1 {status}\r\nRetry-After: 18446744073709551615").leak();
        let base = serve(head).await;
        let err = get(&client(&base, HttpConfig::default())).await.unwrap_err();
        assert!(err.to_string().contains("testvenue"), "{err}");
    }
}

/// Item 19: a refused connection used to read only "error sending request for url (…)".
#[tokio::test]
async fn a_network_error_shows_its_cause() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = get(&client(
        &format!("http://127.0.0.1:{port}"),
        fast_http(1, (10, 50), Some(Duration::from_secs(5))),
    ))
    .await
    .unwrap_err()
    .to_string();
    assert!(err.to_ascii_lowercase().contains("refused"), "{err}");
}

/// The service's /metrics: every 429 pause and every ban is counted for its venue.
#[tokio::test]
async fn pauses_and_bans_are_counted_per_venue() {
    let count = |venue: &str| {
        candlekeep_sources::http::rate_limit_stats()
            .into_iter()
            .find(|s| s.venue == venue)
            .map(|s| (s.pauses, s.bans))
    };
    let budget = || Arc::new(WeightBudget::new(1000, Duration::from_secs(60)));
    let base = serve("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1").await;
    let c = VenueClient::new(
        "counted-429",
        &base,
        budget(),
        fast_http(1, (10, 50), Some(Duration::from_millis(1500))),
    )
    .unwrap();
    assert_eq!(count("counted-429"), Some((0, 0)));
    get(&c).await.unwrap_err();
    let (pauses, bans) = count("counted-429").unwrap();
    assert!(pauses >= 1 && bans == 0, "{pauses} {bans}");

    // A ban longer than anyone waits: given up on at once, and counted.
    let base = serve("HTTP/1.1 418 I'm a teapot\r\nRetry-After: 86400").await;
    let c = VenueClient::new("counted-418", &base, budget(), HttpConfig::default()).unwrap();
    get(&c).await.unwrap_err();
    assert_eq!(count("counted-418"), Some((0, 1)));
}
