//! # custody-sql: what the two sqlx stores share
//!
//! `custody-postgres` and `custody-sqlite` keep the same logical schema (the same tables,
//! columns and constraint names; see `migrations/`), so turning a row back into a domain value
//! is written once, here, against the small [`Columns`] trait each adapter implements for its
//! row type; and so is every statement, with named parameters ([`tables`], [`Statement`]), each
//! domain value encoded into logical [`Value`]s. The adapters keep what truly differs: how a
//! value is physically bound and a column read (PostgreSQL `timestamptz`/`numeric`/`jsonb`
//! against SQLite integers and text), placeholders and locking clauses ([`Dialect`]), and how
//! transactions and connections are held.
//!
//! Also here: [`names`] (the storage spelling of every enum, a schema contract independent of
//! the wire names), [`seal`] (AES-256-GCM sealing of HMAC secrets under the master key),
//! [`errors`] (sqlx errors translated into [`StoreError`](custody_core::ports::StoreError)) and
//! [`redact`] (database URLs without their passwords, for `Debug` and logs).

pub mod coalesce;
pub mod codec;
pub mod counted;
pub mod errors;
pub mod exact_sum;
pub mod names;
pub mod page;
pub mod pool;
pub mod redact;
pub mod seal;
pub mod statement;
pub mod store;
pub mod tables;

pub use codec::Columns;
pub use counted::{Counted, StatementCounter, StatementCounts};
pub use errors::{corrupt, translate};
pub use page::paged;
pub use pool::PoolUsage;
pub use redact::DatabaseUrl;
pub use seal::{MasterKey, MasterKeyError};
pub use statement::{Dialect, Lock, PgDialect, Rendered, SqliteDialect, Statement, Value};
pub use store::{Database, EnvStore, SharedStore, SqlTx, Transaction};
