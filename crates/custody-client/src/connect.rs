//! The Connect dialect (`/connect/v1/…`, snake_case; docs/connect.md): deposit addresses per
//! end-user (`external_ref`) and balances with fiat totals.

use std::collections::BTreeMap;

use futures_util::stream::BoxStream;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::client::{segment, with_query, Client, Request};
use crate::error::Error;
use crate::pagination::{stream_pages, ListParams, Page};
use crate::platform::AddressStatus;
use crate::types::Amount;

/// Body of `POST /connect/v1/addresses`.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct CreateAddress {
    /// `USDT`, `USDC`, `XAUT` (case-insensitive).
    pub asset: String,
    /// `ethereum`, `solana`, `base`, `ink`, `sui` (case-insensitive).
    pub network: String,
    /// Your user id; `None` for a treasury address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_ref: Option<String>,
    /// Stored on the address when it is minted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl CreateAddress {
    /// A treasury address for `asset` on `network`.
    pub fn new(asset: impl Into<String>, network: impl Into<String>) -> Self {
        CreateAddress {
            asset: asset.into(),
            network: network.into(),
            ..CreateAddress::default()
        }
    }

    /// For your user `external_ref`.
    #[must_use]
    pub fn external_ref(mut self, external_ref: impl Into<String>) -> Self {
        self.external_ref = Some(external_ref.into());
        self
    }

    /// With a label.
    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }
}

/// A Connect deposit address.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct ConnectAddress {
    /// `ba_…`
    pub id: String,
    /// The on-chain address.
    pub address: String,
    /// `USDT` form.
    pub asset: String,
    /// `ethereum` form.
    pub network: String,
    /// Your user id; `None` for treasury addresses.
    #[serde(default)]
    pub external_ref: Option<String>,
    /// The label given at minting.
    #[serde(default)]
    pub label: Option<String>,
    /// `active` or `suspended`.
    pub status: AddressStatus,
    /// When it was minted.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// `GET /connect/v1/balances[?external_ref=]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct ConnectBalances {
    /// The user, or `None` for the tenant-wide aggregate.
    #[serde(default)]
    pub external_ref: Option<String>,
    /// When the prices were read.
    #[serde(with = "time::serde::rfc3339")]
    pub valued_at: OffsetDateTime,
    /// One line per (asset, network) with a wallet.
    pub balances: Vec<ConnectBalanceLine>,
    /// Lowercase fiat code → decimal string with 2 places. A currency is absent when some
    /// line could not be valued in it (absent means unknown, never zero).
    pub totals: BTreeMap<String, String>,
}

/// One line of [`ConnectBalances`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct ConnectBalanceLine {
    /// `USDT` form.
    pub asset: String,
    /// `ethereum` form.
    pub network: String,
    /// The available balance in whole tokens.
    pub amount: Amount,
}

/// The Connect dialect, from [`Client::connect`].
#[derive(Debug, Clone)]
pub struct Connect<'a> {
    client: &'a Client,
    idempotency_key: Option<String>,
}

impl<'a> Connect<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Connect {
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

    fn mutation(&self, method: Method, path: String) -> Request {
        let request = Request::new(method, path);
        match &self.idempotency_key {
            Some(key) => request.idempotency_key(key.clone()),
            None => request,
        }
    }

    /// `POST /connect/v1/addresses`: the primary deposit address of (user, asset, network),
    /// minted on first use; the same address every time after.
    ///
    /// # Errors
    /// As every call ([`Error`]).
    pub async fn create_address(&self, body: &CreateAddress) -> Result<ConnectAddress, Error> {
        let request = self
            .mutation(Method::POST, "/connect/v1/addresses".into())
            .json(body)?;
        self.client.call(request).await
    }

    /// `GET /connect/v1/addresses`: one page, optionally one user's.
    ///
    /// # Errors
    /// As every call.
    pub async fn list_addresses(
        &self,
        external_ref: Option<&str>,
        params: &ListParams,
    ) -> Result<Page<ConnectAddress>, Error> {
        let mut pairs = vec![("external_ref", external_ref.map(str::to_owned))];
        pairs.extend(params.pairs());
        let path = with_query("/connect/v1/addresses", &pairs);
        self.client.call(Request::new(Method::GET, path)).await
    }

    /// Every address (optionally one user's), page after page.
    pub fn addresses(
        &self,
        external_ref: Option<&str>,
        params: ListParams,
    ) -> BoxStream<'a, Result<ConnectAddress, Error>> {
        let client = self.client;
        let external_ref = external_ref.map(str::to_owned);
        stream_pages(params, move |p| {
            let external_ref = external_ref.clone();
            async move {
                client
                    .connect()
                    .list_addresses(external_ref.as_deref(), &p)
                    .await
            }
        })
    }

    /// `GET /connect/v1/addresses/{address_id}`.
    ///
    /// # Errors
    /// As every call.
    pub async fn get_address(&self, address_id: &str) -> Result<ConnectAddress, Error> {
        let path = format!("/connect/v1/addresses/{}", segment(address_id));
        self.client.call(Request::new(Method::GET, path)).await
    }

    /// `GET /connect/v1/balances[?external_ref=]`: one user's balances, or (`None`) the
    /// tenant's aggregate.
    ///
    /// # Errors
    /// As every call.
    pub async fn balances(&self, external_ref: Option<&str>) -> Result<ConnectBalances, Error> {
        let path = with_query(
            "/connect/v1/balances",
            &[("external_ref", external_ref.map(str::to_owned))],
        );
        self.client.call(Request::new(Method::GET, path)).await
    }
}
