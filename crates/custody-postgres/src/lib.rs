//! # custody-postgres: the production store
//!
//! This crate will implement every store port of [`custody_core::ports`] on PostgreSQL with
//! sqlx (issue "Storage"): the schema in `migrations/postgres/`, the unit of work with row locks,
//! the advisory lock that serialises address minting, the outbox claimed with
//! `FOR UPDATE SKIP LOCKED`, and the translation of database errors into
//! [`custody_core::ports::StoreError`].
//!
//! It owns I/O only. Every custody rule lives in `custody-core`; nothing here decides whether a
//! transfer is allowed, it only applies what a service asked for, atomically.
//!
//! Nothing is implemented yet: this crate exists so the dependency rule is enforced by Cargo
//! from the first commit.
