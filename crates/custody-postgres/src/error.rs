//! Driver errors into [`StoreError`], and the small conversions every module needs.

use custody_core::ports::StoreError;

/// Translates a sqlx error: PostgreSQL names the violated constraint itself.
pub(crate) fn db_err(err: sqlx::Error) -> StoreError {
    custody_sql::translate(err, |db| db.constraint().map(str::to_owned))
}

/// A `u64` (versions) as the `bigint` PostgreSQL stores.
pub(crate) fn big(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::Internal(format!("{what} {value} exceeds bigint").into()))
}

/// The error of an `update_*` that matched no row: `NotFound` when the row is absent (in this
/// environment, for this tenant), else the stored version was not lower.
pub(crate) fn version_conflict(exists: bool) -> StoreError {
    if exists {
        StoreError::Conflict {
            constraint: "version".to_owned(),
        }
    } else {
        StoreError::NotFound
    }
}
