//! Ports: the traits adapters implement.
//!
//! One small trait per role, each method documenting its contract and the error an adapter
//! must return. Stores are bound to one [`Environment`](crate::environment::Environment) when
//! they are built, so no method takes an environment: a handle cannot see the other
//! environment's rows. Tenants and API keys are the exception: they are shared.
//!
//! Reads that need no atomicity live on the per-aggregate stores; every write that must commit
//! together (a state change, its ledger entries, its events and the idempotency record) goes
//! through a [`StoreTx`] from the [`UnitOfWork`].
//!
//! With the `mocks` feature every trait has a mockall `Mock…` twin.

mod address_book_store;
mod address_store;
mod api_key_store;
mod clock;
mod custody_provider;
mod event_store;
mod id_gen;
mod idempotency_store;
mod instance_registry;
mod outbox_store;
mod price_feed;
mod reconcile_store;
mod tenant_store;
mod transaction_store;
mod unit_of_work;
mod vault_store;
mod wallet_store;
mod webhook_store;

pub use address_book_store::*;
pub use address_store::*;
pub use api_key_store::*;
pub use clock::*;
pub use custody_provider::*;
pub use event_store::*;
pub use id_gen::*;
pub use idempotency_store::*;
pub use instance_registry::*;
pub use outbox_store::*;
pub use price_feed::*;
pub use reconcile_store::*;
pub use tenant_store::*;
pub use transaction_store::*;
pub use unit_of_work::*;
pub use vault_store::*;
pub use wallet_store::*;
pub use webhook_store::*;

/// Every store handle bound to one environment: what a store adapter hands the composition
/// root for each of its two service graphs.
#[allow(missing_docs)]
#[derive(Clone)]
pub struct EnvironmentStores {
    /// The environment every handle here is bound to.
    pub environment: crate::environment::Environment,
    /// Atomic writes.
    pub uow: DynUnitOfWork,
    pub vaults: DynVaultStore,
    pub wallets: DynWalletStore,
    pub addresses: DynAddressStore,
    /// Transaction and ledger reads.
    pub transactions: DynTransactionStore,
    pub address_book: DynAddressBookStore,
    pub events: DynEventStore,
    /// Outbox delivery bookkeeping.
    pub outbox: DynOutboxStore,
    pub idempotency: DynIdempotencyStore,
    /// The tenant's outbound webhook endpoint.
    pub webhooks: DynWebhookEndpointStore,
    /// Reconciliation's one-snapshot ledger reads (`custody admin reconcile`).
    pub reconcile: DynReconcileStore,
}

/// The store handles shared by both environments.
#[allow(missing_docs)]
#[derive(Clone)]
pub struct SharedStores {
    /// Tenants and their enabled assets.
    pub tenants: DynTenantStore,
    pub api_keys: DynApiKeyStore,
    /// Running instances and their heartbeats.
    pub instances: DynInstanceRegistry,
    /// Seals webhook signing secrets under the master key.
    pub sealer: DynSecretSealer,
}

/// A boxed error source from an adapter (driver error, I/O error), kept for logs.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What any store method may fail with. Adapters translate their driver's errors into these:
/// a violated unique constraint is `Conflict` (naming the constraint), a missing row is
/// `NotFound`, connection or pool trouble is `Unavailable`, anything else `Internal`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The row does not exist (or belongs to another tenant, which is the same to a caller).
    #[error("not found")]
    NotFound,
    /// A uniqueness rule refused the write.
    #[error("conflict on {constraint}")]
    Conflict {
        /// The constraint's name, e.g. `vaults_tenant_external_ref_key`.
        constraint: String,
    },
    /// The database could not be reached; the caller may retry.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// Anything else: a bug or corrupt data.
    #[error("store error: {0}")]
    Internal(#[source] BoxError),
}
