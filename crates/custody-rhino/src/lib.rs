//! # custody-rhino: smart deposit addresses through Rhino.fi
//!
//! This crate will implement [`custody_core::ports::CustodyProvider`] (the deposit-address side)
//! as a reqwest client of Rhino's REST API (issue "Live custody"): exchanging the API key for a
//! JWT and refreshing it before expiry, minting smart deposit addresses with `reuse-existing`,
//! and verifying the RSA signature of Rhino's webhook events.
//!
//! It owns I/O only and never decides a custody rule.
//!
//! Nothing is implemented yet: this crate exists so the dependency rule is enforced by Cargo
//! from the first commit.
