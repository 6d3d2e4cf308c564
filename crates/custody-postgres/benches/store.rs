//! Store benchmarks on PostgreSQL (the test harness's throwaway cluster, or `DATABASE_URL`):
//! `just bench`. The throwaway cluster runs with `fsync=off`, so commit latency here is lower
//! than on a durable server.

use custody_core::environment::Environment;

async fn fresh() -> custody_conformance::StoreHandles {
    let (store, db) = custody_postgres::testing::fresh_store().await;
    custody_conformance::StoreHandles {
        shared: store.shared(),
        sandbox: store.environment(Environment::Sandbox),
        live: store.environment(Environment::Live),
        guard: Box::new((store, db)),
    }
}

fn main() {
    #[allow(clippy::expect_used)]
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(custody_conformance::bench::run("postgresql", fresh));
}
