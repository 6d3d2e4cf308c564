//! # custody-conformance: the store conformance suite
//!
//! One set of checks, written once against the port traits of `custody-core`, that every store
//! adapter must pass. An adapter's test file provides a function that builds a fresh, empty,
//! migrated store and returns its handles as a [`StoreHandles`]; the [`conformance_suite!`]
//! macro then expands to one `#[tokio::test]` per check, so a failure names the rule broken:
//!
//! ```text
//! async fn fresh() -> custody_conformance::StoreHandles { /* new empty database */ }
//! custody_conformance::conformance_suite!(fresh);
//! ```
//!
//! Checks cover every port method, environment isolation, the unique constraints (by the
//! constraint names of `migrations/`), idempotency reserve / complete / release / expiry, outbox
//! claim semantics, pagination, row locks and balance arithmetic; [`concurrency`] drives the
//! real core services from many tasks at once, with the counting fake custody provider of
//! [`provider`].
//!
//! Rules the checks follow, so they run on any adapter:
//! - a check uses one `StoreTx` at a time and no other handle while it is open (SQLite has a
//!   single writer; see the `StoreTx` contract), and drops a transaction after a write it
//!   expected to be refused (PostgreSQL aborts the transaction on a constraint violation);
//!   the checks about waiting run a second unit of work on another task while one is open,
//!   and the first waits on the second only once the second has begun (on SQLite it begins
//!   when the first has ended);
//! - every time is a whole number of microseconds and every id a fixed ULID
//!   ([`fixtures`]), so a failure reproduces;
//! - concurrency checks use seeded randomness and never retry transient store errors: with
//!   correct locking there are none, so they count as failures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::any::Any;

use custody_core::ports::{EnvironmentStores, SharedStores};

pub mod bench;
pub mod checks;
pub mod concurrency;
pub mod fixtures;
pub mod provider;
pub mod worker;

/// A fresh store's handles. `guard` keeps whatever backs the store (a temporary file, a
/// throwaway database) alive until the check ends.
pub struct StoreHandles {
    /// Tenants and keys.
    pub shared: SharedStores,
    /// Handles bound to the sandbox environment.
    pub sandbox: EnvironmentStores,
    /// Handles bound to the live environment, over the same database.
    pub live: EnvironmentStores,
    /// Dropped after the check.
    pub guard: Box<dyn Any + Send>,
}

/// Expands to one `#[tokio::test]` per conformance check, each calling `$fresh().await` for a
/// new empty store. Pass the name of an `async fn() -> StoreHandles`.
#[macro_export]
macro_rules! conformance_suite {
    ($fresh:path) => {
        $crate::conformance_suite!(@checks $fresh;
            // See `custody_conformance::checks` for what each one proves.
            // Tenants and API keys (shared).
            tenants_insert_get_update_list,
            tenants_conflict_and_not_found,
            tenants_enabled_assets_per_environment,
            api_keys_insert_find_get,
            api_keys_find_with_tenant,
            api_keys_exists,
            api_keys_update_revocation,
            api_keys_list_for_tenant,
            api_keys_rotation_writes_both,
            api_keys_rotation_is_atomic,
            api_keys_conflicts_and_unknown_tenant,
            // Vaults.
            vaults_insert_find_lock,
            vaults_update_version_rule,
            vaults_unique_external_ref,
            vaults_one_treasury,
            vaults_has_funds,
            vaults_list_filter_pagination,
            // Wallets.
            wallets_insert_find_get,
            wallets_lock_wallets_order,
            wallets_update_balances_version_rule,
            wallets_unique_vault_asset,
            wallets_list_filters_pagination,
            wallets_available_by_asset_sums_exactly,
            // Deposit addresses.
            addresses_insert_find_count,
            addresses_get_with_reference,
            addresses_primary_of_locked_wallets,
            addresses_find_by_chain_address,
            addresses_unique_network_address,
            addresses_one_primary_per_wallet,
            addresses_list_filters_pagination,
            // Transactions and the ledger.
            transactions_insert_get_lock,
            transactions_lock_deposit_by_provider_ref,
            transactions_update_version_rule,
            transactions_unique_provider_ref,
            transactions_list_filters_pagination,
            transactions_list_by_vault,
            transactions_open_withdrawals,
            ledger_append_in_write_order,
            ledger_replay_matches_balances,
            // Address book.
            address_book_insert_lock_update_get,
            address_book_active_unique,
            address_book_list_filters,
            // Events and the outbox.
            events_append_and_list,
            events_of_one_unit_of_work,
            event_log_commit_order_and_cursor,
            event_log_get,
            event_log_purge,
            outbox_claim_leases,
            outbox_backlog_counts_pending_and_due,
            outbox_record_attempt_outcomes,
            outbox_redeliver_and_tenant_scope,
            outbox_concurrent_claimers,
            // Idempotency.
            idempotency_reserve_complete_lookup,
            idempotency_complete_rolls_back_and_needs_a_reservation,
            idempotency_release,
            idempotency_expiry_and_purge,
            idempotency_scope,
            idempotency_concurrent_reserve,
            idempotency_dead_owner_is_released,
            idempotency_completion_needs_its_own_reservation,
            idempotency_taken_over_use_case_commits_nothing,
            instances_heartbeat_and_forget,
            // Units of work.
            unit_of_work_drop_rolls_back_commit_publishes,
            unit_of_work_conflict_then_drop_leaves_nothing,
            unit_of_work_locks_wait_for_commit,
            // Environment isolation.
            isolation_vaults_and_wallets,
            isolation_addresses,
            isolation_transactions_and_ledger,
            isolation_address_book,
            isolation_events_and_outbox,
            isolation_idempotency,
            isolation_references_stay_in_environment_and_tenant,
            isolation_reads_by_id_under_concurrency,
            // Time.
            time_precision_microseconds,
            // Concurrency through the real services.
            concurrent_ensure_primary_address_mints_once,
            concurrent_ensure_primary_address_creates_one_vault,
            concurrent_transfers_conserve_balances,
            // Issue 12: the transaction worker and the review fixes' storage.
            transactions_claim_due_leases_in_due_order,
            transactions_flag_for_reconciliation_and_stuck,
            transactions_withdrawal_queue_counts_open_ones,
            unattributed_deposits_record_and_list,
            unattributed_deposits_resolve,
            deposit_addresses_of_asset_pages,
            tenants_policy_and_cooling_off,
            address_book_activates_at_round_trip,
            worker_two_instances_send_each_withdrawal_once,
            worker_resumes_a_withdrawal_after_a_lost_lease,
            // Issue 16 (auth): replay cache, Ed25519 binding, master-key check.
            request_signatures_record_replay_purge,
            request_signatures_concurrent_uses,
            api_keys_ed25519_public_key_binding,
            api_keys_ed25519_concurrent_bindings,
            master_key_check_recorded_then_matches,
            // Issue 13: webhook endpoints and delivery.
            webhook_endpoint_round_trip_and_uniqueness,
            outbox_fair_claims_skips_and_bulk_redelivery,
            outbox_skip_many_skips_only_the_tenants_listed_events,
            outbox_skip_due_without_endpoint_skips_only_the_tenants_due_backlog,
            // Issue 14: `custody admin reconcile`'s one-snapshot reads.
            reconcile_snapshot_sums_exactly_and_names_drift,
            reconcile_signed_sums_at_the_edges,
            reconcile_snapshot_under_concurrent_transfers,
            // Issue 18: the maintained tenant-wide totals.
            totals_adjust_and_read_exactly,
            totals_follow_inserted_wallets_and_reconcile_names_drift,
            totals_concurrent_movements_lose_nothing,
            totals_rebuild_repairs_drift,
            totals_rebuild_while_movements_book,
            totals_slots_are_written_last_in_order,
        );
    };
    (@checks $fresh:path; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                $crate::checks::$check($fresh().await).await;
            }
        )+
    };
}
