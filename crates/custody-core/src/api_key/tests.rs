use super::*;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use time::macros::datetime;
use ulid::Ulid;

fn key_id(n: u128) -> ApiKeyId {
    ApiKeyId::from_ulid(Ulid::from_parts(1, n))
}

const T0: OffsetDateTime = datetime!(2024-01-01 12:00 UTC);

fn record() -> ApiKey {
    let key = format_key(Environment::Sandbox, &[9u8; 32]);
    ApiKey {
        id: key_id(1),
        tenant_id: TenantId::from_ulid(Ulid::from_parts(1, 100)),
        environment: Environment::Sandbox,
        mode: KeyMode::Bearer,
        scopes: ScopeSet::all(),
        allowed_ips: IpAllowList::allow_all(),
        key_hash: hash_key(&key),
        key_hint: key_hint(&key),
        ed25519_public_key: None,
        created_at: T0,
        expires_at: None,
        revoked_at: None,
        replaced_by: None,
    }
}

// ---- Modes

#[test]
fn key_modes_round_trip_and_parse_case_insensitively() {
    for mode in KeyMode::ALL {
        assert_eq!(mode.as_str().parse::<KeyMode>(), Ok(mode));
        assert_eq!(mode.as_str().to_uppercase().parse::<KeyMode>(), Ok(mode));
        let json = serde_json::to_string(&mode).unwrap();
        assert_eq!(json, format!("\"{mode}\""));
        assert_eq!(serde_json::from_str::<KeyMode>(&json).unwrap(), mode);
    }
    assert_eq!("Ed25519".parse::<KeyMode>(), Ok(KeyMode::Ed25519));
    assert_eq!(
        "rsa".parse::<KeyMode>(),
        Err(UnknownKeyMode("rsa".to_owned()))
    );
    assert_eq!(KeyMode::Bearer.timestamp_window_secs(), None);
    assert_eq!(KeyMode::Hmac.timestamp_window_secs(), Some(30));
    assert_eq!(KeyMode::Ed25519.timestamp_window_secs(), Some(60));
}

// ---- Scopes

#[test]
fn all_thirteen_scopes_parse_from_their_wire_names() {
    let names = [
        "vaults:read",
        "vaults:write",
        "wallets:read",
        "wallets:create",
        "addresses:read",
        "addresses:write",
        "transactions:read",
        "transfers:write",
        "withdrawals:write",
        "address_book:read",
        "address_book:write",
        "webhooks:read",
        "webhooks:write",
    ];
    assert_eq!(Scope::ALL.len(), names.len());
    for (scope, name) in Scope::ALL.into_iter().zip(names) {
        assert_eq!(scope.as_str(), name);
        assert_eq!(name.parse::<Scope>(), Ok(scope));
        assert_eq!(
            serde_json::to_string(&scope).unwrap(),
            format!("\"{name}\"")
        );
    }
    let unique: BTreeSet<_> = names.iter().collect();
    assert_eq!(unique.len(), 13);
}

#[test]
fn unknown_and_miscased_scopes_are_refused() {
    for bad in [
        "",
        "vaults",
        "vaults:delete",
        "Vaults:Read",
        "VAULTS:READ",
        "address-book:read",
        " vaults:read",
        "vaults:read ",
        "*",
    ] {
        assert_eq!(
            bad.parse::<Scope>(),
            Err(UnknownScope(bad.to_owned())),
            "{bad:?}"
        );
    }
    assert!(serde_json::from_str::<Scope>("\"Vaults:Read\"").is_err());
}

#[test]
fn scope_set_requires_and_serialises_as_a_list() {
    let set: ScopeSet = [Scope::WalletsRead, Scope::VaultsRead, Scope::VaultsRead]
        .into_iter()
        .collect();
    assert_eq!(set.len(), 2);
    assert!(set.contains(Scope::VaultsRead));
    assert!(!set.contains(Scope::WithdrawalsWrite));
    assert_eq!(set.require(Scope::WalletsRead), Ok(()));
    let err = set.require(Scope::WithdrawalsWrite).unwrap_err();
    assert_eq!(err, MissingScope(Scope::WithdrawalsWrite));
    assert_eq!(
        err.to_string(),
        "this API key lacks the `withdrawals:write` scope"
    );

    let json = serde_json::to_string(&set).unwrap();
    assert_eq!(json, r#"["vaults:read","wallets:read"]"#);
    assert_eq!(serde_json::from_str::<ScopeSet>(&json).unwrap(), set);
    assert!(serde_json::from_str::<ScopeSet>(r#"["vaults:read","root"]"#).is_err());

    assert_eq!(
        ScopeSet::all().iter().collect::<Vec<_>>(),
        Scope::ALL.to_vec()
    );
    assert!(ScopeSet::empty().is_empty());
    assert!(ScopeSet::empty().require(Scope::VaultsRead).is_err());
}

// ---- IP allow-list

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

#[test]
fn empty_allow_list_allows_everyone() {
    let list = IpAllowList::allow_all();
    assert!(list.allows(v4(203, 0, 113, 7)));
    assert!(list.allows(IpAddr::V6(Ipv6Addr::LOCALHOST)));
}

#[test]
fn ipv4_cidr_and_bare_addresses() {
    let list = IpAllowList::parse(["203.0.113.0/24", " 198.51.100.9 "]).unwrap();
    assert!(list.allows(v4(203, 0, 113, 0)));
    assert!(list.allows(v4(203, 0, 113, 255)));
    assert!(!list.allows(v4(203, 0, 114, 0)));
    assert!(list.allows(v4(198, 51, 100, 9)));
    assert!(!list.allows(v4(198, 51, 100, 10)));
    assert!(!list.allows(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    assert_eq!(
        IpAllowList::parse_entry("198.51.100.9")
            .unwrap()
            .to_string(),
        "198.51.100.9/32"
    );
}

#[test]
fn ipv6_blocks_and_addresses() {
    let list = IpAllowList::parse(["2001:db8:abcd::/48", "2001:db8::1"]).unwrap();
    assert!(list.allows("2001:db8:abcd:12::5".parse().unwrap()));
    assert!(!list.allows("2001:db8:abce::5".parse().unwrap()));
    assert!(list.allows("2001:db8::1".parse().unwrap()));
    assert!(!list.allows("2001:db8::2".parse().unwrap()));
    assert!(!list.allows(v4(203, 0, 113, 7)));
    assert_eq!(
        IpAllowList::parse_entry("2001:db8::1").unwrap().to_string(),
        "2001:db8::1/128"
    );
}

#[test]
fn ipv4_mapped_ipv6_peers_match_ipv4_entries() {
    let list = IpAllowList::parse(["203.0.113.0/24"]).unwrap();
    assert!(list.allows("::ffff:203.0.113.7".parse().unwrap()));
    assert!(!list.allows("::ffff:203.0.114.7".parse().unwrap()));
    // A v6 block that covers the mapped range still matches the mapped form.
    let v6 = IpAllowList::parse(["::ffff:0:0/96"]).unwrap();
    assert!(v6.allows("::ffff:203.0.113.7".parse().unwrap()));
}

#[test]
fn malformed_entries_are_refused() {
    for bad in [
        "",
        "localhost",
        "203.0.113.0/33",
        "203.0.113",
        "2001:db8::/129",
        "1.2.3.4/",
    ] {
        assert_eq!(
            IpAllowList::parse_entry(bad),
            Err(IpEntryError::Malformed(bad.to_owned())),
            "{bad:?}"
        );
    }
    assert_eq!(
        IpAllowList::parse_entry("10.0.0.5/8"),
        Err(IpEntryError::HostBitsSet {
            entry: "10.0.0.5/8".to_owned(),
            network: "10.0.0.0/8".parse().unwrap(),
        })
    );
    assert!(IpAllowList::parse(["203.0.113.0/24", "nope"]).is_err());
}

#[test]
fn allow_list_serialises_as_cidr_strings() {
    let list = IpAllowList::parse(["203.0.113.0/24", "2001:db8::1"]).unwrap();
    let json = serde_json::to_string(&list).unwrap();
    assert_eq!(json, r#"["203.0.113.0/24","2001:db8::1/128"]"#);
    assert_eq!(serde_json::from_str::<IpAllowList>(&json).unwrap(), list);
    assert_eq!(
        serde_json::from_str::<IpAllowList>("[]").unwrap(),
        IpAllowList::allow_all()
    );
    assert!(serde_json::from_str::<IpAllowList>(r#"["10.0.0.5/8"]"#).is_err());
}

// ---- Key strings

#[test]
fn key_format_known_answer() {
    // Base58 and SHA-256 computed independently (Python + openssl).
    let bytes: [u8; 32] = core::array::from_fn(|i| i as u8);
    let key = format_key(Environment::Sandbox, &bytes);
    assert_eq!(key, "sk_test_1thX6LZfHDZZKUs92febYZhYRcXddmzfzF2NvTkPNE");
    assert_eq!(
        hash_key(&key).to_hex(),
        "6ff7290a6cf257213c9db8dc2369588ed173b93ad3e0bd86a572f88019690d6b"
    );
    assert_eq!(
        format_key(Environment::Live, &bytes),
        "sk_live_1thX6LZfHDZZKUs92febYZhYRcXddmzfzF2NvTkPNE"
    );
    assert_eq!(
        format_key(Environment::Sandbox, &[0u8; 32]),
        "sk_test_11111111111111111111111111111111"
    );
    assert_eq!(
        format_key(Environment::Live, &[0xff; 32]),
        "sk_live_JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFG"
    );
}

#[test]
fn keys_carry_their_environment_prefix() {
    for env in Environment::ALL {
        let key = format_key(env, &[42u8; 32]);
        assert!(key.starts_with(env.key_prefix()));
        assert_eq!(Environment::of_key(&key), Some(env));
    }
}

#[test]
fn hashes_match_only_their_key() {
    let key = format_key(Environment::Live, &[3u8; 32]);
    let hash = hash_key(&key);
    assert!(hash.matches(&key));
    assert!(!hash.matches(&format_key(Environment::Sandbox, &[3u8; 32])));
    assert!(!hash.matches(&format_key(Environment::Live, &[4u8; 32])));
    assert!(!hash.matches(&key[..key.len() - 1]));
    assert!(!hash.matches(""));
    // The hash of the live key differs from the sandbox key with the same random part.
    assert_ne!(
        hash,
        hash_key(&format_key(Environment::Sandbox, &[3u8; 32]))
    );
}

#[test]
fn key_hash_hex_round_trip() {
    let hash = hash_key("sk_test_abc");
    assert_eq!(KeyHash::from_hex(&hash.to_hex()), Ok(hash));
    assert_eq!(KeyHash::from_hex(&hash.to_hex().to_uppercase()), Ok(hash));
    for bad in ["", "00", &"0".repeat(63), &"0".repeat(65), &"g".repeat(64)] {
        assert_eq!(KeyHash::from_hex(bad), Err(InvalidKeyHash), "{bad:?}");
    }
    let json = serde_json::to_string(&hash).unwrap();
    assert_eq!(json, format!("\"{}\"", hash.to_hex()));
    assert_eq!(serde_json::from_str::<KeyHash>(&json).unwrap(), hash);
    assert_eq!(format!("{hash:?}"), format!("KeyHash({})", hash.to_hex()));
}

#[test]
fn hmac_secret_is_hex_of_the_random_bytes() {
    let bytes: [u8; 32] = core::array::from_fn(|i| i as u8);
    assert_eq!(
        generate_hmac_secret(&bytes),
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    );
    assert_ne!(
        generate_hmac_secret(&[1; 32]),
        generate_hmac_secret(&[2; 32])
    );
}

#[test]
fn key_hint_shows_prefix_and_last_four_only() {
    let key = "sk_live_1thX6LZfHDZZKUs92febYZhYRcXddmzfzF2NvTkPNE";
    assert_eq!(key_hint(key), "sk_live_...kPNE");
    assert_eq!(
        key_hint("sk_test_1thX6LZfHDZZKUs92febYZhYRcXddmzfzF2NvTkPNE"),
        "sk_test_...kPNE"
    );
    // Unknown prefix: tail only.
    assert_eq!(key_hint("zz_1thX6LZfHDZZKUs92febYZhYRcXddmzf"), "...dmzf");
    // Too short to hide anything: no tail at all.
    assert_eq!(key_hint("sk_live_abc"), "sk_live_...");
    assert_eq!(key_hint(""), "...");
    // Non-ASCII input never panics.
    assert_eq!(key_hint("sk_test_ééééééééééééééééé"), "sk_test_...éééé");
}

// ---- Life cycle

#[test]
fn fresh_key_is_active() {
    let key = record();
    assert_eq!(key.status_at(T0), KeyStatus::Active);
    assert!(key.is_usable_at(T0 + Duration::days(3650)));
    assert!(key
        .key_hash
        .matches(&format_key(Environment::Sandbox, &[9u8; 32])));
    assert_eq!(
        key.key_hint,
        key_hint(&format_key(Environment::Sandbox, &[9u8; 32]))
    );
}

#[test]
fn rotation_gives_a_grace_period_then_expires() {
    let mut key = record();
    key.rotate(T0, Duration::hours(24), key_id(2)).unwrap();
    let until = T0 + Duration::hours(24);
    assert_eq!(key.expires_at, Some(until));
    assert_eq!(key.replaced_by, Some(key_id(2)));
    assert_eq!(key.status_at(T0), KeyStatus::Expiring { until });
    assert_eq!(
        key.status_at(until - Duration::nanoseconds(1)),
        KeyStatus::Expiring { until }
    );
    assert!(key.is_usable_at(until - Duration::seconds(1)));
    assert_eq!(key.status_at(until), KeyStatus::Expired);
    assert!(!key.is_usable_at(until));
    assert!(!key.is_usable_at(until + Duration::days(1)));
}

#[test]
fn zero_grace_stops_the_old_key_at_once() {
    let mut key = record();
    key.rotate(T0, Duration::ZERO, key_id(2)).unwrap();
    assert_eq!(key.status_at(T0), KeyStatus::Expired);
    assert!(!key.is_usable_at(T0));
}

#[test]
fn grace_is_bounded() {
    let mut key = record();
    assert_eq!(
        key.rotate(T0, Duration::days(7) + Duration::seconds(1), key_id(2)),
        Err(KeyStateError::InvalidGrace)
    );
    assert_eq!(
        key.rotate(T0, Duration::seconds(-1), key_id(2)),
        Err(KeyStateError::InvalidGrace)
    );
    assert_eq!(key, record(), "a refused rotation changes nothing");
    key.rotate(T0, MAX_ROTATION_GRACE, key_id(2)).unwrap();
    assert_eq!(key.expires_at, Some(T0 + Duration::days(7)));
}

#[test]
fn rotation_never_extends_an_existing_expiry() {
    let mut key = record();
    key.expires_at = Some(T0 + Duration::hours(1));
    assert_eq!(
        key.status_at(T0),
        KeyStatus::Expiring {
            until: T0 + Duration::hours(1)
        }
    );
    key.rotate(T0, Duration::days(2), key_id(2)).unwrap();
    assert_eq!(key.expires_at, Some(T0 + Duration::hours(1)));
}

#[test]
fn rotating_twice_a_revoked_or_an_expired_key_is_refused() {
    let mut rotated = record();
    rotated.rotate(T0, Duration::hours(1), key_id(2)).unwrap();
    let before = rotated.clone();
    assert_eq!(
        rotated.rotate(T0, Duration::hours(1), key_id(3)),
        Err(KeyStateError::AlreadyRotated {
            successor: key_id(2)
        })
    );
    // Still refused once the grace period is over.
    assert_eq!(
        rotated.rotate(T0 + Duration::days(1), Duration::hours(1), key_id(3)),
        Err(KeyStateError::AlreadyRotated {
            successor: key_id(2)
        })
    );
    assert_eq!(rotated, before);

    let mut revoked = record();
    revoked.revoke(T0).unwrap();
    assert_eq!(
        revoked.rotate(T0, Duration::hours(1), key_id(2)),
        Err(KeyStateError::RotateRevoked)
    );

    let mut expired = record();
    expired.expires_at = Some(T0);
    assert_eq!(
        expired.rotate(T0 + Duration::seconds(1), Duration::hours(1), key_id(2)),
        Err(KeyStateError::RotateExpired)
    );
    assert_eq!(
        expired.expires_at,
        Some(T0),
        "an expired key is not revived"
    );

    let mut selfish = record();
    assert_eq!(
        selfish.rotate(T0, Duration::hours(1), key_id(1)),
        Err(KeyStateError::SelfSuccessor)
    );
}

#[test]
fn revocation_is_immediate_and_once() {
    let mut key = record();
    key.revoke(T0 + Duration::hours(1)).unwrap();
    assert_eq!(key.revoked_at, Some(T0 + Duration::hours(1)));
    assert_eq!(key.status_at(T0 + Duration::hours(1)), KeyStatus::Revoked);
    // Revocation wins even against a clock that reads earlier than the recorded instant.
    assert_eq!(key.status_at(T0), KeyStatus::Revoked);
    assert!(!key.is_usable_at(T0 + Duration::hours(2)));
    assert_eq!(
        key.revoke(T0 + Duration::hours(2)),
        Err(KeyStateError::AlreadyRevoked)
    );
    assert_eq!(key.revoked_at, Some(T0 + Duration::hours(1)));
}

#[test]
fn a_rotated_key_can_be_revoked_to_cut_its_grace_short() {
    let mut key = record();
    key.rotate(T0, Duration::days(1), key_id(2)).unwrap();
    assert!(key.is_usable_at(T0 + Duration::hours(1)));
    key.revoke(T0 + Duration::hours(1)).unwrap();
    assert_eq!(key.status_at(T0 + Duration::hours(1)), KeyStatus::Revoked);
    assert_eq!(key.replaced_by, Some(key_id(2)));

    // Also after its grace period has run out.
    let mut expired = record();
    expired.rotate(T0, Duration::ZERO, key_id(2)).unwrap();
    assert_eq!(expired.revoke(T0 + Duration::days(1)), Ok(()));
    assert_eq!(
        expired.status_at(T0 + Duration::days(1)),
        KeyStatus::Revoked
    );
}
