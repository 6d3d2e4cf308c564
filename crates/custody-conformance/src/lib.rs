//! # custody-conformance: the store conformance suite
//!
//! One set of checks, written once against the port traits of `custody-core`, that every store
//! adapter must pass. An adapter's test file provides a function that builds a fresh, empty,
//! migrated store and returns its handles as a [`StoreHandles`]; the [`conformance_suite!`]
//! macro then expands to one `#[tokio::test]` per check, so a failure names the rule broken:
//!
//! ```ignore
//! async fn fresh() -> custody_conformance::StoreHandles { /* new empty database */ }
//! custody_conformance::conformance_suite!(fresh);
//! ```
//!
//! Checks cover every port method, environment isolation, the unique constraints, idempotency
//! reserve / complete / release / expiry, outbox claim semantics, pagination and balance
//! arithmetic; [`concurrency`] drives the real core services from many tasks at once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::any::Any;

use custody_core::ports::{EnvironmentStores, SharedStores};

pub mod checks;
pub mod concurrency;
pub mod fixtures;

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
            tenants_insert_get_update_list,
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
