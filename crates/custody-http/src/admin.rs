//! `custody admin …`: operator commands over the same store as `custody serve`, printing
//! JSON on stdout. They create and migrate the store if it does not exist yet, and are safe to
//! run while the server runs: the server reads keys and tenants from the store on every
//! request, so a key minted, rotated or revoked here takes effect at once.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::{anyhow, Context as _};
use custody_core::api_key::{ApiKey, IpAllowList, KeyMode, Scope, ScopeSet};
use custody_core::asset::AssetId;
use custody_core::environment::Environment;
use custody_core::id::{ApiKeyId, TenantId};
use custody_core::page::PageRequest;
use custody_core::services::{AdminService, MintedKey, NewKey};
use custody_core::tenant::{Tenant, TenantStatus};
use serde_json::{json, Value};
use time::Duration;

use crate::cli::{AdminCommand, AssetCommand, KeyCommand, MintArgs, TenantCommand};
use crate::configuration::Settings;
use crate::startup::open_store;
use crate::system::{OsIds, SystemClock};
use crate::wire::timestamp;

/// Runs one admin command and prints its JSON result.
///
/// # Errors
/// Bad arguments, store trouble, or a refused change (with the domain's explanation).
pub async fn run(settings: &Settings, command: AdminCommand) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let shared = store.shared();
    let admin = AdminService::new(
        shared.tenants,
        shared.api_keys,
        Arc::new(SystemClock),
        Arc::new(OsIds),
    );
    let routed = settings.live.parsed_routes()?.into_keys().collect();
    let output = execute(&admin, &routed, command).await?;
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}

/// Executes a command against an admin service (separate from [`run`] for tests).
/// `live_routes` are the assets a live provider is configured for: enabling any other asset
/// for live is refused, since the server would not start with it.
///
/// # Errors
/// As [`run`].
pub async fn execute(
    admin: &AdminService,
    live_routes: &BTreeSet<AssetId>,
    command: AdminCommand,
) -> anyhow::Result<Value> {
    Ok(match command {
        AdminCommand::Tenant(TenantCommand::Create { name }) => {
            tenant_json(&admin.create_tenant(&name).await?)
        }
        AdminCommand::Tenant(TenantCommand::Approve { id }) => tenant_json(
            &admin
                .set_tenant_status(tenant_id(&id)?, TenantStatus::Approved)
                .await?,
        ),
        AdminCommand::Tenant(TenantCommand::Suspend { id }) => tenant_json(
            &admin
                .set_tenant_status(tenant_id(&id)?, TenantStatus::Suspended)
                .await?,
        ),
        AdminCommand::Tenant(TenantCommand::List) => {
            let mut items = Vec::new();
            let mut after = None;
            loop {
                let page = admin
                    .list_tenants(PageRequest::new(Some(200), after, None)?)
                    .await?;
                items.extend(page.items.iter().map(tenant_json));
                match (page.has_more, page.items.last()) {
                    (true, Some(last)) => after = Some(last.id.ulid()),
                    _ => break,
                }
            }
            json!({ "items": items })
        }
        AdminCommand::Asset(command) => {
            let (args, enabled) = match command {
                AssetCommand::Enable(args) => (args, true),
                AssetCommand::Disable(args) => (args, false),
            };
            let tenant = tenant_id(&args.tenant)?;
            let env = environment(&args.env)?;
            let asset = AssetId::parse(&args.asset_id).map_err(|e| anyhow!("{e}"))?;
            if enabled && env == Environment::Live && !live_routes.contains(&asset) {
                return Err(anyhow!(
                    "no live custody provider is configured for {asset}: add it to live.routes \
                     (docs/providers.md) before enabling it for live"
                ));
            }
            let assets = admin.set_asset(tenant, env, asset, enabled).await?;
            json!({
                "tenant": tenant.to_string(),
                "environment": env.as_str(),
                "enabledAssets": assets.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            })
        }
        AdminCommand::Key(KeyCommand::Mint(args)) => {
            minted_json(&admin.mint_key(new_key(args)?).await?)
        }
        AdminCommand::Key(KeyCommand::Rotate { key_id, grace }) => minted_json(
            &admin
                .rotate_key(api_key_id(&key_id)?, Duration::seconds(grace))
                .await?,
        ),
        AdminCommand::Key(KeyCommand::Revoke { key_id }) => {
            key_json(&admin.revoke_key(api_key_id(&key_id)?).await?)
        }
    })
}

fn new_key(args: MintArgs) -> anyhow::Result<NewKey> {
    let mode: KeyMode = args.mode.parse().map_err(|e| anyhow!("--mode: {e}"))?;
    let scopes = args
        .scopes
        .iter()
        .map(|s| s.parse::<Scope>().map_err(|e| anyhow!("--scope: {e}")))
        .collect::<anyhow::Result<ScopeSet>>()?;
    let allowed_ips =
        IpAllowList::parse(&args.allow_ips).map_err(|e| anyhow!("--allow-ip: {e}"))?;
    let ed25519_public_key = args
        .public_key_file
        .map(|path| {
            std::fs::read_to_string(&path)
                .with_context(|| format!("reading --public-key-file {}", path.display()))
        })
        .transpose()?;
    Ok(NewKey {
        tenant_id: tenant_id(&args.tenant)?,
        environment: environment(&args.env)?,
        mode,
        scopes,
        allowed_ips,
        ed25519_public_key,
    })
}

fn tenant_id(raw: &str) -> anyhow::Result<TenantId> {
    TenantId::parse(raw).map_err(|e| anyhow!("tenant id: {e}"))
}

fn api_key_id(raw: &str) -> anyhow::Result<ApiKeyId> {
    ApiKeyId::parse(raw).map_err(|e| anyhow!("key id: {e}"))
}

fn environment(raw: &str) -> anyhow::Result<Environment> {
    raw.parse().map_err(|e| anyhow!("--env: {e}"))
}

fn tenant_json(t: &Tenant) -> Value {
    json!({ "id": t.id.to_string(), "name": t.name, "status": t.status.as_str() })
}

fn minted_json(minted: &MintedKey) -> Value {
    let mut out = key_json(&minted.record);
    out["key"] = json!(minted.key);
    if let Some(secret) = &minted.hmac_secret {
        out["secret"] = json!(secret);
    }
    out
}

fn key_json(k: &ApiKey) -> Value {
    json!({
        "id": k.id.to_string(),
        "tenant": k.tenant_id.to_string(),
        "environment": k.environment.as_str(),
        "mode": k.mode.as_str(),
        "scopes": k.scopes.iter().map(Scope::as_str).collect::<Vec<_>>(),
        "allowedIps": k.allowed_ips.entries().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "hint": k.key_hint,
        "createdAt": timestamp(k.created_at),
        "expiresAt": k.expires_at.map(timestamp),
        "revokedAt": k.revoked_at.map(timestamp),
    })
}
