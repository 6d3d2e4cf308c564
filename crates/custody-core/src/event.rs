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
#[non_exhaustive]
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

/// What an event is about, as the service holds it when the change is made: the renderer turns
/// it into the Platform API's wire form ([`SnapshotRenderer`]).
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// A vault.
    Vault(&'a Vault),
    /// A wallet, with its primary deposit address when it has one (the Platform API shows it
    /// as the wallet's `depositAddress`).
    Wallet {
        /// The wallet.
        wallet: &'a Wallet,
        /// Its primary address.
        deposit_address: Option<&'a DepositAddress>,
    },
    /// A deposit address.
    Address(&'a DepositAddress),
    /// A transaction.
    Transaction(&'a Transaction),
    /// An address-book entry.
    AddressBookEntry(&'a AddressBookEntry),
    /// The tenant's outbound webhook endpoint, already in the shape of the Platform API's
    /// `GET /v1/webhooks/outbound` response (never with its secret).
    WebhookEndpoint(&'a crate::webhook::EndpointSnapshot),
}

impl Subject<'_> {
    /// `vault`, `wallet`, `address`, `transaction`, `address_book_entry`.
    pub fn resource_type(&self) -> &'static str {
        match self {
            Subject::Vault(_) => Vault::RESOURCE_TYPE,
            Subject::Wallet { .. } => Wallet::RESOURCE_TYPE,
            Subject::Address(_) => DepositAddress::RESOURCE_TYPE,
            Subject::Transaction(_) => Transaction::RESOURCE_TYPE,
            Subject::AddressBookEntry(_) => AddressBookEntry::RESOURCE_TYPE,
            Subject::WebhookEndpoint(_) => crate::webhook::EndpointSnapshot::RESOURCE_TYPE,
        }
    }

    /// The resource's prefixed id.
    pub fn resource_id(&self) -> String {
        match self {
            Subject::Vault(r) => r.resource_id(),
            Subject::Wallet { wallet, .. } => wallet.resource_id(),
            Subject::Address(r) => r.resource_id(),
            Subject::Transaction(r) => r.resource_id(),
            Subject::AddressBookEntry(r) => r.resource_id(),
            Subject::WebhookEndpoint(r) => r.resource_id(),
        }
    }

    /// The resource's version.
    pub fn version(&self) -> u64 {
        match self {
            Subject::Vault(r) => r.version(),
            Subject::Wallet { wallet, .. } => wallet.version(),
            Subject::Address(r) => r.version(),
            Subject::Transaction(r) => r.version(),
            Subject::AddressBookEntry(r) => r.version(),
            Subject::WebhookEndpoint(r) => r.version(),
        }
    }
}

/// Renders a resource exactly as the Platform API's responses show it (the same wire types:
/// `externalId`, whole-token decimal amounts, seed-spelled statuses). Implemented once, by the
/// HTTP layer, over its response types, and handed to every service that emits events: the
/// outbox stores the wire form, so the event log and webhook deliveries send what was rendered
/// when the change was committed.
pub trait SnapshotRenderer: Send + Sync {
    /// `subject` as the Platform API renders it at `at` (the change's time: an address-book
    /// entry still cooling off then shows `Pending`).
    ///
    /// # Errors
    /// [`SnapshotError`] when it cannot be rendered as JSON.
    fn render(&self, subject: Subject<'_>, at: OffsetDateTime) -> Result<Value, SnapshotError>;
}

/// Shared handle.
pub type DynSnapshotRenderer = std::sync::Arc<dyn SnapshotRenderer>;

/// The domain's own serialisation of each resource (core's `Serialize` of [`Vault`],
/// [`Wallet`], [`DepositAddress`], [`Transaction`], …), not the Platform wire form. The
/// default of an embedded custody (`custody-embed`), and what tests that do not care about the
/// wire form use. `custody serve` renders with the Platform response types instead
/// (`custody_http::events::PlatformSnapshots`); docs/embedding.md says when to use which.
///
/// [`Vault`]: crate::vault::Vault
/// [`Wallet`]: crate::wallet::Wallet
/// [`DepositAddress`]: crate::deposit_address::DepositAddress
/// [`Transaction`]: crate::transaction::Transaction
#[derive(Debug, Clone, Copy, Default)]
pub struct DomainSnapshots;

impl SnapshotRenderer for DomainSnapshots {
    fn render(&self, subject: Subject<'_>, _at: OffsetDateTime) -> Result<Value, SnapshotError> {
        Ok(match subject {
            Subject::Vault(r) => serde_json::to_value(r)?,
            Subject::Wallet { wallet, .. } => serde_json::to_value(wallet)?,
            Subject::Address(r) => serde_json::to_value(r)?,
            Subject::Transaction(r) => serde_json::to_value(r)?,
            Subject::AddressBookEntry(r) => serde_json::to_value(r)?,
            Subject::WebhookEndpoint(r) => serde_json::to_value(r)?,
        })
    }
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
    /// Its full state after the change, in the Platform API's wire form.
    pub snapshot: Value,
}

/// An event, as written to the outbox. Serialised, it is the wire envelope: `GET /v1/events`
/// and webhook deliveries send exactly `serde_json::to_value(&event)`.
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
    /// The snapshot's top-level fields that the change altered, with their values before it
    /// (updates only), in the same wire form as the snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_attributes: Option<Value>,
}

/// A snapshot could not be rendered as JSON. Our resources always render; this exists so a
/// future type with, say, non-string map keys fails loudly instead of emitting `null`.
#[derive(Debug, thiserror::Error)]
#[error("could not render the event snapshot: {0}")]
pub struct SnapshotError(#[from] serde_json::Error);

impl Event {
    /// Builds an event about `subject` after a change; `before` is the same resource before it
    /// (updates), from which `previousAttributes` takes every top-level field whose rendered
    /// value changed.
    ///
    /// # Errors
    /// [`SnapshotError`] if the resource cannot be rendered.
    pub fn new(
        id: EventId,
        tenant_id: TenantId,
        event_type: EventType,
        subject: Subject<'_>,
        before: Option<Subject<'_>>,
        created_at: OffsetDateTime,
        renderer: &dyn SnapshotRenderer,
    ) -> Result<Event, SnapshotError> {
        let snapshot = renderer.render(subject, created_at)?;
        let previous_attributes = match before {
            None => None,
            Some(before) => Some(changed_fields(
                &renderer.render(before, created_at)?,
                &snapshot,
            )),
        };
        Ok(Event {
            id,
            tenant_id,
            event_type,
            created_at,
            data: EventData {
                resource_type: subject.resource_type(),
                resource_id: subject.resource_id(),
                version: subject.version(),
                snapshot,
            },
            previous_attributes,
        })
    }

    /// The event with `annotation` (a key and its value) added to `previousAttributes`, which
    /// it creates when the event has none: context that is not a field of the resource, such as
    /// an operator's resolution of a transaction (who and why). `None` leaves it unchanged.
    #[must_use]
    pub fn annotated(mut self, annotation: Option<(&str, Value)>) -> Event {
        if let Some((key, value)) = annotation {
            let previous = self
                .previous_attributes
                .get_or_insert_with(|| Value::Object(serde_json::Map::new()));
            if let Some(map) = previous.as_object_mut() {
                map.insert(key.to_owned(), value);
            }
        }
        self
    }
}

/// The top-level fields of `before` whose values differ in `after` (a field absent after the
/// change is listed with its old value; one new after it, with `null`).
fn changed_fields(before: &Value, after: &Value) -> Value {
    let (Some(before), Some(after)) = (before.as_object(), after.as_object()) else {
        return before.clone();
    };
    let mut changed = serde_json::Map::new();
    for (key, old) in before {
        if after.get(key) != Some(old) {
            changed.insert(key.clone(), old.clone());
        }
    }
    for key in after.keys() {
        if !before.contains_key(key) {
            changed.insert(key.clone(), Value::Null);
        }
    }
    Value::Object(changed)
}

/// Where an event sits in the event log (`GET /v1/events`). The log is ordered by
/// `(xid, position, id)`: the writing transaction's number (PostgreSQL; always 0 on SQLite,
/// whose single writer commits in insertion order), the event's insertion number, then its id.
/// A store shows an event in the log only once every transaction that could still write an
/// event sorting before it has finished, so a later commit always sorts after a cursor already
/// handed out: reading on from a cursor never skips an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogPosition {
    /// The writing transaction's number (0 on SQLite and for events older than the log).
    pub xid: u64,
    /// The insertion number (0 for events older than the log).
    pub position: u64,
    /// The event.
    pub id: EventId,
}

impl LogPosition {
    /// The prefix of an event-log cursor.
    pub const CURSOR_PREFIX: &'static str = "cur_";

    /// The opaque cursor naming this position: `cur_` + 32 lowercase hex digits + the event's
    /// ULID.
    pub fn cursor(&self) -> String {
        format!(
            "{}{:016x}{:016x}{}",
            Self::CURSOR_PREFIX,
            self.xid,
            self.position,
            self.id.ulid()
        )
    }

    /// Reads a cursor made by [`LogPosition::cursor`]; `None` for anything else (numbers above
    /// `i64::MAX` included: stores keep them as signed 64-bit integers, so no cursor holds one).
    pub fn parse_cursor(raw: &str) -> Option<LogPosition> {
        let rest = raw.strip_prefix(Self::CURSOR_PREFIX)?;
        if rest.len() != 58 || !rest.is_ascii() {
            return None;
        }
        let hex = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                .then(|| u64::from_str_radix(s, 16).ok())
                .flatten()
                .filter(|n| i64::try_from(*n).is_ok())
        };
        let xid = hex(&rest[..16])?;
        let position = hex(&rest[16..32])?;
        let id = EventId::parse(&format!("{}{}", EventId::PREFIX, &rest[32..])).ok()?;
        Some(LogPosition { xid, position, id })
    }
}

/// An event with its place in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvent {
    /// The event.
    pub event: Event,
    /// Where it sits in the log.
    pub position: LogPosition,
}

/// A read of the event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLogQuery {
    /// Only events after this position (the start of the log when `None`).
    pub after: Option<LogPosition>,
    /// Only events of these types (every type when empty).
    pub types: Vec<EventType>,
    /// At most this many events (1–200).
    pub limit: u32,
}

/// How long events stay in the log at least (`events.retention_days` may keep them longer).
pub const MIN_RETENTION_DAYS: u32 = 30;

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
        let before = crate::vault::Vault {
            status: crate::vault::VaultStatus::Active,
            version: 2,
            ..vault.clone()
        };
        let event = Event::new(
            EventId::from_ulid(ulid::Ulid::from_parts(9, 9)),
            vault.tenant_id,
            EventType::VaultStatusUpdated,
            Subject::Vault(&vault),
            Some(Subject::Vault(&before)),
            OffsetDateTime::UNIX_EPOCH,
            &DomainSnapshots,
        )
        .unwrap();
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "vault.status.updated");
        assert_eq!(json["data"]["resourceType"], "vault");
        assert_eq!(json["data"]["resourceId"], vault.id.to_string());
        assert_eq!(json["data"]["version"], 3);
        assert_eq!(json["data"]["snapshot"]["status"], "Frozen");
        assert_eq!(
            json["previousAttributes"],
            serde_json::json!({"status": "Active", "version": 2}),
            "only what changed, with its old value"
        );
        assert_eq!(json["createdAt"], "1970-01-01T00:00:00Z");
        assert!(json.get("tenantId").is_none());

        // An annotation joins what changed; none changes nothing.
        let resolution = serde_json::json!({"by": "ops", "reason": "ticket 7"});
        let annotated = event
            .clone()
            .annotated(Some(("resolution", resolution.clone())));
        assert_eq!(
            annotated.previous_attributes,
            Some(serde_json::json!({"status": "Active", "version": 2, "resolution": resolution}))
        );
        assert_eq!(event.clone().annotated(None), event);
        let created = Event {
            previous_attributes: None,
            ..event
        };
        assert_eq!(
            created
                .annotated(Some(("resolution", resolution.clone())))
                .previous_attributes,
            Some(serde_json::json!({"resolution": resolution})),
            "an event without previous attributes gets them"
        );
    }

    #[test]
    fn cursors_round_trip_and_reject_anything_else() {
        let position = LogPosition {
            xid: 0x1234,
            position: i64::MAX as u64,
            id: EventId::from_ulid(ulid::Ulid::from_parts(7, 7)),
        };
        let cursor = position.cursor();
        assert!(cursor.starts_with("cur_00000000000012347fffffffffffffff"));
        assert_eq!(LogPosition::parse_cursor(&cursor), Some(position));
        for bad in [
            "",
            "cur_",
            &cursor[..cursor.len() - 1],
            &format!("{cursor}0"),
            &cursor.replace("cur_", "evt_"),
            &cursor.to_uppercase().replacen("CUR_", "cur_", 1),
            &position.id.to_string(),
            // Beyond what a store holds (found by Schemathesis: it was a 500).
            &cursor.replace("7fffffffffffffff", "8000000000000000"),
        ] {
            assert_eq!(LogPosition::parse_cursor(bad), None, "{bad}");
        }
        let later = LogPosition {
            xid: 0x1235,
            position: 0,
            ..position
        };
        assert!(later > position, "ordered by transaction first");
    }

    #[test]
    fn changed_fields_lists_old_values_of_what_changed() {
        let before = serde_json::json!({"a": 1, "b": [1], "c": "x", "gone": true});
        let after = serde_json::json!({"a": 1, "b": [1, 2], "c": "y", "new": 5});
        assert_eq!(
            changed_fields(&before, &after),
            serde_json::json!({"b": [1], "c": "x", "gone": true, "new": null})
        );
        assert_eq!(changed_fields(&before, &before), serde_json::json!({}));
    }
}
