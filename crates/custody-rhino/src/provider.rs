//! [`CustodyProvider`] for [`RhinoClient`]: minting SDAs, and verifying a deposit notification
//! by its signature and a read-back of the SDA's history. Withdrawals are refused.

use async_trait::async_trait;
use custody_core::amount::Amount;
use custody_core::asset::{AssetId, AssetSymbol};
use custody_core::chain_address::ChainAddress;
use custody_core::id::TenantId;
use custody_core::ports::{
    CustodyProvider, DepositNotice, MintRequest, MintedAddress, Notification, ProviderError,
    ProviderTransfer, VerifiedDeposit, WithdrawalRequest,
};
use custody_core::transaction::TransactionStatus;

use crate::wire::HistoryItem;
use crate::{rhino_chain, rhino_network, webhook, Destination, RhinoClient, HISTORY_WINDOW, NAME};

impl RhinoClient {
    fn destination_for(&self, tenant: TenantId) -> Option<&Destination> {
        self.config
            .tenant_destinations
            .get(&tenant)
            .or(self.config.destination.as_ref())
    }
}

/// Whether Rhino carries the asset at all (token and chain), with the refusal if not.
fn rhino_asset(asset: AssetId) -> Result<&'static str, ProviderError> {
    let chain = rhino_chain(asset.network()).ok_or_else(|| {
        ProviderError::Rejected(format!(
            "Rhino does not run smart deposit addresses on {}",
            asset.network()
        ))
    })?;
    match asset.symbol() {
        AssetSymbol::Usdt | AssetSymbol::Usdc => Ok(chain),
        other => Err(ProviderError::Rejected(format!(
            "Rhino does not route {other}"
        ))),
    }
}

/// The SDA creation body (see the crate documentation).
fn create_body(chain: &str, destination: &Destination, note: &str) -> serde_json::Value {
    let mut body = serde_json::Map::new();
    body.insert("depositChains".into(), serde_json::json!([chain]));
    body.insert("destinationChain".into(), destination.chain.clone().into());
    body.insert(
        "destinationAddress".into(),
        destination.address.clone().into(),
    );
    if let Some(token_out) = &destination.token_out {
        body.insert("tokenOut".into(), token_out.clone().into());
    }
    body.insert("addressNote".into(), note.into());
    body.insert("reusePolicy".into(), "reuse-existing".into());
    serde_json::Value::Object(body)
}

/// Our status for a history item (see the crate documentation).
fn deposit_status(item: &HistoryItem) -> TransactionStatus {
    match item.tag.as_str() {
        "accepted" => match item.history.as_ref().and_then(|h| h.state.as_deref()) {
            Some("EXECUTED") => TransactionStatus::Completed,
            Some(
                "FAILED" | "SWAP_FAILED_REFUNDED" | "DEPOSIT_RECEIVED_AFTER_GRACE_PERIOD_REFUNDED",
            ) => TransactionStatus::Failed,
            _ => TransactionStatus::Confirming,
        },
        "rejected" | "failed" => TransactionStatus::Failed,
        _ => TransactionStatus::Confirming,
    }
}

#[async_trait]
impl CustodyProvider for RhinoClient {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serves(&self, asset: AssetId) -> Result<(), ProviderError> {
        rhino_asset(asset)?;
        if self.config.destination.is_none() && self.config.tenant_destinations.is_empty() {
            return Err(ProviderError::Rejected(
                "no Rhino destination is configured (where Rhino forwards deposits)".into(),
            ));
        }
        Ok(())
    }

    async fn mint_address(&self, request: &MintRequest) -> Result<MintedAddress, ProviderError> {
        let chain = rhino_asset(request.asset)?;
        let destination = self.destination_for(request.tenant_id).ok_or_else(|| {
            ProviderError::Rejected(format!(
                "no Rhino destination is configured for tenant {}",
                request.tenant_id
            ))
        })?;
        let note = format!("{}:{}", request.wallet_id, request.index);
        let body = create_body(chain, destination, &note);
        let created = self.create_deposit_addresses(&body).await?;
        let sda = created
            .iter()
            .find(|a| a.deposit_chain == chain)
            .ok_or_else(|| {
                ProviderError::Rejected(format!(
                    "Rhino's answer holds no deposit address on {chain}"
                ))
            })?;
        let address =
            ChainAddress::parse(request.asset.network(), &sda.deposit_address).map_err(|e| {
                ProviderError::Rejected(format!(
                    "Rhino returned an invalid {chain} deposit address: {e}"
                ))
            })?;
        tracing::info!(chain, note = %note, address = %address, "minted a Rhino smart deposit address");
        Ok(MintedAddress {
            provider_ref: Some(format!("{chain}:{}", sda.deposit_address)),
            address,
            provider: NAME,
        })
    }

    fn can_withdraw(&self, _asset: AssetId) -> Result<(), ProviderError> {
        Err(deposits_only())
    }

    async fn submit_withdrawal(
        &self,
        _request: &WithdrawalRequest,
    ) -> Result<ProviderTransfer, ProviderError> {
        Err(deposits_only())
    }

    async fn withdrawal_status(
        &self,
        _request: &WithdrawalRequest,
    ) -> Result<ProviderTransfer, ProviderError> {
        Err(deposits_only())
    }

    async fn deposit_status(
        &self,
        _provider_ref: &str,
        _asset: AssetId,
    ) -> Result<VerifiedDeposit, ProviderError> {
        // The reference is a history item's `_id`; Rhino's history is read per smart deposit
        // address and chain, which the reference alone does not name.
        Err(ProviderError::Unsupported(
            "Rhino deposits are read back from their webhook (by smart deposit address), \
             not by reference alone"
                .into(),
        ))
    }

    async fn verify_notification(
        &self,
        notice: &DepositNotice,
    ) -> Result<Notification, ProviderError> {
        self.check_signature(&notice.payload, notice.signature.as_deref())
            .await?;
        match webhook::event_tag(&notice.payload)? {
            tag if webhook::is_deposit_tag(&tag) => {
                self.verify_deposit(notice).await.map(Notification::Deposit)
            }
            // Signed by Rhino and not about a deposit (`DEPOSIT_ADDRESS_CREATED`,
            // `WEBHOOK_TEST`, `BRIDGE_PENDING`, refunds…): acknowledged, nothing to do.
            tag => Ok(Notification::Acknowledged(format!(
                "Rhino event {} is not a deposit",
                tag.chars().take(64).collect::<String>()
            ))),
        }
    }

    async fn verify_deposit(
        &self,
        notice: &DepositNotice,
    ) -> Result<VerifiedDeposit, ProviderError> {
        self.check_signature(&notice.payload, notice.signature.as_deref())
            .await?;
        let event = webhook::parse_event(&notice.payload)?;
        let network = rhino_network(&event.deposit_chain).ok_or_else(|| {
            ProviderError::Unverified(format!(
                "deposit on a chain this deployment does not serve: {}",
                event.deposit_chain.chars().take(32).collect::<String>()
            ))
        })?;
        let address = ChainAddress::parse(network, &event.deposit_address).map_err(|e| {
            ProviderError::Unverified(format!("the event's deposit address is invalid: {e}"))
        })?;
        let to = self.clock.now();
        let from = to.checked_sub(HISTORY_WINDOW).unwrap_or(to);
        let history = self
            .deposit_history(&event.deposit_address, &event.deposit_chain, from, to)
            .await
            .map_err(|e| match e {
                // Rhino does not know the SDA (for our key): it does not confirm the deposit.
                ProviderError::NotFound => ProviderError::Unverified(format!(
                    "Rhino does not know the deposit address {address}"
                )),
                other => other,
            })?;
        let by_bridge = event.tag.starts_with("BRIDGE_");
        let item = history
            .bridges
            .iter()
            .find(|item| item.id == event.bridge_id)
            .or_else(|| {
                history.bridges.iter().find(|item| {
                    by_bridge
                        && item.history.as_ref().and_then(|h| h.id.as_deref())
                            == Some(event.bridge_id.as_str())
                })
            })
            // Signed by Rhino, so it exists: the history has not caught up yet. Unavailable,
            // so the notification is delivered again rather than dropped for good.
            .ok_or_else(|| {
                ProviderError::Unavailable(format!(
                    "Rhino's history of {} has no deposit {} yet",
                    address, event.bridge_id
                ))
            })?;
        let deposit = deposit_of(item, network, address)?;
        tracing::info!(
            event = %event.tag,
            event_id = ?event.event_id,
            deposit = %deposit.provider_ref,
            asset = %deposit.asset,
            status = %deposit.status,
            "verified a Rhino deposit"
        );
        Ok(deposit)
    }

    fn forwards_to(&self, address: &ChainAddress) -> bool {
        self.config
            .destination
            .iter()
            .chain(self.config.tenant_destinations.values())
            .any(|d| {
                rhino_network(&d.chain).is_some_and(|network| {
                    network == address.network()
                        && ChainAddress::parse(network, &d.address).is_ok_and(|a| a == *address)
                })
            })
    }

    fn lists_deposits_per_address(&self, asset: AssetId) -> bool {
        rhino_asset(asset).is_ok()
    }

    async fn recent_deposits_at(
        &self,
        asset: AssetId,
        addresses: &[ChainAddress],
        since: time::OffsetDateTime,
    ) -> Result<Vec<Result<VerifiedDeposit, ProviderError>>, ProviderError> {
        let chain = rhino_asset(asset)?;
        let to = self.clock.now();
        // Rhino answers at most 31 days (422 `InvalidDateRange` beyond).
        let from = since.max(to.checked_sub(HISTORY_WINDOW).unwrap_or(to));
        let mut items = Vec::new();
        for address in addresses {
            match self
                .deposit_history(address.as_str(), chain, from, to)
                .await
            {
                Ok(history) => items.extend(
                    history
                        .bridges
                        .iter()
                        .map(|item| deposit_of(item, asset.network(), address.clone())),
                ),
                // The pass stops on an outage or the rate limit and resumes from this batch.
                Err(e @ (ProviderError::Unavailable(_) | ProviderError::RateLimited { .. })) => {
                    return Err(e)
                }
                Err(e) => items.push(Err(ProviderError::Unverified(format!(
                    "Rhino's history of {address}: {e}"
                )))),
            }
        }
        Ok(items)
    }
}

/// The deposit a history item of the SDA `address` (on `network`) is.
///
/// # Errors
/// `Unverified` when it has no id or is of a token we do not take from Rhino; `Malformed` for
/// a zero or unreadable `amountWei`.
fn deposit_of(
    item: &HistoryItem,
    network: custody_core::asset::Network,
    address: ChainAddress,
) -> Result<VerifiedDeposit, ProviderError> {
    if item.id.is_empty() {
        return Err(ProviderError::Unverified(
            "Rhino's history item has no `_id`".into(),
        ));
    }
    let symbol = item
        .token_symbol
        .as_deref()
        .and_then(|s| AssetSymbol::parse(s).ok())
        .filter(|s| matches!(s, AssetSymbol::Usdt | AssetSymbol::Usdc))
        .ok_or_else(|| {
            ProviderError::Unverified(format!(
                "deposit {} is of a token we do not take from Rhino",
                item.id
            ))
        })?;
    let asset = AssetId::new(symbol, network).map_err(|e| {
        ProviderError::Unverified(format!("deposit {} is not in the catalogue: {e}", item.id))
    })?;
    // Authentic (signed, and in Rhino's own history) but unusable: refused as malformed.
    let amount = item
        .amount_wei
        .as_deref()
        .and_then(|wei| Amount::parse_base_units(wei).ok())
        .filter(|amount| !amount.is_zero())
        .ok_or_else(|| {
            ProviderError::Malformed(format!(
                "deposit {} has a zero or unreadable amountWei",
                item.id
            ))
        })?;
    let status = deposit_status(item);
    Ok(VerifiedDeposit {
        provider_ref: item.id.clone(),
        asset,
        amount,
        address,
        tx_hash: item.tx_hash.clone(),
        status,
        confirmations: None,
    })
}

fn deposits_only() -> ProviderError {
    ProviderError::Rejected(
        "Rhino serves deposit addresses only; withdrawals go through BitGo".into(),
    )
}

#[cfg(test)]
mod tests;
