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
use custody_core::services::{AdminService, MintedKey, NewKey, ReconciliationService};
use custody_core::tenant::{Tenant, TenantStatus};
use custody_core::work::{StuckWithdrawal, UnattributedDeposit};
use serde_json::{json, Value};
use time::Duration;

use crate::cli::{
    AdminCommand, AssetCommand, DepositsCommand, KeyCommand, MintArgs, TenantCommand,
    WithdrawalsCommand,
};
use crate::configuration::Settings;
use crate::startup::open_store;
use crate::system::{OsIds, SystemClock};
use crate::wire::timestamp;

/// Runs one admin command and prints its JSON result.
///
/// # Errors
/// Bad arguments, store trouble, or a refused change (with the domain's explanation).
pub async fn run(settings: &Settings, command: AdminCommand) -> anyhow::Result<()> {
    if let AdminCommand::Reconcile(args) = command {
        return crate::reconcile::run(settings, args).await;
    }
    if let AdminCommand::Totals(crate::cli::TotalsCommand::Rebuild(args)) = command {
        return crate::totals::run(settings, args).await;
    }
    let store = open_store(settings).await?;
    let shared = store.shared();
    let admin = AdminService::new(
        shared.tenants,
        shared.api_keys,
        Arc::new(SystemClock),
        Arc::new(OsIds),
    );
    let operations = Operations {
        environments: [Environment::Sandbox, Environment::Live]
            .into_iter()
            .map(|env| {
                let reads = store.environment(env).transactions;
                (
                    env,
                    ReconciliationService::new(reads, Arc::new(SystemClock)),
                )
            })
            .collect(),
        stuck_after: Duration::seconds(
            i64::try_from(settings.workers.stuck_after_secs).unwrap_or(i64::MAX / 2),
        ),
        live_deposits: None,
        operators: [Environment::Sandbox, Environment::Live]
            .into_iter()
            .map(|env| {
                (
                    env,
                    custody_core::services::OperatorService::new(
                        store.environment(env).uow,
                        Arc::new(SystemClock),
                        Arc::new(OsIds),
                        crate::events::renderer(),
                    ),
                )
            })
            .collect(),
    };
    let routed: BTreeSet<AssetId> = settings.live.parsed_routes()?.into_keys().collect();
    let mut operations = operations;
    if matches!(
        command,
        AdminCommand::Deposits(DepositsCommand::Reconcile { .. })
    ) {
        // Only this command reaches the live providers, so only it needs them configured.
        let clock: custody_core::ports::DynClock = Arc::new(SystemClock);
        let router = crate::providers::live_provider(&settings.live, clock.clone())?;
        operations.live_deposits = Some(LiveDeposits {
            service: custody_core::services::DepositService::new(
                store.environment(Environment::Live).uow,
                Arc::new(router),
                clock,
                Arc::new(OsIds),
                crate::events::renderer(),
            )
            .with_address_scan(
                custody_core::services::AddressScan::DEFAULT_BATCH,
                settings.workers.reconcile_addresses_per_pass,
            ),
            assets: routed.iter().copied().collect(),
            lookback: Duration::seconds(
                i64::try_from(settings.workers.reconcile_lookback_secs).unwrap_or(i64::MAX / 2),
            ),
        });
    }
    let output = execute(&admin, &operations, &routed, command).await?;
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}

/// What operators reconcile, per environment (`withdrawals stuck`, `deposits unattributed`).
pub struct Operations {
    /// One reader per environment.
    pub environments: Vec<(Environment, ReconciliationService)>,
    /// Default `--older-than` of `withdrawals stuck` (`workers.stuck_after_secs`).
    pub stuck_after: Duration,
    /// The live deposit service over the live providers, for `deposits reconcile` (built
    /// only for that command).
    pub live_deposits: Option<LiveDeposits>,
    /// Operator resolutions, per environment (`withdrawals resolve`).
    pub operators: Vec<(Environment, custody_core::services::OperatorService)>,
}

/// What `deposits reconcile` runs with.
pub struct LiveDeposits {
    /// Over the live store and the live provider router.
    pub service: custody_core::services::DepositService,
    /// The routed assets.
    pub assets: Vec<AssetId>,
    /// Default `--since` (`workers.reconcile_lookback_secs`).
    pub lookback: Duration,
}

impl Operations {
    fn operator(
        &self,
        env: Environment,
    ) -> anyhow::Result<&custody_core::services::OperatorService> {
        self.operators
            .iter()
            .find(|(e, _)| *e == env)
            .map(|(_, s)| s)
            .ok_or_else(|| anyhow!("no store for {}", env.as_str()))
    }

    fn of(&self, env: Option<&str>) -> anyhow::Result<Vec<&(Environment, ReconciliationService)>> {
        let wanted = env.map(environment).transpose()?;
        Ok(self
            .environments
            .iter()
            .filter(|(e, _)| wanted.is_none_or(|w| w == *e))
            .collect())
    }
}

/// Executes a command against an admin service (separate from [`run`] for tests).
/// `live_routes` are the assets a live provider is configured for: enabling any other asset
/// for live is refused, since the server would not start with it.
///
/// # Errors
/// As [`run`].
pub async fn execute(
    admin: &AdminService,
    operations: &Operations,
    live_routes: &BTreeSet<AssetId>,
    command: AdminCommand,
) -> anyhow::Result<Value> {
    Ok(match command {
        AdminCommand::Tenant(TenantCommand::Set {
            id,
            address_book_cooling_off,
        }) => {
            let id = tenant_id(&id)?;
            let Some(raw) = address_book_cooling_off else {
                return Err(anyhow!(
                    "nothing to set: pass --address-book-cooling-off (e.g. 24h, or none)"
                ));
            };
            let cooling_off =
                parse_duration(&raw).map_err(|e| anyhow!("--address-book-cooling-off: {e}"))?;
            let (tenant, policy) = admin.set_address_book_cooling_off(id, cooling_off).await?;
            let mut out = tenant_json(&tenant);
            out["addressBookCoolingOffSecs"] =
                json!(policy.address_book_cooling_off.map(Duration::whole_seconds));
            out
        }
        AdminCommand::Withdrawals(WithdrawalsCommand::Stuck {
            env,
            older_than,
            limit,
        }) => {
            let threshold = match older_than {
                Some(raw) => parse_duration(&raw)
                    .map_err(|e| anyhow!("--older-than: {e}"))?
                    .unwrap_or(Duration::ZERO),
                None => operations.stuck_after,
            };
            let mut items = Vec::new();
            for (env, reads) in operations.of(env.as_deref())? {
                for stuck in reads.stuck_withdrawals(threshold, limit).await? {
                    items.push(stuck_json(*env, &stuck));
                }
            }
            json!({ "olderThanSecs": threshold.whole_seconds(), "items": items })
        }
        AdminCommand::Withdrawals(WithdrawalsCommand::Resolve {
            id,
            outcome,
            evidence,
            operator,
            env,
        }) => {
            let env = environment(&env)?;
            let outcome = match outcome.as_str() {
                "completed" => custody_core::services::Resolution::Completed,
                "failed" => custody_core::services::Resolution::Failed,
                other => {
                    return Err(anyhow!(
                        "--as must be `completed` or `failed`, not `{other}`"
                    ))
                }
            };
            let id = custody_core::id::TransactionId::parse(&id)
                .map_err(|e| anyhow!("not a transaction id: {e}"))?;
            let operator = operator
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_default();
            let service = operations
                .operators
                .iter()
                .find(|(e, _)| *e == env)
                .map(|(_, s)| s)
                .ok_or_else(|| anyhow!("no store for {}", env.as_str()))?;
            let resolved = service
                .resolve_withdrawal(id, outcome, &operator, &evidence)
                .await?;
            json!({
                "env": env.as_str(),
                "id": resolved.id.to_string(),
                "status": resolved.status.as_str(),
                "amount": resolved.amount.to_decimal_string(resolved.asset.decimals()),
                "asset": resolved.asset.to_string(),
                "failureReason": resolved.failure_reason,
                "resolvedBy": operator,
                "evidence": evidence,
                "updatedAt": timestamp(resolved.updated_at),
            })
        }
        AdminCommand::Deposits(DepositsCommand::Reconcile { since }) => {
            let live = operations
                .live_deposits
                .as_ref()
                .ok_or_else(|| anyhow!("the live providers are not available"))?;
            let lookback = match since {
                Some(raw) => parse_duration(&raw)
                    .map_err(|e| anyhow!("--since: {e}"))?
                    .unwrap_or(Duration::ZERO),
                None => live.lookback,
            };
            let from = custody_core::ports::Clock::now(&SystemClock) - lookback;
            let pass = live.service.reconcile(&live.assets, from).await?;
            json!({
                "env": "live",
                "since": timestamp(from),
                "applied": pass.applied.iter().map(|(reference, id, status)| json!({
                    "providerRef": reference, "transactionId": id.to_string(), "status": status.as_str()
                })).collect::<Vec<_>>(),
                "notApplied": pass.not_applied.iter().map(|(reference, code, why)| json!({
                    "providerRef": reference, "code": code, "reason": why
                })).collect::<Vec<_>>(),
                "unusable": pass.unusable,
            })
        }
        AdminCommand::Deposits(DepositsCommand::Assign {
            id,
            wallet,
            evidence,
            operator,
            env,
        }) => {
            let env = environment(&env)?;
            let wallet =
                custody_core::id::WalletId::parse(&wallet).map_err(|e| anyhow!("--wallet: {e}"))?;
            let operator = default_operator(operator);
            let assigned = operations
                .operator(env)?
                .assign_deposit(&id, wallet, &operator, &evidence)
                .await?;
            let t = &assigned.transaction;
            let mut out = unattributed_json(env, &assigned.deposit);
            out["deposit"] = json!({
                "id": t.id.to_string(),
                "walletId": wallet.to_string(),
                "tenant": t.tenant_id.to_string(),
                "status": t.status.as_str(),
                "amount": t.amount.to_decimal_string(t.asset.decimals()),
                "assetId": t.asset.to_string(),
            });
            out
        }
        AdminCommand::Deposits(DepositsCommand::Return {
            id,
            evidence,
            tx_hash,
            operator,
            env,
        }) => {
            let env = environment(&env)?;
            let operator = default_operator(operator);
            let returned = operations
                .operator(env)?
                .return_deposit(&id, &operator, &evidence, tx_hash.as_deref())
                .await?;
            unattributed_json(env, &returned)
        }
        AdminCommand::Deposits(DepositsCommand::Unattributed { env, limit, all }) => {
            let mut items = Vec::new();
            for (env, reads) in operations.of(env.as_deref())? {
                for deposit in reads.unattributed_deposits(all, limit).await? {
                    items.push(unattributed_json(*env, &deposit));
                }
            }
            json!({ "items": items })
        }
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
        AdminCommand::Reconcile(_) => {
            return Err(anyhow!(
                "reconcile runs through crate::reconcile (it sets the exit code)"
            ))
        }
        AdminCommand::Totals(_) => {
            return Err(anyhow!("totals rebuild runs through crate::totals"))
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

/// `90s`, `30m`, `24h`, `2d` (a whole number and a unit); `none` or `0`: no period.
///
/// # Errors
/// Anything else, saying what is expected.
pub fn parse_duration(raw: &str) -> Result<Option<Duration>, String> {
    let raw = raw.trim();
    if raw.eq_ignore_ascii_case("none") || raw == "0" {
        return Ok(None);
    }
    let expected = || format!("`{raw}` is not a duration like 90s, 30m, 24h or 2d (or none)");
    let split = raw.len().checked_sub(1).ok_or_else(expected)?;
    let (number, unit) = raw.split_at(split);
    let n: i64 = number.parse().map_err(|_| expected())?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(expected()),
    };
    let secs = n
        .checked_mul(unit_secs)
        .filter(|s| *s >= 0)
        .ok_or_else(expected)?;
    Ok((secs > 0).then(|| Duration::seconds(secs)))
}

fn stuck_json(env: Environment, stuck: &StuckWithdrawal) -> Value {
    let t = &stuck.transaction;
    json!({
        "environment": env.as_str(),
        "id": t.id.to_string(),
        "tenant": t.tenant_id.to_string(),
        "status": t.status.as_str(),
        "assetId": t.asset.to_string(),
        "amount": t.amount.to_decimal_string(t.asset.decimals()),
        "sourceWalletId": t.source_wallet_id.map(|w| w.to_string()),
        "destinationAddress": t.destination_address.as_ref().map(|a| a.as_str().to_owned()),
        "providerRef": t.provider_ref,
        "needsReconciliation": t.reconciliation_reason.is_some(),
        "reconciliationReason": t.reconciliation_reason,
        "flaggedAt": stuck.work.reconciliation_at.map(timestamp),
        "leaseOwner": stuck.work.lease_owner,
        "leaseUntil": stuck.work.lease_until.map(timestamp),
        "nextPollAt": stuck.work.next_poll_at.map(timestamp),
        "pollAttempts": stuck.work.poll_attempts,
        "createdAt": timestamp(t.created_at),
        "updatedAt": timestamp(t.updated_at),
    })
}

fn unattributed_json(env: Environment, d: &UnattributedDeposit) -> Value {
    json!({
        "environment": env.as_str(),
        "providerRef": d.provider_ref,
        "tenant": d.tenant_id.map(|t| t.to_string()),
        "vaultId": d.vault_id.map(|v| v.to_string()),
        "depositAddressId": d.deposit_address_id.map(|a| a.to_string()),
        "assetId": d.asset.to_string(),
        "amount": d.amount.to_decimal_string(d.asset.decimals()),
        "network": d.address.network().as_str(),
        "address": d.address.as_str(),
        "txHash": d.tx_hash,
        "status": d.status.as_str(),
        "confirmations": d.confirmations.map(|c| json!({ "seen": c.seen, "required": c.required })),
        "reason": d.reason,
        "firstSeenAt": timestamp(d.first_seen_at),
        "lastSeenAt": timestamp(d.last_seen_at),
        "state": d.state.as_str(),
        "transactionId": d.transaction_id.map(|t| t.to_string()),
        "resolution": d.resolution,
        "report": d.report,
    })
}

/// `--operator`, or `$USER`.
fn default_operator(operator: Option<String>) -> String {
    operator
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_documented() {
        assert_eq!(parse_duration("24h"), Ok(Some(Duration::hours(24))));
        assert_eq!(parse_duration("30m"), Ok(Some(Duration::minutes(30))));
        assert_eq!(parse_duration("90s"), Ok(Some(Duration::seconds(90))));
        assert_eq!(parse_duration("2d"), Ok(Some(Duration::days(2))));
        assert_eq!(parse_duration("none"), Ok(None));
        assert_eq!(parse_duration("0"), Ok(None));
        assert_eq!(parse_duration("0h"), Ok(None));
        for bad in [
            "",
            "h",
            "24",
            "-1h",
            "1.5h",
            "24hours",
            "9999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
