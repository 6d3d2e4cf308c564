//! Driver errors into [`StoreError`].

use custody_core::ports::StoreError;

/// Translates a sqlx error: PostgreSQL names the violated constraint itself.
pub(crate) fn db_err(err: sqlx::Error) -> StoreError {
    custody_sql::translate(err, |db| db.constraint().map(str::to_owned))
}
