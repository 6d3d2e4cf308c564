//! `/connect/v1/addresses`: ensure a user's (or the treasury's) primary deposit address, read
//! one, list them.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use custody_core::api_key::Scope;
use custody_core::deposit_address::DepositAddress;
use custody_core::id::AddressId;
use custody_core::services::{AddressTarget, EnsureAddress, Provisioned, ReferencedAddress};
use custody_core::text::{ExternalRef, Label};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::graph::AppState;
use crate::idempotency::{created_or_ok, json_response, KeyRule, Mutation};
use crate::input::{
    asset_from_codes, json_body, no_query, path_id, query, query_text, text, PageParams,
};
use crate::routes::Endpoints;
use crate::wire::{self, SnakeList, SnakePagination};

pub(super) fn endpoints(api: &mut Endpoints) {
    api.add(__path_create_address, create_address)
        .add(__path_list_addresses, list_addresses)
        .add(__path_get_address, get_address);
}

/// Request body of `POST /connect/v1/addresses`. Unknown fields are refused (422).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"asset": "USDT", "network": "ethereum", "external_ref": "user-8842", "label": "main"}))]
pub struct CreateConnectAddressRequest {
    /// Asset code (`USDT`, `USDC`, `XAUT`), case-insensitive, 2–16 characters.
    #[schema(min_length = 2, max_length = 16, example = "USDT")]
    pub asset: String,
    /// Network code (`ethereum`, `solana`, `base`, `ink`, `sui`), case-insensitive, 2–16.
    #[schema(min_length = 2, max_length = 16, example = "ethereum")]
    pub network: String,
    /// The partner's user id; omit for a tenant-treasury address.
    #[schema(max_length = 255, example = "user-8842")]
    pub external_ref: Option<String>,
    /// Label stored on a newly minted address.
    #[schema(max_length = 255)]
    pub label: Option<String>,
}

/// A deposit address in Connect.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "ba_01JD0Q4V3X5M7Z9B1C3E5G7H9N", "address": "0x742d35Cc6634C0532925a3b844Bc9e7595f2bD38", "asset": "USDT", "network": "ethereum", "external_ref": "user-8842", "label": "main", "status": "active", "created_at": "2026-02-23T12:00:00Z"}))]
pub struct ConnectAddress {
    /// `ba_…`
    #[schema(example = "ba_01JD0Q4V3X5M7Z9B1C3E5G7H9K")]
    pub id: String,
    /// The on-chain address.
    #[schema(example = "0x742d35Cc6634C0532925a3b844Bc9e7595f2bD38")]
    pub address: String,
    /// Asset symbol, upper case.
    #[schema(example = "USDT")]
    pub asset: String,
    /// Network, lower case.
    #[schema(example = "ethereum")]
    pub network: String,
    /// The partner's user id; absent for treasury addresses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_ref: Option<String>,
    /// The label given when the address was minted.
    pub label: Option<String>,
    /// `active` or `suspended`.
    #[schema(example = "active")]
    pub status: String,
    /// When it was minted (RFC 3339, UTC).
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
}

impl From<&ReferencedAddress> for ConnectAddress {
    fn from(a: &ReferencedAddress) -> ConnectAddress {
        ConnectAddress::new(&a.address, a.external_ref.as_ref())
    }
}

impl ConnectAddress {
    fn new(address: &DepositAddress, external_ref: Option<&ExternalRef>) -> ConnectAddress {
        ConnectAddress {
            id: address.id.to_string(),
            address: address.address.to_string(),
            asset: address.asset.symbol().as_str().to_owned(),
            network: address.asset.network().as_str().to_owned(),
            external_ref: external_ref.map(|r| r.as_str().to_owned()),
            label: address.label.as_ref().map(|l| l.as_str().to_owned()),
            status: address.status.as_str().to_owned(),
            created_at: wire::timestamp(address.created_at),
        }
    }
}

/// Mint (or return) the primary deposit address of a user's or the treasury's wallet.
#[utoipa::path(
    post, path = "/connect/v1/addresses", tag = "Connect",
    request_body = CreateConnectAddressRequest,
    params(("Idempotency-Key" = String, Header, description = "Required. 1–255 printable ASCII characters; same key and body within 24 h replays the response.")),
    responses(
        (status = 201, description = "Minted", body = ConnectAddress, links(
            ("GetAddress" = (operation_id = "get_address", parameters(("address_id" = "$response.body#/id")))),
        )),
        (status = 200, description = "The wallet already had its primary address: the same address", body = ConnectAddress),
        (status = 400, description = "Missing or malformed Idempotency-Key, malformed JSON", body = crate::openapi::ErrorEnvelope),
        (status = 401, body = crate::openapi::ErrorEnvelope), (status = 403, body = crate::openapi::ErrorEnvelope),
        (status = 409, description = "idempotency_conflict / idempotency_key_in_flight", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "Unknown field, bad asset or network, asset not enabled", body = crate::openapi::ErrorEnvelope),
        (status = 502, body = crate::openapi::ErrorEnvelope), (status = 503, body = crate::openapi::ErrorEnvelope),
    ),
    security(("bearer" = ["addresses:write"]))
)]
pub async fn create_address(
    state: Data<AppState>,
    req: HttpRequest,
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
    let input: CreateConnectAddressRequest = json_body(&req, &body)?;
    let asset = asset_from_codes(&input.asset, &input.network, "asset", "network")?;
    let external_ref = text(input.external_ref, "external_ref", ExternalRef::parse)?;
    let label = text(input.label, "label", Label::parse)?;
    let target = match &external_ref {
        Some(reference) => AddressTarget::Customer(reference.clone()),
        None => AddressTarget::Treasury,
    };
    let command = EnsureAddress {
        target,
        asset,
        label,
    };
    let respond = move |p: &Provisioned<DepositAddress>| {
        let address = ConnectAddress::new(&p.value, external_ref.as_ref());
        json_response(created_or_ok(p.created), &address)
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

/// Query of `GET /connect/v1/addresses`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListAddressesQuery {
    /// Only this user's addresses.
    pub external_ref: Option<String>,
    /// 1–200, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// An address id: the page starts after it.
    pub starting_after: Option<String>,
    /// An address id: the page ends before it.
    pub ending_before: Option<String>,
}

/// A page of Connect addresses.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"items": [{"id": "ba_01JD0Q4V3X5M7Z9B1C3E5G7H9N", "address": "0x742d35Cc6634C0532925a3b844Bc9e7595f2bD38", "asset": "USDT", "network": "ethereum", "external_ref": "user-8842", "label": "main", "status": "active", "created_at": "2026-02-23T12:00:00Z"}], "pagination": {"has_more": false, "next_cursor": null}}))]
pub struct ConnectAddressList {
    /// Ascending by id.
    pub items: Vec<ConnectAddress>,
    /// Where to continue.
    pub pagination: SnakePagination,
}

/// List addresses, optionally of one user.
#[utoipa::path(
    get, path = "/connect/v1/addresses", tag = "Connect",
    params(ListAddressesQuery),
    responses(
        (status = 200, body = ConnectAddressList),
        (status = 400, description = "Bad query parameter", body = crate::openapi::ErrorEnvelope),
        (status = 401, body = crate::openapi::ErrorEnvelope), (status = 403, body = crate::openapi::ErrorEnvelope),
    ),
    security(("bearer" = ["addresses:read"]))
)]
pub async fn list_addresses(
    req: HttpRequest,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let q: ListAddressesQuery = query(&req)?;
    let page_request = PageParams {
        limit: q.limit,
        starting_after: q.starting_after,
        ending_before: q.ending_before,
    }
    .to_request(AddressId::parse, AddressId::ulid)?;
    let external_ref = query_text(q.external_ref, "external_ref", ExternalRef::parse)?;
    let page = auth
        .graph
        .addresses
        .list_for_reference(&auth.caller, external_ref.as_ref(), page_request)
        .await?;
    let items: Vec<ConnectAddress> = page.items.iter().map(ConnectAddress::from).collect();
    Ok(wire::json(
        StatusCode::OK,
        &SnakeList::page(items, page.has_more, Some(&page_request), |a| a.id.clone()),
    ))
}

/// Look up one address. A malformed id is 400 `invalid_address_id`; a missing id and another
/// tenant's id are the same 404.
#[utoipa::path(
    get, path = "/connect/v1/addresses/{address_id}", tag = "Connect",
    params(("address_id" = String, Path, description = "`ba_…` as returned by the create and list endpoints")),
    responses(
        (status = 200, body = ConnectAddress),
        (status = 400, description = "invalid_address_id", body = crate::openapi::ErrorEnvelope),
        (status = 401, body = crate::openapi::ErrorEnvelope), (status = 403, body = crate::openapi::ErrorEnvelope),
        (status = 404, body = crate::openapi::ErrorEnvelope),
    ),
    security(("bearer" = ["addresses:read"]))
)]
pub async fn get_address(
    req: HttpRequest,
    path: web::Path<String>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "address_id", "invalid_address_id", AddressId::parse)?;
    no_query(&req)?;
    let address = auth
        .graph
        .addresses
        .get_with_reference(&auth.caller, id)
        .await?;
    Ok(wire::json(StatusCode::OK, &ConnectAddress::from(&address)))
}
