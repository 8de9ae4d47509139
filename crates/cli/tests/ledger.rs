//! The gap ledger as a user meets it: hours never requested are not fetch errors and `status`
//! and `gaps` tell one story; `gaps --verify` finds and repairs an index that drifted from the
//! candles; `migrate` refuses a source file that is not there.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use candlekeep_core::time::{format_ms, now_ms};

mod common;
use common::{candlekeep, run, text};

const DAY: i64 = 86_400_000;

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", text(out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_backfill_that_stops_early_leaves_hours_not_requested_and_status_agrees_with_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("l.db");
    let url = format!("sqlite:{}", db.display());
    let from = format_ms(now_ms() - 60 * DAY);
    let to = format_ms(now_ms() - 30 * DAY);
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
            "--to",
            &to[..10],
            "--symbols",
            "BTC",
        ],
    ));
    assert!(out.status.success(), "{}", text(&out));

    let gaps = json(&run(candlekeep(
        dir.path(),
        None,
        &["--database-url", &url, "gaps", "--json", "--status", "all"],
    )));
    let rows = gaps["gaps"].as_array().unwrap();
    assert!(rows.iter().all(|g| g["cause"] != "fetch-error"), "{gaps}");
    let after: Vec<_> = rows.iter().filter(|g| g["cause"] == "not-requested").collect();
    assert_eq!(after.len(), 2, "one tail per market: {gaps}");
    // About 30 days per series were never asked for.
    let not_requested = gaps["summary"]["not_requested_bars"].as_i64().unwrap();
    assert!((2 * 29 * 24..=2 * 31 * 24).contains(&not_requested), "{gaps}");

    let status = json(&run(candlekeep(
        dir.path(),
        None,
        &["--database-url", &url, "status", "--json"],
    )));
    assert_eq!(status["gaps"]["not_requested_bars"], not_requested, "{status}");
    assert_eq!(status["gaps"]["open_bars"], gaps["summary"]["open_bars"], "{status}");
    let out = run(candlekeep(dir.path(), None, &["--database-url", &url, "status"]));
    assert!(text(&out).contains("not requested yet"), "{}", text(&out));
}

#[test]
fn gaps_verify_finds_and_repairs_an_index_that_drifted_from_the_candles() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let url = format!("sqlite:{}", db.display());
    let from = format_ms(now_ms() - 20 * DAY);
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
            "--markets",
            "spot",
        ],
    ));
    assert!(out.status.success(), "{}", text(&out));
    let before = json(&run(candlekeep(
        dir.path(),
        None,
        &["--database-url", &url, "gaps", "--json"],
    )));
    // A day of rows deleted behind candlekeep's back.
    let cut = (now_ms() - 10 * DAY) / 3_600_000 * 3_600_000;
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "DELETE FROM candles WHERE open_time >= ?1 AND open_time < ?2",
            (cut, cut + DAY),
        )
        .unwrap();
    let blind = json(&run(candlekeep(
        dir.path(),
        None,
        &["--database-url", &url, "gaps", "--json"],
    )));
    assert_eq!(
        blind["summary"]["open_bars"], before["summary"]["open_bars"],
        "the index hides the hole"
    );

    let out = run(candlekeep(
        dir.path(),
        None,
        &["--database-url", &url, "gaps", "--verify", "--json"],
    ));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("spot:BTCUSDT") && err.contains("rebuilt"), "{err}");
    let v = json(&out);
    let added = v["summary"]["open_bars"].as_i64().unwrap() - before["summary"]["open_bars"].as_i64().unwrap();
    assert!(added >= 23, "the deleted day is a gap now: {v}");
    let again = run(candlekeep(
        dir.path(),
        None,
        &["--database-url", &url, "gaps", "--verify"],
    ));
    assert!(text(&again).contains("matches the candles"), "{}", text(&again));
}

#[test]
fn migrate_refuses_a_source_file_that_is_not_there() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.db");
    let out = run(candlekeep(
        dir.path(),
        None,
        &[
            "migrate",
            "--from",
            &format!("sqlite:{}", missing.display()),
            "--to",
            &format!("sqlite:{}", dir.path().join("dest.db").display()),
        ],
    ));
    assert!(!out.status.success());
    assert!(text(&out).contains("no such SQLite file"), "{}", text(&out));
    assert!(!missing.exists(), "no empty source was created");
}

/// A PostgreSQL role that may only read: `status` and `gaps` still show everything (the run goes
/// unlogged and the ledger is shown as last refreshed), and the password never appears.
#[test]
fn a_read_only_role_gets_status_and_gaps() {
    use candlekeep_testkit::pg::{ReadOnlyRole, TestSchema, as_user, available};
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let schema = TestSchema::create().unwrap();
    let from = format_ms(now_ms() - 20 * DAY);
    let out = run(candlekeep(
        dir.path(),
        None,
        &[
            "--demo",
            "--database-url",
            &schema.url,
            "backfill",
            "--from",
            &from[..10],
            "--symbols",
            "BTC",
        ],
    ));
    assert!(out.status.success(), "{}", text(&out));
    let writer = json(&run(candlekeep(
        dir.path(),
        None,
        &["--database-url", &schema.url, "gaps", "--json"],
    )));

    let role = ReadOnlyRole::create(&schema.name);
    let reader = as_user(&schema.url, &role.name, "reader");
    let status = run(candlekeep(
        dir.path(),
        None,
        &["--database-url", &reader, "status", "--json"],
    ));
    let v = json(&status);
    assert_eq!(v["series"].as_array().unwrap().len(), 2, "{v}");
    assert!(
        !text(&status).contains("reader@"),
        "the password is masked: {}",
        text(&status)
    );
    let gaps = json(&run(candlekeep(
        dir.path(),
        None,
        &["--database-url", &reader, "gaps", "--json"],
    )));
    assert_eq!(gaps["gaps"], writer["gaps"]);
    assert_eq!(gaps["summary"]["open_bars"], writer["summary"]["open_bars"]);
}
