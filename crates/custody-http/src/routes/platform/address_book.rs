//! `/v1/address-book[/{id}]`: the tenant's allow-list of withdrawal destinations. Withdrawals
//! may only go to an `Active` entry (`POST /v1/transactions/withdraw`).

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use custody_core::address_book::{AddressBookEntry, EntryState};
use custody_core::api_key::Scope;
use custody_core::asset::{AssetId, Network};
use custody_core::chain_address::ChainAddress;
use custody_core::id::AddressBookEntryId;
use custody_core::services::{AddressBookFilter, NewAddressBookEntry};
use custody_core::text::Label;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::graph::AppState;
use crate::idempotency::{json_response, KeyRule, Mutation};
use crate::input::{json_body, no_query, path_id, query, PageParams};
use crate::routes::Endpoints;
use crate::wire::{self, List, Pagination};

pub(super) fn endpoints(api: &mut Endpoints) {
    api.add(__path_create_entry, create_entry)
        .add(__path_list_entries, list_entries)
        .add(__path_get_entry, get_entry)
        .add(__path_delete_entry, delete_entry);
}

fn entry_id(raw: &str) -> Result<AddressBookEntryId, ApiError> {
    path_id(raw, "id", "invalid_address_book_entry_id", |s| {
        AddressBookEntryId::parse(s)
    })
}

/// An address-book entry.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformAddressBookEntry {
    /// `abe_…`
    #[schema(example = "abe_01JFX0Q4ZK8D4W7T9YB3N5R2MC")]
    pub id: String,
    /// The network the address is on.
    #[schema(example = "ethereum")]
    pub network: String,
    /// The address, canonical for its network (EIP-55 for EVM networks).
    #[schema(example = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")]
    pub address: String,
    /// Your label.
    #[schema(example = "Treasury cold wallet")]
    pub label: String,
    /// When set, only this asset may be withdrawn here.
    #[schema(example = "USDT_ETHEREUM")]
    pub asset_id: Option<String>,
    /// `Active` (withdrawals may target it), `Pending` (cooling off until `activatesAt`) or
    /// `Deleted`.
    #[schema(example = "Active")]
    pub status: String,
    /// Creation time.
    #[schema(value_type = String, format = DateTime, example = "2026-12-06T09:00:00Z")]
    pub created_at: String,
    /// When the entry becomes usable for withdrawals (its creation time when the tenant has
    /// no cooling-off period).
    #[schema(value_type = String, format = DateTime, example = "2026-12-06T09:00:00Z")]
    pub activates_at: String,
}

/// An entry's wire `status` and `activatesAt` at `now`: `Pending` while a cooling-off period
/// runs (until `activatesAt`), then `Active`; `Deleted` once deleted.
pub fn status_and_activates_at(
    entry: &AddressBookEntry,
    now: OffsetDateTime,
) -> (&'static str, String) {
    let status = match entry.state_at(now) {
        EntryState::Active => "Active",
        EntryState::Pending => "Pending",
        EntryState::Deleted => "Deleted",
    };
    (status, wire::timestamp(entry.activates_at))
}

impl PlatformAddressBookEntry {
    /// The entry as the Platform API shows it at `now`.
    pub fn at(entry: &AddressBookEntry, now: OffsetDateTime) -> PlatformAddressBookEntry {
        let (status, activates_at) = status_and_activates_at(entry, now);
        PlatformAddressBookEntry {
            id: entry.id.to_string(),
            network: entry.network.as_str().to_owned(),
            address: entry.address.to_string(),
            label: entry.label.as_str().to_owned(),
            asset_id: entry.asset.map(|a| a.to_string()),
            status: status.to_owned(),
            created_at: wire::timestamp(entry.created_at),
            activates_at,
        }
    }
}

/// Body of `POST /v1/address-book`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateAddressBookEntryRequest {
    /// `ethereum`, `base`, `ink`, `solana` or `sui`.
    #[schema(example = "ethereum")]
    pub network: String,
    /// The destination: EVM `0x` + 40 hex (EIP-55 checksum checked when mixed-case), Solana
    /// base58 of 32 bytes, Sui `0x` + 64 hex.
    #[schema(example = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")]
    pub address: String,
    /// A name a human will recognise in a withdrawal review, up to 255 characters.
    #[schema(example = "Treasury cold wallet")]
    pub label: String,
    /// Restrict the entry to one asset on `network`.
    #[schema(example = "USDT_ETHEREUM")]
    pub asset_id: Option<String>,
}

fn network(raw: &str, field: &'static str) -> Result<Network, ApiError> {
    Network::parse(raw).map_err(|e| {
        let message = format!("`{field}`: {e}");
        ApiError::from(custody_core::error::asset_error(field, e)).with_message(message)
    })
}

/// Add a withdrawal destination to the address book.
#[utoipa::path(post, path = "/v1/address-book", tag = "Platform",
    request_body(content = CreateAddressBookEntryRequest, example = json!({"network": "ethereum", "address": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "label": "Treasury cold wallet", "assetId": "USDT_ETHEREUM"})),
    params(("Idempotency-Key" = Option<String>, Header, description = "Honoured when sent")),
    responses(
        (status = 201, body = PlatformAddressBookEntry),
        (status = 409, description = "`address_book_entry_exists`: the address is already in the book (the message names the entry); or an idempotency conflict", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`invalid_address` for the network, `unsupported_network`, `asset_network_mismatch`", body = crate::openapi::ErrorEnvelope),
    ),
    security(("hmac" = [])))]
pub async fn create_entry(
    state: Data<AppState>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let mutation = Mutation::begin(
        &state,
        &req,
        &body,
        KeyRule::Optional,
        Scope::AddressBookWrite,
    )
    .await?;
    let input: CreateAddressBookEntryRequest = json_body(&req, &body)?;
    let network = network(&input.network, "network")?;
    // Validated here as well, so a bad address is one code whatever was wrong with it.
    ChainAddress::parse(network, &input.address)
        .map_err(|e| ApiError::invalid_field("address", "invalid_address", e.to_string()))?;
    let label = Label::parse(input.label)
        .map_err(|e| ApiError::invalid_field("label", "invalid_text", e.to_string()))?;
    let asset = input
        .asset_id
        .map(|raw| {
            AssetId::parse(&raw)
                .map_err(|e| ApiError::from(custody_core::error::asset_error("assetId", e)))
        })
        .transpose()?;
    let new = NewAddressBookEntry {
        network,
        address: input.address,
        label,
        asset,
    };
    // As it is at its creation: `Pending` exactly when a cooling-off period applies.
    let respond = |e: &AddressBookEntry| {
        json_response(
            StatusCode::CREATED,
            &PlatformAddressBookEntry::at(e, e.created_at),
        )
    };
    mutation
        .run(respond, async move |auth, write| {
            auth.graph
                .address_book
                .create(&auth.caller, new, write)
                .await
        })
        .await
        .map_err(|e| e.renaming_field("asset", "assetId"))
}

/// Query of `GET /v1/address-book`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListAddressBookQuery {
    /// Only entries on this network.
    #[param(example = "ethereum")]
    pub network: Option<String>,
    /// Only entries restricted to this asset.
    #[param(example = "USDT_ETHEREUM")]
    pub asset_id: Option<String>,
    /// `Active`, `Pending` or `Deleted`. Without it, every entry but deleted ones.
    #[param(example = "Active")]
    pub status: Option<String>,
    /// 1–200, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// An entry id: the page starts after it.
    #[serde(rename = "starting_after")]
    #[param(rename = "starting_after")]
    pub starting_after: Option<String>,
    /// An entry id: the page ends before it.
    #[serde(rename = "ending_before")]
    #[param(rename = "ending_before")]
    pub ending_before: Option<String>,
}

/// A page of address-book entries.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddressBookList {
    /// Ascending by id.
    pub items: Vec<PlatformAddressBookEntry>,
    /// Where to continue.
    pub pagination: Pagination,
}

fn status_query(raw: &str) -> Result<EntryState, ApiError> {
    match raw.to_ascii_lowercase().as_str() {
        "active" => Ok(EntryState::Active),
        "deleted" => Ok(EntryState::Deleted),
        "pending" => Ok(EntryState::Pending),
        _ => Err(ApiError::invalid_parameter(
            "status",
            "invalid_status",
            "`status` must be one of Active, Pending, Deleted",
        )),
    }
}

/// List address-book entries.
#[utoipa::path(get, path = "/v1/address-book", tag = "Platform", params(ListAddressBookQuery),
    responses((status = 200, body = AddressBookList), (status = 400, body = crate::openapi::ErrorEnvelope)),
    security(("hmac" = [])))]
pub async fn list_entries(
    state: Data<AppState>,
    req: HttpRequest,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let q: ListAddressBookQuery = query(&req)?;
    let page_request = PageParams {
        limit: q.limit,
        starting_after: q.starting_after,
        ending_before: q.ending_before,
    }
    .to_request(AddressBookEntryId::parse, AddressBookEntryId::ulid)?;
    let bad_request = |e: ApiError| e.with_status(StatusCode::BAD_REQUEST);
    let network = q
        .network
        .map(|raw| network(&raw, "network"))
        .transpose()
        .map_err(bad_request)?;
    let asset = q
        .asset_id
        .map(|raw| {
            AssetId::parse(&raw)
                .map_err(|e| ApiError::from(custody_core::error::asset_error("assetId", e)))
        })
        .transpose()
        .map_err(bad_request)?;
    // The state (`Pending` until `activatesAt`, then `Active`) is judged by the store at
    // `now`, the time the entries are rendered at, so pages are full whenever enough match.
    let filter = AddressBookFilter {
        network,
        address: None,
        asset,
        state: q.status.as_deref().map(status_query).transpose()?,
    };
    let page = auth
        .graph
        .address_book
        .list_filtered(&auth.caller, &filter, now, page_request)
        .await?;
    let items: Vec<PlatformAddressBookEntry> = page
        .items
        .iter()
        .map(|e| PlatformAddressBookEntry::at(e, now))
        .collect();
    let has_more = page.has_more;
    Ok(wire::json(
        StatusCode::OK,
        &List::page(items, has_more, Some(&page_request), |e| e.id.clone()),
    ))
}

/// Read an address-book entry (deleted ones included).
#[utoipa::path(get, path = "/v1/address-book/{id}", tag = "Platform",
    params(("id" = String, Path, description = "`abe_…`")),
    responses((status = 200, body = PlatformAddressBookEntry), (status = 400, body = crate::openapi::ErrorEnvelope), (status = 404, body = crate::openapi::ErrorEnvelope)),
    security(("hmac" = [])))]
pub async fn get_entry(
    state: Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let id = entry_id(&path)?;
    no_query(&req)?;
    let entry = auth.graph.address_book.get(&auth.caller, id).await?;
    Ok(wire::json(
        StatusCode::OK,
        &PlatformAddressBookEntry::at(&entry, state.clock.now()),
    ))
}

/// Delete an address-book entry: withdrawals can no longer target it; past ones keep pointing
/// at it.
#[utoipa::path(delete, path = "/v1/address-book/{id}", tag = "Platform",
    params(("id" = String, Path, description = "`abe_…`"), ("Idempotency-Key" = Option<String>, Header, description = "Honoured when sent")),
    responses(
        (status = 200, description = "The entry, `status: \"Deleted\"`", body = PlatformAddressBookEntry),
        (status = 404, body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`address_book_entry_not_active`: already deleted", body = crate::openapi::ErrorEnvelope),
    ),
    security(("hmac" = [])))]
pub async fn delete_entry(
    state: Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let mutation = Mutation::begin(
        &state,
        &req,
        &body,
        KeyRule::Optional,
        Scope::AddressBookWrite,
    )
    .await?;
    let id = entry_id(&path)?;
    no_query(&req)?;
    let now = state.clock.now();
    let respond =
        |e: &AddressBookEntry| json_response(StatusCode::OK, &PlatformAddressBookEntry::at(e, now));
    mutation
        .run(respond, async move |auth, write| {
            auth.graph
                .address_book
                .delete(&auth.caller, id, write)
                .await
        })
        .await
}
