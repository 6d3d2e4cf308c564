//! The store conformance suite against PostgreSQL: every check on its own fresh database.

use custody_conformance::StoreHandles;
use custody_core::environment::Environment;

async fn fresh() -> StoreHandles {
    let (store, db) = custody_postgres::testing::fresh_store().await;
    StoreHandles {
        shared: store.shared(),
        sandbox: store.environment(Environment::Sandbox),
        live: store.environment(Environment::Live),
        guard: Box::new((store, db)),
    }
}

custody_conformance::conformance_suite!(fresh);
