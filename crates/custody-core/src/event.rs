//! Events: what tenants hear about every change, in order.
//!
//! Services build an [`Event`] for every state change and hand it to the unit of work, which
//! writes it to the outbox in the same database transaction as the change, so an event exists
//! if and only if its change was committed. Webhook delivery and `GET /v1/events` read the
//! outbox later.
//!
//! The envelope is `{id, type, createdAt, data: {resourceType, resourceId, version, snapshot},
//! previousAttributes?}`. `version` is the resource's own version, increasing with every change,
//! so a consumer receiving deliveries out of order can keep the newest.

use std::fmt;

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::address_book::AddressBookEntry;
use crate::deposit_address::DepositAddress;
use crate::id::{EventId, TenantId};
use crate::transaction::Transaction;
use crate::vault::Vault;
use crate::wallet::Wallet;

/// The catalogue of event types.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    VaultCreated,
    /// A vault's name or metadata changed.
    VaultUpdated,
    /// A vault was frozen, unfrozen or archived.
    VaultStatusUpdated,
    WalletCreated,
    /// A wallet's balances changed.
    BalanceUpdated,
    /// A deposit address was minted.
    AddressCreated,
    /// A deposit address was suspended or reactivated.
    AddressStatusUpdated,
    TransactionCreated,
    TransactionStatusUpdated,
    AddressBookEntryCreated,
    AddressBookEntryDeleted,
    /// Sent by `POST /v1/webhooks/outbound/test`.
    WebhookTest,
    /// The webhook endpoint was disabled (a `410`, or failing deliveries); `GET
    /// /v1/webhooks/outbound` says why.
    WebhookEndpointDisabled,
}

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 13] = [
        EventType::VaultCreated,
        EventType::VaultUpdated,
        EventType::VaultStatusUpdated,
        EventType::WalletCreated,
        EventType::BalanceUpdated,
        EventType::AddressCreated,
        EventType::AddressStatusUpdated,
        EventType::TransactionCreated,
        EventType::TransactionStatusUpdated,
        EventType::AddressBookEntryCreated,
        EventType::AddressBookEntryDeleted,
        EventType::WebhookTest,
        EventType::WebhookEndpointDisabled,
    ];

    /// The dotted wire name (`transaction.status.updated`).
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::VaultCreated => "vault.created",
            EventType::VaultUpdated => "vault.updated",
            EventType::VaultStatusUpdated => "vault.status.updated",
            EventType::WalletCreated => "wallet.created",
            EventType::BalanceUpdated => "balance.updated",
            EventType::AddressCreated => "address.created",
            EventType::AddressStatusUpdated => "address.status.updated",
            EventType::TransactionCreated => "transaction.created",
            EventType::TransactionStatusUpdated => "transaction.status.updated",
            EventType::AddressBookEntryCreated => "address_book.entry.created",
            EventType::AddressBookEntryDeleted => "address_book.entry.deleted",
            EventType::WebhookTest => "webhook.test",
            EventType::WebhookEndpointDisabled => "webhook_endpoint.disabled",
        }
    }

    /// Parses a wire name.
    pub fn parse(input: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == input)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Something an event can be about.
pub trait Resource: Serialize {
    /// `vault`, `wallet`, `address`, `transaction`, `address_book_entry`.
    const RESOURCE_TYPE: &'static str;
    /// The resource's prefixed id.
    fn resource_id(&self) -> String;
    /// The resource's version after the change.
    fn version(&self) -> u64;
}

macro_rules! resource {
    ($ty:ty, $name:literal) => {
        impl Resource for $ty {
            const RESOURCE_TYPE: &'static str = $name;
            fn resource_id(&self) -> String {
                self.id.to_string()
            }
            fn version(&self) -> u64 {
                self.version
            }
        }
    };
}
resource!(Vault, "vault");
resource!(Wallet, "wallet");
resource!(DepositAddress, "address");
resource!(Transaction, "transaction");
resource!(AddressBookEntry, "address_book_entry");

/// Every `resourceType` an event can carry.
pub const RESOURCE_TYPES: [&str; 6] = [
    <Vault as Resource>::RESOURCE_TYPE,
    <Wallet as Resource>::RESOURCE_TYPE,
    <DepositAddress as Resource>::RESOURCE_TYPE,
    <Transaction as Resource>::RESOURCE_TYPE,
    <AddressBookEntry as Resource>::RESOURCE_TYPE,
    <crate::webhook::EndpointSnapshot as Resource>::RESOURCE_TYPE,
];

/// The static name of a stored `resourceType`, for stores reading events back.
pub fn resource_type(input: &str) -> Option<&'static str> {
    RESOURCE_TYPES.into_iter().find(|t| *t == input)
}

/// The `data` part of an event.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventData {
    pub resource_type: &'static str,
    pub resource_id: String,
    /// Its version after the change.
    pub version: u64,
    /// Its full state after the change.
    pub snapshot: Value,
}

/// An event, as written to the outbox.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: EventId,
    /// Who hears about it. Not part of the wire body.
    #[serde(skip)]
    pub tenant_id: TenantId,
    #[serde(rename = "type")]
    pub event_type: EventType,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The resource after the change.
    pub data: EventData,
    /// The fields that changed, with their old values (status updates only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_attributes: Option<Value>,
}

/// A snapshot could not be rendered as JSON. Our resources always render; this exists so a
/// future type with, say, non-string map keys fails loudly instead of emitting `null`.
#[derive(Debug, thiserror::Error)]
#[error("could not render the event snapshot: {0}")]
pub struct SnapshotError(#[from] serde_json::Error);

impl Event {
    /// Builds an event about `resource` after a change.
    ///
    /// # Errors
    /// [`SnapshotError`] if the resource cannot be rendered as JSON.
    pub fn new<R: Resource>(
        id: EventId,
        tenant_id: TenantId,
        event_type: EventType,
        resource: &R,
        previous_attributes: Option<Value>,
        created_at: OffsetDateTime,
    ) -> Result<Event, SnapshotError> {
        Ok(Event {
            id,
            tenant_id,
            event_type,
            created_at,
            data: EventData {
                resource_type: R::RESOURCE_TYPE,
                resource_id: resource.resource_id(),
                version: resource.version(),
                snapshot: serde_json::to_value(resource)?,
            },
            previous_attributes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_types_are_known() {
        for t in RESOURCE_TYPES {
            assert_eq!(resource_type(t), Some(t));
        }
        assert_eq!(resource_type("Vault"), None);
    }

    #[test]
    fn wire_names_round_trip_and_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for t in EventType::ALL {
            assert!(seen.insert(t.as_str()));
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("vault.deleted"), None);
    }

    #[test]
    fn envelope_shape() {
        let vault = crate::vault::Vault {
            id: crate::id::VaultId::from_ulid(ulid::Ulid::from_parts(5, 5)),
            tenant_id: TenantId::from_ulid(ulid::Ulid::from_parts(1, 1)),
            kind: crate::vault::VaultKind::Customer,
            external_ref: None,
            name: crate::text::VaultName::parse("Alice").unwrap(),
            metadata: crate::text::Metadata::default(),
            status: crate::vault::VaultStatus::Frozen,
            version: 3,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        };
        let event = Event::new(
            EventId::from_ulid(ulid::Ulid::from_parts(9, 9)),
            vault.tenant_id,
            EventType::VaultStatusUpdated,
            &vault,
            Some(serde_json::json!({"status": "Active"})),
            OffsetDateTime::UNIX_EPOCH,
        )
        .unwrap();
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "vault.status.updated");
        assert_eq!(json["data"]["resourceType"], "vault");
        assert_eq!(json["data"]["resourceId"], vault.id.to_string());
        assert_eq!(json["data"]["version"], 3);
        assert_eq!(json["data"]["snapshot"]["status"], "Frozen");
        assert_eq!(json["previousAttributes"]["status"], "Active");
        assert_eq!(json["createdAt"], "1970-01-01T00:00:00Z");
        assert!(json.get("tenantId").is_none());
    }
}
