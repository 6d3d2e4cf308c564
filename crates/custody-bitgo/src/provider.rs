//! [`CustodyProvider`] for [`BitgoClient`]: minting on the asset's parent-coin wallet,
//! idempotent withdrawals keyed by our transaction id as BitGo's `sequenceId`, and verified
//! deposits.

use async_trait::async_trait;
use custody_core::amount::Amount;
use custody_core::asset::AssetId;
use custody_core::chain_address::ChainAddress;
use custody_core::id::TransactionId;
use custody_core::ports::{
    CustodyBalance, CustodyProvider, DepositNotice, MintRequest, MintedAddress, Notification,
    ProviderError, ProviderTransfer, VerifiedDeposit, WithdrawalRequest,
};
use custody_core::transaction::TransactionStatus;

use crate::webhook::{is_bitgo_id, notification_of};
use crate::wire::{self, PendingApproval, Transfer};
use crate::{
    asset_for_coin, parse_transfer_webhook, BitgoClient, SendOutcome, WithdrawalFlow, NAME,
};

/// Transfers asked per page when reconciling (BitGo allows up to 500).
const RECONCILE_PAGE: u32 = 250;
/// At most this many pages per asset and pass (125,000 receives): a longer look-back is split
/// by the operator (`--since`).
const MAX_RECONCILE_PAGES: usize = 500;

fn from_transfer(transfer: &Transfer) -> Result<ProviderTransfer, ProviderError> {
    let (status, reason) = wire::transfer_status(&transfer.state).ok_or_else(|| {
        ProviderError::Unavailable(format!(
            "BitGo transfer {} is in undocumented state `{}`",
            transfer.id, transfer.state
        ))
    })?;
    Ok(ProviderTransfer {
        provider_ref: transfer.id.clone(),
        status,
        tx_hash: transfer.txid.clone().filter(|t| !t.is_empty()),
        failure_reason: reason.map(str::to_owned),
        confirmations: None,
        // A re-organisation dropped it: the same signed transaction may still be mined, so
        // whether the funds left is not known. `failed` and `rejected` are definite.
        outcome_ambiguous: transfer.state == "removed",
    })
}

fn from_approval(approval: &PendingApproval) -> Result<ProviderTransfer, ProviderError> {
    let (status, reason) = wire::approval_status(&approval.state).ok_or_else(|| {
        ProviderError::Unavailable(format!(
            "BitGo pending approval {} is in undocumented state `{}`",
            approval.id, approval.state
        ))
    })?;
    Ok(ProviderTransfer {
        provider_ref: approval.id.clone(),
        status,
        tx_hash: None,
        failure_reason: reason.map(str::to_owned),
        confirmations: None,
        // An approval that was rejected never produced a transaction.
        outcome_ambiguous: false,
    })
}

#[async_trait]
impl CustodyProvider for BitgoClient {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serves(&self, asset: AssetId) -> Result<(), ProviderError> {
        self.transfer_route(asset).map(|_| ())
    }

    fn can_withdraw(&self, asset: AssetId) -> Result<(), ProviderError> {
        self.transfer_route(asset)?;
        if matches!(self.config.withdrawals, WithdrawalFlow::Disabled) {
            return Err(ProviderError::Rejected(
                "withdrawals are not enabled for this BitGo deployment \
                 (`live.bitgo.withdrawals = \"disabled\"`)"
                    .into(),
            ));
        }
        Ok(())
    }

    async fn mint_address(&self, request: &MintRequest) -> Result<MintedAddress, ProviderError> {
        self.serves(request.asset)?;
        let (coin, wallet) = self.wallet_for(request.asset)?;
        let created = self
            .create_address(coin, wallet, &request.address_id.to_string())
            .await?;
        let raw = created.address.as_deref().ok_or_else(|| {
            ProviderError::Unavailable(
                "BitGo has not revealed the address yet (pending chain initialisation)".into(),
            )
        })?;
        let address = ChainAddress::parse(request.asset.network(), raw).map_err(|e| {
            ProviderError::Rejected(format!("BitGo returned an invalid {coin} address: {e}"))
        })?;
        Ok(MintedAddress {
            address,
            provider_ref: Some(created.id),
            provider: NAME,
        })
    }

    async fn submit_withdrawal(
        &self,
        request: &WithdrawalRequest,
    ) -> Result<ProviderTransfer, ProviderError> {
        let (coin, wallet) = self.transfer_route(request.asset)?;
        if matches!(self.config.withdrawals, WithdrawalFlow::Disabled) {
            return Err(ProviderError::Rejected(
                "withdrawals are not enabled for this BitGo deployment".into(),
            ));
        }
        let sequence_id = request.transaction_id.to_string();
        // Sent before (a retry after a crash or an unanswered call)? Then report that.
        match self
            .get_transfer_by_sequence_id(coin, wallet, &sequence_id)
            .await
        {
            Ok(existing) => return from_transfer(&existing),
            Err(ProviderError::NotFound) => {}
            Err(e) => return Err(e),
        }
        let sent = self
            .send(
                coin,
                wallet,
                request.destination.as_str(),
                request.amount,
                &sequence_id,
            )
            .await;
        match sent {
            Ok(SendOutcome::Transfer(transfer)) => from_transfer(&transfer),
            Ok(SendOutcome::PendingApproval(approval)) => from_approval(&approval),
            // Not sent for sure: BitGo never got the request through our limiter.
            Err(e @ ProviderError::RateLimited { .. }) => Err(e),
            // Anything else leaves doubt (a timeout may have sent; a refusal may be BitGo
            // refusing a sequence id it already has): read back before answering.
            Err(error) => {
                match self
                    .get_transfer_by_sequence_id(coin, wallet, &sequence_id)
                    .await
                {
                    Ok(existing) => from_transfer(&existing),
                    // Handed over (a timeout, a 5xx or a refusal), and no transfer under our
                    // sequence id yet. That is not proof that nothing will be sent: the request
                    // may have executed after our timeout, an earlier attempt may have left a
                    // pending approval (BitGo does not document those as visible to the
                    // sequence-id lookup), and a refusal may be BitGo refusing the repeated
                    // sequence id. Never resent, never failed: the core keeps the funds held
                    // and flags it; status reads by sequence id settle it, or an operator.
                    Err(ProviderError::NotFound) => Err(ProviderError::OutcomeUnknown(format!(
                        "BitGo answered the send with {error} and has no transfer for \
                         sequenceId {sequence_id} yet"
                    ))),
                    Err(read) => Err(ProviderError::OutcomeUnknown(format!(
                        "BitGo answered the send with {error} and the read-back by sequenceId \
                         {sequence_id} failed ({read})"
                    ))),
                }
            }
        }
    }

    async fn withdrawal_status(
        &self,
        request: &WithdrawalRequest,
    ) -> Result<ProviderTransfer, ProviderError> {
        let (coin, wallet) = self.transfer_route(request.asset)?;
        // The custody flow answers a send with a pending approval, whose id we recorded; the
        // transfer may not exist (or not be visible by sequence id) until it is approved, and
        // a rejected approval may never produce one. So a pending or missing transfer is
        // checked against the approval.
        let approval_ref = request
            .provider_ref
            .as_deref()
            .filter(|r| is_bitgo_id(r))
            .filter(|_| !matches!(self.config.withdrawals, WithdrawalFlow::Disabled));
        let by_sequence = self
            .get_transfer_by_sequence_id(coin, wallet, &request.transaction_id.to_string())
            .await;
        let transfer = match by_sequence {
            Ok(transfer) => {
                let mapped = from_transfer(&transfer)?;
                if mapped.status != TransactionStatus::PendingSignature {
                    return Ok(mapped);
                }
                Some(mapped)
            }
            Err(ProviderError::NotFound) => None,
            Err(e) => return Err(e),
        };
        let Some(approval_id) = approval_ref.filter(|r| {
            transfer
                .as_ref()
                .is_none_or(|t| t.provider_ref.as_str() != *r)
        }) else {
            return transfer.ok_or(ProviderError::NotFound);
        };
        match self.get_pending_approval(approval_id).await {
            Ok(approval) => {
                let mapped = from_approval(&approval)?;
                match (&transfer, mapped.status) {
                    // Approved, but the transfer is what we follow once there is one.
                    (Some(pending), TransactionStatus::Broadcasting) => Ok(pending.clone()),
                    _ => Ok(mapped),
                }
            }
            // The reference was not an approval (a transfer id from an express send).
            Err(ProviderError::NotFound) => transfer.ok_or(ProviderError::NotFound),
            Err(e) => Err(e),
        }
    }

    async fn deposit_status(
        &self,
        provider_ref: &str,
        asset: AssetId,
    ) -> Result<VerifiedDeposit, ProviderError> {
        // Our deposits' references are BitGo transfer ids; anything else never reaches a URL.
        if !is_bitgo_id(provider_ref) {
            return Err(ProviderError::NotFound);
        }
        let (coin, wallet) = self.transfer_route(asset)?;
        self.read_deposit(asset, coin, wallet, provider_ref).await
    }

    async fn recent_deposits(
        &self,
        assets: &[AssetId],
        since: time::OffsetDateTime,
    ) -> Result<Vec<Result<Notification, ProviderError>>, ProviderError> {
        let mut items = Vec::new();
        for &asset in assets {
            let (coin, wallet) = self.transfer_route(asset)?;
            let mut prev: Option<String> = None;
            for _ in 0..MAX_RECONCILE_PAGES {
                let page = self
                    .list_receives(coin, wallet, since, RECONCILE_PAGE, prev.as_deref())
                    .await?;
                for transfer in &page.transfers {
                    if transfer.wallet != wallet || transfer.coin != coin {
                        continue;
                    }
                    items.push(
                        notification_of(asset, wallet, transfer).map_err(|e| match e {
                            ProviderError::Malformed(m) => ProviderError::Malformed(m),
                            other => ProviderError::Unverified(format!(
                                "transfer {}: {other}",
                                transfer.id
                            )),
                        }),
                    );
                }
                match page.next_batch_prev_id {
                    Some(next) if !page.transfers.is_empty() => prev = Some(next),
                    _ => break,
                }
            }
        }
        Ok(items)
    }

    async fn verify_notification(
        &self,
        notice: &DepositNotice,
    ) -> Result<Notification, ProviderError> {
        self.check_signature(&notice.payload, notice.signature.as_deref())?;
        let kind = serde_json::from_slice::<serde_json::Value>(&notice.payload)
            .ok()
            .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
            .ok_or_else(|| ProviderError::Unverified("not a BitGo webhook".into()))?;
        if kind != "transfer" {
            // Any other webhook type (a pending approval, a block, an address confirmation):
            // nothing we act on; acknowledged so BitGo does not count failures against it.
            let shown: String = kind.chars().take(40).collect();
            return Ok(Notification::Acknowledged(format!(
                "a `{shown}` webhook is not a transfer"
            )));
        }
        let parsed = parse_transfer_webhook(&notice.payload)?;
        let Some(asset) = asset_for_coin(&parsed.coin, self.config.environment) else {
            // The native coin (gas), or a token we do not hold: no deposit of ours.
            let shown: String = parsed.coin.chars().take(40).collect();
            return Ok(Notification::Acknowledged(format!(
                "a transfer of `{shown}`, a coin we do not track"
            )));
        };
        let (coin, wallet) = self.transfer_route(asset)?;
        if parsed.wallet != wallet {
            return Err(ProviderError::Unverified(format!(
                "wallet {} is not our {coin} wallet",
                parsed.wallet
            )));
        }
        let transfer = match self.read_own_transfer(coin, wallet, &parsed.transfer).await {
            Ok(transfer) => transfer,
            Err(ProviderError::NotFound) => {
                return Err(ProviderError::Unverified(format!(
                    "BitGo has no transfer {} on our {coin} wallet",
                    parsed.transfer
                )))
            }
            Err(e) => return Err(e),
        };
        if transfer.kind == "send" {
            // Our withdrawals carry our transaction id as their sequence id.
            return Ok(
                match transfer
                    .sequence_id
                    .as_deref()
                    .and_then(|s| TransactionId::parse(s).ok())
                {
                    Some(id) => Notification::Withdrawal(id),
                    None => Notification::Acknowledged(format!(
                        "send {} was not made through custody (no sequence id of ours)",
                        transfer.id
                    )),
                },
            );
        }
        notification_of(asset, wallet, &transfer)
    }

    /// The configured wallet's balance of the asset's token: `GET /api/v2/{walletCoin}/wallet/
    /// {walletId}?allTokens=true`, `tokens[<transfer coin>].balanceString` (every asset we
    /// serve is a token on the parent coin's wallet). A wallet answer that names another wallet
    /// or coin, lists no such token, or carries an unreadable amount is `Unavailable`: the
    /// comparison did not happen, which is not the same as a zero balance.
    async fn custody_balance(&self, asset: AssetId) -> Result<CustodyBalance, ProviderError> {
        let (token, wallet) = self.transfer_route(asset)?;
        let (coin, _) = self.wallet_for(asset)?;
        let answer = self.get_wallet_balances(coin, wallet).await?;
        if answer.id != wallet || answer.coin != coin {
            return Err(ProviderError::Unavailable(format!(
                "BitGo answered for wallet {} ({}) when asked for our {coin} wallet {wallet}",
                answer.id, answer.coin
            )));
        }
        let entry = answer.tokens.get(token).ok_or_else(|| {
            ProviderError::Unavailable(format!(
                "BitGo's {coin} wallet {wallet} lists no `{token}` balance under `tokens`"
            ))
        })?;
        let balance = Amount::parse_base_units(&entry.balance_string).map_err(|e| {
            ProviderError::Unavailable(format!(
                "BitGo's `{token}` balanceString `{}` is not a base-unit amount: {e}",
                entry.balance_string.chars().take(60).collect::<String>()
            ))
        })?;
        Ok(CustodyBalance {
            asset,
            balance,
            source: format!("BitGo {coin} wallet {wallet}, tokens.{token}.balanceString"),
        })
    }

    async fn verify_deposit(
        &self,
        notice: &DepositNotice,
    ) -> Result<VerifiedDeposit, ProviderError> {
        self.check_signature(&notice.payload, notice.signature.as_deref())?;
        let parsed = parse_transfer_webhook(&notice.payload)?;
        self.read_back_deposit(&parsed).await
    }
}
