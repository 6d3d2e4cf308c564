use super::*;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::EncodePublicKey as _;
use ed25519_dalek::{Signer as _, SigningKey};

// ---- Known-answer vectors (computed with openssl, independently of this code). These are
// ---- the vectors for the partner documentation: keep them in sync with docs/.

const VAULT_BODY: &[u8] = br#"{"externalId":"cust-42","name":"Alice"}"#;
const VAULT_BODY_SHA256: &str = "9e8c4cadd5c886e99ce2ceef95c1293b16f89e64a523259eb0fb0773d52f8add";
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const HMAC_SECRET: &str = "hmac_test_secret";

/// RFC 8032 §7.1 TEST 1 secret key, reused as the documented Accounts test key.
const RFC8032_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
/// `openssl pkey -pubout` of the key above.
const RFC8032_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----\n\
    MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n\
    -----END PUBLIC KEY-----\n";

fn rfc8032_signing_key() -> SigningKey {
    let seed: [u8; 32] = hex::decode(RFC8032_SEED).unwrap().try_into().unwrap();
    SigningKey::from_bytes(&seed)
}

fn rfc8032_public() -> Ed25519PublicKey {
    Ed25519PublicKey::from_pem(RFC8032_PUBLIC_PEM).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn partner_doc_vector_hmac_post_vaults() {
    // printf '%s' '{"externalId":"cust-42","name":"Alice"}' | openssl dgst -sha256
    assert_eq!(sha256_hex(VAULT_BODY), VAULT_BODY_SHA256);
    let canonical = hmac_canonical_string("1700000000", "POST", "/v1/vaults", VAULT_BODY);
    assert_eq!(
        canonical,
        format!("1700000000\nPOST\n/v1/vaults\n{VAULT_BODY_SHA256}")
    );
    // printf '%s' "$canonical" | openssl dgst -sha256 -hmac hmac_test_secret
    let expected = "db9745f68f3ce88a780bd9328decf31f8dbc461960fe027b83cdcd7f7bbc3792";
    assert_eq!(hmac_sign(HMAC_SECRET.as_bytes(), &canonical), expected);
    assert!(verify_hmac(HMAC_SECRET.as_bytes(), &canonical, expected));
}

#[test]
fn partner_doc_vector_hmac_get_with_query_and_no_body() {
    assert_eq!(sha256_hex(b""), EMPTY_SHA256);
    let canonical = hmac_canonical_string(
        "1700000000",
        "get",
        "/v1/transactions?limit=2&status=Completed",
        b"",
    );
    assert_eq!(
        canonical,
        format!("1700000000\nGET\n/v1/transactions?limit=2&status=Completed\n{EMPTY_SHA256}")
    );
    let expected = "b8822a3be2e0974490be67ad05d70e9f4897cbaedef86025e36e8d260b8a93d2";
    assert_eq!(hmac_sign(HMAC_SECRET.as_bytes(), &canonical), expected);
    assert!(verify_hmac(HMAC_SECRET.as_bytes(), &canonical, expected));
}

#[test]
fn partner_doc_vector_webhook_signature() {
    // printf '%s' "$body" | openssl dgst -sha256 -hmac whsec_test_secret
    let body = br#"{"id":"evt_01J9Z3K8Q4WJ5V6X7Y8Z9A0B1C","type":"balance.updated"}"#;
    assert_eq!(
        webhook_signature("whsec_test_secret", body),
        "bcff0fad1097e2f265b0a097144d6c3b3cd8341ac889f6b89da425f9e460fd4d"
    );
    // One byte of the body changed is a different signature.
    let tampered = br#"{"id":"evt_01J9Z3K8Q4WJ5V6X7Y8Z9A0B1C","type":"balance.updatee"}"#;
    assert_ne!(
        webhook_signature("whsec_test_secret", tampered),
        webhook_signature("whsec_test_secret", body)
    );
}

#[test]
fn partner_doc_vector_ed25519_create_blockchain_address() {
    let payload = ed25519_signing_payload(
        "POST",
        "/v1/accounts/acc_01J9Z3K8Q4WJ5V6X7Y8Z9A0B1C/blockchain-addresses",
        "1700000000",
        br#"{"chain":"ethereum","asset":"USDC"}"#,
    );
    // printf 'POST\n/v1/accounts/…/blockchain-addresses\n1700000000\n{…}' | xxd -p
    assert_eq!(
        hex::encode(&payload),
        "504f53540a2f76312f6163636f756e74732f6163635f30314a395a334b385134574a3556365837593\
         85a3941304231432f626c6f636b636861696e2d6164647265737365730a313730303030303030300a\
         7b22636861696e223a22657468657265756d222c226173736574223a2255534443227d"
    );
    // openssl pkeyutl -sign -inkey rfc8032-test1.pem -rawin -in payload | base64
    let expected =
        "+Yz7XU3oAF99O9FaH9C3CYdvOQSuDDtaO5IG+a68EUCXajxjsR+y5dPJgATTPTQ3nWpGUsKtfGYT6zcEfqbBBw==";
    assert_eq!(
        b64(&rfc8032_signing_key().sign(&payload).to_bytes()),
        expected
    );
    assert!(rfc8032_public().verify(&payload, expected));
}

// ---- HMAC

#[test]
fn hmac_canonical_string_upper_cases_the_method_and_keeps_the_path_as_sent() {
    let a = hmac_canonical_string("1", "patch", "/v1/vaults/x?b=2&a=1", b"{}");
    let b = hmac_canonical_string("1", "PATCH", "/v1/vaults/x?b=2&a=1", b"{}");
    assert_eq!(a, b);
    assert!(a.starts_with("1\nPATCH\n/v1/vaults/x?b=2&a=1\n"));
}

#[test]
fn verify_hmac_rejects_every_tampered_part() {
    let secret = HMAC_SECRET.as_bytes();
    let canonical = hmac_canonical_string("1700000000", "POST", "/v1/vaults", VAULT_BODY);
    let signature = hmac_sign(secret, &canonical);
    assert!(verify_hmac(secret, &canonical, &signature));

    for other in [
        hmac_canonical_string("1700000001", "POST", "/v1/vaults", VAULT_BODY),
        hmac_canonical_string("1700000000", "PUT", "/v1/vaults", VAULT_BODY),
        hmac_canonical_string("1700000000", "POST", "/v1/vaults?x=1", VAULT_BODY),
        hmac_canonical_string("1700000000", "POST", "/v1/vaults", b"{}"),
    ] {
        assert!(!verify_hmac(secret, &other, &signature), "{other}");
    }
    assert!(!verify_hmac(b"hmac_test_secreT", &canonical, &signature));
}

#[test]
fn verify_hmac_accepts_upper_case_hex_and_refuses_malformed_signatures() {
    let secret = HMAC_SECRET.as_bytes();
    let canonical = hmac_canonical_string("1700000000", "POST", "/v1/vaults", VAULT_BODY);
    let signature = hmac_sign(secret, &canonical);
    assert_eq!(signature, signature.to_ascii_lowercase());
    assert!(verify_hmac(
        secret,
        &canonical,
        &signature.to_ascii_uppercase()
    ));

    let mut flipped = signature.clone().into_bytes();
    flipped[63] = if flipped[63] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();
    for bad in [
        "",
        &signature[..62],
        &format!("{signature}00"),
        &format!("{}zz", &signature[..62]),
        &format!(" {}", &signature[..63]),
        &flipped,
        // The base64 of the right bytes is still wrong: the contract says hex.
        &b64(&hex::decode(&signature).unwrap()),
    ] {
        assert!(!verify_hmac(secret, &canonical, bad), "{bad:?}");
    }
}

#[test]
fn constant_time_eq_is_equality() {
    assert!(constant_time_eq(b"", b""));
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"abcd"));
    assert!(!constant_time_eq(b"", b"\0"));
}

// ---- Ed25519

#[test]
fn rfc8032_test_1_verifies() {
    // RFC 8032 §7.1 TEST 1: empty message.
    let signature = hex::decode(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065\
         224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    )
    .unwrap();
    let key = rfc8032_public();
    assert_eq!(
        hex::encode(key.as_bytes()),
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    );
    assert!(key.verify(b"", &b64(&signature)));
    assert!(!key.verify(b"x", &b64(&signature)));
}

#[test]
fn ed25519_payload_layout() {
    assert_eq!(
        ed25519_signing_payload("get", "/v1/accounts?limit=10", "1700000000", b""),
        b"GET\n/v1/accounts?limit=10\n1700000000\n".to_vec()
    );
    // The raw body follows verbatim, even when it is not UTF-8.
    assert_eq!(
        ed25519_signing_payload("POST", "/p", "1", &[0xff, 0x00]),
        b"POST\n/p\n1\n\xff\x00".to_vec()
    );
}

#[test]
fn ed25519_generated_key_round_trips_through_pem_and_detects_tampering() {
    let signing = SigningKey::from_bytes(&[7u8; 32]);
    let pem = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    let key = Ed25519PublicKey::from_pem(&pem).unwrap();
    // CRLF line endings and surrounding whitespace (copy-paste from a dashboard) are fine.
    assert_eq!(
        Ed25519PublicKey::from_pem(&format!("\n  {}  \n", pem.replace('\n', "\r\n"))).unwrap(),
        key
    );

    let (method, path, ts, body) = (
        "POST",
        "/v1/accounts/acc_1/blockchain-addresses",
        "1700000000",
        &b"{\"a\":1}"[..],
    );
    let signature = b64(&signing
        .sign(&ed25519_signing_payload(method, path, ts, body))
        .to_bytes());
    assert!(key.verify(&ed25519_signing_payload(method, path, ts, body), &signature));
    // The method is upper-cased on both sides.
    assert!(key.verify(&ed25519_signing_payload("post", path, ts, body), &signature));

    for payload in [
        ed25519_signing_payload("PUT", path, ts, body),
        ed25519_signing_payload(method, "/v1/accounts/acc_2/blockchain-addresses", ts, body),
        ed25519_signing_payload(method, &format!("{path}?x=1"), ts, body),
        ed25519_signing_payload(method, path, "1700000001", body),
        ed25519_signing_payload(method, path, ts, b"{\"a\":2}"),
        ed25519_signing_payload(method, path, ts, b""),
    ] {
        assert!(
            !key.verify(&payload, &signature),
            "{}",
            String::from_utf8_lossy(&payload)
        );
    }
    // Another key's signature over the same payload does not verify.
    let other = SigningKey::from_bytes(&[8u8; 32]);
    let forged = b64(&other
        .sign(&ed25519_signing_payload(method, path, ts, body))
        .to_bytes());
    assert!(!key.verify(&ed25519_signing_payload(method, path, ts, body), &forged));
}

#[test]
fn ed25519_malformed_signatures_are_false() {
    let payload = ed25519_signing_payload("POST", "/v1/x", "1", b"");
    let signing = rfc8032_signing_key();
    let raw = signing.sign(&payload).to_bytes();
    let good = b64(&raw);
    let key = rfc8032_public();
    assert!(key.verify(&payload, &good));

    let url_safe = base64::engine::general_purpose::URL_SAFE.encode(raw);
    let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(raw);
    let hex_sig = hex::encode(raw);
    let mut flipped = raw;
    flipped[0] ^= 1;
    for bad in [
        String::new(),
        "not base64 at all".to_owned(),
        unpadded,
        hex_sig,
        b64(&raw[..63]),
        b64(&[raw.as_slice(), &[0]].concat()),
        b64(&flipped),
        format!(" {}", &good[1..]),
    ] {
        assert!(!key.verify(&payload, &bad), "{bad:?}");
    }
    // The URL-safe alphabet is only a different string when the signature contains + or /.
    if url_safe != good {
        assert!(!key.verify(&payload, &url_safe));
    }
}

#[test]
fn from_pem_refuses_garbage_private_keys_other_algorithms_and_weak_points() {
    for bad in [
        "",
        "garbage",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        // The RFC 8032 key's PKCS#8 private key: never accept a secret where a public key
        // belongs.
        "-----BEGIN PRIVATE KEY-----\n\
         MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n\
         -----END PRIVATE KEY-----\n",
        // An RSA public key.
        "-----BEGIN PUBLIC KEY-----\n\
         MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC5iL5LD19q4AB9S/Vhz6awn+4s\n\
         e0yFX7FpNNakRydPWAOrhKs+XwYdLz5bzzHAAv+c/Paf+gbH1AmmcUw4b2QFr3in\n\
         9fZHtZ8mgwros/2oeIzQQTKV8I2XEwkbKnNNraNSQtMFddgXGdiz8WpLElwNUAsC\n\
         qI9iWA+ik2v/KtdSIwIDAQAB\n\
         -----END PUBLIC KEY-----\n",
        // The raw base64 of the key without the PEM armour.
        "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
    ] {
        assert!(
            matches!(
                Ed25519PublicKey::from_pem(bad),
                Err(PublicKeyError::Malformed(_))
            ),
            "{bad:?}"
        );
    }
    // The identity point (0x01 then zeros) is a valid encoding but small-order.
    let identity = "-----BEGIN PUBLIC KEY-----\n\
        MCowBQYDK2VwAyEAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\
        -----END PUBLIC KEY-----\n";
    assert_eq!(
        Ed25519PublicKey::from_pem(identity),
        Err(PublicKeyError::Weak)
    );
}

// ---- Timestamps

#[test]
fn timestamp_window_edges_are_inclusive() {
    let now = 1_700_000_000;
    assert_eq!(check_timestamp(now, "1700000000", HMAC_WINDOW_SECS), Ok(0));
    assert_eq!(check_timestamp(now, "1699999970", HMAC_WINDOW_SECS), Ok(30));
    assert_eq!(
        check_timestamp(now, "1700000030", HMAC_WINDOW_SECS),
        Ok(-30)
    );
    assert_eq!(
        check_timestamp(now, "1699999969", HMAC_WINDOW_SECS),
        Err(TimestampError::OutsideWindow { skew: 31 })
    );
    assert_eq!(
        check_timestamp(now, "1700000031", HMAC_WINDOW_SECS),
        Err(TimestampError::OutsideWindow { skew: -31 })
    );
    assert_eq!(
        check_timestamp(now, "1699999940", ED25519_WINDOW_SECS),
        Ok(60)
    );
    assert_eq!(
        check_timestamp(now, "1700000060", ED25519_WINDOW_SECS),
        Ok(-60)
    );
    assert_eq!(
        check_timestamp(now, "1699999939", ED25519_WINDOW_SECS),
        Err(TimestampError::OutsideWindow { skew: 61 })
    );
    assert_eq!(
        check_timestamp(now, "1700000061", ED25519_WINDOW_SECS),
        Err(TimestampError::OutsideWindow { skew: -61 })
    );
}

#[test]
fn timestamp_must_be_plain_digits() {
    for bad in [
        "",
        "-5",
        "+1700000000",
        "1.5",
        "1700000000.0",
        " 17",
        "17 ",
        "17e3",
        "0x10",
        "1700000000000", // 13 digits (milliseconds)
        "١٧٠٠٠٠٠٠٠٠",    // non-ASCII digits
    ] {
        assert_eq!(
            check_timestamp(1_700_000_000, bad, HMAC_WINDOW_SECS),
            Err(TimestampError::Malformed),
            "{bad:?}"
        );
    }
    // 12 digits parse (and are simply far outside the window).
    assert!(matches!(
        check_timestamp(1_700_000_000, "999999999999", HMAC_WINDOW_SECS),
        Err(TimestampError::OutsideWindow { .. })
    ));
}

#[test]
fn timestamp_check_never_overflows() {
    assert!(matches!(
        check_timestamp(i64::MIN, "999999999999", 30),
        Err(TimestampError::OutsideWindow { .. })
    ));
    assert!(matches!(
        check_timestamp(i64::MAX, "0", 30),
        Err(TimestampError::OutsideWindow { .. })
    ));
    assert!(matches!(
        check_timestamp(5, "5", -1),
        Err(TimestampError::OutsideWindow { skew: 0 })
    ));
}

#[test]
fn signature_debug_shows_the_signed_text() {
    let payload = ed25519_signing_payload("POST", "/p", "1", &[b'{', 0xff, b'}']);
    let debug = SignatureDebug::new(&payload, Some(-3));
    assert_eq!(debug.signed_string, "POST\n/p\n1\n{\u{fffd}}");
    assert_eq!(debug.clock_skew_seconds, Some(-3));
}
