//! # custody-bitgo: live custody through BitGo
//!
//! A reqwest client of BitGo's REST API (v2) implementing
//! [`custody_core::ports::CustodyProvider`]. It owns I/O only: BitGo's paths, shapes and errors
//! are mapped to domain types here; no custody rule is decided here. Facts and their sources:
//! `providers.md` part A; every choice made where BitGo's documentation is silent is listed in
//! `docs/providers.md`.
//!
//! - **Addresses**: `POST /api/v2/{coin}/wallet/{walletId}/address` with
//!   `Authorization: Bearer <access token>` and our address id as the `label`, on the wallet of
//!   the asset's *parent* coin ([`wallet_coin`]: tokens have no wallets or addresses of their
//!   own). Address creation has no idempotency key at BitGo, so it is never retried here; the
//!   core serialises minting per (vault, asset). Reads (`GET …/address/{addressOrId}`,
//!   `GET …/addresses`) are retried.
//! - **Withdrawals**: sent with our transaction id as BitGo's `sequenceId`, through the flow the
//!   wallet needs ([`WithdrawalFlow`]: custody wallets initiate a pending approval, hot wallets
//!   send through BitGo Express, which signs). Before sending, the transfer is looked up by
//!   `sequenceId`; after any failure whose outcome is unknown it is looked up again; so a retry
//!   finds the first attempt and never sends twice. Sends themselves are never retried.
//! - **Transfers**: read by id and by `sequenceId`; BitGo's transfer states map to our
//!   statuses ([`wire::transfer_status`]).
//! - **Deposits**: BitGo's transfer webhook only names a transfer; [`BitgoClient`] reads it
//!   back from BitGo (BitGo's own rule) and trusts only what it read. When a webhook secret is
//!   configured, the `X-Signature-SHA256` HMAC is checked first.
//! - **Errors**: `{error, name, requestId}` 4xx bodies are `Rejected` naming `name` (404 is
//!   `NotFound`), 401/403 `Rejected` (configuration: retrying cannot help), 429 `RateLimited`
//!   with `Retry-After`, 5xx, timeouts and connection failures `Unavailable`.
//! - **Rate limits**: BitGo's published limits (360 requests a minute, 500 ETH addresses an
//!   hour) are kept on our side ([`RateLimits`]); beyond them a call fails `RateLimited` at
//!   once, without reaching BitGo.

mod coins;
mod transport;
pub mod wire;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use custody_core::asset::AssetId;
use custody_core::chain_address::ChainAddress;
use custody_core::id::TransactionId;
use custody_core::ports::{
    CustodyProvider, DepositNotice, MintRequest, MintedAddress, ProviderError, ProviderTransfer,
    VerifiedDeposit, WithdrawalRequest,
};
use custody_core::retry::Backoff;
use custody_core::{amount::Amount, transaction::TransactionStatus};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::Sha256;

pub use coins::{asset_for_coin, transfer_coin, wallet_coin, BitgoEnvironment};
pub use transport::{Limit, RateLimits};
use transport::{Transport, Window};
pub use wire::{
    AddressPage, PendingApproval, Transfer, TransferEntry, TransferNotification, WalletAddress,
};

/// The provider name stored with what BitGo mints.
pub const NAME: &str = "bitgo";

/// How withdrawals leave the wallet (providers.md A9.5). Which one applies is decided by the
/// wallet type BitGo gave you, so it is configuration.
#[derive(Clone)]
pub enum WithdrawalFlow {
    /// Withdrawals are refused (deposit-only deployment).
    Disabled,
    /// Custody wallets (BitGo Trust holds the keys):
    /// `POST /api/v2/{coin}/wallet/{walletId}/tx/initiate` creates a pending approval (202);
    /// BitGo signs after the wallet's approvers and video verification.
    Custody {
        /// BitGo user ids to run the video approval, if the wallet's policy wants them named.
        video_approvers: Vec<String>,
    },
    /// Self-custody hot wallets: BitGo Express (self-hosted) builds, signs and sends in one
    /// call, `POST {express}/api/v2/{coin}/wallet/{walletId}/sendcoins`.
    Express {
        /// Express's base URL (e.g. `http://localhost:3080`).
        url: String,
        /// The wallet passphrase Express decrypts the user key with. A secret.
        wallet_passphrase: SecretString,
    },
}

impl fmt::Debug for WithdrawalFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WithdrawalFlow::Disabled => f.write_str("Disabled"),
            WithdrawalFlow::Custody { video_approvers } => f
                .debug_struct("Custody")
                .field("video_approvers", video_approvers)
                .finish(),
            WithdrawalFlow::Express { url, .. } => f
                .debug_struct("Express")
                .field("url", url)
                .field("wallet_passphrase", &"[REDACTED]")
                .finish(),
        }
    }
}

/// Connection settings. Secrets (access token, passphrase, webhook secret) are redacted in
/// `Debug` and never logged.
#[derive(Debug, Clone)]
pub struct BitgoConfig {
    /// Which environment (decides the coins).
    pub environment: BitgoEnvironment,
    /// REST base, without `/api/v2` (default: the environment's; an on-premise BitGo Express
    /// proxying the REST routes works too).
    pub base_url: String,
    /// A long-lived access token.
    pub access_token: SecretString,
    /// Wallet id per wallet coin (`eth`/`hteth`, `sol`/`tsol`).
    pub wallets: BTreeMap<String, String>,
    /// Per-request timeout (BitGo recommends long ones: 100 s by default).
    pub timeout: Duration,
    /// How withdrawals are sent.
    pub withdrawals: WithdrawalFlow,
    /// The enterprise webhook secret, when `X-Signature-SHA256` should be checked.
    pub webhook_secret: Option<SecretString>,
    /// Retries of safe calls.
    pub backoff: Backoff,
    /// BitGo's rate limits, kept on our side.
    pub limits: RateLimits,
}

impl BitgoConfig {
    /// BitGo's recommended client timeout.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(100);

    /// Settings with the documented defaults: the environment's base URL, a 100 s timeout,
    /// withdrawals disabled, no webhook secret, default retries and BitGo's published limits.
    pub fn new(environment: BitgoEnvironment, access_token: SecretString) -> BitgoConfig {
        BitgoConfig {
            environment,
            base_url: environment.default_base_url().to_owned(),
            access_token,
            wallets: BTreeMap::new(),
            timeout: BitgoConfig::DEFAULT_TIMEOUT,
            withdrawals: WithdrawalFlow::Disabled,
            webhook_secret: None,
            backoff: Backoff::default(),
            limits: RateLimits::default(),
        }
    }
}

/// The BitGo client and custody provider.
#[derive(Debug)]
pub struct BitgoClient {
    transport: Transport,
    eth_addresses: Window,
    config: BitgoConfig,
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
    fn wallet_for(&self, asset: AssetId) -> Result<(&'static str, &str), ProviderError> {
        let coin = wallet_coin(asset, self.config.environment).ok_or_else(|| {
            ProviderError::Rejected(format!("BitGo does not serve {asset} in this deployment"))
        })?;
        let wallet = self.config.wallets.get(coin).ok_or_else(|| {
            ProviderError::Rejected(format!("no BitGo wallet is configured for coin {coin}"))
        })?;
        Ok((coin, wallet))
    }

    /// The transfer coin and the wallet id for an asset.
    fn transfer_route(&self, asset: AssetId) -> Result<(&'static str, &str), ProviderError> {
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

    /// Checks `X-Signature-SHA256` when a webhook secret is configured: hex of
    /// HMAC-SHA256(secret, raw body), compared in constant time. Without a secret, passes
    /// (the read-back is what is trusted either way).
    ///
    /// # Errors
    /// `Unverified` when a secret is configured and the signature is missing or wrong.
    pub fn check_signature(
        &self,
        payload: &[u8],
        signature: Option<&str>,
    ) -> Result<(), ProviderError> {
        let Some(secret) = &self.config.webhook_secret else {
            return Ok(());
        };
        let signature = signature
            .ok_or_else(|| ProviderError::Unverified("no X-Signature-SHA256 header".into()))?;
        let expected = hex::decode(signature.trim())
            .map_err(|_| ProviderError::Unverified("X-Signature-SHA256 is not hex".into()))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
            .map_err(|_| ProviderError::Unverified("unusable webhook secret".into()))?;
        mac.update(payload);
        mac.verify_slice(&expected)
            .map_err(|_| ProviderError::Unverified("X-Signature-SHA256 does not match".into()))
    }

    /// Reads the transfer a webhook names back from BitGo and turns it into a deposit, trusting
    /// only what was read.
    async fn read_back_deposit(
        &self,
        notice: &TransferNotification,
    ) -> Result<VerifiedDeposit, ProviderError> {
        let unverified = |why: String| ProviderError::Unverified(why);
        let asset = asset_for_coin(&notice.coin, self.config.environment)
            .ok_or_else(|| unverified(format!("coin `{}` is not one we hold", notice.coin)))?;
        let (coin, wallet) = self.transfer_route(asset)?;
        if notice.wallet != wallet {
            return Err(unverified(format!(
                "wallet {} is not our {coin} wallet",
                notice.wallet
            )));
        }
        let transfer = match self.get_transfer(coin, wallet, &notice.transfer).await {
            Err(ProviderError::NotFound) => {
                return Err(unverified(format!(
                    "BitGo has no transfer {} on our {coin} wallet",
                    notice.transfer
                )))
            }
            other => other?,
        };
        if transfer.wallet != wallet || transfer.coin != coin || transfer.id != notice.transfer {
            return Err(unverified(format!(
                "BitGo's transfer {} is not a {coin} transfer of our wallet",
                notice.transfer
            )));
        }
        if transfer.kind != "receive" {
            return Err(unverified(format!(
                "transfer {} is a {}, not a deposit",
                transfer.id, transfer.kind
            )));
        }
        let (status, _) = wire::transfer_status(&transfer.state)
            .ok_or_else(|| unverified(format!("transfer state `{}` is unknown", transfer.state)))?;
        let status = match status {
            // A replaced receive is superseded by its replacement, credited under its own
            // transfer id: this one will never complete.
            _ if transfer.state == "replaced" => TransactionStatus::Failed,
            TransactionStatus::Completed | TransactionStatus::Failed => status,
            _ => TransactionStatus::Confirming,
        };
        let (raw_address, amount) = receiving_entry(&transfer, wallet)?;
        let address = ChainAddress::parse(asset.network(), raw_address)
            .map_err(|e| unverified(format!("BitGo reported an invalid receiving address: {e}")))?;
        Ok(VerifiedDeposit {
            provider_ref: transfer.id.clone(),
            asset,
            amount,
            address,
            tx_hash: transfer.txid.clone().filter(|t| !t.is_empty()),
            status,
            confirmations: None,
        })
    }
}

/// Parses BitGo's transfer webhook (`{hash, transfer, coin, type: "transfer", state,
/// wallet}`). Parsing is all it does: nothing in it is trusted.
///
/// # Errors
/// `Unverified` when the body is not a transfer notification.
pub fn parse_transfer_webhook(payload: &[u8]) -> Result<TransferNotification, ProviderError> {
    let notice: TransferNotification = serde_json::from_slice(payload)
        .map_err(|e| ProviderError::Unverified(format!("not a BitGo transfer webhook: {e}")))?;
    if notice.kind != "transfer" {
        return Err(ProviderError::Unverified(format!(
            "a `{}` webhook is not a transfer notification",
            notice.kind
        )));
    }
    // BitGo ids are 32 lowercase hex; anything else never reaches a URL.
    for (field, id) in [("transfer", &notice.transfer), ("wallet", &notice.wallet)] {
        if !is_bitgo_id(id) {
            return Err(ProviderError::Unverified(format!(
                "the webhook's `{field}` is not a BitGo id"
            )));
        }
    }
    Ok(notice)
}

/// `^[0-9a-f]{32}$`, BitGo's id format.
fn is_bitgo_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The one address of our wallet a receive credited, and by how much. An entry annotated as
/// our wallet's wins; without any, a single positive entry carrying no wallet annotation at
/// all is accepted (the deposit service then refuses it unless the address is one of ours).
/// An entry annotated as another wallet's is never ours.
fn receiving_entry<'t>(
    transfer: &'t Transfer,
    wallet: &str,
) -> Result<(&'t str, Amount), ProviderError> {
    let credits: Vec<(&TransferEntry, &str, Amount)> = transfer
        .entries
        .iter()
        .filter(|e| e.is_change != Some(true))
        .filter_map(|e| {
            let units: u128 = e.value_string.as_deref()?.parse().ok()?;
            let address = e.receiving_address()?;
            (units > 0).then_some((e, address, Amount::from_base_units(units)))
        })
        .collect();
    let ours: Vec<_> = credits
        .iter()
        .filter(|(e, _, _)| e.wallet.as_deref() == Some(wallet))
        .collect();
    let unannotated: Vec<_> = credits
        .iter()
        .filter(|(e, _, _)| e.wallet.is_none())
        .collect();
    let chosen = match (ours.as_slice(), unannotated.as_slice()) {
        ([one], _) | ([], [one]) => one,
        ([], []) => {
            return Err(ProviderError::Unverified(format!(
                "transfer {} credits no address of our wallet",
                transfer.id
            )))
        }
        _ => {
            return Err(ProviderError::Unverified(format!(
                "transfer {} credits several of our addresses; split deposits are not supported",
                transfer.id
            )))
        }
    };
    Ok((chosen.1, chosen.2))
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
                    Err(_) if error.is_retryable() => Err(error),
                    // Refused, and no transfer under our sequence id. That is not proof that
                    // nothing will be sent: an earlier attempt may have left a pending approval,
                    // which BitGo does not document as visible to the sequence-id lookup, and
                    // the refusal may be BitGo refusing the repeated sequence id. Never final:
                    // the caller keeps the funds held and tries again (safe: same sequence id)
                    // until the withdrawal is reconciled.
                    Err(ProviderError::NotFound) => Err(ProviderError::Unavailable(format!(
                        "BitGo refused the send ({error}) and has no transfer for it yet; \
                         not final until reconciled"
                    ))),
                    Err(read) => Err(ProviderError::Unavailable(format!(
                        "BitGo refused the send ({error}) and the read-back failed ({read})"
                    ))),
                }
            }
        }
    }

    async fn withdrawal_status(
        &self,
        transaction_id: TransactionId,
        asset: AssetId,
    ) -> Result<ProviderTransfer, ProviderError> {
        let (coin, wallet) = self.transfer_route(asset)?;
        let transfer = self
            .get_transfer_by_sequence_id(coin, wallet, &transaction_id.to_string())
            .await?;
        from_transfer(&transfer)
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
