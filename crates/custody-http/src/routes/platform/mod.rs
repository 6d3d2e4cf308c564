//! The Platform dialect (seed `001`): assets, vaults, wallets and extra addresses; camelCase,
//! statuses spelled as the seed spells them (`Active`, `Frozen`, `Archived`), HMAC-signed
//! requests. `Idempotency-Key` is honoured on every mutation here (required only on transfers
//! and withdrawals, which arrive with the money-movement work).

pub mod assets;
pub mod sandbox;
pub mod vaults;
pub mod wallets;

use custody_core::id::{VaultId, WalletId};

use super::Endpoints;
use crate::error::ApiError;
use crate::input::path_id;

pub(super) fn endpoints(api: &mut Endpoints) {
    assets::endpoints(api);
    vaults::endpoints(api);
    wallets::endpoints(api);
    sandbox::endpoints(api);
}

fn vault_id(raw: &str) -> Result<VaultId, ApiError> {
    path_id(raw, "vaultId", "invalid_vault_id", VaultId::parse)
}

fn wallet_id(raw: &str) -> Result<WalletId, ApiError> {
    path_id(raw, "walletId", "invalid_wallet_id", WalletId::parse)
}
