//! The live custody provider, built from `[live]` settings: a [`ProviderRouter`] over the
//! BitGo and Rhino clients, each route checked when built, and the start-up check that no
//! live tenant has an asset without a route. Only this module and `startup.rs` name the
//! live adapters; the sandbox graph never sees what is built here.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use custody_bitgo::{BitgoClient, BitgoConfig, WithdrawalFlow};
use custody_core::asset::AssetId;
use custody_core::environment::Environment;
use custody_core::id::TenantId;
use custody_core::page::PageRequest;
use custody_core::ports::{DynClock, DynCustodyProvider, DynTenantStore};
use custody_core::routing::ProviderRouter;
use custody_rhino::{RhinoClient, RhinoConfig};

use crate::configuration::{
    BitgoSettings, BitgoWithdrawals, LiveSettings, ProviderKind, RhinoSettings,
};

impl LiveSettings {
    /// The routes, parsed: asset → provider.
    ///
    /// # Errors
    /// A key that is not an asset id, naming it.
    pub fn parsed_routes(&self) -> anyhow::Result<BTreeMap<AssetId, ProviderKind>> {
        self.routes
            .iter()
            .map(|(code, kind)| {
                AssetId::parse(code)
                    .map(|asset| (asset, *kind))
                    .map_err(|e| anyhow!("live.routes.{code}: {e}"))
            })
            .collect()
    }
}

/// Builds the live graph's provider: a router sending each routed asset to its provider.
/// With no routes it refuses every live call (`provider_error`), which is what an
/// unconfigured deployment should do.
///
/// # Errors
/// A route naming an unconfigured provider or an asset that provider cannot serve (e.g. XAUT
/// to Rhino, USDT on Solana to BitGo's test environment, a BitGo coin without a wallet), or
/// invalid provider settings. The message says which setting to fix.
pub fn live_provider(live: &LiveSettings, clock: DynClock) -> anyhow::Result<ProviderRouter> {
    let routes = live.parsed_routes()?;
    let mut built: BTreeMap<ProviderKind, DynCustodyProvider> = BTreeMap::new();
    let mut table = Vec::with_capacity(routes.len());
    for (asset, kind) in routes {
        let provider = match built.get(&kind) {
            Some(provider) => provider.clone(),
            None => {
                let provider = build(kind, live, clock.clone())?;
                built.insert(kind, provider.clone());
                provider
            }
        };
        table.push((asset, provider));
    }
    if live.bitgo.is_some() && !built.contains_key(&ProviderKind::Bitgo) {
        tracing::warn!("[live.bitgo] is configured but no live.routes entry sends an asset to it");
    }
    if live.rhino.is_some() && !built.contains_key(&ProviderKind::Rhino) {
        tracing::warn!("[live.rhino] is configured but no live.routes entry sends an asset to it");
    }
    ProviderRouter::new(table).map_err(|e| anyhow!("live.routes: {e}"))
}

fn build(
    kind: ProviderKind,
    live: &LiveSettings,
    clock: DynClock,
) -> anyhow::Result<DynCustodyProvider> {
    let missing = || {
        anyhow!(
            "live.routes sends assets to {0}, but [live.{0}] is not configured (docs/providers.md)",
            kind.as_str()
        )
    };
    // Every live provider is metered (calls by provider, operation and outcome).
    Ok(crate::metrics::MeteredProvider::wrap(match kind {
        ProviderKind::Bitgo => {
            let settings = live.bitgo.as_ref().ok_or_else(missing)?;
            Arc::new(
                BitgoClient::new(bitgo_config(settings)?)
                    .map_err(|e| anyhow!("live.bitgo: {e}"))?,
            )
        }
        ProviderKind::Rhino => {
            let settings = live.rhino.as_ref().ok_or_else(missing)?;
            Arc::new(
                RhinoClient::new(rhino_config(settings)?, clock)
                    .map_err(|e| anyhow!("live.rhino: {e}"))?,
            )
        }
    }))
}

/// BitGo's client settings from ours.
///
/// # Errors
/// The Express flow without its URL or passphrase; a zero timeout.
pub fn bitgo_config(settings: &BitgoSettings) -> anyhow::Result<BitgoConfig> {
    let mut config = BitgoConfig::new(settings.environment, settings.access_token.clone());
    if let Some(base) = &settings.base_url {
        config.base_url.clone_from(base);
    }
    config.wallets.clone_from(&settings.wallets);
    config.timeout = timeout("live.bitgo", settings.timeout_secs)?;
    config.webhook_secret.clone_from(&settings.webhook_secret);
    config.withdrawals = match settings.withdrawals {
        BitgoWithdrawals::Disabled => WithdrawalFlow::Disabled,
        BitgoWithdrawals::Custody => WithdrawalFlow::Custody {
            video_approvers: settings.video_approvers.clone(),
        },
        BitgoWithdrawals::Express => WithdrawalFlow::Express {
            url: settings
                .express_url
                .clone()
                .context("live.bitgo.withdrawals = \"express\" needs live.bitgo.express_url")?,
            wallet_passphrase: settings.wallet_passphrase.clone().context(
                "live.bitgo.withdrawals = \"express\" needs live.bitgo.wallet_passphrase",
            )?,
        },
    };
    Ok(config)
}

/// Rhino's client settings from ours.
///
/// # Errors
/// A tenant destination keyed by something that is not a tenant id; a zero timeout.
pub fn rhino_config(settings: &RhinoSettings) -> anyhow::Result<RhinoConfig> {
    let mut config = RhinoConfig::new(settings.api_key.clone());
    if let Some(base) = &settings.base_url {
        config.base_url.clone_from(base);
    }
    config.destination.clone_from(&settings.destination);
    config.tenant_destinations = settings
        .tenant_destinations
        .iter()
        .map(|(tenant, destination)| {
            tenant
                .parse::<TenantId>()
                .map(|id| (id, destination.clone()))
                .map_err(|e| anyhow!("live.rhino.tenant_destinations.{tenant}: {e}"))
        })
        .collect::<anyhow::Result<_>>()?;
    config
        .webhook_public_key_pem
        .clone_from(&settings.webhook_public_key);
    config.timeout = timeout("live.rhino", settings.timeout_secs)?;
    Ok(config)
}

fn timeout(section: &str, secs: u64) -> anyhow::Result<Duration> {
    if secs == 0 {
        bail!("{section}.timeout_secs must be at least 1");
    }
    Ok(Duration::from_secs(secs))
}

/// Refuses to start while a live tenant has an asset enabled that no provider serves: such a
/// tenant's first request for it would fail, so the deployment is wrong now, not then.
///
/// # Errors
/// Naming every such tenant and asset, and how to fix it; store errors.
pub async fn check_live_tenants(
    tenants: &DynTenantStore,
    router: &ProviderRouter,
) -> anyhow::Result<()> {
    let mut missing: BTreeMap<AssetId, BTreeSet<TenantId>> = BTreeMap::new();
    let mut after = None;
    loop {
        let page = tenants
            .list(PageRequest::new(Some(200), after, None).map_err(|e| anyhow!("{e}"))?)
            .await?;
        for tenant in &page.items {
            let enabled = tenants.enabled_assets(tenant.id, Environment::Live).await?;
            for asset in router.unrouted(enabled.iter()) {
                missing.entry(asset).or_default().insert(tenant.id);
            }
        }
        match (page.has_more, page.items.last()) {
            (true, Some(last)) => after = Some(last.id.ulid()),
            _ => break,
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = missing
        .iter()
        .map(|(asset, tenants)| {
            let names: Vec<String> = tenants.iter().map(ToString::to_string).collect();
            format!("{asset} (live tenants {})", names.join(", "))
        })
        .collect();
    bail!(
        "no live custody provider is configured for: {}. Route each in live.routes \
         (docs/providers.md) or disable it: custody admin asset disable --tenant <id> --env live <asset>",
        lines.join("; ")
    )
}
