//! The Platform dialect (seed `001`): assets, vaults, wallets and extra addresses; camelCase,
//! statuses spelled as the seed spells them (`Active`, `Frozen`, `Archived`), HMAC-signed
//! requests. `Idempotency-Key` is honoured on every mutation here (required only on transfers
//! and withdrawals, which arrive with the money-movement work).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, Data, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use custody_core::api_key::Scope;
use custody_core::asset::AssetId;
use custody_core::deposit_address::DepositAddress;
use custody_core::error::{Error, ResourceKind};
use custody_core::id::{VaultId, WalletId};
use custody_core::idempotency::StoredResponse;
use custody_core::ports::{StoreError, VaultFilter, WalletFilter};
use custody_core::services::{NewVault, Provisioned, VaultPatch, WalletWithAddress};
use custody_core::text::{ExternalRef, Label, Metadata, VaultName};
use custody_core::vault::{Vault, VaultStatus};
use custody_core::wallet::Wallet;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{authenticate, Authenticated};
use crate::error::ApiError;
use crate::graph::AppState;
use crate::idempotency::{json_response, KeyRule, Mutation, Proceed};
use crate::input::{json_body, no_query, path_id, query, text, PageParams};
use crate::wire::{self, List, Pagination};

/// Registers the Platform routes.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(web::resource("/v1/assets").route(web::get().to(list_assets)))
        .service(
            web::resource("/v1/vaults")
                .route(web::post().to(create_vault))
                .route(web::get().to(list_vaults)),
        )
        .service(
            web::resource("/v1/vaults/{vaultId}")
                .route(web::get().to(get_vault))
                .route(web::patch().to(update_vault)),
        )
        .service(
            web::resource("/v1/vaults/{vaultId}/wallets")
                .route(web::post().to(create_wallet))
                .route(web::get().to(list_wallets)),
        )
        .service(web::resource("/v1/wallets/{walletId}").route(web::get().to(get_wallet)))
        .service(
            web::resource("/v1/wallets/{walletId}/addresses")
                .route(web::post().to(create_wallet_address)),
        );
}

// ---------------------------------------------------------------------------------------------
// Assets
// ---------------------------------------------------------------------------------------------

/// An asset enabled for the tenant.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformAsset {
    /// `{SYMBOL}_{NETWORK}`, the `assetId` of wallet creation.
    #[schema(example = "USDT_ETHEREUM")]
    pub id: String,
    /// Token symbol.
    #[schema(example = "USDT")]
    pub symbol: String,
    /// Token name.
    #[schema(example = "Tether USD")]
    pub name: String,
    /// Network.
    #[schema(example = "ethereum")]
    pub network: String,
    /// Base units per token are 10^decimals.
    #[schema(example = 6)]
    pub decimals: u8,
}

impl From<AssetId> for PlatformAsset {
    fn from(asset: AssetId) -> PlatformAsset {
        PlatformAsset {
            id: asset.to_string(),
            symbol: asset.symbol().as_str().to_owned(),
            name: asset.symbol().name().to_owned(),
            network: asset.network().as_str().to_owned(),
            decimals: asset.decimals(),
        }
    }
}

/// The enabled assets.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssetList {
    /// Ordered by id.
    pub items: Vec<PlatformAsset>,
    /// Always a single page.
    pub pagination: Pagination,
}

/// List the assets enabled for your tenant in this environment.
#[utoipa::path(get, path = "/v1/assets", tag = "Platform",
    responses((status = 200, body = AssetList), (status = 401, body = crate::openapi::ErrorEnvelope)),
    security(("hmac" = [])))]
pub async fn list_assets(
    state: Data<AppState>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let auth = authenticate(&state, &req, &body).await?;
    no_query(&req)?;
    let enabled = auth
        .graph
        .tenants
        .enabled_assets(auth.caller.tenant_id, auth.caller.environment)
        .await
        .map_err(Error::from_store(ResourceKind::Tenant))?;
    let mut items: Vec<PlatformAsset> = enabled.iter().map(PlatformAsset::from).collect();
    items.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(wire::json(
        StatusCode::OK,
        &List::page(items, false, None, |a: &PlatformAsset| a.id.clone()),
    ))
}

// ---------------------------------------------------------------------------------------------
// Vaults
// ---------------------------------------------------------------------------------------------

/// A vault.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
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
        (status = 201, body = PlatformVault),
        (status = 409, description = "externalId already used, or an idempotency conflict", body = crate::openapi::ErrorEnvelope),
        (status = 422, body = crate::openapi::ErrorEnvelope),
    ),
    security(("hmac" = [])))]
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
    let reserved = match mutation.reserve(&state).await? {
        Proceed::Answer(response) => return Ok(response),
        Proceed::Run(reserved) => reserved,
    };
    let respond = vault_response(StatusCode::CREATED);
    let auth = &mutation.auth;
    let result = auth
        .graph
        .vaults
        .create(&auth.caller, new, reserved.write(&respond))
        .await;
    reserved.finish(result, &respond).await
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
pub struct VaultList {
    /// Ascending by id.
    pub items: Vec<PlatformVault>,
    /// Where to continue.
    pub pagination: Pagination,
}

/// List vaults.
#[utoipa::path(get, path = "/v1/vaults", tag = "Platform", params(ListVaultsQuery),
    responses((status = 200, body = VaultList), (status = 400, body = crate::openapi::ErrorEnvelope)),
    security(("hmac" = [])))]
pub async fn list_vaults(
    state: Data<AppState>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let auth = authenticate(&state, &req, &body).await?;
    let q: ListVaultsQuery = query(&req)?;
    let page_request = PageParams {
        limit: q.limit,
        starting_after: q.starting_after,
        ending_before: q.ending_before,
    }
    .to_request(VaultId::parse, VaultId::ulid)?;
    let filter = VaultFilter {
        external_ref: text(q.external_id, "externalId", ExternalRef::parse)
            .map_err(|e| e.with_status(StatusCode::BAD_REQUEST))?,
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

fn vault_id(raw: &str) -> Result<VaultId, ApiError> {
    path_id(raw, "vaultId", "invalid_vault_id", VaultId::parse)
}

fn wallet_id(raw: &str) -> Result<WalletId, ApiError> {
    path_id(raw, "walletId", "invalid_wallet_id", WalletId::parse)
}

/// Read a vault.
#[utoipa::path(get, path = "/v1/vaults/{vaultId}", tag = "Platform",
    params(("vaultId" = String, Path, description = "`vlt_…`")),
    responses((status = 200, body = PlatformVault), (status = 400, body = crate::openapi::ErrorEnvelope), (status = 404, body = crate::openapi::ErrorEnvelope)),
    security(("hmac" = [])))]
pub async fn get_vault(
    state: Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let auth = authenticate(&state, &req, &body).await?;
    let id = vault_id(&path)?;
    no_query(&req)?;
    let vault = auth.graph.vaults.get(&auth.caller, id).await?;
    Ok(wire::json(StatusCode::OK, &PlatformVault::from(&vault)))
}

/// Body of `PATCH /v1/vaults/{vaultId}`: absent fields are unchanged.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
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
    security(("hmac" = [])))]
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
    let reserved = match mutation.reserve(&state).await? {
        Proceed::Answer(response) => return Ok(response),
        Proceed::Run(reserved) => reserved,
    };
    let respond = vault_response(StatusCode::OK);
    let auth = &mutation.auth;
    let result = auth
        .graph
        .vaults
        .update(&auth.caller, id, patch, reserved.write(&respond))
        .await;
    reserved.finish(result, &respond).await
}

// ---------------------------------------------------------------------------------------------
// Wallets
// ---------------------------------------------------------------------------------------------

/// A wallet's balances, whole-token decimal strings.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformBalances {
    /// Spendable.
    #[schema(example = "125.5")]
    pub available: String,
    /// Incoming, confirming.
    #[schema(example = "0")]
    pub pending: String,
    /// Locked for withdrawals in flight.
    #[schema(example = "0")]
    pub held: String,
    /// The sum of the three.
    #[schema(example = "125.5")]
    pub total: String,
}

/// A wallet: one asset in one vault.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformWallet {
    /// `acc_…` (the same id is the Accounts dialect's `accountId`).
    pub id: String,
    /// `vlt_…`
    pub vault_id: String,
    /// `{SYMBOL}_{NETWORK}`.
    #[schema(example = "USDT_ETHEREUM")]
    pub asset_id: String,
    /// Token name.
    #[schema(example = "Tether USD")]
    pub asset_name: String,
    /// Token symbol.
    #[schema(example = "USDT")]
    pub asset_symbol: String,
    /// Network.
    #[schema(example = "ethereum")]
    pub network: String,
    /// Your label.
    pub label: Option<String>,
    /// The primary deposit address to give the customer.
    pub deposit_address: Option<String>,
    /// Always null: no supported network uses memos or tags.
    pub deposit_tag: Option<String>,
    /// `Active`.
    #[schema(example = "Active")]
    pub status: String,
    /// Balances.
    pub balances: PlatformBalances,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
}

impl PlatformWallet {
    fn new(wallet: &Wallet, deposit_address: Option<&DepositAddress>) -> PlatformWallet {
        let asset = wallet.asset;
        let b = wallet.balances;
        PlatformWallet {
            id: wallet.id.to_string(),
            vault_id: wallet.vault_id.to_string(),
            asset_id: asset.to_string(),
            asset_name: asset.symbol().name().to_owned(),
            asset_symbol: asset.symbol().as_str().to_owned(),
            network: asset.network().as_str().to_owned(),
            label: wallet.label.as_ref().map(|l| l.as_str().to_owned()),
            deposit_address: deposit_address.map(|a| a.address.to_string()),
            deposit_tag: None,
            status: "Active".to_owned(),
            balances: PlatformBalances {
                available: wire::amount(asset, b.available),
                pending: wire::amount(asset, b.pending),
                held: wire::amount(asset, b.held),
                total: wire::amount(asset, wire::total(&b)),
            },
            created_at: wire::timestamp(wallet.created_at),
        }
    }
}

/// Body of `POST /v1/vaults/{vaultId}/wallets`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateWalletRequest {
    /// An enabled asset's id from `GET /v1/assets` (`USDT_ETHEREUM`), case-insensitive.
    #[schema(example = "USDT_ETHEREUM")]
    pub asset_id: String,
    /// Your label, up to 255 characters.
    pub label: Option<String>,
}

/// Create the vault's wallet for an asset, with its deposit address. One wallet per asset per
/// vault: asking again answers 200 with the same wallet.
#[utoipa::path(post, path = "/v1/vaults/{vaultId}/wallets", tag = "Platform",
    request_body = CreateWalletRequest,
    params(("vaultId" = String, Path, description = "`vlt_…`"), ("Idempotency-Key" = Option<String>, Header, description = "Honoured when sent")),
    responses(
        (status = 201, body = PlatformWallet),
        (status = 200, description = "The vault already had this asset's wallet", body = PlatformWallet),
        (status = 404, body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "Unknown or not-enabled asset, archived vault", body = crate::openapi::ErrorEnvelope),
    ),
    security(("hmac" = [])))]
pub async fn create_wallet(
    state: Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let mutation =
        Mutation::begin(&state, &req, &body, KeyRule::Optional, Scope::WalletsCreate).await?;
    let id = vault_id(&path)?;
    let input: CreateWalletRequest = json_body(&req, &body)?;
    let asset = AssetId::parse(&input.asset_id)
        .map_err(|e| ApiError::from(custody_core::error::asset_error("assetId", e)))?;
    let label = text(input.label, "label", Label::parse)?;
    let reserved = match mutation.reserve(&state).await? {
        Proceed::Answer(response) => return Ok(response),
        Proceed::Run(reserved) => reserved,
    };
    let respond = |p: &Provisioned<WalletWithAddress>| {
        let status = if p.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        json_response(
            status,
            &PlatformWallet::new(&p.value.wallet, Some(&p.value.deposit_address)),
        )
    };
    let auth = &mutation.auth;
    let result = auth
        .graph
        .wallets
        .create(&auth.caller, id, asset, label, reserved.write(&respond))
        .await;
    reserved
        .finish(result, &respond)
        .await
        .map_err(|e| e.renaming_field("asset", "assetId"))
}

/// A page of wallets.
#[derive(Debug, Serialize, ToSchema)]
pub struct WalletList {
    /// Ascending by id.
    pub items: Vec<PlatformWallet>,
    /// Where to continue.
    pub pagination: Pagination,
}

/// List a vault's wallets.
#[utoipa::path(get, path = "/v1/vaults/{vaultId}/wallets", tag = "Platform",
    params(("vaultId" = String, Path, description = "`vlt_…`"), PageParams),
    responses((status = 200, body = WalletList), (status = 404, body = crate::openapi::ErrorEnvelope)),
    security(("hmac" = [])))]
pub async fn list_wallets(
    state: Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let auth = authenticate(&state, &req, &body).await?;
    let id = vault_id(&path)?;
    let page_request = query::<PageParams>(&req)?.to_request(WalletId::parse, WalletId::ulid)?;
    let filter = WalletFilter {
        vault_id: Some(id),
        asset: None,
    };
    let page = auth
        .graph
        .wallets
        .list(&auth.caller, &filter, page_request)
        .await?;
    let mut items = Vec::with_capacity(page.items.len());
    for wallet in &page.items {
        let address = primary_address(&auth, wallet.id).await?;
        items.push(PlatformWallet::new(wallet, address.as_ref()));
    }
    Ok(wire::json(
        StatusCode::OK,
        &List::page(items, page.has_more, Some(&page_request), |w| w.id.clone()),
    ))
}

async fn primary_address(
    auth: &Authenticated,
    wallet: WalletId,
) -> Result<Option<DepositAddress>, ApiError> {
    match auth
        .graph
        .address_store
        .primary_for_wallet(auth.caller.tenant_id, wallet)
        .await
    {
        Ok(address) => Ok(Some(address)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(Error::from(e).into()),
    }
}

/// Read a wallet with its balances and deposit address.
#[utoipa::path(get, path = "/v1/wallets/{walletId}", tag = "Platform",
    params(("walletId" = String, Path, description = "`acc_…`")),
    responses((status = 200, body = PlatformWallet), (status = 400, body = crate::openapi::ErrorEnvelope), (status = 404, body = crate::openapi::ErrorEnvelope)),
    security(("hmac" = [])))]
pub async fn get_wallet(
    state: Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let auth = authenticate(&state, &req, &body).await?;
    let id = wallet_id(&path)?;
    no_query(&req)?;
    let wallet = auth.graph.wallets.get(&auth.caller, id).await?;
    let address = primary_address(&auth, wallet.id).await?;
    Ok(wire::json(
        StatusCode::OK,
        &PlatformWallet::new(&wallet, address.as_ref()),
    ))
}

/// A deposit address of a wallet.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformAddress {
    /// `ba_…`
    pub id: String,
    /// `acc_…`
    pub wallet_id: String,
    /// The on-chain address.
    pub address: String,
    /// Network.
    #[schema(example = "ethereum")]
    pub network: String,
    /// Your label.
    pub label: Option<String>,
    /// Whether this is the wallet's primary (`depositAddress`).
    pub primary: bool,
    /// `active` or `suspended`.
    #[schema(example = "active")]
    pub status: String,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
}

impl From<&DepositAddress> for PlatformAddress {
    fn from(a: &DepositAddress) -> PlatformAddress {
        PlatformAddress {
            id: a.id.to_string(),
            wallet_id: a.wallet_id.to_string(),
            address: a.address.to_string(),
            network: a.asset.network().as_str().to_owned(),
            label: a.label.as_ref().map(|l| l.as_str().to_owned()),
            primary: a.is_primary,
            status: a.status.as_str().to_owned(),
            created_at: wire::timestamp(a.created_at),
        }
    }
}

/// Body of `POST /v1/wallets/{walletId}/addresses`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAddressRequest {
    /// Your label, up to 255 characters.
    pub label: Option<String>,
}

/// Mint an additional deposit address for a wallet (every call mints a new one).
#[utoipa::path(post, path = "/v1/wallets/{walletId}/addresses", tag = "Platform",
    request_body = CreateAddressRequest,
    params(("walletId" = String, Path, description = "`acc_…`"), ("Idempotency-Key" = Option<String>, Header, description = "Honoured when sent: recommended, as each call mints")),
    responses((status = 201, body = PlatformAddress), (status = 404, body = crate::openapi::ErrorEnvelope), (status = 422, body = crate::openapi::ErrorEnvelope)),
    security(("hmac" = [])))]
pub async fn create_wallet_address(
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
        Scope::AddressesWrite,
    )
    .await?;
    let id = wallet_id(&path)?;
    // The body is optional here: `{}` and no body at all both mean "no label".
    let input: CreateAddressRequest = if body.is_empty() {
        CreateAddressRequest::default()
    } else {
        json_body(&req, &body)?
    };
    let label = text(input.label, "label", Label::parse)?;
    let reserved = match mutation.reserve(&state).await? {
        Proceed::Answer(response) => return Ok(response),
        Proceed::Run(reserved) => reserved,
    };
    let respond =
        |a: &DepositAddress| json_response(StatusCode::CREATED, &PlatformAddress::from(a));
    let auth = &mutation.auth;
    let result = auth
        .graph
        .addresses
        .create_additional_address(&auth.caller, id, label, reserved.write(&respond))
        .await;
    reserved.finish(result, &respond).await
}
