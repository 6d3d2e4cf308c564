use super::*;
use VaultStatus::*;

const ALLOWED: [(VaultStatus, VaultStatus); 4] = [
    (Active, Frozen),
    (Frozen, Active),
    (Active, Archived),
    (Frozen, Archived),
];

#[test]
fn active_to_frozen() {
    assert_eq!(Active.transition(Frozen), Ok(()));
}
#[test]
fn frozen_to_active() {
    assert_eq!(Frozen.transition(Active), Ok(()));
}
#[test]
fn active_to_archived() {
    assert_eq!(Active.transition(Archived), Ok(()));
}
#[test]
fn frozen_to_archived() {
    assert_eq!(Frozen.transition(Archived), Ok(()));
}
#[test]
fn archived_is_terminal() {
    for to in VaultStatus::ALL {
        assert!(Archived.transition(to).is_err(), "Archived -> {to}");
    }
}
#[test]
fn self_transitions_are_refused() {
    for s in VaultStatus::ALL {
        assert!(s.transition(s).is_err(), "{s} -> {s}");
    }
}
#[test]
fn table_is_exactly_the_allowed_edges() {
    for from in VaultStatus::ALL {
        for to in VaultStatus::ALL {
            assert_eq!(
                from.transition(to).is_ok(),
                ALLOWED.contains(&(from, to)),
                "{from} -> {to}"
            );
        }
    }
}

pub(crate) fn vault(status: VaultStatus) -> Vault {
    Vault {
        id: VaultId::from_ulid(ulid::Ulid::from_parts(1, 1)),
        tenant_id: TenantId::from_ulid(ulid::Ulid::from_parts(1, 2)),
        kind: VaultKind::Customer,
        external_ref: None,
        name: VaultName::parse("Alice").unwrap(),
        metadata: Metadata::default(),
        status,
        version: 1,
        created_at: OffsetDateTime::UNIX_EPOCH,
        updated_at: OffsetDateTime::UNIX_EPOCH,
    }
}

#[test]
fn frozen_vault_receives_but_cannot_send() {
    let v = vault(Frozen);
    assert_eq!(v.ensure_can_send(), Err(VaultRefusal::Frozen));
    assert_eq!(v.ensure_can_receive(), Ok(()));
    let a = vault(Archived);
    assert_eq!(a.ensure_can_send(), Err(VaultRefusal::Archived));
    assert_eq!(a.ensure_can_receive(), Err(VaultRefusal::Archived));
    assert_eq!(vault(Active).ensure_can_send(), Ok(()));
}

#[test]
fn set_status_bumps_version_only_on_success() {
    let mut v = vault(Active);
    let later = OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(5);
    v.set_status(Frozen, later).unwrap();
    assert_eq!((v.status, v.version, v.updated_at), (Frozen, 2, later));
    assert!(v.set_status(Frozen, later).is_err());
    assert_eq!(v.version, 2);
}

#[test]
fn status_parses_case_insensitively() {
    assert_eq!(VaultStatus::parse("frozen"), Some(Frozen));
    assert_eq!(VaultStatus::parse("Deleted"), None);
}
