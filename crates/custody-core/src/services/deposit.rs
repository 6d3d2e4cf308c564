//! Deposits: crediting funds that arrived on-chain, exactly once.
//!
//! A provider notification is never trusted as such: [`DepositService::record`] asks the
//! provider to confirm it (BitGo's own rule is to read the transfer back), then attributes it
//! by the receiving address (unique system-wide) and applies it. The provider's transfer id is
//! unique per deposit in the store, so a repeated or concurrent notification finds the existing
//! deposit and can only move it forward: `pending` is credited once on detection and moved to
//! `available` once on completion.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::attribution::{
    divert_unattributable, suspend, ASSET_MISMATCH, SEVERAL_OUTPUTS, UNKNOWN_ADDRESS,
};
use super::booking::{advance_to, emit, record_new};
use super::{commit_with, IdempotentWrite};
use crate::error::{Error, ResourceKind};
use crate::event::{EventType, Subject};
use crate::id::TransactionId;
use crate::ports::{
    DepositNotice, DynClock, DynCustodyProvider, DynIdGenerator, DynUnitOfWork, Notification,
    StoreError, UnattributableReport, VerifiedDeposit,
};
use crate::transaction::{NewTransaction, Transaction, TransactionKind, TransactionStatus};

/// What a received notification was, once verified ([`DepositService::receive`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A deposit, applied (boxed: it is much larger than the others).
    Deposit(Box<Transaction>),
    /// News of this withdrawal of ours: poll it.
    Withdrawal(TransactionId),
    /// Nothing to do (why).
    Acknowledged(String),
}

/// What a deposit reconciliation pass did ([`DepositService::reconcile`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DepositReconciliation {
    /// Deposits applied (created, moved forward, or already up to date): provider reference,
    /// our transaction, its status now.
    pub applied: Vec<(String, TransactionId, TransactionStatus)>,
    /// Reported deposits not applied: provider reference, error code, why (unknown address,
    /// asset mismatch, archived vault, disagreeing report).
    pub not_applied: Vec<(String, String, String)>,
    /// Reports that could not be read as deposits, or providers that cannot list.
    pub unusable: Vec<String>,
}

/// Deposit use cases. Driven by provider notifications and the sandbox simulator, not by
/// partner keys, so there is no caller.
#[derive(Clone)]
pub struct DepositService {
    uow: DynUnitOfWork,
    provider: DynCustodyProvider,
    clock: DynClock,
    ids: DynIdGenerator,
    renderer: crate::event::DynSnapshotRenderer,
    address_scan: Arc<AddressScan>,
}

/// How reconciliation walks the addresses of a provider that lists deposits per address
/// (Rhino: one SDA history read per address): `batch` addresses per provider call, at most
/// `per_pass` addresses per asset and pass, resuming where the previous pass stopped, so a
/// large address count is covered over several passes instead of one heavy one.
#[derive(Debug)]
pub struct AddressScan {
    /// Addresses per provider call.
    pub batch: u32,
    /// Addresses per asset and pass.
    pub per_pass: u32,
    cursors: Mutex<BTreeMap<crate::asset::AssetId, crate::id::AddressId>>,
}

impl AddressScan {
    /// Default: batches of 50, at most 500 addresses per asset and pass.
    pub const DEFAULT_BATCH: u32 = 50;
    /// See [`AddressScan::DEFAULT_BATCH`].
    pub const DEFAULT_PER_PASS: u32 = 500;

    /// A scan starting from the first address (both bounds at least 1).
    #[must_use]
    pub fn new(batch: u32, per_pass: u32) -> AddressScan {
        AddressScan {
            batch: batch.max(1),
            per_pass: per_pass.max(1),
            cursors: Mutex::default(),
        }
    }

    fn cursor(&self, asset: crate::asset::AssetId) -> Option<crate::id::AddressId> {
        self.cursors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&asset)
            .copied()
    }

    fn set_cursor(&self, asset: crate::asset::AssetId, at: Option<crate::id::AddressId>) {
        let mut cursors = self
            .cursors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match at {
            Some(at) => cursors.insert(asset, at),
            None => cursors.remove(&asset),
        };
    }
}

impl DepositService {
    /// Bounds how reconciliation walks per-address providers' addresses (see
    /// [`AddressScan`]; default [`AddressScan::DEFAULT_BATCH`] /
    /// [`AddressScan::DEFAULT_PER_PASS`]).
    #[must_use]
    pub fn with_address_scan(mut self, batch: u32, per_pass: u32) -> DepositService {
        self.address_scan = Arc::new(AddressScan::new(batch, per_pass));
        self
    }

    /// Wires the service with the graph's provider.
    pub fn new(
        uow: DynUnitOfWork,
        provider: DynCustodyProvider,
        clock: DynClock,
        ids: DynIdGenerator,
        renderer: crate::event::DynSnapshotRenderer,
    ) -> DepositService {
        DepositService {
            uow,
            provider,
            clock,
            ids,
            renderer,
            address_scan: Arc::new(AddressScan::new(
                AddressScan::DEFAULT_BATCH,
                AddressScan::DEFAULT_PER_PASS,
            )),
        }
    }

    fn events(&self) -> super::booking::Emitter<'_> {
        super::booking::Emitter {
            ids: self.ids.as_ref(),
            renderer: self.renderer.as_ref(),
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

    /// Verifies any provider notification and applies it if it is a deposit. News of one of
    /// our withdrawals is returned for the caller to poll (through the withdrawal service, the
    /// worker's path); anything else authentic is returned as acknowledged.
    ///
    /// # Errors
    /// `Provider(Unverified)` when the provider does not confirm it; `Provider(Malformed)`
    /// for a zero or unreadable amount; as [`DepositService::apply_verified`].
    pub async fn receive(&self, notice: &DepositNotice) -> Result<Received, Error> {
        match self.provider.verify_notification(notice).await? {
            Notification::Deposit(verified) => self
                .apply_verified(verified)
                .await
                .map(|t| Received::Deposit(Box::new(t))),
            Notification::Unattributable(report) => self.hold_unattributable(&report).await,
            Notification::Withdrawal(id) => Ok(Received::Withdrawal(id)),
            Notification::Acknowledged(why) => Ok(Received::Acknowledged(why)),
        }
    }

    /// Catches up missed notifications: asks the provider for the deposits it reports for
    /// `assets` since `since` and applies each through
    /// [`apply_verified`](DepositService::apply_verified), the notifications' exactly-once
    /// path (a deposit already known only moves forward; one reported twice is credited
    /// once). What cannot be applied is listed with the reason, never dropped silently: an
    /// archived vault's deposit or a disagreeing report goes to the suspense list as it does
    /// from a notification.
    ///
    /// # Errors
    /// The provider's listing errors (nothing was applied).
    pub async fn reconcile(
        &self,
        assets: &[crate::asset::AssetId],
        since: time::OffsetDateTime,
    ) -> Result<DepositReconciliation, Error> {
        let (per_address, per_asset): (Vec<_>, Vec<_>) = assets
            .iter()
            .copied()
            .partition(|&asset| self.provider.lists_deposits_per_address(asset));
        let mut report = DepositReconciliation::default();
        if !per_asset.is_empty() {
            for item in self.provider.recent_deposits(&per_asset, since).await? {
                self.reconcile_item(item, &mut report).await?;
            }
        }
        for asset in per_address {
            self.reconcile_addresses(asset, since, &mut report).await?;
        }
        Ok(report)
    }

    /// Reconciles up to [`AddressScan::per_pass`] of `asset`'s addresses, in batches, from
    /// where the previous pass stopped (wrapping around), for a provider that lists deposits
    /// per address (Rhino: one history read per address).
    async fn reconcile_addresses(
        &self,
        asset: crate::asset::AssetId,
        since: time::OffsetDateTime,
        report: &mut DepositReconciliation,
    ) -> Result<(), Error> {
        let scan = &self.address_scan;
        let start = scan.cursor(asset);
        let mut cursor = start;
        let mut visited = 0u32;
        let mut wrapped = false;
        while visited < scan.per_pass {
            let want = scan.batch.min(scan.per_pass - visited);
            let mut addresses = {
                // A read-only unit of work, dropped before the provider is called.
                let mut tx = self.uow.begin().await?;
                tx.deposit_addresses_of_asset(asset, cursor, want).await?
            };
            // Once wrapped around, stop where this pass started.
            let full_circle = wrapped
                && start.is_some_and(|start| {
                    let before = addresses.len();
                    addresses.retain(|a| a.id <= start);
                    addresses.len() < before || addresses.last().map(|a| a.id) == Some(start)
                });
            let Some(last) = addresses.last().map(|a| a.id) else {
                // The end: start again from the first address, once per pass, unless this
                // pass began there.
                if wrapped || start.is_none() {
                    cursor = None;
                    break;
                }
                wrapped = true;
                cursor = None;
                continue;
            };
            visited += u32::try_from(addresses.len()).unwrap_or(u32::MAX);
            let chain: Vec<_> = addresses.into_iter().map(|a| a.address).collect();
            match self.provider.recent_deposits_at(asset, &chain, since).await {
                Ok(items) => {
                    for item in items {
                        self.reconcile_item(item.map(Notification::Deposit), report)
                            .await?;
                    }
                }
                Err(e) => {
                    scan.set_cursor(asset, cursor);
                    return Err(e.into());
                }
            }
            cursor = Some(last);
            if full_circle {
                break;
            }
        }
        scan.set_cursor(asset, cursor);
        Ok(())
    }

    /// Applies one reconciliation item through the notifications' path, listing what was not
    /// applied. A retryable error ends the pass.
    async fn reconcile_item(
        &self,
        item: Result<Notification, crate::ports::ProviderError>,
        report: &mut DepositReconciliation,
    ) -> Result<(), Error> {
        let (provider_ref, outcome) = match item {
            Ok(Notification::Deposit(deposit)) => (
                deposit.provider_ref.clone(),
                self.apply_verified(deposit).await,
            ),
            Ok(Notification::Unattributable(held)) => (
                held.deposit.provider_ref.clone(),
                self.hold_unattributable(&held)
                    .await
                    .and_then(|_| Err(Error::Internal("a held deposit was not refused".into()))),
            ),
            Ok(Notification::Withdrawal(_) | Notification::Acknowledged(_)) => return Ok(()),
            Err(e) => {
                report.unusable.push(e.to_string());
                return Ok(());
            }
        };
        match outcome {
            Ok(t) => report.applied.push((provider_ref, t.id, t.status)),
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => report
                .not_applied
                .push((provider_ref, e.code().to_owned(), e.to_string())),
        }
        Ok(())
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
        self.apply_verified_with(deposit, None).await
    }

    /// [`apply_verified`](DepositService::apply_verified), also recording the response for
    /// idempotent replay in the same database transaction (the sandbox's simulated deposits,
    /// which a partner asks for).
    ///
    /// # Errors
    /// As [`DepositService::apply_verified`].
    pub(crate) async fn apply_verified_with(
        &self,
        deposit: VerifiedDeposit,
        idempotency: Option<IdempotentWrite<'_, Transaction>>,
    ) -> Result<Transaction, Error> {
        // One retry covers the race where two notifications of one deposit both see it absent:
        // the loser's insert hits the unique provider reference and, retried, finds the winner's.
        match self.apply_once(&deposit, idempotency).await {
            Err(Error::Store(StoreError::Conflict { .. })) => {
                self.apply_once(&deposit, idempotency).await
            }
            other => other,
        }
    }

    /// Moves an open deposit forward from what the provider says now: reads it back by its
    /// provider reference ([`CustodyProvider::deposit_status`](crate::ports::CustodyProvider::deposit_status))
    /// and applies the answer with [`apply_verified`](DepositService::apply_verified), so
    /// `available` is credited exactly once however often it is called. A final deposit is
    /// returned as it is, without asking the provider. Called by the worker for open deposits
    /// (tenant-blind, like every worker step).
    ///
    /// # Errors
    /// `NotFound`; `Internal` when the transaction is not a deposit with a provider reference,
    /// or the provider's answer names another deposit; the provider's errors
    /// (`Unsupported`: this provider cannot be asked, try much later); as
    /// [`DepositService::apply_verified`].
    pub async fn refresh(&self, id: TransactionId) -> Result<Transaction, Error> {
        let current = {
            // Read under a short-lived transaction, dropped (nothing written) before the
            // provider is called: no lock is held across the network.
            let mut tx = self.uow.begin().await?;
            tx.lock_transaction(None, id)
                .await
                .map_err(Error::from_store(ResourceKind::Transaction))?
        };
        if current.status.is_terminal() {
            return Ok(current);
        }
        let (TransactionKind::Deposit, Some(provider_ref)) =
            (current.kind, current.provider_ref.as_deref())
        else {
            return Err(Error::Internal(format!(
                "{id} is not a deposit with a provider reference"
            )));
        };
        let report = self
            .provider
            .deposit_status(provider_ref, current.asset)
            .await?;
        if report.provider_ref != provider_ref
            || report.asset != current.asset
            || current.destination_address.as_ref() != Some(&report.address)
        {
            return Err(Error::Internal(format!(
                "the provider answered for another deposit than {id}"
            )));
        }
        if report.status == TransactionStatus::Confirming
            && report.confirmations == current.confirmations
        {
            // Nothing new: spare the write transaction.
            return Ok(current);
        }
        self.apply_verified(report).await
    }

    /// Whether this service's provider is a live one (the sandbox simulator's reports are
    /// recorded as asked, failures included).
    fn is_live_provider(&self) -> bool {
        self.provider.name() != "sandbox"
    }

    /// Records an authentic deposit report that no single wallet may be credited with (one
    /// transfer paying several of our addresses) in the suspense list, and refuses it: the
    /// caller acknowledges it to the provider. A repeated report updates the same record. The
    /// tenant, vault and address are those of the first output when it is ours.
    async fn hold_unattributable(&self, report: &UnattributableReport) -> Result<Received, Error> {
        let now = self.clock.now();
        let mut tx = self.uow.begin().await?;
        let address = match tx
            .find_address_by_chain_address(&report.deposit.address)
            .await
        {
            Ok(address) => Some(address),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        let reason = if report.reason.is_empty() {
            SEVERAL_OUTPUTS
        } else {
            report.reason
        };
        suspend(
            tx.as_mut(),
            address.as_ref(),
            &report.deposit,
            reason,
            report.detail.clone(),
            now,
        )
        .await?;
        tx.commit().await?;
        Err(Error::Refused {
            code: "deposit_not_attributed",
            message: format!(
                "deposit {} cannot be attributed ({reason}): recorded for operators, not credited",
                report.deposit.provider_ref
            ),
        })
    }

    async fn apply_once(
        &self,
        deposit: &VerifiedDeposit,
        idempotency: Option<IdempotentWrite<'_, Transaction>>,
    ) -> Result<Transaction, Error> {
        let now = self.clock.now();
        let mut tx = self.uow.begin().await?;
        // An authentic deposit we cannot attribute is recorded in the suspense list (with
        // everything the provider said), committed, and refused: never dropped, never
        // credited to a wallet it may not belong to.
        let address = match tx.find_address_by_chain_address(&deposit.address).await {
            Ok(address) => address,
            Err(StoreError::NotFound) if self.provider.forwards_to(&deposit.address) => {
                // A provider's forward of deposits already credited at their deposit
                // address (Rhino → its destination): nothing to credit or to hold.
                return Err(Error::Refused {
                    code: "provider_forward",
                    message: format!(
                        "{} is a configured forwarding destination: this arrival settles \
                         deposits already credited, nothing was recorded",
                        deposit.address
                    ),
                });
            }
            Err(StoreError::NotFound) => {
                let message = format!(
                    "no wallet owns {}: the deposit was recorded for operators, not credited",
                    deposit.address
                );
                suspend(
                    tx.as_mut(),
                    None,
                    deposit,
                    UNKNOWN_ADDRESS,
                    serde_json::json!({ "detail": message }),
                    now,
                )
                .await?;
                tx.commit().await?;
                return Err(Error::Refused {
                    code: "unknown_deposit_address",
                    message,
                });
            }
            Err(e) => return Err(e.into()),
        };
        if address.asset != deposit.asset {
            let message = format!(
                "{} received {}, but its wallet holds {}: the deposit was recorded for \
                 operators, not credited",
                deposit.address, deposit.asset, address.asset
            );
            suspend(
                tx.as_mut(),
                Some(&address),
                deposit,
                ASSET_MISMATCH,
                serde_json::json!({ "detail": message, "walletAsset": address.asset.to_string() }),
                now,
            )
            .await?;
            tx.commit().await?;
            return Err(Error::Refused {
                code: "deposit_asset_mismatch",
                message,
            });
        }
        let wallet = tx
            .lock_wallet_by_id(address.wallet_id)
            .await
            .map_err(Error::from_store(ResourceKind::Wallet))?;
        let mut wallets = BTreeMap::from([(wallet.id, wallet)]);

        let mut transaction = match tx.lock_deposit_by_provider_ref(&deposit.provider_ref).await {
            Ok(existing) => {
                if let Some(refusal) =
                    hold_disagreeing_report(tx.as_mut(), &existing, &address, deposit, now).await?
                {
                    tx.commit().await?;
                    return Err(refusal);
                }
                existing
            }
            Err(StoreError::NotFound)
                if deposit.status == TransactionStatus::Failed && self.is_live_provider() =>
            {
                // A provider's report first seen already failed (BitGo `failed`/`rejected`, a
                // Rhino SDA deposit rejected or refunded): nothing arrived, so nothing is
                // recorded or credited. (A failure the sandbox simulator is asked for is
                // recorded as the partner asked.)
                return Err(Error::Refused {
                    code: "deposit_failed_at_provider",
                    message: format!(
                        "the provider reports deposit {} as failed; nothing was credited",
                        deposit.provider_ref
                    ),
                });
            }
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
                record_new(tx.as_mut(), self.events(), &created, &mut wallets, now).await?;
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
                self.events(),
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
            let before = transaction.clone();
            transaction.confirmations = deposit.confirmations;
            transaction.version += 1;
            transaction.updated_at = now;
            tx.update_transaction(&transaction).await?;
            emit(
                tx.as_mut(),
                self.events(),
                transaction.tenant_id,
                EventType::TransactionStatusUpdated,
                Subject::Transaction(&transaction),
                Some(Subject::Transaction(&before)),
                now,
            )
            .await?;
        }
        commit_with(tx, transaction.tenant_id, idempotency, &transaction).await?;
        Ok(transaction)
    }
}

/// Why a deposit report was not applied: it disagrees with what we recorded for its reference.
pub(crate) const REPORT_DISAGREES: &str = "report_disagrees";

/// A later report of a known deposit that disagrees with it (amount, asset or receiving
/// address) is never applied: it is recorded in the suspense list (`unattributed_deposits`,
/// reason `report_disagrees`, with everything the provider said) for an operator, and the
/// refusal is returned to answer after committing `tx`. `None` when it agrees.
async fn hold_disagreeing_report(
    tx: &mut dyn crate::ports::StoreTx,
    existing: &Transaction,
    address: &crate::deposit_address::DepositAddress,
    deposit: &VerifiedDeposit,
    now: time::OffsetDateTime,
) -> Result<Option<Error>, Error> {
    let mut differences = Vec::new();
    if existing.amount != deposit.amount {
        differences.push(format!(
            "amount {} (recorded {})",
            deposit.amount.base_units(),
            existing.amount.base_units()
        ));
    }
    if existing.asset != deposit.asset {
        differences.push(format!(
            "asset {} (recorded {})",
            deposit.asset, existing.asset
        ));
    }
    if existing.destination_address.as_ref() != Some(&deposit.address) {
        differences.push(format!("address {}", deposit.address));
    }
    if differences.is_empty() {
        return Ok(None);
    }
    super::attribution::suspend(
        tx,
        Some(address),
        deposit,
        REPORT_DISAGREES,
        serde_json::json!({
            "detail": differences.join(", "),
            "recordedTransaction": existing.id.to_string(),
        }),
        now,
    )
    .await?;
    Ok(Some(Error::Refused {
        code: "deposit_report_disagrees",
        message: format!(
            "the provider's report of {} disagrees with deposit {}: {}; recorded for an \
             operator, not applied",
            deposit.provider_ref,
            existing.id,
            differences.join(", ")
        ),
    }))
}

#[cfg(test)]
mod tests;
