//! SIGTERM, SIGINT and SIGHUP during a job: the job stops at a commit boundary, `job_runs` says
//! `interrupted`, the exit status is 128 + the signal, and a rerun ends where an uninterrupted
//! run does.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use std::{
    path::Path,
    process::{Child, Command},
    time::{Duration, Instant},
};

use candlekeep_core::{Market, Timeframe};
use candlekeep_store::{BlockingStore, SqliteStore};
use candlekeep_testkit::{SimMarket, archive};
use common::{candlekeep, run, text, venues};

/// Candles stored so far; 0 while the database is not there yet or is busy.
fn stored(db: &Path) -> i64 {
    let Ok(conn) = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY) else {
        return 0;
    };
    conn.query_row("SELECT COUNT(*) FROM candles", [], |r| r.get(0))
        .unwrap_or(0)
}

fn job_statuses(db: &Path, job: &str) -> Vec<(String, Option<String>)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT status, error FROM job_runs WHERE job = ?1 ORDER BY id")
        .unwrap();
    stmt.query_map([job], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Sends `signal` to `child` once its first commit is in `db`; returns whether it was sent
/// before the job ended on its own.
fn signal_after_first_commit(child: &mut Child, db: &Path, signal: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(120);
    while stored(db) == 0 {
        assert!(Instant::now() < deadline, "nothing was stored within two minutes");
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    true
}

fn content_hash(db: &Path) -> String {
    SqliteStore::open(db).unwrap().content_hash().unwrap()
}

#[test]
fn sigterm_or_sigint_stops_an_import_between_batches_and_a_rerun_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    // 4 years × 5 coins of monthly files: about 175,000 rows, several commits.
    let sim = SimMarket::default();
    for symbol in ["BTCUSDT", "ETHUSDT", "BNBUSDT", "XRPUSDT", "LTCUSDT"] {
        let folder = dir.path().join("data/spot/monthly/klines").join(symbol).join("1h");
        std::fs::create_dir_all(&folder).unwrap();
        for year in 2020..2024 {
            for month in 1..=12 {
                let style = archive::ArchiveStyle::binance(Market::Spot, year, month);
                archive::write_monthly(&folder, &sim, Market::Spot, symbol, Timeframe::H1, (year, month), style)
                    .unwrap();
            }
        }
    }
    let import = |db: &str| {
        let mut cmd = candlekeep(dir.path(), None, &["--database-url", db, "import", "data"]);
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        cmd
    };

    let full = run(import("sqlite:full.db"));
    assert!(full.status.success(), "{}", text(&full));

    let full_db = dir.path().join("full.db");
    for (signal, code, name) in [("-TERM", 143, "SIGTERM"), ("-INT", 130, "SIGINT")] {
        let url = format!("sqlite:part-{name}.db");
        let part_db = dir.path().join(format!("part-{name}.db"));
        let mut child = import(&url).spawn().unwrap();
        assert!(
            signal_after_first_commit(&mut child, &part_db, signal),
            "the import ended before it could be interrupted"
        );
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{name}: {}", text(&out));
        assert!(text(&out).contains("interrupted"), "{}", text(&out));
        assert_eq!(
            job_statuses(&part_db, "import"),
            vec![("interrupted".to_owned(), Some(format!("interrupted by {name}")))]
        );
        let partial = stored(&part_db);
        assert!(partial > 0 && partial < stored(&full_db), "{name}: {partial}");

        let rerun = run(import(&url));
        assert!(rerun.status.success(), "{}", text(&rerun));
        assert_eq!(job_statuses(&part_db, "import")[1].0, "ok");
        assert_eq!(content_hash(&part_db), content_hash(&full_db), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_stops_a_backfill_which_records_it_and_a_rerun_resumes() {
    let v = venues(Duration::from_millis(150)).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("data/candlekeep.db");
    let args = [
        "backfill",
        "--from",
        "2022-01-01",
        "--symbols",
        "BTC",
        "--markets",
        "spot",
    ];
    let mut child = candlekeep(dir.path(), Some(&v), &args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let db2 = db.clone();
    let (sent, child) =
        tokio::task::spawn_blocking(move || (signal_after_first_commit(&mut child, &db2, "-HUP"), child))
            .await
            .unwrap();
    assert!(sent, "the backfill ended before it could be interrupted");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(129), "{}", text(&out));
    assert_eq!(
        job_statuses(&db, "backfill"),
        vec![("interrupted".to_owned(), Some("interrupted by SIGHUP".to_owned()))]
    );

    let mut cmd = candlekeep(dir.path(), Some(&v), &args);
    let rerun = tokio::task::spawn_blocking(move || run(&mut cmd)).await.unwrap();
    assert!(rerun.status.success(), "{}", text(&rerun));
    assert_eq!(job_statuses(&db, "backfill")[1].0, "ok");
}
