use super::*;

const ULID: &str = "01J9Z3K8Q4WJ5V6X7Y8Z9A0B1C";

#[test]
fn round_trips_through_its_wire_form() {
    let id = VaultId::parse(&format!("vlt_{ULID}")).unwrap();
    assert_eq!(id.to_string(), format!("vlt_{ULID}"));
    assert_eq!(VaultId::parse(&id.to_string()).unwrap(), id);
}

#[test]
fn ulid_part_is_case_insensitive() {
    let lower = WalletId::parse(&format!("acc_{}", ULID.to_lowercase())).unwrap();
    let upper = WalletId::parse(&format!("acc_{ULID}")).unwrap();
    assert_eq!(lower, upper);
}

#[test]
fn wrong_prefix_is_an_error_naming_the_expected_prefix() {
    let err = VaultId::parse(&format!("acc_{ULID}")).unwrap_err();
    assert_eq!(err, IdError::WrongPrefix { expected: "vlt_" });
    assert_eq!(err.to_string(), "expected an id starting with `vlt_`");
}

#[test]
fn malformed_payloads_are_errors_not_panics() {
    for bad in [
        "ba_",
        "ba_x",
        "ba_01J9Z3K8Q4WJ5V6X7Y8Z9A0B1",   // 25 chars
        "ba_01J9Z3K8Q4WJ5V6X7Y8Z9A0B1CD", // 27 chars
        "ba_01J9Z3K8Q4WJ5V6X7Y8Z9A0B1!",
        "ba_81J9Z3K8Q4WJ5V6X7Y8Z9A0B1C", // above the 128-bit range
        "ba_01J9Z3K8Q4WJ5V6X7Y8Z9A0B1\u{e9}",
    ] {
        assert_eq!(
            AddressId::parse(bad),
            Err(IdError::Malformed { prefix: "ba_" }),
            "{bad}"
        );
    }
    assert_eq!(
        AddressId::parse(""),
        Err(IdError::WrongPrefix { expected: "ba_" })
    );
}

#[test]
fn serde_uses_the_wire_form_and_rejects_wrong_prefixes() {
    let id = TransactionId::from_ulid(Ulid::from_parts(1, 2));
    let json = serde_json::to_string(&id).unwrap();
    assert_eq!(json, format!("\"{id}\""));
    let back: TransactionId = serde_json::from_str(&json).unwrap();
    assert_eq!(back, id);
    assert!(serde_json::from_str::<TransactionId>("\"vlt_01J9Z3K8Q4WJ5V6X7Y8Z9A0B1C\"").is_err());
}

#[test]
fn ids_order_by_creation_time() {
    let older = EventId::from_ulid(Ulid::from_parts(1_000, u128::MAX >> 48));
    let newer = EventId::from_ulid(Ulid::from_parts(1_001, 0));
    assert!(older < newer);
    assert!(older.to_string() < newer.to_string());
}

#[test]
fn every_prefix_is_distinct() {
    let prefixes = [
        TenantId::PREFIX,
        ApiKeyId::PREFIX,
        VaultId::PREFIX,
        WalletId::PREFIX,
        AddressId::PREFIX,
        TransactionId::PREFIX,
        AddressBookEntryId::PREFIX,
        EventId::PREFIX,
        DeliveryId::PREFIX,
        WebhookEndpointId::PREFIX,
        RequestId::PREFIX,
    ];
    let unique: std::collections::BTreeSet<_> = prefixes.iter().collect();
    assert_eq!(unique.len(), prefixes.len());
}
