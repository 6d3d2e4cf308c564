//! `/v1/transactions`: internal transfers, withdrawals to the address book, cancelling a
//! withdrawal, and reads of every transaction (deposits included).
//!
//! [`PlatformTransaction`] is the one wire shape of a transaction in the Platform dialect;
//! other Platform routes that answer with a transaction (the sandbox's simulated deposits)
//! render it with [`PlatformTransaction::from`].

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use custody_core::api_key::Scope;
use custody_core::id::{AddressBookEntryId, IdError, TransactionId, WalletId};
use custody_core::ports::TransactionFilter;
use custody_core::services::{TransferCommand, WithdrawCommand};
use custody_core::text::Label;
use custody_core::transaction::{Transaction, TransactionKind, TransactionStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{vault_id, wallet_id};
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::graph::AppState;
use crate::idempotency::{json_response, KeyRule, Mutation};
use crate::input::{json_body, no_query, path_id, query, text, PageParams};
use crate::routes::Endpoints;
use crate::wire::{self, List, Pagination};

pub(super) fn endpoints(api: &mut Endpoints) {
    // The fixed paths first: `/v1/transactions/{id}` would otherwise claim `…/transfer`.
    api.add(__path_create_transfer, create_transfer)
        .add(__path_create_withdrawal, create_withdrawal)
        .add(__path_list_transactions, list_transactions)
        .add(__path_get_transaction, get_transaction)
        .add(__path_cancel_transaction, cancel_transaction);
}

fn transaction_id(raw: &str) -> Result<TransactionId, ApiError> {
    path_id(raw, "id", "invalid_transaction_id", |s| {
        TransactionId::parse(s)
    })
}

/// One entry of a transaction's status history.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformStatusChange {
    /// The status entered.
    #[schema(example = "Submitted")]
    pub status: String,
    /// When.
    #[schema(value_type = String, format = DateTime, example = "2026-12-06T09:00:00Z")]
    pub at: String,
}

/// A transaction: a deposit, an internal transfer or a withdrawal. Absent values are `null`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformTransaction {
    /// `tx_…`
    #[schema(example = "tx_01JFX0R8M2Q6C1V9W3E5T7Y4KD")]
    pub id: String,
    /// `Deposit`, `Transfer` or `Withdrawal`.
    #[schema(example = "Withdrawal")]
    pub kind: String,
    /// `Submitted`, `PendingSignature`, `Broadcasting`, `Confirming`, `Completed`, `Failed`
    /// or `Cancelled`.
    #[schema(example = "Submitted")]
    pub status: String,
    /// `{SYMBOL}_{NETWORK}`.
    #[schema(example = "USDT_ETHEREUM")]
    pub asset_id: String,
    /// Whole tokens, as a decimal string.
    #[schema(example = "12.5")]
    pub amount: String,
    /// The debited wallet (transfers, withdrawals), `acc_…`.
    pub source_wallet_id: Option<String>,
    /// The credited wallet (transfers, deposits), `acc_…`.
    pub destination_wallet_id: Option<String>,
    /// The address-book entry a withdrawal goes to, `abe_…`.
    pub address_book_entry_id: Option<String>,
    /// The on-chain destination (withdrawals) or receiving address (deposits).
    pub destination_address: Option<String>,
    /// The on-chain hash, once known.
    pub tx_hash: Option<String>,
    /// Confirmations seen so far (deposits).
    pub confirmations: Option<u32>,
    /// Confirmations needed before a deposit completes.
    pub required_confirmations: Option<u32>,
    /// Your note.
    pub reference: Option<String>,
    /// Why it failed, when it did.
    pub failure_reason: Option<String>,
    /// Every status entered, oldest first, starting with the initial one.
    pub status_history: Vec<PlatformStatusChange>,
    /// Creation time.
    #[schema(value_type = String, format = DateTime, example = "2026-12-06T09:00:00Z")]
    pub created_at: String,
    /// Last change.
    #[schema(value_type = String, format = DateTime, example = "2026-12-06T09:00:00Z")]
    pub updated_at: String,
}

/// The wire spelling of a kind (`Deposit`, `Transfer`, `Withdrawal`).
pub const fn kind_name(kind: TransactionKind) -> &'static str {
    match kind {
        TransactionKind::Deposit => "Deposit",
        TransactionKind::Transfer => "Transfer",
        TransactionKind::Withdrawal => "Withdrawal",
    }
}

impl From<&Transaction> for PlatformTransaction {
    fn from(t: &Transaction) -> PlatformTransaction {
        PlatformTransaction {
            id: t.id.to_string(),
            kind: kind_name(t.kind).to_owned(),
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
                .map(|change| PlatformStatusChange {
                    status: change.status.as_str().to_owned(),
                    at: wire::timestamp(change.at),
                })
                .collect(),
            created_at: wire::timestamp(t.created_at),
            updated_at: wire::timestamp(t.updated_at),
        }
    }
}

fn respond(
    status: StatusCode,
) -> impl Fn(&Transaction) -> custody_core::idempotency::StoredResponse {
    move |t: &Transaction| json_response(status, &PlatformTransaction::from(t))
}

/// A typed id from a body field: 422 naming the field.
fn body_id<T>(
    raw: &str,
    field: &'static str,
    code: &'static str,
    parse: impl FnOnce(&str) -> Result<T, IdError>,
) -> Result<T, ApiError> {
    parse(raw).map_err(|e| ApiError::invalid_field(field, code, format!("`{field}`: {e}")))
}

/// Body of `POST /v1/transactions/transfer`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TransferRequest {
    /// The wallet debited, `acc_…`.
    #[schema(example = "acc_01JFX0M3S4N1B7E6K2H8D5Q9WA")]
    pub source_wallet_id: String,
    /// The wallet credited, `acc_…`: another wallet of the same asset, in any of your vaults.
    #[schema(example = "acc_01JFX0N7P2F3G4Z8X1C6V5B9TR")]
    pub destination_wallet_id: String,
    /// Whole tokens, as a decimal string with at most the asset's decimals.
    #[schema(example = "12.5")]
    pub amount: String,
    /// Your note, up to 255 characters.
    #[schema(example = "rebalance 2026-12")]
    pub reference: Option<String>,
}

/// Move funds between two wallets of the same asset, off-chain and at once: the transfer is
/// `Completed` when this answers.
#[utoipa::path(post, path = "/v1/transactions/transfer", tag = "Platform",
    request_body(content = TransferRequest, example = json!({"sourceWalletId": "acc_01JFX0M3S4N1B7E6K2H8D5Q9WA", "destinationWalletId": "acc_01JFX0N7P2F3G4Z8X1C6V5B9TR", "amount": "12.5", "reference": "rebalance 2026-12"})),
    params(("Idempotency-Key" = String, Header, description = "Required")),
    responses(
        (status = 201, description = "The transfer, `Completed`", body = PlatformTransaction),
        (status = 400, description = "`idempotency_key_required`", body = crate::openapi::ErrorEnvelope),
        (status = 403, description = "`missing_scope` (`transfers:write`)", body = crate::openapi::ErrorEnvelope),
        (status = 404, description = "A wallet that is not yours", body = crate::openapi::ErrorEnvelope),
        (status = 409, description = "Idempotency conflict", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`insufficient_funds`, `asset_mismatch`, `same_wallet`, `vault_frozen` / `vault_archived`, amount errors", body = crate::openapi::ErrorEnvelope),
    ),
    security(("hmac" = [])))]
pub async fn create_transfer(
    state: Data<AppState>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let mutation = Mutation::begin(
        &state,
        &req,
        &body,
        KeyRule::Required,
        Scope::TransfersWrite,
    )
    .await?;
    let input: TransferRequest = json_body(&req, &body)?;
    let command = TransferCommand {
        from: body_id(
            &input.source_wallet_id,
            "sourceWalletId",
            "invalid_wallet_id",
            WalletId::parse,
        )?,
        to: body_id(
            &input.destination_wallet_id,
            "destinationWalletId",
            "invalid_wallet_id",
            WalletId::parse,
        )?,
        amount: input.amount,
        reference: text(input.reference, "reference", Label::parse)?,
    };
    mutation
        .run(respond(StatusCode::CREATED), async move |auth, write| {
            auth.graph
                .transfers
                .transfer(&auth.caller, command, write)
                .await
        })
        .await
}

/// Body of `POST /v1/transactions/withdraw`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WithdrawRequest {
    /// The wallet debited, `acc_…`.
    #[schema(example = "acc_01JFX0M3S4N1B7E6K2H8D5Q9WA")]
    pub wallet_id: String,
    /// An `Active` address-book entry on the wallet's network (and of its asset, when the
    /// entry names one), `abe_…`.
    #[schema(example = "abe_01JFX0Q4ZK8D4W7T9YB3N5R2MC")]
    pub address_book_entry_id: String,
    /// Whole tokens, as a decimal string with at most the asset's decimals.
    #[schema(example = "40")]
    pub amount: String,
    /// Your note, up to 255 characters.
    #[schema(example = "payout 7731")]
    pub reference: Option<String>,
}

/// Withdraw to an address-book entry. Answers with the withdrawal `Submitted`: the amount has
/// moved from `available` to `held`, and the withdrawal then progresses by itself
/// (`PendingSignature → Broadcasting → Confirming → Completed`); follow it with
/// `GET /v1/transactions/{id}` or webhooks.
#[utoipa::path(post, path = "/v1/transactions/withdraw", tag = "Platform",
    request_body(content = WithdrawRequest, example = json!({"walletId": "acc_01JFX0M3S4N1B7E6K2H8D5Q9WA", "addressBookEntryId": "abe_01JFX0Q4ZK8D4W7T9YB3N5R2MC", "amount": "40", "reference": "payout 7731"})),
    params(("Idempotency-Key" = String, Header, description = "Required")),
    responses(
        (status = 201, description = "The withdrawal, `Submitted`", body = PlatformTransaction),
        (status = 400, description = "`idempotency_key_required`", body = crate::openapi::ErrorEnvelope),
        (status = 403, description = "`missing_scope` (`withdrawals:write`)", body = crate::openapi::ErrorEnvelope),
        (status = 404, description = "A wallet or address-book entry that is not yours", body = crate::openapi::ErrorEnvelope),
        (status = 409, description = "Idempotency conflict", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`asset_not_withdrawable` (the environment's custody provider cannot send this asset: Rhino-routed assets, or BitGo with withdrawals disabled), `insufficient_funds`, `address_book_entry_not_active`, `destination_network_mismatch`, `destination_asset_mismatch`, `vault_frozen` / `vault_archived`, amount errors", body = crate::openapi::ErrorEnvelope),
    ),
    security(("hmac" = [])))]
pub async fn create_withdrawal(
    state: Data<AppState>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let mutation = Mutation::begin(
        &state,
        &req,
        &body,
        KeyRule::Required,
        Scope::WithdrawalsWrite,
    )
    .await?;
    let input: WithdrawRequest = json_body(&req, &body)?;
    let command = WithdrawCommand {
        from: body_id(
            &input.wallet_id,
            "walletId",
            "invalid_wallet_id",
            WalletId::parse,
        )?,
        destination: body_id(
            &input.address_book_entry_id,
            "addressBookEntryId",
            "invalid_address_book_entry_id",
            AddressBookEntryId::parse,
        )?,
        amount: input.amount,
        reference: text(input.reference, "reference", Label::parse)?,
    };
    mutation
        .run(respond(StatusCode::CREATED), async move |auth, write| {
            auth.graph
                .withdrawals
                .submit(&auth.caller, command, write)
                .await
        })
        .await
}

/// Query of `GET /v1/transactions`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListTransactionsQuery {
    /// Only transactions debiting or crediting a wallet of this vault (`vlt_…`).
    pub vault_id: Option<String>,
    /// Only transactions debiting or crediting this wallet (`acc_…`).
    pub wallet_id: Option<String>,
    /// `Deposit`, `Transfer` or `Withdrawal`.
    #[param(example = "Withdrawal")]
    pub kind: Option<String>,
    /// A status, e.g. `Submitted`.
    #[param(example = "Completed")]
    pub status: Option<String>,
    /// 1–200, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// A transaction id: the page starts after it.
    #[serde(rename = "starting_after")]
    #[param(rename = "starting_after")]
    pub starting_after: Option<String>,
    /// A transaction id: the page ends before it.
    #[serde(rename = "ending_before")]
    #[param(rename = "ending_before")]
    pub ending_before: Option<String>,
}

/// A page of transactions.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionList {
    /// Ascending by id (oldest first).
    pub items: Vec<PlatformTransaction>,
    /// Where to continue.
    pub pagination: Pagination,
}

fn kind(raw: &str) -> Result<TransactionKind, ApiError> {
    [
        TransactionKind::Deposit,
        TransactionKind::Transfer,
        TransactionKind::Withdrawal,
    ]
    .into_iter()
    .find(|k| kind_name(*k).eq_ignore_ascii_case(raw))
    .ok_or_else(|| {
        ApiError::invalid_parameter(
            "kind",
            "invalid_kind",
            "`kind` must be one of Deposit, Transfer, Withdrawal",
        )
    })
}

/// List transactions of every kind, oldest first.
#[utoipa::path(get, path = "/v1/transactions", tag = "Platform", params(ListTransactionsQuery),
    responses(
        (status = 200, body = TransactionList),
        (status = 400, body = crate::openapi::ErrorEnvelope),
        (status = 403, description = "`missing_scope` (`transactions:read`)", body = crate::openapi::ErrorEnvelope),
        (status = 404, description = "`vaultId` names a vault that is not yours", body = crate::openapi::ErrorEnvelope),
    ),
    security(("hmac" = [])))]
pub async fn list_transactions(
    req: HttpRequest,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let q: ListTransactionsQuery = query(&req)?;
    let page_request = PageParams {
        limit: q.limit,
        starting_after: q.starting_after,
        ending_before: q.ending_before,
    }
    .to_request(TransactionId::parse, TransactionId::ulid)?;
    let filter = TransactionFilter {
        wallet_id: q.wallet_id.as_deref().map(wallet_id).transpose()?,
        kind: q.kind.as_deref().map(kind).transpose()?,
        status: q
            .status
            .as_deref()
            .map(|raw| {
                TransactionStatus::parse(raw).ok_or_else(|| {
                    ApiError::invalid_parameter(
                        "status",
                        "invalid_status",
                        "`status` must be one of Submitted, PendingSignature, Broadcasting, \
                         Confirming, Completed, Failed, Cancelled",
                    )
                })
            })
            .transpose()?,
        // Parsed last, as before it joined the filter: the first bad parameter is reported.
        vault_id: q.vault_id.as_deref().map(vault_id).transpose()?,
    };
    let graph = &auth.graph;
    if let Some(vault) = filter.vault_id {
        graph
            .wallets
            .check_vault_for_transactions(&auth.caller, vault)
            .await?;
    }
    let page = graph
        .withdrawals
        .list(&auth.caller, &filter, page_request)
        .await?;
    let items: Vec<PlatformTransaction> =
        page.items.iter().map(PlatformTransaction::from).collect();
    Ok(wire::json(
        StatusCode::OK,
        &List::page(items, page.has_more, Some(&page_request), |t| t.id.clone()),
    ))
}

/// Read a transaction of any kind, with its status history.
#[utoipa::path(get, path = "/v1/transactions/{id}", tag = "Platform",
    params(("id" = String, Path, description = "`tx_…`")),
    responses(
        (status = 200, body = PlatformTransaction),
        (status = 400, body = crate::openapi::ErrorEnvelope),
        (status = 403, description = "`missing_scope` (`transactions:read`)", body = crate::openapi::ErrorEnvelope),
        (status = 404, body = crate::openapi::ErrorEnvelope),
    ),
    security(("hmac" = [])))]
pub async fn get_transaction(
    req: HttpRequest,
    path: web::Path<String>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let id = transaction_id(&path)?;
    no_query(&req)?;
    let transaction = auth.graph.withdrawals.get(&auth.caller, id).await?;
    Ok(wire::json(
        StatusCode::OK,
        &PlatformTransaction::from(&transaction),
    ))
}

/// Cancel a withdrawal that is still `Submitted` (not yet handed to the custodian): its held
/// funds return to `available`.
#[utoipa::path(post, path = "/v1/transactions/{id}/cancel", tag = "Platform",
    params(("id" = String, Path, description = "`tx_…`"), ("Idempotency-Key" = String, Header, description = "Required")),
    responses(
        (status = 200, description = "The withdrawal, `Cancelled`", body = PlatformTransaction),
        (status = 400, description = "`idempotency_key_required`", body = crate::openapi::ErrorEnvelope),
        (status = 403, description = "`missing_scope` (`withdrawals:write`)", body = crate::openapi::ErrorEnvelope),
        (status = 404, body = crate::openapi::ErrorEnvelope),
        (status = 409, description = "`transaction_not_cancellable`: anything but a `Submitted` withdrawal; or an idempotency conflict", body = crate::openapi::ErrorEnvelope),
    ),
    security(("hmac" = [])))]
pub async fn cancel_transaction(
    state: Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let mutation = Mutation::begin(
        &state,
        &req,
        &body,
        KeyRule::Required,
        Scope::WithdrawalsWrite,
    )
    .await?;
    let id = transaction_id(&path)?;
    no_query(&req)?;
    mutation
        .run(respond(StatusCode::OK), async move |auth, write| {
            auth.graph.withdrawals.cancel(&auth.caller, id, write).await
        })
        .await
}
