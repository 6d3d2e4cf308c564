//! # custody-bitgo: live custody through BitGo
//!
//! A reqwest client of BitGo's REST API (v2) implementing
//! [`custody_core::ports::CustodyProvider`]. It owns I/O only: BitGo's paths, shapes and errors
//! are mapped to domain types here; no custody rule is decided here.
//!
//! ## What this slice does (issue "Live custody", in progress)
//! - Mints deposit addresses: `POST /api/v2/{coin}/wallet/{walletId}/address` with
//!   `Authorization: Bearer <access token>` and our address id as the `label`, on the wallet of
//!   the asset's *parent* coin (tokens have no wallets or addresses of their own at BitGo: USDT on
//!   ethereum is an address of the `eth` wallet, `hteth` on the test environment; USDC on solana
//!   of the `sol` / `tsol` wallet). Address creation has no idempotency key at BitGo, so it is
//!   never retried here; the core serialises minting per (vault, asset) and stores the result.
//! - Reads an address back: `GET /api/v2/{coin}/wallet/{walletId}/address/{addressOrId}`
//!   (safe, retried once on a transient failure).
//! - Maps errors: BitGo's `{error, name, requestId}` 4xx bodies are `Rejected` naming `name`
//!   (404 is `NotFound`), 401/403 are `Rejected` (a configuration problem, retrying cannot
//!   help), 429 is `RateLimited` with `Retry-After`, 5xx, timeouts and connection failures are
//!   `Unavailable` (retryable).
//!
//! Not yet: withdrawals (`sequenceId` = our transaction id), transfer reads and the transfer
//! webhook; until then those port methods are refused with a `Rejected` saying so.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use custody_core::asset::{AssetId, Network};
use custody_core::chain_address::ChainAddress;
use custody_core::id::TransactionId;
use custody_core::ports::{
    CustodyProvider, DepositNotice, MintRequest, MintedAddress, ProviderError, ProviderTransfer,
    VerifiedDeposit, WithdrawalRequest,
};
use reqwest::StatusCode;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

/// The provider name stored with what BitGo mints.
pub const NAME: &str = "bitgo";

/// BitGo's two environments: separate accounts, separate coins (testnets on `Test`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BitgoEnvironment {
    /// `https://app.bitgo-test.com`, testnet coins (`hteth`, `tsol`).
    Test,
    /// `https://app.bitgo.com`, mainnet coins (`eth`, `sol`).
    Production,
}

impl BitgoEnvironment {
    /// The documented REST base URL (an on-premise BitGo Express URL may be configured
    /// instead).
    pub const fn default_base_url(self) -> &'static str {
        match self {
            BitgoEnvironment::Test => "https://app.bitgo-test.com",
            BitgoEnvironment::Production => "https://app.bitgo.com",
        }
    }
}

/// The wallet coin an asset's addresses live on, or `None` when BitGo does not serve the
/// asset's network here (base, ink and sui go to Rhino).
pub fn wallet_coin(asset: AssetId, environment: BitgoEnvironment) -> Option<&'static str> {
    let test = environment == BitgoEnvironment::Test;
    match asset.network() {
        Network::Ethereum => Some(if test { "hteth" } else { "eth" }),
        Network::Solana => Some(if test { "tsol" } else { "sol" }),
        _ => None,
    }
}

/// Connection settings. The access token is a secret: redacted in `Debug`, never logged.
#[derive(Debug, Clone)]
pub struct BitgoConfig {
    /// Which environment (decides the coins).
    pub environment: BitgoEnvironment,
    /// REST base, without `/api/v2` (default: the environment's).
    pub base_url: String,
    /// A long-lived access token.
    pub access_token: SecretString,
    /// Wallet id per wallet coin (`eth`/`hteth`, `sol`/`tsol`).
    pub wallets: BTreeMap<String, String>,
    /// Per-request timeout (BitGo recommends long ones; 100 s by default).
    pub timeout: Duration,
}

/// The BitGo client and custody provider.
#[derive(Debug, Clone)]
pub struct BitgoClient {
    http: reqwest::Client,
    config: BitgoConfig,
}

/// A BitGo wallet address (`WalletAddress`), the fields we use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WalletAddress {
    /// BitGo's id of the address (32 hex).
    pub id: String,
    /// The address; hidden while a legacy forwarder is pending chain initialisation.
    pub address: Option<String>,
    /// The wallet coin.
    pub coin: String,
    /// The wallet id.
    pub wallet: String,
    /// Derivation index.
    pub index: u64,
    /// Our label (the address id).
    #[serde(default)]
    pub label: Option<String>,
}

/// BitGo's platform error body.
#[derive(Debug, Deserialize)]
struct PlatformError {
    error: Option<String>,
    name: Option<String>,
    #[serde(rename = "requestId")]
    request_id: Option<String>,
}

impl BitgoClient {
    /// Builds the client.
    ///
    /// # Errors
    /// `Unavailable` when the HTTP client cannot be built (TLS roots).
    pub fn new(config: BitgoConfig) -> Result<BitgoClient, ProviderError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ProviderError::Unavailable(format!("BitGo client: {e}")))?;
        Ok(BitgoClient { http, config })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url.trim_end_matches('/'))
    }

    fn wallet_for(&self, asset: AssetId) -> Result<(&'static str, &str), ProviderError> {
        let coin = wallet_coin(asset, self.config.environment).ok_or_else(|| {
            ProviderError::Rejected(format!("BitGo does not serve {asset} in this deployment"))
        })?;
        let wallet = self.config.wallets.get(coin).ok_or_else(|| {
            ProviderError::Rejected(format!("no BitGo wallet is configured for coin {coin}"))
        })?;
        Ok((coin, wallet))
    }

    /// `POST /api/v2/{coin}/wallet/{walletId}/address` with `{"label": label}`. Not retried:
    /// BitGo has no idempotency key for address creation.
    ///
    /// # Errors
    /// As the module doc's error mapping.
    pub async fn create_address(
        &self,
        coin: &str,
        wallet: &str,
        label: &str,
    ) -> Result<WalletAddress, ProviderError> {
        let request = self
            .http
            .post(self.url(&format!("/api/v2/{coin}/wallet/{wallet}/address")))
            .bearer_auth(self.config.access_token.expose_secret())
            .json(&serde_json::json!({ "label": label }));
        read(request.send().await).await
    }

    /// `GET /api/v2/{coin}/wallet/{walletId}/address/{addressOrId}`, retried once on a
    /// transient failure (a read is safe to repeat).
    ///
    /// # Errors
    /// As the module doc's error mapping.
    pub async fn get_address(
        &self,
        coin: &str,
        wallet: &str,
        address_or_id: &str,
    ) -> Result<WalletAddress, ProviderError> {
        let url = self.url(&format!(
            "/api/v2/{coin}/wallet/{wallet}/address/{address_or_id}"
        ));
        let mut attempt = 0;
        loop {
            let response = self
                .http
                .get(&url)
                .bearer_auth(self.config.access_token.expose_secret())
                .send()
                .await;
            match read(response).await {
                Err(e) if e.is_retryable() && attempt == 0 => attempt += 1,
                other => return other,
            }
        }
    }
}

/// Maps a response (or transport failure) to the body or a domain error.
async fn read<T: for<'de> Deserialize<'de>>(
    response: Result<reqwest::Response, reqwest::Error>,
) -> Result<T, ProviderError> {
    let response = response.map_err(|e| {
        let what = if e.is_timeout() {
            "timed out"
        } else {
            "unreachable"
        };
        ProviderError::Unavailable(format!("BitGo {what}"))
    })?;
    let status = response.status();
    if status.is_success() {
        return response.json::<T>().await.map_err(|e| {
            ProviderError::Unavailable(format!("BitGo answered an unreadable body: {e}"))
        });
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u32>().ok());
    let body: Option<PlatformError> = response.json().await.ok();
    let name = body
        .as_ref()
        .and_then(|b| b.name.clone())
        .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
    let detail = body
        .as_ref()
        .and_then(|b| b.error.clone())
        .unwrap_or_default();
    let request_id = body.as_ref().and_then(|b| b.request_id.clone());
    tracing::warn!(status = status.as_u16(), name = %name, request_id = ?request_id, "BitGo refused a request");
    Err(match status {
        StatusCode::TOO_MANY_REQUESTS => ProviderError::RateLimited {
            retry_after_secs: retry_after,
        },
        StatusCode::NOT_FOUND => ProviderError::NotFound,
        s if s.is_server_error() => ProviderError::Unavailable(format!("BitGo {name}")),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            ProviderError::Rejected(format!("BitGo refused the access token ({name})"))
        }
        _ => ProviderError::Rejected(format!("BitGo {name}: {detail}")),
    })
}

#[async_trait]
impl CustodyProvider for BitgoClient {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn mint_address(&self, request: &MintRequest) -> Result<MintedAddress, ProviderError> {
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
        })
    }

    async fn submit_withdrawal(
        &self,
        _request: &WithdrawalRequest,
    ) -> Result<ProviderTransfer, ProviderError> {
        Err(not_yet("withdrawals"))
    }

    async fn withdrawal_status(
        &self,
        _transaction_id: TransactionId,
    ) -> Result<ProviderTransfer, ProviderError> {
        Err(not_yet("transfer reads"))
    }

    async fn verify_deposit(
        &self,
        _notice: &DepositNotice,
    ) -> Result<VerifiedDeposit, ProviderError> {
        Err(not_yet("deposit verification"))
    }
}

fn not_yet(what: &str) -> ProviderError {
    ProviderError::Rejected(format!(
        "BitGo {what} are not wired yet (live custody work in progress)"
    ))
}
