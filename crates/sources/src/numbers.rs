//! JSON numbers that providers send either as strings or as numbers.

use std::fmt;

use candlekeep_core::parse_price;
use serde::de::{self, Deserializer, Visitor};

/// A finite decimal, from `"1.108"` or `1.108`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Num(pub f64);

impl<'de> de::Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal number or a decimal string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Num, E> {
                // "NaN", "Infinity" or an overflowing "1e400" is a number, just not a possible
                // one: it passes, and validation quarantines the bar. Anything else is garbage.
                parse_price(s).map(Num).or_else(|e| {
                    s.trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|v| !v.is_finite())
                        .map(Num)
                        .ok_or_else(|| E::custom(e))
                })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
                if v.is_finite() {
                    Ok(Num(v))
                } else {
                    Err(E::custom("non-finite number"))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
        }
        d.deserialize_any(V)
    }
}

/// A whole number, from `"1578859200000"` or `1578859200000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Int(pub i64);

impl<'de> de::Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or an integer string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Int, E> {
                s.trim()
                    .parse()
                    .map(Int)
                    .map_err(|_| E::custom(format!("not an integer: {s:?}")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                i64::try_from(v).map(Int).map_err(|_| E::custom("integer out of range"))
            }
        }
        d.deserialize_any(V)
    }
}

/// Latest instant a venue may name, 9999-12-31T23:59:59.999Z: anything later (or before 1970)
/// is garbage, refused before bar arithmetic (`open + one bar`, grid checks) can overflow on it.
pub(crate) const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// A venue's epoch-millisecond time, range-checked.
pub(crate) fn time_ms(t: i64) -> Result<i64, String> {
    if (0..=MAX_TIME_MS).contains(&t) {
        Ok(t)
    } else {
        Err(format!("time {t} ms is out of range"))
    }
}

/// A venue's epoch-millisecond time sent as a JSON float (CoinGecko) or parsed as a decimal
/// (OKX): finite, whole and in range, so that the cast to `i64` loses nothing.
pub(crate) fn time_ms_f64(t: f64) -> Result<i64, String> {
    if t.is_finite() && t.fract() == 0.0 && (0.0..=MAX_TIME_MS as f64).contains(&t) {
        Ok(t as i64)
    } else {
        Err(format!("time {t} ms is out of range"))
    }
}

/// A venue's epoch-second time (CryptoCompare), range-checked and turned into milliseconds.
pub(crate) fn time_s(t: i64) -> Result<i64, String> {
    if (0..=MAX_TIME_MS / 1000).contains(&t) {
        Ok(t * 1000)
    } else {
        Err(format!("time {t} s is out of range"))
    }
}
