//! The Platform dialect (`/v1/…`, camelCase; docs/platform.md, docs/webhooks.md,
//! docs/events.md): vaults, wallets, deposit addresses, the address book, transfers,
//! withdrawals, transactions, the sandbox, the event log and the webhook endpoint.

use std::collections::BTreeMap;

use futures_util::stream::BoxStream;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::client::{segment, with_query, Client, Request};
use crate::error::Error;
use crate::events::Event;
use crate::pagination::{stream_pages, ListParams, Page};
use crate::types::{open_enum, Amount};

open_enum!(
    /// A vault's status.
    VaultStatus {
        /// Receives and sends.
        Active = "Active",
        /// Receives, cannot send.
        Frozen = "Frozen",
        /// Terminal: read-only.
        Archived = "Archived",
    }
);

open_enum!(
    /// A deposit address's status.
    AddressStatus {
        /// Receives.
        Active = "active",
        /// Suspended.
        Suspended = "suspended",
    }
);

open_enum!(
    /// An address-book entry's status.
    AddressBookStatus {
        /// Withdrawals may target it.
        Active = "Active",
        /// Cooling off until `activatesAt`.
        Pending = "Pending",
        /// Deleted.
        Deleted = "Deleted",
    }
);

open_enum!(
    /// A transaction's kind.
    TransactionKind {
        /// Funds arriving on-chain.
        Deposit = "Deposit",
        /// Between two of your wallets, off-chain.
        Transfer = "Transfer",
        /// To an address-book entry, on-chain.
        Withdrawal = "Withdrawal",
    }
);

open_enum!(
    /// A transaction's status (docs/platform.md, "The state machine").
    TransactionStatus {
        /// Accepted, not yet handed to the custodian; cancellable.
        Submitted = "Submitted",
        /// Awaiting the custodian's signature.
        PendingSignature = "PendingSignature",
        /// Signed, being broadcast.
        Broadcasting = "Broadcasting",
        /// On-chain, confirming.
        Confirming = "Confirming",
        /// Final.
        Completed = "Completed",
        /// Final; see `failureReason`.
        Failed = "Failed",
        /// Final (withdrawals only).
        Cancelled = "Cancelled",
    }
);

impl TransactionStatus {
    /// `Completed`, `Failed` or `Cancelled`.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            TransactionStatus::Completed | TransactionStatus::Failed | TransactionStatus::Cancelled
        )
    }
}

/// `GET /v1/assets` item.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Asset {
    /// `USDT_ETHEREUM`.
    pub id: String,
    /// `USDT`.
    pub symbol: String,
    /// `Tether USD`.
    pub name: String,
    /// `ethereum`.
    pub network: String,
    /// Base units per token are 10^decimals.
    pub decimals: u32,
}

/// Body of `POST /v1/vaults`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CreateVault {
    /// Your customer id, unique per tenant and environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// A name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// String metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

impl CreateVault {
    /// A vault with no external id, name or metadata.
    pub fn new() -> Self {
        CreateVault::default()
    }

    /// With your customer id.
    #[must_use]
    pub fn external_id(mut self, id: impl Into<String>) -> Self {
        self.external_id = Some(id.into());
        self
    }

    /// With a name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// With metadata.
    #[must_use]
    pub fn metadata(mut self, metadata: BTreeMap<String, String>) -> Self {
        self.metadata = Some(metadata);
        self
    }
}

/// Body of `PATCH /v1/vaults/{vaultId}`: absent fields are unchanged.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateVault {
    /// Freeze, unfreeze or archive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<VaultStatus>,
    /// A new name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Replaces the whole map.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

impl UpdateVault {
    /// A change of status.
    pub fn status(status: VaultStatus) -> Self {
        UpdateVault {
            status: Some(status),
            ..UpdateVault::default()
        }
    }
}

/// A vault: one per end-customer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Vault {
    /// `vlt_…`
    pub id: String,
    /// Your customer id.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Its name (may be empty).
    #[serde(default)]
    pub name: String,
    /// Its metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Its status.
    pub status: VaultStatus,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Body of `POST /v1/vaults/{vaultId}/wallets`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CreateWallet {
    /// An enabled asset id (`USDT_ETHEREUM`).
    pub asset_id: String,
    /// A label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl CreateWallet {
    /// A wallet for `asset_id`.
    pub fn new(asset_id: impl Into<String>) -> Self {
        CreateWallet {
            asset_id: asset_id.into(),
            label: None,
        }
    }

    /// With a label.
    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }
}

/// A wallet's balances in whole tokens.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Balances {
    /// Spendable.
    pub available: Amount,
    /// Incoming, confirming.
    pub pending: Amount,
    /// Locked for outgoing withdrawals.
    pub held: Amount,
    /// The sum of the three.
    pub total: Amount,
}

/// A wallet: one asset inside a vault (the Accounts dialect's account).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Wallet {
    /// `acc_…`
    pub id: String,
    /// `vlt_…`
    pub vault_id: String,
    /// `USDT_ETHEREUM`.
    pub asset_id: String,
    /// `Tether USD`.
    pub asset_name: String,
    /// `USDT`.
    pub asset_symbol: String,
    /// `ethereum`.
    pub network: String,
    /// The label.
    #[serde(default)]
    pub label: Option<String>,
    /// The primary deposit address.
    #[serde(default)]
    pub deposit_address: Option<String>,
    /// Always `None` today.
    #[serde(default)]
    pub deposit_tag: Option<String>,
    /// `Active`.
    pub status: String,
    /// Its balances.
    pub balances: Balances,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Body of `POST /v1/wallets/{walletId}/addresses`.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct CreateWalletAddress {
    /// A label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl CreateWalletAddress {
    /// An address with this label.
    pub fn label(label: impl Into<String>) -> Self {
        CreateWalletAddress {
            label: Some(label.into()),
        }
    }
}

/// A wallet's deposit address (Platform form).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WalletAddress {
    /// `ba_…`
    pub id: String,
    /// `acc_…`
    pub wallet_id: String,
    /// The on-chain address.
    pub address: String,
    /// `ethereum`.
    pub network: String,
    /// The label.
    #[serde(default)]
    pub label: Option<String>,
    /// Whether this is the wallet's `depositAddress`.
    pub primary: bool,
    /// `active` or `suspended`.
    pub status: AddressStatus,
    /// When it was minted.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Body of `POST /v1/address-book`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CreateAddressBookEntry {
    /// `ethereum`, `base`, `ink`, `solana` or `sui`.
    pub network: String,
    /// The destination, valid for the network.
    pub address: String,
    /// A name a human recognises.
    pub label: String,
    /// Restrict the entry to one asset on `network`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset_id: Option<String>,
}

impl CreateAddressBookEntry {
    /// An entry for `address` on `network`.
    pub fn new(
        network: impl Into<String>,
        address: impl Into<String>,
        label: impl Into<String>,
    ) -> Self {
        CreateAddressBookEntry {
            network: network.into(),
            address: address.into(),
            label: label.into(),
            asset_id: None,
        }
    }

    /// Restricted to one asset.
    #[must_use]
    pub fn asset_id(mut self, asset_id: impl Into<String>) -> Self {
        self.asset_id = Some(asset_id.into());
        self
    }
}

/// An address-book entry: a destination withdrawals may target.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AddressBookEntry {
    /// `abe_…`
    pub id: String,
    /// The network.
    pub network: String,
    /// The address (EVM addresses checksummed).
    pub address: String,
    /// The label.
    pub label: String,
    /// The one asset it is restricted to, if any.
    #[serde(default)]
    pub asset_id: Option<String>,
    /// `Active`, `Pending` or `Deleted`.
    pub status: AddressBookStatus,
    /// When it was added.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it becomes (or became) `Active`.
    #[serde(with = "time::serde::rfc3339")]
    pub activates_at: OffsetDateTime,
}

/// Filters of `GET /v1/address-book`.
#[derive(Debug, Clone, Default)]
pub struct AddressBookFilter {
    /// Only this network.
    pub network: Option<String>,
    /// Only entries restricted to this asset.
    pub asset_id: Option<String>,
    /// Only this status (without it, deleted entries are left out).
    pub status: Option<AddressBookStatus>,
}

/// Body of `POST /v1/transactions/transfer`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CreateTransfer {
    /// Debited.
    pub source_wallet_id: String,
    /// Credited.
    pub destination_wallet_id: String,
    /// Whole tokens.
    pub amount: Amount,
    /// Your note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

impl CreateTransfer {
    /// `amount` from `source` to `destination`.
    pub fn new(source: impl Into<String>, destination: impl Into<String>, amount: Amount) -> Self {
        CreateTransfer {
            source_wallet_id: source.into(),
            destination_wallet_id: destination.into(),
            amount,
            reference: None,
        }
    }

    /// With your note.
    #[must_use]
    pub fn reference(mut self, reference: impl Into<String>) -> Self {
        self.reference = Some(reference.into());
        self
    }
}

/// Body of `POST /v1/transactions/withdraw`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CreateWithdrawal {
    /// Debited.
    pub wallet_id: String,
    /// An `Active` entry on the wallet's network.
    pub address_book_entry_id: String,
    /// Whole tokens.
    pub amount: Amount,
    /// Your note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

impl CreateWithdrawal {
    /// `amount` from `wallet` to the entry.
    pub fn new(wallet: impl Into<String>, entry: impl Into<String>, amount: Amount) -> Self {
        CreateWithdrawal {
            wallet_id: wallet.into(),
            address_book_entry_id: entry.into(),
            amount,
            reference: None,
        }
    }

    /// With your note.
    #[must_use]
    pub fn reference(mut self, reference: impl Into<String>) -> Self {
        self.reference = Some(reference.into());
        self
    }
}

/// One entry of `statusHistory`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct StatusChange {
    /// The status entered.
    pub status: TransactionStatus,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A deposit, transfer or withdrawal.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Transaction {
    /// `tx_…`
    pub id: String,
    /// `Deposit`, `Transfer` or `Withdrawal`.
    pub kind: TransactionKind,
    /// Where it is in its state machine.
    pub status: TransactionStatus,
    /// The asset.
    pub asset_id: String,
    /// Whole tokens.
    pub amount: Amount,
    /// Debited wallet (transfers, withdrawals).
    #[serde(default)]
    pub source_wallet_id: Option<String>,
    /// Credited wallet (transfers, deposits).
    #[serde(default)]
    pub destination_wallet_id: Option<String>,
    /// A withdrawal's entry.
    #[serde(default)]
    pub address_book_entry_id: Option<String>,
    /// A withdrawal's destination, a deposit's receiving address.
    #[serde(default)]
    pub destination_address: Option<String>,
    /// The on-chain hash once known.
    #[serde(default)]
    pub tx_hash: Option<String>,
    /// A deposit's confirmations so far.
    #[serde(default)]
    pub confirmations: Option<u64>,
    /// A deposit's confirmations needed.
    #[serde(default)]
    pub required_confirmations: Option<u64>,
    /// Your note.
    #[serde(default)]
    pub reference: Option<String>,
    /// Why it failed.
    #[serde(default)]
    pub failure_reason: Option<String>,
    /// Every status entered, oldest first.
    #[serde(default)]
    pub status_history: Vec<StatusChange>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Filters of `GET /v1/transactions`.
#[derive(Debug, Clone, Default)]
pub struct TransactionFilter {
    /// Debiting or crediting any wallet of this vault.
    pub vault_id: Option<String>,
    /// Debiting or crediting this wallet.
    pub wallet_id: Option<String>,
    /// Only this kind.
    pub kind: Option<TransactionKind>,
    /// Only this status.
    pub status: Option<TransactionStatus>,
}

impl TransactionFilter {
    /// One wallet's transactions.
    pub fn wallet(wallet_id: impl Into<String>) -> Self {
        TransactionFilter {
            wallet_id: Some(wallet_id.into()),
            ..TransactionFilter::default()
        }
    }

    /// One vault's transactions.
    pub fn vault(vault_id: impl Into<String>) -> Self {
        TransactionFilter {
            vault_id: Some(vault_id.into()),
            ..TransactionFilter::default()
        }
    }
}

open_enum!(
    /// How a simulated deposit settles.
    Settle {
        /// Block by block (default).
        Realistic = "realistic",
        /// Completed in the request.
        Instant = "instant",
    }
);

/// Body of `POST /v1/sandbox/deposits` (sandbox keys only).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SimulateDeposit {
    /// The receiving wallet (its primary address)…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wallet_id: Option<String>,
    /// …or one of your deposit addresses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Whole tokens (`.13` fails while confirming: docs/platform.md, "Magic values").
    pub amount: Amount,
    /// `realistic` (default) or `instant`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settle: Option<Settle>,
}

impl SimulateDeposit {
    /// `amount` to one of your deposit addresses, as written on-chain.
    pub fn to_address(address: impl Into<String>, amount: Amount) -> Self {
        SimulateDeposit {
            wallet_id: None,
            address: Some(address.into()),
            amount,
            settle: None,
        }
    }

    /// `amount` to `wallet_id`'s primary address.
    pub fn to_wallet(wallet_id: impl Into<String>, amount: Amount) -> Self {
        SimulateDeposit {
            wallet_id: Some(wallet_id.into()),
            address: None,
            amount,
            settle: None,
        }
    }

    /// Completed in the request.
    #[must_use]
    pub fn instant(mut self) -> Self {
        self.settle = Some(Settle::Instant);
        self
    }
}

/// Parameters of `GET /v1/events`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct EventQuery {
    /// A `nextCursor` from an earlier page (`cur_…`); `None`: from the oldest event kept.
    pub after: Option<String>,
    /// Only these event types.
    pub types: Vec<String>,
    /// 1–200.
    pub limit: Option<u32>,
}

impl EventQuery {
    /// From the oldest event kept.
    pub fn new() -> Self {
        EventQuery::default()
    }

    /// After this cursor.
    #[must_use]
    pub fn after(mut self, cursor: impl Into<String>) -> Self {
        self.after = Some(cursor.into());
        self
    }

    /// Only these types.
    #[must_use]
    pub fn types<I: IntoIterator<Item = S>, S: Into<String>>(mut self, types: I) -> Self {
        self.types = types.into_iter().map(Into::into).collect();
        self
    }

    /// With a page size.
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }
}

/// Body of `PUT /v1/webhooks/outbound`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ConfigureWebhook {
    /// Where deliveries go (sandbox: `http://localhost:…` allowed).
    pub url: String,
    /// The event types to deliver; `None`: every type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscribed_event_types: Option<Vec<String>>,
}

impl ConfigureWebhook {
    /// Every event type to `url`.
    pub fn new(url: impl Into<String>) -> Self {
        ConfigureWebhook {
            url: url.into(),
            subscribed_event_types: None,
        }
    }

    /// Only these types.
    #[must_use]
    pub fn subscribe<I: IntoIterator<Item = S>, S: Into<String>>(mut self, types: I) -> Self {
        self.subscribed_event_types = Some(types.into_iter().map(Into::into).collect());
        self
    }
}

/// The webhook endpoint (`GET/PUT /v1/webhooks/outbound`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WebhookEndpoint {
    /// Where deliveries go; `None` when none is configured.
    #[serde(default)]
    pub url: Option<String>,
    /// `whsec_…`: only in the answer that generated it. Store it.
    #[serde(default)]
    pub signing_secret: Option<String>,
    /// The event types delivered.
    #[serde(default)]
    pub subscribed_event_types: Vec<String>,
    /// Whether an endpoint is configured.
    pub is_configured: bool,
    /// `enabled` or `disabled`.
    #[serde(default)]
    pub status: Option<String>,
    /// `endpoint_gone` or `repeated_failure`.
    #[serde(default)]
    pub disabled_reason: Option<String>,
    /// When it was disabled.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub disabled_at: Option<OffsetDateTime>,
    /// Until when the previous secret still signs.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub previous_secret_expires_at: Option<OffsetDateTime>,
    /// When it was first configured.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub created_at: Option<OffsetDateTime>,
    /// When it last changed.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
}

open_enum!(
    /// A delivery's status.
    DeliveryStatus {
        /// Waiting for its next attempt.
        Pending = "pending",
        /// A 2xx arrived.
        Delivered = "delivered",
        /// Given up.
        Failed = "failed",
        /// Never sent.
        Skipped = "skipped",
    }
);

/// One event's delivery, with every attempt.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WebhookDelivery {
    /// `evt_…` (the `webhook-id` header).
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// When the event was committed.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// `pending`, `delivered`, `failed`, `skipped`.
    pub status: DeliveryStatus,
    /// Attempts so far.
    pub attempt_count: u32,
    /// When a pending delivery is tried next.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    /// When a receiver first answered 2xx.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
    /// Every attempt, oldest first.
    pub attempts: Vec<WebhookAttempt>,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WebhookAttempt {
    /// `whd_…`
    pub id: String,
    /// 1 for the first.
    pub attempt: u32,
    /// When it was sent.
    #[serde(with = "time::serde::rfc3339")]
    pub attempted_at: OffsetDateTime,
    /// Where.
    pub url: String,
    /// The receiver's status, if it answered.
    #[serde(default)]
    pub http_status: Option<u16>,
    /// How long it took.
    pub latency_ms: u32,
    /// Why it did not count.
    #[serde(default)]
    pub error: Option<String>,
}

/// Filters of `GET /v1/webhooks/outbound/deliveries`.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    /// One event.
    pub event_id: Option<String>,
    /// One type.
    pub event_type: Option<String>,
    /// One status.
    pub status: Option<DeliveryStatus>,
}

/// `POST /v1/events/{eventId}/redeliver`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Redelivery {
    /// The event queued.
    pub event_id: String,
    /// `pending`.
    pub status: DeliveryStatus,
}

#[derive(Deserialize)]
struct Count {
    count: u64,
}

#[derive(Serialize)]
struct Since {
    #[serde(with = "time::serde::rfc3339")]
    since: OffsetDateTime,
}

/// The Platform dialect, from [`Client::platform`].
#[derive(Debug, Clone)]
pub struct Platform<'a> {
    client: &'a Client,
    idempotency_key: Option<String>,
}

macro_rules! get {
    ($self:ident, $path:expr) => {
        $self.client.call(Request::new(Method::GET, $path)).await
    };
}

impl<'a> Platform<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Platform {
            client,
            idempotency_key: None,
        }
    }

    /// Send the next mutation with this `Idempotency-Key` instead of a generated one (e.g.
    /// your own operation id, so a retry after your process restarted is recognised too).
    #[must_use]
    pub fn idempotency_key(&self, key: impl Into<String>) -> Self {
        let mut with_key = self.clone();
        with_key.idempotency_key = Some(key.into());
        with_key
    }

    fn mutation(&self, method: Method, path: String) -> Request {
        let request = Request::new(method, path);
        match &self.idempotency_key {
            Some(key) => request.idempotency_key(key.clone()),
            None => request,
        }
    }

    async fn mutate<B: Serialize + ?Sized, T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: String,
        body: Option<&B>,
    ) -> Result<T, Error> {
        let mut request = self.mutation(method, path);
        if let Some(body) = body {
            request = request.json(body)?;
        }
        self.client.call(request).await
    }

    // ----- assets, vaults -------------------------------------------------------------------

    /// `GET /v1/assets`: the assets enabled for your tenant in the key's environment.
    ///
    /// # Errors
    /// As every call ([`Error`]).
    pub async fn assets(&self) -> Result<Vec<Asset>, Error> {
        let page: Page<Asset> = get!(self, "/v1/assets".to_owned())?;
        Ok(page.items)
    }

    /// `POST /v1/vaults`.
    ///
    /// # Errors
    /// As every call.
    pub async fn create_vault(&self, body: &CreateVault) -> Result<Vault, Error> {
        self.mutate(Method::POST, "/v1/vaults".into(), Some(body))
            .await
    }

    /// `GET /v1/vaults`: one page, optionally only the vault with `external_id`.
    ///
    /// # Errors
    /// As every call.
    pub async fn list_vaults(
        &self,
        external_id: Option<&str>,
        params: &ListParams,
    ) -> Result<Page<Vault>, Error> {
        let mut pairs = vec![("externalId", external_id.map(str::to_owned))];
        pairs.extend(params.pairs());
        get!(self, with_query("/v1/vaults", &pairs))
    }

    /// Every vault, page after page.
    pub fn vaults(&self, params: ListParams) -> BoxStream<'a, Result<Vault, Error>> {
        let client = self.client;
        stream_pages(params, move |p| async move {
            client.platform().list_vaults(None, &p).await
        })
    }

    /// `GET /v1/vaults/{vaultId}`.
    ///
    /// # Errors
    /// As every call.
    pub async fn get_vault(&self, vault_id: &str) -> Result<Vault, Error> {
        get!(self, format!("/v1/vaults/{}", segment(vault_id)))
    }

    /// `PATCH /v1/vaults/{vaultId}`.
    ///
    /// # Errors
    /// As every call.
    pub async fn update_vault(&self, vault_id: &str, body: &UpdateVault) -> Result<Vault, Error> {
        let path = format!("/v1/vaults/{}", segment(vault_id));
        self.mutate(Method::PATCH, path, Some(body)).await
    }

    // ----- wallets, addresses ---------------------------------------------------------------

    /// `POST /v1/vaults/{vaultId}/wallets`: the vault's wallet for the asset (the same one when
    /// it exists).
    ///
    /// # Errors
    /// As every call.
    pub async fn create_wallet(
        &self,
        vault_id: &str,
        body: &CreateWallet,
    ) -> Result<Wallet, Error> {
        let path = format!("/v1/vaults/{}/wallets", segment(vault_id));
        self.mutate(Method::POST, path, Some(body)).await
    }

    /// `GET /v1/vaults/{vaultId}/wallets`: one page.
    ///
    /// # Errors
    /// As every call.
    pub async fn list_wallets(
        &self,
        vault_id: &str,
        params: &ListParams,
    ) -> Result<Page<Wallet>, Error> {
        let path = format!("/v1/vaults/{}/wallets", segment(vault_id));
        get!(self, with_query(&path, &params.pairs()))
    }

    /// Every wallet of a vault, page after page.
    pub fn wallets(
        &self,
        vault_id: &str,
        params: ListParams,
    ) -> BoxStream<'a, Result<Wallet, Error>> {
        let client = self.client;
        let vault_id = vault_id.to_owned();
        stream_pages(params, move |p| {
            let vault_id = vault_id.clone();
            async move { client.platform().list_wallets(&vault_id, &p).await }
        })
    }

    /// `GET /v1/wallets/{walletId}`: with its balances.
    ///
    /// # Errors
    /// As every call.
    pub async fn get_wallet(&self, wallet_id: &str) -> Result<Wallet, Error> {
        get!(self, format!("/v1/wallets/{}", segment(wallet_id)))
    }

    /// `POST /v1/wallets/{walletId}/addresses`: mints an **additional** deposit address (every
    /// logical call mints one; its retries do not).
    ///
    /// # Errors
    /// As every call.
    pub async fn create_wallet_address(
        &self,
        wallet_id: &str,
        body: &CreateWalletAddress,
    ) -> Result<WalletAddress, Error> {
        let path = format!("/v1/wallets/{}/addresses", segment(wallet_id));
        self.mutate(Method::POST, path, Some(body)).await
    }

    // ----- address book ---------------------------------------------------------------------

    /// `POST /v1/address-book`.
    ///
    /// # Errors
    /// As every call.
    pub async fn create_address_book_entry(
        &self,
        body: &CreateAddressBookEntry,
    ) -> Result<AddressBookEntry, Error> {
        self.mutate(Method::POST, "/v1/address-book".into(), Some(body))
            .await
    }

    /// `GET /v1/address-book`: one page.
    ///
    /// # Errors
    /// As every call.
    pub async fn list_address_book(
        &self,
        filter: &AddressBookFilter,
        params: &ListParams,
    ) -> Result<Page<AddressBookEntry>, Error> {
        let mut pairs = vec![
            ("network", filter.network.clone()),
            ("assetId", filter.asset_id.clone()),
            ("status", filter.status.as_ref().map(ToString::to_string)),
        ];
        pairs.extend(params.pairs());
        get!(self, with_query("/v1/address-book", &pairs))
    }

    /// Every address-book entry matching `filter`, page after page.
    pub fn address_book(
        &self,
        filter: AddressBookFilter,
        params: ListParams,
    ) -> BoxStream<'a, Result<AddressBookEntry, Error>> {
        let client = self.client;
        stream_pages(params, move |p| {
            let filter = filter.clone();
            async move { client.platform().list_address_book(&filter, &p).await }
        })
    }

    /// `GET /v1/address-book/{id}`.
    ///
    /// # Errors
    /// As every call.
    pub async fn get_address_book_entry(&self, entry_id: &str) -> Result<AddressBookEntry, Error> {
        get!(self, format!("/v1/address-book/{}", segment(entry_id)))
    }

    /// `DELETE /v1/address-book/{id}`.
    ///
    /// # Errors
    /// As every call.
    pub async fn delete_address_book_entry(
        &self,
        entry_id: &str,
    ) -> Result<AddressBookEntry, Error> {
        let path = format!("/v1/address-book/{}", segment(entry_id));
        self.mutate::<(), _>(Method::DELETE, path, None).await
    }

    // ----- transactions ---------------------------------------------------------------------

    /// `POST /v1/transactions/transfer`: `Completed` at once.
    ///
    /// # Errors
    /// As every call.
    pub async fn transfer(&self, body: &CreateTransfer) -> Result<Transaction, Error> {
        self.mutate(Method::POST, "/v1/transactions/transfer".into(), Some(body))
            .await
    }

    /// `POST /v1/transactions/withdraw`: `Submitted`, the amount held.
    ///
    /// # Errors
    /// As every call.
    pub async fn withdraw(&self, body: &CreateWithdrawal) -> Result<Transaction, Error> {
        self.mutate(Method::POST, "/v1/transactions/withdraw".into(), Some(body))
            .await
    }

    /// `POST /v1/transactions/{id}/cancel`: only while `Submitted`.
    ///
    /// # Errors
    /// As every call (409 `transaction_not_cancellable` once handed over).
    pub async fn cancel(&self, transaction_id: &str) -> Result<Transaction, Error> {
        let path = format!("/v1/transactions/{}/cancel", segment(transaction_id));
        self.mutate::<(), _>(Method::POST, path, None).await
    }

    /// `GET /v1/transactions`: one page.
    ///
    /// # Errors
    /// As every call.
    pub async fn list_transactions(
        &self,
        filter: &TransactionFilter,
        params: &ListParams,
    ) -> Result<Page<Transaction>, Error> {
        let mut pairs = vec![
            ("vaultId", filter.vault_id.clone()),
            ("walletId", filter.wallet_id.clone()),
            ("kind", filter.kind.as_ref().map(ToString::to_string)),
            ("status", filter.status.as_ref().map(ToString::to_string)),
        ];
        pairs.extend(params.pairs());
        get!(self, with_query("/v1/transactions", &pairs))
    }

    /// Every transaction matching `filter`, page after page.
    pub fn transactions(
        &self,
        filter: TransactionFilter,
        params: ListParams,
    ) -> BoxStream<'a, Result<Transaction, Error>> {
        let client = self.client;
        stream_pages(params, move |p| {
            let filter = filter.clone();
            async move { client.platform().list_transactions(&filter, &p).await }
        })
    }

    /// `GET /v1/transactions/{id}`.
    ///
    /// # Errors
    /// As every call.
    pub async fn get_transaction(&self, transaction_id: &str) -> Result<Transaction, Error> {
        get!(
            self,
            format!("/v1/transactions/{}", segment(transaction_id))
        )
    }

    // ----- sandbox --------------------------------------------------------------------------

    /// `POST /v1/sandbox/deposits`: a simulated on-chain deposit (sandbox keys only).
    ///
    /// # Errors
    /// As every call (404 `route_not_found` with a live key).
    pub async fn simulate_deposit(&self, body: &SimulateDeposit) -> Result<Transaction, Error> {
        self.mutate(Method::POST, "/v1/sandbox/deposits".into(), Some(body))
            .await
    }

    // ----- events ---------------------------------------------------------------------------

    /// `GET /v1/events`: one page of the event log, in commit order. Keep
    /// `pagination.next_cursor` and pass it as [`EventQuery::after`] next time.
    ///
    /// # Errors
    /// As every call.
    pub async fn list_events(&self, query: &EventQuery) -> Result<Page<Event>, Error> {
        let types = (!query.types.is_empty()).then(|| query.types.join(","));
        let pairs = [
            ("after", query.after.clone()),
            ("types", types),
            ("limit", query.limit.map(|l| l.to_string())),
        ];
        get!(self, with_query("/v1/events", &pairs))
    }

    /// Every event from `query.after` up to now, page after page (it ends when `hasMore` is
    /// false; poll again later from the last page's cursor, see [`list_events`](Self::list_events)).
    pub fn events(&self, query: EventQuery) -> BoxStream<'a, Result<Event, Error>> {
        let client = self.client;
        let first = ListParams {
            limit: query.limit,
            starting_after: query.after.clone(),
            ending_before: None,
        };
        stream_pages(first, move |p| {
            let mut q = query.clone();
            q.after = p.starting_after;
            async move { client.platform().list_events(&q).await }
        })
    }

    /// `GET /v1/events/{eventId}`.
    ///
    /// # Errors
    /// As every call.
    pub async fn get_event(&self, event_id: &str) -> Result<Event, Error> {
        get!(self, format!("/v1/events/{}", segment(event_id)))
    }

    /// `POST /v1/events/{eventId}/redeliver`: queues one event for delivery again.
    ///
    /// # Errors
    /// As every call.
    pub async fn redeliver_event(&self, event_id: &str) -> Result<Redelivery, Error> {
        let path = format!("/v1/events/{}/redeliver", segment(event_id));
        self.mutate::<(), _>(Method::POST, path, None).await
    }

    // ----- webhook endpoint -----------------------------------------------------------------

    /// `PUT /v1/webhooks/outbound`: configure (or re-enable) the endpoint. The answer carries
    /// the `signingSecret` when one was generated: store it.
    ///
    /// # Errors
    /// As every call.
    pub async fn configure_webhook(
        &self,
        body: &ConfigureWebhook,
    ) -> Result<WebhookEndpoint, Error> {
        self.mutate(Method::PUT, "/v1/webhooks/outbound".into(), Some(body))
            .await
    }

    /// `GET /v1/webhooks/outbound` (never with the secret).
    ///
    /// # Errors
    /// As every call.
    pub async fn webhook(&self) -> Result<WebhookEndpoint, Error> {
        get!(self, "/v1/webhooks/outbound".to_owned())
    }

    /// `DELETE /v1/webhooks/outbound`.
    ///
    /// # Errors
    /// As every call (404 when none is configured).
    pub async fn delete_webhook(&self) -> Result<WebhookEndpoint, Error> {
        self.mutate::<(), _>(Method::DELETE, "/v1/webhooks/outbound".into(), None)
            .await
    }

    /// `POST /v1/webhooks/outbound/rotate-secret`: a new secret (in the answer); the old one
    /// keeps signing for 24 h.
    ///
    /// # Errors
    /// As every call.
    pub async fn rotate_webhook_secret(&self) -> Result<WebhookEndpoint, Error> {
        self.mutate::<(), _>(
            Method::POST,
            "/v1/webhooks/outbound/rotate-secret".into(),
            None,
        )
        .await
    }

    /// `POST /v1/webhooks/outbound/test`: sends a `webhook.test` event now and answers its
    /// delivery after the first attempt.
    ///
    /// # Errors
    /// As every call.
    pub async fn test_webhook(&self) -> Result<WebhookDelivery, Error> {
        self.mutate::<(), _>(Method::POST, "/v1/webhooks/outbound/test".into(), None)
            .await
    }

    /// `GET /v1/webhooks/outbound/deliveries`: one page.
    ///
    /// # Errors
    /// As every call.
    pub async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        params: &ListParams,
    ) -> Result<Page<WebhookDelivery>, Error> {
        let mut pairs = vec![
            ("eventId", filter.event_id.clone()),
            ("eventType", filter.event_type.clone()),
            ("status", filter.status.as_ref().map(ToString::to_string)),
        ];
        pairs.extend(params.pairs());
        get!(self, with_query("/v1/webhooks/outbound/deliveries", &pairs))
    }

    /// Every delivery matching `filter`, page after page.
    pub fn deliveries(
        &self,
        filter: DeliveryFilter,
        params: ListParams,
    ) -> BoxStream<'a, Result<WebhookDelivery, Error>> {
        let client = self.client;
        stream_pages(params, move |p| {
            let filter = filter.clone();
            async move { client.platform().list_deliveries(&filter, &p).await }
        })
    }

    /// `POST /v1/webhooks/outbound/redeliver-failed`: queues every failed delivery since
    /// `since`; answers how many.
    ///
    /// # Errors
    /// As every call.
    pub async fn redeliver_failed(&self, since: OffsetDateTime) -> Result<u64, Error> {
        let count: Count = self
            .mutate(
                Method::POST,
                "/v1/webhooks/outbound/redeliver-failed".into(),
                Some(&Since { since }),
            )
            .await?;
        Ok(count.count)
    }
}
