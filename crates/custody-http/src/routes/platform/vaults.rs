//! `/v1/vaults[/{vaultId}]`: create, list, read, freeze, unfreeze, archive, rename.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use custody_core::api_key::Scope;
use custody_core::id::VaultId;
use custody_core::idempotency::StoredResponse;
use custody_core::ports::VaultFilter;
use custody_core::services::{NewVault, VaultPatch};
use custody_core::text::{ExternalRef, Metadata, VaultName};
use custody_core::vault::{Vault, VaultStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::vault_id;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::graph::AppState;
use crate::idempotency::{json_response, KeyRule, Mutation};
use crate::input::{json_body, no_query, query, query_text, text, PageParams};
use crate::routes::Endpoints;
use crate::wire::{self, List, Pagination};

pub(super) fn endpoints(api: &mut Endpoints) {
    api.add(__path_create_vault, create_vault)
        .add(__path_list_vaults, list_vaults)
        .add(__path_get_vault, get_vault)
        .add(__path_update_vault, update_vault);
}

/// A vault.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "vlt_01JD0Q4V3X5M7Z9B1C3E5G7H9K", "externalId": "cust-42", "name": "Alice", "metadata": {"crm_id": "8842"}, "status": "Active", "createdAt": "2026-02-23T12:00:00Z"}))]
pub struct PlatformVault {
    /// `vlt_…`
    pub id: String,
    /// Your id for the customer (unique per tenant and environment).
    pub external_id: Option<String>,
    /// Display name.
    pub name: String,
    /// Your key/value metadata, echoed.
    #[schema(value_type = HashMap<String, String>)]
    pub metadata: BTreeMap<String, String>,
    /// `Active`, `Frozen` (receives, cannot send) or `Archived` (terminal).
    #[schema(example = "Active")]
    pub status: String,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
}

impl From<&Vault> for PlatformVault {
    fn from(v: &Vault) -> PlatformVault {
        PlatformVault {
            id: v.id.to_string(),
            external_id: v.external_ref.as_ref().map(|r| r.as_str().to_owned()),
            name: v.name.as_str().to_owned(),
            metadata: v.metadata.entries().clone(),
            status: v.status.as_str().to_owned(),
            created_at: wire::timestamp(v.created_at),
        }
    }
}

/// Body of `POST /v1/vaults`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"externalId": "cust-42", "name": "Alice", "metadata": {"crm_id": "8842"}}))]
pub struct CreateVaultRequest {
    /// Your id for the customer, 1–255 characters, unique per tenant and environment.
    pub external_id: Option<String>,
    /// Display name, up to 255 characters.
    pub name: Option<String>,
    /// Up to 50 keys matching `^[a-zA-Z0-9_]{1,40}$`, values up to 500 characters.
    #[schema(value_type = Option<HashMap<String, String>>)]
    pub metadata: Option<BTreeMap<String, String>>,
}

fn metadata(raw: Option<BTreeMap<String, String>>) -> Result<Option<Metadata>, ApiError> {
    raw.map(|m| {
        Metadata::parse(m)
            .map_err(|e| ApiError::invalid_field("metadata", "invalid_metadata", e.to_string()))
    })
    .transpose()
}

fn vault_response(status: StatusCode) -> impl Fn(&Vault) -> StoredResponse {
    move |v: &Vault| json_response(status, &PlatformVault::from(v))
}

/// Create a vault for one end-customer.
#[utoipa::path(post, path = "/v1/vaults", tag = "Platform",
    request_body = CreateVaultRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Honoured when sent")),
    responses(
        (status = 201, body = PlatformVault, links(
            ("GetVault" = (operation_id = "get_vault", parameters(("vaultId" = "$response.body#/id")))),
            ("UpdateVault" = (operation_id = "update_vault", parameters(("vaultId" = "$response.body#/id")))),
            ("CreateWallet" = (operation_id = "create_wallet", parameters(("vaultId" = "$response.body#/id")))),
            ("ListWallets" = (operation_id = "list_wallets", parameters(("vaultId" = "$response.body#/id")))),
        )),
        (status = 409, description = "externalId already used, or an idempotency conflict", body = crate::openapi::ErrorEnvelope),
        (status = 422, body = crate::openapi::ErrorEnvelope),
    ),
    security(("hmac" = ["vaults:write"])))]
pub async fn create_vault(
    state: Data<AppState>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let mutation =
        Mutation::begin(&state, &req, &body, KeyRule::Optional, Scope::VaultsWrite).await?;
    let input: CreateVaultRequest = json_body(&req, &body)?;
    let new = NewVault {
        external_ref: text(input.external_id, "externalId", ExternalRef::parse)?,
        name: text(input.name, "name", VaultName::parse)?.unwrap_or_default(),
        metadata: metadata(input.metadata)?.unwrap_or_default(),
    };
    mutation
        .run(
            vault_response(StatusCode::CREATED),
            async move |auth, write| auth.graph.vaults.create(&auth.caller, new, write).await,
        )
        .await
}

/// Query of `GET /v1/vaults`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListVaultsQuery {
    /// Only the vault with this external id.
    pub external_id: Option<String>,
    /// 1–200, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// A vault id: the page starts after it.
    #[serde(rename = "starting_after")]
    #[param(rename = "starting_after")]
    pub starting_after: Option<String>,
    /// A vault id: the page ends before it.
    #[serde(rename = "ending_before")]
    #[param(rename = "ending_before")]
    pub ending_before: Option<String>,
}

/// A page of vaults.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"items": [{"id": "vlt_01JD0Q4V3X5M7Z9B1C3E5G7H9K", "externalId": "cust-42", "name": "Alice", "metadata": {"crm_id": "8842"}, "status": "Active", "createdAt": "2026-02-23T12:00:00Z"}], "pagination": {"hasMore": false, "nextCursor": null}}))]
pub struct VaultList {
    /// Ascending by id.
    pub items: Vec<PlatformVault>,
    /// Where to continue.
    pub pagination: Pagination,
}

/// List vaults.
#[utoipa::path(get, path = "/v1/vaults", tag = "Platform", params(ListVaultsQuery),
    responses((status = 200, body = VaultList), (status = 400, body = crate::openapi::ErrorEnvelope)),
    security(("hmac" = ["vaults:read"])))]
pub async fn list_vaults(req: HttpRequest, auth: Authenticated) -> Result<HttpResponse, ApiError> {
    let q: ListVaultsQuery = query(&req)?;
    let page_request = PageParams {
        limit: q.limit,
        starting_after: q.starting_after,
        ending_before: q.ending_before,
    }
    .to_request(VaultId::parse, VaultId::ulid)?;
    let filter = VaultFilter {
        external_ref: query_text(q.external_id, "externalId", ExternalRef::parse)?,
    };
    let page = auth
        .graph
        .vaults
        .list(&auth.caller, &filter, page_request)
        .await?;
    let items: Vec<PlatformVault> = page.items.iter().map(PlatformVault::from).collect();
    Ok(wire::json(
        StatusCode::OK,
        &List::page(items, page.has_more, Some(&page_request), |v| v.id.clone()),
    ))
}

/// Read a vault.
#[utoipa::path(get, path = "/v1/vaults/{vaultId}", tag = "Platform",
    params(("vaultId" = String, Path, description = "`vlt_…`")),
    responses((status = 200, body = PlatformVault), (status = 400, body = crate::openapi::ErrorEnvelope), (status = 404, body = crate::openapi::ErrorEnvelope)),
    security(("hmac" = ["vaults:read"])))]
pub async fn get_vault(
    req: HttpRequest,
    path: web::Path<String>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let id = vault_id(&path)?;
    no_query(&req)?;
    let vault = auth.graph.vaults.get(&auth.caller, id).await?;
    Ok(wire::json(StatusCode::OK, &PlatformVault::from(&vault)))
}

/// Body of `PATCH /v1/vaults/{vaultId}`: absent fields are unchanged.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "Alice (VIP)"}))]
pub struct UpdateVaultRequest {
    /// `Frozen` (freeze), `Active` (unfreeze) or `Archived` (archive an empty vault, for good).
    #[schema(example = "Frozen")]
    pub status: Option<String>,
    /// New name.
    pub name: Option<String>,
    /// New metadata (replaces the old).
    #[schema(value_type = Option<HashMap<String, String>>)]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// Freeze, unfreeze, archive or rename a vault.
#[utoipa::path(patch, path = "/v1/vaults/{vaultId}", tag = "Platform",
    request_body = UpdateVaultRequest,
    params(("vaultId" = String, Path, description = "`vlt_…`"), ("Idempotency-Key" = Option<String>, Header, description = "Honoured when sent")),
    responses(
        (status = 200, body = PlatformVault),
        (status = 404, body = crate::openapi::ErrorEnvelope),
        (status = 409, description = "Illegal status change (e.g. from Archived)", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "Unknown status, or archiving a vault that holds funds", body = crate::openapi::ErrorEnvelope),
    ),
    security(("hmac" = ["vaults:write"])))]
pub async fn update_vault(
    state: Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let mutation =
        Mutation::begin(&state, &req, &body, KeyRule::Optional, Scope::VaultsWrite).await?;
    let id = vault_id(&path)?;
    let input: UpdateVaultRequest = json_body(&req, &body)?;
    let status = match input.status {
        None => None,
        Some(raw) => Some(VaultStatus::parse(&raw).ok_or_else(|| {
            ApiError::invalid_field(
                "status",
                "invalid_status",
                "`status` must be one of Active, Frozen, Archived",
            )
        })?),
    };
    let patch = VaultPatch {
        status,
        name: text(input.name, "name", VaultName::parse)?,
        metadata: metadata(input.metadata)?,
    };
    mutation
        .run(vault_response(StatusCode::OK), async move |auth, write| {
            let vaults = &auth.graph.vaults;
            vaults.update(&auth.caller, id, patch, write).await
        })
        .await
}
