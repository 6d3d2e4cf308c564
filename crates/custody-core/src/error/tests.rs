use super::*;

#[test]
fn every_variant_has_a_code_and_kind() {
    let cases: Vec<(Error, &str, ErrorKind)> = vec![
        (
            Error::field("amount", "amount_zero", "zero"),
            "amount_zero",
            ErrorKind::Unprocessable,
        ),
        (
            Error::AssetNotEnabled(AssetId::parse("USDT_ETHEREUM").unwrap()),
            "asset_not_enabled",
            ErrorKind::Unprocessable,
        ),
        (
            Error::InsufficientFunds {
                available: Amount::ZERO,
                requested: Amount::from_base_units(1),
            },
            "insufficient_funds",
            ErrorKind::Unprocessable,
        ),
        (
            Error::Vault(VaultRefusal::Frozen),
            "vault_frozen",
            ErrorKind::Unprocessable,
        ),
        (
            Error::MissingScope(Scope::VaultsWrite),
            "missing_scope",
            ErrorKind::Forbidden,
        ),
        (
            Error::Access(AccessDenied::NotApproved),
            "tenant_not_approved",
            ErrorKind::Forbidden,
        ),
        (
            Error::NotFound(ResourceKind::Wallet),
            "resource_not_found",
            ErrorKind::NotFound,
        ),
        (
            Error::Store(StoreError::NotFound),
            "resource_not_found",
            ErrorKind::NotFound,
        ),
        (
            Error::Store(StoreError::Conflict {
                constraint: "x".into(),
            }),
            "conflict",
            ErrorKind::Conflict,
        ),
        (
            Error::Store(StoreError::Unavailable("down".into())),
            "service_unavailable",
            ErrorKind::Unavailable,
        ),
        (
            Error::Internal("bug".into()),
            "internal_error",
            ErrorKind::Internal,
        ),
        (
            Error::Provider(ProviderError::Unavailable("timeout".into())),
            "provider_unavailable",
            ErrorKind::Provider,
        ),
    ];
    for (error, code, kind) in cases {
        assert_eq!(error.code(), code, "{error:?}");
        assert_eq!(error.kind(), kind, "{error:?}");
    }
}

#[test]
fn insufficient_balance_becomes_insufficient_funds() {
    let e: Error = LedgerError::Balance(BalanceError::Insufficient {
        bucket: crate::wallet::Bucket::Available,
        balance: Amount::from_base_units(3),
        requested: Amount::from_base_units(5),
    })
    .into();
    assert!(matches!(e, Error::InsufficientFunds { .. }));
    assert!(!e.is_retryable());
}

#[test]
fn retryability() {
    assert!(Error::Provider(ProviderError::Unavailable("x".into())).is_retryable());
    assert!(Error::Store(StoreError::Unavailable("x".into())).is_retryable());
    assert!(!Error::Provider(ProviderError::Rejected("bad".into())).is_retryable());
}
