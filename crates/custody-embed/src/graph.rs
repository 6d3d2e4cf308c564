//! One environment's services, composed over that environment's stores and its custody
//! provider: the composition `custody serve` and an embedding service share.
//!
//! A [`ServiceGraph`] is every use case of one environment. The sandbox graph is built with the
//! sandbox provider only: it holds no handle to a live provider, which is the compliance
//! boundary of ARCHITECTURE §4. Only the sandbox graph has the simulation use case.

use std::sync::Arc;

use custody_core::environment::Environment;
use custody_core::event::DynSnapshotRenderer;
use custody_core::ports::{
    DynClock, DynCustodyProvider, DynEventRenderer, DynIdGenerator, DynIdempotencyStore,
    DynPriceFeed, DynWebhookTransport, EnvironmentStores, SharedStores,
};
use custody_core::services::{
    AddressBookService, AddressService, BalanceService, DeliverySettings, DepositService,
    EventService, SandboxService, TransferService, VaultService, WalletService, WebhookDelivery,
    WebhookService, WithdrawalService,
};

/// Every use case of one environment.
///
/// The main commands, over an in-memory SQLite store: a simulated deposit credits Alice's
/// wallet, a transfer moves part of it to Bob, and the ledger-backed balances follow.
///
/// ```
/// use custody_embed::core::asset::AssetId;
/// use custody_embed::core::environment::Environment;
/// use custody_embed::core::ports::Settlement;
/// use custody_embed::core::services::{DepositTarget, NewVault, SimulateDeposit, TransferCommand};
/// use custody_embed::core::text::VaultName;
/// use custody_embed::{Custody, MasterKey};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let custody = Custody::builder()
///     .store_url("sqlite::memory:")
///     .master_key(MasterKey::from_bytes([7; 32]))
///     .build()
///     .await?;
/// let tenant = custody.admin().create_tenant("Acme").await?;
/// let caller = custody.caller(tenant.id, Environment::Sandbox);
/// let sandbox = custody.sandbox();
/// let usdt = AssetId::parse("USDT_ETHEREUM")?;
/// let mut wallets = Vec::new();
/// for name in ["Alice", "Bob"] {
///     let new = NewVault { external_ref: None, name: VaultName::parse(name)?, metadata: Default::default() };
///     let vault = sandbox.vaults.create(&caller, new, None).await?;
///     let wallet = sandbox.wallets.create(&caller, vault.id, usdt, None, None).await?.value;
///     wallets.push(wallet.wallet.id);
/// }
/// let (alice, bob) = (wallets[0], wallets[1]);
///
/// let simulation = sandbox.simulation.as_ref().expect("the sandbox graph simulates");
/// let deposit = SimulateDeposit {
///     target: DepositTarget::Wallet(alice),
///     amount: "100".into(), // decimal strings, as on the wire
///     settlement: Settlement::Instant,
/// };
/// simulation.simulate_deposit(&caller, deposit, None).await?;
/// let transfer = TransferCommand { from: alice, to: bob, amount: "25".into(), reference: None };
/// sandbox.transfers.transfer(&caller, transfer, None).await?;
///
/// let balance = |id| sandbox.wallets.get(&caller, id);
/// assert_eq!(balance(alice).await?.balances.available.to_decimal_string(6), "75");
/// assert_eq!(balance(bob).await?.balances.available.to_decimal_string(6), "25");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ServiceGraph {
    /// The environment every store handle here is bound to.
    pub environment: Environment,
    /// Deposit addresses (the path every dialect converges on).
    pub addresses: AddressService,
    /// Vaults (one per end customer).
    pub vaults: VaultService,
    /// Wallets (one per vault and asset) and their balances.
    pub wallets: WalletService,
    /// Valued balance reports (Connect).
    pub balances: BalanceService,
    /// Deposits, from provider notifications verified by the graph's provider.
    pub deposits: DepositService,
    /// The address book (withdrawal allow-list).
    pub address_book: AddressBookService,
    /// Internal transfers.
    pub transfers: TransferService,
    /// Withdrawals (submit, cancel, dispatch) and transaction reads of every kind.
    pub withdrawals: WithdrawalService,
    /// The event log and its retention.
    pub events: EventService,
    /// Simulation: the sandbox graph only; the live graph has none, so it cannot simulate
    /// whatever its caller does.
    pub simulation: Option<SandboxService>,
    /// The outbound webhook endpoint, its deliveries and redelivery.
    pub webhooks: WebhookService,
    /// Idempotency records of this environment (applied by the caller's edge, e.g. HTTP).
    pub idempotency: DynIdempotencyStore,
    /// The provider this graph mints with.
    pub provider_name: &'static str,
}

/// What composing a graph needs besides its stores, provider and prices.
#[derive(Clone)]
pub struct GraphParts {
    /// Time.
    pub clock: DynClock,
    /// Ids and secrets.
    pub ids: DynIdGenerator,
    /// Renders event snapshots at commit (the form events are stored and delivered in).
    pub snapshots: DynSnapshotRenderer,
    /// Renders a delivery's body from an event.
    pub event_renderer: DynEventRenderer,
    /// Sends webhook deliveries.
    pub transport: DynWebhookTransport,
    /// Fiat currencies of valued balance reports.
    pub currencies: Vec<String>,
    /// Cap on deposit addresses per wallet.
    pub max_addresses_per_wallet: u32,
}

/// One environment's webhook delivery over its stores, secrets opened with the shared sealer.
pub fn webhook_delivery(
    stores: &EnvironmentStores,
    shared: &SharedStores,
    parts: &GraphParts,
    settings: DeliverySettings,
) -> WebhookDelivery {
    WebhookDelivery::new(
        stores.environment,
        stores.uow.clone(),
        stores.outbox.clone(),
        stores.webhooks.clone(),
        shared.sealer.clone(),
        parts.transport.clone(),
        parts.event_renderer.clone(),
        parts.snapshots.clone(),
        parts.clock.clone(),
        parts.ids.clone(),
        settings,
    )
}

/// Every use case of one environment, over that environment's stores and provider.
pub fn service_graph(
    stores: EnvironmentStores,
    shared: &SharedStores,
    provider: DynCustodyProvider,
    prices: DynPriceFeed,
    parts: &GraphParts,
) -> ServiceGraph {
    let (clock, ids, renderer) = (&parts.clock, &parts.ids, &parts.snapshots);
    let provider_name = provider.name();
    let deposits = DepositService::new(
        stores.uow.clone(),
        provider.clone(),
        clock.clone(),
        ids.clone(),
        renderer.clone(),
    );
    let address_book = AddressBookService::new(
        stores.uow.clone(),
        stores.address_book.clone(),
        clock.clone(),
        ids.clone(),
        renderer.clone(),
    );
    let transfers = TransferService::new(
        stores.uow.clone(),
        clock.clone(),
        ids.clone(),
        renderer.clone(),
    );
    let withdrawals = WithdrawalService::new(
        stores.uow.clone(),
        stores.transactions.clone(),
        provider.clone(),
        clock.clone(),
        ids.clone(),
        renderer.clone(),
    );
    let addresses = AddressService::new(
        stores.environment,
        stores.uow.clone(),
        shared.tenants.clone(),
        stores.vaults.clone(),
        stores.addresses.clone(),
        provider.clone(),
        clock.clone(),
        ids.clone(),
        renderer.clone(),
    )
    .with_address_cap(parts.max_addresses_per_wallet);
    let vaults = VaultService::new(
        stores.uow.clone(),
        stores.vaults.clone(),
        clock.clone(),
        ids.clone(),
        renderer.clone(),
    );
    let wallets = WalletService::new(
        addresses.clone(),
        stores.vaults.clone(),
        stores.wallets.clone(),
        stores.transactions.clone(),
    );
    let simulation = (stores.environment == Environment::Sandbox).then(|| {
        SandboxService::new(
            deposits.clone(),
            provider.clone(),
            stores.uow.clone(),
            stores.wallets.clone(),
            stores.addresses.clone(),
            ids.clone(),
        )
    });
    let webhooks = WebhookService::new(
        stores.environment,
        stores.uow.clone(),
        stores.webhooks.clone(),
        stores.outbox.clone(),
        shared.sealer.clone(),
        webhook_delivery(&stores, shared, parts, DeliverySettings::default()),
        clock.clone(),
        ids.clone(),
    );
    let balances = BalanceService::new(
        stores.vaults,
        stores.wallets,
        prices,
        clock.clone(),
        parts.currencies.clone(),
    );
    ServiceGraph {
        environment: stores.environment,
        addresses,
        vaults,
        wallets,
        balances,
        deposits,
        address_book,
        transfers,
        withdrawals,
        events: EventService::new(stores.events.clone()),
        simulation,
        webhooks,
        idempotency: stores.idempotency,
        provider_name,
    }
}

/// Shared handle.
pub type DynServiceGraph = Arc<ServiceGraph>;
