//! Candlekeep's own indicators against values worked out by hand, and the cases where the crate
//! deliberately parts from TA-Lib or refuses input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use candlekeep_ta::extra::{bars_per_year, realized_vol, trend, volume_zscore, vwap_daily};
use candlekeep_ta::{Indicator, Macd, TaError, macd, sma};

const H: i64 = 3_600_000;

#[test]
fn realised_volatility_is_the_annualised_sample_deviation_of_log_returns() {
    let close = [100.0, 110.0, 99.0, 99.0];
    let mut out = [0.0; 4];
    realized_vol(&close, 2, H, &mut out).unwrap();
    assert!(out[0].is_nan() && out[1].is_nan());
    let (r1, r2, r3) = ((1.1f64).ln(), (0.9f64).ln(), 0.0f64);
    let sample_sd = |a: f64, b: f64| {
        let m = (a + b) / 2.0;
        (((a - m).powi(2) + (b - m).powi(2)) / 1.0).sqrt()
    };
    assert!((out[2] - sample_sd(r1, r2) * 8_760f64.sqrt()).abs() < 1e-12);
    assert!((out[3] - sample_sd(r2, r3) * 8_760f64.sqrt()).abs() < 1e-12);
    assert_eq!(bars_per_year(86_400_000), 365.0);
    // A steady climb has no volatility.
    let steady: Vec<f64> = (0..10).map(|i| 100.0 * 1.01f64.powi(i)).collect();
    let mut out = vec![0.0; 10];
    realized_vol(&steady, 3, H, &mut out).unwrap();
    assert!(out[3..].iter().all(|v| v.abs() < 1e-9));
}

#[test]
fn vwap_starts_again_at_each_utc_midnight() {
    let day = 86_400_000;
    let t = [day - 2 * H, day - H, day, day + H];
    let high = [12.0, 12.0, 30.0, 33.0];
    let low = [9.0, 6.0, 30.0, 27.0];
    let close = [9.0, 12.0, 30.0, 30.0];
    let volume = [1.0, 3.0, 0.0, 2.0];
    let mut out = [0.0; 4];
    vwap_daily(&t, &high, &low, &close, &volume, &mut out).unwrap();
    assert_eq!(out[0], 10.0);
    assert_eq!(out[1], (10.0 + 10.0 * 3.0) / 4.0);
    assert!(out[2].is_nan(), "no volume yet on the new day");
    assert_eq!(out[3], 30.0);
}

#[test]
fn volume_zscore_measures_against_the_window_including_the_bar() {
    let v = [1.0, 2.0, 3.0, 3.0, 3.0, 3.0];
    let mut out = [0.0; 6];
    volume_zscore(&v, 3, &mut out).unwrap();
    assert!(out[0].is_nan() && out[1].is_nan());
    assert!((out[2] - 1.0 / (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
    assert_eq!(out[5], 0.0, "a flat window scores 0");
}

#[test]
fn the_trend_score_has_the_sign_of_the_move_and_stays_within_one() {
    let n = 200;
    let up: Vec<f64> = (0..n).map(|i| 100.0 + i as f64).collect();
    let (high, low): (Vec<f64>, Vec<f64>) = up.iter().map(|c| (c + 1.0, c - 1.0)).unzip();
    let mut out = vec![0.0; n];
    trend(&high, &low, &up, 14, &mut out).unwrap();
    assert!(out[..27].iter().all(|v| v.is_nan()));
    assert!(out[27..].iter().all(|v| *v > 0.5 && *v <= 1.0), "{:?}", &out[27..30]);
    let down: Vec<f64> = up.iter().rev().copied().collect();
    let (high, low): (Vec<f64>, Vec<f64>) = down.iter().map(|c| (c + 1.0, c - 1.0)).unzip();
    trend(&high, &low, &down, 14, &mut out).unwrap();
    assert!(out[27..].iter().all(|v| *v < -0.5 && *v >= -1.0));
}

#[test]
fn macd_with_a_signal_period_of_one_is_its_own_signal() {
    // TA-Lib 0.6.4 answers this one bar early with an uninitialised value; we answer from the
    // lookback on, with the signal line equal to the MACD line.
    let close: Vec<f64> = (0..40).map(|i| 100.0 + ((i * 7) % 11) as f64).collect();
    let (mut m, mut s, mut h) = (vec![0.0; 40], vec![0.0; 40], vec![0.0; 40]);
    macd(&close, 3, 5, 1, &mut m, &mut s, &mut h).unwrap();
    assert!(m[..4].iter().all(|v| v.is_nan()));
    for i in 4..40 {
        assert_eq!(m[i], s[i]);
        assert_eq!(h[i], 0.0);
    }
    let mut streaming = Macd::new(3, 5, 1).unwrap();
    assert_eq!(streaming.lookback(), 4);
    let firsts: Vec<_> = close.iter().map(|x| streaming.update(*x)).collect();
    assert!(firsts[3].is_none() && firsts[4].is_some());
}

#[test]
fn refused_input_says_what_is_wrong() {
    let mut out = [0.0; 3];
    let e = sma(&[1.0, 2.0, 3.0], 1, &mut out).unwrap_err();
    assert!(matches!(e, TaError::Period { got: 1, min: 2, .. }));
    assert_eq!(e.to_string(), "SMA: period must be between 2 and 100000, got 1");
    let mut short = [0.0; 2];
    let e = sma(&[1.0, 2.0, 3.0], 2, &mut short).unwrap_err();
    assert_eq!(e.to_string(), "SMA: every input and output needs 3 values, one has 2");
}
