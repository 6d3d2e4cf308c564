//! `/v1/sandbox/…`: simulation for sandbox keys. A simulated deposit is reported by the
//! sandbox provider and applied through the same deposit path a verified live notification
//! takes. A live key gets 404 here, as for a path that does not exist: the live graph holds no
//! simulation use case at all.

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use custody_core::api_key::Scope;
use custody_core::id::WalletId;
use custody_core::ports::Settlement;
use custody_core::services::{DepositTarget, SimulateDeposit};
use custody_core::transaction::Transaction;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::graph::AppState;
use crate::idempotency::{json_response, KeyRule, Mutation};
use crate::input::json_body;
use crate::routes::platform::transactions::PlatformTransaction;
use crate::routes::Endpoints;

pub(super) fn endpoints(api: &mut Endpoints) {
    api.add(__path_simulate_deposit, simulate_deposit);
}

/// Body of `POST /v1/sandbox/deposits`: exactly one of `walletId` and `address`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SimulateDepositRequest {
    /// The receiving wallet (`acc_…`): the deposit arrives at its primary deposit address.
    pub wallet_id: Option<String>,
    /// One of your deposit addresses, as written on-chain.
    pub address: Option<String>,
    /// Whole tokens, a decimal string. Amounts ending in `.13` fail while confirming.
    #[schema(example = "250")]
    pub amount: String,
    /// `realistic` (default: confirms block by block) or `instant` (completed in the request).
    #[schema(example = "realistic")]
    pub settle: Option<String>,
}

/// Simulate an on-chain deposit (sandbox keys only): recorded `Confirming` with 0
/// confirmations (`pending` balance up), then confirmed block by block until `Completed`
/// (`available` credited once); `settle: "instant"` completes it in the request. Requires
/// `transfers:write`. A live key gets 404.
#[utoipa::path(post, path = "/v1/sandbox/deposits", tag = "Platform",
    request_body = SimulateDepositRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Honoured when sent")),
    responses(
        (status = 201, body = PlatformTransaction),
        (status = 404, description = "Unknown wallet or address, another tenant's, or a live key", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "Invalid amount, wallet id, address or settle", body = crate::openapi::ErrorEnvelope),
    ),
    security(("hmac" = [])))]
pub async fn simulate_deposit(
    state: Data<AppState>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    // A live key must not learn that this path exists, whatever its scopes: the environment is
    // decided before the mutation's header and scope checks, by the one authentication (a
    // second would be refused by the replay cache: each signature is single-use).
    let mutation = Mutation::begin_gated(
        &state,
        &req,
        &body,
        KeyRule::Optional,
        Scope::TransfersWrite,
        |auth| match auth.graph.simulation {
            Some(_) => Ok(()),
            None => Err(ApiError::route_not_found()),
        },
    )
    .await?;
    let input: SimulateDepositRequest = json_body(&req, &body)?;
    let target =
        match (input.wallet_id, input.address) {
            (Some(raw), None) => DepositTarget::Wallet(WalletId::parse(&raw).map_err(|e| {
                ApiError::invalid_field("walletId", "invalid_wallet_id", format!("`walletId`: {e}"))
            })?),
            (None, Some(address)) => DepositTarget::Address(address),
            _ => return Err(ApiError::invalid_field(
                "walletId",
                "wallet_or_address_required",
                "name the receiving wallet (walletId) or one of its addresses (address), not both",
            )),
        };
    let settlement = match input.settle.as_deref() {
        None | Some("realistic") => Settlement::Realistic,
        Some("instant") => Settlement::Instant,
        Some(other) => {
            return Err(ApiError::invalid_field(
                "settle",
                "invalid_settle",
                format!("settle must be \"realistic\" or \"instant\", not {other:?}"),
            ))
        }
    };
    let command = SimulateDeposit {
        target,
        amount: input.amount,
        settlement,
    };
    let respond =
        |t: &Transaction| json_response(StatusCode::CREATED, &PlatformTransaction::from(t));
    mutation
        .run(respond, async move |auth, write| {
            let Some(simulation) = &auth.graph.simulation else {
                return Err(custody_core::error::Error::NotFound(
                    custody_core::error::ResourceKind::Transaction,
                ));
            };
            simulation
                .simulate_deposit(&auth.caller, command, write)
                .await
        })
        .await
}
