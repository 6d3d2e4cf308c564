use super::*;

fn wid(n: u64) -> WalletId {
    WalletId::from_ulid(ulid::Ulid::from_parts(n, 0))
}

fn usdt() -> AssetId {
    AssetId::parse("USDT_ETHEREUM").unwrap()
}

fn all_movements(amount: Amount) -> Vec<Movement> {
    let (a, b, asset) = (wid(1), wid(2), usdt());
    vec![
        Movement::DepositDetected {
            wallet: a,
            asset,
            amount,
        },
        Movement::DepositCompleted { wallet: a, amount },
        Movement::DepositFailed {
            wallet: a,
            asset,
            amount,
        },
        Movement::WithdrawalSubmitted { wallet: a, amount },
        Movement::WithdrawalCompleted {
            wallet: a,
            asset,
            amount,
        },
        Movement::WithdrawalReleased { wallet: a, amount },
        Movement::Transfer {
            from: a,
            to: b,
            amount,
        },
    ]
}

#[test]
fn every_movement_sums_to_zero() {
    for m in all_movements(Amount::from_base_units(1_234_567)) {
        let postings = m.postings().unwrap();
        assert!(sums_to_zero(&postings), "{m:?}");
        assert!(postings[0].delta < 0 && postings[1].delta > 0, "{m:?}");
    }
}

#[test]
fn amounts_beyond_i128_are_refused() {
    let huge = Amount::from_base_units(u128::MAX);
    for m in all_movements(huge) {
        assert_eq!(m.postings(), Err(LedgerError::AmountTooLarge));
    }
}

#[test]
fn deposit_lifecycle_moves_pending_then_available() {
    let (a, asset, amount) = (wid(1), usdt(), Amount::from_base_units(100));
    let mut balances = BTreeMap::from([(a, Balances::default())]);
    apply(
        &mut balances,
        &Movement::DepositDetected {
            wallet: a,
            asset,
            amount,
        }
        .postings()
        .unwrap(),
    )
    .unwrap();
    assert_eq!(balances[&a].pending, amount);
    apply(
        &mut balances,
        &Movement::DepositCompleted { wallet: a, amount }
            .postings()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(balances[&a].pending, Amount::ZERO);
    assert_eq!(balances[&a].available, amount);
}

#[test]
fn withdrawal_holds_then_releases_or_completes() {
    let (a, asset) = (wid(1), usdt());
    let amount = Amount::from_base_units(40);
    let start = Balances {
        available: Amount::from_base_units(100),
        ..Balances::default()
    };
    let mut balances = BTreeMap::from([(a, start)]);
    apply(
        &mut balances,
        &Movement::WithdrawalSubmitted { wallet: a, amount }
            .postings()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(balances[&a].available, Amount::from_base_units(60));
    assert_eq!(balances[&a].held, amount);
    let mut released = balances.clone();
    apply(
        &mut released,
        &Movement::WithdrawalReleased { wallet: a, amount }
            .postings()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(released[&a], start);
    apply(
        &mut balances,
        &Movement::WithdrawalCompleted {
            wallet: a,
            asset,
            amount,
        }
        .postings()
        .unwrap(),
    )
    .unwrap();
    assert_eq!(balances[&a].held, Amount::ZERO);
    assert_eq!(balances[&a].total(), Some(Amount::from_base_units(60)));
}

#[test]
fn apply_is_all_or_nothing() {
    let (a, b) = (wid(1), wid(2));
    let mut balances = BTreeMap::from([
        (
            a,
            Balances {
                available: Amount::from_base_units(5),
                ..Balances::default()
            },
        ),
        (b, Balances::default()),
    ]);
    let before = balances.clone();
    let postings = Movement::Transfer {
        from: a,
        to: b,
        amount: Amount::from_base_units(6),
    }
    .postings()
    .unwrap();
    assert!(matches!(
        apply(&mut balances, &postings),
        Err(LedgerError::Balance(BalanceError::Insufficient { .. }))
    ));
    assert_eq!(balances, before);
    // The credit leg comes second: a missing credited wallet must not leave the debit applied.
    let mut only_a = BTreeMap::from([(a, before[&a])]);
    let small = Movement::Transfer {
        from: a,
        to: b,
        amount: Amount::from_base_units(1),
    }
    .postings()
    .unwrap();
    assert_eq!(
        apply(&mut only_a, &small),
        Err(LedgerError::UnknownWallet(b))
    );
    assert_eq!(only_a[&a], before[&a]);
}

#[test]
fn replay_rebuilds_balances_from_entries() {
    let (a, b, asset) = (wid(1), wid(2), usdt());
    let tx = TransactionId::from_ulid(ulid::Ulid::from_parts(9, 9));
    let at = OffsetDateTime::UNIX_EPOCH;
    let mut entries = Vec::new();
    for m in [
        Movement::DepositDetected {
            wallet: a,
            asset,
            amount: Amount::from_base_units(50),
        },
        Movement::DepositCompleted {
            wallet: a,
            amount: Amount::from_base_units(50),
        },
        Movement::Transfer {
            from: a,
            to: b,
            amount: Amount::from_base_units(20),
        },
    ] {
        entries.extend(LedgerEntry::for_postings(
            tx,
            asset,
            &m.postings().unwrap(),
            at,
        ));
    }
    assert_eq!(
        replay(a, &entries).unwrap().available,
        Amount::from_base_units(30)
    );
    assert_eq!(
        replay(b, &entries).unwrap().available,
        Amount::from_base_units(20)
    );
    let corrupt = &entries[2..]; // a transfer out of an empty wallet
    assert!(replay(a, corrupt).is_err());
}
