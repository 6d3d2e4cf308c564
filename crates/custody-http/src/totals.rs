//! `custody admin totals rebuild` (issue 18): sets every maintained tenant-wide total to its
//! wallets' exact sum ([`ReconcileStore::rebuild_totals`]), per environment, and prints what it
//! changed. Safe while the server runs; why: docs/storage.md, "The tenant-wide totals"; when to
//! run it: docs/operations.md.

use std::io::Write as _;

use custody_core::environment::Environment;
use custody_core::id::TenantId;
use custody_core::ports::{ReconcileStore, TotalRebuilt};
use serde_json::{json, Value};

use crate::cli::TotalsRebuildArgs;
use crate::configuration::Settings;
use crate::startup::open_store;

/// Runs `custody admin totals rebuild`: prints the JSON report.
///
/// # Errors
/// Bad arguments, store trouble.
pub async fn run(settings: &Settings, args: TotalsRebuildArgs) -> anyhow::Result<()> {
    let environments = crate::reconcile::environments(&args.environment)?;
    let tenant = crate::reconcile::tenant_arg(args.tenant.as_deref())?;
    let store = open_store(settings).await?;
    let mut stores = Vec::new();
    for env in environments {
        stores.push((env, store.environment(env).reconcile));
    }
    let report = rebuild(&stores, tenant).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    out.flush()?;
    Ok(())
}

/// Rebuilds each environment's totals and renders the report (separate from [`run`] for
/// tests): per environment, how many (tenant, asset) totals were checked and each one changed,
/// with its total before (signed, exact; `null` beyond ±`u128`) and after.
///
/// # Errors
/// Store errors.
pub async fn rebuild<S: std::ops::Deref<Target = dyn ReconcileStore>>(
    stores: &[(Environment, S)],
    tenant: Option<TenantId>,
) -> anyhow::Result<Value> {
    let mut rendered = Vec::new();
    for (env, store) in stores {
        let rebuilt = store.rebuild_totals(tenant).await?;
        let changed: Vec<Value> = rebuilt
            .iter()
            .filter(|t| t.changed())
            .map(changed_json)
            .collect();
        rendered.push(json!({
            "environment": env.as_str(),
            "checked": rebuilt.len(),
            "changed": changed,
        }));
    }
    Ok(json!({
        "tenant": tenant.map(|t| t.to_string()),
        "environments": rendered,
    }))
}

fn changed_json(total: &TotalRebuilt) -> Value {
    json!({
        "tenantId": total.tenant_id.to_string(),
        "asset": total.asset.to_string(),
        "before": total.before.map(|b| b.to_string()),
        "after": total.after.base_units().to_string(),
    })
}
