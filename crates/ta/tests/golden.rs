//! Every indicator against TA-Lib's own outputs (`tests/golden/talib.json`, made by
//! `scripts/ta_golden.py`): a real-looking series with default and other parameters, flat prices,
//! a single spike, minimal lengths, and the parameters TA-Lib refuses. Within 1e-9 relative
//! error, NaN exactly where TA-Lib has no value; the streaming form gives the batch form's values
//! bit for bit.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::collections::BTreeMap;

use serde_json::Value;
use support::{Series, batch, close_enough, streaming};

fn golden() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/talib.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Checks one case; `None` when it holds, else what differs.
pub fn check(case: &Value, series: &BTreeMap<String, Series>) -> Option<String> {
    let name = case["indicator"].as_str().unwrap();
    let params = case["params"].as_object().unwrap();
    let full = &series[case["series"].as_str().unwrap()];
    let s = match case.get("len") {
        Some(n) => full.truncated(n.as_u64().unwrap() as usize),
        None => full.clone(),
    };
    let label = format!("{name} {} {params:?} len {}", case["series"], s.len());
    let got = batch(name, params, &s);
    if case.get("error").is_some() {
        return got
            .is_ok()
            .then(|| format!("{label}: TA-Lib refuses these parameters, we did not"));
    }
    let got = match got {
        Ok(g) => g,
        Err(e) => return Some(format!("{label}: {e}")),
    };
    let want = case["outputs"].as_object().unwrap();
    for (out, values) in &got {
        let Some(expected) = want.get(*out) else {
            return Some(format!("{label}: TA-Lib has no output {out}"));
        };
        let expected: Vec<Option<f64>> = expected.as_array().unwrap().iter().map(Value::as_f64).collect();
        if expected.len() != values.len() {
            return Some(format!(
                "{label} {out}: {} values, TA-Lib {}",
                values.len(),
                expected.len()
            ));
        }
        if let Some(i) = (0..values.len()).find(|&i| !close_enough(values[i], expected[i])) {
            return Some(format!(
                "{label} {out}[{i}]: {} but TA-Lib {:?}",
                values[i], expected[i]
            ));
        }
    }
    let streamed = streaming(name, params, &s).unwrap();
    for ((out, b), (_, st)) in got.iter().zip(&streamed) {
        if let Some(i) = (0..b.len()).find(|&i| b[i].to_bits() != st[i].to_bits() && !(b[i].is_nan() && st[i].is_nan()))
        {
            return Some(format!("{label} {out}[{i}]: batch {} but streaming {}", b[i], st[i]));
        }
    }
    None
}

pub fn load_series(doc: &Value) -> BTreeMap<String, Series> {
    doc["series"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), Series::from_json(v)))
        .collect()
}

#[test]
fn every_indicator_matches_talib_on_every_golden_case() {
    let doc = golden();
    let series = load_series(&doc);
    let cases = doc["cases"].as_array().unwrap();
    let failures: Vec<String> = cases.iter().filter_map(|c| check(c, &series)).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from TA-Lib {}:\n{}",
        failures.len(),
        cases.len(),
        doc["talib"],
        failures.join("\n")
    );
    // Every TA-Lib indicator of the crate has golden cases.
    let covered: std::collections::BTreeSet<&str> = cases.iter().map(|c| c["indicator"].as_str().unwrap()).collect();
    assert_eq!(covered.len(), 26, "{covered:?}");
}
