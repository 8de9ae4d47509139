//! `candlekeep serve` as a user runs it: a backfill started over the API and stopped by SIGTERM
//! in its middle loses nothing (the process exits 0, the run is recorded `interrupted`, and a
//! rerun ends with the content of a clean run); a non-loopback bind without a token is refused.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use candlekeep_store::{BlockingStore, SqliteStore};
use common::{candlekeep, run, text, venues};

const TOKEN: &str = "test-token-0123456789";

fn stored(db: &Path) -> i64 {
    let Ok(conn) = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY) else {
        return 0;
    };
    conn.query_row("SELECT COUNT(*) FROM candles", [], |r| r.get(0))
        .unwrap_or(0)
}

/// Starts `serve` on a free loopback port and returns it with the API's base URL (read from the
/// line it prints when it listens).
fn serve(mut cmd: Command) -> (Child, String) {
    let mut child = cmd
        .env("CANDLEKEEP_SERVER_ADMIN_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent && let Some(rest) = line.split("API on ").nth(1) {
                let base = rest.split_whitespace().next().unwrap_or_default().trim_end_matches(';');
                tx.send(base.to_owned()).unwrap();
                sent = true;
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("serve never said where it listens");
    (child, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_backfill_exits_zero_records_interrupted_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let v = venues(Duration::from_millis(40)).await;
    let range = ["--from", "2023-01-01", "--to", "2024-01-01", "--symbols", "BTC"];
    let cli = |db: &str, extra: &[&str]| {
        let url = format!("sqlite:{db}");
        let mut args = vec!["--database-url", &url];
        args.extend_from_slice(extra);
        candlekeep(dir.path(), Some(&v), &args)
    };
    let clean = run(cli("clean.db", &[&["backfill"], &range[..]].concat()));
    assert!(clean.status.success(), "{}", text(&clean));
    let clean_hash = SqliteStore::open(&dir.path().join("clean.db"))
        .unwrap()
        .content_hash()
        .unwrap();

    let (mut child, base) = serve(cli("served.db", &["serve", "--bind", "127.0.0.1:0", "--no-schedule"]));
    let http = reqwest::Client::new();
    let started = http
        .post(format!("{base}/jobs/backfill"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"symbols": ["BTC"], "from": "2023-01-01", "to": "2024-01-01"}))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202, "{:?}", started.text().await);
    let body: serde_json::Value = started.json().await.unwrap();
    let id = body["id"].as_i64().expect("the run's id");

    let db = dir.path().join("served.db");
    let deadline = Instant::now() + Duration::from_secs(60);
    while stored(&db) == 0 {
        assert!(Instant::now() < deadline, "nothing was stored within a minute");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "serve exited {exit:?} on SIGTERM");

    let partial = stored(&db);
    let row = SqliteStore::open(&db)
        .unwrap()
        .recent_jobs(10)
        .unwrap()
        .into_iter()
        .find(|r| r.id == id)
        .expect("the run's row");
    assert_eq!(row.status, "interrupted", "{row:?}");
    assert!(partial > 0, "stopped before anything was stored");

    // The same backfill again (here from the command line) ends where a clean run does.
    let resumed = run(cli("served.db", &[&["backfill"], &range[..]].concat()));
    assert!(resumed.status.success(), "{}", text(&resumed));
    assert_eq!(SqliteStore::open(&db).unwrap().content_hash().unwrap(), clean_hash);
}

#[test]
fn a_public_bind_without_a_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(candlekeep(
        dir.path(),
        None,
        &["--database-url", "sqlite:x.db", "serve", "--bind", "0.0.0.0:0"],
    ));
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains("without an admin token") && said.contains("CANDLEKEEP_SERVER_ADMIN_TOKEN"),
        "{said}"
    );
}
