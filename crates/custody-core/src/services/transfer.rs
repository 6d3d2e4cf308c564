//! Internal transfers: moving funds between two wallets of one tenant, off-chain.
//!
//! Rules: same tenant (another tenant's wallet is simply not found), same environment (the
//! store is bound to one), same asset, two different wallets, the source vault may send and
//! the destination vault may receive, a positive amount with no more decimals than the asset,
//! and no overdraft. Both wallets are locked (in id order, so opposite transfers cannot
//! deadlock) before the balance check, so concurrent transfers cannot overdraw. The vaults are
//! then read under a *shared* lock (the money-movement order of
//! [`StoreTx`](crate::ports::StoreTx)): their status cannot change before commit, yet transfers
//! and address provisioning in the same vault never wait on each other for it.

use std::collections::BTreeMap;

use super::booking::record_new;
use super::{commit_with, IdempotentWrite};
use crate::amount::Amount;
use crate::api_key::Scope;
use crate::caller::Caller;
use crate::error::{Error, ResourceKind};
use crate::id::{TransactionId, WalletId};
use crate::ports::{DynClock, DynIdGenerator, DynUnitOfWork};
use crate::text::Label;
use crate::transaction::{NewTransaction, Transaction, TransactionKind};

/// A transfer request (Platform `POST /v1/transactions/transfer`).
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferCommand {
    pub from: WalletId,
    pub to: WalletId,
    /// The amount as the partner wrote it (whole-token decimal string), parsed with the
    /// asset's decimals once the wallets are known.
    pub amount: String,
    /// Partner note.
    pub reference: Option<Label>,
}

/// Transfer use cases.
#[derive(Clone)]
pub struct TransferService {
    uow: DynUnitOfWork,
    clock: DynClock,
    ids: DynIdGenerator,
    renderer: crate::event::DynSnapshotRenderer,
}

impl TransferService {
    /// Wires the service; `renderer` renders its events' snapshots.
    pub fn new(
        uow: DynUnitOfWork,
        clock: DynClock,
        ids: DynIdGenerator,
        renderer: crate::event::DynSnapshotRenderer,
    ) -> TransferService {
        TransferService {
            uow,
            clock,
            ids,
            renderer,
        }
    }

    fn events(&self) -> super::booking::Emitter<'_> {
        super::booking::Emitter {
            ids: self.ids.as_ref(),
            renderer: self.renderer.as_ref(),
        }
    }

    /// Moves funds atomically and returns the `Completed` transfer.
    ///
    /// # Errors
    /// `MissingScope(transfers:write)`; `Refused(same_wallet | asset_mismatch)`; `NotFound`
    /// wallet; amount field errors; `Vault(Frozen | Archived)`; `InsufficientFunds`; store
    /// errors. Nothing is written on any error.
    pub async fn transfer(
        &self,
        caller: &Caller,
        command: TransferCommand,
        idempotency: Option<IdempotentWrite<'_, Transaction>>,
    ) -> Result<Transaction, Error> {
        caller.require(Scope::TransfersWrite)?;
        if command.from == command.to {
            return Err(Error::Refused {
                code: "same_wallet",
                message: "source and destination must be different wallets".into(),
            });
        }
        let now = self.clock.now();
        let mut tx = self.uow.begin().await?;
        // Commit point is at the end; every early return drops `tx`, which rolls back.
        let mut wallets: BTreeMap<WalletId, _> = tx
            .lock_wallets(caller.tenant_id, &[command.from, command.to])
            .await?
            .into_iter()
            .map(|w| (w.id, w))
            .collect();
        let (Some(source), Some(destination)) =
            (wallets.get(&command.from), wallets.get(&command.to))
        else {
            return Err(Error::NotFound(ResourceKind::Wallet));
        };
        if source.asset != destination.asset {
            return Err(Error::Refused {
                code: "asset_mismatch",
                message: format!(
                    "cannot transfer {} into a {} wallet",
                    source.asset, destination.asset
                ),
            });
        }
        let asset = source.asset;
        let amount = Amount::parse(&command.amount, asset.decimals())?;
        let (source_vault, destination_vault) = (source.vault_id, destination.vault_id);
        // Status checks only: shared locks, taken after the wallets (money-movement order).
        tx.share_vault(caller.tenant_id, source_vault)
            .await
            .map_err(Error::from_store(ResourceKind::Vault))?
            .ensure_can_send()?;
        tx.share_vault(caller.tenant_id, destination_vault)
            .await
            .map_err(Error::from_store(ResourceKind::Vault))?
            .ensure_can_receive()?;

        let transaction = Transaction::new(
            NewTransaction {
                id: TransactionId::from_ulid(self.ids.ulid()),
                tenant_id: caller.tenant_id,
                kind: TransactionKind::Transfer,
                asset,
                amount,
                source_wallet_id: Some(command.from),
                destination_wallet_id: Some(command.to),
                reference: command.reference,
            },
            now,
        );
        record_new(tx.as_mut(), self.events(), &transaction, &mut wallets, now).await?;
        commit_with(tx, caller.tenant_id, idempotency, &transaction).await?;
        Ok(transaction)
    }
}

#[cfg(test)]
mod tests;
