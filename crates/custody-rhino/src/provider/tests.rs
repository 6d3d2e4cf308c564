use custody_core::asset::Network;

use super::*;

fn item(tag: &str, state: Option<&str>) -> HistoryItem {
    serde_json::from_value(serde_json::json!({
        "_tag": tag, "_id": "b",
        "history": state.map(|s| serde_json::json!({"state": s})),
    }))
    .unwrap()
}

#[test]
fn statuses_follow_the_bridge_state() {
    assert_eq!(
        deposit_status(&item("accepted", Some("EXECUTED"))),
        TransactionStatus::Completed
    );
    for state in [
        "PENDING",
        "PENDING_CONFIRMATION",
        "DEPOSIT_ACCEPTED",
        "ACCEPTED",
        "CANCELLED",
        "SOMETHING_NEW",
    ] {
        assert_eq!(
            deposit_status(&item("accepted", Some(state))),
            TransactionStatus::Confirming,
            "{state}"
        );
    }
    assert_eq!(
        deposit_status(&item("accepted", None)),
        TransactionStatus::Confirming
    );
    assert_eq!(
        deposit_status(&item("accepted", Some("SWAP_FAILED_REFUNDED"))),
        TransactionStatus::Failed
    );
    assert_eq!(
        deposit_status(&item("rejected", None)),
        TransactionStatus::Failed
    );
    assert_eq!(
        deposit_status(&item("failed", None)),
        TransactionStatus::Failed
    );
    assert_eq!(
        deposit_status(&item("detected", None)),
        TransactionStatus::Confirming
    );
}

#[test]
fn the_body_omits_token_out_unless_configured() {
    let mut destination = Destination {
        chain: "BASE".into(),
        address: "0xdest".into(),
        token_out: None,
    };
    let body = create_body("ETHEREUM", &destination, "acc_1:0");
    assert_eq!(
        body,
        serde_json::json!({"depositChains": ["ETHEREUM"], "destinationChain": "BASE",
            "destinationAddress": "0xdest", "addressNote": "acc_1:0",
            "reusePolicy": "reuse-existing"})
    );
    destination.token_out = Some("USDC".into());
    assert_eq!(
        create_body("ETHEREUM", &destination, "n")["tokenOut"],
        serde_json::json!("USDC")
    );
}

#[test]
fn only_usdt_and_usdc_on_rhino_chains_are_served() {
    for asset in &custody_core::asset::CATALOGUE {
        let served = rhino_asset(asset.id).is_ok();
        let expected = asset.id.network() != Network::Sui
            && matches!(asset.id.symbol(), AssetSymbol::Usdt | AssetSymbol::Usdc);
        assert_eq!(served, expected, "{}", asset.id);
    }
}

/// Issue 14: Rhino's forwards land at its configured destinations (the default and the
/// tenants' own); only those addresses, on their own network, are recognised.
#[test]
fn forwarding_destinations_are_the_configured_ones() {
    let mut config = crate::RhinoConfig::new(secrecy::SecretString::from("SECRET_k".to_owned()));
    config.destination = Some(crate::Destination {
        chain: "ETHEREUM".into(),
        address: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".into(),
        token_out: None,
    });
    let tenant: TenantId = "ten_01M7YYM16ZCXSV3QS5PFPB38B5".parse().unwrap();
    config.tenant_destinations.insert(
        tenant,
        crate::Destination {
            chain: "BASE".into(),
            address: "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB".into(),
            token_out: None,
        },
    );
    let client = RhinoClient::new(
        config,
        std::sync::Arc::new(custody_core::ports::FixedClock::new(
            time::OffsetDateTime::UNIX_EPOCH,
        )),
    )
    .unwrap();
    let at = |network, raw: &str| ChainAddress::parse(network, raw).unwrap();
    assert!(client.forwards_to(&at(
        Network::Ethereum,
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
    )));
    assert!(client.forwards_to(&at(
        Network::Base,
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"
    )));
    assert!(!client.forwards_to(&at(
        Network::Base,
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    )));
    assert!(!client.forwards_to(&at(
        Network::Ethereum,
        "0x1111111111111111111111111111111111111111"
    )));
}
