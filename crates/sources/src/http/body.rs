//! What a venue's body says beyond its HTTP status: business errors inside a 200 (OKX, Bybit,
//! CryptoCompare), and the error shapes of every venue's non-2xx answers.

use serde_json::Value;

/// Why a 2xx body could not be turned into data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Not what the API documents (garbled, truncated): retried, as it is usually a network fault.
    Malformed(String),
    /// The venue refused the request itself (unknown symbol, bad parameter): not retried.
    Rejected { code: i64, msg: String },
    /// The venue's rate limit, reported in the body: the venue pauses, then the request is retried.
    RateLimited { code: i64, msg: String },
    /// The venue reports a temporary failure of its own (restart, overload): retried with backoff.
    Unavailable { code: i64, msg: String },
}

/// `(code, message)` from any venue's documented error shape, if the body has one:
/// Binance `{"code":-1121,"msg":…}`, OKX `{"code":"51001","msg":…}`, Bybit
/// `{"retCode":10001,"retMsg":…}`, CoinGecko `{"status":{"error_code":429,"error_message":…}}` or
/// `{"error":…}`, CryptoCompare `{"Response":"Error","Message":…}`.
pub fn error_fields(body: &[u8]) -> Option<(i64, String)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let code = |c: &Value| c.as_i64().or_else(|| c.as_str()?.trim().parse().ok());
    let text = |m: &Value| m.as_str().map(str::to_owned);
    if let (Some(c), Some(m)) = (v.get("code"), v.get("msg")) {
        return Some((code(c)?, text(m)?));
    }
    if let (Some(c), Some(m)) = (v.get("retCode"), v.get("retMsg")) {
        return Some((code(c)?, text(m)?));
    }
    if let Some(s) = v.get("status") {
        return Some((code(s.get("error_code")?)?, text(s.get("error_message")?)?));
    }
    if let Some(e) = v.get("error") {
        return Some((0, text(e)?));
    }
    if v.get("Response").and_then(Value::as_str) == Some("Error") {
        let t = v.get("Type").and_then(code).unwrap_or(0);
        return Some((t, text(v.get("Message")?)?));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_venues_error_shape() {
        let cases: [(&str, (i64, &str)); 6] = [
            (r#"{"code":-1121,"msg":"Invalid symbol."}"#, (-1121, "Invalid symbol.")),
            (
                r#"{"code":"51001","msg":"Instrument ID doesn't exist","data":[]}"#,
                (51001, "Instrument ID doesn't exist"),
            ),
            (
                r#"{"retCode":10001,"retMsg":"params error","result":{}}"#,
                (10001, "params error"),
            ),
            (
                r#"{"status":{"error_code":429,"error_message":"You've exceeded the Rate Limit."}}"#,
                (429, "You've exceeded the Rate Limit."),
            ),
            (
                r#"{"error":"Could not find coin with the given id"}"#,
                (0, "Could not find coin with the given id"),
            ),
            (
                r#"{"Response":"Error","Message":"You are over your rate limit please upgrade your account!","Type":99}"#,
                (99, "You are over your rate limit please upgrade your account!"),
            ),
        ];
        for (body, (code, msg)) in cases {
            assert_eq!(error_fields(body.as_bytes()), Some((code, msg.to_owned())), "{body}");
        }
        assert_eq!(error_fields(b"<html>Cloudflare</html>"), None);
    }
}
