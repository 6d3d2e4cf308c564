//! The two service graphs and the state every handler shares.
//!
//! A [`ServiceGraph`] is every use case of one environment, wired over that environment's
//! store handles and its custody provider. [`AppState`] holds two of them, built once at
//! start-up by [`crate::startup`]; authentication picks one per request from the API key
//! ([`AppState::graph`]). The sandbox graph is built with the sandbox provider only: it holds
//! no handle to a live provider, which is the compliance boundary of ARCHITECTURE §4.

use std::sync::Arc;

use async_trait::async_trait;
use custody_core::environment::Environment;
use custody_core::ports::{
    DynClock, DynCustodyProvider, DynIdGenerator, DynIdempotencyStore, DynPriceFeed,
    EnvironmentStores, SharedStores,
};
use custody_core::services::{
    AddressService, AuthService, BalanceService, DepositService, VaultService, WalletService,
};
use ipnet::IpNet;

/// Every use case of one environment.
#[derive(Clone)]
pub struct ServiceGraph {
    /// The environment every store handle here is bound to.
    pub environment: Environment,
    /// Deposit addresses (the path every dialect converges on).
    pub addresses: AddressService,
    /// Vaults.
    pub vaults: VaultService,
    /// Wallets.
    pub wallets: WalletService,
    /// Valued balance reports (Connect).
    pub balances: BalanceService,
    /// Deposits, from provider notifications verified by the graph's provider.
    pub deposits: DepositService,
    /// Idempotency records of this environment.
    pub idempotency: DynIdempotencyStore,
    /// The provider this graph mints with (its name is logged at start-up).
    pub provider_name: &'static str,
}

/// What one graph is built from.
pub struct GraphParts {
    /// Store handles bound to the graph's environment.
    pub stores: EnvironmentStores,
    /// Tenants and keys.
    pub shared: SharedStores,
    /// The custody provider: the sandbox provider, or the live router.
    pub provider: DynCustodyProvider,
    /// Spot prices for Connect totals.
    pub prices: DynPriceFeed,
    /// Fiat currencies of Connect totals.
    pub currencies: Vec<String>,
    /// Time.
    pub clock: DynClock,
    /// Ids and secrets.
    pub ids: DynIdGenerator,
}

impl ServiceGraph {
    /// Wires every service of one environment.
    pub fn build(parts: GraphParts) -> ServiceGraph {
        let GraphParts {
            stores,
            shared,
            provider,
            prices,
            currencies,
            clock,
            ids,
        } = parts;
        let provider_name = provider.name();
        let deposits = DepositService::new(
            stores.uow.clone(),
            provider.clone(),
            clock.clone(),
            ids.clone(),
        );
        let addresses = AddressService::new(
            stores.environment,
            stores.uow.clone(),
            shared.tenants.clone(),
            stores.vaults.clone(),
            stores.addresses.clone(),
            provider,
            clock.clone(),
            ids.clone(),
        );
        let vaults = VaultService::new(
            stores.uow.clone(),
            stores.vaults.clone(),
            clock.clone(),
            ids.clone(),
        );
        let wallets = WalletService::new(
            addresses.clone(),
            stores.vaults.clone(),
            stores.wallets.clone(),
            stores.transactions.clone(),
        );
        let balances = BalanceService::new(
            stores.vaults.clone(),
            stores.wallets.clone(),
            prices,
            clock,
            currencies,
        );
        ServiceGraph {
            environment: stores.environment,
            addresses,
            vaults,
            wallets,
            balances,
            deposits,
            idempotency: stores.idempotency,
            provider_name,
        }
    }
}

/// Is the store reachable? (`/readyz`)
#[async_trait]
pub trait Readiness: Send + Sync {
    /// A trivial round trip to the store.
    ///
    /// # Errors
    /// A description of what failed, for the operator.
    async fn check(&self) -> Result<(), String>;
}

/// Everything the handlers share, registered once as `web::Data`.
pub struct AppState {
    /// Authentication and the approval gate (keys and tenants are shared).
    pub auth: AuthService,
    /// The live graph (BitGo / Rhino through the router).
    pub live: Arc<ServiceGraph>,
    /// The sandbox graph (`custody-sandbox`, no network).
    pub sandbox: Arc<ServiceGraph>,
    /// Time, for idempotency expiry.
    pub clock: DynClock,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The store check behind `/readyz`.
    pub readiness: Arc<dyn Readiness>,
}

impl AppState {
    /// The graph an authenticated key reaches: decided by the key's environment, nothing else.
    pub fn graph(&self, environment: Environment) -> &Arc<ServiceGraph> {
        match environment {
            Environment::Live => &self.live,
            Environment::Sandbox => &self.sandbox,
        }
    }
}
