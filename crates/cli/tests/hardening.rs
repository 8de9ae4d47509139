//! Bad input of every kind (database URLs, `.env` files, environment values, out-of-range
//! numbers and dates, odd symbol lists) gets a clear error: never a panic, a leaked password,
//! a file with a mangled name, or a quietly wrong answer.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::{candlekeep, run, text};

/// The binary in `dir` with every venue, Binance included, on a closed local port.
fn offline(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = candlekeep(dir, None, args);
    cmd.env("CANDLEKEEP_BINANCE_SPOT_BASE_URL", "http://127.0.0.1:9");
    cmd.env("CANDLEKEEP_BINANCE_USDM_BASE_URL", "http://127.0.0.1:9");
    cmd
}

/// Fails cleanly (exit code 1, no panic) saying `says`.
fn refused(out: &Output, says: &str, what: &str) {
    let all = text(out);
    assert_eq!(out.status.code(), Some(1), "{what}: {all}");
    assert!(!all.contains("panicked"), "{what}: {all}");
    assert!(all.contains(says), "{what}: expected {says:?} in {all}");
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn malformed_database_urls_are_refused_without_showing_the_password() {
    for (url, says) in [
        ("postgres:/x", "expected sqlite:PATH"),
        ("postgres:/nobody:hunter2@127.0.0.1/db", "postgres:// or postgresql://"),
        ("host=127.0.0.1 password=hunter2 dbname=ck", "expected sqlite:PATH"),
        ("data/candlekeep.db", "does not start with sqlite: or postgres://"),
        ("sqlite::memory:", "in-memory"),
        ("sqlite:ck.db?mode=ro", "?mode=ro"),
        ("file:ck.db", "file: URLs are not supported"),
        ("postgres:///ck", "names no host"),
        ("postgres://nobody:hunter2@127.0.0.1:9/ck?sslmode=require", "TLS"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = run(offline(dir.path(), &["--database-url", url, "status"]));
        refused(&out, says, url);
        assert!(!text(&out).contains("hunter2"), "{url}: {}", text(&out));
        assert!(
            files_in(dir.path()).is_empty(),
            "{url}: created {:?}",
            files_in(dir.path())
        );
    }
}

#[test]
fn a_password_with_an_unescaped_at_sign_is_masked() {
    let dir = tempfile::tempdir().unwrap();
    let url = "postgres://nobody:hunter@2@127.0.0.1:9/ck";
    let out = run(offline(dir.path(), &["--database-url", url, "status"]));
    refused(&out, "postgres://nobody:***@127.0.0.1:9/ck", url);
    assert!(!text(&out).contains("hunter"), "{}", text(&out));
}

#[test]
fn a_bad_dotenv_line_is_an_error_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "# settings\nCANDLEKEEP_COLLECT_ASSETS=BTC\n\nTHIS LINE IS BROKEN\nCANDLEKEEP_DATABASE_URL=sqlite:right.db\n",
    )
    .unwrap();
    let out = run(offline(dir.path(), &["status"]));
    refused(&out, ".env line 4", "bad .env");
    assert!(
        !dir.path().join("data").exists() && !dir.path().join("right.db").exists(),
        "no database is created: {:?}",
        files_in(dir.path())
    );

    // A quoted value spanning lines is fine; an unclosed quote is reported where it opens.
    std::fs::write(
        dir.path().join(".env"),
        "A_MULTI=\"one\ntwo\"\nCANDLEKEEP_DATABASE_URL=sqlite:right.db\nB='never closed\nC=1\n",
    )
    .unwrap();
    refused(&run(offline(dir.path(), &["status"])), ".env line 4", "unclosed quote");

    std::fs::write(
        dir.path().join(".env"),
        "A_MULTI=\"one\ntwo\"\nCANDLEKEEP_DATABASE_URL=sqlite:right.db\n",
    )
    .unwrap();
    let out = run(offline(dir.path(), &["status"]));
    assert!(out.status.success(), "{}", text(&out));
    assert!(dir.path().join("right.db").exists(), "{:?}", files_in(dir.path()));
}

#[test]
fn float_keys_and_asset_chains_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = offline(dir.path(), &["--database-url", "sqlite:ck.db", "status"]);
    cmd.env("CANDLEKEEP_QUALITY_JUMP_PCT", "25.5");
    cmd.env("CANDLEKEEP_ASSET_SOURCES_BTC", "okx-rest,bybit-rest");
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", text(&out));

    // The per-asset chain is read (and checked) like one from the file.
    let mut cmd = offline(dir.path(), &["--database-url", "sqlite:ck.db", "status"]);
    cmd.env("CANDLEKEEP_ASSET_SOURCES_SOL", "okx-rest,nowhere");
    refused(&run(&mut cmd), "asset_sources.SOL", "bad chain");

    let mut cmd = offline(dir.path(), &["--database-url", "sqlite:ck.db", "status"]);
    cmd.env("CANDLEKEEP_QUALITY_JUMP_PCT", "NaN");
    refused(&run(&mut cmd), "CANDLEKEEP_QUALITY_JUMP_PCT", "NaN");
}

#[test]
fn out_of_range_numbers_and_dates_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = ["--database-url", "sqlite:ck.db"];
    for (env, value, says) in [
        (
            "CANDLEKEEP_DATABASE_BUSY_TIMEOUT_SECS",
            "18446744073709551615",
            "database.busy_timeout_secs",
        ),
        ("CANDLEKEEP_UNIVERSE_MAX_COINS", "4294967295", "universe.max_coins"),
        (
            "CANDLEKEEP_COLLECT_SYNC_INITIAL_DAYS",
            "4294967295",
            "collect.sync_initial_days",
        ),
        (
            "CANDLEKEEP_HTTP_TIMEOUT_SECS",
            "18446744073709551615",
            "http.timeout_secs",
        ),
        ("CANDLEKEEP_COLLECT_MARKETS", "spot,options", "collect.markets"),
    ] {
        let mut cmd = offline(dir.path(), &[&db[..], &["status"]].concat());
        cmd.env(env, value);
        refused(&run(&mut cmd), says, env);
    }
    for (args, says) in [
        (
            vec!["backfill", "--from", "2024-01-01", "--max-coins", "4294967295"],
            "--max-coins",
        ),
        (vec!["sync", "--symbols-only", "--max-coins", "0"], "--max-coins"),
        (vec!["backfill", "--from", "2008-12-31"], "2009-01-03"),
        (vec!["backfill", "--from", "1000000"], "bad date"),
        (
            vec!["backfill", "--from", "2024-01-01", "--to", "3000-01-01"],
            "out of range",
        ),
        (
            vec!["backfill", "--from", "2024-01-01", "--to", "99999999999999999"],
            "out of range",
        ),
        (vec!["indicators", "--bars", "4611686018427387904"], "--bars"),
        (vec!["indicators", "--bars", "1"], "--bars"),
        (vec!["quality", "--days", "4294967295"], "--days"),
    ] {
        let out = run(offline(dir.path(), &[&db[..], &args].concat()));
        // clap's own usage errors exit with 2.
        assert!(matches!(out.status.code(), Some(1 | 2)), "{args:?}: {}", text(&out));
        assert!(!text(&out).contains("panicked"), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains(says),
            "{args:?}: expected {says:?} in {}",
            text(&out)
        );
    }
}

#[test]
fn a_symbol_in_another_quote_is_refused_not_doubled() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(offline(
        dir.path(),
        &[
            "--database-url",
            "sqlite:ck.db",
            "backfill",
            "--from",
            "2024-01-01",
            "--symbols",
            "BTCUSDC",
        ],
    ));
    refused(&out, "quoted in USDC", "BTCUSDC");
    assert!(!text(&out).contains("BTCUSDCUSDT"), "{}", text(&out));
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = offline(
        dir.path(),
        &[
            "--database-url",
            "sqlite:ck.db",
            "backfill",
            "--from",
            "2024-01-01",
            "--symbols",
            "BTC",
            "--markets",
            "spot",
        ],
    );
    cmd.env("CANDLEKEEP_LOG", "debug");
    cmd.env("CANDLEKEEP_HTTP_MAX_ATTEMPTS", "1");
    let out = run(&mut cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("DEBUG") || stderr.contains("WARN"),
        "no log lines to check: {stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "escape codes in a piped log: {stderr:?}");
}
