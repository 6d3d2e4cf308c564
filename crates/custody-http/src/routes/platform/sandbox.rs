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
use custody_core::transaction::{Transaction, TransactionKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::authenticate;
use crate::error::ApiError;
use crate::graph::AppState;
use crate::idempotency::{json_response, KeyRule, Mutation};
use crate::input::json_body;
use crate::routes::Endpoints;
use crate::wire;

pub(super) fn endpoints(api: &mut Endpoints) {
    api.add(__path_simulate_deposit, simulate_deposit);
}

/// One status a transaction entered.
#[derive(Debug, Serialize, ToSchema)]
pub struct SandboxStatusChange {
    /// The status entered.
    #[schema(example = "Confirming")]
    pub status: String,
    /// When.
    #[schema(value_type = String, format = DateTime)]
    pub at: String,
}

/// The Platform transaction object (money-common.md's wire contract).
///
/// A private copy until the money-movement endpoints' `PlatformTransaction`
/// (routes/platform/transactions.rs) is merged; then this endpoint renders that one.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxDepositTransaction {
    /// `tx_…`
    pub id: String,
    /// `Deposit`, `Transfer` or `Withdrawal`.
    #[schema(example = "Deposit")]
    pub kind: String,
    /// `Submitted`, `PendingSignature`, `Broadcasting`, `Confirming`, `Completed`, `Failed`
    /// or `Cancelled`.
    #[schema(example = "Confirming")]
    pub status: String,
    /// `{SYMBOL}_{NETWORK}`.
    #[schema(example = "USDT_ETHEREUM")]
    pub asset_id: String,
    /// Whole tokens.
    #[schema(example = "250")]
    pub amount: String,
    /// The debited wallet (transfers, withdrawals).
    pub source_wallet_id: Option<String>,
    /// The credited wallet (transfers, deposits).
    pub destination_wallet_id: Option<String>,
    /// The address-book entry a withdrawal targets.
    pub address_book_entry_id: Option<String>,
    /// The withdrawal's destination, or the deposit's receiving address.
    pub destination_address: Option<String>,
    /// The on-chain hash, once known.
    pub tx_hash: Option<String>,
    /// Confirmations seen.
    pub confirmations: Option<u32>,
    /// Confirmations required for finality.
    pub required_confirmations: Option<u32>,
    /// Your note.
    pub reference: Option<String>,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// Every status entered, oldest first.
    pub status_history: Vec<SandboxStatusChange>,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
    /// Last change.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: String,
}

impl From<&Transaction> for SandboxDepositTransaction {
    fn from(t: &Transaction) -> SandboxDepositTransaction {
        let kind = match t.kind {
            TransactionKind::Deposit => "Deposit",
            TransactionKind::Transfer => "Transfer",
            TransactionKind::Withdrawal => "Withdrawal",
        };
        SandboxDepositTransaction {
            id: t.id.to_string(),
            kind: kind.to_owned(),
            status: t.status.as_str().to_owned(),
            asset_id: t.asset.to_string(),
            amount: wire::amount(t.asset, t.amount),
            source_wallet_id: t.source_wallet_id.map(|w| w.to_string()),
            destination_wallet_id: t.destination_wallet_id.map(|w| w.to_string()),
            address_book_entry_id: t.address_book_entry_id.map(|e| e.to_string()),
            destination_address: t.destination_address.as_ref().map(ToString::to_string),
            tx_hash: t.tx_hash.clone(),
            confirmations: t.confirmations.map(|c| c.seen),
            required_confirmations: t.confirmations.map(|c| c.required),
            reference: t.reference.as_ref().map(|r| r.as_str().to_owned()),
            failure_reason: t.failure_reason.clone(),
            status_history: t
                .history
                .iter()
                .map(|h| SandboxStatusChange {
                    status: h.status.as_str().to_owned(),
                    at: wire::timestamp(h.at),
                })
                .collect(),
            created_at: wire::timestamp(t.created_at),
            updated_at: wire::timestamp(t.updated_at),
        }
    }
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
        (status = 201, body = SandboxDepositTransaction),
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
    // decided before the mutation's scope check (an extra authentication, sandbox-only path).
    if authenticate(&state, &req, &body)
        .await?
        .graph
        .simulation
        .is_none()
    {
        return Err(ApiError::route_not_found());
    }
    let mutation = Mutation::begin(
        &state,
        &req,
        &body,
        KeyRule::Optional,
        Scope::TransfersWrite,
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
        |t: &Transaction| json_response(StatusCode::CREATED, &SandboxDepositTransaction::from(t));
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
