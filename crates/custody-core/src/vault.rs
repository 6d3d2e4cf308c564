//! Vaults: the container of one end-customer's holdings, or the tenant's pooled treasury.
//!
//! Status machine: `Active ⇄ Frozen`, and either → `Archived` (terminal). A frozen vault still
//! receives (deposits are credited, addresses may be minted, because money that arrives
//! on-chain cannot be refused) but nothing leaves it. An archived vault accepts no new wallets
//! or addresses and sends nothing; it may only be archived when it holds no funds.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::id::{TenantId, VaultId};
use crate::state::{check, TransitionError};
use crate::text::{ExternalRef, Metadata, VaultName};

/// A vault's status, spelled as the Platform dialect spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VaultStatus {
    /// Normal operation.
    Active,
    /// Receives, cannot send.
    Frozen,
    /// Closed for good.
    Archived,
}

impl VaultStatus {
    /// Every status.
    pub const ALL: [VaultStatus; 3] = [
        VaultStatus::Active,
        VaultStatus::Frozen,
        VaultStatus::Archived,
    ];

    /// The wire name (`Active`, `Frozen`, `Archived`).
    pub const fn as_str(self) -> &'static str {
        match self {
            VaultStatus::Active => "Active",
            VaultStatus::Frozen => "Frozen",
            VaultStatus::Archived => "Archived",
        }
    }

    /// Parses the wire name case-insensitively.
    pub fn parse(input: &str) -> Option<VaultStatus> {
        VaultStatus::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(input))
    }

    /// The vault state machine.
    ///
    /// # Errors
    /// [`TransitionError`] for any edge not in `Active ⇄ Frozen`, `Active|Frozen → Archived`.
    pub fn transition(self, to: VaultStatus) -> Result<(), TransitionError<VaultStatus>> {
        use VaultStatus::*;
        let allowed = matches!(
            (self, to),
            (Active, Frozen) | (Frozen, Active) | (Active, Archived) | (Frozen, Archived)
        );
        check("vault", self, to, allowed)
    }
}

impl fmt::Display for VaultStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the vault belongs to an end-customer or is the tenant's pooled treasury.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VaultKind {
    /// One end-customer's vault, usually named by an external reference.
    Customer,
    /// The tenant's pooled vault (Connect calls without `external_ref`); one per tenant and
    /// environment.
    Treasury,
}

/// Why a vault refuses an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VaultRefusal {
    /// Frozen vaults cannot send (422 `vault_frozen`).
    #[error("the vault is frozen: it can receive but not send")]
    Frozen,
    /// Archived vaults do nothing (422 `vault_archived`).
    #[error("the vault is archived")]
    Archived,
}

impl VaultRefusal {
    /// The stable machine code.
    pub const fn code(self) -> &'static str {
        match self {
            VaultRefusal::Frozen => "vault_frozen",
            VaultRefusal::Archived => "vault_archived",
        }
    }
}

/// A vault.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Vault {
    pub id: VaultId,
    pub tenant_id: TenantId,
    pub kind: VaultKind,
    /// The partner's id for the customer; unique per tenant and environment. `None` for the
    /// treasury and for vaults created without one.
    pub external_ref: Option<ExternalRef>,
    pub name: VaultName,
    /// Partner metadata, echoed back.
    pub metadata: Metadata,
    pub status: VaultStatus,
    /// Increases on every change; carried by events so consumers can order them.
    pub version: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Vault {
    /// May funds leave this vault?
    ///
    /// # Errors
    /// [`VaultRefusal`] unless the vault is active.
    pub fn ensure_can_send(&self) -> Result<(), VaultRefusal> {
        match self.status {
            VaultStatus::Active => Ok(()),
            VaultStatus::Frozen => Err(VaultRefusal::Frozen),
            VaultStatus::Archived => Err(VaultRefusal::Archived),
        }
    }

    /// May the vault get new wallets, addresses or internal transfers in?
    ///
    /// # Errors
    /// [`VaultRefusal::Archived`] for an archived vault.
    pub fn ensure_can_receive(&self) -> Result<(), VaultRefusal> {
        match self.status {
            VaultStatus::Active | VaultStatus::Frozen => Ok(()),
            VaultStatus::Archived => Err(VaultRefusal::Archived),
        }
    }

    /// Applies a status change through the state machine, bumping the version.
    ///
    /// # Errors
    /// [`TransitionError`]; the vault is unchanged.
    pub fn set_status(
        &mut self,
        to: VaultStatus,
        now: OffsetDateTime,
    ) -> Result<(), TransitionError<VaultStatus>> {
        self.status.transition(to)?;
        self.status = to;
        self.touch(now);
        Ok(())
    }

    /// Records a change: the next version and the time.
    pub fn touch(&mut self, now: OffsetDateTime) {
        self.version += 1;
        self.updated_at = now;
    }
}

#[cfg(test)]
mod tests;
