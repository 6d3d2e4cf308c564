//! The live provider router: one custody provider per asset, chosen by configuration.
//!
//! The live graph holds a [`ProviderRouter`] as its [`CustodyProvider`]. Every route is checked
//! when the router is built ([`CustodyProvider::serves`]), so a deployment that routes an asset
//! to a provider unable to serve it fails at start-up, not at the first request. An asset with
//! no route is refused per call with [`ProviderError::Rejected`]; the composition root also
//! refuses to start while a live tenant has such an asset enabled
//! ([`ProviderRouter::unrouted`]).

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;

use crate::asset::AssetId;
use crate::ports::{
    CustodyBalance, CustodyProvider, DepositNotice, DynCustodyProvider, MintRequest, MintedAddress,
    Notification, ProviderError, ProviderTransfer, VerifiedDeposit, WithdrawalRequest,
};

/// Why a set of routes cannot be used.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The provider an asset is routed to says it cannot serve it.
    #[error("{asset} is routed to {provider}, which cannot serve it: {reason}")]
    Unservable {
        asset: AssetId,
        provider: &'static str,
        /// What the provider said.
        reason: String,
    },
    /// Two different provider instances share a name, so notifications could not be
    /// dispatched unambiguously.
    #[error("two different custody providers are both named `{0}`")]
    DuplicateName(&'static str),
}

/// Picks the custody provider per asset.
#[derive(Clone, Default)]
pub struct ProviderRouter {
    routes: BTreeMap<AssetId, DynCustodyProvider>,
    by_name: BTreeMap<&'static str, DynCustodyProvider>,
}

impl fmt::Debug for ProviderRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let routes: BTreeMap<String, &'static str> = self
            .routes
            .iter()
            .map(|(asset, provider)| (asset.to_string(), provider.name()))
            .collect();
        f.debug_struct("ProviderRouter")
            .field("routes", &routes)
            .finish()
    }
}

impl ProviderRouter {
    /// Builds the router, asking each provider whether it serves each asset routed to it.
    ///
    /// # Errors
    /// [`RouteError::Unservable`] for the first route a provider refuses;
    /// [`RouteError::DuplicateName`] when two distinct providers share a name.
    pub fn new(
        routes: impl IntoIterator<Item = (AssetId, DynCustodyProvider)>,
    ) -> Result<ProviderRouter, RouteError> {
        let mut router = ProviderRouter::default();
        for (asset, provider) in routes {
            provider.serves(asset).map_err(|e| RouteError::Unservable {
                asset,
                provider: provider.name(),
                reason: match e {
                    ProviderError::Rejected(reason) => reason,
                    other => other.to_string(),
                },
            })?;
            match router.by_name.get(provider.name()) {
                Some(known) if !std::sync::Arc::ptr_eq(known, &provider) => {
                    return Err(RouteError::DuplicateName(provider.name()));
                }
                Some(_) => {}
                None => {
                    router.by_name.insert(provider.name(), provider.clone());
                }
            }
            router.routes.insert(asset, provider);
        }
        Ok(router)
    }

    /// The assets with a route, in catalogue order.
    pub fn routed(&self) -> impl Iterator<Item = (AssetId, &'static str)> + '_ {
        self.routes
            .iter()
            .map(|(asset, provider)| (*asset, provider.name()))
    }

    /// Those of `assets` that have no route (the composition root refuses to start while a
    /// live tenant has one of them enabled).
    pub fn unrouted(&self, assets: impl IntoIterator<Item = AssetId>) -> Vec<AssetId> {
        let mut missing: Vec<AssetId> = assets
            .into_iter()
            .filter(|asset| !self.routes.contains_key(asset))
            .collect();
        missing.sort();
        missing.dedup();
        missing
    }

    fn named(&self, notice: &DepositNotice) -> Result<&DynCustodyProvider, ProviderError> {
        self.by_name.get(notice.provider.as_str()).ok_or_else(|| {
            ProviderError::Unverified(format!(
                "no custody provider named `{}` is configured",
                notice.provider
            ))
        })
    }

    fn route(&self, asset: AssetId) -> Result<&DynCustodyProvider, ProviderError> {
        self.routes.get(&asset).ok_or_else(|| {
            ProviderError::Rejected(format!(
                "no live custody provider is configured for {asset}"
            ))
        })
    }
}

#[async_trait]
impl CustodyProvider for ProviderRouter {
    fn name(&self) -> &'static str {
        "router"
    }

    fn serves(&self, asset: AssetId) -> Result<(), ProviderError> {
        self.route(asset)?.serves(asset)
    }

    fn can_withdraw(&self, asset: AssetId) -> Result<(), ProviderError> {
        self.route(asset)?.can_withdraw(asset)
    }

    async fn mint_address(&self, request: &MintRequest) -> Result<MintedAddress, ProviderError> {
        self.route(request.asset)?.mint_address(request).await
    }

    async fn submit_withdrawal(
        &self,
        request: &WithdrawalRequest,
    ) -> Result<ProviderTransfer, ProviderError> {
        self.route(request.asset)?.submit_withdrawal(request).await
    }

    async fn withdrawal_status(
        &self,
        request: &WithdrawalRequest,
    ) -> Result<ProviderTransfer, ProviderError> {
        self.route(request.asset)?.withdrawal_status(request).await
    }

    async fn deposit_status(
        &self,
        provider_ref: &str,
        asset: AssetId,
    ) -> Result<VerifiedDeposit, ProviderError> {
        self.route(asset)?.deposit_status(provider_ref, asset).await
    }

    async fn verify_deposit(
        &self,
        notice: &DepositNotice,
    ) -> Result<VerifiedDeposit, ProviderError> {
        self.named(notice)?.verify_deposit(notice).await
    }

    async fn recent_deposits(
        &self,
        assets: &[AssetId],
        since: time::OffsetDateTime,
    ) -> Result<Vec<Result<Notification, ProviderError>>, ProviderError> {
        // Each provider is asked for the assets routed to it; one that cannot list, or fails,
        // is one error item, so the others are still reconciled.
        let mut items = Vec::new();
        for (name, provider) in &self.by_name {
            let mine: Vec<AssetId> = assets
                .iter()
                .copied()
                .filter(|a| self.routes.get(a).is_some_and(|p| p.name() == *name))
                .collect();
            if mine.is_empty() {
                continue;
            }
            match provider.recent_deposits(&mine, since).await {
                Ok(found) => items.extend(found),
                Err(e) => items.push(Err(e)),
            }
        }
        Ok(items)
    }

    fn forwards_to(&self, address: &crate::chain_address::ChainAddress) -> bool {
        self.by_name
            .iter()
            .any(|(_, provider)| provider.forwards_to(address))
    }

    fn lists_deposits_per_address(&self, asset: AssetId) -> bool {
        self.route(asset)
            .is_ok_and(|provider| provider.lists_deposits_per_address(asset))
    }

    async fn recent_deposits_at(
        &self,
        asset: AssetId,
        addresses: &[crate::chain_address::ChainAddress],
        since: time::OffsetDateTime,
    ) -> Result<Vec<Result<VerifiedDeposit, ProviderError>>, ProviderError> {
        self.route(asset)?
            .recent_deposits_at(asset, addresses, since)
            .await
    }

    async fn verify_notification(
        &self,
        notice: &DepositNotice,
    ) -> Result<Notification, ProviderError> {
        self.named(notice)?.verify_notification(notice).await
    }

    async fn custody_balance(&self, asset: AssetId) -> Result<CustodyBalance, ProviderError> {
        self.route(asset)?.custody_balance(asset).await
    }
}

#[cfg(test)]
mod tests;
