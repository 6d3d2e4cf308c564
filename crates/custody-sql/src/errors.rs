//! sqlx errors translated into [`StoreError`]: no sqlx type crosses into core.

use custody_core::ports::StoreError;
use sqlx::error::{DatabaseError, ErrorKind};

/// Translates a driver error. `constraint_of` names the violated uniqueness rule: PostgreSQL
/// reports the constraint name itself, SQLite only the columns, which the SQLite adapter maps
/// back to the same names.
///
/// - no row → `NotFound`; a foreign key pointing nowhere → `NotFound` (the referenced tenant,
///   vault or wallet does not exist);
/// - unique violation → `Conflict { constraint }`; serialisation failure or deadlock →
///   `Conflict` (the caller may retry the whole transaction);
/// - connection, pool, TLS, I/O trouble, a busy database or lock timeout → `Unavailable`;
/// - everything else (check violations, decoding, protocol surprises) → `Internal`.
pub fn translate(
    err: sqlx::Error,
    constraint_of: impl Fn(&dyn DatabaseError) -> Option<String>,
) -> StoreError {
    match err {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) => {
            match db.kind() {
                ErrorKind::UniqueViolation => {
                    let constraint = constraint_of(db.as_ref())
                        .unwrap_or_else(|| "unknown_unique_constraint".to_owned());
                    return StoreError::Conflict { constraint };
                }
                ErrorKind::ForeignKeyViolation => return StoreError::NotFound,
                _ => {}
            }
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            match code.as_str() {
                // PostgreSQL: serialization_failure, deadlock_detected.
                "40001" | "40P01" => StoreError::Conflict {
                    constraint: "serialization_failure".to_owned(),
                },
                // PostgreSQL: lock_not_available, query_canceled (statement/lock timeout),
                // admin/crash shutdown, cannot_connect_now, too_many_connections,
                // idle_in_transaction_session_timeout, read_only_sql_transaction (a replica
                // after a failover).
                "55P03" | "57014" | "57P01" | "57P02" | "57P03" | "53300" | "25P03" | "25006" => {
                    StoreError::Unavailable(Box::new(sqlx::Error::Database(db)))
                }
                // PostgreSQL class 08: connection exceptions.
                c if c.starts_with("08") => {
                    StoreError::Unavailable(Box::new(sqlx::Error::Database(db)))
                }
                // SQLite: SQLITE_BUSY and SQLITE_LOCKED with their extended codes.
                "5" | "6" | "261" | "262" | "517" | "773" => {
                    StoreError::Unavailable(Box::new(sqlx::Error::Database(db)))
                }
                _ => StoreError::Internal(Box::new(sqlx::Error::Database(db))),
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(Box::new(err)),
        other => StoreError::Internal(Box::new(other)),
    }
}

/// A stored value that does not decode into its domain type: corrupt data or a schema the code
/// does not know. Never a partner's fault, so `Internal`.
pub fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("corrupt stored value: {what}").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_row_is_not_found_and_pool_trouble_is_unavailable() {
        assert!(matches!(
            translate(sqlx::Error::RowNotFound, |_| None),
            StoreError::NotFound
        ));
        assert!(matches!(
            translate(sqlx::Error::PoolTimedOut, |_| None),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            translate(sqlx::Error::PoolClosed, |_| None),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            translate(sqlx::Error::ColumnNotFound("x".into()), |_| None),
            StoreError::Internal(_)
        ));
    }
}
