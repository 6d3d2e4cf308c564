//! Deposit addresses: where a wallet receives funds on-chain.
//!
//! Each wallet has exactly one **primary** address (minted on first use and returned by every
//! later "ensure" call, whichever dialect asks) and may have more on request. (network,
//! address) is unique across the whole system so every deposit can be attributed to exactly
//! one wallet. Status machine: `active ⇄ suspended`; a suspended address still credits what
//! arrives (the chain cannot be refused) but is no longer handed out.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::asset::AssetId;
use crate::chain_address::ChainAddress;
use crate::id::{AddressId, TenantId, VaultId, WalletId};
use crate::state::{check, TransitionError};
use crate::text::Label;

/// A deposit address's status, lowercase as the Accounts dialect spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddressStatus {
    /// Handed out and watched.
    Active,
    /// No longer handed out; still watched.
    Suspended,
}

impl AddressStatus {
    /// Every status.
    pub const ALL: [AddressStatus; 2] = [AddressStatus::Active, AddressStatus::Suspended];

    /// The lowercase wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            AddressStatus::Active => "active",
            AddressStatus::Suspended => "suspended",
        }
    }

    /// The address state machine: `active ⇄ suspended`.
    ///
    /// # Errors
    /// [`TransitionError`] for a status to itself.
    pub fn transition(self, to: AddressStatus) -> Result<(), TransitionError<AddressStatus>> {
        use AddressStatus::*;
        let allowed = matches!((self, to), (Active, Suspended) | (Suspended, Active));
        check("deposit address", self, to, allowed)
    }
}

impl fmt::Display for AddressStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which provider minted an address, and its id there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderRef {
    /// `sandbox`, `bitgo`, `rhino`.
    pub provider: String,
    /// The provider's own id for the address, when it has one.
    pub reference: Option<String>,
}

/// A deposit address.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DepositAddress {
    pub id: AddressId,
    pub tenant_id: TenantId,
    /// The vault of its wallet.
    pub vault_id: VaultId,
    pub wallet_id: WalletId,
    /// The wallet's asset; the address is on its network.
    pub asset: AssetId,
    /// The on-chain address, in canonical form.
    pub address: ChainAddress,
    pub label: Option<Label>,
    /// Whether this is the wallet's primary address.
    pub is_primary: bool,
    /// 0 for the primary, then 1, 2, … per wallet: what deterministic providers derive from.
    pub derivation_index: u32,
    pub provider: ProviderRef,
    pub status: AddressStatus,
    /// Increases on every change.
    pub version: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl DepositAddress {
    /// Changes status through the state machine.
    ///
    /// # Errors
    /// [`TransitionError`]; the address is unchanged.
    pub fn set_status(
        &mut self,
        to: AddressStatus,
        now: OffsetDateTime,
    ) -> Result<(), TransitionError<AddressStatus>> {
        self.status.transition(to)?;
        self.status = to;
        self.version += 1;
        self.updated_at = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AddressStatus::*;

    #[test]
    fn active_to_suspended() {
        assert_eq!(Active.transition(Suspended), Ok(()));
    }
    #[test]
    fn suspended_to_active() {
        assert_eq!(Suspended.transition(Active), Ok(()));
    }
    #[test]
    fn active_to_active_is_refused() {
        assert!(Active.transition(Active).is_err());
    }
    #[test]
    fn suspended_to_suspended_is_refused() {
        assert!(Suspended.transition(Suspended).is_err());
    }
    #[test]
    fn serialises_lowercase() {
        assert_eq!(serde_json::to_string(&Suspended).unwrap(), "\"suspended\"");
    }
}
