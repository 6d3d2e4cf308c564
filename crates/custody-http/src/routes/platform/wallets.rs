//! `/v1/vaults/{vaultId}/wallets`, `/v1/wallets/{walletId}` and
//! `/v1/wallets/{walletId}/addresses`: a vault's wallets (one per asset) with their balances,
//! and extra deposit addresses of a wallet.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use custody_core::api_key::Scope;
use custody_core::asset::AssetId;
use custody_core::deposit_address::DepositAddress;
use custody_core::id::WalletId;
use custody_core::ports::WalletFilter;
use custody_core::services::{Provisioned, WalletView, WalletWithAddress};
use custody_core::text::Label;
use custody_core::wallet::Wallet;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{vault_id, wallet_id};
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::graph::AppState;
use crate::idempotency::{created_or_ok, json_response, KeyRule, Mutation};
use crate::input::{json_body, no_query, query, text, PageParams};
use crate::routes::Endpoints;
use crate::wire::{self, List, Pagination};

pub(super) fn endpoints(api: &mut Endpoints) {
    api.add(__path_create_wallet, create_wallet)
        .add(__path_list_wallets, list_wallets)
        .add(__path_get_wallet, get_wallet)
        .add(__path_create_wallet_address, create_wallet_address);
}

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
#[schema(example = json!({"id": "acc_01JD0Q4V3X5M7Z9B1C3E5G7H9M", "vaultId": "vlt_01JD0Q4V3X5M7Z9B1C3E5G7H9K", "assetId": "USDC_ETHEREUM", "assetName": "USD Coin", "assetSymbol": "USDC", "network": "ethereum", "label": "Alice USDC", "depositAddress": "0x742d35Cc6634C0532925a3b844Bc9e7595f2bD38", "depositTag": null, "status": "Active", "balances": {"available": "125.5", "pending": "0", "held": "0", "total": "125.5"}, "createdAt": "2026-02-23T12:00:00Z"}))]
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

impl From<&WalletView> for PlatformWallet {
    fn from(view: &WalletView) -> PlatformWallet {
        PlatformWallet::new(&view.wallet, view.deposit_address.as_ref())
    }
}

impl PlatformWallet {
    /// The wallet with its primary deposit address, as every Platform response (and event
    /// snapshot) shows it.
    pub fn new(wallet: &Wallet, deposit_address: Option<&DepositAddress>) -> PlatformWallet {
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
#[schema(example = json!({"assetId": "USDC_ETHEREUM", "label": "Alice USDC"}))]
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
        (status = 201, body = PlatformWallet, links(
            ("GetWallet" = (operation_id = "get_wallet", parameters(("walletId" = "$response.body#/id")))),
            ("CreateWalletAddress" = (operation_id = "create_wallet_address", parameters(("walletId" = "$response.body#/id")))),
            ("GetAccountBalances" = (operation_id = "get_account_balances", parameters(("accountId" = "$response.body#/id")))),
            ("ListBlockchainAddresses" = (operation_id = "list_blockchain_addresses", parameters(("accountId" = "$response.body#/id")))),
            ("CreateBlockchainAddress" = (operation_id = "create_blockchain_address", parameters(("accountId" = "$response.body#/id")))),
        )),
        (status = 200, description = "The vault already had this asset's wallet", body = PlatformWallet, links(
            ("GetWallet" = (operation_id = "get_wallet", parameters(("walletId" = "$response.body#/id")))),
            ("CreateWalletAddress" = (operation_id = "create_wallet_address", parameters(("walletId" = "$response.body#/id")))),
            ("GetAccountBalances" = (operation_id = "get_account_balances", parameters(("accountId" = "$response.body#/id")))),
            ("ListBlockchainAddresses" = (operation_id = "list_blockchain_addresses", parameters(("accountId" = "$response.body#/id")))),
            ("CreateBlockchainAddress" = (operation_id = "create_blockchain_address", parameters(("accountId" = "$response.body#/id")))),
        )),
        (status = 404, body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "Unknown or not-enabled asset, archived vault", body = crate::openapi::ErrorEnvelope),
        (status = 502, description = "Live: the custody provider refused", body = crate::openapi::ErrorEnvelope),
    ),
    security(("hmac" = ["wallets:create"])))]
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
    let respond = |p: &Provisioned<WalletWithAddress>| {
        let wallet = PlatformWallet::new(&p.value.wallet, Some(&p.value.deposit_address));
        json_response(created_or_ok(p.created), &wallet)
    };
    mutation
        .run(respond, async move |auth, write| {
            let wallets = &auth.graph.wallets;
            wallets.create(&auth.caller, id, asset, label, write).await
        })
        .await
        .map_err(|e| e.renaming_field("asset", "assetId"))
}

/// A page of wallets.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"items": [{"id": "acc_01JD0Q4V3X5M7Z9B1C3E5G7H9M", "vaultId": "vlt_01JD0Q4V3X5M7Z9B1C3E5G7H9K", "assetId": "USDC_ETHEREUM", "assetName": "USD Coin", "assetSymbol": "USDC", "network": "ethereum", "label": "Alice USDC", "depositAddress": "0x742d35Cc6634C0532925a3b844Bc9e7595f2bD38", "depositTag": null, "status": "Active", "balances": {"available": "125.5", "pending": "0", "held": "0", "total": "125.5"}, "createdAt": "2026-02-23T12:00:00Z"}], "pagination": {"hasMore": false, "nextCursor": null}}))]
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
    security(("hmac" = ["wallets:read"])))]
pub async fn list_wallets(
    req: HttpRequest,
    path: web::Path<String>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let id = vault_id(&path)?;
    let page_request = query::<PageParams>(&req)?.to_request(WalletId::parse, WalletId::ulid)?;
    let filter = WalletFilter {
        vault_id: Some(id),
        asset: None,
    };
    let page = auth
        .graph
        .wallets
        .list_with_addresses(&auth.caller, &filter, page_request)
        .await?;
    let items: Vec<PlatformWallet> = page.items.iter().map(PlatformWallet::from).collect();
    Ok(wire::json(
        StatusCode::OK,
        &List::page(items, page.has_more, Some(&page_request), |w| w.id.clone()),
    ))
}

/// Read a wallet with its balances and deposit address.
#[utoipa::path(get, path = "/v1/wallets/{walletId}", tag = "Platform",
    params(("walletId" = String, Path, description = "`acc_…`")),
    responses((status = 200, body = PlatformWallet), (status = 400, body = crate::openapi::ErrorEnvelope), (status = 404, body = crate::openapi::ErrorEnvelope)),
    security(("hmac" = ["wallets:read"])))]
pub async fn get_wallet(
    req: HttpRequest,
    path: web::Path<String>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let id = wallet_id(&path)?;
    no_query(&req)?;
    let wallet = auth
        .graph
        .wallets
        .get_with_address(&auth.caller, id)
        .await?;
    Ok(wire::json(StatusCode::OK, &PlatformWallet::from(&wallet)))
}

/// A deposit address of a wallet.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "ba_01JD0Q4V3X5M7Z9B1C3E5G7H9N", "walletId": "acc_01JD0Q4V3X5M7Z9B1C3E5G7H9M", "address": "0x742d35Cc6634C0532925a3b844Bc9e7595f2bD38", "network": "ethereum", "label": "promo", "primary": false, "status": "active", "createdAt": "2026-02-23T12:00:00Z"}))]
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
#[schema(example = json!({"label": "promo"}))]
pub struct CreateAddressRequest {
    /// Your label, up to 255 characters.
    pub label: Option<String>,
}

/// Mint an additional deposit address for a wallet (every call mints a new one).
#[utoipa::path(post, path = "/v1/wallets/{walletId}/addresses", tag = "Platform",
    request_body(content = Option<CreateAddressRequest>, description = "Optional: no body, `{}` and `{\"label\": null}` all mean no label"),
    params(("walletId" = String, Path, description = "`acc_…`"), ("Idempotency-Key" = Option<String>, Header, description = "Honoured when sent: recommended, as each call mints")),
    responses((status = 201, body = PlatformAddress), (status = 404, body = crate::openapi::ErrorEnvelope), (status = 422, body = crate::openapi::ErrorEnvelope),
        (status = 502, description = "Live: the custody provider refused", body = crate::openapi::ErrorEnvelope)),
    security(("hmac" = ["addresses:write"])))]
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
    let respond =
        |a: &DepositAddress| json_response(StatusCode::CREATED, &PlatformAddress::from(a));
    mutation
        .run(respond, async move |auth, write| {
            let addresses = &auth.graph.addresses;
            addresses
                .create_additional_address(&auth.caller, id, label, write)
                .await
        })
        .await
}
