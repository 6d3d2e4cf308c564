use super::*;

/// The documentation's test vector (docs/webhooks.md, "Verifying a delivery"). If this test
/// changes, the documentation must change with it.
pub const DOC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const DOC_ID: &str = "evt_01JFX0Q4ZK8D4W7T9YB3N5R2MC";
pub const DOC_TIMESTAMP: i64 = 1_796_547_600;
pub const DOC_BODY: &str = r#"{"id":"evt_01JFX0Q4ZK8D4W7T9YB3N5R2MC","type":"webhook.test","createdAt":"2026-12-06T09:00:00Z"}"#;
pub const DOC_X_SIGNATURE: &str =
    "9961456b94bf87695bbaa5b04c5a3730cbe7a46166fa4ed4d37700f2eba976af";
pub const DOC_STANDARD_SIGNATURE: &str = "v1,fUSKT2I2dp+oylsGM2+LszDMO6UzLVwetDheZxp/Q1U=";

#[test]
fn documented_test_vector() {
    let secret = SigningSecret::parse(DOC_SECRET).expect("secret");
    let body = DOC_BODY.as_bytes();
    assert_eq!(secret.body_signature(body), DOC_X_SIGNATURE);
    assert_eq!(
        secret.standard_signature(DOC_ID, DOC_TIMESTAMP, body),
        DOC_STANDARD_SIGNATURE
    );
    let id = EventId::parse(DOC_ID).expect("id");
    let headers = signed_headers(std::slice::from_ref(&secret), id, DOC_TIMESTAMP, body);
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .expect(name)
    };
    assert_eq!(get("webhook-id"), DOC_ID);
    assert_eq!(get("x-webhook-id"), DOC_ID);
    assert_eq!(get("webhook-timestamp"), "1796547600");
    assert_eq!(get("x-webhook-timestamp"), "1796547600");
    assert_eq!(get("webhook-signature"), DOC_STANDARD_SIGNATURE);
    assert_eq!(get("x-webhook-signature"), DOC_X_SIGNATURE);
}

#[test]
fn during_a_rotation_both_secrets_sign_newest_first() {
    let new = SigningSecret::from_bytes(&[7; 32]);
    let old = SigningSecret::parse(DOC_SECRET).expect("secret");
    let id = EventId::parse(DOC_ID).expect("id");
    let headers = signed_headers(&[new.clone(), old], id, DOC_TIMESTAMP, DOC_BODY.as_bytes());
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .expect(name)
    };
    assert_eq!(
        get("webhook-signature"),
        format!(
            "{} {DOC_STANDARD_SIGNATURE}",
            new.standard_signature(DOC_ID, DOC_TIMESTAMP, DOC_BODY.as_bytes())
        )
    );
    assert_eq!(
        get("x-webhook-signature"),
        format!(
            "{} {DOC_X_SIGNATURE}",
            new.body_signature(DOC_BODY.as_bytes())
        )
    );
}

#[test]
fn secrets_are_whsec_base64_and_redacted() {
    let s = SigningSecret::from_bytes(&[1; 32]);
    assert!(s.expose().starts_with("whsec_"));
    assert_eq!(SigningSecret::parse(s.expose()), Some(s.clone()));
    assert_eq!(format!("{s:?}"), "SigningSecret([REDACTED])");
    assert_eq!(SigningSecret::parse("whsec_"), None);
    assert_eq!(
        SigningSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        None
    );
}

#[test]
fn live_urls_must_be_https_and_public() {
    let live = Environment::Live;
    assert!(WebhookUrl::parse("https://hooks.example.com/custody", live).is_ok());
    for (raw, code) in [
        ("http://hooks.example.com/x", "webhook_url_forbidden"),
        ("https://127.0.0.1/x", "webhook_url_forbidden"),
        ("https://10.1.2.3/x", "webhook_url_forbidden"),
        ("https://172.20.0.1/x", "webhook_url_forbidden"),
        ("https://192.168.1.1/x", "webhook_url_forbidden"),
        (
            "https://169.254.169.254/latest/meta-data",
            "webhook_url_forbidden",
        ),
        ("https://100.64.0.1/x", "webhook_url_forbidden"),
        ("https://0.0.0.0/x", "webhook_url_forbidden"),
        ("https://224.0.0.1/x", "webhook_url_forbidden"),
        ("https://[::1]/x", "webhook_url_forbidden"),
        ("https://[fd00::1]/x", "webhook_url_forbidden"),
        ("https://[fe80::1]/x", "webhook_url_forbidden"),
        ("https://[::ffff:10.0.0.1]/x", "webhook_url_forbidden"),
        ("https://[64:ff9b::a9fe:a9fe]/x", "webhook_url_forbidden"),
        ("https://localhost/x", "webhook_url_forbidden"),
        ("https://api.localhost/x", "webhook_url_forbidden"),
        ("https://0x7f.1/x", "webhook_url_forbidden"),
        ("https://2130706433/x", "webhook_url_forbidden"),
        ("ftp://hooks.example.com/x", "invalid_webhook_url"),
        ("hooks.example.com/x", "invalid_webhook_url"),
        ("https://user:pw@hooks.example.com/x", "invalid_webhook_url"),
        ("https://hooks.example.com/x#frag", "invalid_webhook_url"),
    ] {
        let err = WebhookUrl::parse(raw, live).expect_err(raw);
        assert_eq!(err.code, code, "{raw}: {err}");
    }
}

#[test]
fn sandbox_may_use_a_local_receiver() {
    let sandbox = Environment::Sandbox;
    for raw in [
        "http://localhost:8080/hooks",
        "http://127.0.0.1:9000/",
        "http://[::1]:9000/",
        "https://hooks.example.com/x",
    ] {
        assert!(WebhookUrl::parse(raw, sandbox).is_ok(), "{raw}");
    }
    for raw in [
        "http://hooks.example.com/x",
        "https://10.0.0.1/x",
        "https://169.254.169.254/x",
    ] {
        assert_eq!(
            WebhookUrl::parse(raw, sandbox).expect_err(raw).code,
            "webhook_url_forbidden",
            "{raw}"
        );
    }
}

#[test]
fn resolved_addresses_are_checked() {
    let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
    assert!(check_address(ip("93.184.216.34"), Environment::Live).is_ok());
    assert!(check_address(ip("2606:2800:220:1::1"), Environment::Live).is_ok());
    assert!(check_address(ip("127.0.0.1"), Environment::Live).is_err());
    assert!(check_address(ip("127.0.0.1"), Environment::Sandbox).is_ok());
    assert!(check_address(ip("10.0.0.1"), Environment::Sandbox).is_err());
    let err = check_address(ip("169.254.169.254"), Environment::Live).expect_err("metadata");
    assert!(err.message.contains("169.254.169.254"), "{err}");
}

#[test]
fn retry_schedule_spans_about_three_days_with_bounded_jitter() {
    let event = EventId::parse(DOC_ID).expect("id");
    let now = OffsetDateTime::UNIX_EPOCH;
    let mut total = Duration::ZERO;
    for attempts in 1..MAX_ATTEMPTS {
        let base = RETRY_SCHEDULE[usize::try_from(attempts - 1).expect("small")];
        let at = next_attempt_at(event, attempts, now, None).expect("retried");
        let wait = at - now;
        assert!(wait >= base, "attempt {attempts}: {wait} < {base}");
        assert!(
            wait <= base + base * (JITTER_PERCENT as f64 / 100.0),
            "attempt {attempts}: {wait}"
        );
        total += base;
    }
    assert_eq!(next_attempt_at(event, MAX_ATTEMPTS, now, None), None);
    assert!(
        total > Duration::hours(72) && total < Duration::hours(80),
        "{total}"
    );
}

#[test]
fn retry_after_is_honoured_and_capped() {
    let event = EventId::parse(DOC_ID).expect("id");
    let now = OffsetDateTime::UNIX_EPOCH;
    let at = next_attempt_at(event, 1, now, Some(Duration::minutes(10))).expect("retried");
    assert_eq!(at - now, Duration::minutes(10));
    let at = next_attempt_at(event, 1, now, Some(Duration::days(30))).expect("retried");
    assert_eq!(at - now, MAX_RETRY_AFTER);
    // A shorter Retry-After than the schedule keeps the schedule.
    let at = next_attempt_at(event, 3, now, Some(Duration::seconds(1))).expect("retried");
    assert!(at - now >= Duration::minutes(30));
}
