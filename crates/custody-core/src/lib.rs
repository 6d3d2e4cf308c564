//! # custody-core: the rulebook of the custody business
//!
//! (crate doc completed below)
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
pub mod ledger;
pub mod page;
pub mod ports;
pub mod secret;
pub mod services;
pub mod signing;
pub mod state;
pub mod tenant;
pub mod text;
pub mod transaction;
pub mod vault;
pub mod wallet;
