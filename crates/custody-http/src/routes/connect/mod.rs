//! The Connect dialect (seed `000`): `/connect/v1/addresses` and `/connect/v1/balances`,
//! snake_case, bearer keys.
//!
//! `external_ref` names a customer vault by the partner's own id, created on first sight; no
//! `external_ref` means the tenant's treasury vault. (asset, network) names the vault's
//! wallet; POST ensures that wallet's primary address, so repeating it (with or without an
//! `Idempotency-Key`) always answers with the same address.

pub mod addresses;
pub mod balances;

use super::Endpoints;

pub(super) fn endpoints(api: &mut Endpoints) {
    addresses::endpoints(api);
    balances::endpoints(api);
}
