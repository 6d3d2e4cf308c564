//! When a Rhino JWT should be refreshed.
//!
//! The JWT is our own session token from Rhino, so its signature is not checked here; only its
//! `exp` claim is read, to re-exchange the API key [`REFRESH_MARGIN`] before Rhino would refuse
//! it (as Rhino's SDK does).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use time::OffsetDateTime;

/// Refresh this long before `exp`.
pub(crate) const REFRESH_MARGIN: time::Duration = time::Duration::minutes(5);

/// Rhino's documented JWT lifetime, assumed when `exp` cannot be read.
pub(crate) const ASSUMED_LIFETIME: time::Duration = time::Duration::hours(1);

/// The `exp` claim (seconds since the epoch) of a JWT, if it can be read.
pub(crate) fn expiry(token: &str) -> Option<OffsetDateTime> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?;
    let secs = exp.as_i64().or_else(|| {
        // A fractional `exp` is legal JSON; its whole seconds are enough.
        exp.as_f64()
            .filter(|f| f.is_finite() && f.abs() < 1e15)
            .map(|f| f.floor() as i64)
    })?;
    OffsetDateTime::from_unix_timestamp(secs).ok()
}

/// When a token fetched at `fetched_at` must be replaced.
pub(crate) fn refresh_at(token: &str, fetched_at: OffsetDateTime) -> OffsetDateTime {
    let expires = expiry(token)
        .or_else(|| fetched_at.checked_add(ASSUMED_LIFETIME))
        .unwrap_or(fetched_at);
    expires.checked_sub(REFRESH_MARGIN).unwrap_or(expires)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(claims: &serde_json::Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
        format!("{header}.{payload}.c2ln")
    }

    #[test]
    fn refreshes_five_minutes_before_exp() {
        let fetched = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let jwt = token(&serde_json::json!({"exp": 1_700_003_600, "sub": "u"}));
        assert_eq!(
            refresh_at(&jwt, fetched),
            OffsetDateTime::from_unix_timestamp(1_700_003_300).unwrap()
        );
        let fractional = token(&serde_json::json!({"exp": 1_700_003_600.7}));
        assert_eq!(
            expiry(&fractional),
            Some(OffsetDateTime::from_unix_timestamp(1_700_003_600).unwrap())
        );
    }

    #[test]
    fn unreadable_tokens_live_an_hour_minus_the_margin() {
        let fetched = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let expected = OffsetDateTime::from_unix_timestamp(1_700_003_300).unwrap();
        for jwt in [
            "opaque".to_owned(),
            "a.%%%.c".to_owned(),
            token(&serde_json::json!({"sub": "no exp"})),
            token(&serde_json::json!({"exp": "soon"})),
            token(&serde_json::json!({"exp": 1e300})),
            token(&serde_json::json!({"exp": i64::MAX})),
        ] {
            assert_eq!(refresh_at(&jwt, fetched), expected, "{jwt}");
        }
    }
}
