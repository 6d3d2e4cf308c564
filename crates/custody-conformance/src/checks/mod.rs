//! The conformance checks. Each takes a fresh [`StoreHandles`](crate::StoreHandles) and panics
//! on a broken rule. They are grouped by aggregate; every one is re-exported here (the
//! concurrency checks too) so [`conformance_suite!`](crate::conformance_suite) can name it.

pub mod address_book;
pub mod addresses;
pub mod api_keys;
pub mod atomicity;
pub mod balances;
pub mod event_log;
pub mod events;
pub mod idempotency;
pub mod isolation;
pub mod queues;
pub mod reconcile;
pub mod signatures;
pub mod tenants;
pub mod time_precision;
pub mod totals;
pub mod totals_lock_order;
pub mod transactions;
pub mod vaults;
pub mod wallets;
pub mod webhooks;
pub mod work;

pub use crate::concurrency::{
    concurrent_ensure_primary_address_creates_one_vault,
    concurrent_ensure_primary_address_mints_once, concurrent_transfers_conserve_balances,
};
pub use crate::worker::{
    worker_resumes_a_withdrawal_after_a_lost_lease, worker_two_instances_send_each_withdrawal_once,
};
pub use address_book::*;
pub use addresses::*;
pub use api_keys::*;
pub use atomicity::*;
pub use balances::*;
pub use event_log::*;
pub use events::*;
pub use idempotency::*;
pub use isolation::*;
pub use queues::*;
pub use reconcile::*;
pub use signatures::*;
pub use tenants::*;
pub use time_precision::*;
pub use totals::*;
pub use totals_lock_order::*;
pub use transactions::*;
pub use vaults::*;
pub use wallets::*;
pub use webhooks::*;
pub use work::*;
