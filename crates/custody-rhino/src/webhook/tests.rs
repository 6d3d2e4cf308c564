use super::*;

const PUBLIC_PEM: &str = include_str!("../../tests/fixtures/webhook_test_public.pem");

#[test]
fn reads_spki_pem_and_its_served_base64_form() {
    let key = parse_public_key(PUBLIC_PEM).unwrap();
    assert_eq!(key.size(), 256);
    assert_eq!(
        decode_served_key(&STANDARD.encode(PUBLIC_PEM)).unwrap(),
        key
    );
    assert_eq!(decode_served_key(PUBLIC_PEM).unwrap(), key);
    assert_eq!(decode_served_key("bm90IGEga2V5"), None);
    assert_eq!(decode_served_key("%%%"), None);
    assert_eq!(
        parse_public_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"),
        None
    );
}

#[test]
fn signatures_must_be_present_and_hex() {
    assert!(matches!(
        decode_signature(None),
        Err(ProviderError::Unverified(_))
    ));
    assert!(matches!(
        decode_signature(Some("  ")),
        Err(ProviderError::Unverified(_))
    ));
    assert!(matches!(
        decode_signature(Some("zz")),
        Err(ProviderError::Unverified(_))
    ));
}

#[test]
fn the_signed_message_is_lowercase_hex_sha256() {
    assert_eq!(
        signed_message(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn deposit_events_are_identified() {
    let bridge = serde_json::json!({"event": {"_tag": "BRIDGE_EXECUTED", "_id": "b1",
        "chainIn": "ETHEREUM", "chainOut": "BASE", "depositAddress": "0xabc", "token": "USDT"},
        "eventId": "e1", "ts": 1});
    let parsed = parse_event(&serde_json::to_vec(&bridge).unwrap()).unwrap();
    assert_eq!(
        parsed,
        DepositEvent {
            tag: "BRIDGE_EXECUTED".into(),
            bridge_id: "b1".into(),
            deposit_address: "0xabc".into(),
            deposit_chain: "ETHEREUM".into(),
            event_id: Some("e1".into()),
        }
    );
    let rejected = serde_json::json!({"event": {"_tag": "DEPOSIT_ADDRESS_BRIDGE_REJECTED",
        "_id": "b2", "depositAddress": {"depositChain": "SOLANA", "depositAddress": "So1"}},
        "eventId": "e2", "ts": 2});
    let parsed = parse_event(&serde_json::to_vec(&rejected).unwrap()).unwrap();
    assert_eq!(parsed.deposit_chain, "SOLANA");
    assert_eq!(parsed.bridge_id, "b2");
}

#[test]
fn other_events_are_not_deposits() {
    for body in [
        serde_json::json!({"event": {"_tag": "WEBHOOK_TEST", "type": "test"}}),
        serde_json::json!({"event": {"_tag": "BRIDGE_EXECUTED", "_id": "b", "chainIn": "ETHEREUM"}}),
        serde_json::json!({"event": {"_tag": "DEPOSIT_ADDRESS_BRIDGE_DELAYED", "_id": "b", "depositAddress": "0x"}}),
        serde_json::json!({"event": "BRIDGE_EXECUTED"}),
        serde_json::json!([]),
    ] {
        let err = parse_event(&serde_json::to_vec(&body).unwrap()).unwrap_err();
        assert!(matches!(err, ProviderError::Unverified(_)), "{body}");
    }
    assert_eq!(
        parse_event(br#"{"event":{"_tag":"WEBHOOK_TEST"}}"#).unwrap_err(),
        ProviderError::Unverified("not a deposit event: WEBHOOK_TEST".into())
    );
    assert!(parse_event(b"not json").is_err());
}
