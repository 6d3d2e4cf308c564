//! # custody-sqlite: the embedded default store
//!
//! This crate will implement every store port of [`custody_core::ports`] on an embedded SQLite
//! file with sqlx (issue "Storage"): the schema in `migrations/sqlite/`, WAL mode, one writer
//! connection (which is how SQLite serialises address minting and balance updates), and the
//! same conformance suite as `custody-postgres`.
//!
//! It is what `custody serve` uses when no `DATABASE_URL` is given, so a partner can try the
//! product with nothing installed.
//!
//! Nothing is implemented yet: this crate exists so the dependency rule is enforced by Cargo
//! from the first commit.
