//! # custody-sandbox: deterministic fake custody
//!
//! This crate will implement [`custody_core::ports::CustodyProvider`] for the sandbox
//! environment (issue "Partner API"): the same (tenant, vault, asset, network, index) always
//! yields the same address, valid for its network (EIP-55 for EVM networks, base58 of 32 bytes
//! for Solana, `0x` + 64 hex for Sui), plus simulated deposits and chain progress.
//!
//! It must never open a network connection: it is the half of the compliance boundary that
//! sandbox traffic reaches instead of real custody. It therefore depends on `custody-core` only.
//!
//! Nothing is implemented yet: this crate exists so the dependency rule is enforced by Cargo
//! from the first commit.
