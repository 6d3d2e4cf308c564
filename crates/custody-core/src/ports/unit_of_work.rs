use std::sync::Arc;

use async_trait::async_trait;

use super::StoreError;
use crate::address_book::AddressBookEntry;
use crate::asset::AssetId;
use crate::chain_address::ChainAddress;
use crate::deposit_address::DepositAddress;
use crate::event::Event;
use crate::id::{AddressBookEntryId, EventId, TenantId, TransactionId, VaultId, WalletId};
use crate::idempotency::{IdempotencyKey, ReservationToken, StoredResponse};
use crate::ledger::LedgerEntry;
use crate::tenant::TenantPolicy;
use crate::text::ExternalRef;
use crate::totals::SignedAmount;
use crate::transaction::Transaction;
use crate::vault::Vault;
use crate::wallet::Wallet;
use crate::webhook::WebhookEndpoint;
use crate::work::{DueTransaction, SuspenseState, UnattributedDeposit, WorkClaim};
use time::OffsetDateTime;

/// Opens database transactions.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait UnitOfWork: Send + Sync {
    /// Starts a transaction bound to the handle's environment.
    ///
    /// # Errors
    /// `Unavailable` when no connection can be had.
    async fn begin(&self) -> Result<Box<dyn StoreTx>, StoreError>;
}

/// Shared handle.
pub type DynUnitOfWork = Arc<dyn UnitOfWork>;

/// One database transaction. Everything written through it commits together on
/// [`commit`](StoreTx::commit) or not at all: dropping it without committing rolls back.
///
/// Its methods come in small role traits, one per aggregate ([`VaultTx`], [`WalletTx`],
/// [`AddressTx`], [`TransactionTx`], [`LedgerTx`], [`AddressBookTx`], [`EventTx`],
/// [`IdempotencyTx`], [`TenantTx`], [`UnattributedDepositTx`], [`AssetTotalTx`]), so a new table adds a role rather than growing one trait; this supertrait
/// adds minting serialisation and `commit`. (On a `dyn StoreTx` every role's methods resolve
/// without importing the role; a generic or concrete type needs `use …::ports::store_tx::*`.)
///
/// Locking contract: the `lock_*` methods take row locks (PostgreSQL `FOR UPDATE`; SQLite holds
/// the single writer lock for the whole transaction) that last until commit or rollback, so a
/// service can read, decide and write without a lost update. `update_*` methods must also refuse
/// to overwrite a row whose stored `version` is not lower than the new one (`Conflict`), as a
/// second line of defence against a stale write.
///
/// # An error ends the unit of work
/// After any method returns an error (a `Conflict` from a unique rule included), the
/// transaction is finished: the caller drops it (rolling back) and, if it wants, starts again.
/// PostgreSQL aborts a transaction at its first failed statement; a store must make `commit`
/// of such a transaction fail (`Internal`) rather than report a silent rollback as success.
///
/// # One handle at a time
/// While a `StoreTx` is open, a service uses no other store handle (no per-aggregate store, no
/// second `begin()`): SQLite runs a single writer connection, so a second handle would wait on
/// the first transaction forever. Reads a service needs from elsewhere happen before it begins
/// or after it commits.
///
/// # Lock order
/// Every service takes row locks in one of these orders, and never in another:
/// - **address minting**: minting lock ([`lock_address_minting`](StoreTx::lock_address_minting))
///   → vault, shared ([`share_vault`](VaultTx::share_vault)) → wallet rows (inserting a wallet
///   or an address takes a PostgreSQL `KEY SHARE` lock on the row it references);
/// - **money movement** (transfer, withdrawal submit): wallets in ascending id order
///   ([`lock_wallets`](WalletTx::lock_wallets)) → for a withdrawal, its address-book entry
///   ([`lock_address_book_entry`](AddressBookTx::lock_address_book_entry)) → vaults, shared
///   ([`share_vault`](VaultTx::share_vault)); nothing locks an address-book entry and then a
///   wallet;
/// - **vault changes** (`VaultService::update` only): the vault, exclusive
///   ([`lock_vault`](VaultTx::lock_vault)), alone;
/// - **withdrawal claim** (`WithdrawalService::dispatch`): the transaction
///   ([`lock_transaction`](TransactionTx::lock_transaction)) → its source wallet → its
///   address-book entry → its vault, shared → its tenant, shared
///   ([`share_tenant_policy`](TenantTx::share_tenant_policy)): after the transaction row, the
///   money-movement order. (Nothing locks a wallet and then an existing transaction: submit
///   inserts a new one, cancel and provider updates take the transaction first too.)
/// - **deposit attribution**: the receiving address's vault, shared → its wallet → the deposit
///   (the minting order: vault shared, then wallet).
///
/// - **after all of these, last**: a balance change's slot of the tenant-wide total of its asset
///   ([`adjust_available_total`](AssetTotalTx::adjust_available_total)), which a store may write
///   at commit; no row lock is taken after it.
///
/// Why these cannot deadlock: minting and money movement only ever *share* vault rows, and
/// shared locks are compatible with each other, so neither waits on the other for a vault while
/// holding a wallet (or the minting lock) the other needs; wallets are always taken in one
/// global order. An exclusive vault update may wait for the sharers to finish, but it holds no
/// other row lock while doing so, so nobody waits on it in return: there is no cycle. A
/// transaction holding a total's slot waits for nothing else before it commits (the slots of one
/// commit are taken in one global order), so nobody holding a slot is ever part of a wait cycle.
#[async_trait]
pub trait StoreTx:
    VaultTx
    + WalletTx
    + AddressTx
    + TransactionTx
    + LedgerTx
    + AddressBookTx
    + EventTx
    + IdempotencyTx
    + TenantTx
    + UnattributedDepositTx
    + WebhookTx
    + AssetTotalTx
    + Send
{
    /// Serialises address minting for (vault, asset) until the transaction ends: a second
    /// transaction asking for the same pair waits here. PostgreSQL: a transaction-scoped
    /// advisory lock; SQLite: the writer lock.
    ///
    /// # Errors
    /// `Unavailable` on lock timeout or connection loss.
    async fn lock_address_minting(
        &mut self,
        vault: VaultId,
        asset: AssetId,
    ) -> Result<(), StoreError>;

    /// Commits everything written through this transaction.
    ///
    /// # Errors
    /// `Conflict` on a serialisation failure; `Unavailable` on connection loss (in which case
    /// nothing was committed).
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// Vaults inside a [`StoreTx`].
#[async_trait]
pub trait VaultTx: Send {
    /// Finds a customer vault by external reference.
    ///
    /// # Errors
    /// `NotFound` when absent.
    async fn find_vault_by_external_ref(
        &mut self,
        tenant: TenantId,
        external_ref: &ExternalRef,
    ) -> Result<Vault, StoreError>;

    /// Finds the tenant's treasury vault.
    ///
    /// # Errors
    /// `NotFound` when it does not exist yet.
    async fn find_treasury_vault(&mut self, tenant: TenantId) -> Result<Vault, StoreError>;

    /// Reads and locks a vault exclusively (PostgreSQL `FOR UPDATE`), to change it. Only
    /// `VaultService::update` takes it, and holds no other row lock (see the lock order above);
    /// a service that only checks a vault's status uses [`share_vault`](VaultTx::share_vault).
    ///
    /// # Errors
    /// `NotFound` when absent or another tenant's.
    async fn lock_vault(&mut self, tenant: TenantId, id: VaultId) -> Result<Vault, StoreError>;

    /// Reads a vault under a shared row lock (PostgreSQL `FOR SHARE`; SQLite: the writer lock):
    /// its status cannot change until this transaction ends, yet any number of transactions may
    /// hold it at once. For services that only check a vault's status (transfers, withdrawals,
    /// address provisioning), so that they never queue behind one another on a vault row.
    ///
    /// # Errors
    /// `NotFound` when absent or another tenant's.
    async fn share_vault(&mut self, tenant: TenantId, id: VaultId) -> Result<Vault, StoreError>;

    /// Inserts a vault.
    ///
    /// # Errors
    /// `Conflict` when (tenant, external_ref) or the tenant's treasury already exists.
    async fn insert_vault(&mut self, vault: &Vault) -> Result<(), StoreError>;

    /// Saves a changed vault (status, name, metadata).
    ///
    /// # Errors
    /// `NotFound`; `Conflict` on a version mismatch.
    async fn update_vault(&mut self, vault: &Vault) -> Result<(), StoreError>;

    /// Whether any wallet of the vault holds funds in any bucket.
    ///
    /// # Errors
    /// Store trouble only.
    async fn vault_has_funds(&mut self, vault: VaultId) -> Result<bool, StoreError>;
}

/// Wallets inside a [`StoreTx`].
#[async_trait]
pub trait WalletTx: Send {
    /// Finds the vault's wallet for an asset.
    ///
    /// # Errors
    /// `NotFound` when absent.
    async fn find_wallet(&mut self, vault: VaultId, asset: AssetId) -> Result<Wallet, StoreError>;

    /// Reads and locks wallets of the tenant, in ascending id order (the order that prevents
    /// deadlocks between two transfers in opposite directions). Ids that do not exist or belong
    /// to another tenant are simply absent from the result.
    ///
    /// # Errors
    /// Store trouble only.
    async fn lock_wallets(
        &mut self,
        tenant: TenantId,
        ids: &[WalletId],
    ) -> Result<Vec<Wallet>, StoreError>;

    /// Reads and locks one wallet by id regardless of tenant (deposit attribution, workers).
    ///
    /// # Errors
    /// `NotFound` when absent.
    async fn lock_wallet_by_id(&mut self, id: WalletId) -> Result<Wallet, StoreError>;

    /// Inserts a wallet. A wallet inserted with an available balance (services insert empty
    /// ones; imports and test fixtures may not) adds it to its tenant's total of the asset
    /// ([`AssetTotalTx`]), slot 0, so the totals stay the wallets' sum.
    ///
    /// # Errors
    /// `Conflict` when the vault already has a wallet for the asset.
    async fn insert_wallet(&mut self, wallet: &Wallet) -> Result<(), StoreError>;

    /// Saves a wallet's balances and version.
    ///
    /// # Errors
    /// `NotFound`; `Conflict` on a version mismatch.
    async fn update_wallet(&mut self, wallet: &Wallet) -> Result<(), StoreError>;
}

/// Deposit addresses inside a [`StoreTx`].
#[async_trait]
pub trait AddressTx: Send {
    /// The wallet's primary address.
    ///
    /// # Errors
    /// `NotFound` when it has none.
    async fn find_primary_address(
        &mut self,
        wallet: WalletId,
    ) -> Result<DepositAddress, StoreError>;

    /// How many addresses the wallet has: the next derivation index.
    ///
    /// # Errors
    /// Store trouble only.
    async fn count_addresses(&mut self, wallet: WalletId) -> Result<u32, StoreError>;

    /// Inserts an address.
    ///
    /// # Errors
    /// `Conflict` when the wallet already has a primary, or (network, address) exists anywhere.
    async fn insert_address(&mut self, address: &DepositAddress) -> Result<(), StoreError>;

    /// Finds the deposit address with this on-chain address, whatever the tenant: how a deposit
    /// is attributed.
    ///
    /// # Errors
    /// `NotFound` when no wallet owns it.
    async fn find_address_by_chain_address(
        &mut self,
        address: &ChainAddress,
    ) -> Result<DepositAddress, StoreError>;

    /// Every tenant's deposit addresses of `asset` in id order, after `after`, at most
    /// `limit`: how deposit reconciliation walks the addresses of a provider that lists
    /// deposits per address (Rhino).
    ///
    /// # Errors
    /// Store trouble only.
    async fn deposit_addresses_of_asset(
        &mut self,
        asset: AssetId,
        after: Option<crate::id::AddressId>,
        limit: u32,
    ) -> Result<Vec<DepositAddress>, StoreError>;
}

/// Transactions inside a [`StoreTx`].
#[async_trait]
pub trait TransactionTx: Send {
    /// Inserts a transaction.
    ///
    /// # Errors
    /// `Conflict` when the id exists, or a transaction of the same kind has the same
    /// `provider_ref` (what makes deposit crediting exactly-once).
    async fn insert_transaction(&mut self, transaction: &Transaction) -> Result<(), StoreError>;

    /// Reads and locks a transaction; `tenant: None` is for workers acting for any tenant.
    ///
    /// # Errors
    /// `NotFound` when absent or another tenant's.
    async fn lock_transaction(
        &mut self,
        tenant: Option<TenantId>,
        id: TransactionId,
    ) -> Result<Transaction, StoreError>;

    /// Finds and locks the deposit recorded for a provider reference.
    ///
    /// # Errors
    /// `NotFound` when none exists.
    async fn lock_deposit_by_provider_ref(
        &mut self,
        provider_ref: &str,
    ) -> Result<Transaction, StoreError>;

    /// Saves a changed transaction. Leaves the worker's bookkeeping (lease, schedule) and the
    /// reconciliation flag as they are.
    ///
    /// # Errors
    /// `NotFound`; `Conflict` on a version mismatch.
    async fn update_transaction(&mut self, transaction: &Transaction) -> Result<(), StoreError>;

    /// Leases up to `claim.limit` open transactions of `claim.kinds` that are due and unleased
    /// to `claim.owner` until `claim.lease_until`, most overdue first (`next_poll_at`, or
    /// `created_at` for one never polled, then id), so a new withdrawal is never starved
    /// behind older in-flight ones being polled. One statement: PostgreSQL skips rows another
    /// claimer has locked (`FOR UPDATE SKIP LOCKED`) rather than waiting; SQLite runs it under
    /// the writer lock. The lease holds once this transaction commits.
    ///
    /// # Errors
    /// Store trouble only.
    async fn claim_due(&mut self, claim: &WorkClaim) -> Result<Vec<DueTransaction>, StoreError>;

    /// Ends `owner`'s lease on a transaction and schedules it: due again at `next_poll_at`,
    /// with `poll_attempts` failed attempts in a row. Returns whether `owner` still held it
    /// (a worker whose lease ran out and was taken over changes nothing).
    ///
    /// # Errors
    /// Store trouble only.
    async fn release_lease(
        &mut self,
        id: TransactionId,
        owner: &str,
        next_poll_at: OffsetDateTime,
        poll_attempts: u32,
    ) -> Result<bool, StoreError>;

    /// Flags a transaction for reconciliation with `reason` (kept if it already is), without
    /// changing its version: operator bookkeeping.
    ///
    /// # Errors
    /// `NotFound` when absent.
    async fn flag_for_reconciliation(
        &mut self,
        id: TransactionId,
        reason: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;
}

/// Tenants inside a [`StoreTx`] (tenants are shared by both environments).
#[async_trait]
pub trait TenantTx: Send {
    /// A tenant's enforced settings, under a shared row lock (PostgreSQL `FOR SHARE`; SQLite:
    /// the writer lock): an operator's suspension waits for this transaction, so a check made
    /// here holds until commit.
    ///
    /// # Errors
    /// `NotFound` when absent.
    async fn share_tenant_policy(&mut self, tenant: TenantId) -> Result<TenantPolicy, StoreError>;
}

/// Deposits no wallet may be credited with, inside a [`StoreTx`].
#[async_trait]
pub trait UnattributedDepositTx: Send {
    /// Records a deposit that was not credited (first report), or updates what the provider
    /// reports now (status, confirmations, hash, `last_seen_at`) for the same provider
    /// reference: never a second row, never lost.
    ///
    /// # Errors
    /// Store trouble only.
    async fn record_unattributed_deposit(
        &mut self,
        deposit: &UnattributedDeposit,
    ) -> Result<(), StoreError>;

    /// Reads one suspense record by its provider reference under an update lock
    /// (PostgreSQL `FOR UPDATE`; SQLite: the writer lock), so two operators cannot resolve
    /// it at once.
    ///
    /// # Errors
    /// `NotFound` when absent.
    async fn lock_unattributed_deposit(
        &mut self,
        provider_ref: &str,
    ) -> Result<UnattributedDeposit, StoreError>;

    /// Writes an operator's resolution of an open record: its new `state`, the deposit
    /// transaction an assignment created, the audit and when.
    ///
    /// # Errors
    /// `NotFound` when the record is absent or no longer open.
    async fn resolve_unattributed_deposit(
        &mut self,
        provider_ref: &str,
        resolution: &SuspenseResolution,
    ) -> Result<(), StoreError>;
}

/// An operator's resolution of a suspense record
/// ([`UnattributedDepositTx::resolve_unattributed_deposit`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuspenseResolution {
    /// `Assigned` or `Returned`.
    pub state: SuspenseState,
    /// The deposit transaction an assignment created.
    pub transaction_id: Option<TransactionId>,
    /// The audit: operator, evidence, at (and the return's hash).
    pub audit: serde_json::Value,
    /// When.
    pub at: OffsetDateTime,
}

/// The ledger inside a [`StoreTx`].
#[async_trait]
pub trait LedgerTx: Send {
    /// Appends ledger entries. Entries are never updated or deleted.
    ///
    /// # Errors
    /// Store trouble only.
    async fn append_ledger(&mut self, entries: &[LedgerEntry]) -> Result<(), StoreError>;
}

/// The address book inside a [`StoreTx`].
#[async_trait]
pub trait AddressBookTx: Send {
    /// Inserts an entry.
    ///
    /// # Errors
    /// `Conflict` when the tenant already has an active entry for (network, address).
    async fn insert_address_book_entry(
        &mut self,
        entry: &AddressBookEntry,
    ) -> Result<(), StoreError>;

    /// Reads and locks an entry.
    ///
    /// # Errors
    /// `NotFound` when absent or another tenant's.
    async fn lock_address_book_entry(
        &mut self,
        tenant: TenantId,
        id: AddressBookEntryId,
    ) -> Result<AddressBookEntry, StoreError>;

    /// Saves a changed entry.
    ///
    /// # Errors
    /// `NotFound`; `Conflict` on a version mismatch.
    async fn update_address_book_entry(
        &mut self,
        entry: &AddressBookEntry,
    ) -> Result<(), StoreError>;
}

/// The event log and outbox inside a [`StoreTx`].
#[async_trait]
pub trait EventTx: Send {
    /// Appends an event to the outbox.
    ///
    /// # Errors
    /// Store trouble only.
    async fn append_event(&mut self, event: &Event) -> Result<(), StoreError>;
}

/// The tenant's webhook endpoint and its events' delivery bookkeeping, inside a [`StoreTx`].
/// Scheduling only: none of these bumps a resource version.
#[async_trait]
pub trait WebhookTx: Send {
    /// The tenant's endpoint in this environment, locked until the transaction ends.
    ///
    /// # Errors
    /// `NotFound` when none is configured.
    async fn lock_webhook_endpoint(
        &mut self,
        tenant: TenantId,
    ) -> Result<WebhookEndpoint, StoreError>;

    /// Stores a new endpoint.
    ///
    /// # Errors
    /// `Conflict(webhook_endpoints_tenant_key)` when the tenant has one already.
    async fn insert_webhook_endpoint(
        &mut self,
        endpoint: &WebhookEndpoint,
    ) -> Result<(), StoreError>;

    /// Writes the endpoint over its stored row (same id).
    ///
    /// # Errors
    /// `NotFound`.
    async fn update_webhook_endpoint(
        &mut self,
        endpoint: &WebhookEndpoint,
    ) -> Result<(), StoreError>;

    /// Removes the tenant's endpoint.
    ///
    /// # Errors
    /// `NotFound` when none is configured.
    async fn delete_webhook_endpoint(&mut self, tenant: TenantId) -> Result<(), StoreError>;

    /// Makes one of the tenant's events pending and due at `now` (keeping its attempts and
    /// delivery log) and clears any lease.
    ///
    /// # Errors
    /// `NotFound` when absent or another tenant's.
    async fn redeliver_event(
        &mut self,
        tenant: TenantId,
        event: EventId,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Makes every one of the tenant's events created at or after `since` whose delivery failed
    /// (at least one attempt, then given up) pending and due at `now`; how many.
    ///
    /// # Errors
    /// Store trouble only.
    async fn redeliver_failed_events(
        &mut self,
        tenant: TenantId,
        since: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError>;

    /// Leases one of the tenant's events until `until`, so no worker claims it (the test
    /// delivery, sent by the request that wrote it).
    ///
    /// # Errors
    /// `NotFound` when absent or another tenant's.
    async fn lease_event(
        &mut self,
        tenant: TenantId,
        event: EventId,
        until: OffsetDateTime,
    ) -> Result<(), StoreError>;
}

/// Idempotency records inside a [`StoreTx`].
#[async_trait]
pub trait IdempotencyTx: Send {
    /// Marks the in-flight idempotency record of the reservation `token` names completed with
    /// the response to replay.
    ///
    /// # Errors
    /// `NotFound` when the key is not in flight under that reservation: never reserved by this
    /// tenant, or taken over by a later request (the caller must not commit).
    async fn complete_idempotency(
        &mut self,
        tenant: TenantId,
        key: &IdempotencyKey,
        token: &ReservationToken,
        response: &StoredResponse,
    ) -> Result<(), StoreError>;
}

/// The tenant-wide available balance per asset ([`crate::totals`]) inside a [`StoreTx`].
#[async_trait]
pub trait AssetTotalTx: Send {
    /// Adds `delta` (signed, exact, non-zero: a zero change is never sent) to slot `slot`
    /// (below [`SLOTS`](crate::totals::SLOTS)) of the `tenant`'s running total of `asset`
    /// in the handle's environment, creating the slot at `delta` when it has no row. Called by
    /// booking after the wallet updates of the same movement, in the same transaction.
    ///
    /// **Lock order.** The slot row must be the last row lock of a unit of work: a store that
    /// locks row by row must defer the write to commit (after the events and every other
    /// write; a unit of work may book several movements and lock more wallets after one), and
    /// must write the slots of one commit in (tenant, asset, slot) order. Writing a slot at
    /// once could deadlock: T1 books to slot s then locks wallet W2 while T2 holds W2 and then
    /// books to slot s. Nothing waits on a row lock while holding a slot, so a slot
    /// joins no cycle (storage.md, "The tenant-wide totals"). The conformance check
    /// `totals_slots_are_written_last_in_order` tests this.
    ///
    /// # Errors
    /// `Internal` when a slot would leave ±`u128::MAX`; store trouble.
    async fn adjust_available_total(
        &mut self,
        tenant: TenantId,
        asset: AssetId,
        slot: u8,
        delta: SignedAmount,
    ) -> Result<(), StoreError>;
}

/// The role traits and their supertrait, for one glob import wherever a service calls
/// [`StoreTx`] methods: `use crate::ports::store_tx::*;`.
pub mod store_tx {
    pub use super::{
        AddressBookTx, AddressTx, AssetTotalTx, EventTx, IdempotencyTx, LedgerTx, StoreTx,
        TenantTx, TransactionTx, UnattributedDepositTx, VaultTx, WalletTx, WebhookTx,
    };
}

#[cfg(feature = "mocks")]
mockall::mock! {
    /// A mock [`StoreTx`]: one `expect_<method>()` per method of every role.
    pub StoreTx {}

    #[async_trait]
    impl StoreTx for StoreTx {
        async fn lock_address_minting(
            &mut self,
            vault: VaultId,
            asset: AssetId,
        ) -> Result<(), StoreError>;
        async fn commit(self: Box<Self>) -> Result<(), StoreError>;
    }

    #[async_trait]
    impl VaultTx for StoreTx {
        async fn find_vault_by_external_ref(
            &mut self,
            tenant: TenantId,
            external_ref: &ExternalRef,
        ) -> Result<Vault, StoreError>;
        async fn find_treasury_vault(&mut self, tenant: TenantId) -> Result<Vault, StoreError>;
        async fn lock_vault(&mut self, tenant: TenantId, id: VaultId) -> Result<Vault, StoreError>;
        async fn share_vault(&mut self, tenant: TenantId, id: VaultId) -> Result<Vault, StoreError>;
        async fn insert_vault(&mut self, vault: &Vault) -> Result<(), StoreError>;
        async fn update_vault(&mut self, vault: &Vault) -> Result<(), StoreError>;
        async fn vault_has_funds(&mut self, vault: VaultId) -> Result<bool, StoreError>;
    }

    #[async_trait]
    impl WalletTx for StoreTx {
        async fn find_wallet(
            &mut self,
            vault: VaultId,
            asset: AssetId,
        ) -> Result<Wallet, StoreError>;
        async fn lock_wallets(
            &mut self,
            tenant: TenantId,
            ids: &[WalletId],
        ) -> Result<Vec<Wallet>, StoreError>;
        async fn lock_wallet_by_id(&mut self, id: WalletId) -> Result<Wallet, StoreError>;
        async fn insert_wallet(&mut self, wallet: &Wallet) -> Result<(), StoreError>;
        async fn update_wallet(&mut self, wallet: &Wallet) -> Result<(), StoreError>;
    }

    #[async_trait]
    impl AddressTx for StoreTx {
        async fn find_primary_address(
            &mut self,
            wallet: WalletId,
        ) -> Result<DepositAddress, StoreError>;
        async fn count_addresses(&mut self, wallet: WalletId) -> Result<u32, StoreError>;
        async fn insert_address(&mut self, address: &DepositAddress) -> Result<(), StoreError>;
        async fn find_address_by_chain_address(
            &mut self,
            address: &ChainAddress,
        ) -> Result<DepositAddress, StoreError>;
        async fn deposit_addresses_of_asset(
            &mut self,
            asset: AssetId,
            after: Option<crate::id::AddressId>,
            limit: u32,
        ) -> Result<Vec<DepositAddress>, StoreError>;
    }

    #[async_trait]
    impl TransactionTx for StoreTx {
        async fn insert_transaction(&mut self, transaction: &Transaction) -> Result<(), StoreError>;
        async fn lock_transaction(
            &mut self,
            tenant: Option<TenantId>,
            id: TransactionId,
        ) -> Result<Transaction, StoreError>;
        async fn lock_deposit_by_provider_ref(
            &mut self,
            provider_ref: &str,
        ) -> Result<Transaction, StoreError>;
        async fn update_transaction(&mut self, transaction: &Transaction) -> Result<(), StoreError>;
        async fn claim_due(&mut self, claim: &WorkClaim) -> Result<Vec<DueTransaction>, StoreError>;
        async fn release_lease(
            &mut self,
            id: TransactionId,
            owner: &str,
            next_poll_at: OffsetDateTime,
            poll_attempts: u32,
        ) -> Result<bool, StoreError>;
        async fn flag_for_reconciliation(
            &mut self,
            id: TransactionId,
            reason: &str,
            at: OffsetDateTime,
        ) -> Result<(), StoreError>;
    }

    #[async_trait]
    impl TenantTx for StoreTx {
        async fn share_tenant_policy(&mut self, tenant: TenantId) -> Result<TenantPolicy, StoreError>;
    }

    #[async_trait]
    impl UnattributedDepositTx for StoreTx {
        async fn record_unattributed_deposit(
            &mut self,
            deposit: &UnattributedDeposit,
        ) -> Result<(), StoreError>;
        async fn lock_unattributed_deposit(
            &mut self,
            provider_ref: &str,
        ) -> Result<UnattributedDeposit, StoreError>;
        async fn resolve_unattributed_deposit(
            &mut self,
            provider_ref: &str,
            resolution: &SuspenseResolution,
        ) -> Result<(), StoreError>;
    }

    #[async_trait]
    impl LedgerTx for StoreTx {
        async fn append_ledger(&mut self, entries: &[LedgerEntry]) -> Result<(), StoreError>;
    }

    #[async_trait]
    impl AddressBookTx for StoreTx {
        async fn insert_address_book_entry(
            &mut self,
            entry: &AddressBookEntry,
        ) -> Result<(), StoreError>;
        async fn lock_address_book_entry(
            &mut self,
            tenant: TenantId,
            id: AddressBookEntryId,
        ) -> Result<AddressBookEntry, StoreError>;
        async fn update_address_book_entry(
            &mut self,
            entry: &AddressBookEntry,
        ) -> Result<(), StoreError>;
    }

    #[async_trait]
    impl EventTx for StoreTx {
        async fn append_event(&mut self, event: &Event) -> Result<(), StoreError>;
    }

    #[async_trait]
    impl WebhookTx for StoreTx {
        async fn lock_webhook_endpoint(
            &mut self,
            tenant: TenantId,
        ) -> Result<WebhookEndpoint, StoreError>;
        async fn insert_webhook_endpoint(
            &mut self,
            endpoint: &WebhookEndpoint,
        ) -> Result<(), StoreError>;
        async fn update_webhook_endpoint(
            &mut self,
            endpoint: &WebhookEndpoint,
        ) -> Result<(), StoreError>;
        async fn delete_webhook_endpoint(&mut self, tenant: TenantId) -> Result<(), StoreError>;
        async fn redeliver_event(
            &mut self,
            tenant: TenantId,
            event: EventId,
            now: OffsetDateTime,
        ) -> Result<(), StoreError>;
        async fn redeliver_failed_events(
            &mut self,
            tenant: TenantId,
            since: OffsetDateTime,
            now: OffsetDateTime,
        ) -> Result<u64, StoreError>;
        async fn lease_event(
            &mut self,
            tenant: TenantId,
            event: EventId,
            until: OffsetDateTime,
        ) -> Result<(), StoreError>;
    }

    #[async_trait]
    impl AssetTotalTx for StoreTx {
        async fn adjust_available_total(
            &mut self,
            tenant: TenantId,
            asset: AssetId,
            slot: u8,
            delta: SignedAmount,
        ) -> Result<(), StoreError>;
    }

    #[async_trait]
    impl IdempotencyTx for StoreTx {
        async fn complete_idempotency(
            &mut self,
            tenant: TenantId,
            key: &IdempotencyKey,
            token: &ReservationToken,
            response: &StoredResponse,
        ) -> Result<(), StoreError>;
    }
}
