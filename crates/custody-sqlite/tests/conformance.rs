//! The store conformance suite against SQLite: on a temporary file (WAL, separate reader and
//! writer pools) and in memory (one shared connection).

#![allow(clippy::expect_used)]

use custody_core::environment::Environment;
use custody_sql::MasterKey;
use custody_sqlite::SqliteStore;

fn master() -> MasterKey {
    MasterKey::from_bytes([7; 32])
}

fn handles(
    store: &SqliteStore,
    guard: Box<dyn std::any::Any + Send>,
) -> custody_conformance::StoreHandles {
    custody_conformance::StoreHandles {
        shared: store.shared(),
        sandbox: store.environment(Environment::Sandbox),
        live: store.environment(Environment::Live),
        guard,
    }
}

/// A new, migrated database file in its own temporary directory (removed with the guard).
async fn fresh() -> custody_conformance::StoreHandles {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(&dir.path().join("custody.db"), master())
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    let guard = (store.clone(), dir);
    handles(&store, Box::new(guard))
}

custody_conformance::conformance_suite!(fresh);

mod in_memory {
    use super::*;

    /// A new, migrated private in-memory database.
    async fn fresh() -> custody_conformance::StoreHandles {
        let store = SqliteStore::in_memory(master()).await.expect("in memory");
        store.migrate().await.expect("migrate");
        handles(&store, Box::new(store.clone()))
    }

    custody_conformance::conformance_suite!(fresh);
}
