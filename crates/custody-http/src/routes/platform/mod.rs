//! The Platform dialect (seed `001`): assets, vaults, wallets and extra addresses, the address
//! book, transfers, withdrawals and transactions; camelCase, statuses spelled as the seed spells
//! them (`Active`, `Frozen`, `Archived`, `Submitted`, …), HMAC-signed requests.
//! `Idempotency-Key` is honoured on every mutation here, and required on transfers, withdrawals
//! and cancels.

pub mod address_book;
pub mod assets;
pub mod events;
pub mod sandbox;
pub mod transactions;
pub mod vaults;
pub mod wallets;
pub mod webhooks;

use custody_core::id::{VaultId, WalletId};

use super::Endpoints;
use crate::error::ApiError;
use crate::input::path_id;

pub(super) fn endpoints(api: &mut Endpoints) {
    assets::endpoints(api);
    vaults::endpoints(api);
    wallets::endpoints(api);
    address_book::endpoints(api);
    transactions::endpoints(api);
    sandbox::endpoints(api);
    webhooks::endpoints(api);
    events::endpoints(api);
}

fn vault_id(raw: &str) -> Result<VaultId, ApiError> {
    path_id(raw, "vaultId", "invalid_vault_id", VaultId::parse)
}

fn wallet_id(raw: &str) -> Result<WalletId, ApiError> {
    path_id(raw, "walletId", "invalid_wallet_id", WalletId::parse)
}
