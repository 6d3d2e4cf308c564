//! `GET /v1/accounts/{accountId}/balances`: the account's balance lines.

use actix_web::http::StatusCode;
use actix_web::web;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::account_id;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::input::no_query;
use crate::routes::Endpoints;
use crate::wire;

pub(super) fn endpoints(api: &mut Endpoints) {
    api.add(__path_balances, balances);
}

/// One balance line.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountBalance {
    /// `available`, `pending`, `held` or `total`.
    #[schema(example = "available")]
    pub r#type: String,
    /// The asset symbol.
    #[schema(example = "USDC")]
    pub currency: String,
    /// Whole-token decimal string.
    #[schema(example = "125.5")]
    pub amount: String,
}

/// An account's balances.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"items": [{"type": "available", "currency": "USDC", "amount": "125.5"}, {"type": "pending", "currency": "USDC", "amount": "0"}, {"type": "held", "currency": "USDC", "amount": "0"}, {"type": "total", "currency": "USDC", "amount": "125.5"}]}))]
pub struct AccountBalances {
    /// `available`, `pending`, `held`, `total`, in that order.
    pub items: Vec<AccountBalance>,
}

/// The account's balances.
#[utoipa::path(get, path = "/v1/accounts/{accountId}/balances", tag = "Accounts", operation_id = "get_account_balances",
    params(("accountId" = String, Path, description = "`acc_…`")),
    responses((status = 200, body = AccountBalances), (status = 400, body = crate::openapi::ErrorEnvelope), (status = 404, body = crate::openapi::ErrorEnvelope)),
    security(("ed25519" = ["wallets:read"])))]
pub async fn balances(
    req: HttpRequest,
    path: web::Path<String>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let id = account_id(&path)?;
    no_query(&req)?;
    let wallet = auth.graph.wallets.get(&auth.caller, id).await?;
    let asset = wallet.asset;
    let b = wallet.balances;
    let total = wire::total(&b);
    let line = |kind: &str, amount| AccountBalance {
        r#type: kind.to_owned(),
        currency: asset.symbol().as_str().to_owned(),
        amount: wire::amount(asset, amount),
    };
    Ok(wire::json(
        StatusCode::OK,
        &AccountBalances {
            items: vec![
                line("available", b.available),
                line("pending", b.pending),
                line("held", b.held),
                line("total", total),
            ],
        },
    ))
}
