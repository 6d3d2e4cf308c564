//! A store adapter from outside the workspace plugs in through `Store::Other`: here SQLite's
//! adapter stands in for it, wrapped as a `StoreBackend`.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use async_trait::async_trait;
use custody_embed::core::environment::Environment;
use custody_embed::core::ports::{EnvironmentStores, SharedStores, StoreError};
use custody_embed::{Custody, MasterKey, Store, StoreBackend};
use custody_sqlite::SqliteStore;

struct Adapter(SqliteStore);

#[async_trait]
impl StoreBackend for Adapter {
    fn shared(&self) -> SharedStores {
        self.0.shared()
    }
    fn environment(&self, env: Environment) -> EnvironmentStores {
        self.0.environment(env)
    }
    fn engine(&self) -> &'static str {
        "third-party"
    }
    async fn migrate(&self) -> Result<(), StoreError> {
        self.0.migrate().await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.0.ping().await
    }
}

#[tokio::test]
async fn a_third_party_store_backs_the_services() {
    let sqlite = SqliteStore::in_memory(MasterKey::from_bytes([1; 32]))
        .await
        .unwrap();
    let store = Store::Other(Arc::new(Adapter(sqlite)));
    store.migrate().await.unwrap();
    let custody = Custody::builder().store(store).build().await.unwrap();
    assert_eq!(custody.store().engine(), "third-party");
    custody.store().ping().await.unwrap();
    let tenant = custody.admin().create_tenant("Acme").await.unwrap();
    let read = custody
        .shared_stores()
        .tenants
        .get(tenant.id)
        .await
        .unwrap();
    assert_eq!(read.name, "Acme");
    assert!(custody.live().is_none(), "no live provider, no live graph");
}
