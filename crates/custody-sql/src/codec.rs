//! Rows back into domain values, written once for both stores.
//!
//! Each adapter implements [`Columns`] for its row type, choosing how a column is physically
//! read (a PostgreSQL `timestamptz` or an SQLite integer of microseconds; a `jsonb` or a JSON
//! text). The `decode_*` functions then read the logical schema by column name, so the two
//! stores cannot drift in how they interpret a row. Every stored value is parsed with the same
//! core parser a request would go through: a row that does not decode is reported as corrupt
//! ([`StoreError::Internal`]), never silently patched.
//!
//! Amounts (`numeric` in PostgreSQL, text in SQLite) are read as decimal text: PostgreSQL
//! queries select them as `col::text`.

use std::collections::BTreeMap;

use custody_core::address_book::AddressBookEntry;
use custody_core::amount::Amount;
use custody_core::api_key::{ApiKey, IpAllowList, KeyHash, KeyMode, Scope, ScopeSet};
use custody_core::asset::{AssetId, Network};
use custody_core::chain_address::ChainAddress;
use custody_core::deposit_address::{DepositAddress, ProviderRef};
use custody_core::environment::Environment;
use custody_core::event::{resource_type, Event, EventData, EventType};
use custody_core::id::{
    AddressBookEntryId, AddressId, ApiKeyId, DeliveryId, EventId, TransactionId, VaultId, WalletId,
};
use custody_core::idempotency::{
    Fingerprint, IdempotencyKey, IdempotencyRecord, RecordState, StoredResponse,
};
use custody_core::ledger::{Account, LedgerEntry, Posting};
use custody_core::outbox::{DeliveryAttempt, DeliveryState, DeliveryStatus};
use custody_core::ports::{StoreError, StoredApiKey};
use custody_core::secret::Secret;
use custody_core::tenant::{Tenant, TenantPolicy, TenantStatus};
use custody_core::text::{ExternalRef, Label, Metadata, VaultName};
use custody_core::transaction::{Confirmations, StatusChange, Transaction};
use custody_core::vault::Vault;
use custody_core::wallet::{Balances, Wallet};
use custody_core::work::{
    DueTransaction, StuckWithdrawal, SuspenseState, UnattributedDeposit, WorkState,
};
use serde_json::Value;
use time::OffsetDateTime;

use crate::errors::corrupt;
use crate::names;
use crate::seal::MasterKey;

/// Typed access to one row's columns by name. Implementations translate driver errors with
/// [`translate`](crate::errors::translate); a missing column or a type mismatch is `Internal`.
pub trait Columns {
    /// A non-null text column.
    fn text(&self, col: &str) -> Result<String, StoreError>;
    /// A nullable text column.
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError>;
    /// A non-null integer column.
    fn int(&self, col: &str) -> Result<i64, StoreError>;
    /// A nullable integer column.
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError>;
    /// A non-null boolean column.
    fn boolean(&self, col: &str) -> Result<bool, StoreError>;
    /// A non-null binary column.
    fn bytes(&self, col: &str) -> Result<Vec<u8>, StoreError>;
    /// A nullable binary column.
    fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// A non-null timestamp column.
    fn time(&self, col: &str) -> Result<OffsetDateTime, StoreError>;
    /// A nullable timestamp column.
    fn opt_time(&self, col: &str) -> Result<Option<OffsetDateTime>, StoreError>;
    /// A non-null JSON column.
    fn json(&self, col: &str) -> Result<Value, StoreError>;
    /// A nullable JSON column.
    fn opt_json(&self, col: &str) -> Result<Option<Value>, StoreError>;
}

fn parsed<T, E: std::fmt::Display>(col: &str, r: Result<T, E>) -> Result<T, StoreError> {
    r.map_err(|e| corrupt(format_args!("{col}: {e}")))
}

fn some<T>(col: &str, value: Option<T>, raw: &str) -> Result<T, StoreError> {
    value.ok_or_else(|| corrupt(format_args!("{col}: unknown value {raw:?}")))
}

pub(crate) fn id<T: std::str::FromStr>(row: &impl Columns, col: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    let raw = row.text(col)?;
    parsed(col, raw.parse::<T>())
}

fn opt_id<T: std::str::FromStr>(row: &impl Columns, col: &str) -> Result<Option<T>, StoreError>
where
    T::Err: std::fmt::Display,
{
    row.opt_text(col)?
        .map(|raw| parsed(col, raw.parse::<T>()))
        .transpose()
}

fn unsigned<T: TryFrom<i64>>(col: &str, value: i64) -> Result<T, StoreError> {
    T::try_from(value).map_err(|_| corrupt(format_args!("{col}: {value} out of range")))
}

/// A non-negative amount column, read as decimal text.
pub fn amount(row: &impl Columns, col: &str) -> Result<Amount, StoreError> {
    parsed(col, Amount::parse_base_units(&row.text(col)?))
}

pub(crate) fn asset(row: &impl Columns, col: &str) -> Result<AssetId, StoreError> {
    let raw = row.text(col)?;
    parsed(col, AssetId::parse(&raw))
}

fn opt_label(row: &impl Columns, col: &str) -> Result<Option<Label>, StoreError> {
    row.opt_text(col)?
        .map(|raw| parsed(col, Label::parse(raw)))
        .transpose()
}

fn version(row: &impl Columns) -> Result<u64, StoreError> {
    unsigned("version", row.int("version")?)
}

/// The environment column.
pub fn environment(row: &impl Columns) -> Result<Environment, StoreError> {
    id(row, "environment")
}

/// `tenants` row.
pub fn tenant(row: &impl Columns) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: id(row, "id")?,
        name: row.text("name")?,
        status: id::<TenantStatus>(row, "status")?,
        created_at: row.time("created_at")?,
    })
}

/// The tenant columns of [`tables::api_keys::with_tenant`](crate::tables::api_keys::with_tenant)
/// (`tenant_id`, `tenant_name`, `tenant_status`, `tenant_created_at`).
pub fn key_tenant(row: &impl Columns) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: id(row, "tenant_id")?,
        name: row.text("tenant_name")?,
        status: id::<TenantStatus>(row, "tenant_status")?,
        created_at: row.time("tenant_created_at")?,
    })
}

/// `tenants` policy columns ([`tables::tenants::POLICY`](crate::tables::tenants::POLICY)).
pub fn tenant_policy(row: &impl Columns) -> Result<TenantPolicy, StoreError> {
    Ok(TenantPolicy {
        status: id::<TenantStatus>(row, "status")?,
        address_book_cooling_off: row
            .opt_int("address_book_cooling_off_secs")?
            .map(time::Duration::seconds),
    })
}

/// Space-separated scope names, as stored.
pub fn scopes_text(scopes: &ScopeSet) -> String {
    scopes
        .iter()
        .map(Scope::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Space-separated CIDR blocks, as stored.
pub fn allowed_ips_text(ips: &IpAllowList) -> String {
    ips.entries()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Seals an HMAC secret for storage, bound to its key id.
///
/// # Errors
/// `Internal` if sealing fails (it does not for real secret sizes).
pub fn seal_hmac_secret(
    master: &MasterKey,
    key: ApiKeyId,
    secret: &Secret,
) -> Result<Vec<u8>, StoreError> {
    master
        .seal(secret.expose(), key.to_string().as_bytes())
        .map_err(|e| StoreError::Internal(Box::new(e)))
}

/// `api_keys` row, with its HMAC secret opened under the master key.
pub fn api_key(row: &impl Columns, master: &MasterKey) -> Result<StoredApiKey, StoreError> {
    let key_id: ApiKeyId = id(row, "id")?;
    let scopes_raw = row.text("scopes")?;
    let scopes = scopes_raw
        .split_whitespace()
        .map(|s| parsed("scopes", s.parse::<Scope>()))
        .collect::<Result<ScopeSet, _>>()?;
    let ips_raw = row.text("allowed_ips")?;
    let allowed_ips = parsed(
        "allowed_ips",
        IpAllowList::parse(ips_raw.split_whitespace()),
    )?;
    let hash_bytes = row.bytes("key_hash")?;
    let hash: [u8; 32] = hash_bytes
        .try_into()
        .map_err(|_| corrupt("key_hash: not 32 bytes"))?;
    let hmac_secret = row
        .opt_bytes("hmac_secret_sealed")?
        .map(|sealed| {
            master
                .open(&sealed, key_id.to_string().as_bytes())
                .map(Secret::new)
                .map_err(|e| corrupt(format_args!("hmac_secret_sealed of {key_id}: {e}")))
        })
        .transpose()?;
    Ok(StoredApiKey {
        key: ApiKey {
            id: key_id,
            tenant_id: id(row, "tenant_id")?,
            environment: environment(row)?,
            mode: id::<KeyMode>(row, "mode")?,
            scopes,
            allowed_ips,
            key_hash: KeyHash::from_bytes(hash),
            key_hint: row.text("key_hint")?,
            ed25519_public_key: row.opt_text("ed25519_public_key")?,
            created_at: row.time("created_at")?,
            expires_at: row.opt_time("expires_at")?,
            revoked_at: row.opt_time("revoked_at")?,
            replaced_by: opt_id(row, "replaced_by")?,
        },
        hmac_secret,
    })
}

/// Vault metadata as stored JSON (an object of strings).
pub fn metadata_json(metadata: &Metadata) -> Value {
    Value::Object(
        metadata
            .entries()
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// `vaults` row.
pub fn vault(row: &impl Columns) -> Result<Vault, StoreError> {
    let kind_raw = row.text("kind")?;
    let status_raw = row.text("status")?;
    let metadata_map: BTreeMap<String, String> =
        parsed("metadata", serde_json::from_value(row.json("metadata")?))?;
    Ok(Vault {
        id: id::<VaultId>(row, "id")?,
        tenant_id: id(row, "tenant_id")?,
        kind: some("kind", names::parse_vault_kind(&kind_raw), &kind_raw)?,
        external_ref: row
            .opt_text("external_ref")?
            .map(|raw| parsed("external_ref", ExternalRef::parse(raw)))
            .transpose()?,
        name: parsed("name", VaultName::parse(row.text("name")?))?,
        metadata: parsed("metadata", Metadata::parse(metadata_map))?,
        status: some(
            "status",
            names::parse_vault_status(&status_raw),
            &status_raw,
        )?,
        version: version(row)?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

/// `wallets` row.
pub fn wallet(row: &impl Columns) -> Result<Wallet, StoreError> {
    let status_raw = row.text("status")?;
    Ok(Wallet {
        id: id::<WalletId>(row, "id")?,
        tenant_id: id(row, "tenant_id")?,
        vault_id: id(row, "vault_id")?,
        asset: asset(row, "asset_id")?,
        label: opt_label(row, "label")?,
        status: some(
            "status",
            names::parse_wallet_status(&status_raw),
            &status_raw,
        )?,
        balances: Balances {
            available: amount(row, "available")?,
            pending: amount(row, "pending")?,
            held: amount(row, "held")?,
        },
        version: version(row)?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

fn chain_address(
    row: &impl Columns,
    network_col: &str,
    col: &str,
) -> Result<ChainAddress, StoreError> {
    let network = parsed(network_col, Network::parse(&row.text(network_col)?))?;
    parsed(col, ChainAddress::parse(network, &row.text(col)?))
}

/// `deposit_addresses` row.
/// A deposit address with its vault's `external_ref`, read as `vault_external_ref`
/// ([`crate::tables::addresses::get_with_reference`]).
pub fn referenced_address(
    row: &impl Columns,
) -> Result<(DepositAddress, Option<ExternalRef>), StoreError> {
    let external_ref = row
        .opt_text("vault_external_ref")?
        .map(|raw| parsed("vault_external_ref", ExternalRef::parse(raw)))
        .transpose()?;
    Ok((deposit_address(row)?, external_ref))
}

pub fn deposit_address(row: &impl Columns) -> Result<DepositAddress, StoreError> {
    let status_raw = row.text("status")?;
    let asset = asset(row, "asset_id")?;
    let address = chain_address(row, "network", "address")?;
    if address.network() != asset.network() {
        return Err(corrupt("deposit address network differs from its asset's"));
    }
    Ok(DepositAddress {
        id: id::<AddressId>(row, "id")?,
        tenant_id: id(row, "tenant_id")?,
        vault_id: id(row, "vault_id")?,
        wallet_id: id(row, "wallet_id")?,
        asset,
        address,
        label: opt_label(row, "label")?,
        is_primary: row.boolean("is_primary")?,
        derivation_index: unsigned("derivation_index", row.int("derivation_index")?)?,
        provider: ProviderRef {
            provider: row.text("provider")?,
            reference: row.opt_text("provider_reference")?,
        },
        status: some(
            "status",
            names::parse_address_status(&status_raw),
            &status_raw,
        )?,
        version: version(row)?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

/// A transaction's status history as stored JSON:
/// `[{"status": "submitted", "at": "<rfc3339>"}, …]` with storage status names.
///
/// # Errors
/// `Internal` if a time cannot be formatted (years outside 0–9999).
pub fn history_json(history: &[StatusChange]) -> Result<Value, StoreError> {
    history
        .iter()
        .map(|change| {
            let at = change
                .at
                .format(&time::format_description::well_known::Rfc3339)
                .map_err(|e| StoreError::Internal(Box::new(e)))?;
            Ok(serde_json::json!({
                "status": names::transaction_status(change.status),
                "at": at,
            }))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

fn history(value: Value) -> Result<Vec<StatusChange>, StoreError> {
    let Value::Array(items) = value else {
        return Err(corrupt("history: not an array"));
    };
    items
        .into_iter()
        .map(|item| {
            let status_raw = item.get("status").and_then(Value::as_str).unwrap_or("");
            let status = some(
                "history.status",
                names::parse_transaction_status(status_raw),
                status_raw,
            )?;
            let at_raw = item.get("at").and_then(Value::as_str).unwrap_or("");
            let at = parsed(
                "history.at",
                OffsetDateTime::parse(at_raw, &time::format_description::well_known::Rfc3339),
            )?;
            Ok(StatusChange { status, at })
        })
        .collect()
}

/// `transactions` row.
fn confirmations(row: &impl Columns) -> Result<Option<Confirmations>, StoreError> {
    match (
        row.opt_int("confirmations_seen")?,
        row.opt_int("confirmations_required")?,
    ) {
        (Some(seen), Some(required)) => Ok(Some(Confirmations {
            seen: unsigned("confirmations_seen", seen)?,
            required: unsigned("confirmations_required", required)?,
        })),
        (None, None) => Ok(None),
        _ => Err(corrupt("confirmations: one of seen/required is null")),
    }
}

fn transaction_status(
    row: &impl Columns,
) -> Result<custody_core::transaction::TransactionStatus, StoreError> {
    let raw = row.text("status")?;
    some("status", names::parse_transaction_status(&raw), &raw)
}

/// One row of [`withdrawal_queue`](crate::tables::transactions::withdrawal_queue).
pub fn withdrawal_queue(
    row: &impl Columns,
) -> Result<custody_core::work::WithdrawalQueue, StoreError> {
    Ok(custody_core::work::WithdrawalQueue {
        status: transaction_status(row)?,
        count: unsigned("count", row.int("count")?)?,
        flagged: unsigned("flagged", row.int("flagged")?)?,
        oldest_change: row.time("oldest_change")?,
    })
}

/// A claimed row (`RETURNING` of [`claim_due`](crate::tables::transactions::claim_due)).
pub fn due_transaction(row: &impl Columns) -> Result<DueTransaction, StoreError> {
    let kind_raw = row.text("kind")?;
    Ok(DueTransaction {
        id: id(row, "id")?,
        kind: some("kind", names::parse_transaction_kind(&kind_raw), &kind_raw)?,
        status: transaction_status(row)?,
        provider_ref: row.opt_text("provider_ref")?,
        needs_reconciliation: row.opt_text("reconciliation_reason")?.is_some(),
        poll_attempts: unsigned("poll_attempts", row.int("poll_attempts")?)?,
    })
}

/// A transaction with the worker's bookkeeping.
pub fn stuck_withdrawal(row: &impl Columns) -> Result<StuckWithdrawal, StoreError> {
    Ok(StuckWithdrawal {
        transaction: transaction(row)?,
        work: WorkState {
            next_poll_at: row.opt_time("next_poll_at")?,
            lease_until: row.opt_time("lease_until")?,
            lease_owner: row.opt_text("lease_owner")?,
            poll_attempts: unsigned("poll_attempts", row.int("poll_attempts")?)?,
            reconciliation_at: row.opt_time("reconciliation_at")?,
        },
    })
}

/// `unattributed_deposits` row.
pub fn unattributed_deposit(row: &impl Columns) -> Result<UnattributedDeposit, StoreError> {
    Ok(UnattributedDeposit {
        provider_ref: row.text("provider_ref")?,
        tenant_id: opt_id(row, "tenant_id")?,
        vault_id: opt_id(row, "vault_id")?,
        deposit_address_id: opt_id(row, "deposit_address_id")?,
        asset: asset(row, "asset_id")?,
        amount: amount(row, "amount")?,
        address: chain_address(row, "network", "address")?,
        tx_hash: row.opt_text("tx_hash")?,
        status: transaction_status(row)?,
        confirmations: confirmations(row)?,
        reason: row.text("reason")?,
        first_seen_at: row.time("first_seen_at")?,
        last_seen_at: row.time("last_seen_at")?,
        report: json_column(row, "report")?,
        state: {
            let raw = row.text("state")?;
            SuspenseState::parse(&raw)
                .ok_or_else(|| corrupt(format_args!("unknown suspense state `{raw}`")))?
        },
        transaction_id: opt_id(row, "transaction_id")?,
        resolution: json_column(row, "resolution")?,
    })
}

/// A nullable JSON text column; `Null` when null.
fn json_column(row: &impl Columns, col: &str) -> Result<serde_json::Value, StoreError> {
    row.opt_text(col)?
        .map_or(Ok(serde_json::Value::Null), |raw| {
            serde_json::from_str(&raw).map_err(|e| corrupt(format_args!("{col} is not JSON: {e}")))
        })
}

pub fn transaction(row: &impl Columns) -> Result<Transaction, StoreError> {
    let kind_raw = row.text("kind")?;
    let status_raw = row.text("status")?;
    let destination_address = match row.opt_text("destination_address")? {
        Some(_) => Some(chain_address(
            row,
            "destination_network",
            "destination_address",
        )?),
        None => None,
    };
    let confirmations = confirmations(row)?;
    Ok(Transaction {
        id: id::<TransactionId>(row, "id")?,
        tenant_id: id(row, "tenant_id")?,
        kind: some("kind", names::parse_transaction_kind(&kind_raw), &kind_raw)?,
        status: some(
            "status",
            names::parse_transaction_status(&status_raw),
            &status_raw,
        )?,
        asset: asset(row, "asset_id")?,
        amount: amount(row, "amount")?,
        source_wallet_id: opt_id(row, "source_wallet_id")?,
        destination_wallet_id: opt_id(row, "destination_wallet_id")?,
        deposit_address_id: opt_id(row, "deposit_address_id")?,
        address_book_entry_id: opt_id(row, "address_book_entry_id")?,
        destination_address,
        provider_ref: row.opt_text("provider_ref")?,
        tx_hash: row.opt_text("tx_hash")?,
        confirmations,
        reference: opt_label(row, "reference")?,
        failure_reason: row.opt_text("failure_reason")?,
        history: history(row.json("history")?)?,
        reconciliation_reason: row.opt_text("reconciliation_reason")?,
        version: version(row)?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

/// The storage columns of a posting's account: (`account_kind`, `wallet_id`, `bucket`).
pub fn account_columns(account: &Account) -> (&'static str, Option<String>, Option<&'static str>) {
    match account {
        Account::Wallet { wallet_id, bucket } => (
            names::ACCOUNT_WALLET,
            Some(wallet_id.to_string()),
            Some(names::bucket(*bucket)),
        ),
        Account::External { .. } => (names::ACCOUNT_EXTERNAL, None, None),
    }
}

/// `ledger_entries` row (`delta` read as signed decimal text).
pub fn ledger_entry(row: &impl Columns) -> Result<LedgerEntry, StoreError> {
    let asset = asset(row, "asset_id")?;
    let kind = row.text("account_kind")?;
    let account = match kind.as_str() {
        names::ACCOUNT_WALLET => {
            let bucket_raw = row.text("bucket")?;
            Account::Wallet {
                wallet_id: id(row, "wallet_id")?,
                bucket: some("bucket", names::parse_bucket(&bucket_raw), &bucket_raw)?,
            }
        }
        names::ACCOUNT_EXTERNAL => Account::External { asset },
        other => {
            return Err(corrupt(format_args!(
                "account_kind: unknown value {other:?}"
            )))
        }
    };
    let delta: i128 = parsed("delta", row.text("delta")?.trim().parse::<i128>())?;
    Ok(LedgerEntry {
        transaction_id: id(row, "transaction_id")?,
        asset,
        posting: Posting { account, delta },
        created_at: row.time("created_at")?,
    })
}

/// `address_book_entries` row.
pub fn address_book_entry(row: &impl Columns) -> Result<AddressBookEntry, StoreError> {
    let status_raw = row.text("status")?;
    let address = chain_address(row, "network", "address")?;
    Ok(AddressBookEntry {
        id: id::<AddressBookEntryId>(row, "id")?,
        tenant_id: id(row, "tenant_id")?,
        network: address.network(),
        address,
        label: parsed("label", Label::parse(row.text("label")?))?,
        asset: row
            .opt_text("asset_id")?
            .map(|raw| parsed("asset_id", AssetId::parse(&raw)))
            .transpose()?,
        status: some(
            "status",
            names::parse_entry_status(&status_raw),
            &status_raw,
        )?,
        version: version(row)?,
        created_at: row.time("created_at")?,
        deleted_at: row.opt_time("deleted_at")?,
        // Rows written before cooling-off existed were usable at once.
        activates_at: match row.opt_time("activates_at")? {
            Some(at) => at,
            None => row.time("created_at")?,
        },
    })
}

/// `events` row (the event itself, not its delivery bookkeeping).
pub fn event(row: &impl Columns) -> Result<Event, StoreError> {
    let type_raw = row.text("event_type")?;
    let resource_raw = row.text("resource_type")?;
    Ok(Event {
        id: id::<EventId>(row, "id")?,
        tenant_id: id(row, "tenant_id")?,
        event_type: some("event_type", EventType::parse(&type_raw), &type_raw)?,
        created_at: row.time("created_at")?,
        data: EventData {
            resource_type: some("resource_type", resource_type(&resource_raw), &resource_raw)?,
            resource_id: row.text("resource_id")?,
            version: unsigned("resource_version", row.int("resource_version")?)?,
            snapshot: row.json("snapshot")?,
        },
        previous_attributes: row.opt_json("previous_attributes")?,
    })
}

/// The delivery columns of an `events` row.
pub fn delivery_status(row: &impl Columns) -> Result<DeliveryStatus, StoreError> {
    let state_raw = row.text("delivery_state")?;
    Ok(DeliveryStatus {
        state: some(
            "delivery_state",
            DeliveryState::parse(&state_raw),
            &state_raw,
        )?,
        attempts: unsigned("attempts", row.int("attempts")?)?,
        next_attempt_at: row.opt_time("next_attempt_at")?,
        delivered_at: row.opt_time("delivered_at")?,
    })
}

/// `webhook_delivery_attempts` row.
pub fn delivery_attempt(row: &impl Columns) -> Result<DeliveryAttempt, StoreError> {
    Ok(DeliveryAttempt {
        id: id::<DeliveryId>(row, "id")?,
        event_id: id(row, "event_id")?,
        tenant_id: id(row, "tenant_id")?,
        attempt: unsigned("attempt", row.int("attempt")?)?,
        attempted_at: row.time("attempted_at")?,
        url: row.text("url")?,
        response_status: row
            .opt_int("response_status")?
            .map(|s| unsigned("response_status", s))
            .transpose()?,
        error: row.opt_text("error")?,
        duration_ms: unsigned("duration_ms", row.int("duration_ms")?)?,
    })
}

/// Stored response headers as JSON: `[["name", "value"], …]`, order kept.
pub fn headers_json(headers: &[(String, String)]) -> Value {
    Value::Array(
        headers
            .iter()
            .map(|(n, v)| Value::Array(vec![Value::String(n.clone()), Value::String(v.clone())]))
            .collect(),
    )
}

/// `idempotency_records` row.
pub fn idempotency_record(row: &impl Columns) -> Result<IdempotencyRecord, StoreError> {
    let key_raw = row.text("key")?;
    let key = parsed("key", IdempotencyKey::parse(key_raw.as_bytes()))?;
    let fingerprint_bytes = row.bytes("fingerprint")?;
    let fingerprint: [u8; 32] = fingerprint_bytes
        .try_into()
        .map_err(|_| corrupt("fingerprint: not 32 bytes"))?;
    let state = match row.text("state")?.as_str() {
        "in_flight" => RecordState::InFlight,
        "completed" => {
            let status = row
                .opt_int("response_status")?
                .ok_or_else(|| corrupt("completed record without response_status"))?;
            let headers: Vec<(String, String)> = parsed(
                "response_headers",
                serde_json::from_value(
                    row.opt_json("response_headers")?
                        .unwrap_or(Value::Array(vec![])),
                ),
            )?;
            RecordState::Completed(StoredResponse {
                status: unsigned("response_status", status)?,
                headers,
                body: row.opt_bytes("response_body")?.unwrap_or_default(),
            })
        }
        other => return Err(corrupt(format_args!("state: unknown value {other:?}"))),
    };
    Ok(IdempotencyRecord {
        key,
        fingerprint: Fingerprint(fingerprint),
        state,
        created_at: row.time("created_at")?,
        expires_at: row.time("expires_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A row held in a map, for exercising the decoders without a database.
    #[derive(Default)]
    struct MapRow(HashMap<&'static str, Option<Value>>);

    impl MapRow {
        fn set(mut self, col: &'static str, v: Value) -> Self {
            self.0.insert(col, Some(v));
            self
        }
        fn null(mut self, col: &'static str) -> Self {
            self.0.insert(col, None);
            self
        }
        fn get(&self, col: &str) -> Result<Option<&Value>, StoreError> {
            self.0
                .get(col)
                .map(Option::as_ref)
                .ok_or_else(|| StoreError::Internal(format!("no column {col}").into()))
        }
    }

    fn time_of(v: &Value) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(v.as_i64().unwrap()).unwrap()
    }

    impl Columns for MapRow {
        fn text(&self, col: &str) -> Result<String, StoreError> {
            self.opt_text(col)?.ok_or_else(|| corrupt(col))
        }
        fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
            Ok(self.get(col)?.map(|v| v.as_str().unwrap().to_owned()))
        }
        fn int(&self, col: &str) -> Result<i64, StoreError> {
            self.opt_int(col)?.ok_or_else(|| corrupt(col))
        }
        fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
            Ok(self.get(col)?.map(|v| v.as_i64().unwrap()))
        }
        fn boolean(&self, col: &str) -> Result<bool, StoreError> {
            Ok(self.get(col)?.unwrap().as_bool().unwrap())
        }
        fn bytes(&self, col: &str) -> Result<Vec<u8>, StoreError> {
            self.opt_bytes(col)?.ok_or_else(|| corrupt(col))
        }
        fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(self
                .get(col)?
                .map(|v| serde_json::from_value(v.clone()).unwrap()))
        }
        fn time(&self, col: &str) -> Result<OffsetDateTime, StoreError> {
            self.opt_time(col)?.ok_or_else(|| corrupt(col))
        }
        fn opt_time(&self, col: &str) -> Result<Option<OffsetDateTime>, StoreError> {
            Ok(self.get(col)?.map(time_of))
        }
        fn json(&self, col: &str) -> Result<Value, StoreError> {
            self.opt_json(col)?.ok_or_else(|| corrupt(col))
        }
        fn opt_json(&self, col: &str) -> Result<Option<Value>, StoreError> {
            Ok(self.get(col)?.cloned())
        }
    }

    fn wallet_row() -> MapRow {
        MapRow::default()
            .set("id", "acc_01JD0000000000000000000000".into())
            .set("tenant_id", "ten_01JD0000000000000000000000".into())
            .set("vault_id", "vlt_01JD0000000000000000000000".into())
            .set("asset_id", "USDC_ETHEREUM".into())
            .null("label")
            .set("status", "active".into())
            .set(
                "available",
                "340282366920938463463374607431768211455".into(),
            )
            .set("pending", "0".into())
            .set("held", "12".into())
            .set("version", 3.into())
            .set("created_at", 1_700_000_000.into())
            .set("updated_at", 1_700_000_001.into())
    }

    #[test]
    fn wallet_decodes_full_u128_balances() {
        let w = wallet(&wallet_row()).unwrap();
        assert_eq!(w.balances.available.base_units(), u128::MAX);
        assert_eq!(w.balances.held.base_units(), 12);
        assert_eq!(w.version, 3);
    }

    #[test]
    fn corrupt_values_are_internal_errors_not_defaults() {
        for (col, bad) in [
            ("status", Value::from("Active")),
            ("available", Value::from("-1")),
            ("available", Value::from("1.5")),
            ("asset_id", Value::from("DOGE_ETHEREUM")),
            ("version", Value::from(-1)),
            ("vault_id", Value::from("acc_01JD0000000000000000000000")),
        ] {
            let row = wallet_row().set(col, bad.clone());
            assert!(
                matches!(wallet(&row), Err(StoreError::Internal(_))),
                "{col}={bad} must be refused"
            );
        }
    }

    #[test]
    fn history_round_trips_through_storage_names() {
        use custody_core::transaction::TransactionStatus;
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
            + time::Duration::microseconds(123_456);
        let changes = vec![
            StatusChange {
                status: TransactionStatus::Submitted,
                at,
            },
            StatusChange {
                status: TransactionStatus::PendingSignature,
                at,
            },
        ];
        let json = history_json(&changes).unwrap();
        assert_eq!(json[1]["status"], "pending_signature");
        assert_eq!(history(json).unwrap(), changes);
        assert!(history(serde_json::json!([{"status": "PendingSignature", "at": "x"}])).is_err());
    }

    #[test]
    fn headers_round_trip_in_order() {
        let headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("location".to_owned(), "/v1/vaults/x".to_owned()),
        ];
        let back: Vec<(String, String)> = serde_json::from_value(headers_json(&headers)).unwrap();
        assert_eq!(back, headers);
    }

    #[test]
    fn scopes_and_ips_text_round_trip() {
        let scopes = ScopeSet::all();
        let text = scopes_text(&scopes);
        let back: ScopeSet = text
            .split_whitespace()
            .map(|s| s.parse::<Scope>().unwrap())
            .collect();
        assert_eq!(back, scopes);
        let ips = IpAllowList::parse(["10.0.0.0/8", "2001:db8::/32"]).unwrap();
        assert_eq!(allowed_ips_text(&ips), "10.0.0.0/8 2001:db8::/32");
        assert_eq!(allowed_ips_text(&IpAllowList::allow_all()), "");
    }
}
