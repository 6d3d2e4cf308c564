//! Vaults: creation, reads, status changes (freeze, unfreeze, archive) and renaming.

use time::OffsetDateTime;

use super::booking::{emit, Emitter};
use super::{commit_with, IdempotentWrite};
use crate::api_key::Scope;
use crate::caller::Caller;
use crate::error::{Error, ResourceKind};
use crate::event::{DynSnapshotRenderer, EventType, Subject};
use crate::id::VaultId;
use crate::page::{Page, PageRequest};
use crate::ports::{
    DynClock, DynIdGenerator, DynUnitOfWork, DynVaultStore, StoreError, VaultFilter,
};
use crate::text::{ExternalRef, Metadata, VaultName};
use crate::vault::{Vault, VaultKind, VaultStatus};

/// A vault to create (Platform `POST /v1/vaults`).
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewVault {
    /// The partner's id for the customer; unique per tenant and environment.
    pub external_ref: Option<ExternalRef>,
    pub name: VaultName,
    pub metadata: Metadata,
}

/// A change to a vault (Platform `PATCH /v1/vaults/{vaultId}`); absent fields are unchanged.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VaultPatch {
    /// New status: freeze, unfreeze or archive.
    pub status: Option<VaultStatus>,
    pub name: Option<VaultName>,
    /// New metadata (replaces the old).
    pub metadata: Option<Metadata>,
}

/// Vault use cases.
#[derive(Clone)]
pub struct VaultService {
    uow: DynUnitOfWork,
    vaults: DynVaultStore,
    clock: DynClock,
    ids: DynIdGenerator,
    renderer: DynSnapshotRenderer,
}

impl VaultService {
    /// Wires the service; `renderer` renders its events' snapshots.
    pub fn new(
        uow: DynUnitOfWork,
        vaults: DynVaultStore,
        clock: DynClock,
        ids: DynIdGenerator,
        renderer: DynSnapshotRenderer,
    ) -> VaultService {
        VaultService {
            uow,
            vaults,
            clock,
            ids,
            renderer,
        }
    }

    fn events(&self) -> Emitter<'_> {
        Emitter {
            ids: self.ids.as_ref(),
            renderer: self.renderer.as_ref(),
        }
    }

    /// Creates a customer vault.
    ///
    /// # Errors
    /// `MissingScope(vaults:write)`; `Conflict(vault_external_ref_taken)` when the external
    /// reference is already used (by this API or lazily by Connect); store errors.
    pub async fn create(
        &self,
        caller: &Caller,
        new: NewVault,
        idempotency: Option<IdempotentWrite<'_, Vault>>,
    ) -> Result<Vault, Error> {
        caller.require(Scope::VaultsWrite)?;
        let now = self.clock.now();
        let vault = Vault {
            id: VaultId::from_ulid(self.ids.ulid()),
            tenant_id: caller.tenant_id,
            kind: VaultKind::Customer,
            external_ref: new.external_ref,
            name: new.name,
            metadata: new.metadata,
            status: VaultStatus::Active,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.uow.begin().await?;
        match tx.insert_vault(&vault).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => {
                return Err(Error::Conflict {
                    code: "vault_external_ref_taken",
                    message: "a vault with this externalId already exists".into(),
                })
            }
            Err(e) => return Err(e.into()),
        }
        emit(
            tx.as_mut(),
            self.events(),
            caller.tenant_id,
            EventType::VaultCreated,
            Subject::Vault(&vault),
            None,
            now,
        )
        .await?;
        commit_with(tx, caller.tenant_id, idempotency, &vault).await?;
        Ok(vault)
    }

    /// Reads a vault.
    ///
    /// # Errors
    /// `MissingScope(vaults:read)`; `NotFound` (also another tenant's).
    pub async fn get(&self, caller: &Caller, id: VaultId) -> Result<Vault, Error> {
        caller.require(Scope::VaultsRead)?;
        self.vaults
            .get(caller.tenant_id, id)
            .await
            .map_err(Error::from_store(ResourceKind::Vault))
    }

    /// Lists vaults.
    ///
    /// # Errors
    /// `MissingScope(vaults:read)`; store errors.
    pub async fn list(
        &self,
        caller: &Caller,
        filter: &VaultFilter,
        page: PageRequest,
    ) -> Result<Page<Vault>, Error> {
        caller.require(Scope::VaultsRead)?;
        Ok(self.vaults.list(caller.tenant_id, filter, page).await?)
    }

    /// Applies a patch: status through the state machine (archiving only an empty vault),
    /// name and metadata as given. One event per kind of change.
    ///
    /// # Errors
    /// `MissingScope(vaults:write)`; `NotFound`; `InvalidTransition`;
    /// `Refused(vault_not_empty)` when archiving a vault that holds funds; store errors.
    pub async fn update(
        &self,
        caller: &Caller,
        id: VaultId,
        patch: VaultPatch,
        idempotency: Option<IdempotentWrite<'_, Vault>>,
    ) -> Result<Vault, Error> {
        caller.require(Scope::VaultsWrite)?;
        let now: OffsetDateTime = self.clock.now();
        let mut tx = self.uow.begin().await?;
        let mut vault = tx
            .lock_vault(caller.tenant_id, id)
            .await
            .map_err(Error::from_store(ResourceKind::Vault))?;
        let version_before = vault.version;

        if let Some(status) = patch.status.filter(|s| *s != vault.status) {
            // Archiving with money inside would strand it: the partner must move it out first.
            if status == VaultStatus::Archived && tx.vault_has_funds(vault.id).await? {
                return Err(Error::Refused {
                    code: "vault_not_empty",
                    message: "a vault can only be archived once all its wallets are empty".into(),
                });
            }
            let before = vault.clone();
            vault.set_status(status, now)?;
            emit(
                tx.as_mut(),
                self.events(),
                caller.tenant_id,
                EventType::VaultStatusUpdated,
                Subject::Vault(&vault),
                Some(Subject::Vault(&before)),
                now,
            )
            .await?;
        }

        let renamed = patch.name.filter(|n| *n != vault.name);
        let remetadata = patch.metadata.filter(|m| *m != vault.metadata);
        if renamed.is_some() || remetadata.is_some() {
            if vault.status == VaultStatus::Archived {
                return Err(Error::Vault(crate::vault::VaultRefusal::Archived));
            }
            let before = vault.clone();
            if let Some(name) = renamed {
                vault.name = name;
            }
            if let Some(metadata) = remetadata {
                vault.metadata = metadata;
            }
            vault.touch(now);
            emit(
                tx.as_mut(),
                self.events(),
                caller.tenant_id,
                EventType::VaultUpdated,
                Subject::Vault(&vault),
                Some(Subject::Vault(&before)),
                now,
            )
            .await?;
        }

        // A patch that changes nothing writes nothing and emits nothing.
        if vault.version != version_before {
            tx.update_vault(&vault).await?;
        }
        commit_with(tx, caller.tenant_id, idempotency, &vault).await?;
        Ok(vault)
    }
}

#[cfg(test)]
mod tests;
