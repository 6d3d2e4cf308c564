//! Deposit addresses: ensuring a wallet's primary address, minting extra ones, reading them.
//!
//! `ensure_primary_address` is the operation all three dialects converge on. It is idempotent
//! on (vault, asset, network) by itself, independently of any `Idempotency-Key`, and runs in
//! ONE transaction (issue 18: one commit per request):
//! 1. the vault is resolved: a vault named by id (or through a wallet) beforehand; a Connect
//!    `external_ref` or the treasury inside the transaction, found or inserted there with its
//!    `vault.created` event. Two racing creators: the loser's insert conflicts (PostgreSQL makes
//!    it wait for the winner's commit first), its transaction ends, and its second attempt
//!    finds the winner's vault;
//! 2. for an existing vault, the transaction takes the minting lock for (vault, asset), then
//!    the vault under a shared lock and checks it may receive (so an archive cannot commit
//!    between that check and our commit), finds or creates the wallet, and returns the
//!    existing primary address if there is one. A vault created by this transaction is
//!    invisible to every other until commit, so it needs neither the lock nor the check, and
//!    a wallet created here has no address to look up or count;
//! 3. only otherwise does it call the provider, *while holding the lock*, so two racing
//!    requests mint once; vault, wallet, address, their events and the idempotency record
//!    commit together.
//!
//! A provider failure rolls everything back (a vault or wallet created in this request
//! included), so a retry starts clean.
//!
//! Locks follow the address-minting order of [`StoreTx`]: minting lock → vault (shared) →
//! wallet rows. No other store handle is used while a minting transaction is open.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::booking::emit;
use super::{commit_with, IdempotentWrite, Provisioned};
use crate::api_key::Scope;
use crate::asset::AssetId;
use crate::caller::Caller;
use crate::deposit_address::{AddressStatus, DepositAddress, ProviderRef};
use crate::environment::Environment;
use crate::error::{Error, ResourceKind};
use crate::event::{EventType, Subject};
use crate::id::{AddressId, TenantId, VaultId, WalletId};
use crate::page::{Page, PageRequest};
use crate::ports::{
    AddressFilter, DynAddressStore, DynClock, DynCustodyProvider, DynIdGenerator, DynTenantStore,
    DynUnitOfWork, DynVaultStore, MintRequest, StoreError, StoreTx,
};
use crate::text::{ExternalRef, Label, Metadata, VaultName};
use crate::vault::{Vault, VaultKind, VaultStatus};
use crate::wallet::{Balances, Wallet, WalletStatus};

/// Which wallet an address is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressTarget {
    /// The customer vault named by the partner's reference, created on first sight.
    Customer(ExternalRef),
    /// The tenant's treasury vault, created on first use.
    Treasury,
    /// An existing vault.
    Vault(VaultId),
    /// An existing wallet (an Accounts `accountId`); the asset must be the wallet's.
    Wallet(WalletId),
}

/// Ensure the primary address of a wallet, creating vault and wallet as needed.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnsureAddress {
    /// Which vault or wallet.
    pub target: AddressTarget,
    pub asset: AssetId,
    /// Label stored on a newly minted address (ignored when the address already exists).
    pub label: Option<Label>,
}

/// A deposit address with the partner's reference of its vault (Connect's `external_ref`;
/// `None` for the treasury and for vaults created without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferencedAddress {
    /// The address.
    pub address: DepositAddress,
    /// Its vault's `external_ref`, if the vault has one.
    pub external_ref: Option<ExternalRef>,
}

/// Deposit-address use cases. Cheap to clone.
#[derive(Clone)]
pub struct AddressService {
    pub(crate) environment: Environment,
    pub(crate) uow: DynUnitOfWork,
    pub(crate) tenants: DynTenantStore,
    pub(crate) vaults: DynVaultStore,
    pub(crate) addresses: DynAddressStore,
    pub(crate) provider: DynCustodyProvider,
    pub(crate) clock: DynClock,
    pub(crate) ids: DynIdGenerator,
    /// Addresses one wallet may have, the primary included ([`AddressService::with_address_cap`]).
    pub(crate) max_addresses_per_wallet: u32,
    pub(crate) renderer: crate::event::DynSnapshotRenderer,
}

impl AddressService {
    /// Wires the service for one environment's graph.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        environment: Environment,
        uow: DynUnitOfWork,
        tenants: DynTenantStore,
        vaults: DynVaultStore,
        addresses: DynAddressStore,
        provider: DynCustodyProvider,
        clock: DynClock,
        ids: DynIdGenerator,
        renderer: crate::event::DynSnapshotRenderer,
    ) -> AddressService {
        AddressService {
            environment,
            uow,
            tenants,
            vaults,
            addresses,
            provider,
            clock,
            ids,
            max_addresses_per_wallet: u32::MAX,
            renderer,
        }
    }

    fn events(&self) -> super::booking::Emitter<'_> {
        super::booking::Emitter {
            ids: self.ids.as_ref(),
            renderer: self.renderer.as_ref(),
        }
    }

    /// Caps the addresses one wallet may have (the primary included); minting past it is
    /// refused with 422 `wallet_address_limit_reached`. Without a cap: unlimited.
    #[must_use]
    pub fn with_address_cap(mut self, max_addresses_per_wallet: u32) -> AddressService {
        self.max_addresses_per_wallet = max_addresses_per_wallet.max(1);
        self
    }

    /// Ensures the primary address of the wallet named by `command` (see the module doc).
    ///
    /// # Errors
    /// `MissingScope(addresses:write)`; `AssetNotEnabled`; `NotFound` for another tenant's vault
    /// or wallet; `Refused(account_asset_mismatch)` when a wallet target has another asset;
    /// `Vault(Archived)`; `Provider` when minting fails (nothing is changed); store errors.
    pub async fn ensure_primary_address(
        &self,
        caller: &Caller,
        command: EnsureAddress,
        idempotency: Option<IdempotentWrite<'_, Provisioned<DepositAddress>>>,
    ) -> Result<Provisioned<DepositAddress>, Error> {
        caller.require(Scope::AddressesWrite)?;
        let result = self
            .ensure_in_vault(
                caller,
                &command.target,
                command.asset,
                None,
                command.label,
                idempotency,
            )
            .await?;
        Ok(Provisioned {
            value: result.value.1,
            created: result.created,
        })
    }

    /// Mints an additional (non-primary) address for a wallet. If the wallet has no address
    /// yet, the new one becomes its primary.
    ///
    /// # Errors
    /// As [`AddressService::ensure_primary_address`].
    pub async fn create_additional_address(
        &self,
        caller: &Caller,
        wallet_id: WalletId,
        label: Option<Label>,
        idempotency: Option<IdempotentWrite<'_, DepositAddress>>,
    ) -> Result<DepositAddress, Error> {
        caller.require(Scope::AddressesWrite)?;
        // A short read-only transaction finds the wallet (tenant-scoped) and is dropped at once,
        // releasing its lock: a wallet's tenant, vault and asset never change, so the minting
        // transaction below needs no wallet row lock, and taking one before the minting lock
        // would invert the address-minting lock order.
        let wallet = {
            let mut tx = self.uow.begin().await?;
            tx.lock_wallets(caller.tenant_id, &[wallet_id])
                .await?
                .into_iter()
                .next()
                .ok_or(Error::NotFound(ResourceKind::Wallet))?
        };
        // With no transaction open: the tenant store is another handle (see `StoreTx`).
        self.require_enabled(caller.tenant_id, wallet.asset).await?;

        let now = self.clock.now();
        let mut tx = self.uow.begin().await?;
        // Address-minting lock order: minting lock → vault (shared) → wallet rows.
        tx.lock_address_minting(wallet.vault_id, wallet.asset)
            .await?;
        // Checked under the shared lock, so an archive cannot commit before we do.
        tx.share_vault(caller.tenant_id, wallet.vault_id)
            .await
            .map_err(Error::from_store(ResourceKind::Vault))?
            .ensure_can_receive()?;
        let address = self.mint(tx.as_mut(), &wallet, label, now).await?;
        self.address_created(tx.as_mut(), &address, now).await?;
        commit_with(tx, caller.tenant_id, idempotency, &address).await?;
        Ok(address)
    }

    /// Reads one address of the caller's tenant.
    ///
    /// # Errors
    /// `MissingScope(addresses:read)`; `NotFound` (also for another tenant's address).
    pub async fn get(&self, caller: &Caller, id: AddressId) -> Result<DepositAddress, Error> {
        caller.require(Scope::AddressesRead)?;
        self.addresses
            .get(caller.tenant_id, id)
            .await
            .map_err(Error::from_store(ResourceKind::Address))
    }

    /// Lists the caller's addresses.
    ///
    /// # Errors
    /// `MissingScope(addresses:read)`; store errors.
    pub async fn list(
        &self,
        caller: &Caller,
        filter: &AddressFilter,
        page: PageRequest,
    ) -> Result<Page<DepositAddress>, Error> {
        caller.require(Scope::AddressesRead)?;
        Ok(self.addresses.list(caller.tenant_id, filter, page).await?)
    }

    /// Reads one address of the caller's tenant with its vault's reference.
    ///
    /// # Errors
    /// As [`AddressService::get`].
    pub async fn get_with_reference(
        &self,
        caller: &Caller,
        id: AddressId,
    ) -> Result<ReferencedAddress, Error> {
        caller.require(Scope::AddressesRead)?;
        // The address and its vault's reference in one read (one round trip, one snapshot).
        let (address, external_ref) = self
            .addresses
            .get_with_reference(caller.tenant_id, id)
            .await
            .map_err(Error::from_store(ResourceKind::Address))?;
        Ok(ReferencedAddress {
            address,
            external_ref,
        })
    }

    /// Lists the caller's addresses, each with its vault's reference; with `external_ref`, only
    /// that customer's (a reference no vault has yet lists nothing: Connect creates customers
    /// lazily, so an unknown one is not an error).
    ///
    /// # Errors
    /// `MissingScope(addresses:read)`; store errors.
    pub async fn list_for_reference(
        &self,
        caller: &Caller,
        external_ref: Option<&ExternalRef>,
        page: PageRequest,
    ) -> Result<Page<ReferencedAddress>, Error> {
        caller.require(Scope::AddressesRead)?;
        let tenant = caller.tenant_id;
        let mut references = HashMap::new();
        let mut filter = AddressFilter::default();
        if let Some(reference) = external_ref {
            match self.vaults.find_by_external_ref(tenant, reference).await {
                Ok(vault) => {
                    filter.vault_id = Some(vault.id);
                    references.insert(vault.id, vault.external_ref);
                }
                Err(StoreError::NotFound) => {
                    return Ok(Page {
                        items: Vec::new(),
                        has_more: false,
                    })
                }
                Err(e) => return Err(e.into()),
            }
        }
        let found = self.addresses.list(tenant, &filter, page).await?;
        let mut items = Vec::with_capacity(found.items.len());
        for address in found.items {
            items.push(self.referenced(tenant, address, &mut references).await?);
        }
        Ok(Page {
            items,
            has_more: found.has_more,
        })
    }

    /// Reads one address of an Accounts `accountId` (a wallet): an address of another wallet is
    /// the same `NotFound` as a missing one.
    ///
    /// # Errors
    /// As [`AddressService::get`].
    pub async fn get_in_wallet(
        &self,
        caller: &Caller,
        wallet: WalletId,
        id: AddressId,
    ) -> Result<DepositAddress, Error> {
        let address = self.get(caller, id).await?;
        if address.wallet_id != wallet {
            return Err(Error::NotFound(ResourceKind::Address));
        }
        Ok(address)
    }

    /// Pairs an address with its vault's reference, reading each vault once per call.
    async fn referenced(
        &self,
        tenant: TenantId,
        address: DepositAddress,
        references: &mut HashMap<VaultId, Option<ExternalRef>>,
    ) -> Result<ReferencedAddress, Error> {
        let external_ref = match references.get(&address.vault_id) {
            Some(known) => known.clone(),
            None => {
                let found = self
                    .vaults
                    .get(tenant, address.vault_id)
                    .await
                    .map_err(Error::from_store(ResourceKind::Vault))?
                    .external_ref;
                references.insert(address.vault_id, found.clone());
                found
            }
        };
        Ok(ReferencedAddress {
            address,
            external_ref,
        })
    }

    /// The shared core of every "ensure" path (Connect, Platform wallet creation, Accounts).
    /// `wallet_label` labels a wallet created here. Returns the wallet and its primary address.
    pub(crate) async fn ensure_in_vault<T>(
        &self,
        caller: &Caller,
        target: &AddressTarget,
        asset: AssetId,
        wallet_label: Option<Label>,
        address_label: Option<Label>,
        idempotency: Option<IdempotentWrite<'_, T>>,
    ) -> Result<Provisioned<(Wallet, DepositAddress)>, Error>
    where
        T: From<Provisioned<(Wallet, DepositAddress)>>,
    {
        self.require_enabled(caller.tenant_id, asset).await?;
        // A vault named by id (or through a wallet) is resolved before the unit of work; a
        // customer or treasury vault is found or created inside it (issue 18: one commit per
        // request). Two attempts: the second only runs when a concurrent request created the
        // same vault between our read and our insert, and then it finds that vault.
        for _ in 0..2 {
            let named = match target {
                AddressTarget::Vault(_) | AddressTarget::Wallet(_) => {
                    // Whether the vault may receive is decided inside the minting transaction
                    // below, not on this read: an archive committing in between would otherwise
                    // still get a wallet.
                    Some(self.resolve_vault(caller, target, asset).await?.id)
                }
                AddressTarget::Customer(_) | AddressTarget::Treasury => None,
            };
            let now = self.clock.now();
            let mut tx = self.uow.begin().await?;
            let (vault_id, fresh_vault) = match named {
                Some(id) => (id, None),
                None => match self
                    .find_or_create_vault(tx.as_mut(), caller, target, now)
                    .await?
                {
                    Lazy::Found(vault) => (vault.id, None),
                    Lazy::Created(vault) => (vault.id, Some(vault)),
                    Lazy::Raced => continue,
                },
            };
            return self
                .ensure_locked(
                    caller,
                    tx,
                    vault_id,
                    fresh_vault,
                    asset,
                    (wallet_label, address_label),
                    idempotency,
                    now,
                )
                .await;
        }
        Err(Error::Internal("vault creation kept conflicting".into()))
    }

    /// The rest of [`ensure_in_vault`](AddressService::ensure_in_vault), in its unit of work:
    /// `fresh_vault` is a vault this transaction has just created (no other transaction can see
    /// it before commit, so it needs neither the minting lock nor a status check, and holds no
    /// wallet).
    #[allow(clippy::too_many_arguments)]
    async fn ensure_locked<T>(
        &self,
        caller: &Caller,
        mut tx: Box<dyn StoreTx>,
        vault_id: VaultId,
        fresh_vault: Option<Vault>,
        asset: AssetId,
        (wallet_label, address_label): (Option<Label>, Option<Label>),
        idempotency: Option<IdempotentWrite<'_, T>>,
        now: OffsetDateTime,
    ) -> Result<Provisioned<(Wallet, DepositAddress)>, Error>
    where
        T: From<Provisioned<(Wallet, DepositAddress)>>,
    {
        let existing_wallet = match &fresh_vault {
            Some(_) => None,
            None => {
                // Serialises every ensure for this (vault, asset) until commit: the check below
                // and the provider call happen under it. Address-minting lock order: minting
                // lock → vault (shared) → wallet rows.
                tx.lock_address_minting(vault_id, asset).await?;
                // The shared lock keeps the status we check until commit (an archive takes the
                // vault exclusively, so it waits for us), while concurrent provisioning and
                // transfers in the same vault still proceed.
                let vault = tx
                    .share_vault(caller.tenant_id, vault_id)
                    .await
                    .map_err(Error::from_store(ResourceKind::Vault))?;
                vault.ensure_can_receive()?;
                match tx.find_wallet(vault.id, asset).await {
                    Ok(wallet) => Some(wallet),
                    Err(StoreError::NotFound) => None,
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let (wallet, wallet_created) = match existing_wallet {
            Some(wallet) => (wallet, false),
            None => {
                let wallet = new_wallet(
                    self.ids.ulid(),
                    caller.tenant_id,
                    vault_id,
                    asset,
                    wallet_label,
                    now,
                );
                tx.insert_wallet(&wallet).await?;
                (wallet, true)
            }
        };
        // A wallet created in this transaction (under the minting lock) has no address yet:
        // nothing to look up, and its first address is index 0 (issue 18: two statements fewer).
        let primary = if wallet_created {
            Err(StoreError::NotFound)
        } else {
            tx.find_primary_address(wallet.id).await
        };
        let (address, address_created) = match primary {
            Ok(existing) => (existing, false),
            Err(StoreError::NotFound) => {
                let index = if wallet_created { Some(0) } else { None };
                (
                    self.mint_at(tx.as_mut(), &wallet, address_label, now, index)
                        .await?,
                    true,
                )
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(vault) = &fresh_vault {
            emit(
                tx.as_mut(),
                self.events(),
                caller.tenant_id,
                EventType::VaultCreated,
                Subject::Vault(vault),
                None,
                now,
            )
            .await?;
        }
        if wallet_created {
            // After minting the primary address: the Platform API shows a wallet with its
            // `depositAddress`, and so does the event.
            emit(
                tx.as_mut(),
                self.events(),
                caller.tenant_id,
                EventType::WalletCreated,
                Subject::Wallet {
                    wallet: &wallet,
                    deposit_address: Some(&address),
                },
                None,
                now,
            )
            .await?;
        }
        if address_created {
            self.address_created(tx.as_mut(), &address, now).await?;
        }
        let result = Provisioned {
            value: (wallet, address),
            created: wallet_created || address_created,
        };
        if let Some(write) = idempotency {
            let rendered = (write.respond)(&T::from(result.clone()));
            super::complete_idempotency(tx.as_mut(), caller.tenant_id, write, &rendered).await?;
        }
        tx.commit().await?;
        Ok(result)
    }

    async fn address_created(
        &self,
        tx: &mut dyn StoreTx,
        address: &DepositAddress,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        emit(
            tx,
            self.events(),
            address.tenant_id,
            EventType::AddressCreated,
            Subject::Address(address),
            None,
            now,
        )
        .await
    }

    /// Calls the provider and records the address (the caller emits `address.created`). The
    /// caller holds the minting lock.
    async fn mint(
        &self,
        tx: &mut dyn StoreTx,
        wallet: &Wallet,
        label: Option<Label>,
        now: OffsetDateTime,
    ) -> Result<DepositAddress, Error> {
        self.mint_at(tx, wallet, label, now, None).await
    }

    /// [`mint`](AddressService::mint) at `index` when the caller knows it (a wallet created in
    /// this transaction: 0), else at the count of the wallet's addresses.
    async fn mint_at(
        &self,
        tx: &mut dyn StoreTx,
        wallet: &Wallet,
        label: Option<Label>,
        now: OffsetDateTime,
        index: Option<u32>,
    ) -> Result<DepositAddress, Error> {
        let index = match index {
            Some(index) => index,
            None => tx.count_addresses(wallet.id).await?,
        };
        // Counted under the minting lock, so racing mints cannot both pass the cap.
        if u64::from(index) >= u64::from(self.max_addresses_per_wallet) {
            return Err(Error::Refused {
                code: "wallet_address_limit_reached",
                message: format!(
                    "wallet {} already has {} addresses, the most one wallet may have",
                    wallet.id, self.max_addresses_per_wallet
                ),
            });
        }
        let id = AddressId::from_ulid(self.ids.ulid());
        let minted = self
            .provider
            .mint_address(&MintRequest {
                address_id: id,
                tenant_id: wallet.tenant_id,
                vault_id: wallet.vault_id,
                wallet_id: wallet.id,
                asset: wallet.asset,
                index,
            })
            .await?;
        // A provider answering with an address of another network would make deposits
        // unattributable; refuse it loudly rather than store it.
        if minted.address.network() != wallet.asset.network() {
            return Err(Error::Internal(format!(
                "provider {} minted a {} address for a {} wallet",
                minted.provider,
                minted.address.network(),
                wallet.asset.network()
            )));
        }
        let address = DepositAddress {
            id,
            tenant_id: wallet.tenant_id,
            vault_id: wallet.vault_id,
            wallet_id: wallet.id,
            asset: wallet.asset,
            address: minted.address,
            label,
            is_primary: index == 0,
            derivation_index: index,
            provider: ProviderRef {
                provider: minted.provider.to_owned(),
                reference: minted.provider_ref,
            },
            status: AddressStatus::Active,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        tx.insert_address(&address).await?;
        Ok(address)
    }

    /// Refuses an asset the tenant has not enabled in this environment.
    pub(crate) async fn require_enabled(
        &self,
        tenant: TenantId,
        asset: AssetId,
    ) -> Result<(), Error> {
        let enabled = self
            .tenants
            .enabled_assets(tenant, self.environment)
            .await?;
        if enabled.contains(asset) {
            Ok(())
        } else {
            Err(Error::AssetNotEnabled(asset))
        }
    }

    /// Finds the target vault, creating a customer or treasury vault on first sight.
    async fn resolve_vault(
        &self,
        caller: &Caller,
        target: &AddressTarget,
        asset: AssetId,
    ) -> Result<Vault, Error> {
        let tenant = caller.tenant_id;
        match target {
            AddressTarget::Vault(id) => self
                .vaults
                .get(tenant, *id)
                .await
                .map_err(Error::from_store(ResourceKind::Vault)),
            AddressTarget::Wallet(id) => {
                let mut tx = self.uow.begin().await?;
                let wallet = tx
                    .lock_wallets(tenant, &[*id])
                    .await?
                    .into_iter()
                    .next()
                    .ok_or(Error::NotFound(ResourceKind::Wallet))?;
                if wallet.asset != asset {
                    return Err(Error::Refused {
                        code: "account_asset_mismatch",
                        message: format!("account {id} holds {}, not {asset}", wallet.asset),
                    });
                }
                // Shared, in the money-movement order (wallet → vault): this only resolves the
                // vault; its status is checked again inside the minting transaction.
                let vault = tx
                    .share_vault(tenant, wallet.vault_id)
                    .await
                    .map_err(Error::from_store(ResourceKind::Vault))?;
                // Read-only: dropping the transaction releases the locks.
                Ok(vault)
            }
            AddressTarget::Customer(_) | AddressTarget::Treasury => Err(Error::Internal(
                "a customer or treasury vault is resolved in the unit of work".into(),
            )),
        }
    }

    /// Finds the customer or treasury vault `target` names in `tx`, or inserts it there.
    /// `Raced` when a concurrent request created it first (the insert conflicted, which ends
    /// the unit of work: the caller starts again and finds it).
    async fn find_or_create_vault(
        &self,
        tx: &mut dyn StoreTx,
        caller: &Caller,
        target: &AddressTarget,
        now: OffsetDateTime,
    ) -> Result<Lazy, Error> {
        let tenant = caller.tenant_id;
        let found = match target {
            AddressTarget::Customer(r) => tx.find_vault_by_external_ref(tenant, r).await,
            _ => tx.find_treasury_vault(tenant).await,
        };
        match found {
            Ok(vault) => return Ok(Lazy::Found(vault)),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        let vault = new_lazy_vault(self.ids.ulid(), tenant, target, now);
        match tx.insert_vault(&vault).await {
            Ok(()) => Ok(Lazy::Created(vault)),
            Err(StoreError::Conflict { .. }) => Ok(Lazy::Raced),
            Err(e) => Err(e.into()),
        }
    }
}

/// What [`AddressService::find_or_create_vault`] did.
enum Lazy {
    Found(Vault),
    Created(Vault),
    Raced,
}

impl From<Provisioned<(Wallet, DepositAddress)>> for Provisioned<DepositAddress> {
    fn from(p: Provisioned<(Wallet, DepositAddress)>) -> Self {
        Provisioned {
            value: p.value.1,
            created: p.created,
        }
    }
}

fn new_lazy_vault(
    ulid: ulid::Ulid,
    tenant: TenantId,
    target: &AddressTarget,
    now: OffsetDateTime,
) -> Vault {
    let (kind, external_ref) = match target {
        AddressTarget::Customer(r) => (VaultKind::Customer, Some(r.clone())),
        _ => (VaultKind::Treasury, None),
    };
    Vault {
        id: VaultId::from_ulid(ulid),
        tenant_id: tenant,
        kind,
        external_ref,
        name: VaultName::default(),
        metadata: Metadata::default(),
        status: VaultStatus::Active,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

pub(crate) fn new_wallet(
    ulid: ulid::Ulid,
    tenant: TenantId,
    vault: VaultId,
    asset: AssetId,
    label: Option<Label>,
    now: OffsetDateTime,
) -> Wallet {
    Wallet {
        id: WalletId::from_ulid(ulid),
        tenant_id: tenant,
        vault_id: vault,
        asset,
        label,
        status: WalletStatus::Active,
        balances: Balances::default(),
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod use_case_tests;
