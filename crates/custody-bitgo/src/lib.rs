//! # custody-bitgo: live custody through BitGo
//!
//! This crate will implement [`custody_core::ports::CustodyProvider`] as a reqwest client of
//! BitGo's REST API (issue "Live custody"): minting deposit addresses on the configured wallet
//! per coin, sending withdrawals with our transaction id as BitGo's `sequenceId` so a retry
//! never sends twice, reading transfers back, and verifying inbound transfer notifications by
//! reading the transfer from BitGo before anything is trusted.
//!
//! It owns I/O only: mapping BitGo's shapes and errors to domain types. It never decides a
//! custody rule.
//!
//! Nothing is implemented yet: this crate exists so the dependency rule is enforced by Cargo
//! from the first commit.
