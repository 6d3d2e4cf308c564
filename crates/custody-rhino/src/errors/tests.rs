use super::*;

fn map(status: u16, body: Value) -> ProviderError {
    let status = StatusCode::from_u16(status).unwrap();
    let bytes = serde_json::to_vec(&body).unwrap();
    map_error(status, &ErrorBody::parse(&bytes), None)
}

#[test]
fn not_found_is_the_422_tag_or_a_bare_404() {
    assert_eq!(
        map(
            422,
            serde_json::json!({"_tag": "DepositAddressNotFound", "message": "x", "addresses": []})
        ),
        ProviderError::NotFound
    );
    assert_eq!(map(404, Value::Null), ProviderError::NotFound);
}

#[test]
fn other_4xx_tags_are_rejections_naming_the_tag() {
    assert_eq!(
        map(
            422,
            serde_json::json!({"_tag": "DepositAddressInvalidDestinationAddress", "message": "bad address"})
        ),
        ProviderError::Rejected(
            "Rhino DepositAddressInvalidDestinationAddress: bad address".into()
        )
    );
    let ProviderError::Rejected(text) = map(
        403,
        serde_json::json!({"_tag": "ExtensionNotEnabled", "message": "m", "extension": "sda"}),
    ) else {
        panic!("403 is a rejection");
    };
    assert!(text.contains("not enabled"), "{text}");
}

#[test]
fn window_limits_are_rate_limits_and_count_limits_are_rejections() {
    assert_eq!(
        map(
            429,
            serde_json::json!({"_tag": "DepositAddressRateLimitExceeded", "message": "m",
                "limit": {"_tag": "WindowLimitExceeded", "allowed": 50, "current": 50, "durationMs": 1500}})
        ),
        ProviderError::RateLimited {
            retry_after_secs: Some(2)
        }
    );
    assert!(matches!(
        map(
            429,
            serde_json::json!({"_tag": "DepositAddressRateLimitExceeded", "message": "m",
                "limit": {"_tag": "CountLimitExceeded", "allowed": 500, "current": 500}})
        ),
        ProviderError::Rejected(_)
    ));
    assert_eq!(
        map(
            429,
            serde_json::json!({"_tag": "TooManyRequests", "message": "m", "retryAfter": 7})
        ),
        ProviderError::RateLimited {
            retry_after_secs: Some(7)
        }
    );
}

#[test]
fn server_errors_and_auth_failures() {
    assert_eq!(
        map(
            503,
            serde_json::json!({"_tag": "EndpointDisabledError", "message": "m"})
        ),
        ProviderError::Unavailable("Rhino EndpointDisabledError".into())
    );
    assert_eq!(
        map(502, serde_json::json!("<html>")),
        ProviderError::Unavailable("Rhino HTTP 502".into())
    );
    let body = ErrorBody::parse(br#"{"_tag":"InvalidJwt","message":"m"}"#);
    assert!(body.is_auth_failure(StatusCode::BAD_REQUEST));
    assert!(!ErrorBody::default().is_auth_failure(StatusCode::BAD_REQUEST));
    assert!(ErrorBody::default().is_auth_failure(StatusCode::UNAUTHORIZED));
}

#[test]
fn odd_bodies_never_panic_and_long_messages_are_cut() {
    for body in [
        &b""[..],
        b"[]",
        b"null",
        b"{\"_tag\":5,\"limit\":\"x\"}",
        b"\xff",
    ] {
        let parsed = ErrorBody::parse(body);
        assert_eq!(parsed.tag, None);
    }
    let long = "é".repeat(1000);
    let ProviderError::Rejected(text) = map(422, serde_json::json!({"_tag": "T", "message": long}))
    else {
        panic!("422 is a rejection");
    };
    assert!(text.chars().count() <= MAX_MESSAGE_CHARS + 10, "{text}");
    let mut secret = ErrorBody::parse(br#"{"_tag":"T","message":"key sk_1 and sk_1, jwt ey.x"}"#);
    secret.redact(&["sk_1", "", "ey.x"]);
    assert_eq!(
        secret.message.as_deref(),
        Some("key [redacted] and [redacted], jwt [redacted]")
    );
    assert_eq!(ceil_secs(f64::NAN, 1.0), None);
    assert_eq!(ceil_secs(-1.0, 1.0), None);
    assert_eq!(ceil_secs(1e30, 1.0), Some(u32::MAX));
}
