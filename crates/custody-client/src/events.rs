//! The event envelope (docs/events.md): the same JSON in `GET /v1/events` and in every webhook
//! delivery.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::types::open_enum;

open_enum!(
    /// What happened (docs/events.md, "Event types").
    EventType {
        /// `vault.created`
        VaultCreated = "vault.created",
        /// `vault.updated`
        VaultUpdated = "vault.updated",
        /// `vault.status.updated`
        VaultStatusUpdated = "vault.status.updated",
        /// `wallet.created`
        WalletCreated = "wallet.created",
        /// `balance.updated`
        BalanceUpdated = "balance.updated",
        /// `address.created`
        AddressCreated = "address.created",
        /// `address.status.updated`
        AddressStatusUpdated = "address.status.updated",
        /// `transaction.created`
        TransactionCreated = "transaction.created",
        /// `transaction.status.updated`
        TransactionStatusUpdated = "transaction.status.updated",
        /// `address_book.entry.created`
        AddressBookEntryCreated = "address_book.entry.created",
        /// `address_book.entry.deleted`
        AddressBookEntryDeleted = "address_book.entry.deleted",
        /// `webhook.test`
        WebhookTest = "webhook.test",
        /// `webhook_endpoint.disabled`
        WebhookEndpointDisabled = "webhook_endpoint.disabled",
    }
);

open_enum!(
    /// The kind of resource an event is about.
    ResourceType {
        /// A vault ([`Vault`](crate::platform::Vault)).
        Vault = "vault",
        /// A wallet ([`Wallet`](crate::platform::Wallet)).
        Wallet = "wallet",
        /// A deposit address ([`WalletAddress`](crate::platform::WalletAddress)).
        Address = "address",
        /// A transaction ([`Transaction`](crate::platform::Transaction)).
        Transaction = "transaction",
        /// An address-book entry ([`AddressBookEntry`](crate::platform::AddressBookEntry)).
        AddressBookEntry = "address_book_entry",
        /// The webhook endpoint ([`WebhookEndpoint`](crate::platform::WebhookEndpoint)).
        WebhookEndpoint = "webhook_endpoint",
    }
);

/// One event.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Event {
    /// `evt_…`: the same in the log and in every delivery. Deduplicate on it.
    pub id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When the change was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The resource after the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<EventData>,
    /// Updates only: the top-level fields the change altered, with their values before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `data` of an event.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EventData {
    /// The kind of resource.
    pub resource_type: ResourceType,
    /// Its id (`vlt_…`, `acc_…`, `ba_…`, `tx_…`, `abe_…`).
    pub resource_id: String,
    /// The resource's version after the change: apply an event only if it is newer than the
    /// one you hold.
    pub version: u64,
    /// The whole resource after the change, exactly as the Platform API's `GET` returns it.
    pub snapshot: serde_json::Value,
}

impl Event {
    /// The snapshot as a Platform type: `event.snapshot_as::<Transaction>()` for a
    /// `transaction` event, [`Wallet`](crate::platform::Wallet) for `wallet`, and so on.
    /// `None` when the event has no data or the snapshot is not a `T`.
    pub fn snapshot_as<T: DeserializeOwned>(&self) -> Option<T> {
        let data = self.data.as_ref()?;
        serde_json::from_value(data.snapshot.clone()).ok()
    }

    /// The resource's version, when the event has data.
    pub fn version(&self) -> Option<u64> {
        self.data.as_ref().map(|d| d.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::{Vault, VaultStatus};

    #[test]
    fn the_documented_envelope_parses_and_snapshots_are_typed() {
        let json = r#"{
          "id": "evt_01JFX0R8M2Q6C1V9W3E5T7Y4KE",
          "type": "vault.status.updated",
          "createdAt": "2026-12-06T09:00:05Z",
          "data": {
            "resourceType": "vault",
            "resourceId": "vlt_01JD0Q4V3X5M7Z9B1C3E5G7H9K",
            "version": 2,
            "snapshot": {"id": "vlt_01JD0Q4V3X5M7Z9B1C3E5G7H9K", "externalId": "cust-42", "name": "Alice",
                         "metadata": {"crm_id": "8842"}, "status": "Frozen", "createdAt": "2026-12-06T08:59:00Z"}
          },
          "previousAttributes": {"status": "Active"}
        }"#;
        let event: Event = serde_json::from_str(json).expect("envelope");
        assert_eq!(event.event_type, EventType::VaultStatusUpdated);
        assert_eq!(event.version(), Some(2));
        let vault: Vault = event.snapshot_as().expect("a vault");
        assert_eq!(vault.status, VaultStatus::Frozen);
        assert_eq!(
            event
                .previous_attributes
                .as_ref()
                .and_then(|p| p.get("status")),
            Some(&serde_json::json!("Active"))
        );
    }

    #[test]
    fn unknown_types_and_fields_do_not_break_parsing() {
        let json = r#"{"id":"evt_1","type":"vault.teleported","createdAt":"2026-12-06T09:00:00Z",
                       "data":{"resourceType":"starship","resourceId":"x","version":1,"snapshot":{}},
                       "someNewField":true}"#;
        let event: Event = serde_json::from_str(json).expect("tolerant");
        assert_eq!(
            event.event_type,
            EventType::Unknown("vault.teleported".into())
        );
        assert_eq!(
            event.data.as_ref().map(|d| d.resource_type.clone()),
            Some(ResourceType::Unknown("starship".into()))
        );
        // The webhook test vector's body has no data.
        let test: Event = serde_json::from_str(
            r#"{"id":"evt_01JFX0Q4ZK8D4W7T9YB3N5R2MC","type":"webhook.test","createdAt":"2026-12-06T09:00:00Z"}"#,
        )
        .expect("no data");
        assert_eq!(test.event_type, EventType::WebhookTest);
        assert!(test.data.is_none());
    }
}
