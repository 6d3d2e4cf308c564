//! `GET /v1/assets`: the assets enabled for the tenant in the key's environment.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use custody_core::asset::AssetId;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::input::no_query;
use crate::routes::Endpoints;
use crate::wire::{self, List, Pagination};

pub(super) fn endpoints(api: &mut Endpoints) {
    api.add(__path_list_assets, list_assets);
}

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
#[schema(example = json!({"items": [{"id": "USDC_ETHEREUM", "symbol": "USDC", "name": "USD Coin", "network": "ethereum", "decimals": 6}], "pagination": {"hasMore": false, "nextCursor": null}}))]
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
pub async fn list_assets(req: HttpRequest, auth: Authenticated) -> Result<HttpResponse, ApiError> {
    no_query(&req)?;
    let assets = auth.graph.wallets.assets(&auth.caller).await?;
    let items: Vec<PlatformAsset> = assets.into_iter().map(PlatformAsset::from).collect();
    Ok(wire::json(
        StatusCode::OK,
        &List::page(items, false, None, |a: &PlatformAsset| a.id.clone()),
    ))
}
