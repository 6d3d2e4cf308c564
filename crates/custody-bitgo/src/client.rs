//! The REST side: the client, its address, transfer and approval calls, and sends through the
//! configured [`WithdrawalFlow`].

use custody_core::amount::Amount;
use custody_core::asset::AssetId;
use custody_core::ports::ProviderError;
use reqwest::StatusCode;
use secrecy::ExposeSecret as _;

use crate::transport::{Transport, Window};
use crate::wire::{AddressPage, PendingApproval, Transfer, TransferPage, WalletAddress};
use crate::{transfer_coin, wallet_coin, BitgoConfig, WithdrawalFlow};

/// The BitGo client and custody provider.
#[derive(Debug)]
pub struct BitgoClient {
    transport: Transport,
    eth_addresses: Window,
    pub(crate) config: BitgoConfig,
}

/// What a send answered: a transfer already (200), or a pending approval (202).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// BitGo created (and, for hot wallets, signed) the transfer.
    Transfer(Transfer),
    /// The send waits for approval.
    PendingApproval(PendingApproval),
}

impl BitgoClient {
    /// Builds the client.
    ///
    /// # Errors
    /// `Unavailable` when the HTTP client cannot be built (TLS roots).
    pub fn new(config: BitgoConfig) -> Result<BitgoClient, ProviderError> {
        let transport = Transport::new(
            config.timeout,
            config.access_token.clone(),
            config.backoff,
            config.limits,
        )?;
        Ok(BitgoClient {
            transport,
            eth_addresses: Window::new(config.limits.eth_addresses),
            config,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url.trim_end_matches('/'))
    }

    /// The wallet coin and configured wallet id for an asset.
    pub(crate) fn wallet_for(&self, asset: AssetId) -> Result<(&'static str, &str), ProviderError> {
        let coin = wallet_coin(asset, self.config.environment).ok_or_else(|| {
            ProviderError::Rejected(format!("BitGo does not serve {asset} in this deployment"))
        })?;
        let wallet = self.config.wallets.get(coin).ok_or_else(|| {
            ProviderError::Rejected(format!("no BitGo wallet is configured for coin {coin}"))
        })?;
        Ok((coin, wallet))
    }

    /// The transfer coin and the wallet id for an asset.
    pub(crate) fn transfer_route(
        &self,
        asset: AssetId,
    ) -> Result<(&'static str, &str), ProviderError> {
        let (_, wallet) = self.wallet_for(asset)?;
        let coin = transfer_coin(asset, self.config.environment).ok_or_else(|| {
            ProviderError::Rejected(format!(
                "BitGo's {:?} environment has no faithful coin for {asset}",
                self.config.environment
            ))
        })?;
        Ok((coin, wallet))
    }

    /// `POST /api/v2/{coin}/wallet/{walletId}/address` with `{"label": label}`. Not retried:
    /// BitGo has no idempotency key for address creation.
    ///
    /// # Errors
    /// As the crate doc's error mapping.
    pub async fn create_address(
        &self,
        coin: &str,
        wallet: &str,
        label: &str,
    ) -> Result<WalletAddress, ProviderError> {
        let extra = matches!(coin, "eth" | "hteth").then_some(&self.eth_addresses);
        let answer = self
            .transport
            .post(
                &self.url(&format!("/api/v2/{coin}/wallet/{wallet}/address")),
                &serde_json::json!({ "label": label }),
                extra,
            )
            .await?;
        Ok(answer.body)
    }

    /// `GET /api/v2/{coin}/wallet/{walletId}/address/{addressOrId}` (retried).
    ///
    /// # Errors
    /// As the crate doc's error mapping.
    pub async fn get_address(
        &self,
        coin: &str,
        wallet: &str,
        address_or_id: &str,
    ) -> Result<WalletAddress, ProviderError> {
        let url = self.url(&format!(
            "/api/v2/{coin}/wallet/{wallet}/address/{address_or_id}"
        ));
        self.transport.get(&url, &[]).await
    }

    /// `GET /api/v2/{coin}/wallet/{walletId}?allTokens=true` (retried): the wallet with its
    /// token balances.
    ///
    /// # Errors
    /// As the crate doc's error mapping.
    pub async fn get_wallet_balances(
        &self,
        coin: &str,
        wallet: &str,
    ) -> Result<crate::wire::WalletBalances, ProviderError> {
        let url = self.url(&format!("/api/v2/{coin}/wallet/{wallet}"));
        self.transport
            .get(&url, &[("allTokens", "true".to_owned())])
            .await
    }

    /// `GET /api/v2/{coin}/wallet/{walletId}/addresses`, one page (retried). `prev_id` is the
    /// previous page's `nextBatchPrevId`; `label_contains` filters by label.
    ///
    /// # Errors
    /// As the crate doc's error mapping.
    pub async fn list_addresses(
        &self,
        coin: &str,
        wallet: &str,
        limit: u32,
        prev_id: Option<&str>,
        label_contains: Option<&str>,
    ) -> Result<AddressPage, ProviderError> {
        let url = self.url(&format!("/api/v2/{coin}/wallet/{wallet}/addresses"));
        let mut query = vec![("limit", limit.clamp(1, 500).to_string())];
        if let Some(prev) = prev_id {
            query.push(("prevId", prev.to_owned()));
        }
        if let Some(label) = label_contains {
            query.push(("labelContains", label.to_owned()));
        }
        self.transport.get(&url, &query).await
    }

    /// `GET /api/v2/{coin}/wallet/{walletId}/transfer/{transferId}` (retried).
    ///
    /// # Errors
    /// As the crate doc's error mapping.
    pub async fn get_transfer(
        &self,
        coin: &str,
        wallet: &str,
        transfer_id: &str,
    ) -> Result<Transfer, ProviderError> {
        let url = self.url(&format!(
            "/api/v2/{coin}/wallet/{wallet}/transfer/{transfer_id}"
        ));
        self.transport.get(&url, &[]).await
    }

    /// `GET /api/v2/{coin}/wallet/{walletId}/transfer/sequenceId/{sequenceId}` (retried).
    ///
    /// # Errors
    /// `NotFound` when nothing was sent with that sequence id; as the crate doc's mapping.
    pub async fn get_transfer_by_sequence_id(
        &self,
        coin: &str,
        wallet: &str,
        sequence_id: &str,
    ) -> Result<Transfer, ProviderError> {
        let url = self.url(&format!(
            "/api/v2/{coin}/wallet/{wallet}/transfer/sequenceId/{sequence_id}"
        ));
        self.transport.get(&url, &[]).await
    }

    /// `GET /api/v2/{coin}/wallet/{walletId}/transfer?type=receive&dateGte=…`, one page
    /// (retried): receives since `since`, newest first. `prev_id` is the previous page's
    /// `nextBatchPrevId`.
    ///
    /// # Errors
    /// As the crate doc's error mapping.
    pub async fn list_receives(
        &self,
        coin: &str,
        wallet: &str,
        since: time::OffsetDateTime,
        limit: u32,
        prev_id: Option<&str>,
    ) -> Result<TransferPage, ProviderError> {
        let url = self.url(&format!("/api/v2/{coin}/wallet/{wallet}/transfer"));
        let since = since
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| ProviderError::Rejected(format!("unusable date: {e}")))?;
        let mut query = vec![
            ("type", "receive".to_owned()),
            ("dateGte", since),
            ("limit", limit.clamp(1, 500).to_string()),
        ];
        if let Some(prev) = prev_id {
            query.push(("prevId", prev.to_owned()));
        }
        self.transport.get(&url, &query).await
    }

    /// `GET /api/v2/pendingapprovals/{approvalId}` (retried).
    ///
    /// # Errors
    /// As the crate doc's error mapping.
    pub async fn get_pending_approval(
        &self,
        approval_id: &str,
    ) -> Result<PendingApproval, ProviderError> {
        let url = self.url(&format!("/api/v2/pendingapprovals/{approval_id}"));
        self.transport.get(&url, &[]).await
    }

    /// Sends once through the configured [`WithdrawalFlow`], with `sequence_id`. Never
    /// retried; [`CustodyProvider::submit_withdrawal`] wraps it with the read-backs that make
    /// it idempotent.
    ///
    /// # Errors
    /// `Rejected` when withdrawals are disabled; as the crate doc's mapping.
    ///
    /// [`CustodyProvider::submit_withdrawal`]: custody_core::ports::CustodyProvider::submit_withdrawal
    pub async fn send(
        &self,
        coin: &str,
        wallet: &str,
        destination: &str,
        amount: Amount,
        sequence_id: &str,
    ) -> Result<SendOutcome, ProviderError> {
        let amount = amount.base_units().to_string();
        let answer = match &self.config.withdrawals {
            WithdrawalFlow::Disabled => {
                return Err(ProviderError::Rejected(
                    "withdrawals are not enabled for this BitGo deployment".into(),
                ))
            }
            WithdrawalFlow::Custody { video_approvers } => {
                let mut body = serde_json::json!({
                    "recipients": [{ "address": destination, "amount": amount }],
                    "sequenceId": sequence_id,
                });
                if !video_approvers.is_empty() {
                    body["videoApprovers"] = serde_json::json!(video_approvers);
                }
                let url = self.url(&format!("/api/v2/{coin}/wallet/{wallet}/tx/initiate"));
                self.transport
                    .post::<serde_json::Value>(&url, &body, None)
                    .await?
            }
            WithdrawalFlow::Express {
                url,
                wallet_passphrase,
            } => {
                let body = serde_json::json!({
                    "address": destination,
                    "amount": amount,
                    "walletPassphrase": wallet_passphrase.expose_secret(),
                    "sequenceId": sequence_id,
                });
                let url = format!(
                    "{}/api/v2/{coin}/wallet/{wallet}/sendcoins",
                    url.trim_end_matches('/')
                );
                self.transport
                    .post::<serde_json::Value>(&url, &body, None)
                    .await?
            }
        };
        send_outcome(answer.status, answer.body)
    }
}

/// Classifies a send's answer: a body with a `transfer` is a transfer; a 202, or a body with
/// a `pendingApproval`, waits for approval.
fn send_outcome(status: StatusCode, body: serde_json::Value) -> Result<SendOutcome, ProviderError> {
    let unreadable = |e: serde_json::Error| {
        ProviderError::Unavailable(format!("unreadable BitGo send answer: {e}"))
    };
    if let Some(transfer) = body.get("transfer").filter(|t| t.is_object()) {
        return serde_json::from_value(transfer.clone())
            .map(SendOutcome::Transfer)
            .map_err(unreadable);
    }
    if let Some(approval) = body.get("pendingApproval").filter(|a| a.is_object()) {
        return serde_json::from_value(approval.clone())
            .map(SendOutcome::PendingApproval)
            .map_err(unreadable);
    }
    if status == StatusCode::ACCEPTED {
        return serde_json::from_value(body)
            .map(SendOutcome::PendingApproval)
            .map_err(unreadable);
    }
    Err(ProviderError::Unavailable(
        "BitGo's send answer holds neither a transfer nor a pending approval".into(),
    ))
}
