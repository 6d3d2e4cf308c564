//! Transactions: deposits, internal transfers and withdrawals, and their status machine.
//!
//! ```text
//! Submitted → PendingSignature → Broadcasting → Confirming → Completed
//!     └──────────────┴───────────────┴──────────────┴──→ Failed      (any non-terminal)
//!     └──────────────┴──→ Cancelled                                   (only before Broadcasting)
//! ```
//! Withdrawals enter at `Submitted`, deposits at `Confirming` (with confirmations n/N), and
//! internal transfers are created `Completed` because they never leave the ledger. Every
//! change goes through [`TransactionStatus::transition`], is recorded in the history with its
//! time, bumps the version and (in the services) emits an event.
//!
//! [`Transaction::ledger_effect`] is the single place that says which money movement a status
//! change causes, so the state machine and the ledger cannot drift apart.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::amount::Amount;
use crate::asset::AssetId;
use crate::chain_address::ChainAddress;
use crate::id::{AddressBookEntryId, AddressId, TenantId, TransactionId, WalletId};
use crate::ledger::Movement;
use crate::state::{check, TransitionError};
use crate::text::Label;

/// What kind of movement a transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransactionKind {
    /// Funds arriving on-chain at a deposit address.
    Deposit,
    /// Funds moving between two wallets of the same tenant, off-chain.
    Transfer,
    /// Funds leaving to an address-book entry, on-chain.
    Withdrawal,
}

impl TransactionKind {
    /// The lowercase name.
    pub const fn as_str(self) -> &'static str {
        match self {
            TransactionKind::Deposit => "deposit",
            TransactionKind::Transfer => "transfer",
            TransactionKind::Withdrawal => "withdrawal",
        }
    }

    /// The status a new transaction of this kind starts in.
    pub const fn initial_status(self) -> TransactionStatus {
        match self {
            TransactionKind::Deposit => TransactionStatus::Confirming,
            TransactionKind::Transfer => TransactionStatus::Completed,
            TransactionKind::Withdrawal => TransactionStatus::Submitted,
        }
    }
}

/// A transaction's status, spelled as the Platform dialect spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TransactionStatus {
    /// Accepted and recorded; funds held.
    Submitted,
    /// Waiting for the custodian's signature (or policy approval).
    PendingSignature,
    /// Signed and being broadcast.
    Broadcasting,
    /// On-chain, waiting for confirmations.
    Confirming,
    /// Final.
    Completed,
    /// Will not complete; held funds returned.
    Failed,
    /// Cancelled before broadcast; held funds returned.
    Cancelled,
}

impl TransactionStatus {
    /// Every status in lifecycle order.
    pub const ALL: [TransactionStatus; 7] = [
        TransactionStatus::Submitted,
        TransactionStatus::PendingSignature,
        TransactionStatus::Broadcasting,
        TransactionStatus::Confirming,
        TransactionStatus::Completed,
        TransactionStatus::Failed,
        TransactionStatus::Cancelled,
    ];

    /// The wire name (`PendingSignature`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            TransactionStatus::Submitted => "Submitted",
            TransactionStatus::PendingSignature => "PendingSignature",
            TransactionStatus::Broadcasting => "Broadcasting",
            TransactionStatus::Confirming => "Confirming",
            TransactionStatus::Completed => "Completed",
            TransactionStatus::Failed => "Failed",
            TransactionStatus::Cancelled => "Cancelled",
        }
    }

    /// Parses the wire name case-insensitively (for list filters).
    pub fn parse(input: &str) -> Option<TransactionStatus> {
        TransactionStatus::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(input))
    }

    /// Completed, Failed and Cancelled are final.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            TransactionStatus::Completed | TransactionStatus::Failed | TransactionStatus::Cancelled
        )
    }

    /// The transaction state machine: one step forward along the main line, `Failed` from any
    /// non-terminal status, `Cancelled` only before `Broadcasting`.
    ///
    /// # Errors
    /// [`TransitionError`] for every other edge, including skipping a step and any move out of
    /// a terminal status.
    pub fn transition(
        self,
        to: TransactionStatus,
    ) -> Result<(), TransitionError<TransactionStatus>> {
        use TransactionStatus::*;
        let allowed = match (self, to) {
            (Submitted, PendingSignature)
            | (PendingSignature, Broadcasting)
            | (Broadcasting, Confirming)
            | (Confirming, Completed) => true,
            (from, Failed) => !from.is_terminal(),
            (Submitted | PendingSignature, Cancelled) => true,
            _ => false,
        };
        check("transaction", self, to, allowed)
    }

    /// Whether a provider report of `reported` is older news than `self`: a main-line status
    /// before the current one, or any non-terminal status once the transaction is final.
    /// Providers deliver out of order; such reports are ignored rather than refused.
    pub fn is_stale_report(self, reported: TransactionStatus) -> bool {
        !reported.is_terminal() && (reported < self || self.is_terminal())
    }

    /// The legal steps from `self` to a later main-line status, for providers that report
    /// progress in jumps (e.g. straight from `Submitted` to `Confirming`). Each step is still
    /// checked and recorded.
    ///
    /// # Errors
    /// [`TransitionError`] from `self` to `to` when `to` is not reachable by forward steps or a
    /// single Failed/Cancelled edge.
    pub fn path_to(
        self,
        to: TransactionStatus,
    ) -> Result<Vec<TransactionStatus>, TransitionError<TransactionStatus>> {
        if self.transition(to).is_ok() {
            return Ok(vec![to]);
        }
        const MAIN_LINE: [TransactionStatus; 5] = [
            TransactionStatus::Submitted,
            TransactionStatus::PendingSignature,
            TransactionStatus::Broadcasting,
            TransactionStatus::Confirming,
            TransactionStatus::Completed,
        ];
        let position = |s| MAIN_LINE.iter().position(|m| *m == s);
        match (position(self), position(to)) {
            (Some(from), Some(target)) if target > from => {
                Ok(MAIN_LINE[from + 1..=target].to_vec())
            }
            _ => Err(TransitionError {
                machine: "transaction",
                from: self,
                to,
            }),
        }
    }
}

impl fmt::Display for TransactionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Confirmations seen out of those required for finality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmations {
    /// Seen so far.
    pub seen: u32,
    /// Required before the deposit is credited.
    pub required: u32,
}

/// One recorded status change.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StatusChange {
    pub status: TransactionStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A transaction.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    /// `tx_…`; also the idempotency reference handed to providers for withdrawals.
    pub id: TransactionId,
    pub tenant_id: TenantId,
    pub kind: TransactionKind,
    pub status: TransactionStatus,
    pub asset: AssetId,
    pub amount: Amount,
    /// Debited wallet (transfers, withdrawals).
    pub source_wallet_id: Option<WalletId>,
    /// Credited wallet (transfers, deposits).
    pub destination_wallet_id: Option<WalletId>,
    /// The deposit address that received a deposit.
    pub deposit_address_id: Option<AddressId>,
    /// The address-book entry a withdrawal targets.
    pub address_book_entry_id: Option<AddressBookEntryId>,
    /// The on-chain destination of a withdrawal, or the receiving address of a deposit.
    pub destination_address: Option<ChainAddress>,
    /// The provider's reference (its transfer id), once known. Unique per provider: this is
    /// what makes deposit crediting exactly-once.
    pub provider_ref: Option<String>,
    /// On-chain hash, once known.
    pub tx_hash: Option<String>,
    /// Deposit confirmations.
    pub confirmations: Option<Confirmations>,
    /// Partner note.
    pub reference: Option<Label>,
    /// Why it failed, when it did.
    pub failure_reason: Option<String>,
    /// Every status entered, in order, starting with the initial one.
    pub history: Vec<StatusChange>,
    /// Set when a withdrawal's outcome is unknown (the provider refused a *re*send, or a
    /// re-check failed on one): its funds stay held and operators reconcile it. Operator
    /// bookkeeping, not partner-visible state: not in snapshots, written without a version
    /// bump ([`TransactionTx::flag_for_reconciliation`](crate::ports::TransactionTx::flag_for_reconciliation)).
    #[serde(skip)]
    pub reconciliation_reason: Option<String>,
    /// Increases on every change.
    pub version: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// The fields a new transaction is created from; the rest starts empty.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTransaction {
    /// The id from the generator.
    pub id: TransactionId,
    pub tenant_id: TenantId,
    /// The kind decides the initial status.
    pub kind: TransactionKind,
    pub asset: AssetId,
    pub amount: Amount,
    pub source_wallet_id: Option<WalletId>,
    pub destination_wallet_id: Option<WalletId>,
    /// Partner note.
    pub reference: Option<Label>,
}

impl Transaction {
    /// Creates a transaction in its kind's initial status, with that status in its history.
    pub fn new(fields: NewTransaction, now: OffsetDateTime) -> Transaction {
        let status = fields.kind.initial_status();
        Transaction {
            id: fields.id,
            tenant_id: fields.tenant_id,
            kind: fields.kind,
            status,
            asset: fields.asset,
            amount: fields.amount,
            source_wallet_id: fields.source_wallet_id,
            destination_wallet_id: fields.destination_wallet_id,
            deposit_address_id: None,
            address_book_entry_id: None,
            destination_address: None,
            provider_ref: None,
            tx_hash: None,
            confirmations: None,
            reference: fields.reference,
            failure_reason: None,
            history: vec![StatusChange { status, at: now }],
            reconciliation_reason: None,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    /// Moves to `to` through the state machine, recording it.
    ///
    /// # Errors
    /// [`TransitionError`]; the transaction is unchanged.
    pub fn advance(
        &mut self,
        to: TransactionStatus,
        now: OffsetDateTime,
    ) -> Result<(), TransitionError<TransactionStatus>> {
        self.status.transition(to)?;
        self.status = to;
        self.history.push(StatusChange {
            status: to,
            at: now,
        });
        self.version += 1;
        self.updated_at = now;
        Ok(())
    }

    /// The money movement caused by entering `status` (the creation of the transaction counts
    /// as entering its initial status). `None` when the status changes no balance.
    pub fn ledger_effect(&self, status: TransactionStatus) -> Option<Movement> {
        use TransactionKind as K;
        use TransactionStatus as S;
        let amount = self.amount;
        let asset = self.asset;
        match (self.kind, status) {
            (K::Deposit, S::Confirming) => {
                self.destination_wallet_id
                    .map(|wallet| Movement::DepositDetected {
                        wallet,
                        asset,
                        amount,
                    })
            }
            (K::Deposit, S::Completed) => self
                .destination_wallet_id
                .map(|wallet| Movement::DepositCompleted { wallet, amount }),
            (K::Deposit, S::Failed) => {
                self.destination_wallet_id
                    .map(|wallet| Movement::DepositFailed {
                        wallet,
                        asset,
                        amount,
                    })
            }
            (K::Withdrawal, S::Submitted) => self
                .source_wallet_id
                .map(|wallet| Movement::WithdrawalSubmitted { wallet, amount }),
            (K::Withdrawal, S::Completed) => {
                self.source_wallet_id
                    .map(|wallet| Movement::WithdrawalCompleted {
                        wallet,
                        asset,
                        amount,
                    })
            }
            (K::Withdrawal, S::Failed | S::Cancelled) => self
                .source_wallet_id
                .map(|wallet| Movement::WithdrawalReleased { wallet, amount }),
            (K::Transfer, S::Completed) => {
                match (self.source_wallet_id, self.destination_wallet_id) {
                    (Some(from), Some(to)) => Some(Movement::Transfer { from, to, amount }),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
