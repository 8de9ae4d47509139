//! The price round-trip rule.
//!
//! Prices and volumes are `f64`. They are parsed from the exchanges' decimal strings with Rust's
//! correctly-rounded parser (`str::parse::<f64>`) and written back with the shortest form that
//! parses to the same `f64` (`Display` for `f64`). Because an `f64` holds 15 significant decimal
//! digits exactly, any decimal with at most 15 significant digits comes back as the same number
//! (trailing zeros aside: `"1.11080000"` comes back as `"1.1108"`).

#[derive(Debug, Clone, thiserror::Error)]
#[error("not a finite decimal number: {0:?}")]
pub struct ParsePriceError(pub String);

/// Parses an exchange decimal string; rejects NaN, infinities and anything that is not a number.
pub fn parse_price(s: &str) -> Result<f64, ParsePriceError> {
    let t = s.trim();
    let looks_numeric = t
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    match t.parse::<f64>() {
        Ok(v) if looks_numeric && v.is_finite() => Ok(v),
        _ => Err(ParsePriceError(s.to_owned())),
    }
}

/// Shortest decimal form that parses back to exactly `v`.
pub fn format_price(v: f64) -> String {
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Canonical form of a decimal string: digits without trailing fractional zeros.
    fn canonical(s: &str) -> String {
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.')
        } else {
            s
        };
        let s = s.trim_start_matches('0');
        if s.is_empty() || s.starts_with('.') {
            format!("0{s}")
        } else {
            s.to_owned()
        }
    }

    #[test]
    fn real_exchange_strings_round_trip() {
        // Values verbatim from Binance spot, USD-M and archive samples.
        for s in [
            "1.11080000",
            "0.00000000",
            "923.28000000",
            "1027.87923300",
            "57212.69",
            "496.263",
            "28425514.78940",
            "15642623.69718",
            "34151.66000000",
            "30937869.62302600",
            "14187002.70550060",
            "0.31601000",
            "1202.97118037",
            "409953",
            "0.00000001",
            "126011.18",
            "99999999.99999999",
        ] {
            let v = parse_price(s).unwrap();
            let back = format_price(v);
            assert_eq!(parse_price(&back).unwrap().to_bits(), v.to_bits(), "{s}");
            let significant = canonical(s).replace('.', "").trim_start_matches('0').len();
            if significant <= 15 {
                assert_eq!(canonical(&back), canonical(s), "{s} lost digits");
            }
        }
    }

    #[test]
    fn every_15_digit_decimal_in_a_sweep_round_trips_exactly() {
        // A deterministic sweep over magnitudes and digit patterns, 15 significant digits each.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mantissa = 100_000_000_000_000 + x % 900_000_000_000_000; // 15 digits
            let scale = (i % 23) as usize; // decimals: 0..22
            let digits = mantissa.to_string();
            let s = if scale < digits.len() {
                format!(
                    "{}.{}",
                    &digits[..digits.len() - scale],
                    &digits[digits.len() - scale..]
                )
            } else {
                format!("0.{}{}", "0".repeat(scale - digits.len()), digits)
            };
            let back = format_price(parse_price(&s).unwrap());
            assert_eq!(canonical(&back), canonical(&s), "{s} -> {back}");
        }
    }

    #[test]
    fn rejects_non_numbers() {
        for s in ["", "abc", "NaN", "inf", "-inf", "1,5", "0x10"] {
            assert!(parse_price(s).is_err(), "{s}");
        }
    }
}
