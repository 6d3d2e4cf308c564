use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;
use ulid::Ulid;

use crate::amount::Amount;
use crate::asset::AssetId;
use crate::chain_address::ChainAddress;
use crate::id::{AddressId, TenantId, TransactionId, VaultId, WalletId};
use crate::transaction::{Confirmations, TransactionStatus};

/// What a provider needs to mint an address.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintRequest {
    /// Our id for the new address (BitGo puts it in the label, so the two can be matched).
    pub address_id: AddressId,
    pub tenant_id: TenantId,
    pub vault_id: VaultId,
    pub wallet_id: WalletId,
    /// The asset (decides coin and network).
    pub asset: AssetId,
    /// 0 for the primary address, then 1, 2, …: deterministic providers derive from it.
    pub index: u32,
}

/// A freshly minted address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintedAddress {
    /// The on-chain address, validated for the asset's network.
    pub address: ChainAddress,
    /// The provider's own id for it, when it has one.
    pub provider_ref: Option<String>,
    /// Which provider minted it (stored with the address; a router passes its adapter's
    /// name through).
    pub provider: &'static str,
}

/// A withdrawal handed to the provider.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawalRequest {
    /// Our transaction id: the provider-side idempotency reference (BitGo `sequenceId`), so a
    /// retry after a crash never sends twice.
    pub transaction_id: TransactionId,
    /// The sending wallet.
    pub wallet_id: WalletId,
    pub asset: AssetId,
    pub amount: Amount,
    /// The allow-listed destination.
    pub destination: ChainAddress,
    /// When the withdrawal was recorded (the transaction's `created_at`). The sandbox plays
    /// the chain from it, statelessly; live providers ignore it.
    pub recorded_at: OffsetDateTime,
    /// The provider's reference from its last answer, if any (at BitGo's custody flow the
    /// pending approval's id until a transfer exists): a status read that cannot find the
    /// withdrawal by our id asks by this one, so a rejected approval is seen.
    pub provider_ref: Option<String>,
}

/// The provider's view of a withdrawal, mapped to our statuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderTransfer {
    /// The provider's transfer id.
    pub provider_ref: String,
    /// Its state in our vocabulary.
    pub status: TransactionStatus,
    /// On-chain hash, once known.
    pub tx_hash: Option<String>,
    /// Why it failed, when it did.
    pub failure_reason: Option<String>,
    /// Confirmations so far while `Confirming` (and at completion), when the provider says.
    pub confirmations: Option<Confirmations>,
    /// For a `Failed` or `Cancelled` report: the provider cannot say that no funds left (a
    /// broadcast transaction dropped by a re-organisation may still be mined). The core then
    /// keeps the funds held and flags the withdrawal for an operator instead of releasing.
    pub outcome_ambiguous: bool,
}

/// An inbound deposit notification, as received (not yet trusted): the adapter parses the
/// payload itself, checks the signature when its provider signs, and reads the transfer back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositNotice {
    /// The provider that sent it (`bitgo`, `rhino`): a router dispatches on it.
    pub provider: String,
    /// The raw request body, byte for byte.
    pub payload: Vec<u8>,
    /// The signature header as received (`X-Signature-SHA256` at BitGo, `X-Rhino-Signature`
    /// at Rhino), if any.
    pub signature: Option<String>,
}

/// A deposit as confirmed by reading it back from the provider.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedDeposit {
    /// The provider's transfer id (unique: deposits are credited once per reference).
    pub provider_ref: String,
    pub asset: AssetId,
    pub amount: Amount,
    /// The receiving address, which names the wallet.
    pub address: ChainAddress,
    pub tx_hash: Option<String>,
    /// `Confirming`, `Completed` or `Failed`.
    pub status: TransactionStatus,
    /// Confirmations so far.
    pub confirmations: Option<Confirmations>,
}

/// What an authentic provider notification turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// A deposit, read back from the provider.
    Deposit(VerifiedDeposit),
    /// News about one of our withdrawals (BitGo: a `send` carrying our transaction id as its
    /// `sequenceId`). Nothing in it is applied as such: the withdrawal is polled (read back by
    /// our id), the same path as the worker's.
    Withdrawal(TransactionId),
    /// An authentic deposit that no single wallet may be credited with as reported (BitGo: one
    /// transfer paying several of our addresses). Recorded in the suspense list with the
    /// reason and everything the provider said, never credited (boxed: it is large).
    Unattributable(Box<UnattributableReport>),
    /// Authentic (or harmless) but nothing to do: a webhook test, a deposit address created,
    /// a transfer of a coin we do not track. Acknowledged so the provider does not retry or
    /// suspend the webhook; the reason is logged.
    Acknowledged(String),
}

/// An authentic deposit report that goes to suspense as it stands
/// ([`Notification::Unattributable`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnattributableReport {
    /// The deposit as one record: the provider's reference, the total paid to our addresses,
    /// the first of them.
    pub deposit: VerifiedDeposit,
    /// The suspense reason code (`several_outputs`).
    pub reason: &'static str,
    /// What else the provider said (every output, for several outputs), kept in the record.
    pub detail: serde_json::Value,
}

/// How fast a simulated deposit settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Settlement {
    /// Confirms block by block on the simulated chain's schedule.
    #[default]
    Realistic,
    /// Already final when it is first reported.
    Instant,
}

/// A deposit the sandbox is asked to simulate (refused by every live provider).
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedDepositRequest {
    /// A fresh id (its random part makes the provider reference unique).
    pub nonce: Ulid,
    pub asset: AssetId,
    pub amount: Amount,
    /// The receiving deposit address (one of ours).
    pub address: ChainAddress,
    pub settlement: Settlement,
}

/// What a provider reports holding of one asset, across the wallets we hold with it: what
/// `custody admin reconcile` compares with the sum of our wallets' ledger balances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustodyBalance {
    /// The asset.
    pub asset: AssetId,
    /// The provider's balance, in the asset's base units.
    pub balance: Amount,
    /// Where the figure comes from, for the operator (e.g. `BitGo hteth wallet 59…, token
    /// hteth:tusdt, balanceString`).
    pub source: String,
}

/// Why a provider call failed. Mapped to `provider_error` for partners; nothing is changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// Timeout, connection failure or 5xx: retry later (503).
    #[error("custody provider unavailable: {0}")]
    Unavailable(String),
    /// The provider's rate limit (503, retryable).
    #[error("custody provider rate limited")]
    RateLimited {
        /// What the provider asked us to wait, if it said.
        retry_after_secs: Option<u32>,
    },
    /// The provider refused the request itself (502, not retryable as is).
    #[error("custody provider rejected the request: {0}")]
    Rejected(String),
    /// The provider does not know the referenced object.
    #[error("custody provider has no such object")]
    NotFound,
    /// An inbound notification failed verification.
    #[error("notification could not be verified: {0}")]
    Unverified(String),
    /// An authentic notification whose content cannot be used: a deposit of zero, or an
    /// amount that is not a base-unit integer. Refused (422), never applied.
    #[error("the provider's notification is malformed: {0}")]
    Malformed(String),
    /// A send was handed over but its outcome is unknown (a timeout or 5xx after the request
    /// left, a refusal with nothing found under our reference). Never retried and never failed
    /// blindly: the withdrawal keeps its funds held, is flagged for an operator, and waits for a
    /// status read that finds it (or for `custody admin withdrawals resolve`).
    #[error("custody provider outcome unknown: {0}")]
    OutcomeUnknown(String),
    /// This provider cannot do this at all (Rhino cannot read a deposit back by its reference
    /// alone; live providers do not simulate). Not retryable: a worker asking for status
    /// tries again much later, or leaves it to reconciliation.
    #[error("custody provider cannot do this: {0}")]
    Unsupported(String),
}

impl ProviderError {
    /// The stable machine code.
    pub const fn code(&self) -> &'static str {
        match self {
            ProviderError::Unavailable(_) => "provider_unavailable",
            ProviderError::RateLimited { .. } => "provider_rate_limited",
            ProviderError::Rejected(_) => "provider_rejected",
            ProviderError::NotFound => "provider_not_found",
            ProviderError::Unverified(_) => "provider_unverified",
            ProviderError::Unsupported(_) => "provider_unsupported",
            ProviderError::OutcomeUnknown(_) => "provider_outcome_unknown",
            ProviderError::Malformed(_) => "provider_malformed",
        }
    }

    /// Whether the same call may succeed later.
    pub const fn is_retryable(&self) -> bool {
        matches!(
            self,
            ProviderError::Unavailable(_) | ProviderError::RateLimited { .. }
        )
    }
}

/// Real or fake custody. The live graph holds a router over BitGo and Rhino; the sandbox
/// graph holds `custody-sandbox` and nothing else.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait CustodyProvider: Send + Sync {
    /// A short name stored with what it creates (`sandbox`, `bitgo`, `rhino`).
    fn name(&self) -> &'static str;

    /// Whether this deployment of the provider can serve the asset (the network is one it
    /// supports and whatever it needs for it, such as a wallet, is configured). The provider
    /// router asks at start-up, so a route that cannot work is refused before any request.
    ///
    /// # Errors
    /// [`ProviderError::Rejected`] saying why not.
    fn serves(&self, asset: AssetId) -> Result<(), ProviderError>;

    /// Whether withdrawals of `asset` can be handed to this provider at all (Rhino serves
    /// deposit addresses only; BitGo with withdrawals disabled). Asked when a withdrawal is
    /// submitted, so one that could never be sent is refused at once rather than accepted and
    /// failed later. No I/O. The default: yes, whenever the asset is served.
    ///
    /// # Errors
    /// [`ProviderError::Rejected`] saying why not.
    fn can_withdraw(&self, asset: AssetId) -> Result<(), ProviderError> {
        self.serves(asset)
    }

    /// Mints a deposit address. Called while address minting for (vault, asset) is serialised,
    /// so it is called once per address.
    ///
    /// # Errors
    /// [`ProviderError`]; a failure changes nothing on our side.
    async fn mint_address(&self, request: &MintRequest) -> Result<MintedAddress, ProviderError>;

    /// Hands a recorded withdrawal to the provider, idempotently on `transaction_id`: calling
    /// it twice for one transaction must not send twice.
    ///
    /// # Errors
    /// [`ProviderError`].
    async fn submit_withdrawal(
        &self,
        request: &WithdrawalRequest,
    ) -> Result<ProviderTransfer, ProviderError>;

    /// Reads a withdrawal's state. Live providers look it up by our transaction id (the
    /// provider-side idempotency reference) and its asset (which decides the provider and, at
    /// BitGo, the wallet); the sandbox computes it from the whole request (its amount drives
    /// the documented magic values, its `recorded_at` the schedule).
    ///
    /// # Errors
    /// [`ProviderError::NotFound`] if it was never submitted.
    async fn withdrawal_status(
        &self,
        request: &WithdrawalRequest,
    ) -> Result<ProviderTransfer, ProviderError>;

    /// Reads a deposit back by the provider's reference (as recorded from an earlier report)
    /// and its asset: how an open deposit is moved forward without waiting for a notification
    /// ([`DepositService::refresh`](crate::services::DepositService::refresh)).
    ///
    /// # Errors
    /// [`ProviderError::NotFound`] when the provider does not know it;
    /// [`ProviderError::Unsupported`] when the provider cannot read deposits back by
    /// reference (try much later, or reconcile).
    async fn deposit_status(
        &self,
        provider_ref: &str,
        asset: AssetId,
    ) -> Result<VerifiedDeposit, ProviderError>;

    /// Simulates a deposit arriving at one of our addresses and reports it as
    /// [`verify_deposit`](CustodyProvider::verify_deposit) would report a real one. Only the
    /// sandbox does this; every live provider refuses (the default).
    ///
    /// # Errors
    /// [`ProviderError::Unsupported`] from live providers.
    async fn simulate_deposit(
        &self,
        request: &SimulatedDepositRequest,
    ) -> Result<VerifiedDeposit, ProviderError> {
        let _ = request;
        Err(ProviderError::Unsupported(format!(
            "{} does not simulate deposits: only the sandbox does",
            self.name()
        )))
    }

    /// The deposits the provider reports for `assets` since `since`, read as
    /// [`verify_notification`](CustodyProvider::verify_notification) reads one (BitGo: the
    /// wallet's transfer list): how missed notifications are caught up. One item per reported
    /// deposit, a [`Notification::Deposit`] or, for one no single wallet may be credited with
    /// (several of our addresses paid), a [`Notification::Unattributable`]; an item that
    /// cannot be used (malformed, not ours) is an error naming its reference. The default:
    /// [`ProviderError::Unsupported`].
    ///
    /// # Errors
    /// Transport errors of the listing itself; `Unsupported` when the provider cannot list.
    async fn recent_deposits(
        &self,
        assets: &[AssetId],
        since: OffsetDateTime,
    ) -> Result<Vec<Result<Notification, ProviderError>>, ProviderError> {
        let _ = (assets, since);
        Err(ProviderError::Unsupported(format!(
            "{} cannot list deposits for reconciliation",
            self.name()
        )))
    }

    /// What the provider reports holding of `asset` in the wallets we hold there (BitGo: the
    /// configured wallet's balance of the asset's coin). The default:
    /// [`ProviderError::Unsupported`] (Rhino reports no custody balance; the sandbox's chain
    /// keeps no state), which reconciliation reports as "not checkable", never as drift.
    ///
    /// # Errors
    /// Transport errors; `Unsupported` when the provider has no such figure.
    async fn custody_balance(&self, asset: AssetId) -> Result<CustodyBalance, ProviderError> {
        Err(ProviderError::Unsupported(format!(
            "{} reports no custody balance for {asset}",
            self.name()
        )))
    }

    /// Whether `address` is where this provider forwards deposits it received for us (Rhino:
    /// a configured destination, normally the BitGo wallet's base address). An arrival there
    /// settles money already credited at the deposit address: it is neither credited nor
    /// held in suspense. The default: no.
    fn forwards_to(&self, address: &ChainAddress) -> bool {
        let _ = address;
        false
    }

    /// Whether deposits of `asset` are listed per receiving address
    /// ([`recent_deposits_at`](CustodyProvider::recent_deposits_at): Rhino's SDA history)
    /// rather than per asset ([`recent_deposits`](CustodyProvider::recent_deposits)). The
    /// default: per asset.
    fn lists_deposits_per_address(&self, asset: AssetId) -> bool {
        let _ = asset;
        false
    }

    /// The deposits the provider reports at `addresses` (ours, of `asset`) since `since`,
    /// one item per reported deposit, for providers that list per address (Rhino: one SDA
    /// history read per address). An address whose listing fails is one error item; the
    /// others are still listed. The default: [`ProviderError::Unsupported`].
    ///
    /// # Errors
    /// `Unsupported` when the provider cannot list per address.
    async fn recent_deposits_at(
        &self,
        asset: AssetId,
        addresses: &[ChainAddress],
        since: OffsetDateTime,
    ) -> Result<Vec<Result<VerifiedDeposit, ProviderError>>, ProviderError> {
        let _ = (asset, addresses, since);
        Err(ProviderError::Unsupported(format!(
            "{} cannot list deposits per address",
            self.name()
        )))
    }

    /// Verifies any notification and says what it is: a deposit (as
    /// [`verify_deposit`](CustodyProvider::verify_deposit)), news of one of our withdrawals,
    /// or something authentic to acknowledge without acting. The default knows deposits only.
    ///
    /// # Errors
    /// [`ProviderError::Unverified`] when it cannot be verified; [`ProviderError::Malformed`]
    /// for a zero or unreadable amount; transport errors.
    async fn verify_notification(
        &self,
        notice: &DepositNotice,
    ) -> Result<Notification, ProviderError> {
        self.verify_deposit(notice).await.map(Notification::Deposit)
    }

    /// Verifies a deposit notification by reading the transfer back from the provider; nothing
    /// in the notice itself is trusted.
    ///
    /// # Errors
    /// [`ProviderError::Unverified`] when the provider does not confirm it.
    async fn verify_deposit(
        &self,
        notice: &DepositNotice,
    ) -> Result<VerifiedDeposit, ProviderError>;
}

/// Shared handle.
pub type DynCustodyProvider = Arc<dyn CustodyProvider>;
