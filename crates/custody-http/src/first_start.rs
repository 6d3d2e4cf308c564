//! The first start on an empty store: a sandbox tenant and key are created so a partner can
//! try the API at once, and the banner shows them (the key only this once).

use std::net::SocketAddr;

use custody_core::api_key::{IpAllowList, KeyMode, ScopeSet};
use custody_core::environment::Environment;
use custody_core::page::PageRequest;
use custody_core::ports::{DynClock, DynIdGenerator, SharedStores};
use custody_core::services::{AdminService, MintedKey, NewKey};
use custody_core::tenant::Tenant;

/// What a first start on an empty store created.
pub struct Bootstrap {
    pub tenant: Tenant,
    /// Its bearer sandbox key (shown once).
    pub key: MintedKey,
}

/// On an empty store (no tenant at all), creates a sandbox tenant with every asset enabled
/// and a bearer sandbox key with every scope a bearer key may hold (all but the money-moving
/// ones, which only signed keys hold). Returns `None` when tenants exist.
///
/// # Errors
/// Store errors.
pub async fn bootstrap(
    shared: &SharedStores,
    clock: DynClock,
    ids: DynIdGenerator,
) -> anyhow::Result<Option<Bootstrap>> {
    let admin = AdminService::new(shared.tenants.clone(), shared.api_keys.clone(), clock, ids);
    let first = PageRequest::new(Some(1), None, None).map_err(|e| anyhow::anyhow!("{e}"))?;
    if !admin.list_tenants(first).await?.items.is_empty() {
        return Ok(None);
    }
    let tenant = admin.create_tenant("Sandbox tenant").await?;
    let key = admin
        .mint_key(NewKey {
            tenant_id: tenant.id,
            environment: Environment::Sandbox,
            mode: KeyMode::Bearer,
            // Empty: every scope a bearer key may hold.
            scopes: ScopeSet::empty(),
            allowed_ips: IpAllowList::allow_all(),
            ed25519_public_key: None,
        })
        .await?;
    Ok(Some(Bootstrap { tenant, key }))
}

/// Prints the tenant, its key and a first request to try, on stdout.
pub fn print_banner(first: &Bootstrap, addr: Option<SocketAddr>) {
    let base = addr.map_or_else(
        || "http://127.0.0.1:8080".to_owned(),
        |a| format!("http://{a}"),
    );
    println!(
        "\ncustody: first start on an empty store: created a sandbox tenant.\n\
         \n  tenant id:       {}\n  sandbox API key: {}   (bearer mode, shown once; every scope but the money-moving \
         ones: transfers, withdrawals, address book and webhooks need a signed key)\n\
         \nTry it:\n  curl -s -X POST {base}/connect/v1/addresses \\\n    \
         -H 'Authorization: Bearer {}' -H 'Idempotency-Key: first-try' \\\n    \
         -H 'Content-Type: application/json' -d '{{\"asset\":\"USDT\",\"network\":\"ethereum\",\"external_ref\":\"user-1\"}}'\n\
         \nMint more keys with `custody admin key mint --tenant {} --env sandbox --mode bearer`;\n\
         to move money, mint a signed one: `--mode hmac` (Platform) or `--mode ed25519` (Accounts).\n",
        first.tenant.id, first.key.key, first.key.key, first.tenant.id
    );
}
