//! `/connect/v1/balances[/{external_ref}]`: one user's balances, or the tenant's, with fiat
//! totals.

use actix_web::http::StatusCode;
use actix_web::web;
use actix_web::{HttpRequest, HttpResponse};
use custody_core::services::BalanceReport;
use custody_core::text::ExternalRef;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::input::{no_query, query, query_text};
use crate::routes::Endpoints;
use crate::wire;

pub(super) fn endpoints(api: &mut Endpoints) {
    api.add(__path_balances, balances)
        .add(__path_balances_of, balances_of);
}

/// Query of `GET /connect/v1/balances`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BalancesQuery {
    /// One user's balances; omit for the tenant-wide aggregate.
    pub external_ref: Option<String>,
}

/// One asset's balance.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectBalanceLine {
    /// Asset symbol.
    #[schema(example = "USDT")]
    pub asset: String,
    /// Network.
    #[schema(example = "ethereum")]
    pub network: String,
    /// Available balance in whole tokens, as a decimal string.
    #[schema(example = "125.5")]
    pub amount: String,
}

/// Balances with fiat totals.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"external_ref": "user-8842", "valued_at": "2026-02-23T12:00:00Z", "balances": [{"asset": "USDT", "network": "ethereum", "amount": "125.5"}], "totals": {"usd": "125.50", "pen": "470.63"}}))]
pub struct ConnectBalances {
    /// The user; null for the tenant-wide aggregate.
    pub external_ref: Option<String>,
    /// When the spot prices were read.
    #[schema(value_type = String, format = DateTime)]
    pub valued_at: String,
    /// One line per (asset, network) the user (or tenant) has a wallet for.
    pub balances: Vec<ConnectBalanceLine>,
    /// Lowercase fiat code → decimal string with 2 places. A currency is absent when any line
    /// could not be valued in it (fail-closed).
    #[schema(value_type = HashMap<String, String>, example = json!({"usd": "125.50", "pen": "470.63"}))]
    pub totals: std::collections::BTreeMap<String, String>,
}

impl From<BalanceReport> for ConnectBalances {
    fn from(report: BalanceReport) -> ConnectBalances {
        ConnectBalances {
            external_ref: report.external_ref.map(|r| r.as_str().to_owned()),
            valued_at: wire::timestamp(report.valued_at),
            balances: report
                .lines
                .iter()
                .map(|line| ConnectBalanceLine {
                    asset: line.asset.symbol().as_str().to_owned(),
                    network: line.asset.network().as_str().to_owned(),
                    amount: wire::amount(line.asset, line.amount),
                })
                .collect(),
            totals: report
                .totals
                .into_iter()
                .map(|(currency, total)| (currency, format!("{total:.2}")))
                .collect(),
        }
    }
}

/// Balances of one user (`?external_ref=`) or of the whole tenant.
#[utoipa::path(
    get, path = "/connect/v1/balances", tag = "Connect", operation_id = "get_connect_balances",
    params(BalancesQuery),
    responses(
        (status = 200, body = ConnectBalances),
        (status = 400, body = crate::openapi::ErrorEnvelope),
    ),
    security(("bearer" = ["wallets:read"]))
)]
pub async fn balances(req: HttpRequest, auth: Authenticated) -> Result<HttpResponse, ApiError> {
    let q: BalancesQuery = query(&req)?;
    let external_ref = query_text(q.external_ref, "external_ref", ExternalRef::parse)?;
    report(&auth, external_ref).await
}

/// Balances of one user, by path.
#[utoipa::path(
    get, path = "/connect/v1/balances/{external_ref}", tag = "Connect", operation_id = "get_connect_user_balances",
    params(("external_ref" = String, Path, description = "The partner's user id, 1–255 characters")),
    responses(
        (status = 200, body = ConnectBalances),
        (status = 400, body = crate::openapi::ErrorEnvelope),
        (status = 401, body = crate::openapi::ErrorEnvelope), (status = 403, body = crate::openapi::ErrorEnvelope),
    ),
    security(("bearer" = ["wallets:read"]))
)]
pub async fn balances_of(
    req: HttpRequest,
    path: web::Path<String>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let external_ref = query_text(Some(path.into_inner()), "external_ref", ExternalRef::parse)?;
    no_query(&req)?;
    report(&auth, external_ref).await
}

async fn report(
    auth: &Authenticated,
    external_ref: Option<ExternalRef>,
) -> Result<HttpResponse, ApiError> {
    let report = auth
        .graph
        .balances
        .report(&auth.caller, external_ref)
        .await?;
    Ok(wire::json(StatusCode::OK, &ConnectBalances::from(report)))
}
