//! Deposits: crediting funds that arrived on-chain, exactly once.
//!
//! A provider notification is never trusted as such: [`DepositService::record`] asks the
//! provider to confirm it (BitGo's own rule is to read the transfer back), then attributes it
//! by the receiving address (unique system-wide) and applies it. The provider's transfer id is
//! unique per deposit in the store, so a repeated or concurrent notification finds the existing
//! deposit and can only move it forward: `pending` is credited once on detection and moved to
//! `available` once on completion.

use std::collections::BTreeMap;

use super::attribution::divert_unattributable;
use super::booking::{advance_to, emit, record_new};
use crate::error::{Error, ResourceKind};
use crate::event::EventType;
use crate::id::TransactionId;
use crate::ports::{
    DepositNotice, DynClock, DynCustodyProvider, DynIdGenerator, DynUnitOfWork, StoreError,
    VerifiedDeposit,
};
use crate::transaction::{NewTransaction, Transaction, TransactionKind};

/// Deposit use cases. Driven by provider notifications and the sandbox simulator, not by
/// partner keys, so there is no caller.
#[derive(Clone)]
pub struct DepositService {
    uow: DynUnitOfWork,
    provider: DynCustodyProvider,
    clock: DynClock,
    ids: DynIdGenerator,
}

impl DepositService {
    /// Wires the service with the graph's provider.
    pub fn new(
        uow: DynUnitOfWork,
        provider: DynCustodyProvider,
        clock: DynClock,
        ids: DynIdGenerator,
    ) -> DepositService {
        DepositService {
            uow,
            provider,
            clock,
            ids,
        }
    }

    /// Verifies a notification with the provider and applies it.
    ///
    /// # Errors
    /// `Provider(Unverified)` when the provider does not confirm it; as
    /// [`DepositService::apply_verified`].
    pub async fn record(&self, notice: &DepositNotice) -> Result<Transaction, Error> {
        let verified = self.provider.verify_deposit(notice).await?;
        self.apply_verified(verified).await
    }

    /// Applies a deposit the provider has confirmed: creates it (crediting `pending`) on first
    /// sight, then moves it to the reported status (crediting `available` on completion,
    /// reversing `pending` on failure). Idempotent: the same report twice changes nothing.
    /// Only the provider-verified path and the sandbox simulator may call this.
    ///
    /// # Errors
    /// `Refused(unknown_deposit_address)` when no wallet owns the address;
    /// `Refused(deposit_asset_mismatch)` when the asset is not the wallet's; `InvalidTransition`
    /// when the report contradicts a final status; store errors.
    pub async fn apply_verified(&self, deposit: VerifiedDeposit) -> Result<Transaction, Error> {
        // One retry covers the race where two notifications of one deposit both see it absent:
        // the loser's insert hits the unique provider reference and, retried, finds the winner's.
        match self.apply_once(&deposit).await {
            Err(Error::Store(StoreError::Conflict { .. })) => self.apply_once(&deposit).await,
            other => other,
        }
    }

    async fn apply_once(&self, deposit: &VerifiedDeposit) -> Result<Transaction, Error> {
        let now = self.clock.now();
        let mut tx = self.uow.begin().await?;
        let address = match tx.find_address_by_chain_address(&deposit.address).await {
            Ok(address) => address,
            Err(StoreError::NotFound) => {
                return Err(Error::Refused {
                    code: "unknown_deposit_address",
                    message: format!("no wallet owns {}", deposit.address),
                })
            }
            Err(e) => return Err(e.into()),
        };
        if address.asset != deposit.asset {
            return Err(Error::Refused {
                code: "deposit_asset_mismatch",
                message: format!(
                    "{} received {}, but its wallet holds {}",
                    deposit.address, deposit.asset, address.asset
                ),
            });
        }
        let wallet = tx
            .lock_wallet_by_id(address.wallet_id)
            .await
            .map_err(Error::from_store(ResourceKind::Wallet))?;
        let mut wallets = BTreeMap::from([(wallet.id, wallet)]);

        let mut transaction = match tx.lock_deposit_by_provider_ref(&deposit.provider_ref).await {
            Ok(existing) => existing,
            Err(StoreError::NotFound) => {
                // Issue 12 (worker): a deposit to an archived vault is recorded, not credited.
                let diverted = divert_unattributable(tx.as_mut(), &address, deposit, now).await?;
                if let Some(refusal) = diverted {
                    tx.commit().await?;
                    return Err(refusal);
                }
                let mut created = Transaction::new(
                    NewTransaction {
                        id: TransactionId::from_ulid(self.ids.ulid()),
                        tenant_id: address.tenant_id,
                        kind: TransactionKind::Deposit,
                        asset: deposit.asset,
                        amount: deposit.amount,
                        source_wallet_id: None,
                        destination_wallet_id: Some(address.wallet_id),
                        reference: None,
                    },
                    now,
                );
                created.deposit_address_id = Some(address.id);
                created.destination_address = Some(deposit.address.clone());
                created.provider_ref = Some(deposit.provider_ref.clone());
                created.tx_hash = deposit.tx_hash.clone();
                created.confirmations = deposit.confirmations;
                record_new(tx.as_mut(), self.ids.as_ref(), &created, &mut wallets, now).await?;
                created
            }
            Err(e) => return Err(e.into()),
        };

        if transaction.status.is_stale_report(deposit.status) {
            // A late report of an earlier stage: nothing to learn from it.
        } else if transaction.status != deposit.status {
            transaction.confirmations = deposit.confirmations.or(transaction.confirmations);
            transaction.tx_hash = deposit.tx_hash.clone().or(transaction.tx_hash);
            advance_to(
                tx.as_mut(),
                self.ids.as_ref(),
                &mut transaction,
                deposit.status,
                &mut wallets,
                now,
            )
            .await?;
        } else if deposit.confirmations.is_some()
            && deposit.confirmations != transaction.confirmations
        {
            // Same status, more confirmations: record progress so partners can show n/N.
            transaction.confirmations = deposit.confirmations;
            transaction.version += 1;
            transaction.updated_at = now;
            tx.update_transaction(&transaction).await?;
            emit(
                tx.as_mut(),
                self.ids.as_ref(),
                transaction.tenant_id,
                EventType::TransactionStatusUpdated,
                &transaction,
                None,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(transaction)
    }
}

#[cfg(test)]
mod tests;
