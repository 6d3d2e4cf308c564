//! `/healthz` (the process is up), `/readyz` (the store answers and the background workers
//! run) and `/openapi.json`.
//! None of them needs a key.

use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::HttpResponse;
use serde::Serialize;
use utoipa::ToSchema;

use super::Endpoints;
use crate::error::ApiError;
use crate::graph::AppState;
use crate::wire;

pub(super) fn endpoints(api: &mut Endpoints) {
    api.add(__path_healthz, healthz)
        .add(__path_readyz, readyz)
        .add(__path_openapi, openapi);
}

/// A health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness: answers while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "Operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> HttpResponse {
    wire::json(StatusCode::OK, &Health { status: "ok" })
}

/// What `/readyz` reports when ready: the store and every background worker of this
/// instance.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadinessReport {
    /// `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
    /// `ok`: the store answered a trivial query.
    #[schema(example = "ok")]
    pub store: &'static str,
    /// Each background worker of this instance (none when workers are disabled here).
    pub workers: Vec<WorkerReadiness>,
}

/// One background worker's liveness.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkerReadiness {
    /// `withdrawal_dispatch.sandbox`, `webhook_delivery.live`, `purge.live`, `heartbeat`, …
    #[schema(example = "withdrawal_dispatch.live")]
    pub name: String,
    /// `ok`: it ticked within its bound.
    #[schema(example = "ok")]
    pub status: &'static str,
    /// Milliseconds since its last pass.
    pub last_tick_ms_ago: u64,
    /// It is stalled once its last pass is older than this (its interval plus
    /// `readiness.stall_after_secs`).
    pub bound_ms: u64,
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Readiness: 200 once the store answers a trivial query and every background worker of this
/// instance has ticked within its bound; 503 naming what is not ready otherwise.
#[utoipa::path(get, path = "/readyz", tag = "Operations", responses(
    (status = 200, body = ReadinessReport),
    (status = 503, body = crate::openapi::ErrorEnvelope),
))]
pub async fn readyz(state: Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut not_ready = Vec::new();
    if let Err(e) = state.readiness.check().await {
        tracing::warn!(error = %e, "readiness check failed");
        not_ready.push("the store is not reachable".to_owned());
    }
    let workers: Vec<WorkerReadiness> = state
        .liveness
        .report()
        .into_iter()
        .map(|w| {
            let alive = w.alive();
            if !alive {
                tracing::warn!(
                    worker = %w.name,
                    silent_ms = millis(w.last_tick_age),
                    bound_ms = millis(w.bound),
                    "readiness: worker stalled"
                );
                not_ready.push(format!(
                    "worker {} has not run for {} s (bound {} s)",
                    w.name,
                    w.last_tick_age.as_secs(),
                    w.bound.as_secs()
                ));
            }
            WorkerReadiness {
                name: w.name,
                status: if alive { "ok" } else { "stalled" },
                last_tick_ms_ago: millis(w.last_tick_age),
                bound_ms: millis(w.bound),
            }
        })
        .collect();
    if !not_ready.is_empty() {
        return Err(
            ApiError::unavailable().with_message(format!("not ready: {}", not_ready.join("; ")))
        );
    }
    Ok(wire::json(
        StatusCode::OK,
        &ReadinessReport {
            status: "ok",
            store: "ok",
            workers,
        },
    ))
}

/// The OpenAPI 3.1 document of this API (also committed as `docs/openapi.json`).
#[utoipa::path(get, path = "/openapi.json", tag = "Operations", responses((status = 200, description = "OpenAPI 3.1 JSON")))]
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(crate::openapi::document_json())
}
