//! Operator resolutions (`custody admin withdrawals resolve`): settling by hand a withdrawal
//! whose outcome the provider cannot tell us (flagged, or stuck), once an operator has
//! established it out of band (BitGo's console, a block explorer).
//!
//! Audited in the transaction's own history: the resolution's last status event carries
//! `previous_attributes.resolution = {operator, evidence, as, at}`, committed in the same
//! database transaction as the status change and its ledger effect.

use std::collections::BTreeMap;

use super::booking::advance_annotated;
use crate::error::{Error, ResourceKind};
use crate::id::TransactionId;
use crate::ports::{DynClock, DynIdGenerator, DynUnitOfWork};
use crate::transaction::{Transaction, TransactionKind, TransactionStatus};

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

#[cfg(test)]
mod tests;
