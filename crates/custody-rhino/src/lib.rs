//! # custody-rhino: smart deposit addresses through Rhino.fi
//!
//! A reqwest client of Rhino.fi's REST API implementing
//! [`custody_core::ports::CustodyProvider`] for the deposit side: it mints smart deposit
//! addresses (SDAs) and verifies Rhino's deposit webhooks. It owns I/O only: Rhino's paths,
//! shapes and errors are mapped to domain types here; no custody rule is decided here.
//! Withdrawals go through BitGo, so [`CustodyProvider::submit_withdrawal`] and
//! [`CustodyProvider::withdrawal_status`] are refused with `Rejected`. Deposits cannot be read
//! back by reference alone ([`CustodyProvider::deposit_status`] is `Unsupported`): Rhino's
//! history is read per smart deposit address, which the webhook names.
//!
//! The code: `client` (HTTP, the JWT, retries, the SDA endpoints), `provider` (the
//! [`CustodyProvider`] implementation), `webhook` (signatures, the webhook key, the event
//! envelope), `errors` (Rhino's `_tag` errors), `wire` (answer shapes) and `jwt` (refresh times).
//!
//! ## Assets
//! USDT and USDC only (XAUT is not a Rhino token), on the networks Rhino runs SDAs on:
//! ethereum → `ETHEREUM`, solana → `SOLANA`, base → `BASE`, ink → `INK` ([`rhino_chain`]).
//! Sui is not a Rhino chain. Funds reaching an SDA are forwarded by Rhino to the configured
//! [`Destination`] (per tenant, or the default one).
//!
//! ## Authentication
//! The API key is exchanged for a JWT (`POST /authentication/auth/apiKey`, `{"apiKey": …}` →
//! `{"jwt": …}`; any status but 200 is a failure) which is sent **raw** in `Authorization`
//! (no `Bearer`). The JWT is cached, fetched by one caller at a time (concurrent callers wait
//! for that one exchange), and replaced 5 minutes before its `exp` claim by the injected
//! clock; a JWT whose `exp` cannot be read is treated as valid for Rhino's documented hour
//! from when it was fetched, minus those 5 minutes. A key starting with `ey` is an old
//! JWT-style key and is used as the JWT directly (Rhino's SDK does the same). When an
//! authenticated call answers 401, or 400 `InvalidJwt`, the cached JWT is dropped, the key is
//! exchanged again and the call is repeated once (not for an `ey` key, which cannot be
//! renewed: the call is then `Rejected`).
//!
//! ## Minting (`POST /sda/deposit-addresses`)
//! Body: `depositChains: [CHAIN]`, the destination's `destinationChain` /
//! `destinationAddress` / `tokenOut` (only when configured), `addressNote:
//! "<wallet id>:<address index>"` and `reusePolicy: "reuse-existing"`. Rhino reuses an SDA
//! when all of these match, so the note makes the call idempotent per (wallet, index): a retry
//! after an ambiguous failure gets the same SDA back, while two wallets on one chain (USDT and
//! USDC on ethereum) never share one. The answer is an array; the element for our chain is
//! taken and its `depositAddress` validated for the asset's network. The provider reference
//! is `"<CHAIN>:<depositAddress>"`. The note is at most 41 characters (Rhino allows 80).
//!
//! ## Deposits (webhooks)
//! 1. The `X-Rhino-Signature` header (hex) must be an RSA-SHA256 (PKCS#1 v1.5) signature, by
//!    Rhino's webhook key, of the lowercase hex text of sha256 over the raw body bytes.
//! 2. The envelope `{event: {_tag, …}, eventId, ts}` must be a deposit event:
//!    `BRIDGE_ACCEPTED` / `BRIDGE_EXECUTED` carrying a `depositAddress` (an SDA-driven
//!    bridge; the chain is `chainIn`), or `DEPOSIT_ADDRESS_BRIDGE_REJECTED` /
//!    `DEPOSIT_ADDRESS_BRIDGE_DELAYED` (the SDA is `depositAddress.{depositAddress,
//!    depositChain}`). The body only *identifies* the deposit: `event._id` and the SDA.
//! 3. The deposit is read back from `GET /sda/deposit-addresses/{addr}/{chain}/history` and
//!    everything credited (token, amount, hash, status) comes from that answer.
//!
//! Status: `accepted` whose bridge (`history.state`) is `EXECUTED` is `Completed`; an
//! `accepted` bridge in `FAILED`, `SWAP_FAILED_REFUNDED` or
//! `DEPOSIT_RECEIVED_AFTER_GRACE_PERIOD_REFUNDED` is `Failed`; any other `accepted` (`PENDING`,
//! `PENDING_CONFIRMATION`, `DEPOSIT_ACCEPTED`, `ACCEPTED`, an unknown state) is `Confirming`;
//! `rejected` and `failed` are `Failed`; any other item tag (`detected`, `confirming`) is
//! `Confirming`.
//!
//! ## Errors
//! | Rhino answer | [`ProviderError`] |
//! |---|---|
//! | 422 `DepositAddressNotFound`, any 404 | `NotFound` |
//! | 429 `DepositAddressRateLimitExceeded` with a `WindowLimitExceeded` limit | `RateLimited`, `durationMs` rounded up to seconds |
//! | 429 `DepositAddressRateLimitExceeded` with a `CountLimitExceeded` limit | `Rejected` (a total quota: waiting does not help) |
//! | 429 `TooManyRequests` (or any other 429) | `RateLimited`, `retryAfter` read as seconds |
//! | 403 `ExtensionNotEnabled` | `Rejected`, saying SDAs are not enabled for the project |
//! | 401, 400 `InvalidJwt` (after the one re-exchange) | `Rejected` |
//! | 401 / 400 / 403 from the key exchange | `Rejected("Rhino refused the API key …")` |
//! | any other 4xx | `Rejected("Rhino <_tag>: <message>")` |
//! | 503 `EndpointDisabledError`, any 5xx, timeout, connection failure, unreadable 2xx body | `Unavailable` |
//!
//! The API key and the JWT never appear in an error, a log line or `Debug` output: a Rhino
//! `message` quoting either is redacted before it is quoted (and then cut to 200 characters).
//!
//! ## Choices where Rhino's documentation is silent
//! - **Retries.** Reads (SDA status, SDA history, the webhook key) and SDA creation (made
//!   idempotent by `reuse-existing` and the deterministic note) are retried with the
//!   configured [`Backoff`] (full jitter from `getrandom`) on `Unavailable`, and on
//!   `RateLimited` when Rhino asked for no wait or for one no longer than the backoff's cap
//!   (that wait is then the floor of the delay). A longer wait is returned to the caller.
//!   The key exchange is not retried on its own: it is part of the call being retried.
//! - **Which body is hashed.** Rhino signs `JSON.stringify` of the parsed body; we hash the
//!   raw body bytes as received, which is the same text for Rhino's compact JSON.
//! - **The webhook key.** Pinned PEM in the configuration, else fetched from
//!   `GET /webhook/public-key` (with the JWT, as the SDK's authenticated client sends it) and
//!   kept in memory. When a signature fails against a fetched key, the key is fetched again
//!   once in case Rhino rotated it, but at most once per [`KEY_REFETCH_INTERVAL`] (so forged
//!   requests cannot make us hammer Rhino); a pinned key is never replaced. The key must be
//!   RSA of at least 2048 bits; an SPKI (`PUBLIC KEY`) PEM is expected, a PKCS#1
//!   (`RSA PUBLIC KEY`) PEM and a served string that is a PEM rather than base64 of one are
//!   accepted too. Failing to fetch the key is `Unavailable` (Rhino retries the webhook).
//! - **The history window.** `from` = now − 31 days (Rhino's maximum window), `to` = now, by
//!   the injected clock, as ISO-8601 UTC with milliseconds (`2024-05-01T12:00:00.000Z`, what
//!   the SDK sends). A deposit whose event arrives more than 31 days after Rhino recorded it
//!   cannot be verified (`Unverified`); Rhino's "missed events" endpoint is not used.
//! - **Matching the deposit.** The history item whose `_id` equals the event's `_id` is taken;
//!   for `BRIDGE_*` events an item whose bridge (`history._id`) has that id is accepted too, as
//!   the docs do not say whether the two ids are the same. The provider reference is always
//!   the item's own `_id`, so every event of one deposit names it alike. The SDA path segment
//!   is spelled as Rhino spelled it in the event, once it has been validated as an address of
//!   the chain's network.
//! - **Amounts.** Only `amountWei` (an integer string of base units; a JSON integer is read
//!   too) is credited. A missing or malformed `amountWei` is `Unverified`; the decimal
//!   `amount` is never used.
//! - **Asset.** From the item's `tokenSymbol` and the network of the deposit chain; it must be
//!   USDT or USDC in the catalogue, else `Unverified`.
//! - **`serves`** is asked at start-up without a tenant, so it refuses only when neither a
//!   default destination nor any tenant destination is configured; minting for a tenant with
//!   no destination (and no default) is then `Rejected`.
//! - **404** from any Rhino endpoint is `NotFound` (Rhino's own adapter does the same). While
//!   verifying a deposit, an SDA Rhino does not know (`NotFound`) is `Unverified`; other
//!   failures of the read-back (`Unavailable`, `RateLimited`, `Rejected`) are returned as they
//!   are, so the webhook can be retried later.
//! - **Redirects** are not followed (none are documented; the JWT is never sent elsewhere): a
//!   3xx is `Rejected`.
//! - **`retryAfter`** of `TooManyRequests` is read as seconds (the unit is not documented; it
//!   is only returned by quote commits, which this crate does not call).
//! - **The auth exchange** answering 429 is `RateLimited`, 5xx `Unavailable`, another non-200
//!   status (including a 2xx other than 200, as the SDK does) is `Rejected` or `Unavailable`.
//!
//! [`CustodyProvider`]: custody_core::ports::CustodyProvider
//! [`CustodyProvider::submit_withdrawal`]: custody_core::ports::CustodyProvider::submit_withdrawal
//! [`CustodyProvider::withdrawal_status`]: custody_core::ports::CustodyProvider::withdrawal_status
//! [`CustodyProvider::deposit_status`]: custody_core::ports::CustodyProvider::deposit_status
//! [`ProviderError`]: custody_core::ports::ProviderError

mod client;
mod errors;
mod jwt;
mod provider;
mod webhook;
mod wire;

use std::collections::BTreeMap;
use std::time::Duration;

use custody_core::asset::Network;
use custody_core::id::TenantId;
use secrecy::SecretString;
use serde::Deserialize;

pub use crate::client::RhinoClient;
pub use crate::wire::{
    BridgeRecord, DepositAddress, DepositAddressHistory, DepositAddressStatus, HistoryItem,
    SupportedToken,
};
pub use custody_core::retry::Backoff;

/// The provider name stored with what Rhino mints.
pub const NAME: &str = "rhino";

/// Rhino's maximum SDA history window, used when verifying a deposit.
pub const HISTORY_WINDOW: time::Duration = time::Duration::days(31);

/// A fetched webhook key that failed a signature is fetched again at most this often.
pub const KEY_REFETCH_INTERVAL: time::Duration = time::Duration::minutes(1);

/// The Rhino chain of a network for smart deposit addresses, or `None` when Rhino has no SDAs
/// there (sui).
pub const fn rhino_chain(network: Network) -> Option<&'static str> {
    match network {
        Network::Ethereum => Some("ETHEREUM"),
        Network::Solana => Some("SOLANA"),
        Network::Base => Some("BASE"),
        Network::Ink => Some("INK"),
        Network::Sui => None,
    }
}

/// The network of a Rhino chain name, for the chains [`rhino_chain`] maps.
pub fn rhino_network(chain: &str) -> Option<Network> {
    Network::ALL
        .into_iter()
        .find(|&n| rhino_chain(n) == Some(chain))
}

/// Where Rhino forwards what reaches an SDA.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Destination {
    /// A Rhino chain name (`ETHEREUM`, `BASE`, …).
    pub chain: String,
    /// The receiving address on that chain.
    pub address: String,
    /// Settle in this token (`USDC`, `USDT`), swapping if needed; omitted when `None`.
    #[serde(default)]
    pub token_out: Option<String>,
}

/// Connection settings. The API key is a secret: redacted in `Debug`, never logged.
#[derive(Debug, Clone)]
pub struct RhinoConfig {
    /// REST base (default [`RhinoConfig::DEFAULT_BASE_URL`]).
    pub base_url: String,
    /// A secret (`SECRET_…`) key: SDA history needs one.
    pub api_key: SecretString,
    /// The destination for every tenant without its own.
    pub destination: Option<Destination>,
    /// Per-tenant destinations, overriding the default.
    pub tenant_destinations: BTreeMap<TenantId, Destination>,
    /// A pinned webhook public key (SPKI PEM); fetched from Rhino when `None`.
    pub webhook_public_key_pem: Option<String>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retry policy for reads and SDA creation.
    pub backoff: Backoff,
}

impl RhinoConfig {
    /// Rhino's only documented base URL.
    pub const DEFAULT_BASE_URL: &'static str = "https://api.rhino.fi";

    /// The default per-request timeout.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// Defaults around a key: Rhino's base URL, no destination, fetched webhook key, 30 s
    /// timeout, the default backoff.
    pub fn new(api_key: SecretString) -> RhinoConfig {
        RhinoConfig {
            base_url: RhinoConfig::DEFAULT_BASE_URL.to_owned(),
            api_key,
            destination: None,
            tenant_destinations: BTreeMap::new(),
            webhook_public_key_pem: None,
            timeout: RhinoConfig::DEFAULT_TIMEOUT,
            backoff: Backoff::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_map_both_ways() {
        for network in Network::ALL {
            if let Some(chain) = rhino_chain(network) {
                assert_eq!(rhino_network(chain), Some(network));
            }
        }
        assert_eq!(rhino_chain(Network::Sui), None);
        assert_eq!(rhino_network("TRON"), None);
        assert_eq!(
            rhino_network("ethereum"),
            None,
            "Rhino chains are upper case"
        );
    }
}
