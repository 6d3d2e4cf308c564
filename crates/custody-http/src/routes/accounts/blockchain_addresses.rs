//! `/v1/accounts/{accountId}/blockchain-addresses[/{blockchainAddressId}]`: ensure the
//! account's deposit address, list them, read one.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use custody_core::api_key::Scope;
use custody_core::deposit_address::DepositAddress;
use custody_core::id::AddressId;
use custody_core::services::{AddressTarget, EnsureAddress, Provisioned};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::account_id;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::graph::AppState;
use crate::idempotency::{created_or_ok, json_response, KeyRule, Mutation};
use crate::input::{asset_from_codes, json_body, no_query, path_id, query, PageParams};
use crate::routes::Endpoints;
use crate::wire::{self, List, Pagination};

pub(super) fn endpoints(api: &mut Endpoints) {
    api.add(__path_create_blockchain_address, create_blockchain_address)
        .add(__path_list_blockchain_addresses, list_blockchain_addresses)
        .add(__path_get_blockchain_address, get_blockchain_address);
}

/// A blockchain deposit address: exactly the seed's seven fields.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "ba_01JD0Q4V3X5M7Z9B1C3E5G7H9N", "accountId": "acc_01JD0Q4V3X5M7Z9B1C3E5G7H9M", "chain": "ethereum", "address": "0x742d35Cc6634C0532925a3b844Bc9e7595f2bD38", "asset": "USDC", "status": "active", "createdAt": "2026-02-23T12:00:00Z"}))]
pub struct BlockchainAddress {
    /// `^ba_[A-Za-z0-9]+$`
    #[schema(
        pattern = "^ba_[A-Za-z0-9]+$",
        example = "ba_01JD0Q4V3X5M7Z9B1C3E5G7H9K"
    )]
    pub id: String,
    /// `^acc_[A-Za-z0-9]+$`
    #[schema(
        pattern = "^acc_[A-Za-z0-9]+$",
        example = "acc_01JD0Q4V3X5M7Z9B1C3E5G7H9J"
    )]
    pub account_id: String,
    /// `ethereum`, `solana`, `base`, `ink` or `sui`.
    #[schema(example = "ethereum")]
    pub chain: String,
    /// The on-chain address (system-generated).
    #[schema(example = "0x742d35Cc6634C0532925a3b844Bc9e7595f2bD38")]
    pub address: String,
    /// `USDC` or `USDT` (and `XAUT` where enabled).
    #[schema(example = "USDC")]
    pub asset: String,
    /// `active` or `suspended`.
    #[schema(example = "active")]
    pub status: String,
    /// RFC 3339, UTC.
    #[schema(value_type = String, format = DateTime, example = "2026-02-23T12:00:00Z")]
    pub created_at: String,
}

impl From<&DepositAddress> for BlockchainAddress {
    fn from(a: &DepositAddress) -> BlockchainAddress {
        BlockchainAddress {
            id: a.id.to_string(),
            account_id: a.wallet_id.to_string(),
            chain: a.asset.network().as_str().to_owned(),
            address: a.address.to_string(),
            asset: a.asset.symbol().as_str().to_owned(),
            status: a.status.as_str().to_owned(),
            created_at: wire::timestamp(a.created_at),
        }
    }
}

/// Body of `POST /v1/accounts/{accountId}/blockchain-addresses`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"chain": "ethereum", "asset": "USDC"}))]
pub struct CreateBlockchainAddressRequest {
    /// Must be the account's chain.
    #[schema(example = "ethereum")]
    pub chain: String,
    /// Must be the account's asset.
    #[schema(example = "USDC")]
    pub asset: String,
}

/// Create (or return) the account's blockchain deposit address.
#[utoipa::path(post, path = "/v1/accounts/{accountId}/blockchain-addresses", tag = "Accounts",
    request_body = CreateBlockchainAddressRequest,
    params(("accountId" = String, Path, description = "`acc_…`"), ("Idempotency-Key" = String, Header, description = "Required")),
    responses(
        (status = 201, body = BlockchainAddress, links(
            ("GetBlockchainAddress" = (operation_id = "get_blockchain_address", parameters(("accountId" = "$response.body#/accountId"), ("blockchainAddressId" = "$response.body#/id")))),
        )),
        (status = 200, description = "The account already had its address: the same one", body = BlockchainAddress),
        (status = 400, body = crate::openapi::ErrorEnvelope), (status = 401, body = crate::openapi::ErrorEnvelope),
        (status = 404, body = crate::openapi::ErrorEnvelope), (status = 409, body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "chain/asset differ from the account's, unknown field", body = crate::openapi::ErrorEnvelope),
        (status = 502, description = "Live: the custody provider refused", body = crate::openapi::ErrorEnvelope),
    ),
    security(("ed25519" = ["addresses:write"])))]
pub async fn create_blockchain_address(
    state: Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let mutation = Mutation::begin(
        &state,
        &req,
        &body,
        KeyRule::Required,
        Scope::AddressesWrite,
    )
    .await?;
    let wallet = account_id(&path)?;
    let input: CreateBlockchainAddressRequest = json_body(&req, &body)?;
    let asset = asset_from_codes(&input.asset, &input.chain, "asset", "chain")?;
    let command = EnsureAddress {
        target: AddressTarget::Wallet(wallet),
        asset,
        label: None,
    };
    let respond = |p: &Provisioned<DepositAddress>| {
        json_response(created_or_ok(p.created), &BlockchainAddress::from(&p.value))
    };
    mutation
        .run(respond, async move |auth, write| {
            let addresses = &auth.graph.addresses;
            addresses
                .ensure_primary_address(&auth.caller, command, write)
                .await
        })
        .await
}

/// A page of blockchain addresses.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"items": [{"id": "ba_01JD0Q4V3X5M7Z9B1C3E5G7H9N", "accountId": "acc_01JD0Q4V3X5M7Z9B1C3E5G7H9M", "chain": "ethereum", "address": "0x742d35Cc6634C0532925a3b844Bc9e7595f2bD38", "asset": "USDC", "status": "active", "createdAt": "2026-02-23T12:00:00Z"}], "pagination": {"hasMore": false, "nextCursor": null}}))]
pub struct BlockchainAddressList {
    /// Ascending by id.
    pub items: Vec<BlockchainAddress>,
    /// Where to continue.
    pub pagination: Pagination,
}

/// List an account's blockchain addresses.
#[utoipa::path(get, path = "/v1/accounts/{accountId}/blockchain-addresses", tag = "Accounts",
    params(("accountId" = String, Path, description = "`acc_…`"), PageParams),
    responses((status = 200, body = BlockchainAddressList), (status = 400, body = crate::openapi::ErrorEnvelope), (status = 404, body = crate::openapi::ErrorEnvelope)),
    security(("ed25519" = ["addresses:read"])))]
pub async fn list_blockchain_addresses(
    req: HttpRequest,
    path: web::Path<String>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let id = account_id(&path)?;
    let page_request = query::<PageParams>(&req)?.to_request(AddressId::parse, AddressId::ulid)?;
    let page = auth
        .graph
        .wallets
        .list_addresses(&auth.caller, id, page_request)
        .await?;
    let items: Vec<BlockchainAddress> = page.items.iter().map(BlockchainAddress::from).collect();
    Ok(wire::json(
        StatusCode::OK,
        &List::page(items, page.has_more, Some(&page_request), |a| a.id.clone()),
    ))
}

/// Get one blockchain address of an account.
#[utoipa::path(get, path = "/v1/accounts/{accountId}/blockchain-addresses/{blockchainAddressId}", tag = "Accounts",
    params(
        ("accountId" = String, Path, description = "`acc_…`"),
        ("blockchainAddressId" = String, Path, description = "`ba_…`"),
    ),
    responses((status = 200, body = BlockchainAddress), (status = 400, body = crate::openapi::ErrorEnvelope), (status = 401, body = crate::openapi::ErrorEnvelope), (status = 404, body = crate::openapi::ErrorEnvelope)),
    security(("ed25519" = ["addresses:read"])))]
pub async fn get_blockchain_address(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let (account_raw, address_raw) = path.into_inner();
    let wallet = account_id(&account_raw)?;
    let id = path_id(
        &address_raw,
        "blockchainAddressId",
        "invalid_blockchain_address_id",
        AddressId::parse,
    )?;
    no_query(&req)?;
    let address = auth
        .graph
        .addresses
        .get_in_wallet(&auth.caller, wallet, id)
        .await?;
    Ok(wire::json(
        StatusCode::OK,
        &BlockchainAddress::from(&address),
    ))
}
