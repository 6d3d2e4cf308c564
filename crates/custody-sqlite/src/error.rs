//! Driver errors into [`StoreError`], naming violated unique rules as PostgreSQL does.

use custody_core::ports::StoreError;
use sqlx::error::DatabaseError;

/// Translates a driver error, naming violated unique rules as PostgreSQL does.
pub(crate) fn db_err(err: sqlx::Error) -> StoreError {
    custody_sql::translate(err, constraint_of)
}

/// Maps SQLite's report of a violated unique rule back to the constraint's PostgreSQL name.
///
/// SQLite names the columns (`UNIQUE constraint failed: vaults.tenant_id, vaults.environment`),
/// or for an index on expressions the index (`UNIQUE constraint failed: index 'name'`). The
/// column lists below are exactly those of the unique rules in `migrations/sqlite/`.
pub(crate) fn constraint_of(err: &dyn DatabaseError) -> Option<String> {
    constraint_for_message(err.message())
}

/// The column lists of every unique rule, as SQLite reports them, and their names. The
/// `(id, environment[, tenant_id])` keys that child rows' foreign keys point at can only be
/// violated by a duplicate id, and SQLite may check them before the primary key: they report as
/// the primary key, as PostgreSQL (which checks the primary key first) does.
const UNIQUE_RULES: &[(&str, &str)] = &[
    ("tenants.id", "tenants_pkey"),
    (
        "tenant_assets.tenant_id, tenant_assets.environment, tenant_assets.asset_id",
        "tenant_assets_pkey",
    ),
    ("api_keys.id", "api_keys_pkey"),
    (
        "webhook_endpoints.environment, webhook_endpoints.tenant_id",
        "webhook_endpoints_tenant_key",
    ),
    ("webhook_endpoints.id", "webhook_endpoints_pkey"),
    ("api_keys.key_hash", "api_keys_key_hash_key"),
    ("vaults.id", "vaults_pkey"),
    (
        "vaults.tenant_id, vaults.environment, vaults.external_ref",
        "vaults_tenant_external_ref_key",
    ),
    (
        "vaults.tenant_id, vaults.environment",
        "vaults_one_treasury_key",
    ),
    (
        "vaults.id, vaults.environment, vaults.tenant_id",
        "vaults_pkey",
    ),
    ("wallets.id", "wallets_pkey"),
    (
        "wallets.id, wallets.environment, wallets.tenant_id",
        "wallets_pkey",
    ),
    ("wallets.id, wallets.environment", "wallets_pkey"),
    (
        "wallets.vault_id, wallets.asset_id",
        "wallets_vault_asset_key",
    ),
    ("deposit_addresses.id", "deposit_addresses_pkey"),
    (
        "deposit_addresses.id, deposit_addresses.environment, deposit_addresses.tenant_id",
        "deposit_addresses_pkey",
    ),
    (
        "deposit_addresses.network, deposit_addresses.address",
        "deposit_addresses_network_address_key",
    ),
    (
        "deposit_addresses.wallet_id, deposit_addresses.derivation_index",
        "deposit_addresses_wallet_index_key",
    ),
    (
        "deposit_addresses.wallet_id",
        "deposit_addresses_one_primary_key",
    ),
    ("address_book_entries.id", "address_book_entries_pkey"),
    (
        "address_book_entries.id, address_book_entries.environment, address_book_entries.tenant_id",
        "address_book_entries_pkey",
    ),
    (
        "address_book_entries.tenant_id, address_book_entries.environment, \
         address_book_entries.network, address_book_entries.address",
        "address_book_entries_active_address_key",
    ),
    ("transactions.id", "transactions_pkey"),
    (
        "transactions.id, transactions.environment, transactions.tenant_id",
        "transactions_pkey",
    ),
    (
        "transactions.id, transactions.environment",
        "transactions_pkey",
    ),
    (
        "transactions.environment, transactions.kind, transactions.provider_ref",
        "transactions_kind_provider_ref_key",
    ),
    ("ledger_entries.seq", "ledger_entries_pkey"),
    ("events.id", "events_pkey"),
    (
        "events.id, events.environment, events.tenant_id",
        "events_pkey",
    ),
    (
        "webhook_delivery_attempts.id",
        "webhook_delivery_attempts_pkey",
    ),
    (
        "idempotency_records.environment, idempotency_records.tenant_id, idempotency_records.key",
        "idempotency_records_pkey",
    ),
    (
        "unattributed_deposits.environment, unattributed_deposits.provider_ref",
        "unattributed_deposits_pkey",
    ),
    ("instances.id", "instances_pkey"),
    (
        "request_signatures.api_key_id, request_signatures.signature_digest",
        "request_signatures_pkey",
    ),
    ("ed25519_public_keys.public_key", "ed25519_public_keys_pkey"),
    (
        "asset_totals.tenant_id, asset_totals.environment, asset_totals.asset_id, asset_totals.slot",
        "asset_totals_pkey",
    ),
];

/// The constraint name for an SQLite error message, if it reports a unique violation.
pub(crate) fn constraint_for_message(message: &str) -> Option<String> {
    let rest = message.strip_prefix("UNIQUE constraint failed: ")?.trim();
    if let Some(index) = rest.strip_prefix("index '") {
        return index.strip_suffix('\'').map(str::to_owned);
    }
    UNIQUE_RULES
        .iter()
        .find(|(columns, _)| *columns == rest)
        .map(|(_, name)| (*name).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_map_to_postgres_names() {
        assert_eq!(
            constraint_for_message(
                "UNIQUE constraint failed: vaults.tenant_id, vaults.environment, vaults.external_ref"
            )
            .as_deref(),
            Some("vaults_tenant_external_ref_key")
        );
        assert_eq!(
            constraint_for_message(
                "UNIQUE constraint failed: vaults.tenant_id, vaults.environment"
            )
            .as_deref(),
            Some("vaults_one_treasury_key")
        );
        assert_eq!(
            constraint_for_message("UNIQUE constraint failed: index 'some_index'").as_deref(),
            Some("some_index")
        );
        assert_eq!(constraint_for_message("CHECK constraint failed: x"), None);
        assert_eq!(
            constraint_for_message("UNIQUE constraint failed: nope.x"),
            None
        );
    }
}
