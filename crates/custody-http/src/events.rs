//! Events on the wire: the one rendering of event snapshots and of the envelope.
//!
//! Services render an event's snapshot when they commit the change, through
//! [`PlatformSnapshots`] (core's [`SnapshotRenderer`] port), so the outbox stores each resource
//! exactly as the Platform API's responses show it: the same response types
//! ([`PlatformVault`], [`PlatformWallet`], [`PlatformAddress`], [`PlatformTransaction`],
//! [`PlatformAddressBookEntry`]), not a copy of them. `previousAttributes` is taken from the same
//! rendering of the resource before the change. [`render_event`] is then the envelope both
//! `GET /v1/events` and webhook deliveries send; it needs nothing but the event, so a worker can
//! call it.

use custody_core::event::{Event, SnapshotError, SnapshotRenderer, Subject};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::routes::platform::address_book::PlatformAddressBookEntry;
use crate::routes::platform::transactions::PlatformTransaction;
use crate::routes::platform::vaults::PlatformVault;
use crate::routes::platform::wallets::{PlatformAddress, PlatformWallet};

/// Renders snapshots with the Platform API's response types.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlatformSnapshots;

impl SnapshotRenderer for PlatformSnapshots {
    fn render(&self, subject: Subject<'_>, at: OffsetDateTime) -> Result<Value, SnapshotError> {
        Ok(match subject {
            Subject::Vault(vault) => serde_json::to_value(PlatformVault::from(vault))?,
            Subject::Wallet {
                wallet,
                deposit_address,
            } => serde_json::to_value(PlatformWallet::new(wallet, deposit_address))?,
            Subject::Address(address) => serde_json::to_value(PlatformAddress::from(address))?,
            Subject::Transaction(transaction) => {
                serde_json::to_value(PlatformTransaction::from(transaction))?
            }
            Subject::AddressBookEntry(entry) => {
                serde_json::to_value(PlatformAddressBookEntry::at(entry, at))?
            }
            // Already the `GET /v1/webhooks/outbound` shape (core owns it; no secret in it).
            Subject::WebhookEndpoint(endpoint) => serde_json::to_value(endpoint)?,
        })
    }
}

/// The renderer every service of the running server is wired with.
pub fn renderer() -> custody_core::event::DynSnapshotRenderer {
    std::sync::Arc::new(PlatformSnapshots)
}

/// An event as `GET /v1/events` returns it and a webhook delivery carries it (the body
/// deliveries sign). The snapshot is already in wire form (rendered at commit); this only
/// writes the envelope around it.
///
/// # Errors
/// Never in practice: an event is plain JSON values and strings.
pub fn render_event(event: &Event) -> Result<Value, serde_json::Error> {
    serde_json::to_value(event)
}

/// `data` of an event (OpenAPI schema of the envelope [`render_event`] writes).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventDataSchema {
    /// `vault`, `wallet`, `address`, `transaction` or `address_book_entry`.
    #[schema(example = "transaction")]
    pub resource_type: String,
    /// The resource's id (`vlt_…`, `acc_…`, `ba_…`, `tx_…`, `abe_…`).
    #[schema(example = "tx_01JFX0R8M2Q6C1V9W3E5T7Y4KD")]
    pub resource_id: String,
    /// The resource's version after the change: it increases with every change of that
    /// resource, so apply an event only if its version is newer than the one you hold.
    #[schema(example = 3)]
    pub version: u64,
    /// The resource after the change, exactly as the Platform API's `GET` of it returns it
    /// (`PlatformVault`, `PlatformWallet`, `PlatformAddress`, `PlatformTransaction`,
    /// `PlatformAddressBookEntry`).
    #[schema(value_type = Object)]
    pub snapshot: Value,
}

/// An event: what changed, in the order the event log keeps (docs/events.md).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "evt_01JFX0R8M2Q6C1V9W3E5T7Y4KE", "type": "transaction.status.updated", "createdAt": "2026-12-06T09:00:05Z", "data": {"resourceType": "transaction", "resourceId": "tx_01JFX0R8M2Q6C1V9W3E5T7Y4KD", "version": 2, "snapshot": {"id": "tx_01JFX0R8M2Q6C1V9W3E5T7Y4KD", "kind": "Withdrawal", "status": "PendingSignature", "assetId": "USDT_ETHEREUM", "amount": "12.5", "sourceWalletId": "acc_01JD0Q4V3X5M7Z9B1C3E5G7H9M", "destinationWalletId": null, "addressBookEntryId": "abe_01JFX0Q4ZK8D4W7T9YB3N5R2MC", "destinationAddress": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "txHash": null, "confirmations": null, "requiredConfirmations": null, "reference": null, "failureReason": null, "statusHistory": [{"status": "Submitted", "at": "2026-12-06T09:00:00Z"}, {"status": "PendingSignature", "at": "2026-12-06T09:00:05Z"}], "createdAt": "2026-12-06T09:00:00Z", "updatedAt": "2026-12-06T09:00:05Z"}}, "previousAttributes": {"status": "Submitted", "statusHistory": [{"status": "Submitted", "at": "2026-12-06T09:00:00Z"}], "updatedAt": "2026-12-06T09:00:00Z"}}))]
pub struct EventSchema {
    /// `evt_…`, the same in the log and in every delivery of this event.
    #[schema(example = "evt_01JFX0R8M2Q6C1V9W3E5T7Y4KE")]
    pub id: String,
    /// The event type (`transaction.status.updated`, …; docs/events.md lists them all).
    #[schema(example = "transaction.status.updated")]
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the change was made.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
    /// The resource after the change.
    pub data: EventDataSchema,
    /// Updates only: every top-level snapshot field the change altered, with its value before
    /// the change, in the same wire form. Absent on `*.created` events.
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_attributes: Option<Value>,
}
