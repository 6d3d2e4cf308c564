//! # custody-core: the rulebook of the custody business
//!
//! Everything that decides something about money, keys or tenants lives here, and nothing
//! here performs I/O: no database, no network, no clock and no randomness except what is
//! handed in through a [port](ports). Adapters (`custody-postgres`, `custody-sqlite`,
//! `custody-bitgo`, `custody-rhino`, `custody-sandbox`) implement the ports; `custody-http`
//! composes them. CI fails if this crate's normal dependencies ever include sqlx, actix,
//! reqwest, hyper or tokio.
//!
//! ## Where each rule lives
//! - Values parsed once at the edge: [`id`] (prefixed ULIDs), [`asset`] (catalogue, enabled
//!   sets), [`amount`] (base units, exact decimal strings), [`chain_address`] (per-network
//!   validation), [`text`] (external refs, labels, metadata), [`idempotency`] (keys,
//!   fingerprints, replay decisions), [`page`] (cursors).
//! - Aggregates and their one transition function each: [`tenant`] (approval gate), [`vault`],
//!   [`deposit_address`], [`transaction`]; [`wallet`] balances; [`address_book`] entries.
//! - Money: [`ledger`] (double entry; every movement's postings sum to zero) and
//!   [`transaction::Transaction::ledger_effect`], the single map from a status change to the
//!   movement it causes.
//! - Access: [`api_key`] (modes, scopes, IP allow-lists, rotation) and [`signing`] (canonical
//!   strings and signature checks), applied by [`services::AuthService`].
//! - Use cases: [`services`], each method checking its scope, validating, and committing its
//!   change, ledger entries, events and idempotency record in one [`ports::StoreTx`].
//! - Events after they are written: [`outbox`] (claims, leases, delivery attempts).
//! - What partners see when something is refused: [`error::Error`], one stable code per case.
//!
//! ## Entry points
//! Values are parsed once, at the edge, into types that cannot hold a bad value; money is an
//! integer of base units, never a float:
//!
//! ```
//! use custody_core::amount::Amount;
//! use custody_core::asset::AssetId;
//!
//! let asset = AssetId::parse("usdt_ethereum")?;
//! assert_eq!(asset.to_string(), "USDT_ETHEREUM");
//! let amount = Amount::parse("12.5", asset.decimals())?;
//! assert_eq!(amount.to_string(), "12500000"); // base units
//! assert_eq!(amount.to_decimal_string(asset.decimals()), "12.5");
//! assert!(Amount::parse("0.0000001", asset.decimals()).is_err()); // finer than the asset
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The use cases are the services ([`services`]), called with a [`caller::Caller`]; an embedding
//! service gets them composed over a store by `custody-embed` (`Custody::builder`, whose crate
//! doc runs a service call as a doctest; docs/embedding.md).
//!
//! - `mocks`: mockall `Mock…` twins of every port, for unit tests here and in other crates.
// Every public item is documented. Plain data types whose field and variant names say it all
// (`tenant_id`, `created_at`, `status`) carry `#[allow(missing_docs)]` instead of docs that
// repeat the name; a field or variant whose meaning is not in its name keeps its doc.
#![warn(missing_docs)]

pub mod address_book;
pub mod amount;
pub mod api_key;
pub mod asset;
pub mod caller;
pub mod chain_address;
pub mod deposit_address;
pub mod environment;
pub mod error;
pub mod event;
pub mod id;
pub mod idempotency;
pub mod instance;
pub mod ledger;
pub mod outbox;
pub mod page;
pub mod ports;
pub mod retry;
pub mod routing;
pub mod secret;
pub mod services;
pub mod signing;
pub mod state;
pub mod tenant;
pub mod text;
pub mod totals;
pub mod transaction;
pub mod vault;
pub mod wallet;
pub mod webhook;
pub mod work;
