//! The Accounts dialect (`/v1/accounts/…`, camelCase with lowercase enums; docs/accounts.md):
//! an account is a wallet (`acc_…`), with blockchain addresses and four balance lines.

use futures_util::stream::BoxStream;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::client::{segment, with_query, Client, Request};
use crate::error::Error;
use crate::pagination::{stream_pages, ListParams, Page};
use crate::platform::AddressStatus;
use crate::types::{open_enum, Amount};

/// Body of `POST /v1/accounts/{accountId}/blockchain-addresses`: the account's own chain and
/// asset.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CreateBlockchainAddress {
    /// The account's network (`ethereum`).
    pub chain: String,
    /// The account's token symbol (`USDC`).
    pub asset: String,
}

impl CreateBlockchainAddress {
    /// For `asset` on `chain`.
    pub fn new(chain: impl Into<String>, asset: impl Into<String>) -> Self {
        CreateBlockchainAddress {
            chain: chain.into(),
            asset: asset.into(),
        }
    }
}

/// A blockchain address of an account.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BlockchainAddress {
    /// `ba_…`
    pub id: String,
    /// `acc_…`
    pub account_id: String,
    /// The network.
    pub chain: String,
    /// The on-chain address.
    pub address: String,
    /// The token symbol.
    pub asset: String,
    /// `active` or `suspended`.
    pub status: AddressStatus,
    /// When it was minted.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

open_enum!(
    /// Which balance a line reports.
    BalanceType {
        /// Spendable.
        Available = "available",
        /// Incoming, confirming.
        Pending = "pending",
        /// Locked for outgoing withdrawals.
        Held = "held",
        /// The sum of the three.
        Total = "total",
    }
);

/// One balance line.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct AccountBalance {
    /// `available`, `pending`, `held`, `total`.
    #[serde(rename = "type")]
    pub balance_type: BalanceType,
    /// The token symbol.
    pub currency: String,
    /// Whole tokens.
    pub amount: Amount,
}

/// `GET /v1/accounts/{accountId}/balances`: four lines, always in this order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct AccountBalances {
    /// `available`, `pending`, `held`, `total`.
    pub items: Vec<AccountBalance>,
}

impl AccountBalances {
    /// The amount of one line.
    pub fn get(&self, balance_type: &BalanceType) -> Option<&Amount> {
        self.items
            .iter()
            .find(|line| &line.balance_type == balance_type)
            .map(|line| &line.amount)
    }
}

/// The Accounts dialect, from [`Client::accounts`].
#[derive(Debug, Clone)]
pub struct Accounts<'a> {
    client: &'a Client,
    idempotency_key: Option<String>,
}

impl<'a> Accounts<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Accounts {
            client,
            idempotency_key: None,
        }
    }

    /// Send the next mutation with this `Idempotency-Key` instead of a generated one.
    #[must_use]
    pub fn idempotency_key(&self, key: impl Into<String>) -> Self {
        let mut with_key = self.clone();
        with_key.idempotency_key = Some(key.into());
        with_key
    }

    /// `POST /v1/accounts/{accountId}/blockchain-addresses`: the account's primary address
    /// (the same one every time).
    ///
    /// # Errors
    /// As every call ([`Error`]).
    pub async fn create_blockchain_address(
        &self,
        account_id: &str,
        body: &CreateBlockchainAddress,
    ) -> Result<BlockchainAddress, Error> {
        let path = format!("/v1/accounts/{}/blockchain-addresses", segment(account_id));
        let mut request = Request::new(Method::POST, path);
        if let Some(key) = &self.idempotency_key {
            request = request.idempotency_key(key.clone());
        }
        self.client.call(request.json(body)?).await
    }

    /// `GET /v1/accounts/{accountId}/blockchain-addresses`: one page.
    ///
    /// # Errors
    /// As every call.
    pub async fn list_blockchain_addresses(
        &self,
        account_id: &str,
        params: &ListParams,
    ) -> Result<Page<BlockchainAddress>, Error> {
        let path = format!("/v1/accounts/{}/blockchain-addresses", segment(account_id));
        self.client
            .call(Request::new(
                Method::GET,
                with_query(&path, &params.pairs()),
            ))
            .await
    }

    /// Every blockchain address of an account, page after page.
    pub fn blockchain_addresses(
        &self,
        account_id: &str,
        params: ListParams,
    ) -> BoxStream<'a, Result<BlockchainAddress, Error>> {
        let client = self.client;
        let account_id = account_id.to_owned();
        stream_pages(params, move |p| {
            let account_id = account_id.clone();
            async move {
                client
                    .accounts()
                    .list_blockchain_addresses(&account_id, &p)
                    .await
            }
        })
    }

    /// `GET /v1/accounts/{accountId}/blockchain-addresses/{blockchainAddressId}`.
    ///
    /// # Errors
    /// As every call.
    pub async fn get_blockchain_address(
        &self,
        account_id: &str,
        address_id: &str,
    ) -> Result<BlockchainAddress, Error> {
        let path = format!(
            "/v1/accounts/{}/blockchain-addresses/{}",
            segment(account_id),
            segment(address_id)
        );
        self.client.call(Request::new(Method::GET, path)).await
    }

    /// `GET /v1/accounts/{accountId}/balances`.
    ///
    /// # Errors
    /// As every call.
    pub async fn balances(&self, account_id: &str) -> Result<AccountBalances, Error> {
        let path = format!("/v1/accounts/{}/balances", segment(account_id));
        self.client.call(Request::new(Method::GET, path)).await
    }
}
