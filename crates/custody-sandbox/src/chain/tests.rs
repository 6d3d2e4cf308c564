use std::sync::Arc;

use custody_core::id::{TransactionId, WalletId};
use custody_core::ports::{CustodyProvider, FixedClock, Settlement, SimulatedDepositRequest};
use time::macros::datetime;

use super::*;
use crate::SandboxProvider;

const T0: OffsetDateTime = datetime!(2026-12-06 09:00 UTC);

fn asset(code: &str) -> AssetId {
    AssetId::parse(code).expect("catalogue asset")
}

fn address(asset: AssetId) -> ChainAddress {
    match asset.network().address_family() {
        AddressFamily::Evm => ChainAddress::from_evm_bytes(asset.network(), [7; 20]).expect("evm"),
        AddressFamily::Solana => ChainAddress::from_solana_bytes([7; 32]),
        AddressFamily::Sui => ChainAddress::from_sui_bytes([7; 32]),
    }
}

/// A withdrawal of `amount` whole tokens (a decimal string) recorded at [`T0`].
fn withdrawal(code: &str, amount: &str) -> WithdrawalRequest {
    let asset = asset(code);
    WithdrawalRequest {
        transaction_id: TransactionId::from_ulid(Ulid::from_parts(1, 42)),
        wallet_id: WalletId::from_ulid(Ulid::from_parts(1, 7)),
        asset,
        amount: Amount::parse(amount, asset.decimals()).expect("amount"),
        destination: address(asset),
        recorded_at: T0,
        provider_ref: None,
    }
}

fn at_ms(ms: i64) -> OffsetDateTime {
    T0 + time::Duration::milliseconds(ms)
}

fn status_at(config: &ChainConfig, request: &WithdrawalRequest, ms: i64) -> ProviderTransfer {
    withdrawal_status(config, request, at_ms(ms)).expect("status")
}

#[test]
fn magic_values_are_the_exact_fractional_part() {
    let m = |s: &str| Magic::of(Amount::parse(s, 6).expect("amount"), 6);
    assert_eq!(m("5.13"), Magic::Fails);
    assert_eq!(m("0.13"), Magic::Fails);
    assert_eq!(m("1000.130000"), Magic::Fails);
    assert_eq!(m("5.14"), Magic::RefusedAtHandover);
    assert_eq!(m("5.15"), Magic::AwaitsSignature);
    assert_eq!(m("5.16"), Magic::Outage);
    for plain in ["5", "5.1", "5.131", "13", "5.013", "5.17", "0.000013"] {
        assert_eq!(m(plain), Magic::None, "{plain}");
    }
    // Fewer than two decimals: no magic.
    assert_eq!(Magic::of(Amount::from_base_units(13), 0), Magic::None);
    assert_eq!(Magic::of(Amount::from_base_units(513), 2), Magic::Fails);
}

#[test]
fn a_withdrawal_walks_the_default_schedule_to_completion_within_ten_seconds() {
    let config = ChainConfig::default();
    let w = withdrawal("USDT_ETHEREUM", "25");
    let s = |ms| status_at(&config, &w, ms);
    assert_eq!(s(0).status, TransactionStatus::PendingSignature);
    assert_eq!(s(0).tx_hash, None);
    assert_eq!(s(0).confirmations, None);
    assert_eq!(s(1_999).status, TransactionStatus::PendingSignature);
    assert_eq!(s(2_000).status, TransactionStatus::Broadcasting);
    assert!(s(2_000).tx_hash.is_some());
    assert_eq!(s(3_999).status, TransactionStatus::Broadcasting);
    let c = |seen| Some(Confirmations { seen, required: 6 });
    assert_eq!(s(4_000).status, TransactionStatus::Confirming);
    assert_eq!(s(4_000).confirmations, c(0));
    assert_eq!(s(5_000).confirmations, c(1));
    assert_eq!(s(9_999).status, TransactionStatus::Confirming);
    assert_eq!(s(9_999).confirmations, c(5));
    assert_eq!(s(10_000).status, TransactionStatus::Completed);
    assert_eq!(s(10_000).confirmations, c(6));
    assert_eq!(s(3_600_000).status, TransactionStatus::Completed);
    assert_eq!(s(3_600_000).confirmations, c(6));
    assert_eq!(s(0).provider_ref, format!("sandbox-{}", w.transaction_id));
    // Every status carries the same reference and, once signed, the same hash.
    assert_eq!(s(2_000).tx_hash, s(10_000).tx_hash);
    assert!(s(10_000).failure_reason.is_none());
    // Before it was recorded (a clock behind): still just handed over.
    assert_eq!(s(-5_000).status, TransactionStatus::PendingSignature);
    for network in Network::ALL {
        assert!(
            config.withdrawal_duration(network) <= Duration::from_secs(10),
            "{network:?}"
        );
    }
}

#[test]
fn the_schedule_follows_the_configuration() {
    let mut config = ChainConfig::new(Duration::from_millis(100), Duration::from_millis(100));
    config.set_network(
        Network::Solana,
        NetworkTiming::new(Duration::from_millis(50), 3).expect("timing"),
    );
    let w = withdrawal("USDC_SOLANA", "1");
    assert_eq!(
        status_at(&config, &w, 150).status,
        TransactionStatus::Broadcasting
    );
    let confirming = status_at(&config, &w, 299);
    assert_eq!(confirming.status, TransactionStatus::Confirming);
    assert_eq!(
        confirming.confirmations,
        Some(Confirmations {
            seen: 1,
            required: 3
        })
    );
    assert_eq!(
        status_at(&config, &w, 350).status,
        TransactionStatus::Completed
    );
    // Other networks keep their defaults.
    assert_eq!(
        config.network(Network::Ethereum),
        ChainConfig::default_timing(Network::Ethereum)
    );
    assert!(NetworkTiming::new(Duration::from_millis(50), 0).is_err());
    assert!(NetworkTiming::new(Duration::ZERO, 3).is_err());
}

#[test]
fn thirteen_fails_at_broadcast() {
    let config = ChainConfig::default();
    let w = withdrawal("USDC_BASE", "40.13");
    assert_eq!(
        status_at(&config, &w, 0).status,
        TransactionStatus::PendingSignature
    );
    assert_eq!(
        status_at(&config, &w, 2_500).status,
        TransactionStatus::Broadcasting
    );
    let failed = status_at(&config, &w, 4_000);
    assert_eq!(failed.status, TransactionStatus::Failed);
    assert_eq!(failed.failure_reason.as_deref(), Some(BROADCAST_FAILURE));
    assert!(BROADCAST_FAILURE.contains("sandbox simulation"));
    assert_eq!(
        status_at(&config, &w, 3_600_000).status,
        TransactionStatus::Failed
    );
}

#[test]
fn fourteen_is_refused_at_hand_over_and_never_known() {
    let config = ChainConfig::default();
    let w = withdrawal("USDT_ETHEREUM", "7.14");
    let refused = submit(&config, &w, at_ms(0)).expect_err("refused");
    assert_eq!(refused, ProviderError::Rejected(HANDOVER_REFUSAL.into()));
    assert!(!refused.is_retryable());
    assert_eq!(
        withdrawal_status(&config, &w, at_ms(60_000)),
        Err(ProviderError::NotFound)
    );
}

#[test]
fn fifteen_waits_for_a_signature_until_the_approval_expires() {
    let config = ChainConfig::default();
    let w = withdrawal("USDT_ETHEREUM", "7.15");
    let waiting = submit(&config, &w, at_ms(0)).expect("accepted");
    assert_eq!(waiting.status, TransactionStatus::PendingSignature);
    assert_eq!(
        status_at(&config, &w, 3_599_999).status,
        TransactionStatus::PendingSignature
    );
    let expired = status_at(&config, &w, 3_600_000);
    assert_eq!(expired.status, TransactionStatus::Failed);
    assert_eq!(expired.failure_reason.as_deref(), Some(SIGNATURE_EXPIRED));
    assert_eq!(expired.tx_hash, None, "never signed");
}

#[test]
fn sixteen_times_out_first_then_goes_through() {
    let config = ChainConfig::default();
    let w = withdrawal("USDT_ETHEREUM", "7.16");
    let down = submit(&config, &w, at_ms(4_999)).expect_err("outage");
    assert!(down.is_retryable(), "{down:?}");
    assert_eq!(
        withdrawal_status(&config, &w, at_ms(4_999)),
        Err(ProviderError::NotFound),
        "nothing was sent during the outage"
    );
    // Then the schedule runs from when it was recorded, as for any withdrawal.
    let sent = submit(&config, &w, at_ms(5_000)).expect("sent");
    assert_eq!(sent.status, TransactionStatus::Confirming);
    assert_eq!(sent.confirmations.map(|c| c.seen), Some(1));
    assert_eq!(
        status_at(&config, &w, 10_000).status,
        TransactionStatus::Completed
    );
}

#[test]
fn a_repeated_submit_gets_the_same_answer() {
    let config = ChainConfig::default();
    let w = withdrawal("USDT_ETHEREUM", "3");
    for ms in [0, 2_500, 7_000, 60_000] {
        let first = submit(&config, &w, at_ms(ms)).expect("first");
        let again = submit(&config, &w, at_ms(ms)).expect("again");
        assert_eq!(first, again, "{ms}");
        assert_eq!(first, status_at(&config, &w, ms), "{ms}");
    }
}

#[test]
fn hashes_are_deterministic_and_valid_looking_per_network() {
    for network in Network::ALL {
        let a = tx_hash(network, "tx_01");
        assert_eq!(a, tx_hash(network, "tx_01"), "{network:?}");
        assert_ne!(a, tx_hash(network, "tx_02"), "{network:?}");
        match network.address_family() {
            AddressFamily::Evm => {
                assert_eq!(a.len(), 66, "{a}");
                assert!(a.starts_with("0x"));
                assert!(a[2..]
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
            }
            AddressFamily::Solana => {
                let bytes = bs58::decode(&a).into_vec().expect("base58");
                assert_eq!(bytes.len(), 64, "a signature: {a}");
            }
            AddressFamily::Sui => {
                let bytes = bs58::decode(&a).into_vec().expect("base58");
                assert_eq!(bytes.len(), 32, "a digest: {a}");
            }
        }
    }
    // EVM networks share the derivation: the hash is of our id, not of the chain.
    assert_eq!(tx_hash(Network::Ethereum, "x"), tx_hash(Network::Base, "x"));
    // Pinned: changing the derivation would change every recorded sandbox hash.
    assert_eq!(
        tx_hash(Network::Ethereum, "tx_01"),
        format!(
            "0x{}",
            hex::encode(Sha256::digest(b"custody-sandbox/v1/tx\ntx_01"))
        )
    );
}

fn deposit(code: &str, amount: &str, seen_ms: i64) -> SimulatedDeposit {
    let asset = asset(code);
    SimulatedDeposit {
        id: Ulid::from_parts(unix_ms(at_ms(seen_ms)), 99),
        asset,
        amount: Amount::parse(amount, asset.decimals()).expect("amount"),
        address: address(asset),
    }
}

#[test]
fn a_deposit_reference_round_trips_for_every_network() {
    for a in custody_core::asset::CATALOGUE.iter().map(|a| a.id) {
        let d = deposit(&a.to_string(), "12.5", 0);
        let reference = d.to_string();
        assert!(reference.starts_with(DEPOSIT_REF_PREFIX), "{reference}");
        assert_eq!(SimulatedDeposit::parse(&reference, a), Ok(d.clone()), "{a}");
        assert_eq!(d.seen_at(), T0);
    }
    let usdt = asset("USDT_ETHEREUM");
    for foreign in [
        "",
        "sandbox-tx_01",
        "sbx_dep_",
        "sbx_dep_notaulid_1_0x0707070707070707070707070707070707070707",
        "sbx_dep_01JEQ0000000000000000000A_x_0x0707070707070707070707070707070707070707",
        "sbx_dep_01JEQ0000000000000000000A_1_not-an-address",
        "0123456789abcdef0123456789abcdef",
    ] {
        assert_eq!(
            SimulatedDeposit::parse(foreign, usdt),
            Err(ProviderError::NotFound),
            "{foreign}"
        );
    }
}

#[test]
fn a_deposit_confirms_block_by_block() {
    let config = ChainConfig::default();
    let d = deposit("USDT_ETHEREUM", "100", 0);
    let at = |ms| d.status(&config, at_ms(ms));
    let c = |seen| Some(Confirmations { seen, required: 6 });
    assert_eq!(at(0).status, TransactionStatus::Confirming);
    assert_eq!(at(0).confirmations, c(0));
    assert_eq!(at(2_500).confirmations, c(2));
    assert_eq!(at(5_999).status, TransactionStatus::Confirming);
    assert_eq!(at(6_000).status, TransactionStatus::Completed);
    assert_eq!(at(6_000).confirmations, c(6));
    assert_eq!(at(600_000).confirmations, c(6));
    assert_eq!(at(0).provider_ref, d.to_string());
    assert_eq!(at(0).tx_hash, at(6_000).tx_hash);
    assert_eq!(at(0).address, d.address);
    assert_eq!(at(0).amount, d.amount);
}

#[test]
fn a_thirteen_deposit_fails_halfway() {
    let config = ChainConfig::default();
    let d = deposit("USDC_SOLANA", "9.13", 0);
    // Solana by default: 15 confirmations 400 ms apart; fails at 8.
    assert_eq!(
        d.status(&config, at_ms(2_799)).status,
        TransactionStatus::Confirming
    );
    assert_eq!(
        d.status(&config, at_ms(3_200)).status,
        TransactionStatus::Failed
    );
    assert_eq!(
        d.status(&config, at_ms(60_000)).status,
        TransactionStatus::Failed
    );
}

fn provider(clock: Arc<FixedClock>) -> SandboxProvider {
    SandboxProvider::new(ChainConfig::default(), clock)
}

#[tokio::test]
async fn the_provider_simulates_deposits_statelessly() {
    let clock = Arc::new(FixedClock::new(T0));
    let sandbox = provider(clock.clone());
    let usdt = asset("USDT_ETHEREUM");
    let request = SimulatedDepositRequest {
        nonce: Ulid::from_parts(1, 1234),
        asset: usdt,
        amount: Amount::from_base_units(5_000_000),
        address: address(usdt),
        settlement: Settlement::Realistic,
    };
    let first = sandbox.simulate_deposit(&request).await.expect("simulated");
    assert_eq!(first.status, TransactionStatus::Confirming);
    assert_eq!(
        first.confirmations,
        Some(Confirmations {
            seen: 0,
            required: 6
        })
    );
    // A new provider (a restart) reads the same deposit back, and it has progressed.
    clock.set(at_ms(3_000));
    let restarted = provider(clock.clone());
    let later = restarted
        .deposit_status(&first.provider_ref, usdt)
        .await
        .expect("read back");
    assert_eq!(later.provider_ref, first.provider_ref);
    assert_eq!(later.confirmations.map(|c| c.seen), Some(3));
    clock.set(at_ms(6_000));
    let done = restarted
        .deposit_status(&first.provider_ref, usdt)
        .await
        .expect("read back");
    assert_eq!(done.status, TransactionStatus::Completed);
    assert_eq!(
        restarted.deposit_status("bitgo-transfer", usdt).await,
        Err(ProviderError::NotFound)
    );

    // Instant: final when first reported, and still final when read back.
    let instant = sandbox
        .simulate_deposit(&SimulatedDepositRequest {
            nonce: Ulid::from_parts(1, 5678),
            settlement: Settlement::Instant,
            ..request.clone()
        })
        .await
        .expect("simulated");
    assert_eq!(instant.status, TransactionStatus::Completed);
    assert_ne!(instant.provider_ref, first.provider_ref);
    assert_eq!(
        sandbox
            .deposit_status(&instant.provider_ref, usdt)
            .await
            .expect("read back")
            .status,
        TransactionStatus::Completed
    );
}

#[tokio::test]
async fn the_provider_counts_hand_overs_per_transaction() {
    let clock = Arc::new(FixedClock::new(T0));
    let sandbox = provider(clock);
    let shared = sandbox.clone();
    let w = withdrawal("USDT_ETHEREUM", "2");
    let mut other = withdrawal("USDT_ETHEREUM", "2.14");
    other.transaction_id = TransactionId::from_ulid(Ulid::from_parts(1, 43));
    assert_eq!(sandbox.sends(w.transaction_id), 0);
    let first = sandbox.submit_withdrawal(&w).await.expect("sent");
    let again = shared.submit_withdrawal(&w).await.expect("sent");
    assert_eq!(first, again);
    assert!(sandbox.submit_withdrawal(&other).await.is_err());
    // Clones share the count; refused hand-overs count too.
    assert_eq!(sandbox.sends(w.transaction_id), 2);
    assert_eq!(shared.sends(other.transaction_id), 1);
    assert_eq!(sandbox.all_sends().len(), 2);
    // Reading the status is not a hand-over.
    sandbox.withdrawal_status(&w).await.expect("status");
    assert_eq!(sandbox.sends(w.transaction_id), 2);
}
