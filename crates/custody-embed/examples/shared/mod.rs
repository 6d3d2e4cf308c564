//! The money flow both store examples run (`embedded_sqlite`, `embedded_postgres`): only the
//! store URL differs between them.

use std::error::Error;
use std::time::Duration;

use custody_embed::core::asset::{AssetId, Network};
use custody_embed::core::environment::Environment;
use custody_embed::core::event::EventLogQuery;
use custody_embed::core::id::WalletId;
use custody_embed::core::ports::Settlement;
use custody_embed::core::services::{
    DepositTarget, NewAddressBookEntry, NewVault, SimulateDeposit, TransferCommand, WithdrawCommand,
};
use custody_embed::core::text::{Label, VaultName};
use custody_embed::core::transaction::TransactionStatus;
use custody_embed::core::wallet::Balances;
use custody_embed::{ChainConfig, Custody, NetworkTiming, WorkerOptions};

/// What the flow ends with, printed by the examples and asserted by their test.
#[derive(Debug)]
pub struct Report {
    /// Alice's wallet: deposited 100, sent 25 to Bob, withdrew 10.
    pub alice: Balances,
    /// Bob's wallet: received 25.
    pub bob: Balances,
    /// The withdrawal's final status.
    pub withdrawal: TransactionStatus,
    /// Whether each wallet's balances equal a replay of its ledger entries.
    pub ledger_matches: bool,
    /// The events the tenant's log holds, by type (`vault.created`, …).
    pub events: Vec<String>,
}

/// A sandbox chain that settles in well under a second (the default takes about 10 s).
pub fn fast_chain() -> ChainConfig {
    let mut chain = ChainConfig::new(Duration::from_millis(50), Duration::from_millis(50));
    if let Ok(timing) = NetworkTiming::new(Duration::from_millis(20), 2) {
        chain.set_network(Network::Ethereum, timing);
    }
    chain
}

/// Creates a tenant and two vaults, mints an address, simulates a deposit, transfers,
/// withdraws (the workers, spawned on this runtime, take it to the end), and reads the
/// ledger-backed balances.
pub async fn run(custody: &Custody) -> Result<Report, Box<dyn Error>> {
    let usdt = AssetId::parse("USDT_ETHEREUM")?;
    let tenant = custody.admin().create_tenant("Acme Wallets").await?;
    let caller = custody.caller(tenant.id, Environment::Sandbox);
    let sandbox = custody.sandbox();

    // A vault per end customer, a wallet per asset; a wallet comes with its primary deposit
    // address, minted by the environment's provider.
    let mut wallets: Vec<WalletId> = Vec::new();
    for name in ["Alice", "Bob"] {
        let vault = sandbox
            .vaults
            .create(
                &caller,
                NewVault {
                    external_ref: None,
                    name: VaultName::parse(name)?,
                    metadata: Default::default(),
                },
                None,
            )
            .await?;
        let wallet = sandbox
            .wallets
            .create(&caller, vault.id, usdt, None, None)
            .await?
            .value;
        println!(
            "{name}: vault {} wallet {} deposit address {}",
            vault.id, wallet.wallet.id, wallet.deposit_address.address
        );
        wallets.push(wallet.wallet.id);
    }
    let (alice, bob) = (wallets[0], wallets[1]);

    // Money in: a simulated deposit, already final.
    let simulation = sandbox
        .simulation
        .as_ref()
        .ok_or("the sandbox graph always simulates")?;
    let deposit = simulation
        .simulate_deposit(
            &caller,
            SimulateDeposit {
                target: DepositTarget::Wallet(alice),
                amount: "100".into(),
                settlement: Settlement::Instant,
            },
            None,
        )
        .await?;
    println!("deposit {} {:?}", deposit.id, deposit.status);

    // Internal transfer: off-chain, one commit.
    let transfer = sandbox
        .transfers
        .transfer(
            &caller,
            TransferCommand {
                from: alice,
                to: bob,
                amount: "25".into(),
                reference: None,
            },
            None,
        )
        .await?;
    println!("transfer {} {:?}", transfer.id, transfer.status);

    // Withdrawal to an allow-listed address: recorded and held now, sent by the worker.
    let entry = sandbox
        .address_book
        .create(
            &caller,
            NewAddressBookEntry {
                network: Network::Ethereum,
                address: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".into(),
                label: Label::parse("Treasury cold wallet")?,
                asset: Some(usdt),
            },
            None,
        )
        .await?;
    let withdrawal = sandbox
        .withdrawals
        .submit(
            &caller,
            WithdrawCommand {
                from: alice,
                destination: entry.id,
                amount: "10".into(),
                reference: None,
            },
            None,
        )
        .await?;
    println!("withdrawal {} {:?}", withdrawal.id, withdrawal.status);

    // The workers run as tasks of this (the host's) runtime until stopped.
    let workers = custody.spawn_workers(
        WorkerOptions::default()
            .poll_every(Duration::from_millis(20))
            .without_webhooks(),
    );
    let mut status = withdrawal.status;
    for _ in 0..3_000 {
        status = sandbox
            .withdrawals
            .get(&caller, withdrawal.id)
            .await?
            .status;
        if status.is_terminal() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    workers.stop(Duration::from_secs(5)).await;
    println!("withdrawal {} {status:?}", withdrawal.id);

    // Balances are materialised on the wallet and kept equal to the ledger's replay.
    let mut ledger_matches = true;
    let mut balances = Vec::new();
    for id in [alice, bob] {
        let wallet = sandbox.wallets.get(&caller, id).await?;
        let check = sandbox.wallets.reconcile(&caller, id).await?;
        ledger_matches &= check.is_consistent();
        let decimals = wallet.asset.decimals();
        println!(
            "wallet {id}: available {} pending {} held {} {} (ledger agrees: {})",
            wallet.balances.available.to_decimal_string(decimals),
            wallet.balances.pending.to_decimal_string(decimals),
            wallet.balances.held.to_decimal_string(decimals),
            wallet.asset,
            check.is_consistent()
        );
        balances.push(wallet.balances);
    }

    let log = sandbox
        .events
        .log(
            &caller,
            &EventLogQuery {
                after: None,
                types: Vec::new(),
                limit: 200,
            },
        )
        .await?;
    let events = log
        .items
        .iter()
        .map(|logged| logged.event.event_type.to_string())
        .collect();
    Ok(Report {
        alice: balances[0],
        bob: balances[1],
        withdrawal: status,
        ledger_matches,
        events,
    })
}
