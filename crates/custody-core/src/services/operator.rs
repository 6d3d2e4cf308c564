//! Operator resolutions (`custody admin withdrawals resolve`): settling by hand a withdrawal
//! whose outcome the provider cannot tell us (flagged, or stuck), once an operator has
//! established it out of band (BitGo's console, a block explorer).
//!
//! Audited in the transaction's own history: the resolution's last status event carries
//! `previous_attributes.resolution = {operator, evidence, as, at}`, committed in the same
//! database transaction as the status change and its ledger effect.

use std::collections::BTreeMap;

use super::booking::{advance_annotated, record_new};
use crate::error::{Error, ResourceKind};
use crate::id::{TransactionId, WalletId};
use crate::ports::{DynClock, DynIdGenerator, DynUnitOfWork, StoreError, SuspenseResolution};
use crate::transaction::{NewTransaction, Transaction, TransactionKind, TransactionStatus};
use crate::vault::VaultStatus;
use crate::work::{SuspenseState, UnattributedDeposit};

/// How an operator settles a withdrawal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// The funds left: the hold is settled (removed from the wallet).
    Completed,
    /// Nothing left: the hold is released to `available`.
    Failed,
}

impl Resolution {
    fn status(self) -> TransactionStatus {
        match self {
            Resolution::Completed => TransactionStatus::Completed,
            Resolution::Failed => TransactionStatus::Failed,
        }
    }
}

/// Operator actions over one environment's transactions.
#[derive(Clone)]
pub struct OperatorService {
    uow: DynUnitOfWork,
    clock: DynClock,
    ids: DynIdGenerator,
    renderer: crate::event::DynSnapshotRenderer,
}

impl OperatorService {
    /// Wires the service.
    pub fn new(
        uow: DynUnitOfWork,
        clock: DynClock,
        ids: DynIdGenerator,
        renderer: crate::event::DynSnapshotRenderer,
    ) -> OperatorService {
        OperatorService {
            uow,
            clock,
            ids,
            renderer,
        }
    }

    /// Resolves an open withdrawal that was handed to the provider: `Completed` settles its
    /// hold, `Failed` releases it, through the ledger, with the operator and evidence
    /// recorded in its history. Tenant-blind (an operator command).
    ///
    /// # Errors
    /// `InvalidField` for an empty operator or evidence; `NotFound`;
    /// `Conflict(transaction_not_resolvable)` for a deposit or transfer, a final withdrawal,
    /// or one still `Submitted` (never handed over: nothing to resolve); store errors.
    pub async fn resolve_withdrawal(
        &self,
        id: TransactionId,
        outcome: Resolution,
        operator: &str,
        evidence: &str,
    ) -> Result<Transaction, Error> {
        let (operator, evidence) = (operator.trim(), evidence.trim());
        for (field, value) in [("operator", operator), ("evidence", evidence)] {
            if value.is_empty() {
                return Err(Error::InvalidField {
                    field,
                    code: "missing_field",
                    message: format!("--{field} is required: who resolves, and on what evidence"),
                });
            }
        }
        let now = self.clock.now();
        let mut tx = self.uow.begin().await?;
        let mut transaction = tx
            .lock_transaction(None, id)
            .await
            .map_err(Error::from_store(ResourceKind::Transaction))?;
        let refuse = |message: String| Error::Conflict {
            code: "transaction_not_resolvable",
            message,
        };
        if transaction.kind != TransactionKind::Withdrawal {
            return Err(refuse(format!(
                "{id} is a {}, not a withdrawal",
                transaction.kind.as_str()
            )));
        }
        if transaction.status.is_terminal() {
            return Err(refuse(format!("{id} is already {}", transaction.status)));
        }
        if transaction.status == TransactionStatus::Submitted {
            return Err(refuse(format!(
                "{id} was never handed to the provider; it is sent or cancelled, not resolved"
            )));
        }
        let wallet_id = transaction
            .source_wallet_id
            .ok_or_else(|| Error::Internal(format!("withdrawal {id} has no source wallet")))?;
        let wallet = tx.lock_wallet_by_id(wallet_id).await?;
        let mut wallets = BTreeMap::from([(wallet.id, wallet)]);
        if outcome == Resolution::Failed {
            transaction.failure_reason = Some(format!(
                "resolved as failed by operator {operator}: {evidence}"
            ));
        }
        let audit = serde_json::json!({
            "operator": operator,
            "evidence": evidence,
            "as": outcome.status(),
            "at": now.format(&time::format_description::well_known::Rfc3339)
                .map_err(|e| Error::Internal(e.to_string()))?,
            "reconciliationReason": transaction.reconciliation_reason,
        });
        advance_annotated(
            tx.as_mut(),
            super::booking::Emitter {
                ids: self.ids.as_ref(),
                renderer: self.renderer.as_ref(),
            },
            &mut transaction,
            outcome.status(),
            &mut wallets,
            now,
            Some(("resolution", audit)),
        )
        .await?;
        tx.commit().await?;
        Ok(transaction)
    }
}

/// What `custody admin deposits assign` did: the suspense record (now `assigned`) and the
/// deposit transaction that credited the wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Assignment {
    /// The record, resolved.
    pub deposit: UnattributedDeposit,
    /// The deposit that credited the wallet (`completed`).
    pub transaction: Transaction,
}

impl OperatorService {
    /// Assigns an open suspense record to `wallet`: creates the deposit transaction under the
    /// provider's reference (so the exactly-once rule of deposits holds: a provider reference
    /// is credited once, whatever path reports it) and completes it, crediting the wallet
    /// through the ledger, with the deposit's events; the last status event carries the audit
    /// in `previous_attributes.resolution = {operator, evidence, as: "assigned", at,
    /// suspense}`. The record becomes `assigned` with a link to the transaction, in the same
    /// database transaction. Assigning again to the same wallet returns the first assignment
    /// and credits nothing.
    ///
    /// Only a deposit the provider last reported `completed` can be assigned (settled funds
    /// only); the asset must be the wallet's, and the wallet's vault must not be archived.
    ///
    /// # Errors
    /// `InvalidField` for an empty operator or evidence; `Refused(unattributed_deposit_not_found)`;
    /// `NotFound(Wallet)`; `Conflict(deposit_not_assignable)` for a record already resolved
    /// otherwise, not settled, of another asset, to an archived vault, or whose reference
    /// already has a deposit; store errors.
    pub async fn assign_deposit(
        &self,
        provider_ref: &str,
        wallet_id: WalletId,
        operator: &str,
        evidence: &str,
    ) -> Result<Assignment, Error> {
        let (operator, evidence) = audit_fields(operator, evidence)?;
        let now = self.clock.now();
        let mut tx = self.uow.begin().await?;
        let record = lock_record(tx.as_mut(), provider_ref).await?;
        let refuse = |message: String| Error::Conflict {
            code: "deposit_not_assignable",
            message,
        };
        match record.state {
            SuspenseState::Open => {}
            SuspenseState::Assigned => {
                let transaction_id = record.transaction_id.ok_or_else(|| {
                    Error::Internal(format!("{provider_ref} is assigned without a transaction"))
                })?;
                let transaction = tx
                    .lock_transaction(None, transaction_id)
                    .await
                    .map_err(Error::from_store(ResourceKind::Transaction))?;
                if transaction.destination_wallet_id == Some(wallet_id) {
                    return Ok(Assignment {
                        deposit: record,
                        transaction,
                    });
                }
                return Err(refuse(format!(
                    "{provider_ref} is already assigned (deposit {transaction_id})"
                )));
            }
            SuspenseState::Returned => {
                return Err(refuse(format!("{provider_ref} was returned")));
            }
        }
        if record.status != TransactionStatus::Completed {
            return Err(refuse(format!(
                "the provider last reported {provider_ref} as {}; only a completed deposit can be \
                 assigned (wait for it, or return it)",
                record.status
            )));
        }
        match tx.lock_deposit_by_provider_ref(provider_ref).await {
            Ok(existing) => {
                return Err(refuse(format!(
                    "{provider_ref} is already recorded as deposit {}; return (close) this \
                     record instead",
                    existing.id
                )))
            }
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        let wallet = tx
            .lock_wallet_by_id(wallet_id)
            .await
            .map_err(Error::from_store(ResourceKind::Wallet))?;
        if wallet.asset != record.asset {
            return Err(refuse(format!(
                "{provider_ref} is {}, but wallet {wallet_id} holds {}",
                record.asset, wallet.asset
            )));
        }
        let vault = tx
            .share_vault(wallet.tenant_id, wallet.vault_id)
            .await
            .map_err(Error::from_store(ResourceKind::Vault))?;
        if vault.status == VaultStatus::Archived {
            return Err(refuse(format!(
                "wallet {wallet_id}'s vault is archived: the funds could never leave it"
            )));
        }
        let audit = serde_json::json!({
            "operator": operator,
            "evidence": evidence,
            "as": SuspenseState::Assigned.as_str(),
            "at": rfc3339(now)?,
            "suspense": {
                "providerRef": record.provider_ref,
                "reason": record.reason,
                "wallet": wallet_id.to_string(),
            },
        });
        let mut transaction = Transaction::new(
            NewTransaction {
                id: TransactionId::from_ulid(self.ids.ulid()),
                tenant_id: wallet.tenant_id,
                kind: TransactionKind::Deposit,
                asset: record.asset,
                amount: record.amount,
                source_wallet_id: None,
                destination_wallet_id: Some(wallet_id),
                reference: None,
            },
            now,
        );
        transaction.destination_address = Some(record.address.clone());
        transaction.provider_ref = Some(record.provider_ref.clone());
        transaction.tx_hash = record.tx_hash.clone();
        transaction.confirmations = record.confirmations;
        let mut wallets = BTreeMap::from([(wallet.id, wallet)]);
        let events = super::booking::Emitter {
            ids: self.ids.as_ref(),
            renderer: self.renderer.as_ref(),
        };
        record_new(tx.as_mut(), events, &transaction, &mut wallets, now).await?;
        advance_annotated(
            tx.as_mut(),
            events,
            &mut transaction,
            TransactionStatus::Completed,
            &mut wallets,
            now,
            Some(("resolution", audit.clone())),
        )
        .await?;
        let resolution = SuspenseResolution {
            state: SuspenseState::Assigned,
            transaction_id: Some(transaction.id),
            audit,
            at: now,
        };
        tx.resolve_unattributed_deposit(provider_ref, &resolution)
            .await?;
        tx.commit().await?;
        Ok(Assignment {
            deposit: resolved(record, resolution),
            transaction,
        })
    }

    /// Marks an open suspense record `returned`: the operator sent the funds back out of band
    /// (at the provider). No ledger movement: the funds were never credited. The audit
    /// (`operator`, `evidence`, `as: "returned"`, `at`, and the return's `txHash` when given)
    /// is kept in the record's `resolution`. Returning again changes nothing.
    ///
    /// # Errors
    /// `InvalidField` for an empty operator or evidence; `Refused(unattributed_deposit_not_found)`;
    /// `Conflict(deposit_not_returnable)` when it was assigned; store errors.
    pub async fn return_deposit(
        &self,
        provider_ref: &str,
        operator: &str,
        evidence: &str,
        return_tx_hash: Option<&str>,
    ) -> Result<UnattributedDeposit, Error> {
        let (operator, evidence) = audit_fields(operator, evidence)?;
        let now = self.clock.now();
        let mut tx = self.uow.begin().await?;
        let record = lock_record(tx.as_mut(), provider_ref).await?;
        match record.state {
            SuspenseState::Open => {}
            SuspenseState::Returned => return Ok(record),
            SuspenseState::Assigned => {
                return Err(Error::Conflict {
                    code: "deposit_not_returnable",
                    message: format!(
                        "{provider_ref} was assigned (credited); it can no longer be returned"
                    ),
                })
            }
        }
        let resolution = SuspenseResolution {
            state: SuspenseState::Returned,
            transaction_id: None,
            audit: serde_json::json!({
                "operator": operator,
                "evidence": evidence,
                "as": SuspenseState::Returned.as_str(),
                "at": rfc3339(now)?,
                "txHash": return_tx_hash.map(str::trim).filter(|h| !h.is_empty()),
            }),
            at: now,
        };
        tx.resolve_unattributed_deposit(provider_ref, &resolution)
            .await?;
        tx.commit().await?;
        Ok(resolved(record, resolution))
    }
}

/// The operator and evidence, trimmed; both required.
fn audit_fields<'a>(operator: &'a str, evidence: &'a str) -> Result<(&'a str, &'a str), Error> {
    let (operator, evidence) = (operator.trim(), evidence.trim());
    for (field, value) in [("operator", operator), ("evidence", evidence)] {
        if value.is_empty() {
            return Err(Error::InvalidField {
                field,
                code: "missing_field",
                message: format!("--{field} is required: who acts, and on what evidence"),
            });
        }
    }
    Ok((operator, evidence))
}

async fn lock_record(
    tx: &mut dyn crate::ports::StoreTx,
    provider_ref: &str,
) -> Result<UnattributedDeposit, Error> {
    match tx.lock_unattributed_deposit(provider_ref).await {
        Ok(record) => Ok(record),
        Err(StoreError::NotFound) => Err(Error::Refused {
            code: "unattributed_deposit_not_found",
            message: format!("no suspense record has the provider reference {provider_ref}"),
        }),
        Err(e) => Err(e.into()),
    }
}

fn resolved(
    mut record: UnattributedDeposit,
    resolution: SuspenseResolution,
) -> UnattributedDeposit {
    record.state = resolution.state;
    record.transaction_id = resolution.transaction_id;
    record.resolution = resolution.audit;
    record
}

fn rfc3339(at: time::OffsetDateTime) -> Result<String, Error> {
    at.format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| Error::Internal(e.to_string()))
}

#[cfg(test)]
mod tests;
