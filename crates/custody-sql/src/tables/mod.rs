//! Every statement the two stores run, by table, written once with named parameters: a domain
//! value becomes named values here, and a row becomes a domain value in [`codec`](crate::codec).
//!
//! Environment-bound handles bind `:environment` themselves, to their own environment, into
//! every statement they run (and a statement that does not use it is refused), so the
//! statements here name `environment = :environment` and never take an environment.
//!
//! Select lists read amounts as `CAST(col AS TEXT)`: PostgreSQL's `numeric` becomes the decimal
//! text the codec parses, SQLite's text stays text.

pub mod address_book;
pub mod addresses;
pub mod api_keys;
pub mod asset_totals;
pub mod events;
pub mod idempotency;
pub mod instances;
pub mod ledger;
pub mod master_key_check;
pub mod reconcile;
pub mod request_signatures;
pub mod tenants;
pub mod transactions;
pub mod vaults;
pub mod wallets;
pub mod webhook_deliveries;
pub mod webhook_endpoints;

use custody_core::id::TenantId;
use custody_core::ports::StoreError;

use crate::statement::Statement;

/// An `update_*` that writes only over a lower stored version, with the lookup that tells a
/// miss apart: no row is `NotFound`, a row is a version conflict ([`version_conflict`]).
#[derive(Debug)]
pub struct Versioned {
    pub update: Statement,
    pub exists: Statement,
}

/// The error of a [`Versioned`] update that matched no row.
pub fn version_conflict(exists: bool) -> StoreError {
    if exists {
        StoreError::Conflict {
            constraint: "version".to_owned(),
        }
    } else {
        StoreError::NotFound
    }
}

/// A `u64` (a version) as the signed 64-bit integer both databases store.
///
/// # Errors
/// `Internal` above `i64::MAX`.
pub fn int(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::Internal(format!("{what} {value} exceeds a bigint").into()))
}

/// `SELECT {columns} FROM {table}` of one tenant in the handle's environment, ready for more
/// `AND …` conditions.
fn scoped(columns: &str, table: &str, tenant: TenantId) -> Statement {
    Statement::new(format!(
        "SELECT {columns} FROM {table} WHERE environment = :environment AND tenant_id = :tenant"
    ))
    .bind("tenant", tenant.to_string())
}

/// One of the tenant's rows by id.
fn by_id(columns: &str, table: &str, tenant: TenantId, id: String) -> Statement {
    scoped(columns, table, tenant)
        .push(" AND id = :id")
        .bind("id", id)
}

/// The rows of `table` with these ids in the handle's environment, whatever their tenant: a
/// batch of coalesced reads ([`coalesce`](crate::coalesce)), each answer then checked against
/// its request's tenant.
pub fn by_ids(columns: &str, table: &str, ids: &[String]) -> Statement {
    Statement::new(format!(
        "SELECT {columns} FROM {table} WHERE environment = :environment AND id IN (:ids)"
    ))
    .bind_list("ids", ids.iter().cloned())
}

/// How the tenant's row of `$table` is read by id ([`by_id`], or [`by_ids`] in a batch of
/// coalesced reads, [`coalesce`](crate::coalesce)).
macro_rules! read_by_id {
    ($columns:expr, $table:literal, $decode:path) => {
        crate::coalesce::ById {
            by_ids: |ids| super::by_ids($columns, $table, ids),
            one: |tenant, id| super::by_id($columns, $table, tenant, id.to_owned()),
            decode: $decode,
            key: crate::coalesce::raw_key,
        }
    };
}
pub(crate) use read_by_id;

/// Whether the tenant's row exists: some row or none.
fn exists(table: &str, tenant: TenantId, id: String) -> Statement {
    by_id("1 AS found", table, tenant, id)
}
