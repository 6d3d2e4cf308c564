//! The Accounts dialect (seed `002`): an account **is** a wallet (one asset on one chain), so
//! `accountId` is a wallet id (`acc_…`); its blockchain addresses are the wallet's deposit
//! addresses. camelCase, lowercase enums, Ed25519-signed requests, `Idempotency-Key`
//! required on every POST.
//!
//! Creating a blockchain address ensures the account's primary address: the same account
//! always answers with the same address (201 the first time, 200 after), which is where the
//! Accounts dialect converges with Connect and Platform.

pub mod balances;
pub mod blockchain_addresses;

use custody_core::id::WalletId;

use super::Endpoints;
use crate::error::ApiError;
use crate::input::path_id;

pub(super) fn endpoints(api: &mut Endpoints) {
    blockchain_addresses::endpoints(api);
    balances::endpoints(api);
}

fn account_id(raw: &str) -> Result<WalletId, ApiError> {
    path_id(raw, "accountId", "invalid_account_id", WalletId::parse)
}
