//! The admin token every write needs: `Authorization: Bearer <token>`, compared in constant
//! time. Without a configured token writes are refused outright. The token is never logged,
//! echoed or described beyond "set" / "not set".

use axum::http::{HeaderMap, header};
use subtle::ConstantTimeEq;

use crate::problem::ApiError;
use crate::state::ApiState;

/// Passes when the request carries the configured admin token.
pub fn require_admin(state: &ApiState, headers: &HeaderMap) -> Result<(), ApiError> {
    let expected = state.config().server.admin_token.as_bytes();
    if expected.is_empty() {
        return Err(ApiError::Forbidden(
            "writes are disabled: no admin token is configured. Set server.admin_token in candlekeep.toml \
             or the CANDLEKEEP_SERVER_ADMIN_TOKEN environment variable, restart, and send \
             Authorization: Bearer <token>"
                .into(),
        ));
    }
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or(ApiError::Unauthorized)?;
    // ct_eq on slices of different lengths is false at once: only the length can leak.
    if bool::from(given.as_bytes().ct_eq(expected)) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}
