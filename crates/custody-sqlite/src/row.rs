//! Rows, values and errors: the SQLite side of the shared codec.
//!
//! Physical types (see `migrations/sqlite/`): timestamps are INTEGER microseconds since the Unix
//! epoch, amounts canonical decimal TEXT, JSON TEXT, booleans INTEGER 0/1, bytes BLOB.

use custody_core::ports::StoreError;
use custody_sql::{corrupt, Columns};
use serde_json::Value;
use sqlx::error::DatabaseError;
use sqlx::sqlite::SqliteRow;
use sqlx::Row as _;
use time::OffsetDateTime;

/// An SQLite row read through the shared [`Columns`] trait. (A newtype: neither the trait nor
/// `SqliteRow` is this crate's, so the trait cannot be implemented for the row directly.)
pub(crate) struct Row<'r>(pub(crate) &'r SqliteRow);

impl Columns for Row<'_> {
    fn text(&self, col: &str) -> Result<String, StoreError> {
        self.0.try_get::<String, _>(col).map_err(db)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.0.try_get::<Option<String>, _>(col).map_err(db)
    }
    fn int(&self, col: &str) -> Result<i64, StoreError> {
        self.0.try_get::<i64, _>(col).map_err(db)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        self.0.try_get::<Option<i64>, _>(col).map_err(db)
    }
    fn boolean(&self, col: &str) -> Result<bool, StoreError> {
        match self.int(col)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(corrupt(format_args!("{col}: {other} is not a boolean"))),
        }
    }
    fn bytes(&self, col: &str) -> Result<Vec<u8>, StoreError> {
        self.0.try_get::<Vec<u8>, _>(col).map_err(db)
    }
    fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.try_get::<Option<Vec<u8>>, _>(col).map_err(db)
    }
    fn time(&self, col: &str) -> Result<OffsetDateTime, StoreError> {
        from_micros(col, self.int(col)?)
    }
    fn opt_time(&self, col: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        self.opt_int(col)?.map(|m| from_micros(col, m)).transpose()
    }
    fn json(&self, col: &str) -> Result<Value, StoreError> {
        parse_json(col, &self.text(col)?)
    }
    fn opt_json(&self, col: &str) -> Result<Option<Value>, StoreError> {
        self.opt_text(col)?
            .map(|raw| parse_json(col, &raw))
            .transpose()
    }
}

fn parse_json(col: &str, raw: &str) -> Result<Value, StoreError> {
    serde_json::from_str(raw).map_err(|e| corrupt(format_args!("{col}: {e}")))
}

/// Decodes every row with `decode`.
pub(crate) fn decode_all<T>(
    rows: &[SqliteRow],
    decode: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(|r| decode(&Row(r))).collect()
}

/// A time as stored: whole microseconds since the Unix epoch. Sub-microsecond precision is
/// dropped (floored), which is what PostgreSQL's `timestamptz` keeps too. Every
/// `OffsetDateTime` (years ±9999) fits an `i64` of microseconds.
pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    let us = t.unix_timestamp_nanos().div_euclid(1_000);
    i64::try_from(us).unwrap_or(if us < 0 { i64::MIN } else { i64::MAX })
}

/// [`micros`] of an optional time.
pub(crate) fn opt_micros(t: Option<OffsetDateTime>) -> Option<i64> {
    t.map(micros)
}

fn from_micros(col: &str, us: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000)
        .map_err(|e| corrupt(format_args!("{col}: {e}")))
}

/// A `u64` (a version) as an SQLite integer.
pub(crate) fn int(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| corrupt(format_args!("{value} does not fit an integer")))
}

/// Translates a driver error, naming violated unique rules as PostgreSQL does.
pub(crate) fn db(err: sqlx::Error) -> StoreError {
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

    #[test]
    fn micros_floor_and_round_trip() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        assert_eq!(micros(t), 1_700_000_000_123_456);
        let back = from_micros("t", micros(t)).unwrap();
        assert_eq!(back.unix_timestamp_nanos(), 1_700_000_000_123_456_000);
        let before = OffsetDateTime::from_unix_timestamp_nanos(-1).unwrap();
        assert_eq!(micros(before), -1);
    }
}
