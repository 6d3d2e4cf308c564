//! The transaction worker's bookkeeping and what operators reconcile.
//!
//! Open transactions (withdrawals until final; deposits while `Confirming`, for providers that
//! are polled) carry scheduling columns beside their domain state: when they are next due
//! (`next_poll_at`), who holds them (`lease_owner` until `lease_until`) and how many attempts
//! in a row failed (`poll_attempts`, which drives the backoff). Writing them never changes a
//! transaction's `version`: they are not state a partner sees.
//!
//! A worker **claims** due, unleased transactions with a lease
//! ([`TransactionTx::claim_due`](crate::ports::TransactionTx::claim_due)), works on each
//! outside any database transaction, then **releases** it with its next due time
//! ([`TransactionTx::release_lease`](crate::ports::TransactionTx::release_lease)). A worker
//! that dies holding a lease only delays its transactions until the lease runs out.

use time::OffsetDateTime;

use crate::amount::Amount;
use crate::asset::AssetId;
use crate::chain_address::ChainAddress;
use crate::id::{AddressId, TenantId, TransactionId, VaultId};
use crate::transaction::{Confirmations, Transaction, TransactionKind, TransactionStatus};

/// What a worker asks for when it claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkClaim {
    /// Which kinds this worker handles (withdrawals; deposits when it can refresh them).
    pub kinds: Vec<TransactionKind>,
    /// The claim's time: due means `next_poll_at` (or `created_at`) at or before it, unleased
    /// means no lease or one that ended at or before it.
    pub now: OffsetDateTime,
    /// The lease's end.
    pub lease_until: OffsetDateTime,
    /// Who holds the lease (an instance id).
    pub owner: String,
    /// At most this many.
    pub limit: u32,
}

/// A claimed transaction, leased to the claimer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTransaction {
    /// Its id.
    pub id: TransactionId,
    /// Its kind.
    pub kind: TransactionKind,
    /// Its status when claimed.
    pub status: TransactionStatus,
    /// Whether the provider has answered (a withdrawal with a reference was handed over).
    pub provider_ref: Option<String>,
    /// Whether it awaits reconciliation (never resent).
    pub needs_reconciliation: bool,
    /// Failed attempts in a row before this claim.
    pub poll_attempts: u32,
}

/// A transaction's worker bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkState {
    /// When it is next due (`None`: since it was created).
    pub next_poll_at: Option<OffsetDateTime>,
    /// Its current or last lease's end.
    pub lease_until: Option<OffsetDateTime>,
    /// Its current or last lease's holder.
    pub lease_owner: Option<String>,
    /// Failed attempts in a row.
    pub poll_attempts: u32,
    /// When it was flagged for reconciliation.
    pub reconciliation_at: Option<OffsetDateTime>,
}

/// A withdrawal an operator should look at: flagged for reconciliation, or open without any
/// status change for longer than a threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StuckWithdrawal {
    /// The withdrawal (its `reconciliation_reason` says why it was flagged).
    pub transaction: Transaction,
    /// The worker's bookkeeping.
    pub work: WorkState,
}

/// A deposit the provider reported that no wallet may be credited with. Recorded, never
/// credited, never lost (`unattributed_deposits`).
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnattributedDeposit {
    /// The provider's transfer id (one record per reference and environment).
    pub provider_ref: String,
    /// The tenant owning the receiving address, when one does.
    pub tenant_id: Option<TenantId>,
    /// The receiving address's vault, when known.
    pub vault_id: Option<VaultId>,
    /// The receiving deposit address, when known.
    pub deposit_address_id: Option<AddressId>,
    pub asset: AssetId,
    pub amount: Amount,
    /// The receiving address.
    pub address: ChainAddress,
    pub tx_hash: Option<String>,
    /// What the provider reported last.
    pub status: TransactionStatus,
    pub confirmations: Option<Confirmations>,
    /// Why it was not credited: `vault_archived`, `unknown_address`, `asset_mismatch`,
    /// `several_outputs` or `report_disagrees`.
    pub reason: String,
    pub first_seen_at: OffsetDateTime,
    /// The latest report.
    pub last_seen_at: OffsetDateTime,
    /// Everything the provider said in its latest report (which provider, the verified
    /// fields, and for a transfer paying several of our addresses every output), as JSON;
    /// `Null` for records written before it was kept.
    pub report: serde_json::Value,
    /// Open until an operator assigns or returns it.
    pub state: SuspenseState,
    /// The deposit transaction an assignment created.
    pub transaction_id: Option<TransactionId>,
    /// The operator's audit (`operator`, `evidence`, `at`, and `txHash` of a return), once
    /// resolved; `Null` while open.
    pub resolution: serde_json::Value,
}

/// Where a suspense record stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SuspenseState {
    /// Waiting for an operator.
    #[default]
    Open,
    /// Credited to a wallet by an operator (`custody admin deposits assign`).
    Assigned,
    /// Sent back out of band by an operator (`custody admin deposits return`); never credited.
    Returned,
}

impl SuspenseState {
    /// The wire and storage name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            SuspenseState::Open => "open",
            SuspenseState::Assigned => "assigned",
            SuspenseState::Returned => "returned",
        }
    }

    /// Reads a stored name.
    #[must_use]
    pub fn parse(raw: &str) -> Option<SuspenseState> {
        match raw {
            "open" => Some(SuspenseState::Open),
            "assigned" => Some(SuspenseState::Assigned),
            "returned" => Some(SuspenseState::Returned),
            _ => None,
        }
    }
}

/// The open withdrawals of one status (the queue-depth metrics of `custody serve`,
/// [`TransactionStore::withdrawal_queue`](crate::ports::TransactionStore::withdrawal_queue)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawalQueue {
    /// An open status: `Submitted` (awaiting hand-over to the provider) or a handed-over one
    /// (`PendingSignature`, `Broadcasting`, `Confirming`).
    pub status: TransactionStatus,
    /// How many withdrawals are in it.
    pub count: u64,
    /// How many of them are flagged for an operator (reconciliation).
    pub flagged: u64,
    /// The oldest last status change among them (`updated_at`): how long the longest waiter
    /// has waited in this status.
    pub oldest_change: OffsetDateTime,
}
