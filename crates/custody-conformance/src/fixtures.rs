//! Builders for domain values used by the checks, and the small helpers every check shares.
//!
//! Times are whole microseconds with a non-zero microsecond part (what both stores keep, and
//! enough to catch a store that truncates to milliseconds or seconds); ids come from fixed
//! ULIDs whose order follows their number, so failures are reproducible and list order is
//! predictable.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;

use custody_core::address_book::{AddressBookEntry, EntryStatus};
use custody_core::amount::Amount;
use custody_core::api_key::{hash_key, key_hint, ApiKey, IpAllowList, KeyMode, Scope, ScopeSet};
pub use custody_core::asset::EnabledAssets;
use custody_core::asset::{AssetId, Network};
use custody_core::chain_address::ChainAddress;
use custody_core::deposit_address::{AddressStatus, DepositAddress, ProviderRef};
use custody_core::environment::Environment;
use custody_core::event::{Event, EventType, Subject};
use custody_core::id::{
    AddressBookEntryId, AddressId, ApiKeyId, DeliveryId, EventId, TenantId, TransactionId, VaultId,
    WalletId,
};
use custody_core::idempotency::{Fingerprint, IdempotencyKey, ReservationToken, StoredResponse};
use custody_core::instance::InstanceId;
use custody_core::page::{Page, PageRequest};
use custody_core::ports::{
    EnvironmentStores, Reservation, SharedStores, StoreError, TransactionFilter,
};
use custody_core::tenant::{Tenant, TenantStatus};
use custody_core::text::{ExternalRef, Label, Metadata, VaultName};
use custody_core::transaction::{Confirmations, NewTransaction, Transaction, TransactionKind};
use custody_core::vault::{Vault, VaultKind, VaultStatus};
use custody_core::wallet::{Balances, Wallet, WalletStatus};
use time::OffsetDateTime;
use ulid::Ulid;

use crate::StoreHandles;

/// Unix seconds of the fixture epoch, 2023-11-14T22:13:20Z.
pub const EPOCH_SECS: i64 = 1_700_000_000;

/// Milliseconds of the fixture epoch: the timestamp part of fixture ids.
pub const EPOCH_MS: u64 = 1_700_000_000_000;

/// The microsecond part of every fixture instant: a store that keeps only milliseconds (or
/// seconds) loses it and fails the round trip.
pub const MICROS: i64 = 123_456;

/// A fixed instant: 2023-11-14T22:13:20.123456Z plus `seconds`.
pub fn at(seconds: i64) -> OffsetDateTime {
    let nanos = i128::from(EPOCH_SECS + seconds) * 1_000_000_000 + i128::from(MICROS) * 1_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).expect("fixture instant in range")
}

/// A ULID whose order follows `n`.
pub fn ulid(n: u64) -> Ulid {
    Ulid::from_parts(EPOCH_MS + n, u128::from(n))
}

/// The tenant id numbered `n`.
pub fn tenant_id(n: u64) -> TenantId {
    TenantId::from_ulid(ulid(n))
}
/// The API key id numbered `n`.
pub fn api_key_id(n: u64) -> ApiKeyId {
    ApiKeyId::from_ulid(ulid(n))
}
/// The vault id numbered `n`.
pub fn vault_id(n: u64) -> VaultId {
    VaultId::from_ulid(ulid(n))
}
/// The wallet id numbered `n`.
pub fn wallet_id(n: u64) -> WalletId {
    WalletId::from_ulid(ulid(n))
}
/// The address id numbered `n`.
pub fn address_id(n: u64) -> AddressId {
    AddressId::from_ulid(ulid(n))
}
/// The transaction id numbered `n`.
pub fn transaction_id(n: u64) -> TransactionId {
    TransactionId::from_ulid(ulid(n))
}
/// The address-book entry id numbered `n`.
pub fn entry_id(n: u64) -> AddressBookEntryId {
    AddressBookEntryId::from_ulid(ulid(n))
}
/// The event id numbered `n`.
pub fn event_id(n: u64) -> EventId {
    EventId::from_ulid(ulid(n))
}
/// The delivery attempt id numbered `n`.
pub fn delivery_id(n: u64) -> DeliveryId {
    DeliveryId::from_ulid(ulid(n))
}

/// An asset by code, e.g. `USDT_ETHEREUM`.
pub fn asset(code: &str) -> AssetId {
    AssetId::parse(code).expect("fixture asset is in the catalogue")
}
/// `USDT_ETHEREUM`.
pub fn usdt_eth() -> AssetId {
    asset("USDT_ETHEREUM")
}
/// `USDC_ETHEREUM`.
pub fn usdc_eth() -> AssetId {
    asset("USDC_ETHEREUM")
}
/// `USDC_SOLANA`.
pub fn usdc_sol() -> AssetId {
    asset("USDC_SOLANA")
}
/// `USDC_BASE`.
pub fn usdc_base() -> AssetId {
    asset("USDC_BASE")
}
/// `USDC_SUI`.
pub fn usdc_sui() -> AssetId {
    asset("USDC_SUI")
}

/// Base units.
pub fn amount(units: u128) -> Amount {
    Amount::from_base_units(units)
}

/// A pending tenant.
pub fn tenant(n: u64) -> Tenant {
    Tenant {
        id: tenant_id(n),
        name: format!("Tenant {n} · Zürich"),
        status: TenantStatus::Pending,
        created_at: at(i64::try_from(n).expect("small fixture number")),
    }
}

/// Inserts tenant `n` with every asset enabled in both environments.
pub async fn seed_tenant(stores: &StoreHandles, n: u64) -> TenantId {
    insert_tenant(&stores.shared, n).await
}

/// [`seed_tenant`] through the shared handles alone (for tests that hold no [`StoreHandles`]).
pub async fn insert_tenant(shared: &SharedStores, n: u64) -> TenantId {
    let t = tenant(n);
    shared
        .tenants
        .insert(&t, &EnabledAssets::all(), &EnabledAssets::all())
        .await
        .expect("insert fixture tenant");
    t.id
}

fn seconds(n: u64) -> i64 {
    i64::try_from(n % 100_000).expect("small")
}

/// A customer vault with external reference `cust-{n}`, name and metadata, version 1.
pub fn customer_vault(tenant: TenantId, n: u64) -> Vault {
    Vault {
        id: vault_id(n),
        tenant_id: tenant,
        kind: VaultKind::Customer,
        external_ref: Some(external_ref(&format!("cust-{n}"))),
        name: VaultName::parse(format!("Vault {n} – Ünïcode")).expect("valid name"),
        metadata: Metadata::parse(BTreeMap::from([
            ("n".to_owned(), n.to_string()),
            ("city".to_owned(), "Zürich".to_owned()),
        ]))
        .expect("valid metadata"),
        status: VaultStatus::Active,
        version: 1,
        created_at: at(seconds(n)),
        updated_at: at(seconds(n)),
    }
}

/// The tenant's treasury vault, version 1.
pub fn treasury_vault(tenant: TenantId, n: u64) -> Vault {
    Vault {
        kind: VaultKind::Treasury,
        external_ref: None,
        name: VaultName::default(),
        metadata: Metadata::default(),
        ..customer_vault(tenant, n)
    }
}

/// An external reference.
pub fn external_ref(s: &str) -> ExternalRef {
    ExternalRef::parse(s).expect("valid external ref")
}

/// A label.
pub fn label(s: &str) -> Label {
    Label::parse(s).expect("valid label")
}

/// An empty active wallet of `vault` for `asset`, version 1.
pub fn wallet(vault: &Vault, asset: AssetId, n: u64) -> Wallet {
    Wallet {
        id: wallet_id(n),
        tenant_id: vault.tenant_id,
        vault_id: vault.id,
        asset,
        label: Some(label(&format!("wallet {n}"))),
        status: WalletStatus::Active,
        balances: Balances::default(),
        version: 1,
        created_at: at(seconds(n)),
        updated_at: at(seconds(n)),
    }
}

/// Balances from three base-unit counts.
pub fn balances(available: u128, pending: u128, held: u128) -> Balances {
    Balances {
        available: amount(available),
        pending: amount(pending),
        held: amount(held),
    }
}

/// splitmix64: deterministic bytes from a seed.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `N` deterministic bytes from a seed.
pub fn seeded_bytes<const N: usize>(seed: u64) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let word = mix(seed.wrapping_mul(31).wrapping_add(i as u64)).to_be_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
    out
}

/// A deterministic, valid on-chain address of `network`, different for every seed.
pub fn chain_address(network: Network, seed: u64) -> ChainAddress {
    match network {
        Network::Solana => ChainAddress::from_solana_bytes(seeded_bytes(seed)),
        Network::Sui => ChainAddress::from_sui_bytes(seeded_bytes(seed)),
        evm => ChainAddress::from_evm_bytes(evm, seeded_bytes(seed)).expect("EVM network"),
    }
}

/// An active deposit address of `wallet` with id `n`, on-chain address from seed `n`, primary
/// when `index` is 0.
pub fn deposit_address(wallet: &Wallet, n: u64, index: u32) -> DepositAddress {
    DepositAddress {
        id: address_id(n),
        tenant_id: wallet.tenant_id,
        vault_id: wallet.vault_id,
        wallet_id: wallet.id,
        asset: wallet.asset,
        address: chain_address(wallet.asset.network(), n),
        label: if index == 0 {
            None
        } else {
            Some(label(&format!("extra {index}")))
        },
        is_primary: index == 0,
        derivation_index: index,
        provider: ProviderRef {
            provider: "sandbox".to_owned(),
            reference: if index % 2 == 0 {
                Some(format!("prov-addr-{n}"))
            } else {
                None
            },
        },
        status: AddressStatus::Active,
        version: 1,
        created_at: at(seconds(n)),
        updated_at: at(seconds(n)),
    }
}

/// A new transaction (as `Transaction::new` builds it) of `kind`, created at `at(n)`.
pub fn transaction(
    tenant: TenantId,
    n: u64,
    kind: TransactionKind,
    asset: AssetId,
    units: u128,
    source: Option<WalletId>,
    destination: Option<WalletId>,
) -> Transaction {
    Transaction::new(
        NewTransaction {
            id: transaction_id(n),
            tenant_id: tenant,
            kind,
            asset,
            amount: amount(units),
            source_wallet_id: source,
            destination_wallet_id: destination,
            reference: Some(label(&format!("ref {n}"))),
        },
        at(seconds(n)),
    )
}

/// An active address-book entry of `tenant` on `network`, address from `seed`.
pub fn address_book_entry(
    tenant: TenantId,
    n: u64,
    network: Network,
    seed: u64,
    asset: Option<AssetId>,
) -> AddressBookEntry {
    AddressBookEntry {
        id: entry_id(n),
        tenant_id: tenant,
        network,
        address: chain_address(network, seed),
        label: label(&format!("payee {n}")),
        asset,
        status: EntryStatus::Active,
        version: 1,
        created_at: at(seconds(n)),
        deleted_at: None,
        activates_at: at(seconds(n)),
    }
}

/// A `vault.status.updated` event about `vault`, with previous attributes, created at `at(n)`.
pub fn vault_event(n: u64, vault: &Vault) -> Event {
    event_about(
        event_id(n),
        vault.tenant_id,
        EventType::VaultStatusUpdated,
        Subject::Vault(vault),
        Some(
            serde_json::json!({ "status": "Frozen", "nested": { "n": n, "list": [1, "two", null] } }),
        ),
        at(seconds(n)),
    )
}

/// An event about `subject` as a store sees it: any JSON snapshot (the domain's serialisation
/// here; the store stores whatever it is given) and any previous attributes.
pub fn event_about(
    id: EventId,
    tenant: TenantId,
    event_type: EventType,
    subject: Subject<'_>,
    previous_attributes: Option<serde_json::Value>,
    created_at: OffsetDateTime,
) -> Event {
    let mut event = Event::new(
        id,
        tenant,
        event_type,
        subject,
        None,
        created_at,
        &custody_core::event::DomainSnapshots,
    )
    .expect("snapshot renders");
    event.previous_attributes = previous_attributes;
    event
}

/// A `wallet.created` event about `wallet` (no previous attributes), created at `at(n)`.
pub fn wallet_event(n: u64, wallet: &Wallet) -> Event {
    event_about(
        event_id(n),
        wallet.tenant_id,
        EventType::WalletCreated,
        Subject::Wallet {
            wallet,
            deposit_address: None,
        },
        None,
        at(seconds(n)),
    )
}

/// An idempotency key.
pub fn idem_key(raw: &str) -> IdempotencyKey {
    IdempotencyKey::parse(raw.as_bytes()).expect("valid idempotency key")
}

/// The token of a reservation made at `now` (a fixture instant: whole microseconds, so as
/// stored) by `owner`.
pub fn token(now: OffsetDateTime, owner: Option<&InstanceId>) -> ReservationToken {
    ReservationToken {
        reserved_at: now,
        owner: owner.cloned(),
    }
}

/// What `reserve` answers to the reservation made at `now` by `owner` when it wins.
pub fn reserved(now: OffsetDateTime, owner: Option<&InstanceId>) -> Reservation {
    Reservation::Reserved(token(now, owner))
}

/// A fingerprint varied by `n`.
pub fn fingerprint(n: u8) -> Fingerprint {
    Fingerprint::of("POST", &format!("/v1/things?n={n}"), b"{\"a\":1}")
}

/// A stored response with headers in a deliberate, non-sorted order (one name repeated) and a
/// body that is not UTF-8.
pub fn stored_response(n: u8) -> StoredResponse {
    StoredResponse {
        status: 201,
        headers: vec![
            ("location".to_owned(), format!("/v1/things/{n}")),
            ("content-type".to_owned(), "application/json".to_owned()),
            ("x-b".to_owned(), "2".to_owned()),
            ("x-a".to_owned(), "1".to_owned()),
            ("x-a".to_owned(), "0".to_owned()),
        ],
        body: vec![b'{', 0x00, 0xff, 0xfe, n, b'}', b'\n'],
    }
}

/// An API key record of `tenant` in `env`, with key string derived from `n`.
pub fn api_key(tenant: TenantId, n: u64, env: Environment, mode: KeyMode) -> ApiKey {
    let key = custody_core::api_key::format_key(env, &seeded_bytes(n));
    ApiKey {
        id: api_key_id(n),
        tenant_id: tenant,
        environment: env,
        mode,
        scopes: [Scope::VaultsRead, Scope::TransfersWrite, Scope::WebhooksWrite]
            .into_iter()
            .collect::<ScopeSet>(),
        allowed_ips: IpAllowList::parse(["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"])
            .expect("valid allow-list"),
        key_hash: hash_key(&key),
        key_hint: key_hint(&key),
        ed25519_public_key: (mode == KeyMode::Ed25519).then(|| {
            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n".to_owned()
        }),
        created_at: at(seconds(n)),
        expires_at: None,
        revoked_at: None,
        replaced_by: None,
    }
}

// --- writing through a unit of work ------------------------------------------------------

/// Inserts vaults in one committed transaction.
pub async fn commit_vaults(env: &EnvironmentStores, vaults: &[&Vault]) {
    let mut tx = env.uow.begin().await.expect("begin");
    for v in vaults {
        tx.insert_vault(v).await.expect("insert vault");
    }
    tx.commit().await.expect("commit vaults");
}

/// Inserts wallets in one committed transaction.
pub async fn commit_wallets(env: &EnvironmentStores, wallets: &[&Wallet]) {
    let mut tx = env.uow.begin().await.expect("begin");
    for w in wallets {
        tx.insert_wallet(w).await.expect("insert wallet");
    }
    tx.commit().await.expect("commit wallets");
}

/// Inserts deposit addresses in one committed transaction.
pub async fn commit_addresses(env: &EnvironmentStores, addresses: &[&DepositAddress]) {
    let mut tx = env.uow.begin().await.expect("begin");
    for a in addresses {
        tx.insert_address(a).await.expect("insert address");
    }
    tx.commit().await.expect("commit addresses");
}

/// Inserts transactions in one committed transaction.
pub async fn commit_transactions(env: &EnvironmentStores, transactions: &[&Transaction]) {
    let mut tx = env.uow.begin().await.expect("begin");
    for t in transactions {
        tx.insert_transaction(t).await.expect("insert transaction");
    }
    tx.commit().await.expect("commit transactions");
}

/// Inserts address-book entries in one committed transaction.
pub async fn commit_entries(env: &EnvironmentStores, entries: &[&AddressBookEntry]) {
    let mut tx = env.uow.begin().await.expect("begin");
    for e in entries {
        tx.insert_address_book_entry(e)
            .await
            .expect("insert address-book entry");
    }
    tx.commit().await.expect("commit entries");
}

/// Appends events in one committed transaction.
pub async fn commit_events(env: &EnvironmentStores, events: &[&Event]) {
    let mut tx = env.uow.begin().await.expect("begin");
    for e in events {
        tx.append_event(e).await.expect("append event");
    }
    tx.commit().await.expect("commit events");
}

/// Saves a wallet in one committed transaction.
pub async fn commit_wallet_update(env: &EnvironmentStores, wallet: &Wallet) {
    let mut tx = env.uow.begin().await.expect("begin");
    tx.update_wallet(wallet).await.expect("update wallet");
    tx.commit().await.expect("commit wallet update");
}

/// A tenant with one customer vault and one USDT-on-Ethereum wallet in `env`, committed.
pub struct Basics {
    /// The tenant.
    pub tenant: TenantId,
    /// Its vault.
    pub vault: Vault,
    /// The vault's wallet.
    pub wallet: Wallet,
}

/// Builds [`Basics`] with ids from `n` (vault `n`, wallet `n + 1`); the tenant must exist.
pub async fn seed_basics(env: &EnvironmentStores, tenant: TenantId, n: u64) -> Basics {
    let vault = customer_vault(tenant, n);
    let wallet = wallet(&vault, usdt_eth(), n + 1);
    commit_vaults(env, &[&vault]).await;
    commit_wallets(env, &[&wallet]).await;
    Basics {
        tenant,
        vault,
        wallet,
    }
}

/// Commits customer vault `n` of `tenant` and, in it, one wallet per `(asset, balances)`,
/// numbered `n + 1`, `n + 2`, … (leave room between two calls' `n`); the wallets, in that order.
/// A wallet inserted with an available balance counts in its tenant's total.
pub async fn seed_wallets(
    env: &EnvironmentStores,
    tenant: TenantId,
    n: u64,
    wallets: &[(AssetId, Balances)],
) -> Vec<Wallet> {
    let vault = customer_vault(tenant, n);
    commit_vaults(env, &[&vault]).await;
    let wallets: Vec<Wallet> = (n + 1..)
        .zip(wallets)
        .map(|(number, (asset, balances))| Wallet {
            balances: *balances,
            ..wallet(&vault, *asset, number)
        })
        .collect();
    commit_wallets(env, &wallets.iter().collect::<Vec<_>>()).await;
    wallets
}

// --- the tenant-wide totals ---------------------------------------------------------------

/// The tenant-wide available balances of `tenant` (`WalletStore::available_by_asset` without a
/// vault): one line per asset it has a wallet for, in asset order.
pub async fn tenant_wide(env: &EnvironmentStores, tenant: TenantId) -> Vec<(AssetId, Amount)> {
    env.wallets
        .available_by_asset(tenant, None)
        .await
        .expect("tenant-wide")
}

/// One tenant's tenant-wide balances in one environment, as [`seed_totals_data`] seeded them.
pub struct SeededTotals<'a> {
    /// The tenant.
    pub tenant: TenantId,
    /// The environment's handles.
    pub env: &'a EnvironmentStores,
    /// What [`tenant_wide`] must answer.
    pub sums: Vec<(AssetId, Amount)>,
}

/// Wallets in two tenants (1 and 2, inserted here) and both environments, over several
/// assets, with amounts beyond 2^64 (whose parts carry, on a store that adds them in parts),
/// `u128::MAX` alone and a zero wallet, each in a vault of its own: the tenant-wide sums they
/// should give.
pub async fn seed_totals_data<'a>(
    shared: &SharedStores,
    sandbox: &'a EnvironmentStores,
    live: &'a EnvironmentStores,
) -> Vec<SeededTotals<'a>> {
    let a = insert_tenant(shared, 1).await;
    let b = insert_tenant(shared, 2).await;
    let big = u128::from(u64::MAX) * 1_000_003 + 99;
    let mut n = 1000;
    let mut seeded = Vec::new();
    for (tenant, env, wallets) in [
        (
            a,
            sandbox,
            vec![
                (usdt_eth(), 9_999_999_999_u128),
                (usdt_eth(), 9_999_999_999),
                (usdt_eth(), big),
                (usdc_sol(), 0),
                (usdc_base(), 17),
            ],
        ),
        (a, live, vec![(usdt_eth(), 5)]),
        (b, sandbox, vec![(usdt_eth(), u128::MAX), (usdc_sol(), 1)]),
    ] {
        let mut sums: BTreeMap<AssetId, u128> = BTreeMap::new();
        for (asset, units) in wallets {
            n += 2;
            seed_wallets(env, tenant, n, &[(asset, balances(units, 3, 4))]).await;
            *sums.entry(asset).or_default() += units;
        }
        seeded.push(SeededTotals {
            tenant,
            env,
            sums: sums
                .into_iter()
                .map(|(asset, units)| (asset, amount(units)))
                .collect(),
        });
    }
    seeded
}

/// Asserts that [`tenant_wide`] answers each of `seeded`'s sums (`what` says when).
pub async fn assert_seeded_totals(seeded: &[SeededTotals<'_>], what: &str) {
    for s in seeded {
        assert_eq!(
            tenant_wide(s.env, s.tenant).await,
            s.sums,
            "{what}: tenant {} in {:?}",
            s.tenant,
            s.env.environment
        );
    }
}

/// The (tenant, asset) pairs of `env` whose maintained total differs from its wallets' sum,
/// as `custody admin reconcile` reports them (`ledger.totalDrift`).
pub async fn total_drift(env: &EnvironmentStores) -> usize {
    let check = custody_core::services::check_ledger(
        &env.reconcile.ledger_snapshot(None).await.expect("snapshot"),
    );
    check.total_drift.len()
}

// --- assertions -------------------------------------------------------------------------

/// Asserts `tenant`'s maintained totals equal its wallets' sums in `env` (what `custody admin
/// reconcile` reports as `ledger.totalDrift`).
pub async fn assert_no_total_drift(env: &EnvironmentStores, tenant: TenantId) {
    let check = custody_core::services::check_ledger(
        &env.reconcile
            .ledger_snapshot(Some(tenant))
            .await
            .expect("snapshot"),
    );
    assert!(check.total_drift.is_empty(), "{check:?}");
}

/// Asserts `result` is `Err(Conflict)` naming `constraint`.
#[track_caller]
pub fn assert_conflict<T: Debug>(result: Result<T, StoreError>, constraint: &str, what: &str) {
    match result {
        Err(StoreError::Conflict { constraint: c }) => {
            assert_eq!(c, constraint, "{what}: Conflict names the wrong constraint")
        }
        other => panic!("{what}: expected Conflict on `{constraint}`, got {other:?}"),
    }
}

/// Asserts `result` is `Err(Conflict)` on any constraint (where the contract names none).
#[track_caller]
pub fn assert_any_conflict<T: Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Conflict { .. }) => {}
        other => panic!("{what}: expected Conflict, got {other:?}"),
    }
}

/// Asserts `result` is `Err(NotFound)`.
#[track_caller]
pub fn assert_not_found<T: Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::NotFound) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

/// A page request.
pub fn page(limit: u32, after: Option<Ulid>, before: Option<Ulid>) -> PageRequest {
    PageRequest::new(Some(limit), after, before).expect("valid page request")
}

/// Walks a list endpoint forwards and backwards with several page sizes and checks every page
/// against `expected` (the ids the list must return, ascending): order, `has_more`, both
/// cursors, and empty pages past either end.
pub async fn check_pagination<T, F, Fut>(
    what: &str,
    expected: &[Ulid],
    id_of: impl Fn(&T) -> Ulid,
    list: F,
) where
    T: Debug,
    F: Fn(PageRequest) -> Fut,
    Fut: Future<Output = Result<Page<T>, StoreError>>,
{
    let ids = |p: &Page<T>| p.items.iter().map(&id_of).collect::<Vec<_>>();
    let all = list(page(200, None, None)).await.expect("list");
    assert_eq!(
        ids(&all),
        expected,
        "{what}: the whole list, ascending by id"
    );
    assert!(
        !all.has_more,
        "{what}: has_more on a page holding everything"
    );
    if expected.len() <= 50 {
        let default = list(PageRequest::default()).await.expect("list");
        assert_eq!(ids(&default), expected, "{what}: the default page");
        assert!(!default.has_more, "{what}: has_more on the default page");
    }
    let Some((&first, &last)) = expected.first().zip(expected.last()) else {
        return;
    };
    for limit in [1u32, 2, 3] {
        let n = limit as usize;
        // Forwards from the start, then with `After` cursors.
        let mut seen = Vec::new();
        let mut cursor = None;
        for round in 0..=expected.len() {
            let p = list(page(limit, cursor, None)).await.expect("list");
            let got = ids(&p);
            assert!(got.len() <= n, "{what}: page longer than limit {limit}");
            assert!(
                !got.is_empty(),
                "{what}: empty page (round {round}, limit {limit}, cursor {cursor:?})"
            );
            seen.extend(got.iter().copied());
            if !p.has_more {
                break;
            }
            assert_eq!(got.len(), n, "{what}: has_more on a short page");
            cursor = got.last().copied();
        }
        assert_eq!(seen, expected, "{what}: forward walk with limit {limit}");
        // Backwards with `Before` cursors from the last item: pages still list ascending.
        let mut back: Vec<Ulid> = Vec::new();
        let mut cursor = last;
        for _ in 0..=expected.len() {
            let p = list(page(limit, None, Some(cursor))).await.expect("list");
            let got = ids(&p);
            assert!(got.len() <= n, "{what}: page longer than limit {limit}");
            let mut sorted = got.clone();
            sorted.sort();
            assert_eq!(got, sorted, "{what}: a Before page must list ascending");
            back.splice(0..0, got.iter().copied());
            if !p.has_more {
                break;
            }
            assert_eq!(got.len(), n, "{what}: has_more on a short Before page");
            cursor = got[0];
        }
        assert_eq!(
            back,
            expected[..expected.len() - 1],
            "{what}: backward walk with limit {limit}"
        );
    }
    let after_last = list(page(10, Some(last), None)).await.expect("list");
    assert!(
        after_last.items.is_empty() && !after_last.has_more,
        "{what}: nothing after the last item, got {after_last:?}"
    );
    let before_first = list(page(10, None, Some(first))).await.expect("list");
    assert!(
        before_first.items.is_empty() && !before_first.has_more,
        "{what}: nothing before the first item, got {before_first:?}"
    );
}

/// The ids of a list of typed values, as ULIDs.
pub fn ulids<I: IntoIterator<Item = Ulid>>(ids: I) -> Vec<Ulid> {
    ids.into_iter().collect()
}

// ---- a world for transactions ------------------------------------------------------------

/// What transactions point at: a tenant with a vault, two wallets, a deposit address of the
/// first and an address-book entry; and another tenant with a vault and wallet.
pub(crate) struct TxWorld {
    pub a: TenantId,
    pub w1: Wallet,
    pub w2: Wallet,
    pub wb: Wallet,
    pub deposit_address: DepositAddress,
    pub entry: AddressBookEntry,
}

/// Seeds a [`TxWorld`] in `env` with ids from `base` (tenants must exist).
pub(crate) async fn seed_tx_world(
    env: &EnvironmentStores,
    a: TenantId,
    b: TenantId,
    base: u64,
) -> TxWorld {
    let vault = customer_vault(a, base);
    let vb = customer_vault(b, base + 1);
    commit_vaults(env, &[&vault, &vb]).await;
    let w1 = wallet(&vault, usdt_eth(), base + 2);
    let second_vault = customer_vault(a, base + 3);
    commit_vaults(env, &[&second_vault]).await;
    let w2 = wallet(&second_vault, usdt_eth(), base + 4);
    let wb = wallet(&vb, usdt_eth(), base + 5);
    commit_wallets(env, &[&w1, &w2, &wb]).await;
    let deposit_address = deposit_address(&w1, base + 6, 0);
    commit_addresses(env, &[&deposit_address]).await;
    let entry = address_book_entry(a, base + 7, Network::Ethereum, base + 7, Some(usdt_eth()));
    commit_entries(env, &[&entry]).await;
    TxWorld {
        a,
        w1,
        w2,
        wb,
        deposit_address,
        entry,
    }
}

/// A confirming deposit into `w.w1` with every optional field set.
pub(crate) fn full_deposit(w: &TxWorld, n: u64, provider_ref: &str) -> Transaction {
    let mut t = transaction(
        w.a,
        n,
        TransactionKind::Deposit,
        usdt_eth(),
        1_500_000,
        None,
        Some(w.w1.id),
    );
    t.deposit_address_id = Some(w.deposit_address.id);
    t.destination_address = Some(w.deposit_address.address.clone());
    t.provider_ref = Some(provider_ref.to_owned());
    t.tx_hash = Some(format!("0x{n:064x}"));
    t.confirmations = Some(Confirmations {
        seen: 3,
        required: 12,
    });
    t
}

/// A withdrawal from `w.w1` to the address-book entry.
pub(crate) fn withdrawal(w: &TxWorld, n: u64, units: u128) -> Transaction {
    let mut t = transaction(
        w.a,
        n,
        TransactionKind::Withdrawal,
        usdt_eth(),
        units,
        Some(w.w1.id),
        None,
    );
    t.address_book_entry_id = Some(w.entry.id);
    t.destination_address = Some(w.entry.address.clone());
    t
}

/// A deposit of `units` USDT into the other tenant's wallet `w.wb` (tenant `b`).
pub(crate) fn their_deposit(w: &TxWorld, b: TenantId, n: u64, units: u128) -> Transaction {
    transaction(
        b,
        n,
        TransactionKind::Deposit,
        usdt_eth(),
        units,
        None,
        Some(w.wb.id),
    )
}

/// A USDT transaction of `tenant` numbered `n`, of `100 + n` units.
pub(crate) fn usdt_transaction(
    tenant: TenantId,
    n: u64,
    kind: TransactionKind,
    source: Option<WalletId>,
    destination: Option<WalletId>,
) -> Transaction {
    transaction(
        tenant,
        n,
        kind,
        usdt_eth(),
        100 + u128::from(n),
        source,
        destination,
    )
}

/// Every transaction of `tenant` in `env` matching `filter` (one page of up to 200, id order).
pub(crate) async fn list_transactions(
    env: &EnvironmentStores,
    tenant: TenantId,
    filter: TransactionFilter,
) -> Vec<Transaction> {
    env.transactions
        .list(tenant, &filter, page(200, None, None))
        .await
        .expect("list")
        .items
}
