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
