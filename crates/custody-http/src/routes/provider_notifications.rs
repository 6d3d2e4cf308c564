//! Inbound provider notifications: the deposit side of live custody.
//!
//! `POST /webhooks/bitgo` receives BitGo's transfer webhooks, `POST /webhooks/rhino/rhinofi-event`
//! Rhino's events (register `https://<host>/webhooks/rhino` as the base URL: Rhino appends
//! `/rhinofi-event`). No API key: a notification is trusted only once its provider has
//! confirmed it (BitGo: the transfer read back; Rhino: the RSA signature, then the SDA history
//! read back), and a deposit is credited once per provider reference however often it is
//! delivered. Notifications only ever reach the **live** graph: the sandbox has no providers to
//! hear from.
//!
//! Answers: success → BitGo 200 / Rhino 204; a notification that cannot be verified → 400
//! `notification_unverified` (nothing changes); one that is verified but cannot be credited as
//! reported (an address we never minted, another asset, several of our addresses, an archived
//! vault) → recorded in the suspense list and acknowledged; a stale or already-failed report →
//! acknowledged and logged, since delivering it again cannot help; the provider or the store
//! being unavailable → 503, so the provider delivers again later.

use actix_web::http::{Method, StatusCode};
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use custody_core::error::Error;
use custody_core::ports::{DepositNotice, ProviderError};
use custody_core::services::Received;

use super::Endpoints;
use crate::error::{ApiError, ErrorType};
use crate::graph::AppState;

pub(super) fn endpoints(api: &mut Endpoints) {
    api.undocumented(Method::POST, "/webhooks/bitgo", bitgo)
        .undocumented(Method::POST, "/webhooks/rhino/rhinofi-event", rhino);
}

/// BitGo's transfer webhook (signature header `X-Signature-SHA256`); BitGo expects 200.
async fn bitgo(
    state: Data<AppState>,
    request: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    receive(
        &state,
        &request,
        body,
        Source {
            provider: "bitgo",
            signature_header: "x-signature-sha256",
            ok: StatusCode::OK,
        },
    )
    .await
}

/// Rhino's webhook event (signature header `X-Rhino-Signature`); Rhino expects 204.
async fn rhino(
    state: Data<AppState>,
    request: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    receive(
        &state,
        &request,
        body,
        Source {
            provider: "rhino",
            signature_header: "x-rhino-signature",
            ok: StatusCode::NO_CONTENT,
        },
    )
    .await
}

struct Source {
    provider: &'static str,
    signature_header: &'static str,
    ok: StatusCode,
}

async fn receive(
    state: &AppState,
    request: &HttpRequest,
    body: Bytes,
    source: Source,
) -> Result<HttpResponse, ApiError> {
    let signature = request
        .headers()
        .get(source.signature_header)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let notice = DepositNotice {
        provider: source.provider.to_owned(),
        payload: body.to_vec(),
        signature,
    };
    match state.live.deposits.receive(&notice).await {
        Ok(Received::Deposit(deposit)) => {
            tracing::info!(
                provider = source.provider,
                transaction = %deposit.id,
                status = deposit.status.as_str(),
                "deposit notification applied"
            );
            Ok(HttpResponse::build(source.ok).finish())
        }
        // Our own withdrawal moved: read it back by our id and apply it, as the worker does.
        Ok(Received::Withdrawal(id)) => match state.live.withdrawals.poll(id).await {
            Ok(withdrawal) => {
                tracing::info!(
                    provider = source.provider,
                    transaction = %withdrawal.id,
                    status = withdrawal.status.as_str(),
                    "withdrawal notification applied"
                );
                Ok(HttpResponse::build(source.ok).finish())
            }
            Err(
                e @ (Error::NotFound(_)
                | Error::InvalidTransition { .. }
                | Error::Provider(ProviderError::NotFound)),
            ) => {
                tracing::warn!(provider = source.provider, transaction = %id, error = %e, "verified withdrawal notification not applied");
                Ok(HttpResponse::build(source.ok).finish())
            }
            Err(e) => Err(ApiError::from(e)),
        },
        Ok(Received::Acknowledged(why)) => {
            tracing::info!(provider = source.provider, %why, "notification acknowledged, nothing to do");
            Ok(HttpResponse::build(source.ok).finish())
        }
        // Authentic but unusable (a zero or unreadable amount): refused with 422 and never
        // applied. Each provider's redelivery schedule is finite (BitGo: 7 more attempts over
        // about 8 hours; Rhino: "a few"), so a poison message stops on its own.
        Err(Error::Provider(ProviderError::Malformed(why))) => {
            tracing::warn!(provider = source.provider, %why, "malformed notification refused");
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorType::InvalidRequest,
                "notification_malformed",
                "the notification's amount is zero or not a base-unit integer; nothing was \
                 changed",
            ))
        }
        Err(Error::Provider(ProviderError::Unverified(why))) => {
            tracing::warn!(provider = source.provider, %why, "notification refused");
            Err(ApiError::bad_request(
                "notification_unverified",
                "the notification could not be verified with its provider; nothing was changed",
            ))
        }
        Err(e @ (Error::Refused { .. } | Error::InvalidTransition { .. })) => {
            tracing::warn!(provider = source.provider, error = %e, "verified notification not applied");
            Ok(HttpResponse::build(source.ok).finish())
        }
        Err(e) => Err(ApiError::from(e)),
    }
}
