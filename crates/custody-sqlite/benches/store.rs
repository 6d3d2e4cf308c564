//! Store benchmarks on SQLite (a temporary file, WAL): `just bench`.

#![allow(clippy::expect_used)]

use custody_core::environment::Environment;
use custody_sql::MasterKey;
use custody_sqlite::SqliteStore;

async fn fresh() -> custody_conformance::StoreHandles {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(
        &dir.path().join("custody.db"),
        MasterKey::from_bytes([7; 32]),
    )
    .await
    .expect("open");
    store.migrate().await.expect("migrate");
    custody_conformance::StoreHandles {
        shared: store.shared(),
        sandbox: store.environment(Environment::Sandbox),
        live: store.environment(Environment::Live),
        guard: Box::new((store, dir)),
    }
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(custody_conformance::bench::run(
            "sqlite (temporary file, WAL)",
            fresh,
        ));
}
