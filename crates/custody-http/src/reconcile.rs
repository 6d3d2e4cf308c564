//! `custody admin reconcile` (issue 14): one JSON report over the chosen environments and the
//! exit code of its verdict (0 clean, 2 drift, 3 incomplete). What each check means and what an
//! operator does on drift: docs/operations.md, "Reconciliation".

use std::io::Write as _;
use std::sync::Arc;

use anyhow::anyhow;
use custody_core::environment::Environment;
use custody_core::id::TenantId;
use custody_core::ports::{DynClock, InFlightItem, ProviderError, TransactionResidue};
use custody_core::services::{
    ProviderCheck, ProviderOutcome, ReconcileReport, ReconcileService, TotalDrift, Verdict,
    WalletDrift,
};
use custody_sandbox::SandboxProvider;
use serde_json::{json, Value};

use crate::cli::ReconcileArgs;
use crate::configuration::Settings;
use crate::startup::open_store;
use crate::system::SystemClock;

/// Runs `custody admin reconcile`: prints the report and exits with its verdict's code.
///
/// # Errors
/// Bad arguments, store trouble, a live provider configuration that cannot be built.
pub async fn run(settings: &Settings, args: ReconcileArgs) -> anyhow::Result<()> {
    let environments = environments(&args.environment)?;
    let tenant = tenant_arg(args.tenant.as_deref())?;
    let store = open_store(settings).await?;
    let clock: DynClock = Arc::new(SystemClock);
    let mut services = Vec::new();
    for env in environments {
        let service = ReconcileService::new(store.environment(env).reconcile);
        let service = match env {
            Environment::Sandbox => service.with_provider(
                Arc::new(SandboxProvider::new(
                    settings.sandbox.chain()?,
                    clock.clone(),
                )),
                None,
            ),
            Environment::Live => {
                let routed: Vec<_> = settings.live.parsed_routes()?.into_keys().collect();
                if routed.is_empty() {
                    service
                } else {
                    let router = crate::providers::live_provider(&settings.live, clock.clone())?;
                    service.with_provider(Arc::new(router), Some(routed))
                }
            }
        };
        services.push((env, service));
    }
    let (report, verdict) = report(&services, tenant).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    out.flush()?;
    drop(out);
    if verdict != Verdict::Clean {
        std::process::exit(i32::from(verdict.exit_code()));
    }
    Ok(())
}

/// `--environment`: `live`, `sandbox` or `all` (live then sandbox).
///
/// # Errors
/// Anything else.
pub(crate) fn environments(raw: &str) -> anyhow::Result<Vec<Environment>> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "all" => Ok(vec![Environment::Live, Environment::Sandbox]),
        other => Ok(vec![other
            .parse()
            .map_err(|e| anyhow!("--environment: {e} (or `all`)"))?]),
    }
}

/// Runs every environment's checks and renders the report (separate from [`run`] for tests).
///
/// # Errors
/// Store errors.
pub async fn report(
    services: &[(Environment, ReconcileService)],
    tenant: Option<TenantId>,
) -> anyhow::Result<(Value, Verdict)> {
    let mut verdict = Verdict::Clean;
    let mut rendered = Vec::new();
    for (env, service) in services {
        let report = service.run(tenant).await?;
        let own = report.verdict();
        verdict = verdict.worst(own);
        rendered.push(environment_json(*env, &report, own));
    }
    Ok((
        json!({
            "verdict": verdict.as_str(),
            "exitCode": verdict.exit_code(),
            "tenant": tenant.map(|t| t.to_string()),
            "environments": rendered,
        }),
        verdict,
    ))
}

fn environment_json(env: Environment, report: &ReconcileReport, verdict: Verdict) -> Value {
    let ledger = &report.ledger;
    json!({
        "environment": env.as_str(),
        "verdict": verdict.as_str(),
        "ledger": {
            "walletsChecked": ledger.wallets_checked,
            "balanceDrift": ledger.drift.iter().map(drift_json).collect::<Vec<_>>(),
            "unbalancedTransactions": ledger.unbalanced.iter().map(residue_json).collect::<Vec<_>>(),
            "finalTransactionResidues": ledger.final_residues.iter().map(residue_json).collect::<Vec<_>>(),
            "totalDrift": ledger.total_drift.iter().map(total_drift_json).collect::<Vec<_>>(),
        },
        "provider": {
            "skipped": report.provider_skipped,
            "assets": report.provider.iter().map(provider_json).collect::<Vec<_>>(),
        },
    })
}

fn drift_json(d: &WalletDrift) -> Value {
    json!({
        "walletId": d.wallet_id.to_string(),
        "tenant": d.tenant_id.to_string(),
        "assetId": d.asset.to_string(),
        "entriesAssetId": d.entries_asset.to_string(),
        "bucket": d.bucket.as_str(),
        "balanceRow": d.materialised.to_string(),
        "ledger": d.ledger.to_string(),
        "difference": d.materialised.checked_sub(d.ledger).map(|x| x.to_string()),
    })
}

/// A tenant-wide total (what `GET /connect/v1/balances` reads) against its wallets' sum.
fn total_drift_json(d: &TotalDrift) -> Value {
    json!({
        "tenant": d.tenant_id.to_string(),
        "assetId": d.asset.to_string(),
        "total": d.total.to_string(),
        "wallets": d.wallets.map(|w| w.to_string()),
    })
}

fn residue_json(r: &TransactionResidue) -> Value {
    json!({
        "transactionId": r.transaction_id.to_string(),
        "tenant": r.tenant_id.to_string(),
        "kind": r.kind.as_str(),
        "status": r.status.as_str(),
        "assetId": r.asset.to_string(),
        "bucket": r.bucket.map(|b| b.as_str()),
        "sum": r.sum.to_string(),
    })
}

fn in_flight_json(items: &[InFlightItem]) -> Value {
    let total = items
        .iter()
        .try_fold(0u128, |acc, i| acc.checked_add(i.amount.base_units()));
    json!({
        "count": items.len(),
        "total": total.map(|t| t.to_string()),
        "items": items.iter().map(|i| json!({
            "reference": i.reference,
            "amount": i.amount.base_units().to_string(),
            "status": i.status.as_str(),
        })).collect::<Vec<_>>(),
    })
}

fn provider_json(c: &ProviderCheck) -> Value {
    let (status, reason) = match &c.outcome {
        ProviderOutcome::Explained => ("explained", None),
        ProviderOutcome::Drift => ("drift", None),
        ProviderOutcome::NotCheckable(why) => ("not_checkable", Some(why.clone())),
        ProviderOutcome::Failed(e) => ("failed", Some(failure(e))),
    };
    let range = c.explained_range();
    json!({
        "assetId": c.asset.to_string(),
        "status": status,
        "reason": reason,
        "ledgerTotal": c.ledger_total.to_string(),
        "pendingDeposits": c.pending.to_string(),
        "handedOverWithdrawals": in_flight_json(&c.handed_over),
        "suspense": in_flight_json(&c.suspense),
        "reported": c.reported.as_ref().map(|r| r.balance.base_units().to_string()),
        "reportedBy": c.reported.as_ref().map(|r| r.source.clone()),
        "difference": c.difference().map(|d| d.to_string()),
        "explainedDifference": range.map(|(low, high)| json!({
            "min": low.to_string(), "max": high.to_string()
        })),
    })
}

fn failure(e: &ProviderError) -> String {
    format!("{} ({})", e, e.code())
}

/// The `--tenant` argument of the admin commands that take one (`reconcile`, `totals rebuild`).
///
/// # Errors
/// Not a tenant id.
pub(crate) fn tenant_arg(raw: Option<&str>) -> anyhow::Result<Option<TenantId>> {
    raw.map(|raw| TenantId::parse(raw).map_err(|e| anyhow!("--tenant: {e}")))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `reconcile` and `totals rebuild` read `--tenant` alike: absent is every tenant, a tenant
    /// id is that tenant, anything else is refused with an error naming the flag.
    #[test]
    fn tenant_arg_is_a_tenant_id_or_absent() {
        assert_eq!(tenant_arg(None).unwrap(), None);
        let id = TenantId::from_ulid(ulid::Ulid::from_parts(1_700_000_000_000, 7));
        assert_eq!(tenant_arg(Some(&id.to_string())).unwrap(), Some(id));
        for bad in [
            "",
            "nope",
            "vlt_01J9Z3XXXXXXXXXXXXXXXXXXXX",
            &id.to_string()[4..],
        ] {
            let refused = tenant_arg(Some(bad)).unwrap_err().to_string();
            assert!(refused.starts_with("--tenant: "), "{bad}: {refused}");
        }
    }
}
