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
//!
//! The code: `client` (the REST calls and sends), `provider` (the [`CustodyProvider`]
//! implementation), `webhook` (signature, parsing and read-back of deposits), `transport`
//! (HTTP, errors, retries, client-side limits), `coins` and `wire`.
//!
//! [`CustodyProvider`]: custody_core::ports::CustodyProvider

mod client;
mod coins;
mod provider;
mod transport;
mod webhook;
pub mod wire;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use custody_core::retry::Backoff;
use secrecy::SecretString;

pub use client::{BitgoClient, SendOutcome};
pub use coins::{asset_for_coin, transfer_coin, wallet_coin, BitgoEnvironment};
pub use transport::{Limit, RateLimits};
pub use webhook::parse_transfer_webhook;
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
