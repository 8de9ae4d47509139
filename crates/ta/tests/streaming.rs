//! The streaming form of every indicator gives the batch form's values bit for bit, on random
//! series (random walks with flat stretches, so ties and zero ranges come up) and random
//! parameters; and refused parameters are refused by both forms alike.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use support::{Series, batch, streaming};

const INDICATORS: [&str; 26] = [
    "SMA", "EMA", "WMA", "DEMA", "TEMA", "RSI", "MACD", "BBANDS", "ATR", "NATR", "TRANGE", "STDDEV", "VAR", "OBV",
    "AD", "ADX", "PLUS_DI", "MINUS_DI", "STOCH", "STOCHRSI", "CCI", "MFI", "ROC", "MOM", "WILLR", "AROON",
];

/// Bars from steps: each step moves the close by a relative amount (0 keeps it flat).
fn series(steps: &[(f64, f64, f64, f64)]) -> Series {
    let mut s = Series::default();
    let mut price = 100.0;
    for &(step, up, down, volume) in steps {
        let open = price;
        price *= 1.0 + step;
        s.open.push(open);
        s.close.push(price);
        s.high.push(open.max(price) * (1.0 + up));
        s.low.push(open.min(price) * (1.0 - down));
        s.volume.push(volume);
    }
    s
}

fn step() -> impl Strategy<Value = (f64, f64, f64, f64)> {
    (
        prop_oneof![Just(0.0), -0.05..0.05f64],
        prop_oneof![Just(0.0), 0.0..0.02f64],
        prop_oneof![Just(0.0), 0.0..0.02f64],
        prop_oneof![Just(0.0), 0.0..1000.0f64],
    )
}

fn params(name: &str, a: u64, b: u64, c: u64, k: f64) -> Map<String, Value> {
    let v = match name {
        "MACD" => json!({"fastperiod": a, "slowperiod": b, "signalperiod": c}),
        "BBANDS" => json!({"timeperiod": a, "nbdevup": k, "nbdevdn": k / 2.0}),
        "STDDEV" => json!({"timeperiod": a, "nbdev": k}),
        "STOCH" => json!({"fastk_period": a, "slowk_period": b, "slowd_period": c}),
        "STOCHRSI" => json!({"timeperiod": a, "fastk_period": b, "fastd_period": c}),
        _ => json!({"timeperiod": a}),
    };
    v.as_object().unwrap().clone()
}

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn streaming_equals_batch(
        steps in prop::collection::vec(step(), 0..300),
        which in 0..INDICATORS.len(),
        a in 0u64..40,
        b in 0u64..40,
        c in 0u64..12,
        k in 0.5..3.0f64,
    ) {
        let name = INDICATORS[which];
        let s = series(&steps);
        let p = params(name, a, b, c, k);
        match (batch(name, &p, &s), streaming(name, &p, &s)) {
            (Ok(batched), Ok(streamed)) => {
                for ((out, x), (_, y)) in batched.iter().zip(&streamed) {
                    prop_assert_eq!(x.len(), s.len());
                    for i in 0..x.len() {
                        prop_assert!(same(x[i], y[i]), "{} {:?} {}[{}]: batch {} streaming {}", name, p, out, i, x[i], y[i]);
                    }
                }
            }
            (Err(e1), Err(e2)) => prop_assert_eq!(e1, e2),
            (x, y) => prop_assert!(false, "{} {:?}: batch {:?}, streaming {:?}", name, p, x.err(), y.err()),
        }
    }
}
