use super::*;
use TransactionStatus::*;

fn assert_allowed(from: TransactionStatus, to: TransactionStatus) {
    assert_eq!(
        from.transition(to),
        Ok(()),
        "{from} -> {to} should be allowed"
    );
}
fn assert_forbidden(from: TransactionStatus, to: TransactionStatus) {
    assert_eq!(
        from.transition(to),
        Err(TransitionError {
            machine: "transaction",
            from,
            to
        }),
        "{from} -> {to} should be forbidden"
    );
}

// Allowed edges, one test each.
#[test]
fn submitted_to_pending_signature() {
    assert_allowed(Submitted, PendingSignature)
}
#[test]
fn pending_signature_to_broadcasting() {
    assert_allowed(PendingSignature, Broadcasting)
}
#[test]
fn broadcasting_to_confirming() {
    assert_allowed(Broadcasting, Confirming)
}
#[test]
fn confirming_to_completed() {
    assert_allowed(Confirming, Completed)
}
#[test]
fn submitted_to_failed() {
    assert_allowed(Submitted, Failed)
}
#[test]
fn pending_signature_to_failed() {
    assert_allowed(PendingSignature, Failed)
}
#[test]
fn broadcasting_to_failed() {
    assert_allowed(Broadcasting, Failed)
}
#[test]
fn confirming_to_failed() {
    assert_allowed(Confirming, Failed)
}
#[test]
fn submitted_to_cancelled() {
    assert_allowed(Submitted, Cancelled)
}
#[test]
fn pending_signature_to_cancelled() {
    assert_allowed(PendingSignature, Cancelled)
}

// Forbidden edges worth naming.
#[test]
fn broadcasting_cannot_be_cancelled() {
    assert_forbidden(Broadcasting, Cancelled)
}
#[test]
fn confirming_cannot_be_cancelled() {
    assert_forbidden(Confirming, Cancelled)
}
#[test]
fn steps_cannot_be_skipped() {
    assert_forbidden(Submitted, Broadcasting);
    assert_forbidden(Submitted, Confirming);
    assert_forbidden(Submitted, Completed);
    assert_forbidden(PendingSignature, Confirming);
    assert_forbidden(Broadcasting, Completed);
}
#[test]
fn no_going_back() {
    assert_forbidden(PendingSignature, Submitted);
    assert_forbidden(Broadcasting, PendingSignature);
    assert_forbidden(Confirming, Broadcasting);
}
#[test]
fn terminal_statuses_are_final() {
    for from in [Completed, Failed, Cancelled] {
        for to in TransactionStatus::ALL {
            assert_forbidden(from, to);
        }
    }
}

/// The whole table: exactly the ten edges above are allowed.
#[test]
fn the_table_has_exactly_ten_edges() {
    let allowed: Vec<_> = TransactionStatus::ALL
        .into_iter()
        .flat_map(|f| TransactionStatus::ALL.into_iter().map(move |t| (f, t)))
        .filter(|(f, t)| f.transition(*t).is_ok())
        .collect();
    assert_eq!(allowed.len(), 10, "{allowed:?}");
}

#[test]
fn path_to_walks_forward_steps() {
    assert_eq!(
        Submitted.path_to(Confirming).unwrap(),
        vec![PendingSignature, Broadcasting, Confirming]
    );
    assert_eq!(Confirming.path_to(Completed).unwrap(), vec![Completed]);
    assert_eq!(Broadcasting.path_to(Failed).unwrap(), vec![Failed]);
    assert!(Confirming.path_to(Submitted).is_err());
    assert!(Completed.path_to(Failed).is_err());
    assert!(Broadcasting.path_to(Cancelled).is_err());
}

#[test]
fn stale_reports() {
    assert!(Confirming.is_stale_report(Submitted));
    assert!(Confirming.is_stale_report(Broadcasting));
    assert!(Completed.is_stale_report(Confirming));
    assert!(Failed.is_stale_report(Submitted));
    assert!(!Confirming.is_stale_report(Confirming));
    assert!(!Submitted.is_stale_report(Confirming));
    assert!(
        !Confirming.is_stale_report(Failed),
        "terminal reports are never stale"
    );
    assert!(
        !Completed.is_stale_report(Failed),
        "a contradiction must surface, not vanish"
    );
}

fn tx(kind: TransactionKind) -> Transaction {
    let w = |n| WalletId::from_ulid(ulid::Ulid::from_parts(n, 0));
    Transaction::new(
        NewTransaction {
            id: TransactionId::from_ulid(ulid::Ulid::from_parts(7, 7)),
            tenant_id: TenantId::from_ulid(ulid::Ulid::from_parts(1, 1)),
            kind,
            asset: AssetId::parse("USDC_BASE").unwrap(),
            amount: Amount::from_base_units(10),
            source_wallet_id: (kind != TransactionKind::Deposit).then(|| w(1)),
            destination_wallet_id: (kind != TransactionKind::Withdrawal).then(|| w(2)),
            reference: None,
        },
        OffsetDateTime::UNIX_EPOCH,
    )
}

#[test]
fn kinds_start_where_the_spec_says() {
    assert_eq!(tx(TransactionKind::Deposit).status, Confirming);
    assert_eq!(tx(TransactionKind::Transfer).status, Completed);
    assert_eq!(tx(TransactionKind::Withdrawal).status, Submitted);
    assert_eq!(tx(TransactionKind::Withdrawal).history.len(), 1);
}

#[test]
fn advance_records_history_and_version() {
    let mut t = tx(TransactionKind::Withdrawal);
    let later = OffsetDateTime::UNIX_EPOCH + time::Duration::minutes(1);
    t.advance(PendingSignature, later).unwrap();
    assert_eq!(t.version, 2);
    assert_eq!(
        t.history.last(),
        Some(&StatusChange {
            status: PendingSignature,
            at: later
        })
    );
    assert!(t.advance(Completed, later).is_err());
    assert_eq!(
        (t.status, t.version, t.history.len()),
        (PendingSignature, 2, 2)
    );
}

#[test]
fn ledger_effects_follow_the_lifecycle() {
    let d = tx(TransactionKind::Deposit);
    assert!(matches!(
        d.ledger_effect(Confirming),
        Some(Movement::DepositDetected { .. })
    ));
    assert!(matches!(
        d.ledger_effect(Completed),
        Some(Movement::DepositCompleted { .. })
    ));
    assert!(matches!(
        d.ledger_effect(Failed),
        Some(Movement::DepositFailed { .. })
    ));
    let w = tx(TransactionKind::Withdrawal);
    assert!(matches!(
        w.ledger_effect(Submitted),
        Some(Movement::WithdrawalSubmitted { .. })
    ));
    for quiet in [PendingSignature, Broadcasting, Confirming] {
        assert_eq!(w.ledger_effect(quiet), None, "{quiet}");
    }
    assert!(matches!(
        w.ledger_effect(Completed),
        Some(Movement::WithdrawalCompleted { .. })
    ));
    assert!(matches!(
        w.ledger_effect(Failed),
        Some(Movement::WithdrawalReleased { .. })
    ));
    assert!(matches!(
        w.ledger_effect(Cancelled),
        Some(Movement::WithdrawalReleased { .. })
    ));
    let t = tx(TransactionKind::Transfer);
    assert!(matches!(
        t.ledger_effect(Completed),
        Some(Movement::Transfer { .. })
    ));
}
