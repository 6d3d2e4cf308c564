//! Services: the use cases. Every custody rule is applied here, over the ports.
//!
//! Each method takes the authenticated [`Caller`](crate::caller::Caller), checks the scope it
//! needs first, then validates, then reads and writes through the ports. A method that changes
//! state opens one [`StoreTx`] and commits the change, its ledger entries,
//! its events and (when the request carried an `Idempotency-Key`) the stored response together.
//!
//! Transaction boundaries are the important comments in this module: look for "commit".

mod address;
mod address_book;
mod admin;
mod attribution;
mod auth;
mod balance;
mod booking;
mod deposit;
mod events;
mod operator;
mod reconcile;
mod reconciliation;
mod sandbox;
mod transaction_worker;
mod transfer;
mod vault;
mod wallet;
mod webhook;
mod webhook_delivery;
mod withdrawal;

#[cfg(test)]
pub(crate) mod test_support;

pub use address::{AddressService, AddressTarget, EnsureAddress, ReferencedAddress};
pub use address_book::{AddressBookFilter, AddressBookService, NewAddressBookEntry};
pub use admin::{AdminService, MintedKey, NewKey};
pub use auth::{AuthFailure, AuthService, Credentials, PresentedRequest};
pub use balance::{BalanceLine, BalanceReport, BalanceService, FIAT_DECIMALS};
pub use deposit::{AddressScan, DepositReconciliation, DepositService, Received};
pub use events::{EventService, PURGE_BATCH};
pub use operator::{Assignment, OperatorService, Resolution};
pub use reconcile::{
    check_ledger, LedgerCheck, ProviderCheck, ProviderOutcome, ReconcileReport, ReconcileService,
    TotalDrift, Verdict, WalletDrift,
};
pub use reconciliation::ReconciliationService;
pub use sandbox::{DepositTarget, SandboxService, SimulateDeposit};
pub use transaction_worker::{DepositRefresh, PassReport, TransactionWorker, WorkerSettings};
pub use transfer::{TransferCommand, TransferService};
pub use vault::{NewVault, VaultPatch, VaultService};
pub use wallet::{Reconciliation, WalletService, WalletView, WalletWithAddress};
pub use webhook::{ConfigureEndpoint, ConfiguredEndpoint, Redelivered, WebhookService};
pub use webhook_delivery::{Delivered, DeliverySettings, WebhookDelivery};
pub use withdrawal::{WithdrawCommand, WithdrawalService};

use crate::error::Error;
use crate::id::TenantId;
use crate::idempotency::{IdempotencyKey, ReservationToken, StoredResponse};
use crate::ports::{StoreError, StoreTx};

/// The result of an "ensure" operation: the resource, and whether this call created it (the
/// HTTP layer answers 201 or 200 accordingly).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Provisioned<T> {
    /// The resource.
    pub value: T,
    /// Whether this call created it.
    pub created: bool,
}

/// How a mutating call records its response for idempotent replay, inside its own database
/// transaction: the service calls `respond` on its result just before committing, so the
/// stored response and the change it describes commit together or not at all.
pub struct IdempotentWrite<'a, T> {
    /// The reserved key.
    pub key: &'a IdempotencyKey,
    /// This request's reservation of it: completion matches it, so a request whose key was
    /// taken over meanwhile fails ([`Error::IdempotencyKeyTakenOver`]) and commits nothing.
    pub reservation: &'a ReservationToken,
    /// Renders the response the partner will receive (status, headers, body).
    pub respond: &'a (dyn Fn(&T) -> StoredResponse + Send + Sync),
}

impl<T> Clone for IdempotentWrite<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for IdempotentWrite<'_, T> {}

/// Writes the idempotency record (if any) and commits.
pub(crate) async fn commit_with<T>(
    mut tx: Box<dyn StoreTx>,
    tenant: TenantId,
    idempotency: Option<IdempotentWrite<'_, T>>,
    value: &T,
) -> Result<(), Error> {
    if let Some(write) = idempotency {
        complete_idempotency(tx.as_mut(), tenant, write, &(write.respond)(value)).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Stores `response` for replay in `tx`, under this request's reservation of the key. When the
/// reservation is no longer this request's (another request with the key took it over after
/// the lease, or after this instance stopped heartbeating), the error is
/// [`Error::IdempotencyKeyTakenOver`] and the caller must not commit: its change is dropped
/// with the transaction, and the request that holds the key now decides what is stored.
pub(crate) async fn complete_idempotency<T>(
    tx: &mut dyn StoreTx,
    tenant: TenantId,
    write: IdempotentWrite<'_, T>,
    response: &StoredResponse,
) -> Result<(), Error> {
    match tx
        .complete_idempotency(tenant, write.key, write.reservation, response)
        .await
    {
        Ok(()) => Ok(()),
        Err(StoreError::NotFound) => Err(Error::IdempotencyKeyTakenOver),
        Err(e) => Err(e.into()),
    }
}
