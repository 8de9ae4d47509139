//! Several `candlekeep worker` processes sharing one backfill through PostgreSQL, against a
//! simulated Binance on 127.0.0.1: every hour is fetched exactly once, the result equals a
//! single worker's, and a worker killed mid-run loses nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use candlekeep_core::{Market, time::now_ms};
use candlekeep_store::{CandleRead, PgStore};
use candlekeep_testkit::{BinanceSim, SimConfig, SimMarket, pg};
use common::candlekeep;

const DAY: i64 = 86_400_000;

fn generator() -> SimMarket {
    // 20 named coins and 30 synthetic ones: 50 spot instruments.
    SimMarket::default().with_extra_coins(30)
}

async fn spot_venue() -> BinanceSim {
    let mut config = SimConfig::binance(Market::Spot);
    config.generator = generator();
    BinanceSim::start(config).await.unwrap()
}

struct Range {
    from: String,
    to: String,
}

fn range() -> Range {
    let to = (now_ms() / DAY - 1) * DAY;
    Range {
        from: (to - 40 * DAY).to_string(),
        to: to.to_string(),
    }
}

/// A worker process on `url` against `venue`.
fn worker(dir: &Path, venue: &BinanceSim, url: &str, r: &Range, name: &str, lease_secs: u64) -> Child {
    let symbols = generator().all_symbols().join(",");
    let lease = lease_secs.to_string();
    let args = [
        "--database-url",
        url,
        "worker",
        "--until-idle",
        "--from",
        &r.from,
        "--to",
        &r.to,
        "--markets",
        "spot",
        "--symbols",
        &symbols,
        "--unit-days",
        "7",
        "--slots",
        "3",
        "--lease-secs",
        &lease,
        "--name",
        name,
    ];
    let mut cmd = candlekeep(dir, None, &args);
    cmd.env("CANDLEKEEP_BINANCE_SPOT_BASE_URL", venue.base_url())
        .env("CANDLEKEEP_BINANCE_USDM_BASE_URL", "http://127.0.0.1:9")
        .env("CANDLEKEEP_COLLECT_SOURCES", "binance-spot-rest")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().unwrap()
}

/// Lines of a worker's stdout as they come.
fn lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a worker to exit (the test's runtime keeps serving the venue meanwhile).
async fn wait(mut child: Child, output: std::sync::mpsc::Receiver<String>) -> Vec<String> {
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(240), "worker did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let out: Vec<String> = output.try_iter().collect();
    assert!(status.success(), "worker failed: {err}\n{}", out.join("\n"));
    out
}

async fn store_hash(url: &str) -> (String, i64) {
    let store = PgStore::connect(url).await.unwrap();
    let bars = store.series_status().await.unwrap().iter().map(|s| s.count).sum();
    (store.content_hash().await.unwrap(), bars)
}

fn units_done(out: &[String]) -> usize {
    out.iter().filter(|l| l.ends_with(" new bars")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_fifty_instruments_and_a_killed_one_loses_nothing() {
    if !pg::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let r = range();

    // One worker alone: the reference content.
    let single = pg::TestSchema::create().unwrap();
    let venue = spot_venue().await;
    let mut w = worker(dir.path(), &venue, &single.url, &r, "solo", 30);
    let out = lines(&mut w);
    wait(w, out).await;
    let (want, bars) = store_hash(&single.url).await;
    assert!(bars > 50 * 39 * 24, "{bars} bars");
    // Every command works on PostgreSQL; `status` names the mode and never prints a password.
    let status = candlekeep(dir.path(), None, &["--database-url", &single.url, "status", "--json"])
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(json["backend"].as_str().unwrap().starts_with("postgresql "), "{json}");
    assert_eq!(json["series"].as_array().unwrap().len(), 50);
    if let Some((_, password)) = pg::server_url().split_once("://").and_then(|(_, rest)| {
        let userinfo = rest.split_once('@')?.0;
        userinfo.split_once(':')
    }) {
        assert!(
            !String::from_utf8_lossy(&status.stdout).contains(&format!(":{password}@")),
            "{json}"
        );
    }

    // Two workers: the work is shared, and every bar is fetched exactly once.
    let shared = pg::TestSchema::create().unwrap();
    let venue = spot_venue().await;
    let (mut a, mut b) = (
        worker(dir.path(), &venue, &shared.url, &r, "a", 30),
        worker(dir.path(), &venue, &shared.url, &r, "b", 30),
    );
    let (out_a, out_b) = (lines(&mut a), lines(&mut b));
    let (out_a, out_b) = (wait(a, out_a).await, wait(b, out_b).await);
    assert!(units_done(&out_a) > 0 && units_done(&out_b) > 0, "{out_a:?}\n{out_b:?}");
    // The scheduler role may pass from one to the other (when the first one ends), but the
    // units are planned once: any later plan finds them all queued.
    let plans: Vec<&String> = out_a
        .iter()
        .chain(&out_b)
        .filter(|l| l.contains(" planned ") && !l.contains("(0 new"))
        .collect();
    assert_eq!(plans.len(), 1, "{plans:?}");
    let mut served: HashMap<(String, i64), u32> = HashMap::new();
    for bar in venue.served_bars() {
        *served.entry(bar).or_default() += 1;
    }
    let twice: Vec<_> = served.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{} bars fetched more than once, e.g. {:?}",
        twice.len(),
        twice.first()
    );
    assert_eq!(served.len() as i64, bars + missing_bars(&shared.url).await);
    assert_eq!(store_hash(&shared.url).await.0, want);

    // Two workers again; one is killed outright as soon as it has finished a unit. Its leases
    // run out (3 s) and the other worker takes its units over.
    let killed = pg::TestSchema::create().unwrap();
    let venue = spot_venue().await;
    let (mut a, mut b) = (
        worker(dir.path(), &venue, &killed.url, &r, "victim", 3),
        worker(dir.path(), &venue, &killed.url, &r, "survivor", 3),
    );
    let (out_a, out_b) = (lines(&mut a), lines(&mut b));
    let started = Instant::now();
    loop {
        let line = out_a.recv_timeout(Duration::from_secs(60)).unwrap();
        if line.ends_with(" new bars") || started.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    a.kill().unwrap();
    a.wait().unwrap();
    wait(b, out_b).await;
    assert_eq!(store_hash(&killed.url).await.0, want);
}

/// Bars the venue served that are not stored: none expected (the range is closed history).
async fn missing_bars(url: &str) -> i64 {
    let store = PgStore::connect(url).await.unwrap();
    store.rejects().await.unwrap().len() as i64
}
