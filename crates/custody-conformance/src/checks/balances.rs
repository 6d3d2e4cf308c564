//! Tenant-wide balances summed in the store (issue 18).

use std::collections::BTreeMap;

use custody_core::amount::Amount;
use custody_core::asset::AssetId;
use custody_core::page::MAX_LIMIT;
use custody_core::ports::{StoreError, WalletFilter, WalletStore};
use custody_core::wallet::Wallet;

use crate::fixtures::*;
use crate::StoreHandles;

/// The per-wallet sum the balance report used to compute, paging through `list`.
async fn summed_by_paging(
    store: &dyn WalletStore,
    tenant: custody_core::id::TenantId,
    vault: Option<custody_core::id::VaultId>,
) -> Vec<(AssetId, Amount)> {
    let filter = WalletFilter {
        vault_id: vault,
        asset: None,
    };
    let mut sums: BTreeMap<AssetId, Amount> = BTreeMap::new();
    let mut after = None;
    loop {
        let batch = store
            .list(tenant, &filter, page(MAX_LIMIT, after, None))
            .await
            .expect("list");
        for w in &batch.items {
            let sum = sums.entry(w.asset).or_insert(Amount::ZERO);
            *sum = sum.checked_add(w.balances.available).expect("fits");
        }
        match (batch.has_more, batch.items.last()) {
            (true, Some(last)) => after = Some(last.id.ulid()),
            _ => break,
        }
    }
    sums.into_iter().collect()
}

fn funded(vault: &custody_core::vault::Vault, asset: AssetId, n: u64, units: u128) -> Wallet {
    let mut w = wallet(vault, asset, n);
    w.balances.available = Amount::from_base_units(units);
    // Other buckets are not part of the sum.
    w.balances.pending = Amount::from_base_units(units / 3 + 1);
    w.balances.held = Amount::from_base_units(7);
    w
}

/// `WalletStore::available_by_asset`: exact per-asset sums of the available balances, of the
/// tenant only, of one vault when asked, equal to summing wallet by wallet over a varied data
/// set (small amounts, amounts beyond 2⁶⁴ whose parts carry, `u128::MAX` alone, a zero line);
/// a sum beyond `u128` is an error, never a rounded number.
pub async fn wallets_available_by_asset_sums_exactly(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let c = seed_tenant(&stores, 3).await;

    // Tenant a: 16 vaults × up to 4 assets, amounts from a fixed pseudo-random sequence over
    // every magnitude from 1 digit to 30.
    let assets = [usdt_eth(), usdc_sol(), usdc_base(), usdc_sui()];
    let vaults: Vec<_> = (0..16).map(|n| customer_vault(a, 100 + n)).collect();
    commit_vaults(env, &vaults.iter().collect::<Vec<_>>()).await;
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut wallets = Vec::new();
    let mut n = 1000;
    for vault in &vaults {
        for asset in &assets {
            if next() % 5 == 0 {
                continue;
            }
            let digits = u32::try_from(next() % 30).expect("small") + 1;
            let units = u128::from(next()) * u128::from(next()) % 10u128.pow(digits);
            wallets.push(funded(vault, *asset, n, units));
            n += 1;
        }
    }
    // Parts that carry: 9_999_999_999 (ten nines, a full lowest part) twice, and two amounts
    // beyond 2^64 in one asset's vaults.
    let big = customer_vault(a, 200);
    let big2 = customer_vault(a, 201);
    commit_vaults(env, &[&big, &big2]).await;
    let usdc_eth_units = [9_999_999_999_u128, 9_999_999_999_u128];
    wallets.push(funded(&big, usdc_eth(), 2000, usdc_eth_units[0]));
    wallets.push(funded(&big2, usdc_eth(), 2001, usdc_eth_units[1]));
    let beyond = u128::from(u64::MAX) * 1_000_003 + 99;
    let treasury = treasury_vault(a, 202);
    commit_vaults(env, &[&treasury]).await;
    wallets.push(funded(&treasury, usdt_eth(), 2002, beyond));
    wallets.push(funded(&big, usdt_eth(), 2003, beyond));
    for w in &wallets {
        commit_wallets(env, &[w]).await;
    }
    // Tenant b's wallets are never part of a's sums.
    let vb = customer_vault(b, 300);
    commit_vaults(env, &[&vb]).await;
    commit_wallets(env, &[&funded(&vb, usdt_eth(), 3000, 5)]).await;

    let store = env.wallets.clone();
    let sums = store.available_by_asset(a, None).await.expect("sums");
    let mut expected: BTreeMap<AssetId, u128> = BTreeMap::new();
    for w in &wallets {
        *expected.entry(w.asset).or_default() += w.balances.available.base_units();
    }
    let expected: Vec<(AssetId, Amount)> = expected
        .into_iter()
        .map(|(asset, units)| (asset, Amount::from_base_units(units)))
        .collect();
    assert_eq!(sums, expected, "tenant-wide sums, exact, in asset order");
    assert_eq!(
        sums,
        summed_by_paging(store.as_ref(), a, None).await,
        "the same as summing wallet by wallet"
    );
    assert!(
        sums.iter()
            .any(|(_, amount)| amount.base_units() > u128::from(u64::MAX)),
        "the data set has a sum beyond 2^64"
    );

    // One vault; a vault whose only wallet holds nothing reports a zero line.
    for vault in vaults.iter().chain([&big, &treasury]) {
        assert_eq!(
            store
                .available_by_asset(a, Some(vault.id))
                .await
                .expect("vault sums"),
            summed_by_paging(store.as_ref(), a, Some(vault.id)).await,
            "vault {}",
            vault.id
        );
    }
    let empty = customer_vault(a, 203);
    commit_vaults(env, &[&empty]).await;
    assert_eq!(
        store
            .available_by_asset(a, Some(empty.id))
            .await
            .expect("no wallets"),
        Vec::new()
    );
    commit_wallets(env, &[&funded(&empty, usdc_sol(), 2004, 0)]).await;
    assert_eq!(
        store
            .available_by_asset(a, Some(empty.id))
            .await
            .expect("zero"),
        vec![(usdc_sol(), Amount::ZERO)]
    );
    // Another tenant's vault reads as nothing.
    assert_eq!(
        store
            .available_by_asset(b, Some(big.id))
            .await
            .expect("foreign vault"),
        Vec::new()
    );
    // The other environment sees none of it.
    assert_eq!(
        stores
            .live
            .wallets
            .available_by_asset(a, None)
            .await
            .expect("live"),
        Vec::new()
    );

    // u128::MAX alone is exact; twice is an error, not a rounded number.
    let vc = customer_vault(c, 400);
    let vc2 = customer_vault(c, 401);
    commit_vaults(env, &[&vc, &vc2]).await;
    commit_wallets(env, &[&funded(&vc, usdt_eth(), 4000, u128::MAX)]).await;
    assert_eq!(
        store.available_by_asset(c, None).await.expect("max"),
        vec![(usdt_eth(), Amount::from_base_units(u128::MAX))]
    );
    commit_wallets(env, &[&funded(&vc2, usdt_eth(), 4001, 1)]).await;
    assert!(
        matches!(
            store.available_by_asset(c, None).await,
            Err(StoreError::Internal(_))
        ),
        "a sum beyond u128 is an error"
    );
}
