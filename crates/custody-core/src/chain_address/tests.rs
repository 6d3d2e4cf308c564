use super::*;
use proptest::prelude::*;

/// Test vectors from the EIP-55 specification, in their checksummed form.
const EIP55_VECTORS: [&str; 8] = [
    // All caps
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    // All lower
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
    // Normal
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
];

const SOL_SYSTEM_PROGRAM: &str = "11111111111111111111111111111111";
const SOL_WRAPPED: &str = "So11111111111111111111111111111111111111112";
const SUI_ADDRESS: &str = "0x02a212de6a9dfa3a69e22387acfbafbb1a9e591bd9d636e7895dcfc8de05f331";

fn evm_bytes(address: &str) -> [u8; 20] {
    let mut bytes = [0u8; 20];
    hex::decode_to_slice(&address[2..], &mut bytes).unwrap();
    bytes
}

fn invalid(network: Network) -> ChainAddressError {
    ChainAddressError::Invalid {
        network,
        reason: expected_format(network.address_family()),
    }
}

#[test]
fn eip55_vectors_checksum_and_parse_to_themselves() {
    for vector in EIP55_VECTORS {
        assert_eq!(eip55_checksum(&evm_bytes(vector)), vector);
        for network in [Network::Ethereum, Network::Base, Network::Ink] {
            let address = ChainAddress::parse(network, vector).unwrap();
            assert_eq!(address.as_str(), vector);
            assert_eq!(address.network(), network);
            assert_eq!(address.family(), AddressFamily::Evm);
        }
    }
}

#[test]
fn single_case_evm_addresses_are_accepted_and_canonicalised() {
    for vector in EIP55_VECTORS {
        let body = &vector[2..];
        for spelling in [
            format!("0x{}", body.to_ascii_lowercase()),
            format!("0x{}", body.to_ascii_uppercase()),
        ] {
            let address = ChainAddress::parse(Network::Ethereum, &spelling).unwrap();
            assert_eq!(address.as_str(), vector, "{spelling}");
        }
    }
}

#[test]
fn one_wrong_case_letter_is_a_bad_checksum() {
    for vector in EIP55_VECTORS.iter().skip(4) {
        // Flip the case of every letter in turn: each single flip must be caught.
        for (i, c) in vector.char_indices().skip(2) {
            if !c.is_ascii_alphabetic() {
                continue;
            }
            let flipped: String = vector
                .char_indices()
                .map(|(j, d)| if j == i { (d as u8 ^ 0x20) as char } else { d })
                .collect();
            assert_eq!(
                ChainAddress::parse(Network::Ethereum, &flipped),
                Err(ChainAddressError::BadChecksum {
                    network: Network::Ethereum
                }),
                "{flipped}"
            );
        }
    }
}

#[test]
fn the_seed_example_does_not_verify_but_its_lowercase_form_does() {
    // 0x742d35Cc6634C0532925a3b844Bc9e7595f2bD38 circulates as a sample address, but its
    // mixed case is not the EIP-55 checksum of those bytes.
    let seed = "0x742d35Cc6634C0532925a3b844Bc9e7595f2bD38";
    let err = ChainAddress::parse(Network::Base, seed).unwrap_err();
    assert_eq!(
        err,
        ChainAddressError::BadChecksum {
            network: Network::Base
        }
    );
    assert_eq!(err.code(), "address_bad_checksum");
    assert_eq!(
        err.to_string(),
        "not a valid base address: its mixed-case EIP-55 checksum does not match, so it probably contains a typo"
    );
    let lower = ChainAddress::parse(Network::Base, &seed.to_ascii_lowercase()).unwrap();
    assert_eq!(lower.as_str(), "0x742d35CC6634c0532925A3b844bc9E7595f2BD38");
}

#[test]
fn malformed_evm_addresses_are_invalid() {
    let valid = &EIP55_VECTORS[4][2..];
    for bad in [
        "0x".to_owned(),
        "0x0".to_owned(),
        valid.to_owned(),               // no prefix
        format!("0X{valid}"),           // upper-case prefix
        format!("0x{}", &valid[..39]),  // 39 hex
        format!("0x{valid}0"),          // 41 hex
        format!("0x{}g", &valid[..39]), // non-hex
        format!("0x{}é", &valid[..38]), // non-ASCII, 40 bytes
        format!("00{valid}"),
        "0x0x".to_owned(),
    ] {
        assert_eq!(
            ChainAddress::parse(Network::Ethereum, &bad),
            Err(invalid(Network::Ethereum)),
            "{bad}"
        );
    }
    let err = ChainAddress::parse(Network::Ethereum, "0x123").unwrap_err();
    assert_eq!(err.code(), "address_invalid");
    assert_eq!(
        err.to_string(),
        "not a valid ethereum address: expected 0x followed by 40 hex characters"
    );
}

#[test]
fn empty_and_whitespace_inputs_are_refused_for_every_network() {
    for network in Network::ALL {
        let empty = ChainAddress::parse(network, "").unwrap_err();
        assert_eq!(empty, ChainAddressError::Empty { network });
        assert_eq!(empty.code(), "address_empty");
        assert_eq!(empty.network(), network);
    }
    assert_eq!(
        ChainAddress::parse(Network::Ink, "")
            .unwrap_err()
            .to_string(),
        "ink address is empty"
    );
    for spaced in [
        format!(" {}", EIP55_VECTORS[4]),
        format!("{}\n", EIP55_VECTORS[4]),
        format!("{}\u{a0}", EIP55_VECTORS[4]),
        " ".to_owned(),
    ] {
        let err = ChainAddress::parse(Network::Ethereum, &spaced).unwrap_err();
        assert_eq!(
            err,
            ChainAddressError::Invalid {
                network: Network::Ethereum,
                reason: "it contains whitespace"
            }
        );
        assert_eq!(
            err.to_string(),
            "not a valid ethereum address: it contains whitespace"
        );
    }
    assert!(ChainAddress::parse(Network::Solana, &format!("{SOL_WRAPPED} ")).is_err());
}

#[test]
fn solana_addresses_decode_to_32_bytes() {
    let system = ChainAddress::parse(Network::Solana, SOL_SYSTEM_PROGRAM).unwrap();
    assert_eq!(system, ChainAddress::from_solana_bytes([0; 32]));
    assert_eq!(system.as_str(), SOL_SYSTEM_PROGRAM);
    let wrapped = ChainAddress::parse(Network::Solana, SOL_WRAPPED).unwrap();
    assert_eq!(wrapped.as_str(), SOL_WRAPPED);
    assert_eq!(wrapped.network(), Network::Solana);
    let max = bs58::encode([0xff; 32]).into_string();
    assert_eq!(max.len(), 44);
    assert!(ChainAddress::parse(Network::Solana, &max).is_ok());
}

#[test]
fn malformed_solana_addresses_are_invalid() {
    let short = bs58::encode([7u8; 31]).into_string();
    let long = bs58::encode([7u8; 33]).into_string();
    // 31 or 33 leading-zero bytes give 31 or 33 '1's.
    let ones_31 = "1".repeat(31);
    let ones_33 = "1".repeat(33);
    let mut bad: Vec<String> = vec![short, long, ones_31, ones_33, "1".to_owned()];
    // Each of 0, O, I and l is outside the Bitcoin base58 alphabet.
    for c in ['0', 'O', 'I', 'l'] {
        bad.push(format!("{c}{}", &SOL_WRAPPED[1..]));
    }
    bad.push(format!("{}é", &SOL_WRAPPED[..41]));
    bad.push("a".repeat(10_000));
    for input in &bad {
        assert_eq!(
            ChainAddress::parse(Network::Solana, input),
            Err(invalid(Network::Solana)),
            "{input}"
        );
    }
    assert_eq!(
        ChainAddress::parse(Network::Solana, "abc")
            .unwrap_err()
            .to_string(),
        "not a valid solana address: expected a base58-encoded 32-byte public key (32 to 44 characters)"
    );
}

#[test]
fn sui_addresses_are_full_length_hex_in_lowercase() {
    let address = ChainAddress::parse(Network::Sui, SUI_ADDRESS).unwrap();
    assert_eq!(address.as_str(), SUI_ADDRESS);
    let upper = format!("0x{}", SUI_ADDRESS[2..].to_ascii_uppercase());
    assert_eq!(ChainAddress::parse(Network::Sui, &upper).unwrap(), address);
    let body = &SUI_ADDRESS[2..];
    for bad in [
        "0x2".to_owned(), // short form of the Sui framework
        "0x".to_owned(),
        body.to_owned(),
        format!("0X{body}"),
        format!("0x{}", &body[..63]),
        format!("0x{body}0"),
        format!("0x{}z", &body[..63]),
    ] {
        assert_eq!(
            ChainAddress::parse(Network::Sui, &bad),
            Err(invalid(Network::Sui)),
            "{bad}"
        );
    }
    assert_eq!(
        ChainAddress::parse(Network::Sui, "0x2")
            .unwrap_err()
            .to_string(),
        "not a valid sui address: expected 0x followed by 64 hex characters"
    );
}

#[test]
fn an_address_of_another_family_is_a_wrong_network_error() {
    let cases = [
        (Network::Ethereum, SOL_WRAPPED, AddressFamily::Solana),
        (Network::Ethereum, SUI_ADDRESS, AddressFamily::Sui),
        (Network::Solana, EIP55_VECTORS[4], AddressFamily::Evm),
        (Network::Solana, SUI_ADDRESS, AddressFamily::Sui),
        (Network::Sui, EIP55_VECTORS[4], AddressFamily::Evm),
        // A bad checksum still has the EVM shape.
        (
            Network::Sui,
            "0x742d35Cc6634C0532925a3b844Bc9e7595f2bD38",
            AddressFamily::Evm,
        ),
        (Network::Sui, SOL_SYSTEM_PROGRAM, AddressFamily::Solana),
    ];
    for (network, input, found) in cases {
        let err = ChainAddress::parse(network, input).unwrap_err();
        assert_eq!(
            err,
            ChainAddressError::WrongNetwork { network, found },
            "{input}"
        );
        assert_eq!(err.code(), "address_wrong_network");
    }
    assert_eq!(
        ChainAddress::parse(Network::Ethereum, SOL_WRAPPED)
            .unwrap_err()
            .to_string(),
        "not a valid ethereum address: it looks like a Solana address"
    );
    assert_eq!(
        ChainAddress::parse(Network::Solana, EIP55_VECTORS[4])
            .unwrap_err()
            .to_string(),
        "not a valid solana address: it looks like an EVM address"
    );
}

#[test]
fn evm_bytes_need_an_evm_network() {
    let bytes = evm_bytes(EIP55_VECTORS[5]);
    let address = ChainAddress::from_evm_bytes(Network::Ink, bytes).unwrap();
    assert_eq!(address.as_str(), EIP55_VECTORS[5]);
    assert_eq!(address.network(), Network::Ink);
    for network in [Network::Solana, Network::Sui] {
        assert_eq!(
            ChainAddress::from_evm_bytes(network, bytes),
            Err(ChainAddressError::WrongNetwork {
                network,
                found: AddressFamily::Evm
            })
        );
    }
}

#[test]
fn the_same_address_on_two_networks_is_two_values() {
    let on_ethereum = ChainAddress::parse(Network::Ethereum, EIP55_VECTORS[4]).unwrap();
    let on_base = ChainAddress::parse(Network::Base, EIP55_VECTORS[4]).unwrap();
    assert_ne!(on_ethereum, on_base);
    assert_eq!(on_ethereum.as_str(), on_base.as_str());
}

#[test]
fn display_debug_and_serde_use_the_canonical_value() {
    let lower = EIP55_VECTORS[4].to_ascii_lowercase();
    let address = ChainAddress::parse(Network::Ethereum, &lower).unwrap();
    assert_eq!(address.to_string(), EIP55_VECTORS[4]);
    assert_eq!(
        format!("{address:?}"),
        format!("ChainAddress(ethereum:{})", EIP55_VECTORS[4])
    );
    assert_eq!(
        serde_json::to_string(&address).unwrap(),
        format!("\"{}\"", EIP55_VECTORS[4])
    );
}

#[test]
fn error_codes_are_distinct() {
    let network = Network::Ethereum;
    let errors = [
        ChainAddressError::Empty { network },
        invalid(network),
        ChainAddressError::BadChecksum { network },
        ChainAddressError::WrongNetwork {
            network,
            found: AddressFamily::Sui,
        },
    ];
    let codes: std::collections::BTreeSet<_> = errors.iter().map(ChainAddressError::code).collect();
    assert_eq!(codes.len(), errors.len());
    assert!(errors.iter().all(|e| e.network() == network));
}

fn any_network() -> impl Strategy<Value = Network> {
    prop::sample::select(Network::ALL.to_vec())
}

fn evm_network() -> impl Strategy<Value = Network> {
    prop::sample::select(vec![Network::Ethereum, Network::Base, Network::Ink])
}

proptest! {
    #[test]
    fn evm_bytes_round_trip(network in evm_network(), bytes in any::<[u8; 20]>()) {
        let address = ChainAddress::from_evm_bytes(network, bytes).unwrap();
        prop_assert_eq!(&ChainAddress::parse(network, address.as_str()).unwrap(), &address);
        let lower = address.as_str().to_ascii_lowercase();
        prop_assert_eq!(&ChainAddress::parse(network, &lower).unwrap(), &address);
        prop_assert_eq!(evm_bytes(address.as_str()), bytes);
    }

    #[test]
    fn solana_bytes_round_trip(bytes in any::<[u8; 32]>()) {
        let address = ChainAddress::from_solana_bytes(bytes);
        prop_assert!((32..=44).contains(&address.as_str().len()));
        prop_assert_eq!(ChainAddress::parse(Network::Solana, address.as_str()).unwrap(), address);
    }

    #[test]
    fn sui_bytes_round_trip(bytes in any::<[u8; 32]>()) {
        let address = ChainAddress::from_sui_bytes(bytes);
        prop_assert_eq!(address.as_str().len(), 66);
        let upper = format!("0x{}", address.as_str()[2..].to_ascii_uppercase());
        prop_assert_eq!(&ChainAddress::parse(Network::Sui, &upper).unwrap(), &address);
        prop_assert_eq!(&ChainAddress::parse(Network::Sui, address.as_str()).unwrap(), &address);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_strings(network in any_network(), input in any::<String>()) {
        let _ = ChainAddress::parse(network, &input);
    }

    #[test]
    fn parse_never_panics_on_near_misses(
        network in any_network(),
        input in "(0x|0X)?[0-9a-zA-Z]{0,70}",
    ) {
        if let Ok(address) = ChainAddress::parse(network, &input) {
            // Whatever is accepted is canonical and parses back to itself.
            prop_assert_eq!(ChainAddress::parse(network, address.as_str()), Ok(address.clone()));
        }
    }
}
