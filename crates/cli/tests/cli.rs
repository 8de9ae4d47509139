//! The `candlekeep` binary as a user runs it, against simulated venues on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use candlekeep_core::{Market, Timeframe, time::now_ms};
use candlekeep_store::{BlockingStore, SqliteStore};
use candlekeep_testkit::{SimMarket, archive};

mod common;
use common::{candlekeep, run, text, venues};

const DAY: i64 = 86_400_000;

fn content_hash(db: &Path) -> String {
    SqliteStore::open(db).unwrap().content_hash().unwrap()
}

fn row_count(db: &Path) -> i64 {
    SqliteStore::open(db)
        .unwrap()
        .series_status()
        .unwrap()
        .iter()
        .map(|s| s.count)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_mid_backfill_then_rerun_gives_identical_content() {
    let dir = tempfile::tempdir().unwrap();
    let v = venues(Duration::from_millis(60)).await;
    let from = (now_ms() / DAY - 400) * DAY;
    let to = (now_ms() / DAY - 1) * DAY;
    let from_s = from.to_string();
    let to_s = to.to_string();
    let backfill = |db: &str| {
        let url = format!("sqlite:{db}");
        let args = [
            "--database-url",
            &url,
            "backfill",
            "--from",
            &from_s,
            "--to",
            &to_s,
            "--symbols",
            "BTC,ETH",
        ];
        candlekeep(dir.path(), Some(&v), &args)
    };

    let clean = run(&mut backfill("clean.db"));
    assert!(clean.status.success(), "{}", text(&clean));
    let clean_hash = content_hash(&dir.path().join("clean.db"));
    let clean_rows = row_count(&dir.path().join("clean.db"));
    assert!(clean_rows > 4 * 390 * 24);

    // Kill it three times at different moments, each once some rows are in, then let it finish.
    let killed_db = dir.path().join("killed.db");
    for round in 0..3 {
        let mut child = backfill("killed.db")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let before = if killed_db.exists() { row_count(&killed_db) } else { 0 };
        loop {
            tokio::time::sleep(Duration::from_millis(40 + 30 * round)).await;
            let now_rows = if killed_db.exists() { row_count(&killed_db) } else { 0 };
            if now_rows > before || started.elapsed() > Duration::from_secs(20) {
                break;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let partial = row_count(&killed_db);
    assert!(
        partial > 0 && partial < clean_rows,
        "killed mid-run: {partial} of {clean_rows}"
    );
    let finish = run(&mut backfill("killed.db"));
    assert!(finish.status.success(), "{}", text(&finish));
    assert_eq!(content_hash(&killed_db), clean_hash);

    let jobs = SqliteStore::open(&killed_db).unwrap().recent_jobs(10).unwrap();
    assert_eq!(jobs[0].status, "ok");
    assert!(jobs[1..].iter().all(|j| j.status == "interrupted"), "{jobs:?}");

    // A rerun writes nothing.
    let again = run(&mut backfill("killed.db"));
    assert!(text(&again).contains("backfill: 0 bars written"), "{}", text(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_fetches_only_new_closed_bars_and_status_reports_them() {
    let dir = tempfile::tempdir().unwrap();
    let v = venues(Duration::ZERO).await;
    let first = run(candlekeep(
        dir.path(),
        Some(&v),
        &["sync", "--symbols", "BTC", "--markets", "spot"],
    ));
    assert!(first.status.success(), "{}", text(&first));
    let db = dir.path().join("data/candlekeep.db");
    let rows = row_count(&db);
    assert!(
        (30 * 24 - 24..=30 * 24 + 1).contains(&rows),
        "30 days of hourly bars: {rows}"
    );
    let second = run(candlekeep(
        dir.path(),
        Some(&v),
        &["sync", "--symbols", "BTC", "--markets", "spot"],
    ));
    assert!(text(&second).contains("sync: 0 bars written"), "{}", text(&second));

    let status = run(candlekeep(dir.path(), None, &["status", "--json"]));
    assert!(status.status.success());
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(
        json["backend"].as_str().unwrap().starts_with("sqlite "),
        "{}",
        json["backend"]
    );
    let s = &json["series"][0];
    assert_eq!(s["instrument"], "spot:BTCUSDT");
    assert_eq!(s["count"], rows);
    assert_eq!(s["expected"].as_i64().unwrap() - s["missing"].as_i64().unwrap(), rows);
    assert!(
        s["age_seconds"].as_i64().unwrap() < 3600,
        "the newest closed bar is at most an hour old"
    );
    let table = run(candlekeep(dir.path(), None, &["status"]));
    assert!(text(&table).contains("spot:BTCUSDT"));
}

#[test]
fn init_writes_a_config_that_the_environment_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(candlekeep(dir.path(), None, &["init"]));
    assert!(out.status.success(), "{}", text(&out));
    let config = std::fs::read_to_string(dir.path().join("candlekeep.toml")).unwrap();
    assert!(config.contains("weight_per_minute = 6000") && config.contains("CANDLEKEEP_"));
    assert!(dir.path().join("data/candlekeep.db").exists());
    let again = run(candlekeep(dir.path(), None, &["init"]));
    assert!(!again.status.success() && text(&again).contains("--force"));

    let mut cmd = candlekeep(dir.path(), None, &["status"]);
    cmd.env("CANDLEKEEP_DATABASE_URL", "sqlite:other/place.db");
    assert!(run(&mut cmd).status.success());
    assert!(
        dir.path().join("other/place.db").exists(),
        "environment overrides the file"
    );

    std::fs::write(
        dir.path().join(".env"),
        "CANDLEKEEP_DATABASE_URL=sqlite:from-dotenv.db\n",
    )
    .unwrap();
    assert!(run(&mut candlekeep(dir.path(), None, &["status"])).status.success());
    assert!(dir.path().join("from-dotenv.db").exists(), ".env is read");

    let mut bad = candlekeep(dir.path(), None, &["status"]);
    bad.env("CANDLEKEEP_HTTP_TIMEOUT_SECS", "soon");
    let out = run(&mut bad);
    assert!(
        !out.status.success() && text(&out).contains("CANDLEKEEP_HTTP_TIMEOUT_SECS"),
        "{}",
        text(&out)
    );
}

#[test]
fn bad_flags_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (args, says) in [
        (vec!["backfill", "--from", "yesterday"], "bad date"),
        (
            vec!["backfill", "--from", "2024-01-01", "--to", "2023-01-01"],
            "must be after",
        ),
        (
            vec!["backfill", "--from", "2024-01-01", "--markets", "options"],
            "unknown market",
        ),
        (
            vec!["backfill", "--from", "2024-01-01", "--timeframe", "2h"],
            "unknown timeframe",
        ),
        (
            vec!["--database-url", "postgres://nobody:secret@127.0.0.1:9/none", "status"],
            "cannot connect to PostgreSQL at postgres://nobody:***@127.0.0.1:9/none",
        ),
        (vec!["--database-url", "mysql://h/db", "status"], "expected sqlite:PATH"),
        (vec!["--config", "missing.toml", "status"], "missing.toml"),
    ] {
        let out = run(&mut candlekeep(dir.path(), None, &args));
        assert!(!out.status.success(), "{args:?}");
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
    }
}

/// A Binance-layout folder of monthly archives for one symbol.
fn archives(root: &Path, market: Market, symbol: &str, months: &[(i32, u32)]) -> Vec<PathBuf> {
    let sub = match market {
        Market::Spot => "data/spot/monthly/klines",
        Market::UsdM => "data/futures/um/monthly/klines",
    };
    let dir = root.join(sub).join(symbol).join("1h");
    std::fs::create_dir_all(&dir).unwrap();
    months
        .iter()
        .map(|&(y, m)| {
            let style = archive::ArchiveStyle::binance(market, y, m);
            archive::write_monthly(
                &dir,
                &SimMarket::default(),
                market,
                symbol,
                Timeframe::H1,
                (y, m),
                style,
            )
            .unwrap()
            .0
        })
        .collect()
}

#[test]
fn import_loads_archives_and_refuses_bad_files_without_touching_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let months = [(2024, 11), (2024, 12), (2025, 1)]; // the last one has µs timestamps
    let spot = archives(dir.path(), Market::Spot, "BTCUSDT", &months);
    archives(dir.path(), Market::UsdM, "ETHUSDT", &[(2022, 4), (2022, 5)]); // without and with header
    let out = run(&mut candlekeep(dir.path(), None, &["import", "data"]));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("imported 5 file(s)") && text(&out).contains("5 checksum(s) verified"),
        "{}",
        text(&out)
    );
    let db = dir.path().join("data/candlekeep.db");
    let mut store = SqliteStore::open(&db).unwrap();
    let btc = candlekeep_core::Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap();
    let from = archive::month_start_ms(2024, 11);
    let to = archive::month_start_ms(2025, 2);
    let truth: Vec<_> = SimMarket::default()
        .candles(Market::Spot, "BTCUSDT", Timeframe::H1, from, to)
        .iter()
        .map(|c| c.to_candle())
        .collect();
    assert_eq!(
        store.candles(&btc, Timeframe::H1, from, to).unwrap(),
        truth,
        "ms and µs files give the same bars"
    );
    drop(store);
    let before = content_hash(&db);

    // A zip whose bytes do not match its CHECKSUM.
    let tampered = dir.path().join("tampered");
    std::fs::create_dir_all(&tampered).unwrap();
    let name = spot[0].file_name().unwrap().to_str().unwrap().to_owned();
    let mut bytes = std::fs::read(&spot[0]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xFF;
    std::fs::write(tampered.join(&name), &bytes).unwrap();
    std::fs::copy(
        spot[0].with_file_name(format!("{name}.CHECKSUM")),
        tampered.join(format!("{name}.CHECKSUM")),
    )
    .unwrap();
    // A corrupt zip with no checksum beside it.
    let corrupt = dir.path().join("corrupt/spot");
    std::fs::create_dir_all(&corrupt).unwrap();
    std::fs::write(corrupt.join("SOLUSDT-1h-2024-01.zip"), &bytes[..bytes.len() / 3]).unwrap();
    // A CSV with one bad row.
    let csv_dir = dir.path().join("badcsv/spot");
    std::fs::create_dir_all(&csv_dir).unwrap();
    let rows = archive::csv_rows(
        &SimMarket::default().candles(Market::Spot, "XRPUSDT", Timeframe::H1, from, from + 5 * 3_600_000),
        false,
    );
    let mut lines: Vec<&str> = rows.lines().collect();
    lines.insert(2, "1730426400000,0.5,0.6,oops,0.5,1,1730429999999,1,1,0,0,0");
    let broken = lines.join("\n");
    std::fs::write(csv_dir.join("XRPUSDT-1h-2024-11.csv"), broken).unwrap();

    for (path, says) in [
        (format!("tampered/{name}"), "checksum mismatch"),
        ("corrupt/spot/SOLUSDT-1h-2024-01.zip".to_owned(), "not a readable zip"),
        (
            "badcsv/spot/XRPUSDT-1h-2024-11.csv".to_owned(),
            "line 3: column 4: not a finite decimal number: \"oops\"",
        ),
    ] {
        let mut cmd = candlekeep(dir.path(), None, &["import", "--market", "spot", &path]);
        let out = run(&mut cmd);
        assert!(!out.status.success(), "{path}");
        assert!(text(&out).contains(says), "{path}: {}", text(&out));
        assert_eq!(content_hash(&db), before, "{path}: the database is unchanged");
    }
}

#[test]
fn demo_universe_then_backfill_of_the_top_coins_through_the_fallback_chain() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("u.db");
    let url = format!("sqlite:{}", db.display());
    let demo = |args: &[&str]| {
        let mut cmd = candlekeep(dir.path(), None, &["--demo", "--database-url", &url]);
        cmd.args(args).env_remove("CANDLEKEEP_COLLECT_SOURCES");
        cmd
    };
    let out = run(demo(&["backfill", "--from", "2026-01-01", "--max-coins", "3"]));
    assert!(!out.status.success());
    assert!(
        text(&out).contains("run `candlekeep sync --symbols-only` first"),
        "{}",
        text(&out)
    );

    let out = run(demo(&["sync", "--symbols-only", "--max-coins", "5"]));
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("universe: 5 assets"), "{t}");
    assert!(t.contains("okx      usdm     20 USDT pairs listed  (20 new"), "{t}");
    // BTC, ETH, (USDT skipped), BNB, SOL on both markets.
    assert!(t.contains("8 series (coin × market)"), "{t}");

    let from = candlekeep_core::time::format_ms(candlekeep_core::time::now_ms() - 3 * 86_400_000);
    let out = run(demo(&["backfill", "--from", &from[..10], "--max-coins", "5"]));
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for series in ["spot:BTCUSDT", "usdm:SOLUSDT"] {
        assert!(t.contains(series), "{t}");
    }
    assert!(!t.contains("USDTUSDT"), "{t}");
    let mut store = candlekeep_store::SqliteStore::open(&db).unwrap();
    let jobs = store.recent_jobs(10).unwrap();
    let backfill = jobs
        .iter()
        .find(|j| j.job == "backfill" && j.status.as_str() == "ok")
        .unwrap();
    assert!(
        backfill.sources_used.starts_with("binance-spot-rest="),
        "{}",
        backfill.sources_used
    );
    let out = run(candlekeep(
        dir.path(),
        None,
        &["--database-url", &url, "status", "--cross-check"],
    ));
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn gaps_lists_venue_outages_and_fill_repairs_them_from_the_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    let url = format!("sqlite:{}", db.display());
    let from = candlekeep_core::time::format_ms(candlekeep_core::time::now_ms() - 200 * 86_400_000);
    // Binance only: its outage hours stay missing.
    let out = run(candlekeep(
        dir.path(),
        None,
        &[
            "--demo",
            "--database-url",
            &url,
            "backfill",
            "--from",
            &from[..10],
            "--symbols",
            "BTC",
        ],
    ));
    assert!(out.status.success(), "{}", text(&out));
    let out = run(candlekeep(
        dir.path(),
        None,
        &["--database-url", &url, "gaps", "--json"],
    ));
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let open = v["summary"]["open"].as_u64().unwrap();
    assert!(open > 0, "the simulated outages leave gaps: {v}");
    assert!(
        v["gaps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["cause"] == "venue-outage")
    );

    // The default chain (OKX has other outage hours) repairs every one of them.
    let mut fill = candlekeep(
        dir.path(),
        None,
        &[
            "--demo",
            "--database-url",
            &url,
            "gaps",
            "--fill",
            "--since",
            &from[..10],
            "--json",
        ],
    );
    fill.env_remove("CANDLEKEEP_COLLECT_SOURCES");
    let out = run(fill);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["open"], 0, "{v}");
    let out = run(candlekeep(
        dir.path(),
        None,
        &["--database-url", &url, "gaps", "--status", "repaired", "--json"],
    ));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let repaired = v["gaps"].as_array().unwrap();
    assert_eq!(repaired.len() as u64, open);
    assert!(repaired.iter().all(|g| g["repaired_by"] == "okx-rest"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_on_one_sqlite_file_take_turns_and_a_held_lock_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let v = venues(Duration::from_millis(5)).await;
    let from = ((now_ms() / DAY - 60) * DAY).to_string();
    let to = ((now_ms() / DAY - 1) * DAY).to_string();
    let backfill = |db: &str, symbols: &str| {
        let url = format!("sqlite:{db}");
        let args = [
            "--database-url",
            &url,
            "backfill",
            "--from",
            &from,
            "--to",
            &to,
            "--symbols",
            symbols,
        ];
        candlekeep(dir.path(), Some(&v), &args)
    };
    let clean = run(backfill("clean.db", "BTC,ETH,SOL"));
    assert!(clean.status.success(), "{}", text(&clean));

    // Two processes write the same file at once: each waits for the other's transactions.
    let mut children: Vec<_> = ["BTC,ETH", "SOL,ETH"]
        .iter()
        .map(|s| {
            backfill("shared.db", s)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let started = Instant::now();
    while children.iter_mut().any(|c| c.try_wait().unwrap().is_none()) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the writers did not finish"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
    let shared = dir.path().join("shared.db");
    let check: String = rusqlite::Connection::open(&shared)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    assert_eq!(content_hash(&shared), content_hash(&dir.path().join("clean.db")));

    // A process holding the write lock longer than the wait: a clear error, nothing written.
    let before = content_hash(&shared);
    let holder = rusqlite::Connection::open(&shared).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let blocked = run(backfill("shared.db", "ADA").env("CANDLEKEEP_DATABASE_BUSY_TIMEOUT_SECS", "1"));
    assert!(!blocked.status.success());
    assert!(
        text(&blocked).contains("locked by another process"),
        "{}",
        text(&blocked)
    );
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    assert_eq!(content_hash(&shared), before);
    let after = run(backfill("shared.db", "ADA"));
    assert!(after.status.success(), "{}", text(&after));
}
