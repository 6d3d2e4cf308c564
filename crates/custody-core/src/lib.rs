//! # custody-core: the rulebook of the custody business
//!
//! (crate doc completed below)
#![warn(missing_docs)]

pub mod amount;
pub mod api_key;
pub mod asset;
pub mod chain_address;
pub mod environment;
pub mod id;
pub mod signing;
