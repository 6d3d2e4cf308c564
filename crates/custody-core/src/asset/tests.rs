use super::*;

#[test]
fn parses_codes_case_insensitively() {
    let id = AssetId::from_codes("usdt", "EtHeReUm").unwrap();
    assert_eq!(id.to_string(), "USDT_ETHEREUM");
    assert_eq!(
        AssetId::parse("usdc_solana").unwrap().to_string(),
        "USDC_SOLANA"
    );
}

#[test]
fn code_lengths_are_limited() {
    assert_eq!(
        AssetSymbol::parse("U"),
        Err(AssetError::InvalidCode { field: "asset" })
    );
    assert_eq!(
        Network::parse("a-network-name-too-long"),
        Err(AssetError::InvalidCode { field: "network" })
    );
    assert_eq!(
        AssetSymbol::parse("BTC"),
        Err(AssetError::UnknownSymbol("BTC".into()))
    );
    assert_eq!(
        Network::parse("tron"),
        Err(AssetError::UnknownNetwork("tron".into()))
    );
}

#[test]
fn unsupported_pairs_are_refused() {
    assert_eq!(
        AssetId::from_codes("XAUT", "solana"),
        Err(AssetError::UnsupportedPair {
            symbol: AssetSymbol::Xaut,
            network: Network::Solana
        })
    );
    assert!(matches!(
        AssetId::parse("USDTETHEREUM"),
        Err(AssetError::MalformedId(_))
    ));
}

#[test]
fn every_catalogue_entry_round_trips_and_is_unique() {
    let mut seen = BTreeSet::new();
    for asset in &CATALOGUE {
        assert!(seen.insert(asset.id), "duplicate {}", asset.id);
        assert_eq!(AssetId::parse(&asset.id.to_string()).unwrap(), asset.id);
        assert_eq!(asset.id.decimals(), asset.decimals);
    }
}

#[test]
fn evm_networks_share_an_address_family() {
    assert_eq!(Network::Base.address_family(), AddressFamily::Evm);
    assert_eq!(Network::Ink.address_family(), AddressFamily::Evm);
    assert_eq!(Network::Solana.address_family(), AddressFamily::Solana);
    assert_eq!(Network::Sui.address_family(), AddressFamily::Sui);
}

#[test]
fn enabled_set_controls_membership() {
    let usdt = AssetId::parse("USDT_ETHEREUM").unwrap();
    let mut set = EnabledAssets::none();
    assert!(!set.contains(usdt));
    assert!(set.enable(usdt));
    assert!(!set.enable(usdt));
    assert!(set.contains(usdt));
    assert!(set.disable(usdt));
    assert!(!set.contains(usdt));
    assert_eq!(EnabledAssets::all().iter().count(), CATALOGUE.len());
}

#[test]
fn serde_uses_the_canonical_id() {
    let id = AssetId::parse("xaut_ethereum").unwrap();
    assert_eq!(serde_json::to_string(&id).unwrap(), "\"XAUT_ETHEREUM\"");
    let back: AssetId = serde_json::from_str("\"Xaut_Ethereum\"").unwrap();
    assert_eq!(back, id);
}
