//! [`Columns`] over a PostgreSQL row, and the select lists every query reads.
//!
//! Select lists read amounts as decimal text (`numeric::text`), which is what the shared codec
//! parses; everything else is read with its natural sqlx type.

use custody_core::ports::StoreError;
use custody_sql::Columns;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{Column, Row, TypeInfo};
use time::OffsetDateTime;

use crate::error::db_err;

/// A borrowed row readable by the shared codec.
pub(crate) struct Cols<'r>(pub(crate) &'r PgRow);

impl Cols<'_> {
    fn get<'r, T>(&'r self, col: &str) -> Result<T, StoreError>
    where
        T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
    {
        self.0.try_get::<T, _>(col).map_err(db_err)
    }
}

impl Columns for Cols<'_> {
    fn text(&self, col: &str) -> Result<String, StoreError> {
        self.get(col)
    }

    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.get(col)
    }

    fn int(&self, col: &str) -> Result<i64, StoreError> {
        self.opt_int(col)?
            .ok_or_else(|| custody_sql::corrupt(format_args!("{col}: unexpected null")))
    }

    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        let column = self.0.try_column(col).map_err(db_err)?;
        match column.type_info().name() {
            "INT2" => Ok(self.get::<Option<i16>>(col)?.map(i64::from)),
            "INT4" => Ok(self.get::<Option<i32>>(col)?.map(i64::from)),
            _ => self.get(col),
        }
    }

    fn boolean(&self, col: &str) -> Result<bool, StoreError> {
        self.get(col)
    }

    fn bytes(&self, col: &str) -> Result<Vec<u8>, StoreError> {
        self.get(col)
    }

    fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(col)
    }

    fn time(&self, col: &str) -> Result<OffsetDateTime, StoreError> {
        self.get(col)
    }

    fn opt_time(&self, col: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        self.get(col)
    }

    fn json(&self, col: &str) -> Result<Value, StoreError> {
        self.get(col)
    }

    fn opt_json(&self, col: &str) -> Result<Option<Value>, StoreError> {
        self.get(col)
    }
}

/// Decodes every row with one codec function.
pub(crate) fn decode_all<T>(
    rows: &[PgRow],
    decode: impl Fn(&Cols<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(|row| decode(&Cols(row))).collect()
}

/// Decodes one row with one codec function.
pub(crate) fn decode_one<T>(
    row: &PgRow,
    decode: impl Fn(&Cols<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    decode(&Cols(row))
}

/// `tenants`.
pub(crate) const TENANT: &str = "id, name, status, created_at";

/// `api_keys`.
pub(crate) const API_KEY: &str = "id, tenant_id, environment, mode, scopes, allowed_ips, \
     key_hash, key_hint, ed25519_public_key, hmac_secret_sealed, created_at, expires_at, \
     revoked_at, replaced_by";

/// `vaults`.
pub(crate) const VAULT: &str = "id, environment, tenant_id, kind, external_ref, name, \
     metadata, status, version, created_at, updated_at";

/// `wallets`, balances as text.
pub(crate) const WALLET: &str = "id, environment, tenant_id, vault_id, asset_id, label, \
     status, available::text AS available, pending::text AS pending, held::text AS held, \
     version, created_at, updated_at";

/// `deposit_addresses`.
pub(crate) const ADDRESS: &str = "id, environment, tenant_id, vault_id, wallet_id, asset_id, \
     network, address, label, is_primary, derivation_index, provider, provider_reference, \
     status, version, created_at, updated_at";

/// `transactions`, the amount as text.
pub(crate) const TRANSACTION: &str = "id, environment, tenant_id, kind, status, asset_id, \
     amount::text AS amount, source_wallet_id, destination_wallet_id, deposit_address_id, \
     address_book_entry_id, destination_network, destination_address, provider_ref, tx_hash, \
     confirmations_seen, confirmations_required, reference, failure_reason, history, version, \
     created_at, updated_at";

/// `ledger_entries`, the delta as text.
pub(crate) const LEDGER: &str = "seq, transaction_id, asset_id, account_kind, wallet_id, \
     bucket, delta::text AS delta, created_at";

/// `address_book_entries`.
pub(crate) const ADDRESS_BOOK: &str = "id, environment, tenant_id, network, address, label, \
     asset_id, status, version, created_at, deleted_at";

/// `events`, the event itself.
pub(crate) const EVENT: &str = "id, environment, tenant_id, event_type, resource_type, \
     resource_id, resource_version, snapshot, previous_attributes, created_at";

/// `events`, the delivery bookkeeping.
pub(crate) const DELIVERY: &str = "delivery_state, attempts, next_attempt_at, delivered_at";

/// `webhook_delivery_attempts`.
pub(crate) const ATTEMPT: &str = "id, event_id, tenant_id, attempt, attempted_at, url, \
     response_status, error, duration_ms";

/// `idempotency_records`.
pub(crate) const IDEMPOTENCY: &str = "key, fingerprint, state, response_status, \
     response_headers, response_body, created_at, expires_at";
