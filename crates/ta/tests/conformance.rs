//! Every indicator against TA-Lib on real hourly history: the files `scripts/ta_golden.py --real`
//! writes into `target/ta-conformance/` from `../shared/data` (`.ci/run` makes them when that
//! folder is there). Skipped with a message when there are none, unless
//! `CANDLEKEEP_TEST_REQUIRE_TA_CONFORMANCE` is set: then it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::path::PathBuf;

use serde_json::Value;
use support::{Series, batch, close_enough};

fn conformance_dir() -> PathBuf {
    std::env::var_os("CANDLEKEEP_TA_CONFORMANCE_DIR").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/ta-conformance")),
        PathBuf::from,
    )
}

#[test]
fn every_indicator_matches_talib_on_real_history() {
    let dir = conformance_dir();
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect()
        })
        .unwrap_or_default();
    if files.is_empty() {
        assert!(
            std::env::var_os("CANDLEKEEP_TEST_REQUIRE_TA_CONFORMANCE").is_none(),
            "CANDLEKEEP_TEST_REQUIRE_TA_CONFORMANCE is set but {} holds no conformance files",
            dir.display()
        );
        eprintln!(
            "skipping the real-history conformance: no files in {} (scripts/ta_golden.py --real makes them)",
            dir.display()
        );
        return;
    }
    for file in files {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let s = Series::from_json(&doc["series"]["real"]);
        let cases = doc["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 26, "{}", file.display());
        let mut values = 0;
        for case in cases {
            let name = case["indicator"].as_str().unwrap();
            let got = batch(name, case["params"].as_object().unwrap(), &s).unwrap();
            for (out, column) in &got {
                let want = case["outputs"][*out].as_array().unwrap();
                assert_eq!(want.len(), column.len());
                for (i, (g, w)) in column.iter().zip(want).enumerate() {
                    assert!(
                        close_enough(*g, w.as_f64()),
                        "{} {name} {out}[{i}]: {g} but TA-Lib {w}",
                        file.display()
                    );
                }
                values += column.len();
            }
        }
        eprintln!(
            "{}: {} bars, {values} values equal to TA-Lib's",
            file.display(),
            s.len()
        );
    }
}
