//! The address book: a tenant's allow-list of withdrawal destinations, per environment.
//!
//! Withdrawals may only target an entry **active now**, whose network is the withdrawn asset's
//! and, when the entry names an asset, is that asset. A tenant may have a cooling-off period
//! (set by operators): a new entry is then `Pending` until its `activates_at`, so a leaked key
//! cannot add an address and withdraw to it at once. This is the control that limits the damage of
//! a leaked API key: the attacker can only send to addresses the partner already trusted.
//! Entries are never edited in place; deleting one keeps the row (status `deleted`) so past
//! withdrawals still point at it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::asset::{AssetId, Network};
use crate::chain_address::ChainAddress;
use crate::id::{AddressBookEntryId, TenantId};
use crate::text::Label;

/// An entry's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryStatus {
    /// Usable as a withdrawal destination.
    Active,
    /// Removed by the partner; kept for history.
    Deleted,
}

/// What an entry is at a given time: its stored status, with `Pending` while an active entry
/// is still cooling off ([`AddressBookEntry::state_at`]). Never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EntryState {
    /// Usable now.
    Active,
    /// Not deleted, but not usable before `activates_at`.
    Pending,
    /// Removed by the partner.
    Deleted,
}

impl EntryState {
    /// The wire name (`Active`, `Pending`, `Deleted`).
    pub const fn as_str(self) -> &'static str {
        match self {
            EntryState::Active => "Active",
            EntryState::Pending => "Pending",
            EntryState::Deleted => "Deleted",
        }
    }
}

/// Why an entry cannot receive a withdrawal of an asset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DestinationRefusal {
    /// The entry was deleted (422 `address_book_entry_not_active`).
    #[error("the address-book entry has been deleted")]
    Inactive,
    /// The entry is still cooling off (422 `address_book_entry_not_active`).
    #[error("the address-book entry is not active before {activates_at}")]
    NotYetActive {
        /// When it becomes usable.
        activates_at: OffsetDateTime,
    },
    /// The entry is on another network than the asset (422 `destination_network_mismatch`).
    #[error("the address-book entry is on {entry} but the asset is on {asset}")]
    NetworkMismatch {
        /// The entry's network.
        entry: Network,
        /// The asset's network.
        asset: Network,
    },
    /// The entry is restricted to another asset (422 `destination_asset_mismatch`).
    #[error("the address-book entry only accepts {0}")]
    AssetMismatch(AssetId),
}

impl DestinationRefusal {
    /// The stable machine code.
    pub const fn code(&self) -> &'static str {
        match self {
            DestinationRefusal::Inactive | DestinationRefusal::NotYetActive { .. } => {
                "address_book_entry_not_active"
            }
            DestinationRefusal::NetworkMismatch { .. } => "destination_network_mismatch",
            DestinationRefusal::AssetMismatch(_) => "destination_asset_mismatch",
        }
    }
}

/// An allow-listed destination.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressBookEntry {
    pub id: AddressBookEntryId,
    pub tenant_id: TenantId,
    pub network: Network,
    /// The validated, canonical address.
    pub address: ChainAddress,
    /// Partner label (required: a human must recognise it in a withdrawal review).
    pub label: Label,
    /// When set, only this asset may be sent here.
    pub asset: Option<AssetId>,
    pub status: EntryStatus,
    /// Increases on every change.
    pub version: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub deleted_at: Option<OffsetDateTime>,
    /// When the entry becomes usable: `created_at` plus the tenant's cooling-off period at
    /// creation (`created_at` when it has none).
    #[serde(with = "time::serde::rfc3339")]
    pub activates_at: OffsetDateTime,
}

impl AddressBookEntry {
    /// May a withdrawal of `asset` go to this entry?
    ///
    /// # Errors
    /// [`DestinationRefusal`] naming the first failed condition.
    pub fn accepts(&self, asset: AssetId) -> Result<(), DestinationRefusal> {
        if self.status != EntryStatus::Active {
            return Err(DestinationRefusal::Inactive);
        }
        if self.network != asset.network() {
            return Err(DestinationRefusal::NetworkMismatch {
                entry: self.network,
                asset: asset.network(),
            });
        }
        match self.asset {
            Some(only) if only != asset => Err(DestinationRefusal::AssetMismatch(only)),
            _ => Ok(()),
        }
    }

    /// The entry's state at `now`: `Pending` while an active entry is cooling off.
    pub fn state_at(&self, now: OffsetDateTime) -> EntryState {
        match self.status {
            EntryStatus::Deleted => EntryState::Deleted,
            EntryStatus::Active if now < self.activates_at => EntryState::Pending,
            EntryStatus::Active => EntryState::Active,
        }
    }

    /// May a withdrawal of `asset` go to this entry at `now`? As [`accepts`](Self::accepts),
    /// and the entry must have finished cooling off.
    ///
    /// # Errors
    /// [`DestinationRefusal`] naming the first failed condition.
    pub fn accepts_at(
        &self,
        asset: AssetId,
        now: OffsetDateTime,
    ) -> Result<(), DestinationRefusal> {
        self.accepts(asset)?;
        if self.state_at(now) == EntryState::Pending {
            return Err(DestinationRefusal::NotYetActive {
                activates_at: self.activates_at,
            });
        }
        Ok(())
    }

    /// Marks the entry deleted.
    ///
    /// # Errors
    /// [`DestinationRefusal::Inactive`] when it already was.
    pub fn delete(&mut self, now: OffsetDateTime) -> Result<(), DestinationRefusal> {
        if self.status == EntryStatus::Deleted {
            return Err(DestinationRefusal::Inactive);
        }
        self.status = EntryStatus::Deleted;
        self.deleted_at = Some(now);
        self.version += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(asset: Option<&str>) -> AddressBookEntry {
        AddressBookEntry {
            id: AddressBookEntryId::from_ulid(ulid::Ulid::from_parts(1, 1)),
            tenant_id: TenantId::from_ulid(ulid::Ulid::from_parts(1, 2)),
            network: Network::Ethereum,
            address: ChainAddress::parse(
                Network::Ethereum,
                "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
            )
            .unwrap(),
            label: Label::parse("cold wallet").unwrap(),
            asset: asset.map(|a| AssetId::parse(a).unwrap()),
            status: EntryStatus::Active,
            version: 1,
            created_at: OffsetDateTime::UNIX_EPOCH,
            deleted_at: None,
            activates_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn accepts_assets_on_its_network() {
        let e = entry(None);
        assert_eq!(e.accepts(AssetId::parse("USDT_ETHEREUM").unwrap()), Ok(()));
        assert_eq!(e.accepts(AssetId::parse("XAUT_ETHEREUM").unwrap()), Ok(()));
        assert_eq!(
            e.accepts(AssetId::parse("USDC_BASE").unwrap()),
            Err(DestinationRefusal::NetworkMismatch {
                entry: Network::Ethereum,
                asset: Network::Base
            })
        );
    }

    #[test]
    fn asset_restriction_is_enforced() {
        let e = entry(Some("USDC_ETHEREUM"));
        assert_eq!(e.accepts(AssetId::parse("USDC_ETHEREUM").unwrap()), Ok(()));
        assert!(matches!(
            e.accepts(AssetId::parse("USDT_ETHEREUM").unwrap()),
            Err(DestinationRefusal::AssetMismatch(_))
        ));
    }

    #[test]
    fn deleted_entries_accept_nothing_and_delete_once() {
        let mut e = entry(None);
        e.delete(OffsetDateTime::UNIX_EPOCH).unwrap();
        assert_eq!(
            e.accepts(AssetId::parse("USDT_ETHEREUM").unwrap()),
            Err(DestinationRefusal::Inactive)
        );
        assert_eq!(
            e.delete(OffsetDateTime::UNIX_EPOCH),
            Err(DestinationRefusal::Inactive)
        );
        assert_eq!(e.version, 2);
        assert_eq!(e.state_at(OffsetDateTime::UNIX_EPOCH), EntryState::Deleted);
    }

    #[test]
    fn a_cooling_off_entry_is_pending_until_it_activates() {
        let mut e = entry(None);
        let start = OffsetDateTime::UNIX_EPOCH;
        e.activates_at = start + time::Duration::hours(24);
        let usdt = AssetId::parse("USDT_ETHEREUM").unwrap();
        assert_eq!(e.state_at(start), EntryState::Pending);
        assert_eq!(
            e.accepts_at(usdt, start + time::Duration::hours(23)),
            Err(DestinationRefusal::NotYetActive {
                activates_at: e.activates_at
            })
        );
        assert_eq!(
            DestinationRefusal::NotYetActive {
                activates_at: e.activates_at
            }
            .code(),
            "address_book_entry_not_active"
        );
        assert_eq!(e.state_at(e.activates_at), EntryState::Active);
        assert_eq!(e.accepts_at(usdt, e.activates_at), Ok(()));
        // The network and asset rules still come first.
        assert!(matches!(
            e.accepts_at(AssetId::parse("USDC_BASE").unwrap(), e.activates_at),
            Err(DestinationRefusal::NetworkMismatch { .. })
        ));
    }
}
